"""``BaseStrategy``: sizing helpers, the risk manager before every order, run records.

Every strategy of the library subclasses it. Backtrader's order helpers (``order_target_size``,
``close`` ...) all go through ``buy``/``sell``, which are overridden here to ask the run's
:class:`~tradelab.risk.RiskManager` first; a denied order is never sent and is recorded with the
reason. The same class runs in backtests and (through a broker bridge) live.

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
from datetime import UTC, datetime
from typing import Any

import backtrader as bt

from tradelab.backtest.context import CONTEXT_ATTRIBUTE, RunContext
from tradelab.records import OrderRecord
from tradelab.risk import OrderIntent, PortfolioSnapshot, Position
from tradelab.strategy import ParameterSpace

__all__ = ["BaseStrategy"]

_EXEC_NAMES = {None: "market", bt.Order.Market: "market", bt.Order.Close: "close",
               bt.Order.Limit: "limit", bt.Order.Stop: "stop", bt.Order.StopLimit: "stop_limit",
               bt.Order.StopTrail: "stop_trail", bt.Order.StopTrailLimit: "stop_trail_limit"}


class BaseStrategy(bt.Strategy):
    """Base of every tradelab strategy.

    Class attributes a strategy sets: ``name`` (registry name), ``family`` (``trend``,
    ``mean_reversion``, ``breakout``, ``momentum``), ``description``, ``space`` (its
    :class:`ParameterSpace`) and ``min_symbols``.

    Sizing params shared by all strategies: ``sizing`` is ``percent`` (``stake`` = fraction of
    equity per position, default 0.2 — inside the risk manager's 25% concentration limit),
    ``fixed`` (``stake`` = shares) or ``volatility`` (position value = equity × ``vol_target`` ÷
    the symbol's annualized volatility over ``vol_lookback`` bars, capped at ``stake`` of equity).
    """

    name = ""
    family = ""
    description = ""
    space = ParameterSpace({})
    min_symbols = 1

    params = (
        ("sizing", "percent"),
        ("stake", 0.2),
        ("vol_target", 0.10),
        ("vol_lookback", 20),
    )

    def __init__(self) -> None:
        super().__init__()
        context = getattr(self.env, CONTEXT_ATTRIBUTE, None)
        if context is None:
            context = RunContext()
            setattr(self.env, CONTEXT_ATTRIBUTE, context)
        self.context: RunContext = context
        self.risk = context.risk
        self._risk_day = -1
        self._denied = 0

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
        decision = self.risk.check(intent, snapshot)
        if decision.approved:
            return True
        self._denied += 1
        self.context.denied_orders.append(OrderRecord(
            ref=-self._denied, symbol=data._name, side=side, order_type=intent.order_type,
            quantity=abs(size), created=snapshot.timestamp, status="denied",
            limit_price=price if exectype in (bt.Order.Limit, bt.Order.StopLimit) else None,
            stop_price=price if exectype in (bt.Order.Stop, bt.Order.StopLimit) else None,
            reason=decision.reason,
        ))
        self.on_order_denied(data, side, size, decision.reason)
        return False

    def on_order_denied(self, data: bt.DataBase, side: str, size: float, reason: str) -> None:
        """Hook called when the risk manager denies an order (default: nothing)."""

    def buy(self, data: Any = None, size: float | None = None, price: float | None = None,
            exectype: int | None = None, **kwargs: Any) -> bt.Order | None:
        data = self._data_for(data)
        size = size if size is not None else self.getsizing(data, isbuy=True)
        if not size or not self._approved(data, "buy", size, price, exectype):
            return None
        return super().buy(data=data, size=size, price=price, exectype=exectype, **kwargs)

    def sell(self, data: Any = None, size: float | None = None, price: float | None = None,
             exectype: int | None = None, **kwargs: Any) -> bt.Order | None:
        data = self._data_for(data)
        size = size if size is not None else self.getsizing(data, isbuy=False)
        if not size or not self._approved(data, "sell", size, price, exectype):
            return None
        return super().sell(data=data, size=size, price=price, exectype=exectype, **kwargs)

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
        self.risk.mark(value, new_day=new_day, clock=self._clock)

    def _clock(self) -> datetime:
        return self.datetime.datetime(0).replace(tzinfo=UTC)
