"""RSI mean reversion: buy oversold, sell when the RSI recovers."""

from __future__ import annotations

import backtrader as bt

from strategies.base import BaseStrategy
from tradelab.strategy import FloatParam, IntParam, ParameterSpace

__all__ = ["RsiMeanReversion"]


class RsiMeanReversion(BaseStrategy):
    """Long when RSI(period) falls below ``lower``; exit above ``upper`` or after ``max_hold``."""

    name = "rsi_mean_reversion"
    family = "mean_reversion"
    description = "Buy when RSI < lower, sell when RSI > upper or after max_hold bars."
    params = (("period", 14), ("lower", 30.0), ("upper", 55.0), ("max_hold", 20))
    space = ParameterSpace(
        {
            "period": IntParam(2, 30),
            "lower": FloatParam(10.0, 40.0, step=1.0, minimum=0.0, maximum=100.0),
            "upper": FloatParam(45.0, 90.0, step=1.0, minimum=0.0, maximum=100.0),
            "max_hold": IntParam(3, 60),
        },
        constraints=("lower < upper",),
    )

    def __init__(self) -> None:
        super().__init__()
        self.rsi = {data: bt.ind.RSI_Safe(data.close, period=self.p.period)
                    for data in self.base_datas}
        self.entered: dict[bt.DataBase, int] = {}

    def next(self) -> None:
        for data, rsi in self.rsi.items():
            if not self.getposition(data).size:
                if rsi[0] < self.p.lower and self.buy(data=data, size=self.target_size(data)):
                    self.entered[data] = len(data)
            elif rsi[0] > self.p.upper or len(data) - self.entered.get(data, 0) >= \
                    self.p.max_hold:
                self.close(data=data)
