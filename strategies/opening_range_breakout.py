"""Opening range breakout: trade the break of the first minutes' range, flat before the close.

An intraday strategy for 1- to 30-minute bars. Each session, the high and low of the bars that
start within the first ``range_minutes`` after the open form the *opening range*. After it, the
first close above the range's high buys (with ``short=True``, the first close below its low sells
short); one entry per symbol and session. The stop is the other side of the range, the target
``reward`` × the range's height from the signal's close. The end-of-day rules of
:class:`~strategies.base.BaseStrategy` are on by default: flat by 15:55 New York (12:55 on a
13:00 half day) and no new entries within 30 minutes of the close.

With ``trend_period > 0`` a daily trend filter applies: longs only while the last complete
session's close is above its ``trend_period``-session moving average (shorts only below), read
from the symbol's daily bars resampled by Backtrader (the strategy then declares the ``"1d"``
timeframe, so ``self.datas`` holds ``AAA`` and ``AAA@1d``).

On bars of a day or longer there is no intraday range: the previous bar's range plays its part
(a classic range breakout), and the end-of-day rules do nothing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import backtrader as bt

from strategies.base import BaseStrategy
from tradelab.strategy import FloatParam, IntParam, ParameterSpace

__all__ = ["OpeningRangeBreakout"]

_EPOCH_ORDINAL = 719163.0  # backtrader's day number of 1970-01-01


@dataclass(slots=True)
class _Session:
    """One symbol's opening range and trade plan in the current session."""

    day: date | None = None
    high: float = -math.inf
    low: float = math.inf
    complete: bool = False
    traded: bool = False
    stop: float = math.nan
    target: float = math.nan


class OpeningRangeBreakout(BaseStrategy):
    """Intraday breakout of the opening range, flat by the close, optional daily trend filter."""

    name = "opening_range_breakout"
    family = "breakout"
    description = (
        "Intraday: enter on a close beyond the first `range_minutes`' range, stop at its other "
        "side, target `reward` × its height; flat by 15:55 New York (half days: 12:55)."
    )
    timeframes = ("1d",)
    params = (
        ("range_minutes", 30),
        ("reward", 2.0),
        ("trend_period", 0),
        ("short", False),
        ("eod_flatten", "15:55"),
        ("eod_no_entry_minutes", 30),
    )
    space = ParameterSpace(
        {
            "range_minutes": IntParam(15, 90, step=15),
            "reward": FloatParam(0.5, 4.0, step=0.5),
            "trend_period": IntParam(0, 50, step=10, minimum=0),  # 0: no trend filter
        }
    )

    @classmethod
    def timeframes_for(cls, params: Mapping[str, Any]) -> tuple[str, ...]:
        """Daily bars only when the trend filter is on."""
        return cls.timeframes if int(params.get("trend_period", 0) or 0) > 0 else ()

    def __init__(self) -> None:
        super().__init__()
        self.trend: dict[bt.DataBase, tuple[bt.DataBase, Any]] = {}
        if self.p.trend_period > 0:
            for data in self.base_datas:
                daily = self.resampled(data, "1d")
                self.trend[data] = (daily, bt.ind.SMA(daily.close, period=self.p.trend_period))
        self.plans = {data: _Session() for data in self.base_datas}

    def next(self) -> None:
        session = self.current_session()
        for data in self.base_datas:
            if not len(data):
                continue
            plan = self.plans[data]
            if session is None:
                self._daily_range(data, plan)
            elif not self._opening_range(data, plan, session):
                continue
            self._trade(data, plan)

    def _opening_range(self, data: bt.DataBase, plan: _Session, session: Any) -> bool:
        """Track the opening range; whether it is complete before this bar (trading allowed)."""
        if plan.day != session.day:
            self.plans[data] = plan = _Session(day=session.day)
        if plan.complete:
            return True
        start = round((data.datetime[0] - _EPOCH_ORDINAL) * 86_400.0)
        end_of_range = session.open + self.p.range_minutes * 60
        if start < end_of_range:
            plan.high = max(plan.high, data.high[0])
            plan.low = min(plan.low, data.low[0])
        # this bar's end is the range's end (or later): the range is known from the next bar on
        plan.complete = start + self.bar_seconds >= end_of_range
        return False

    def _daily_range(self, data: bt.DataBase, plan: _Session) -> None:
        """On daily (or longer) bars: the previous bar's range, a new plan every bar."""
        if len(data) < 2:
            plan.complete = False
            return
        plan.high, plan.low = data.high[-1], data.low[-1]
        plan.complete, plan.traded = True, False

    def _trade(self, data: bt.DataBase, plan: _Session) -> None:
        position = self.getposition(data).size
        close = data.close[0]
        if position > 0:
            if close <= plan.stop or close >= plan.target:
                self.close(data=data)
            return
        if position < 0:
            if close >= plan.stop or close <= plan.target:
                self.close(data=data)
            return
        height = plan.high - plan.low
        if plan.traded or not (plan.complete and height > 0):
            return
        if close > plan.high and self._trend_allows(data, +1):
            order = self.buy(data=data, size=self.target_size(data))
            plan.stop, plan.target = plan.low, close + self.p.reward * height
        elif self.p.short and close < plan.low and self._trend_allows(data, -1):
            order = self.sell(data=data, size=self.target_size(data))
            plan.stop, plan.target = plan.high, close - self.p.reward * height
        else:
            return
        plan.traded = order is not None

    def _trend_allows(self, data: bt.DataBase, direction: int) -> bool:
        """The daily trend filter: the last complete session's close against its average."""
        if data not in self.trend:
            return True
        daily, average = self.trend[data]
        if not len(average) or math.isnan(average[0]):
            return False
        return (daily.close[0] - average[0]) * direction > 0
