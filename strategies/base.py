"""``BaseStrategy``: sizing helpers, the risk manager before every order, end-of-day procedures,
higher timeframes, run records.

Every strategy of the library subclasses it. Backtrader's order helpers (``order_target_size``,
``close`` ...) all go through ``buy``/``sell``, which are overridden here to ask the run's
:class:`~tradelab.risk.RiskManager` first; a denied order is never sent and is recorded with the
reason. The same class runs in backtests and (through a broker bridge) live.

**End of day** (intraday bars only; a no-op on daily bars): ``eod_flatten="15:55"`` flattens
every position by 15:55 New York (12:55 on a 13:00 half day, from the ``calendar``), and
``eod_no_entry_minutes=N`` denies orders that open or grow a position within N minutes of the
close — recorded like a risk denial, with the reason. A subclass keeps writing a plain ``next``:
BaseStrategy's machinery runs before it on every bar and, from the flattening bar to the end of
the session, cancels open orders, closes positions and does not call it. The flattening bar is
the first bar whose successor's open (where its market orders fill) is the last open at or before
the flatten time: for 5-minute bars and 15:55, the bar *starting* 15:50 (bars are stamped at their
start). See :mod:`tradelab.strategy.eod` for the precise rules.

**Higher timeframes**: a strategy declares ``timeframes = ("1d",)`` (or overrides
:meth:`BaseStrategy.timeframes_for` to depend on its params) and the backtest engine adds each
symbol resampled by Backtrader as a feed named ``"AAA@1d"``, after all base feeds.
``self.base_datas`` lists one base feed per symbol; :meth:`BaseStrategy.resampled` finds a
symbol's higher timeframe. See :mod:`tradelab.backtest.timeframes`.

Example:
    >>> class MyStrategy(BaseStrategy):
    ...     name = "my_strategy"
    ...     params = (("period", 20),)
    ...     space = ParameterSpace({"period": IntParam(5, 100)})
    ...     def next(self):
    ...         for data in self.datas:
    ...             if not self.getposition(data).size:
    ...                 self.order_target_size(data, self.target_size(data))
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import backtrader as bt

from tradelab.backtest.context import CONTEXT_ATTRIBUTE, RunContext
from tradelab.backtest.timeframes import feed_seconds, timeframe_name
from tradelab.data import parse_bar_size
from tradelab.errors import StrategyError
from tradelab.records import OrderRecord
from tradelab.risk import OrderIntent, PortfolioSnapshot, Position
from tradelab.strategy import EndOfDayClock, EndOfDayConfig, ParameterSpace, SessionTimes

__all__ = ["BaseStrategy"]

_EPOCH_ORDINAL = 719163.0  # backtrader's day number of 1970-01-01
_EXEC_NAMES = {None: "market", bt.Order.Market: "market", bt.Order.Close: "close",
               bt.Order.Limit: "limit", bt.Order.Stop: "stop", bt.Order.StopLimit: "stop_limit",
               bt.Order.StopTrail: "stop_trail", bt.Order.StopTrailLimit: "stop_trail_limit"}


class BaseStrategy(bt.Strategy):
    """Base of every tradelab strategy.

    Class attributes a strategy sets: ``name`` (registry name), ``family`` (``trend``,
    ``mean_reversion``, ``breakout``, ``momentum``), ``description``, ``space`` (its
    :class:`ParameterSpace`), ``min_symbols`` and ``timeframes`` (higher bar sizes it reads,
    e.g. ``("1d",)``).

    Sizing params shared by all strategies: ``sizing`` is ``percent`` (``stake`` = fraction of
    equity per position, default 0.2 — inside the risk manager's 25% concentration limit),
    ``fixed`` (``stake`` = shares) or ``volatility`` (position value = equity × ``vol_target`` ÷
    the symbol's annualized volatility over ``vol_lookback`` bars, capped at ``stake`` of equity).

    End-of-day params (intraday bars only): ``eod_flatten`` (``None``/``"off"``, or a New York
    time ``"HH:MM"``: flat by then, moved earlier by an early close), ``eod_no_entry_minutes``
    (no new entries within that many minutes of the close; 0 = no window) and ``calendar`` (the
    exchange calendar of the sessions, default ``"XNYS"``).
    """

    name = ""
    family = ""
    description = ""
    space = ParameterSpace({})
    min_symbols = 1
    timeframes: tuple[str, ...] = ()

    params = (
        ("sizing", "percent"),
        ("stake", 0.2),
        ("vol_target", 0.10),
        ("vol_lookback", 20),
        ("eod_flatten", None),
        ("eod_no_entry_minutes", 0),
        ("calendar", "XNYS"),
    )

    @classmethod
    def timeframes_for(cls, params: Mapping[str, Any]) -> tuple[str, ...]:
        """The higher timeframes a run with ``params`` (defaults filled in) needs; by default the
        class's ``timeframes``. Override to add a timeframe only when a param uses it."""
        return tuple(cls.timeframes)

    def __init__(self) -> None:
        super().__init__()
        context = getattr(self.env, CONTEXT_ATTRIBUTE, None)
        if context is None:
            context = RunContext()
            setattr(self.env, CONTEXT_ATTRIBUTE, context)
        self.context: RunContext = context
        self.risk = context.risk
        self._risk_day = -1
        self._preapproved = False
        self._denied = 0
        # one feed per symbol at the base bar size: self.datas without the resampled feeds
        self.base_datas: list[bt.DataBase] = [
            d for d in self.datas if not getattr(d, "resampling", 0)
        ]
        self._eod_clock: EndOfDayClock | None = None
        self._eod_rules = False  # flatten or an entry window is on, over intraday bars
        self._step = -1
        self._step_bars = -1
        self._step_skip = False
        self._eod_day: Any = None
        self._eod_orders: dict[Any, bt.Order] = {}
        self._eod_cancelled: set[int] = set()
        self._setup_end_of_day()
        if self._eod_rules or len(self.base_datas) != len(self.datas):
            self._wrap_next()
        if any(getattr(d, "holds_warmup", True) is False for d in self.datas):
            self._warmup_feeds = [getattr(d, "holds_warmup", True) for d in self.datas]
            self._getminperstatus = self._minperstatus_of_warmup_feeds  # type: ignore[method-assign]

    # ----------------------------------------------------------------- sizing helpers
    def size_fixed(self, shares: float) -> int:
        """A fixed number of shares."""
        return int(shares)

    def size_percent(self, data: bt.DataBase, fraction: float) -> int:
        """Whole shares worth ``fraction`` of current equity at the last close."""
        price = data.close[0]
        if not price > 0:
            return 0
        return int(math.floor(self.broker.getvalue() * fraction / price))

    def size_volatility(self, data: bt.DataBase, target: float, lookback: int,
                        cap: float) -> int:
        """Whole shares so the position's annualized volatility is ``target`` of equity."""
        closes = data.close.get(size=lookback + 1)
        if len(closes) < lookback + 1:
            return self.size_percent(data, cap)
        rets = [closes[i + 1] / closes[i] - 1.0 for i in range(lookback)]
        mean = sum(rets) / lookback
        var = sum((r - mean) ** 2 for r in rets) / max(lookback - 1, 1)
        vol = math.sqrt(var * 252)
        fraction = cap if vol <= 0 else min(cap, target / vol)
        return self.size_percent(data, fraction)

    def target_size(self, data: bt.DataBase) -> int:
        """Shares to hold in ``data`` for a new position, by the ``sizing`` param."""
        sizing = self.p.sizing
        if sizing == "percent":
            return self.size_percent(data, self.p.stake)
        if sizing == "fixed":
            return self.size_fixed(self.p.stake)
        if sizing == "volatility":
            return self.size_volatility(data, self.p.vol_target, self.p.vol_lookback,
                                        self.p.stake)
        raise ValueError(f"sizing must be percent, fixed or volatility; got {sizing!r}")

    # ----------------------------------------------------------------- risk before every order
    def portfolio_snapshot(self, *, with_time: bool = True) -> PortfolioSnapshot:
        """The current book as the risk manager sees it."""
        positions = {}
        for data in self.datas:
            if not len(data):  # a higher timeframe before its first bar: no price, no position
                continue
            size = self.broker.getposition(data).size
            if size:
                positions[data._name] = Position(symbol=data._name, quantity=size,
                                                 price=data.close[0])
        return PortfolioSnapshot(
            equity=self.broker.getvalue(), cash=self.broker.getcash(), positions=positions,
            timestamp=self.datetime.datetime(0).replace(tzinfo=UTC) if with_time else None,
        )

    def _approved(self, data: bt.DataBase, side: str, size: float, price: float | None,
                  exectype: int | None) -> bool:
        reference = price if price else data.close[0]
        intent = OrderIntent(symbol=data._name, side=side, quantity=abs(size),
                             price=reference, order_type=_EXEC_NAMES.get(exectype, "market"))
        snapshot = self.portfolio_snapshot()
        reason = self._end_of_day_denial(data, side, size) if self._eod_rules else None
        if reason is None:
            decision = self.risk.check(intent, snapshot)
            if decision.approved:
                return True
            reason = decision.reason
        self._denied += 1
        self.context.denied_orders.append(OrderRecord(
            ref=-self._denied, symbol=data._name, side=side, order_type=intent.order_type,
            quantity=abs(size), created=snapshot.timestamp, status="denied",
            limit_price=price if exectype in (bt.Order.Limit, bt.Order.StopLimit) else None,
            stop_price=price if exectype in (bt.Order.Stop, bt.Order.StopLimit) else None,
            reason=reason,
        ))
        self.on_order_denied(data, side, size, reason)
        return False

    def on_order_denied(self, data: bt.DataBase, side: str, size: float, reason: str) -> None:
        """Hook called when the risk manager or an end-of-day rule denies an order (default:
        nothing)."""

    def buy(self, data: Any = None, size: float | None = None, price: float | None = None,
            exectype: int | None = None, **kwargs: Any) -> bt.Order | None:
        data = self._data_for(data)
        size = size if size is not None else self.getsizing(data, isbuy=True)
        if not size or not self._gate(data, "buy", size, price, exectype, kwargs):
            return None
        return super().buy(data=data, size=size, price=price, exectype=exectype, **kwargs)

    def sell(self, data: Any = None, size: float | None = None, price: float | None = None,
             exectype: int | None = None, **kwargs: Any) -> bt.Order | None:
        data = self._data_for(data)
        size = size if size is not None else self.getsizing(data, isbuy=False)
        if not size or not self._gate(data, "sell", size, price, exectype, kwargs):
            return None
        return super().sell(data=data, size=size, price=price, exectype=exectype, **kwargs)

    def _gate(self, data: bt.DataBase, side: str, size: float, price: float | None,
              exectype: int | None, kwargs: dict[str, Any]) -> bool:
        """The risk check of one order — except the exits of a bracket whose entry was checked:
        they can only close what the entry opens, so they are not new risk (as live)."""
        if self._preapproved:
            self._preapproved = False
            return True
        parent = kwargs.get("parent")
        if parent is not None and parent.alive() and parent.isbuy() != (side == "buy") and \
                abs(size) <= abs(parent.size):
            return True
        return self._approved(data, side, size, price, exectype)

    def buy_bracket(self, data: Any = None, size: float | None = None,
                    **kwargs: Any) -> list[bt.Order | None]:
        """Backtrader's bracket (entry + stop-loss + take-profit): the entry is risk-checked
        once; a denied entry sends nothing and returns ``[None, None, None]``."""
        return self._bracket("buy", data, size, kwargs)

    def sell_bracket(self, data: Any = None, size: float | None = None,
                     **kwargs: Any) -> list[bt.Order | None]:
        """See :meth:`buy_bracket`."""
        return self._bracket("sell", data, size, kwargs)

    def _bracket(self, side: str, data: Any, size: float | None,
                 kwargs: dict[str, Any]) -> list[bt.Order | None]:
        data = self._data_for(data)
        size = size if size is not None else self.getsizing(data, isbuy=side == "buy")
        exectype = kwargs.get("exectype", bt.Order.Limit)
        if not size or not self._approved(data, side, size, kwargs.get("price"), exectype):
            return [None, None, None]
        self._preapproved = True  # the entry Backtrader places next was just checked
        try:
            bracket = super().buy_bracket if side == "buy" else super().sell_bracket
            return bracket(data=data, size=size, **kwargs)
        finally:
            self._preapproved = False

    def _data_for(self, data: Any) -> bt.DataBase:
        if isinstance(data, str):
            return self.getdatabyname(data)
        return data if data is not None else self.datas[0]

    # ----------------------------------------------------------------- per-bar risk state
    def notify_cashvalue(self, cash: float, value: float) -> None:
        """Once per bar: mark the risk manager to market (session reset on a new day)."""
        day = int(self.datetime[0])
        new_day = day != self._risk_day
        self._risk_day = day
        self.risk.mark(value, new_day=new_day, clock=self._risk_clock)

    def _risk_clock(self) -> datetime:
        # not "_clock": Backtrader keeps the strategy's clock feed in that attribute, and calling
        # a feed builds a new line coupler on every call
        return self.datetime.datetime(0).replace(tzinfo=UTC)

    # ----------------------------------------------------------------- higher timeframes
    def resampled(self, data: bt.DataBase | str, bar_size: str) -> bt.DataBase:
        """The feed of ``data``'s symbol resampled to ``bar_size`` (``"AAA@1d"``).

        A bar size no longer than ``data``'s own gives ``data`` itself, so a strategy that reads
        daily bars also runs on daily data.

        Raises:
            StrategyError: the run has no such feed (declare it in ``timeframes``).
        """
        base = self._data_for(data)
        size = parse_bar_size(bar_size)
        own = feed_seconds(base)
        if own is not None and size.timedelta.total_seconds() <= own:
            return base
        name = timeframe_name(base._name, size)
        found = self.env.datasbyname.get(name)
        if found is None:
            raise StrategyError(
                f"strategy '{self.name or type(self).__name__}' reads {name}, which this run has "
                f"no feed for; declare timeframes = ({size.text!r},) on the strategy (or pass "
                f"resample=({size.text!r},) to run_backtest)."
            )
        return found

    def _minperstatus_of_warmup_feeds(self) -> int:
        """Backtrader's warm-up status over the feeds that hold it (extra timeframes do not)."""
        status = max(
            minimum - len(data)
            for minimum, data, holds in zip(
                self._minperiods, self.datas, self._warmup_feeds, strict=True
            )
            if holds
        )
        self._minperstatus = status
        return status

    # ----------------------------------------------------------------- end of day
    @property
    def bar_seconds(self) -> float | None:
        """Length of the base bars in seconds (300.0 for 5-minute bars), ``None`` if unknown."""
        return feed_seconds(self.base_datas[0]) if self.base_datas else None

    def current_session(self) -> SessionTimes | None:
        """The session of the current bar (times in UTC epoch seconds), or ``None`` when the
        base bars are a day or longer."""
        if self._eod_clock is None:
            return None
        return self._eod_clock.session(self._bar_start())

    def _setup_end_of_day(self) -> None:
        config = EndOfDayConfig(
            flatten=self.p.eod_flatten,
            no_entry_minutes=self.p.eod_no_entry_minutes,
            calendar=self.p.calendar,
        )
        seconds = self.bar_seconds
        if seconds is None or seconds >= 86_400:
            return  # daily or longer bars: no end of day within a bar
        self._eod_clock = EndOfDayClock(config, bar_seconds=seconds)
        self._eod_rules = config.active

    def _bar_start(self) -> int:
        """The current bar's start (its stamp) in UTC epoch seconds."""
        return round((self.datetime[0] - _EPOCH_ORDINAL) * 86_400.0)

    def _wrap_next(self) -> None:
        """Run :meth:`_before_step` before the subclass's ``prenext``/``nextstart``/``next``
        (instance attributes, so a subclass keeps writing plain methods)."""

        def guarded(method: Callable[[], Any]) -> Callable[[], Any]:
            def call() -> Any:
                if not self._before_step():
                    return method()
                return None

            return call

        self.next = guarded(self.next)  # type: ignore[method-assign]
        self.prenext = guarded(self.prenext)  # type: ignore[method-assign]
        if type(self).nextstart is not bt.Strategy.nextstart:
            self.nextstart = guarded(self.nextstart)  # type: ignore[method-assign]

    def _before_step(self) -> bool:
        """Once per Backtrader step: the end-of-day procedures; whether to skip the subclass.

        The subclass is skipped in a step without a new base bar (Backtrader's last step, which
        only delivers the final higher-timeframe bars) and from the flattening bar to the end of
        the session.
        """
        step = len(self)
        if step == self._step:
            return self._step_skip
        self._step = step
        bars = sum(len(d) for d in self.base_datas)
        fresh = bars != self._step_bars
        self._step_bars = bars
        skip = not fresh
        if fresh and self._eod_rules:
            skip = self._end_of_day()
        self._step_skip = skip
        return skip

    def _end_of_day(self) -> bool:
        clock = self._eod_clock
        if clock is None:
            return False
        now = self._bar_start()
        if not clock.flattening(now):
            return False
        day = clock.session(now).day
        if day != self._eod_day:
            self._eod_day = day
            self._eod_orders.clear()
            self._eod_cancelled.clear()
        self.flatten_positions()
        return True

    def flatten_positions(self) -> list[bt.Order]:
        """Cancel open orders and close every position (what the end of day does); an order
        already placed to close a position is not repeated.

        Returns:
            The closing orders placed now.
        """
        flattening = {id(o) for o in self._eod_orders.values()}
        for order in list(self.broker.get_orders_open()):
            if id(order) in flattening or order.ref in self._eod_cancelled:
                continue
            self._eod_cancelled.add(order.ref)
            self.cancel(order)
        placed = []
        for data in self.datas:
            if not len(data) or not self.getposition(data).size:
                continue
            pending = self._eod_orders.get(data)
            if pending is not None and pending.alive():
                continue
            order = self.close(data=data)
            if order is not None:
                self._eod_orders[data] = order
                placed.append(order)
        return placed

    def _end_of_day_denial(self, data: bt.DataBase, side: str, size: float) -> str | None:
        """Why an order may not be placed now by the end-of-day rules (``None``: it may).
        Orders that reduce a position are always allowed."""
        clock = self._eod_clock
        if clock is None:
            return None
        position = self.getposition(data).size
        after = position + (abs(size) if side == "buy" else -abs(size))
        if position and position * after >= 0 and abs(after) < abs(position):
            return None
        return clock.entry_denial(self._bar_start())
