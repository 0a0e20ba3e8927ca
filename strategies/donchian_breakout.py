"""Donchian breakout: buy a new ``entry``-bar high, exit at a new ``exit``-bar low."""

from __future__ import annotations

import backtrader as bt

from strategies.base import BaseStrategy
from tradelab.strategy import IntParam, ParameterSpace

__all__ = ["DonchianBreakout"]


class DonchianBreakout(BaseStrategy):
    """The turtle-style channel breakout, long only."""

    name = "donchian_breakout"
    family = "breakout"
    description = "Buy above the prior entry-bar high; exit below the prior exit-bar low."
    params = (("entry", 20), ("exit", 10))
    space = ParameterSpace(
        {"entry": IntParam(10, 100, step=5), "exit": IntParam(5, 50, step=5)},
        constraints=("exit < entry",),
    )

    def __init__(self) -> None:
        super().__init__()
        self.channels = {
            data: (bt.ind.Highest(data.high(-1), period=self.p.entry),
                   bt.ind.Lowest(data.low(-1), period=self.p.exit))
            for data in self.base_datas
        }

    def next(self) -> None:
        for data, (upper, lower) in self.channels.items():
            if not self.getposition(data).size:
                if data.close[0] > upper[0]:
                    self.buy(data=data, size=self.target_size(data))
            elif data.close[0] < lower[0]:
                self.close(data=data)
