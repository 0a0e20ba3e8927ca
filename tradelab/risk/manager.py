"""RiskManager: checks orders against limits and keeps the trading state, with a full event log.

The same manager runs in backtests (before every order) and in live trading. It does no I/O:
callers persist :attr:`RiskManager.events` (e.g. to the audit database) themselves.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from datetime import datetime

from tradelab.errors import ConfigError
from tradelab.risk.config import RiskConfig
from tradelab.risk.decisions import EventKind, RiskDecision, RiskEvent
from tradelab.risk.records import OrderIntent, PortfolioSnapshot
from tradelab.risk.state import TradingState

__all__ = ["RiskManager"]

_ACTIVE = TradingState.ACTIVE
_REDUCING = TradingState.REDUCING
_HALTED = TradingState.HALTED

# Halts that only resume() (or reduce()) lifts; a "daily_loss_limit" halt is lifted by start_day().
_STICKY_HALTS = frozenset({"max_drawdown", "manual"})


def _shares(quantity: float) -> str:
    return f"{quantity:,.10g}"


def _deny(rule: str, reason: str) -> RiskDecision:
    return RiskDecision(approved=False, reason=reason, rule=rule)


class RiskManager:
    """Approves or denies orders against a :class:`RiskConfig` and keeps the trading state.

    Checks, in order (the first failing rule denies and names itself in ``RiskDecision.rule``):

    1. ``halted``: in ``HALTED`` every order is denied.
    2. An order that shrinks an existing position without crossing flat is approved, in
       ``ACTIVE`` and ``REDUCING`` alike: exposure limits never block risk-reducing orders.
    3. ``reducing``: in ``REDUCING`` every other order (open, grow, flip) is denied.
    4. ``equity``: equity <= 0 denies orders that open or grow a position.
    5. ``max_orders_per_minute`` (approved orders in the last 60 s, by ``check``'s ``now``) and
       ``max_order_value`` (the order's quantity times its reference price).
    6. ``max_position_shares``, ``max_position_value``, ``max_concentration`` on the post-trade
       position valued at the order's price, ``max_gross_leverage`` on the post-trade gross
       exposure (other positions at their marks), then ``max_open_positions`` when the order
       opens a new symbol. A flip (long 100, sell 300) is checked as the new short position of 200.

    :meth:`update` marks to market and halts automatically when the day's loss reaches
    ``daily_loss_limit`` or the drawdown from peak equity reaches ``max_drawdown``.
    :meth:`start_day` lifts a daily-loss halt (back to the state before it); drawdown and manual
    halts last until :meth:`resume` or :meth:`reduce`. Every check, state change and new day is
    recorded in :attr:`events`. Not thread-safe: give each trading loop its own manager.

    Example:
        >>> from tradelab.risk import OrderIntent, PortfolioSnapshot, RiskConfig
        >>> manager = RiskManager(RiskConfig(max_concentration=0.25))
        >>> portfolio = PortfolioSnapshot(equity=100_000.0, cash=100_000.0, positions={})
        >>> order = OrderIntent(symbol="AAA", side="buy", quantity=312, price=100.0)
        >>> manager.check(order, portfolio).reason
        'position AAA would be 31.2% of equity, above max_concentration 25.0%'
    """

    __slots__ = (
        "_config",
        "_day_start_equity",
        "_events",
        "_halt_reason",
        "_halt_rule",
        "_last_equity",
        "_peak_equity",
        "_recent",
        "_resume_state",
        "_state",
    )

    def __init__(self, config: RiskConfig | None = None) -> None:
        """Create a manager in ``ACTIVE`` state.

        Args:
            config: The limits; ``None`` for the defaults of :class:`RiskConfig`.

        Raises:
            ConfigError: ``config`` is not a RiskConfig.
        """
        if config is None:
            config = RiskConfig()
        elif not isinstance(config, RiskConfig):
            raise ConfigError(
                f"RiskManager needs a RiskConfig, got {config!r}. "
                f"Build one with RiskConfig(...) or RiskConfig.from_mapping(settings)."
            )
        self._config = config
        self._state = _ACTIVE
        self._resume_state = _ACTIVE
        self._halt_rule = ""
        self._halt_reason = ""
        self._events: list[RiskEvent] = []
        self._peak_equity: float | None = None
        self._day_start_equity: float | None = None
        self._last_equity: float | None = None
        self._recent: deque[float] = deque()  # times of approved orders (rate limit)

    # --- read-only views ------------------------------------------------------------------

    @property
    def config(self) -> RiskConfig:
        """The limits enforced."""
        return self._config

    @property
    def state(self) -> TradingState:
        """The current trading state."""
        return self._state

    @property
    def halt_rule(self) -> str:
        """Why trading is halted (``"daily_loss_limit"``, ``"max_drawdown"``, ``"manual"``), or
        ``""`` when not halted."""
        return self._halt_rule

    @property
    def events(self) -> tuple[RiskEvent, ...]:
        """Every check, state change and daily reset so far, oldest first."""
        return tuple(self._events)

    @property
    def peak_equity(self) -> float | None:
        """Highest equity seen by :meth:`update` / :meth:`start_day` (``None`` before either)."""
        return self._peak_equity

    @property
    def start_of_day_equity(self) -> float | None:
        """Equity at the last :meth:`start_day` (or the first :meth:`update`)."""
        return self._day_start_equity

    def state_snapshot(self) -> dict[str, object]:
        """What a restarted live trader needs to continue: state, halt reason, equity marks.

        Example:
            >>> manager = RiskManager()
            >>> manager.halt("operator")
            >>> RiskManager().restore(manager.state_snapshot()) or "restored"
            'restored'
        """
        return {
            "state": self._state.value,
            "resume_state": self._resume_state.value,
            "halt_rule": self._halt_rule,
            "halt_reason": self._halt_reason,
            "peak_equity": self._peak_equity,
            "day_start_equity": self._day_start_equity,
            "last_equity": self._last_equity,
        }

    def restore(self, snapshot: dict[str, object]) -> None:
        """Continue from :meth:`state_snapshot` (a HALT survives a restart)."""
        try:
            self._state = TradingState(snapshot["state"])
            self._resume_state = TradingState(snapshot.get("resume_state", "ACTIVE"))
            self._halt_rule = str(snapshot.get("halt_rule", ""))
            self._halt_reason = str(snapshot.get("halt_reason", ""))
            for key in ("peak_equity", "day_start_equity", "last_equity"):
                value = snapshot.get(key)
                setattr(self, f"_{key}", None if value is None else float(value))
        except (KeyError, ValueError, TypeError) as exc:
            raise ConfigError(f"cannot restore the risk manager from {snapshot!r}: {exc}") from exc

    # --- order checks ---------------------------------------------------------------------

    def evaluate(
        self, order: OrderIntent, portfolio: PortfolioSnapshot, *, now: float | None = None
    ) -> RiskDecision:
        """A dry run of :meth:`check`: the same decision, nothing recorded, the order not
        counted toward ``max_orders_per_minute``."""
        if self._config.max_orders_per_minute is not None:
            now = time.monotonic() if now is None else now
            while self._recent and self._recent[0] <= now - 60.0:
                self._recent.popleft()
        return self._decide(order, portfolio, now)

    def reconfigure(self, config: RiskConfig) -> None:
        """Enforce new limits from now on (loss limits at the next mark or update).

        Raises:
            ConfigError: ``config`` is not a RiskConfig.
        """
        if not isinstance(config, RiskConfig):
            raise ConfigError(f"RiskManager.reconfigure needs a RiskConfig, got {config!r}")
        self._config = config

    def drain_events(self) -> list[RiskEvent]:
        """Return the events recorded since the last drain and forget them.

        Live trading persists events to the audit log as they happen and drains them, so the
        in-memory log does not grow for the life of the process; backtests read :attr:`events`.
        """
        events, self._events = self._events, []
        return events

    def check(
        self, order: OrderIntent, portfolio: PortfolioSnapshot, *, now: float | None = None
    ) -> RiskDecision:
        """Approve or deny ``order`` given ``portfolio``, and record the decision.

        Args:
            order: The order the strategy wants to place.
            portfolio: The account just before the order.
            now: Seconds on a monotonic clock for ``max_orders_per_minute`` (default
                ``time.monotonic()``).

        Returns:
            The decision; a denial says the rule and the numbers. Never raises for a denial.
        """
        if self._config.max_orders_per_minute is not None:
            now = time.monotonic() if now is None else now
            recent = self._recent
            while recent and recent[0] <= now - 60.0:
                recent.popleft()
        decision = self._decide(order, portfolio, now)
        if decision.approved and now is not None:
            self._recent.append(now)
        self._events.append(
            RiskEvent(
                timestamp=portfolio.timestamp,
                kind="order_check",
                symbol=order.symbol,
                side=order.side,
                quantity=order.quantity,
                approved=decision.approved,
                rule=decision.rule,
                reason=decision.reason,
                state=self._state.value,
            )
        )
        return decision

    def _decide(
        self, order: OrderIntent, portfolio: PortfolioSnapshot, now: float | None
    ) -> RiskDecision:
        state = self._state
        if state is _HALTED:
            return _deny(
                "halted",
                f"trading is HALTED ({self._halt_reason}); every order is denied until resume()",
            )

        symbol = order.symbol
        positions = portfolio.positions
        position = positions.get(symbol)
        current = position.quantity if position is not None else 0.0
        delta = order.quantity if order.side == "buy" else -order.quantity
        after = current + delta
        action = f"{order.side} {_shares(order.quantity)} {symbol}"

        if current != 0.0 and (current > 0.0) != (delta > 0.0) and abs(delta) <= abs(current):
            # Shrinks the position without crossing flat.
            return RiskDecision(
                approved=True,
                reason=f"{action} reduces the position from {_shares(current)} to "
                f"{_shares(after)} shares",
                rule="",
            )

        if state is _REDUCING:
            if current == 0.0:
                change = "open a new position"
            elif (current > 0.0) == (after > 0.0):
                change = "grow the position"
            else:
                change = "flip the position"
            return _deny(
                "reducing",
                f"trading is REDUCING: only orders that shrink an existing position are "
                f"approved, and {action} would {change} ({_shares(current)} to "
                f"{_shares(after)} shares)",
            )

        equity = portfolio.equity
        if equity <= 0.0:
            return _deny(
                "equity",
                f"equity is {equity:,.2f}, not positive: orders that open or grow a position "
                f"are denied",
            )

        config = self._config
        limit = config.max_orders_per_minute
        if limit is not None and len(self._recent) >= limit:
            return _deny(
                "max_orders_per_minute",
                f"{len(self._recent)} orders approved in the last 60 s reached "
                f"max_orders_per_minute {limit}; {action} is denied",
            )
        notional = order.quantity * order.price
        limit = config.max_order_value
        if limit is not None and notional > limit:
            return _deny(
                "max_order_value",
                f"{action} is worth {notional:,.2f} at {order.price:,.2f}, above "
                f"max_order_value {limit:,.2f}",
            )

        shares = abs(after)
        limit = config.max_position_shares
        if limit is not None and shares > limit:
            return _deny(
                "max_position_shares",
                f"position {symbol} would be {_shares(shares)} shares, above "
                f"max_position_shares {_shares(limit)}",
            )

        value = shares * order.price
        limit = config.max_position_value
        if limit is not None and value > limit:
            return _deny(
                "max_position_value",
                f"position {symbol} would be worth {value:,.2f}, above max_position_value "
                f"{limit:,.2f}",
            )

        concentration = value / equity
        if concentration > config.max_concentration:
            return _deny(
                "max_concentration",
                f"position {symbol} would be {concentration:.1%} of equity, above "
                f"max_concentration {config.max_concentration:.1%}",
            )

        gross = value
        held = 0  # open positions (used only when this order opens a new one)
        for other in positions.values():
            quantity = other.quantity
            if quantity != 0.0:
                held += 1
                if other.symbol != symbol:
                    gross += abs(quantity * other.price)
        leverage = gross / equity
        if leverage > config.max_gross_leverage:
            return _deny(
                "max_gross_leverage",
                f"gross exposure would be {gross:,.2f} = {leverage:.2f}x equity, above "
                f"max_gross_leverage {config.max_gross_leverage:.2f}x",
            )

        limit = config.max_open_positions
        if limit is not None and current == 0.0 and held + 1 > limit:
            return _deny(
                "max_open_positions",
                f"opening {symbol} would make {held + 1} open positions, above "
                f"max_open_positions {limit}",
            )

        return RiskDecision(
            approved=True,
            reason=f"{action} is within limits: position {_shares(after)} shares, "
            f"{concentration:.1%} of equity; gross exposure {leverage:.2f}x equity",
            rule="",
        )

    # --- mark to market and sessions -----------------------------------------------------

    def update(self, portfolio: PortfolioSnapshot) -> TradingState:
        """Mark to market: track peak equity and halt if a loss limit is reached.

        The first call (without a :meth:`start_day` before it) also sets the start-of-day
        equity. Halts with rule ``max_drawdown`` when ``(peak - equity) / peak >= max_drawdown``
        and with ``daily_loss_limit`` when ``(start - equity) / start >= daily_loss_limit``
        (drawdown first: it is the halt that outlasts the day). Each halt is recorded as a
        ``state_change`` event.

        Returns:
            The trading state after the update.
        """
        equity = portfolio.equity
        self._last_equity = equity
        if self._peak_equity is None or equity > self._peak_equity:
            self._peak_equity = equity
        if self._day_start_equity is None:
            self._day_start_equity = equity
        self._enforce_loss_limits(portfolio.timestamp)
        return self._state

    def start_day(self, portfolio: PortfolioSnapshot) -> None:
        """Open a trading session: the start-of-day equity becomes ``portfolio.equity``.

        Records a ``daily_reset`` event. A halt caused only by the daily loss limit is lifted,
        back to the state before it (``ACTIVE``, or ``REDUCING`` if the manager was reducing);
        drawdown and manual halts stay until :meth:`resume`.
        """
        equity = portfolio.equity
        timestamp = portfolio.timestamp
        self._last_equity = equity
        self._day_start_equity = equity
        if self._peak_equity is None or equity > self._peak_equity:
            self._peak_equity = equity
        self._record(
            "daily_reset",
            timestamp,
            rule="",
            reason=f"new trading day: start-of-day equity {equity:,.2f}, "
            f"peak equity {self._peak_equity:,.2f}",
        )
        if self._halt_rule == "daily_loss_limit" and self._drawdown_breach() is None:
            self._change_state(
                self._resume_state,
                timestamp,
                rule="daily_loss_limit",
                reason="new trading day: the daily-loss halt is lifted",
            )
        self._enforce_loss_limits(timestamp)

    def mark(
        self,
        equity: float,
        *,
        new_day: bool = False,
        clock: Callable[[], datetime | None] | None = None,
    ) -> TradingState:
        """The per-bar fast path of :meth:`start_day` + :meth:`update`, for backtests.

        Same rules and state changes, without building a snapshot and without a ``daily_reset``
        event per bar (a ten-year daily backtest would record 2,520 of them). ``clock`` is called
        only when an event is recorded, to stamp it.

        A new day opens at the previous mark (the last close): the first bar of a day counts
        toward that day's loss — with daily bars, the day's whole move. (Opening it at the
        first bar's own equity would make the daily-loss limit blind on daily bars.)
        """
        previous = self._last_equity
        self._last_equity = equity
        if self._peak_equity is None or equity > self._peak_equity:
            self._peak_equity = equity
        if new_day or self._day_start_equity is None:
            self._day_start_equity = equity if previous is None else previous
            if self._halt_rule == "daily_loss_limit" and self._drawdown_breach() is None:
                self._change_state(self._resume_state, clock() if clock else None,
                                   rule="daily_loss_limit",
                                   reason="new trading day: the daily-loss halt is lifted")
        peak, start, config = self._peak_equity, self._day_start_equity, self._config
        if (peak > 0.0 and (peak - equity) >= config.max_drawdown * peak) or (
            start > 0.0 and (start - equity) >= config.daily_loss_limit * start
        ):
            self._enforce_loss_limits(clock() if clock else None)
        return self._state

    # --- manual state changes ------------------------------------------------------------

    def halt(self, reason: str, *, timestamp: datetime | None = None) -> None:
        """Halt trading (deny every order) until :meth:`resume` or :meth:`reduce`."""
        self._change_state(_HALTED, timestamp, rule="manual", reason=_manual_reason(reason))

    def reduce(self, reason: str, *, timestamp: datetime | None = None) -> None:
        """Allow only orders that shrink existing positions (e.g. to unwind after a halt).

        Leaving a halt this way acknowledges the losses so far: a loss limit already reached at
        the latest equity is re-based there (see :meth:`resume`).
        """
        reason = _manual_reason(reason) + self._rebase_reached_limits()
        self._change_state(_REDUCING, timestamp, rule="manual", reason=reason)

    def resume(self, reason: str, *, timestamp: datetime | None = None) -> None:
        """Return to ``ACTIVE``.

        Resuming acknowledges the losses so far: if the latest equity has reached the drawdown
        limit, the peak equity is re-based to it; if it has reached the daily loss limit, the
        start-of-day equity is. Otherwise the next :meth:`update` would halt again at once. Limits
        that were not reached are left alone, so a manual halt and resume loosen nothing.
        """
        reason = _manual_reason(reason) + self._rebase_reached_limits()
        self._change_state(_ACTIVE, timestamp, rule="manual", reason=reason)

    # --- internals -----------------------------------------------------------------------

    def _drawdown_breach(self) -> str | None:
        peak, equity = self._peak_equity, self._last_equity
        if peak is None or equity is None or peak <= 0.0:
            return None
        drawdown = (peak - equity) / peak
        limit = self._config.max_drawdown
        if drawdown < limit:
            return None
        return (
            f"drawdown {drawdown:.1%} from peak equity {peak:,.2f} to {equity:,.2f} reached "
            f"max_drawdown {limit:.1%}"
        )

    def _daily_loss_breach(self) -> str | None:
        start, equity = self._day_start_equity, self._last_equity
        if start is None or equity is None or start <= 0.0:
            return None
        loss = (start - equity) / start
        limit = self._config.daily_loss_limit
        if loss < limit:
            return None
        return (
            f"day's loss {loss:.1%} from start-of-day equity {start:,.2f} to {equity:,.2f} "
            f"reached daily_loss_limit {limit:.1%}"
        )

    def _enforce_loss_limits(self, timestamp: datetime | None) -> None:
        if self._halt_rule in _STICKY_HALTS:
            return
        reason = self._drawdown_breach()
        if reason is not None:  # also upgrades a daily-loss halt: it must outlast the day
            self._change_state(_HALTED, timestamp, rule="max_drawdown", reason=reason)
            return
        if self._state is _HALTED:
            return
        reason = self._daily_loss_breach()
        if reason is not None:
            self._change_state(_HALTED, timestamp, rule="daily_loss_limit", reason=reason)

    def _rebase_reached_limits(self) -> str:
        equity = self._last_equity
        if equity is None:
            return ""
        rebased = []
        if self._drawdown_breach() is not None:
            self._peak_equity = equity
            rebased.append("peak")
        if self._daily_loss_breach() is not None:
            self._day_start_equity = equity
            rebased.append("start-of-day")
        if not rebased:
            return ""
        return f" ({' and '.join(rebased)} equity re-based to {equity:,.2f})"

    def _change_state(
        self, state: TradingState, timestamp: datetime | None, *, rule: str, reason: str
    ) -> None:
        if state is _HALTED:
            if self._state is not _HALTED:
                self._resume_state = self._state
            self._halt_rule, self._halt_reason = rule, reason
        else:
            self._halt_rule = self._halt_reason = ""
        self._state = state
        self._record("state_change", timestamp, rule=rule, reason=reason)

    def _record(
        self, kind: EventKind, timestamp: datetime | None, *, rule: str, reason: str
    ) -> None:
        self._events.append(
            RiskEvent(
                timestamp=timestamp,
                kind=kind,
                symbol="",
                side="",
                quantity=0.0,
                approved=True,
                rule=rule,
                reason=reason,
                state=self._state.value,
            )
        )


def _manual_reason(reason: str) -> str:
    if not isinstance(reason, str) or not reason.strip():
        raise ValueError(f"a manual state change needs a reason for the log, got {reason!r}")
    return reason
