"""Test strategies that trade with brackets, trailing stops and OCO orders (importable, so
Backtrader can build them in backtests and in live runners alike)."""

from __future__ import annotations

from typing import Any

import backtrader as bt

from strategies.base import BaseStrategy


class BracketEveryFewBars(BaseStrategy):
    """When flat with nothing working, every ``every`` bars: a market entry with a take-profit
    ``take`` above and a stop ``stop`` below the close (a StopTrail of ``trail`` × close when
    ``trail`` > 0). Records every order notification as (tag, status)."""

    name = "bracket_every_few_bars"
    params = (("every", 5), ("size", 100), ("take", 0.02), ("stop", 0.02), ("trail", 0.0),
              ("sell", False))

    def __init__(self) -> None:
        super().__init__()
        self.count = 0
        self.working: list[bt.Order] = []
        self.notes: list[tuple[str, str]] = []
        self.brackets = 0

    def notify_order(self, order: bt.Order) -> None:
        self.notes.append((order.info.get("tag", "?"), order.getstatusname()))

    def next(self) -> None:
        self.count += 1
        if self.position.size or any(o.alive() for o in self.working):
            return
        if self.count % self.p.every:
            return
        close = self.data.close[0]
        up, down = close * (1 + self.p.take), close * (1 - self.p.stop)
        stop_kwargs: dict[str, Any] = {}
        if self.p.trail:
            stop_kwargs = {"stopexec": bt.Order.StopTrail,
                           "stopargs": {"trailamount": close * self.p.trail, "tag": "stop"}}
        else:
            stop_kwargs = {"stopargs": {"tag": "stop"}}
        place = self.sell_bracket if self.p.sell else self.buy_bracket
        orders = place(size=self.p.size, exectype=bt.Order.Market, oargs={"tag": "entry"},
                       stopprice=up if self.p.sell else down,
                       limitprice=down if self.p.sell else up, limitargs={"tag": "take"},
                       **stop_kwargs)
        self.working = [o for o in orders if o is not None]
        self.brackets += 1


class TrailsAfterEntry(BaseStrategy):
    """Buys ``size`` on bar 3, then protects it with a StopTrail sell (``trailpercent``)."""

    name = "trails_after_entry"
    params = (("size", 100), ("percent", 0.02))

    def __init__(self) -> None:
        super().__init__()
        self.count = 0
        self.stops: list[float] = []
        self.trail: bt.Order | None = None

    def next(self) -> None:
        self.count += 1
        if self.count == 3:
            self.buy(size=self.p.size)
        elif self.count == 4 and self.position.size:
            self.trail = self.sell(size=self.p.size, exectype=bt.Order.StopTrail,
                                   trailpercent=self.p.percent)
        if self.trail is not None and self.trail.alive():
            self.stops.append(self.trail.created.price)


class OcoBreakout(BaseStrategy):
    """On bar 3: a buy limit ``band`` below and a buy stop ``band`` above the close, the stop
    ``oco=`` the limit; on bar 40 it closes what it holds."""

    name = "oco_breakout"
    params = (("size", 100), ("band", 0.02))

    def __init__(self) -> None:
        super().__init__()
        self.count = 0
        self.notes: list[tuple[str, str]] = []

    def notify_order(self, order: bt.Order) -> None:
        self.notes.append((order.info.get("tag", "?"), order.getstatusname()))

    def next(self) -> None:
        self.count += 1
        close = self.data.close[0]
        if self.count == 3:
            low = self.buy(size=self.p.size, price=close * (1 - self.p.band),
                           exectype=bt.Order.Limit, tag="low")
            self.buy(size=self.p.size, price=close * (1 + self.p.band), exectype=bt.Order.Stop,
                     oco=low, tag="high")
        elif self.count == 40 and self.position.size:
            self.close(tag="close")
