"""The operator's controls of the trading engine: modify, cancel all, close positions, limits,
dry runs, exposure, stress, alerts and market hours. Mixed into :class:`TradingEngine`."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import asdict, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from tradelab.brokers.records import BrokerOrder, OrderRequest, utc_now
from tradelab.calendar import market_calendar
from tradelab.errors import ConfigError, OrderError, OrderNotFoundError
from tradelab.live._linked import closing_shares, waiting_exits
from tradelab.live.operations import ALERT_THRESHOLD, exposure, limit_usage, stress_test
from tradelab.live.outcome import SubmitOutcome
from tradelab.risk import OrderIntent, RiskConfig, RiskDecision

if TYPE_CHECKING:
    from tradelab.live.engine import TradingEngine

__all__ = ["DeskOperations", "OrderConflictError"]


class OrderConflictError(OrderError):
    """The order cannot change in its current state (e.g. modifying a filled order)."""


class DeskOperations:
    """Operator actions; every order still goes through the risk manager and the audit log."""

    # ------------------------------------------------------------------ risk controls
    def halt(self: TradingEngine, reason: str) -> dict[str, Any]:
        """Deny every order until :meth:`resume` (open orders stay; see :meth:`kill`)."""
        self.risk.halt(reason, timestamp=utc_now())
        self._persist_risk()
        return self.risk_view()

    def resume(self: TradingEngine, reason: str) -> dict[str, Any]:
        """Back to ACTIVE (re-basing a loss limit already reached, see RiskManager.resume)."""
        self.risk.resume(reason, timestamp=utc_now())
        self._persist_risk()
        return self.risk_view()

    def reduce(self: TradingEngine, reason: str) -> dict[str, Any]:
        """Only orders that shrink positions from now on."""
        self.risk.reduce(reason, timestamp=utc_now())
        self._persist_risk()
        return self.risk_view()

    async def kill(self: TradingEngine, reason: str = "kill switch") -> dict[str, Any]:
        """The emergency stop: cancel every open order, flatten every position, HALT.

        Runs under the submission lock, so no order slips in between. Flattening orders are
        market orders sent through the risk manager in ``REDUCING`` (which approves exactly the
        orders that shrink a position); the manager is ``HALTED`` when this returns. Waits up to
        ``kill_wait`` seconds for cancels and fills, and reports what is still open.
        """
        async with self._lock:
            now = utc_now()
            self.risk.halt(f"{reason}: cancelling and flattening", timestamp=now)
            self._persist_risk()
            cancelled = []
            for order in await self.broker.orders(open_only=True):
                cancelled.append(await self.broker.cancel_order(order.client_order_id))
            await self._wait(lambda: self._no_open_orders(), self.config.kill_wait / 2)
            self.risk.reduce(f"{reason}: flattening", timestamp=utc_now())
            flatten = []
            stamp = utc_now().strftime("%Y%m%dT%H%M%S%f")
            for symbol, position in (await self.broker.positions()).items():
                if not position.quantity:
                    continue
                request = OrderRequest(
                    client_order_id=f"kill-{stamp}-{symbol}", symbol=symbol,
                    side="sell" if position.quantity > 0 else "buy",
                    quantity=abs(position.quantity), order_type="market",
                    time_in_force="GTC")
                flatten.append(await self._submit(request, source="kill"))
            self.risk.halt(reason, timestamp=utc_now())
            self._persist_risk()
        await self._wait(self._flat, self.config.kill_wait)
        open_orders = await self.broker.orders(open_only=True)
        positions = await self.broker.positions()
        self._count("kills", {})
        return {
            "state": self.risk.state.value,
            "cancelled": [o.client_order_id for o in cancelled],
            "flatten_orders": [o.to_dict() for o in flatten],
            "open_orders": [o.client_order_id for o in open_orders],
            "positions": {s: p.quantity for s, p in positions.items() if p.quantity},
            "flat": not any(p.quantity for p in positions.values()),
        }

    async def _no_open_orders(self: TradingEngine) -> bool:
        return not await self.broker.orders(open_only=True)

    async def _flat(self: TradingEngine) -> bool:
        positions = await self.broker.positions()
        return not any(p.quantity for p in positions.values()) and \
            not await self.broker.orders(open_only=True)

    @staticmethod
    async def _wait(condition: Callable[[], Any], timeout: float) -> bool:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            if await condition():
                return True
            if asyncio.get_running_loop().time() >= deadline:
                return False
            await asyncio.sleep(0.05)

    # ------------------------------------------------------------------ orders
    async def modify(self: TradingEngine, client_order_id: str, *, quantity: float | None = None,
                     limit_price: float | None = None, stop_price: float | None = None,
                     source: str = "api") -> SubmitOutcome:
        """Change an open order's quantity or prices, risk-checked like a new order.

        The new order is checked against the book with every *other* open order counted as
        filled; a denial leaves the order as it was and is logged as a ``modify`` decision.

        Raises:
            OrderNotFoundError: No order has this id.
            OrderConflictError: The order is filled, cancelled or rejected.
            OrderError: The new values are invalid (quantity below the filled part, ...).
        """
        async with self._lock:
            order = await self._open_order(client_order_id)
            if quantity is None and limit_price is None and stop_price is None:
                raise OrderError("give at least one of quantity, limit_price, stop_price")
            if quantity is not None and quantity < order.filled_quantity:
                raise OrderError(f"quantity {quantity:g} is below the {order.filled_quantity:g} "
                                 f"shares of {client_order_id!r} already filled")
            changes = {k: v for k, v in (("quantity", quantity), ("limit_price", limit_price),
                                         ("stop_price", stop_price)) if v is not None}
            try:
                request = replace(order.request, **changes)
            except (TypeError, ValueError) as exc:
                raise OrderError(f"cannot modify {client_order_id!r}: {exc}") from exc
            remaining = request.quantity - order.filled_quantity
            decision = await self._dry_run(replace(request, quantity=max(remaining, 1e-9)),
                                           exclude=client_order_id, record=True)
            self.audit.record_decision(request, decision, source=source, action="modify",
                                       state=self.risk.state.value)
            if not decision.approved:
                return SubmitOutcome(request=request, decision=decision, order=None,
                                     source=source)
            updated = await self.broker.modify_order(client_order_id, **changes)
            self.audit.record_order_update(updated)
            return SubmitOutcome(request=request, decision=decision, order=updated,
                                 source=source)

    async def _open_order(self: TradingEngine, client_order_id: str) -> BrokerOrder:
        logged = self.audit.order(client_order_id)
        if logged is None:
            raise OrderNotFoundError(f"no order with client_order_id {client_order_id!r}")
        current = next((o for o in await self.broker.orders()
                        if o.client_order_id == client_order_id), logged)
        if current.status.is_terminal:
            raise OrderConflictError(f"order {client_order_id!r} is {current.status.value}; "
                                     f"only open orders can be changed")
        return current

    async def cancel_all(self: TradingEngine, symbol: str | None = None) -> list[BrokerOrder]:
        """Cancel every open order (of ``symbol`` only, if given)."""
        cancelled = []
        for order in await self.broker.orders(open_only=True):
            if symbol is None or order.symbol == symbol:
                cancelled.append(await self.broker.cancel_order(order.client_order_id))
                self.audit.record_order_update(cancelled[-1])
        return cancelled

    def order_history(self: TradingEngine, client_order_id: str) -> dict[str, Any]:
        """An order with every state change and its fills, from the audit log."""
        order = self.audit.order(client_order_id)
        if order is None:
            raise OrderNotFoundError(f"no order with client_order_id {client_order_id!r}")
        return {"order": order.to_dict(),
                "events": [_plain(e) for e in self.audit.order_events(client_order_id)],
                "fills": [f.to_dict() for f in self.audit.fills(client_order_id=client_order_id)],
                "decisions": [_plain(d) for d in
                              self.audit.decisions(client_order_id=client_order_id)]}

    # ------------------------------------------------------------------ positions
    async def close_position(self: TradingEngine, symbol: str, quantity: float | None = None,
                             *, source: str = "api") -> SubmitOutcome:
        """Close all of a position, or ``quantity`` shares of it, with a market order.

        Shares already being closed by working orders are left to them (an OCO group, such as
        a bracket's two exits, counts once).

        Raises:
            OrderNotFoundError: No position in ``symbol``.
            OrderError: ``quantity`` is more than the position.
        """
        position = (await self.broker.positions()).get(symbol)
        if position is None or not position.quantity:
            raise OrderNotFoundError(f"no position in {symbol!r} to close")
        closing_side = "sell" if position.quantity > 0 else "buy"
        open_orders = await self.broker.orders(open_only=True)
        closing = [o for o in open_orders
                   if o.symbol == symbol and o.request.side == closing_side]
        held = abs(position.quantity) - closing_shares(closing, waiting_exits(open_orders))
        if held <= 0:
            raise OrderConflictError(
                f"the {abs(position.quantity):g} shares of {symbol} are already being closed by "
                f"open orders {', '.join(o.client_order_id for o in closing)}; cancel them "
                f"first to close differently")
        size = held if quantity is None else quantity
        if not 0 < size <= held:
            pending = f" ({abs(position.quantity) - held:g} already have closing orders)" \
                if closing else ""
            raise OrderError(f"quantity {size:g} must be > 0 and at most the {held:g} shares "
                             f"of {symbol} left to close{pending}")
        request = OrderRequest(
            client_order_id=f"close-{symbol}-{utc_now().strftime('%Y%m%dT%H%M%S%f')}",
            symbol=symbol, side="sell" if position.quantity > 0 else "buy", quantity=size,
            time_in_force="GTC", extended_hours=False)
        return await self.submit(request, source=source)

    async def close_all(self: TradingEngine, *, source: str = "api") -> list[SubmitOutcome]:
        """Close every position with market orders (net of closing orders already open)."""
        outcomes = []
        for symbol, position in sorted((await self.broker.positions()).items()):
            if position.quantity:
                try:
                    outcomes.append(await self.close_position(symbol, source=source))
                except OrderConflictError:
                    continue  # its closing orders are already working
        return outcomes

    async def exposure(self: TradingEngine) -> dict[str, Any]:
        """Gross/net exposure by symbol and in total."""
        return exposure(await self.broker.account())

    async def drawdown(self: TradingEngine) -> dict[str, Any]:
        """Equity against its peak and the day's open."""
        equity = (await self.broker.account()).equity
        peak, start = self.risk.peak_equity, self.risk.start_of_day_equity
        return {"equity": equity, "peak_equity": peak, "start_of_day_equity": start,
                "drawdown": (peak - equity) / peak if peak else 0.0,
                "day_loss": (start - equity) / start if start else 0.0,
                "max_drawdown": self.risk.config.max_drawdown,
                "daily_loss_limit": self.risk.config.daily_loss_limit}

    def pnl_history(self: TradingEngine) -> list[dict[str, Any]]:
        """Daily summaries: equity, realized P&L, day P&L, trades and win rate."""
        days = []
        for row in self.audit.daily_summaries():
            row = _plain(row)
            row["win_rate"] = row["wins"] / row["trades"] if row.get("trades") else None
            days.append(row)
        return days

    async def stress(self: TradingEngine, shocks: list[float] | None = None) -> dict[str, Any]:
        """P&L per price and volatility shock scenario of the current book."""
        account = await self.broker.account()
        history = {s: await self.broker.history(s, 21) for s in account.positions}
        if shocks is not None:
            if not shocks or any(not -1 < s < 1 or s == 0 for s in shocks):
                raise OrderError(f"shocks must be fractions in (-1, 1), not 0; got {shocks}")
            return stress_test(account, history, shocks=tuple(shocks))
        return stress_test(account, history)

    # ------------------------------------------------------------------ risk limits
    def limits(self: TradingEngine) -> dict[str, Any]:
        """The limits in force."""
        return asdict(self.risk.config)

    def set_limits(self: TradingEngine, changes: dict[str, Any], *, operator: str,
                   reason: str) -> dict[str, Any]:
        """Change limits at runtime; audited with who, when, before, after and why.

        Raises:
            ConfigError: An unknown limit or a value out of range (nothing changes).
        """
        if not changes:
            raise ConfigError("give at least one limit to change")
        before = self.limits()
        config = RiskConfig.from_mapping({**before, **changes})
        self.risk.reconfigure(config)
        after = self.limits()
        self.audit.record_limits_change(operator=operator, before=before, after=after,
                                        reason=reason)
        self.audit.set_value("risk.limits", after)
        self._alert("info", "limits", ",".join(sorted(changes)),
                    f"risk limits changed by {operator}: " + ", ".join(
                        f"{k} {before[k]} → {after[k]}" for k in sorted(changes)) +
                    f" ({reason})")
        return after

    async def validate(self: TradingEngine, request: OrderRequest) -> RiskDecision:
        """A dry run: the risk decision for ``request`` now; nothing is recorded or sent."""
        await self._check_request(request, source="validate")
        return await self._dry_run(request, exclude=None, record=False)

    async def _dry_run(self: TradingEngine, request: OrderRequest, *, exclude: str | None,
                       record: bool) -> RiskDecision:
        price = self._reference_price(request)
        if price is None:
            return RiskDecision(approved=False, rule="no_price",
                                reason=f"no price for {request.symbol} yet")
        others = [o for o in await self.broker.orders(open_only=True)
                  if o.client_order_id != exclude]
        contingent = self._contingent(request, others)
        if contingent is not None:  # an exit waiting for its entry adds no risk
            return contingent
        portfolio = self._worst_case(await self.broker.account(), others, request)
        intent = OrderIntent(symbol=request.symbol, side=request.side, quantity=request.quantity,
                             price=price, order_type=request.order_type)
        if record:
            decision = self.risk.check(intent, portfolio)
            self.risk.drain_events()
            return decision
        return self.risk.evaluate(intent, portfolio)

    def record_strategy_denial(self: TradingEngine, record: Any, *, source: str) -> None:
        """Log an order a live strategy denied itself (an end-of-day rule) as a risk decision."""
        limit = record.limit_price if record.order_type in ("limit", "stop_limit") else None
        stop = record.stop_price if record.order_type in ("stop", "stop_limit") else None
        kind = record.order_type if record.order_type in ("limit", "stop", "stop_limit") and \
            (limit or stop) else "market"
        request = OrderRequest(
            client_order_id=f"{_kind_of(source)}-denied-{utc_now():%Y%m%dT%H%M%S%f}",
            symbol=record.symbol, side=record.side, quantity=record.quantity, order_type=kind,
            limit_price=limit if kind in ("limit", "stop_limit") else None,
            stop_price=stop if kind in ("stop", "stop_limit") else None)
        decision = RiskDecision(approved=False, rule="strategy", reason=record.reason)
        self.audit.record_decision(request, decision, source=source, action="submit",
                                   state=self.risk.state.value)
        self._alert("warning", "order_denied", request.client_order_id,
                    f"{source} denied its own {record.side} {record.quantity:g} "
                    f"{record.symbol}: {record.reason}")

    # ------------------------------------------------------------------ alerts, calendar
    def alerts(self: TradingEngine, since_id: int = 0, limit: int = 200) -> list[dict[str, Any]]:
        """The alert feed after ``since_id``."""
        return [_plain(a) for a in self.audit.alerts(since_id=since_id, limit=limit)]

    def _alert(self: TradingEngine, level: str, kind: str, key: str, message: str) -> None:
        self.audit.record_alert(level=level, kind=kind, key=key, message=message)
        self._count("alerts", {"level": level, "kind": kind})

    def _check_limit_usage(self: TradingEngine, account: Any) -> None:
        usages = limit_usage(account, self.risk.config, peak_equity=self.risk.peak_equity,
                             start_of_day_equity=self.risk.start_of_day_equity)
        seen = set()
        for usage in usages:
            key = f"{usage.limit}:{usage.key}"
            seen.add(key)
            high = usage.usage >= ALERT_THRESHOLD
            if self._monitor.update("limit", key, active=high):
                where = f" {usage.key}" if usage.key else ""
                self._alert("warning", "limit_usage", key,
                            f"{usage.limit}{where} at {usage.usage:.0%} of its limit "
                            f"({usage.current:,.4g} of {usage.maximum:,.4g})")
        for kind, key in list(self._monitor._active):
            if kind == "limit" and key not in seen:
                self._monitor.update(kind, key, active=False)

    def market_hours(self: TradingEngine) -> dict[str, Any]:
        """Today's session at the engine's clock (the replay's time on the paper stream)."""
        return {**market_calendar(self.config.calendar).hours(self.clock()),
                "enforced": self._sessions_enforced()}

    def clock(self: TradingEngine) -> datetime:
        """The market's time: the replay's on the paper stream, the wall clock otherwise."""
        simulated = getattr(self.broker, "now", None)
        return simulated if isinstance(simulated, datetime) else utc_now()

    def _sessions_enforced(self: TradingEngine) -> bool:
        mode = self.config.sessions
        if mode != "auto":
            return mode == "enforce"
        return bool(getattr(self.broker, "intraday", True))  # daily replays have no hours


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    """A JSON-friendly copy of an audit row (datetimes as ISO text)."""
    return json.loads(json.dumps(row, default=lambda v: v.isoformat()
                                 if hasattr(v, "isoformat") else str(v)))


def _kind_of(source: str) -> str:
    return source.replace(":", "-")[:40]
