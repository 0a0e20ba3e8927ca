"""MACD trend: long while the MACD line is above its signal line and above zero trend filter."""

from __future__ import annotations

import backtrader as bt

from strategies.base import BaseStrategy
from tradelab.strategy import IntParam, ParameterSpace

__all__ = ["MacdTrend"]


class MacdTrend(BaseStrategy):
    """Enter when MACD crosses above its signal with price above SMA(trend); exit on the
    opposite cross."""

    name = "macd_trend"
    family = "trend"
    description = "Long on a MACD/signal up-cross while close > SMA(trend); exit on a down-cross."
    params = (("fast", 12), ("slow", 26), ("signal", 9), ("trend", 100))
    space = ParameterSpace(
        {"fast": IntParam(5, 20), "slow": IntParam(15, 60), "signal": IntParam(3, 15),
         "trend": IntParam(20, 200, step=10)},
        constraints=("fast < slow",),
    )

    def __init__(self) -> None:
        super().__init__()
        self.signals = {}
        for data in self.base_datas:
            macd = bt.ind.MACD(data.close, period_me1=self.p.fast, period_me2=self.p.slow,
                               period_signal=self.p.signal)
            self.signals[data] = (bt.ind.CrossOver(macd.macd, macd.signal),
                                  bt.ind.SMA(data.close, period=self.p.trend))

    def next(self) -> None:
        for data, (cross, trend) in self.signals.items():
            if not self.getposition(data).size:
                if cross[0] > 0 and data.close[0] > trend[0]:
                    self.buy(data=data, size=self.target_size(data))
            elif cross[0] < 0:
                self.close(data=data)
