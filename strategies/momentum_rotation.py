"""Momentum rotation across symbols: hold the ``top_n`` strongest, rebalance every ``rebalance``
bars."""

from __future__ import annotations

import backtrader as bt

from strategies.base import BaseStrategy
from tradelab.strategy import IntParam, ParameterSpace

__all__ = ["MomentumRotation"]


class MomentumRotation(BaseStrategy):
    """Rank symbols by ``lookback``-bar rate of change; hold the ``top_n`` with positive momentum,
    equal weight (each at most ``stake`` of equity)."""

    name = "momentum_rotation"
    family = "momentum"
    description = "Every `rebalance` bars hold the top_n symbols by lookback return (if > 0)."
    min_symbols = 2
    params = (("lookback", 126), ("top_n", 2), ("rebalance", 21))
    space = ParameterSpace(
        {"lookback": IntParam(20, 252, step=10), "top_n": IntParam(1, 5),
         "rebalance": IntParam(5, 63)},
    )

    def __init__(self) -> None:
        super().__init__()
        self.momentum = {data: bt.ind.RateOfChange(data.close, period=self.p.lookback)
                         for data in self.base_datas}
        self.counter = 0

    def next(self) -> None:
        self.counter += 1
        if (self.counter - 1) % self.p.rebalance:
            return
        ranked = sorted(self.momentum.items(), key=lambda kv: kv[1][0], reverse=True)
        top = {data for data, roc in ranked[: self.p.top_n] if roc[0] > 0}
        weight = min(self.p.stake, 0.98 / max(self.p.top_n, 1))
        # sells first so their cash funds the buys of this rebalance
        for data, _ in ranked:
            if data not in top and self.getposition(data).size:
                self.close(data=data)
        for data in top:
            target = self.size_percent(data, weight)
            current = self.getposition(data).size
            if abs(target - current) > max(1, 0.1 * abs(current)):
                self.order_target_size(data=data, target=target)
