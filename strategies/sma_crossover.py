"""SMA crossover: long when the fast moving average crosses above the slow one, flat below."""

from __future__ import annotations

import backtrader as bt

from strategies.base import BaseStrategy
from tradelab.strategy import IntParam, ParameterSpace

__all__ = ["SmaCrossover"]


class SmaCrossover(BaseStrategy):
    """Trend following on two simple moving averages, per symbol."""

    name = "sma_crossover"
    family = "trend"
    description = "Long when SMA(fast) crosses above SMA(slow); exit when it crosses below."
    params = (("fast", 10), ("slow", 30))
    space = ParameterSpace(
        {"fast": IntParam(5, 50), "slow": IntParam(20, 200, step=5)},
        constraints=("fast < slow",),
    )

    def __init__(self) -> None:
        super().__init__()
        self.cross = {
            data: bt.ind.CrossOver(bt.ind.SMA(data.close, period=self.p.fast),
                                   bt.ind.SMA(data.close, period=self.p.slow))
            for data in self.base_datas
        }

    def next(self) -> None:
        for data, cross in self.cross.items():
            if not self.getposition(data).size:
                if cross[0] > 0:
                    self.buy(data=data, size=self.target_size(data))
            elif cross[0] < 0:
                self.close(data=data)
