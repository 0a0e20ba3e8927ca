"""Recording a fast run without per-bar Python hooks beyond one list append.

Backtrader's observers and analyzers cost several method calls per bar each. Instead, the equity
value is appended once per bar by :class:`RecordingBroker` (after the broker marks the book), and
orders and trades are read after the run from what Backtrader keeps anyway: the broker's list of
submitted orders and the strategy's trades with their history (``tradehistory=True`` costs one
record per execution, not per bar). They become immutable tradelab records.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

import backtrader as bt

from tradelab.costs.backtrader import CostModelBroker
from tradelab.records import OrderRecord, TradeRecord

__all__ = ["RecordingBroker", "bt_num_to_datetime", "order_records", "trade_records"]

_ORDER_TYPES = {
    bt.Order.Market: "market", bt.Order.Close: "close", bt.Order.Limit: "limit",
    bt.Order.Stop: "stop", bt.Order.StopLimit: "stop_limit", bt.Order.StopTrail: "stop_trail",
    bt.Order.StopTrailLimit: "stop_trail_limit",
}
_STATUS = {
    bt.Order.Completed: "completed", bt.Order.Canceled: "canceled", bt.Order.Margin: "margin",
    bt.Order.Rejected: "rejected", bt.Order.Expired: "expired", bt.Order.Submitted: "open",
    bt.Order.Accepted: "open", bt.Order.Partial: "partial", bt.Order.Created: "open",
}


def bt_num_to_datetime(num: float) -> datetime:
    """backtrader day number → tz-aware UTC datetime."""
    return bt.num2date(num).replace(tzinfo=UTC)


class RecordingBroker(CostModelBroker):
    """The cost-model broker, also keeping the portfolio value at the end of every bar."""

    def start(self) -> None:
        super().start()
        self.values: list[float] = []

    def next(self) -> None:
        super().next()
        self.values.append(self._value)


def order_records(broker: bt.brokers.BackBroker) -> list[OrderRecord]:
    """Every order the broker received, in its final (or last) state."""
    records = []
    for order in broker.orders:
        executed, created = order.executed, order.created
        exectype = order.exectype
        records.append(OrderRecord(
            ref=order.ref,
            symbol=order.data._name,
            side="buy" if order.isbuy() else "sell",
            order_type=_ORDER_TYPES.get(exectype, str(exectype)),
            quantity=abs(created.size),
            created=bt_num_to_datetime(created.dt),
            status=_STATUS.get(order.status, str(order.getstatusname())).lower(),
            limit_price=order.price if exectype == bt.Order.Limit else
            (order.pricelimit if exectype == bt.Order.StopLimit else None),
            stop_price=order.price if exectype in (bt.Order.Stop, bt.Order.StopLimit) else None,
            filled_quantity=abs(executed.size),
            fill_price=executed.price if executed.size else None,
            commission=executed.comm,
            executed=bt_num_to_datetime(executed.dt) if executed.size and executed.dt else None,
        ))
    return records


def trade_records(strategy: bt.Strategy) -> list[TradeRecord]:
    """Closed trades (by exit time), then trades still open, marked at the last close."""
    closed, still_open = [], []
    for by_id in strategy._trades.values():
        for trades in by_id.values():
            for trade in trades:
                if trade.isclosed:
                    closed.append(_trade_record(trade, _peak_size(trade), is_open=False))
                elif trade.isopen:
                    still_open.append(_trade_record(trade, trade.size, is_open=True))
    closed.sort(key=lambda t: (t.exit_time, t.symbol))
    return closed + still_open


def _peak_size(trade: bt.Trade) -> float:
    """The largest position the trade held, signed (its size is 0 once closed)."""
    peak = 0.0
    for entry in trade.history:
        size = entry.status.size
        if abs(size) > abs(peak):
            peak = size
    return peak


def _trade_record(trade: bt.Trade, size: float, *, is_open: bool) -> TradeRecord:
    entry_price = trade.price
    if is_open:
        exit_price = trade.data.close[0]
        pnl_gross = trade.pnl + (exit_price - entry_price) * size
        pnl = pnl_gross - trade.commission
        exit_time = None
        bars_held = len(trade.data) - int(trade.baropen)
    else:
        # the average exit price of the round trip, from its gross P&L
        exit_price = entry_price + (trade.pnl / size if size else 0.0)
        pnl_gross, pnl = trade.pnl, trade.pnlcomm
        exit_time = bt_num_to_datetime(trade.dtclose)
        bars_held = int(trade.barlen)
    return TradeRecord(
        symbol=trade.data._name,
        entry_time=bt_num_to_datetime(trade.dtopen),
        exit_time=exit_time,
        entry_price=float(entry_price),
        exit_price=float(exit_price) if math.isfinite(exit_price) else None,
        size=float(size),
        pnl_gross=float(pnl_gross),
        pnl=float(pnl),
        commission=float(trade.commission),
        bars_held=bars_held,
        is_open=is_open,
    )
