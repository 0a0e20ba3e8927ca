"""TradingEngine: the broker, the risk manager and the audit log behind one order path.

Every order — from the API, a live strategy or the kill switch — goes through
:meth:`TradingEngine.submit`: validated, risk-checked against the account *including every open
order as if filled* (so concurrent orders cannot together breach a limit one by one), written to
the audit log, and only then sent to the broker. The engine runs on one asyncio loop (Ray
Serve's); submissions are serialized by a lock. A bracket (an entry and its exits) goes through
:meth:`TradingEngine.submit_group` / :meth:`~TradingEngine.submit_bracket` with one risk
decision on the entry (see :mod:`tradelab.live._linked`).
"""

from __future__ import annotations

import asyncio
import logging
import math
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal, Protocol
from zoneinfo import ZoneInfo

from tradelab.brokers.base import Broker
from tradelab.brokers.records import (
    AccountSnapshot,
    Bar,
    BrokerOrder,
    OrderRequest,
    OrderStatus,
    utc_now,
)
from tradelab.calendar import market_calendar
from tradelab.errors import (
    BrokerError,
    ConfigError,
    DuplicateOrderError,
    OrderError,
    OrderNotFoundError,
)
from tradelab.live._linked import LinkedSubmissions, waiting_exits
from tradelab.live.desk import DeskOperations
from tradelab.live.operations import AlertMonitor
from tradelab.live.outcome import SubmitOutcome
from tradelab.risk import (
    OrderIntent,
    PortfolioSnapshot,
    Position,
    RiskConfig,
    RiskDecision,
    RiskManager,
    TradingState,
)

__all__ = ["EngineConfig", "MetricsSink", "TradingEngine"]

_log = logging.getLogger(__name__)
_NEW_YORK = ZoneInfo("America/New_York")


class MetricsSink(Protocol):
    """Where the engine reports counters and gauges (the Serve layer maps them to Ray metrics)."""

    def count(self, name: str, tags: dict[str, str]) -> None:
        """Add one to counter ``name``."""

    def gauge(self, name: str, value: float, tags: dict[str, str]) -> None:
        """Set gauge ``name``."""


@dataclass(frozen=True, kw_only=True, slots=True)
class EngineConfig:
    """Settings of a :class:`TradingEngine`.

    Attributes:
        price_band: Largest relative distance of a limit or stop price from the last price,
            e.g. 0.5 refuses a limit 50% away (a fat-finger guard; input error, not a risk
            decision). ``None`` disables it.
        kill_wait: Seconds :meth:`TradingEngine.kill` waits for cancels and flattening fills.
        sessions: ``"enforce"``: orders outside the regular session are denied (rule
            ``market_closed``) unless they ask for extended hours; ``"off"``; ``"auto"``
            (default): enforce unless the broker is a daily-bar replay, which has no hours.
        calendar: The exchange calendar (``exchange_calendars`` code).
    """

    price_band: float | None = 0.5
    kill_wait: float = 30.0
    sessions: Literal["auto", "enforce", "off"] = "auto"
    calendar: str = "XNYS"

    def __post_init__(self) -> None:
        band = self.price_band
        if band is not None and not (isinstance(band, int | float) and band > 0):
            raise ConfigError(f"EngineConfig.price_band must be > 0 or None, got {band!r}")
        if not (isinstance(self.kill_wait, int | float) and self.kill_wait > 0):
            raise ConfigError(f"EngineConfig.kill_wait must be > 0 s, got {self.kill_wait!r}")
        if self.sessions not in ("auto", "enforce", "off"):
            raise ConfigError(f"EngineConfig.sessions must be auto, enforce or off, got "
                              f"{self.sessions!r}")
        market_calendar(self.calendar)  # an unknown exchange fails here, with the choices


class TradingEngine(DeskOperations, LinkedSubmissions):
    """One broker, one risk manager, one audit log; every order through :meth:`submit`.

    Args:
        broker: A :class:`~tradelab.brokers.Broker`.
        risk: The risk manager (its state is restored from the audit log on :meth:`start`).
        audit: The :class:`~tradelab.audit.AuditLog`.
        config: Engine settings.
        metrics: Optional counters/gauges sink.

    Example:
        >>> import asyncio, tempfile
        >>> from tradelab.audit import AuditConfig, AuditLog
        >>> from tradelab.brokers import OrderRequest, PaperBroker, PaperBrokerConfig
        >>> from tradelab.brokers.replay import synthetic_bars
        >>> async def demo():
        ...     broker = PaperBroker(synthetic_bars(["AAA"], end="2024-02-28"),
        ...                          PaperBrokerConfig(speed=0, autostart=False))
        ...     audit = AuditLog(AuditConfig(url=f"sqlite:///{tempfile.mkdtemp()}/audit.db"))
        ...     engine = TradingEngine(broker, risk=RiskManager(), audit=audit)
        ...     await engine.start()
        ...     await broker.run_steps(1)
        ...     outcome = await engine.submit(OrderRequest(
        ...         client_order_id="o1", symbol="AAA", side="buy", quantity=10))
        ...     await engine.close()
        ...     return outcome.accepted, audit.has_order("o1")
        >>> asyncio.run(demo())
        (True, True)
    """

    def __init__(self, broker: Broker, *, risk: RiskManager, audit: Any,
                 config: EngineConfig | None = None, metrics: MetricsSink | None = None) -> None:
        self.broker = broker
        self.risk = risk
        self.audit = audit
        self.config = config or EngineConfig()
        self.metrics = metrics
        self._lock = asyncio.Lock()
        self._session: date | None = None
        self._closing: AccountSnapshot | None = None  # the account at the latest bar
        self._last_step: datetime | None = None
        self._started = False
        self._day_counts = {"orders": 0, "fills": 0, "rejections": 0, "trades": 0, "wins": 0}
        self._previous_close: float | None = None  # equity at the last session's close
        self._book: dict[str, list[float]] = {}  # symbol -> [quantity, average cost]
        self._monitor = AlertMonitor()

    # ------------------------------------------------------------------ life cycle
    async def start(self) -> dict[str, int]:
        """Restore from the audit log, connect the broker, reconcile; returns what was restored."""
        snapshot = self.audit.get_value("risk")
        if snapshot:
            self.risk.restore(snapshot)
        limits = self.audit.get_value("risk.limits")
        if limits:  # limits changed at runtime outlive a restart
            self.risk.reconfigure(RiskConfig.from_mapping(limits))
        restored = {"orders": 0, "fills": 0}
        restore = getattr(self.broker, "restore", None)
        if callable(restore):  # a broker whose book lives in this process (paper)
            orders, fills = self.audit.orders(), self.audit.fills()
            last = self.audit.get_value("paper.last_step")
            restore(orders, fills, datetime.fromisoformat(last) if last else None)
            restored = {"orders": sum(o.is_open for o in orders), "fills": len(fills)}
        self.broker.add_listener(self._on_event)
        await self.broker.connect()
        await self.reconcile()
        self._book = {s: [p.quantity, p.average_cost]
                      for s, p in (await self.broker.positions()).items()}
        self._started = True
        self._gauge_state()
        return restored

    async def close(self) -> None:
        """Disconnect the broker (open orders stay there) and stop listening."""
        self.broker.remove_listener(self._on_event)
        await self.broker.disconnect()

    def detach(self) -> None:
        """Stop listening to the broker and stop its stream, without awaiting (shutdown path)."""
        self.broker.remove_listener(self._on_event)
        stop = getattr(self.broker, "stop_stream", None)
        if callable(stop):
            stop()

    async def reconcile(self) -> dict[str, int]:
        """Bring the audit log in line with the broker after a (re)connect or restart.

        Orders the log has open are updated from the broker's view; one the broker does not
        know is closed as cancelled with the reason. Fills the broker reports are added
        (duplicates ignored).
        """
        at_broker = {o.client_order_id: o for o in await self.broker.orders()}
        updated = missing = 0
        for order in self.audit.orders(open_only=True):
            current = at_broker.get(order.client_order_id)
            if current is None:
                if order.status is OrderStatus.PENDING or getattr(self.broker, "name", "") != \
                        "paper":
                    self.audit.record_order_update(order.evolve(
                        status=OrderStatus.CANCELLED,
                        reason="not found at the broker when reconciling after a restart"))
                    missing += 1
                continue
            if (current.status, current.filled_quantity) != (order.status, order.filled_quantity):
                self.audit.record_order_update(current)
                updated += 1
        new_fills = sum(bool(self.audit.record_fill(f)) for f in await self.broker.fills())
        if updated or missing or new_fills:
            _log.info("reconciled: %d orders updated, %d missing at the broker, %d fills added",
                      updated, missing, new_fills)
        return {"updated": updated, "missing": missing, "fills": new_fills}

    # ------------------------------------------------------------------ orders
    async def submit(self, request: OrderRequest, *, source: str = "api") -> SubmitOutcome:
        """Validate, risk-check, log, then send one order.

        An order with ``parent_id`` is an exit attached to an entry sent before: refused (an
        input error) if the entry is unknown, finished without a fill, in another symbol, on
        the same side, or if the entry's exits could then close more than it opens. While the
        entry is open the exit is approved without a limit check (it adds no risk; denied only
        when HALTED); once the entry has filled it is checked like any order that closes a
        position. To send an entry with its exits use :meth:`submit_bracket` or
        :meth:`submit_group`.

        Raises:
            DuplicateOrderError: The client order id was used before (nothing recorded).
            OrderError: Bad input — unknown symbol, price far outside the band (nothing
                recorded).
            BrokerError: The broker refused or is disconnected (the order is logged as
                rejected with the reason).
        """
        async with self._lock:
            return await self._submit(request, source=source)

    async def _submit(self, request: OrderRequest, *, source: str) -> SubmitOutcome:
        if self.audit.has_order(request.client_order_id):
            raise DuplicateOrderError(
                f"client_order_id {request.client_order_id!r} was used already; nothing was "
                f"sent. Use a new id for a new order.")
        await self._check_request(request, source=source)
        if request.parent_id is not None:  # an exit attached to an entry placed before
            await self._check_child(request, await self.broker.orders())
        decision = await self._decide(request, source)
        if not decision.approved:
            return self._deny(request, decision, source)
        pending = BrokerOrder(request=request, broker_order_id="", status=OrderStatus.PENDING)
        self.audit.record_submission(
            SubmitOutcome(request=request, decision=decision, order=pending, source=source),
            state=self.risk.state.value)
        try:
            order = await self.broker.place_order(request)
        except Exception as exc:
            self.audit.record_order_update(pending.evolve(
                status=OrderStatus.REJECTED, reason=f"the broker refused the order: {exc}"))
            self._count("orders_failed", {"source": _kind(source)})
            self._alert("warning", "order_rejected", request.client_order_id,
                        f"the broker refused order {request.client_order_id}: {exc}")
            if isinstance(exc, BrokerError):
                raise
            raise BrokerError(f"the broker refused order {request.client_order_id!r}: "
                              f"{exc}") from exc
        self.audit.record_order_update(order)
        self._day_counts["orders"] += 1
        self._count("orders_accepted", {"source": _kind(source)})
        return SubmitOutcome(request=request, decision=decision, order=order, source=source)

    async def _decide(self, request: OrderRequest, source: str) -> RiskDecision:
        """The risk decision for ``request`` now (recorded in the manager's rate count).

        Raises:
            OrderError: A limit or stop price outside the price band (an input error).
        """
        price = self._reference_price(request)
        closed = self._closed_market(request, source)
        if closed is not None:
            return closed
        open_orders = await self.broker.orders(open_only=True)
        contingent = self._contingent(request, open_orders)
        if contingent is not None:
            return contingent
        if price is None:
            return RiskDecision(
                approved=False, rule="no_price",
                reason=f"no price for {request.symbol} yet: a market order cannot be valued "
                       f"for the risk check; wait for the first bar or send a limit order")
        account = await self.broker.account()
        portfolio = self._worst_case(account, open_orders, request)
        intent = OrderIntent(symbol=request.symbol, side=request.side,
                             quantity=request.quantity, price=price,
                             order_type=request.order_type)
        decision = self.risk.check(intent, portfolio)
        self.risk.drain_events()  # order checks are logged with the submission
        return decision

    def _deny(self, request: OrderRequest, decision: RiskDecision,
              source: str) -> SubmitOutcome:
        """Log a denied submission (decision only), count and alert it."""
        outcome = SubmitOutcome(request=request, decision=decision, order=None, source=source)
        self.audit.record_submission(outcome, state=self.risk.state.value)
        self._day_counts["rejections"] += 1
        self._count("orders_denied", {"rule": decision.rule, "source": _kind(source)})
        self._alert("warning", "order_denied", request.client_order_id,
                    f"order {request.client_order_id} ({request.side} "
                    f"{request.quantity:g} {request.symbol}) denied by {decision.rule}: "
                    f"{decision.reason}")
        return outcome

    async def _check_request(self, request: OrderRequest, *, source: str) -> None:
        """Input checks that refuse an order without recording it (an input error)."""
        if not await self.broker.has_symbol(request.symbol):
            raise OrderError(f"unknown symbol {request.symbol!r}: the broker cannot trade it")

    def _closed_market(self, request: OrderRequest, source: str) -> RiskDecision | None:
        """A ``market_closed`` denial outside the session, or ``None``."""
        if source == "kill" or request.extended_hours or not self._sessions_enforced():
            return None
        calendar = market_calendar(self.config.calendar)
        now = self.clock()
        if calendar.is_open(now):
            return None
        return RiskDecision(
            approved=False, rule="market_closed",
            reason=f"{self.config.calendar} is closed at {now:%Y-%m-%d %H:%M} UTC (next open "
                   f"{calendar.next_open(now):%Y-%m-%d %H:%M} UTC); send it then, or with "
                   f"extended_hours=true")

    async def cancel(self, client_order_id: str) -> BrokerOrder:
        """Cancel an open order (a finished one is returned unchanged).

        Raises:
            OrderNotFoundError: No order has this id.
        """
        if self.audit.order(client_order_id) is None:
            raise OrderNotFoundError(f"no order with client_order_id {client_order_id!r}")
        order = await self.broker.cancel_order(client_order_id)
        self.audit.record_order_update(order)
        return order

    def _reference_price(self, request: OrderRequest) -> float | None:
        last = self.broker.last_price(request.symbol)
        given = request.limit_price if request.limit_price is not None else request.stop_price
        band = self.config.price_band
        if given is not None and last is not None and band is not None:
            distance = abs(given - last) / last
            if distance > band:
                field = "limit_price" if request.limit_price is not None else "stop_price"
                raise OrderError(
                    f"order field {field!r}: {given:,.4f} is {distance:.0%} away from the last "
                    f"price {last:,.4f} of {request.symbol}, outside the ±{band:.0%} price band")
        if request.order_type == "market" or given is None:
            return last
        if request.order_type in ("stop", "trailing_stop"):  # fills like a market order
            return max(given, last) if last is not None and request.side == "buy" else given
        return given

    def _worst_case(self, account: AccountSnapshot, open_orders: list[BrokerOrder],
                    request: OrderRequest) -> PortfolioSnapshot:
        """The account with every open order filled in the direction that adds the most risk.

        Linked orders count as what they can do: an exit still waiting for its open entry
        counts as nothing (it only takes back what the entry brings, and the entry is
        counted), and the members of an OCO group on one side count once, by the largest
        remaining (a fill of one reduces the others). A new member of an open group stands for
        the group: the others count only for the shares they exceed it by.
        """
        buys: dict[str, float] = {}
        sells: dict[str, float] = {}
        prices: dict[str, float] = {s: p.market_price for s, p in account.positions.items()}
        waiting = waiting_exits(open_orders)
        groups: dict[tuple[str, str, str], float] = {}
        for order in open_orders:
            if order.client_order_id in waiting:
                continue
            side, group = order.request.side, order.request.oco_group
            if group is not None:
                key = (order.symbol, side, group)
                groups[key] = max(groups.get(key, 0.0), order.remaining)
            else:
                book = buys if side == "buy" else sells
                book[order.symbol] = book.get(order.symbol, 0.0) + order.remaining
            if order.symbol not in prices:
                reference = self.broker.last_price(order.symbol) or \
                    order.request.limit_price or order.request.stop_price
                if reference:
                    prices[order.symbol] = reference
        for (symbol, side, group), remaining in groups.items():
            if (symbol, side, group) == (request.symbol, request.side, request.oco_group):
                remaining = max(remaining - request.quantity, 0.0)
            book = buys if side == "buy" else sells
            book[symbol] = book.get(symbol, 0.0) + remaining
        positions = {}
        for symbol in set(prices) | set(buys) | set(sells):
            held = account.positions[symbol].quantity if symbol in account.positions else 0.0
            up, down = held + buys.get(symbol, 0.0), held - sells.get(symbol, 0.0)
            if symbol == request.symbol:
                quantity = up if request.side == "buy" else down
            else:
                quantity = up if abs(up) >= abs(down) else down
            price = prices.get(symbol)
            if quantity and price:
                positions[symbol] = Position(symbol=symbol, quantity=quantity, price=price)
        return PortfolioSnapshot(equity=account.equity, cash=account.cash, positions=positions,
                                 timestamp=account.timestamp)

    # ------------------------------------------------------------------ events
    def _on_event(self, kind: str, payload: Any) -> None:
        if kind == "order":
            if payload.broker_order_id and self.audit.has_order(payload.client_order_id):
                self.audit.record_order_update(payload)
        elif kind == "fill":
            if self.audit.record_fill(payload):
                self._day_counts["fills"] += 1
                self._count("fills", {"symbol": payload.symbol})
                self._book_fill(payload)
        elif kind == "bar":
            self._on_bar(payload)
        elif kind == "connection":
            connected = bool(payload.get("connected"))
            self._gauge("broker_connected", 1.0 if connected else 0.0)
            if self._monitor.update("connection", "broker", active=not connected):
                self._alert("critical", "disconnected", "broker",
                            f"broker disconnected: {payload.get('reason', '')}")
            elif connected and self._started:
                self._alert("info", "connected", "broker",
                            f"broker connected: {payload.get('reason', '')}")
            self.audit.record_state_change(
                state=self.risk.state.value, rule="connection",
                reason=f"broker {'connected' if payload.get('connected') else 'disconnected'}:"
                       f" {payload.get('reason', '')}", at=utc_now())

    def _book_fill(self, fill: Any) -> None:
        """Count closed trades (and wins) per day from fills, by average cost."""
        quantity, cost = self._book.get(fill.symbol, [0.0, 0.0])
        signed = fill.signed_quantity
        if quantity and (quantity > 0) != (signed > 0):
            closed = min(abs(signed), abs(quantity))
            pnl = closed * (fill.price - cost) * (1 if quantity > 0 else -1) - fill.commission
            self._day_counts["trades"] += 1
            self._day_counts["wins"] += int(pnl > 0)
        after = quantity + signed
        if after == 0:
            self._book.pop(fill.symbol, None)
        elif quantity == 0 or (quantity > 0) == (signed > 0):
            self._book[fill.symbol] = [after, (quantity * cost + signed * fill.price) / after]
        elif (after > 0) != (quantity > 0):
            self._book[fill.symbol] = [after, fill.price]
        else:
            self._book[fill.symbol] = [after, cost]

    def _on_bar(self, bar: Bar) -> None:
        if bar.timestamp == self._last_step:
            return
        self._last_step = bar.timestamp
        if getattr(self.broker, "name", "") == "paper":
            self.audit.set_value("paper.last_step", bar.timestamp.isoformat())
        account = self._account_now()
        if account is None:
            return
        session = bar.timestamp.astimezone(_NEW_YORK).date()
        portfolio = account.to_portfolio()
        if self._session is not None and session > self._session and self._closing is not None:
            # The day opens at the previous close: a gap down on this bar is this day's loss.
            closing = self._closing
            day_pnl = None if self._previous_close is None else \
                closing.equity - self._previous_close
            self.audit.record_daily_summary(self._session, closing, day_pnl=day_pnl,
                                            **self._day_counts)
            self._previous_close = closing.equity
            self._day_counts = dict.fromkeys(self._day_counts, 0)
            self.risk.start_day(closing.to_portfolio())
        self._session = session
        self._closing = account
        before = self.risk.state
        self.risk.update(portfolio)
        events = self.risk.drain_events()
        if events:
            self.audit.record_risk_events(events)
        if self.risk.state is not before or events:
            self._persist_risk()
        self._check_limit_usage(account)
        self._gauge("equity", account.equity)
        self._gauge("realized_pnl", account.realized_pnl)

    def _account_now(self) -> AccountSnapshot | None:
        now = getattr(self.broker, "account_now", None)
        return now() if callable(now) else None

    # ------------------------------------------------------------------ views
    def risk_view(self) -> dict[str, Any]:
        """The trading state, why, the limits and the equity marks."""
        snapshot = self.risk.state_snapshot()
        config = self.risk.config
        return {
            "state": snapshot["state"],
            "halt_rule": snapshot["halt_rule"],
            "halt_reason": snapshot["halt_reason"],
            "peak_equity": snapshot["peak_equity"],
            "start_of_day_equity": snapshot["day_start_equity"],
            "limits": {name: getattr(config, name) for name in config.__dataclass_fields__},
        }

    def _persist_risk(self) -> None:
        events = self.risk.drain_events()
        if events:
            self.audit.record_risk_events(events)
        self.audit.set_value("risk", self.risk.state_snapshot())
        self._gauge_state()
        halted = self.risk.state is TradingState.HALTED
        if self._monitor.update("state", "HALTED", active=halted):
            self._alert("critical", "halted", self.risk.halt_rule,
                        f"trading HALTED ({self.risk.halt_rule}): "
                        f"{self.risk.state_snapshot()['halt_reason']}")

    def _gauge_state(self) -> None:
        order = (TradingState.ACTIVE, TradingState.REDUCING, TradingState.HALTED)
        self._gauge("trading_state", float(order.index(self.risk.state)))

    def _count(self, name: str, tags: dict[str, str]) -> None:
        if self.metrics is not None:
            self.metrics.count(name, tags)

    def _gauge(self, name: str, value: float) -> None:
        if self.metrics is not None and math.isfinite(value):
            self.metrics.gauge(name, value, {})


def _kind(source: str) -> str:
    return source.split(":", 1)[0]

