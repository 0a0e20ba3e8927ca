"""Bollinger reversion: buy a close below the lower band, exit at the middle band."""

from __future__ import annotations

import backtrader as bt

from strategies.base import BaseStrategy
from tradelab.strategy import FloatParam, IntParam, ParameterSpace

__all__ = ["BollingerReversion"]


class BollingerReversion(BaseStrategy):
    """Long below the lower band; exit at the middle band, or at a stop ``stop_mult`` band-widths
    below entry."""

    name = "bollinger_reversion"
    family = "mean_reversion"
    description = "Buy a close below the lower Bollinger band; sell at the mid band or the stop."
    params = (("period", 20), ("devfactor", 2.0), ("stop_mult", 1.0))
    space = ParameterSpace(
        {"period": IntParam(10, 60), "devfactor": FloatParam(1.0, 3.0, step=0.25, minimum=0.1),
         "stop_mult": FloatParam(0.5, 3.0, step=0.25, minimum=0.0)},
    )

    def __init__(self) -> None:
        super().__init__()
        self.bands = {data: bt.ind.BollingerBands(data.close, period=self.p.period,
                                                  devfactor=self.p.devfactor)
                      for data in self.base_datas}
        self.stops: dict[bt.DataBase, float] = {}

    def next(self) -> None:
        for data, bands in self.bands.items():
            close = data.close[0]
            if not self.getposition(data).size:
                if close < bands.bot[0] and self.buy(data=data, size=self.target_size(data)):
                    width = bands.top[0] - bands.bot[0]
                    self.stops[data] = close - self.p.stop_mult * width
            elif close >= bands.mid[0] or close <= self.stops.get(data, 0.0):
                self.close(data=data)
