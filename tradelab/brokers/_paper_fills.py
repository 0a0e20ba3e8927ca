"""The paper broker's fill rules for one working order on one bar (Backtrader's)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tradelab.brokers.records import Bar, BrokerOrder
from tradelab.costs import CostConfig, slipped_price

__all__ = ["WorkingOrder", "match_price"]


@dataclass(slots=True)
class WorkingOrder:
    """Mutable book-keeping of an open paper order."""

    order: BrokerOrder
    session: datetime | None = None  # date of the first bar it could trade in (DAY expiry)
    triggered: bool = False  # stop-limit: stop reached, now a limit order
    notional: float = 0.0  # sum of fill quantity * price, for the average
    active: bool = True  # False: a child waiting for its parent's fill
    since: datetime | None = None  # activated at this bar's time: works from the next bar


def match_price(working: WorkingOrder, bar: Bar, costs: CostConfig) -> float | None:
    """The price ``working`` fills at on ``bar``, or ``None``: market at the open (slipped),
    limit at the open if better else at the limit when reached, stop (and trailing stop) when
    the bar trades through it (slipped like a market order), stop-limit as a limit once
    triggered. Marks a stop-limit triggered."""
    request = working.order.request
    buy = request.side == "buy"
    kind = request.order_type
    if kind == "market":
        return _capped(slipped_price(bar.open, side=request.side, order_type="market",
                                     config=costs), bar, buy)
    if kind in ("stop", "stop_limit", "trailing_stop") and not working.triggered:
        stop = request.stop_price
        if stop is None:
            return None
        if buy and bar.high >= stop:
            trigger = max(bar.open, stop)
        elif not buy and bar.low <= stop:
            trigger = min(bar.open, stop)
        else:
            return None
        if kind != "stop_limit":
            return _capped(slipped_price(trigger, side=request.side, order_type="stop",
                                         config=costs), bar, buy)
        working.triggered = True
        limit = request.limit_price
        if (buy and trigger <= limit) or (not buy and trigger >= limit):
            return trigger
        reach = bar.low <= limit if buy else bar.high >= limit
        return limit if reach else None
    limit = request.limit_price
    if buy:
        if bar.open <= limit:
            return bar.open
        return limit if bar.low <= limit else None
    if bar.open >= limit:
        return bar.open
    return limit if bar.high >= limit else None


def _capped(price: float, bar: Bar, buy: bool) -> float:
    """Slippage never moves a fill outside the bar (Backtrader's ``slip_match``)."""
    return min(price, bar.high) if buy else max(price, bar.low)

