"""The IB broker's order book: ib_async trades and fills translated into tradelab records.

IB identifies our orders by ``orderRef``, which carries the ``client_order_id``; the book keys
everything by it, keeps it across reconnects (ib_async forgets its trades when the socket
closes), and reports every change through the ``emit`` callback it is given: ``"order"`` when
an order's status, fill or terms change, ``"fill"`` once per execution id.

Linked and trailing orders map onto IB's own: a child's ``parent_id`` is IB's ``parentId`` (the
parent's IB order id), an ``oco_group`` is an ``ocaGroup`` with ``ocaType`` 2 (reduce the
others in proportion, with block: our OCO rule), a ``trailing_stop`` is a ``TRAIL`` order with
``auxPrice`` (the amount) or ``trailingPercent``, and ``trailStopPrice`` (the current stop).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

from ib_async import Fill as IBFill
from ib_async import Order, Trade

from tradelab.brokers._ib_market import as_utc, number
from tradelab.brokers.records import (
    TIMES_IN_FORCE,
    BrokerOrder,
    Fill,
    OrderRequest,
    OrderStatus,
    utc_now,
)
from tradelab.errors import OrderError

__all__ = ["OCA_TYPE", "IBOrderBook", "ib_order", "request_from_trade"]

_log = logging.getLogger("tradelab.brokers.ib")

_IB_ORDER_TYPES = {
    "market": "MKT",
    "limit": "LMT",
    "stop": "STP",
    "stop_limit": "STP LMT",
    "trailing_stop": "TRAIL",
}
#: IB's ``ocaType`` for an ``oco_group``: 2 = "reduce the others in proportion, with block".
OCA_TYPE = 2
_ORDER_TYPES = {ib: ours for ours, ib in _IB_ORDER_TYPES.items()}
_CLIENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")
_PENDING = frozenset({"PendingSubmit", "ApiPending"})
_CANCELLED = frozenset({"Cancelled", "ApiCancelled"})
#: Statuses of an order IB has accepted (a later error is a cancel, not a rejection).
_ACKNOWLEDGED = frozenset({"PreSubmitted", "Submitted", "PendingCancel", "Filled"})
_CANCEL_NOTICE = 202  # "Order Canceled - reason: ..."


def ib_order(
    request: OrderRequest, account: str, *, parent_order_id: int = 0, transmit: bool = True
) -> Order:
    """The ib_async order for ``request``: ``orderRef`` carries the client order id.

    Args:
        request: The order.
        account: The IB account.
        parent_order_id: IB's order id of the parent, for a child (``request.parent_id``).
        transmit: ``False`` holds the order at TWS until a later order of its group is sent
            with ``True`` (IB's bracket pattern).
    """
    order = Order(
        action=request.side.upper(),
        totalQuantity=request.quantity,
        orderType=_IB_ORDER_TYPES[request.order_type],
        tif=request.time_in_force,
        orderRef=request.client_order_id,
        account=account,
        transmit=transmit,
        outsideRth=request.extended_hours,
    )
    if request.limit_price is not None:
        order.lmtPrice = request.limit_price
    if request.order_type == "trailing_stop":
        if request.trail_amount is not None:
            order.auxPrice = request.trail_amount
        else:
            order.trailingPercent = request.trail_percent
        if request.stop_price is not None:
            order.trailStopPrice = request.stop_price
    elif request.stop_price is not None:
        order.auxPrice = request.stop_price
    if request.oco_group is not None:
        order.ocaGroup = request.oco_group
        order.ocaType = OCA_TYPE
    if parent_order_id:
        order.parentId = parent_order_id
    return order


def request_from_trade(trade: Trade, parent_id: str | None = None) -> OrderRequest | None:
    """The request an IB order stands for, or ``None`` if it is not one tradelab can hold
    (no valid ``orderRef``, another order type, not a plain symbol).

    Args:
        trade: ib_async's trade.
        parent_id: The client order id of the order IB names as its parent (the caller maps
            IB's ``parentId``), if known.
    """
    order = trade.order
    kind = _ORDER_TYPES.get(str(order.orderType).upper())
    if kind is None or not _CLIENT_ID.match(order.orderRef or ""):
        return None
    trailing = kind == "trailing_stop"
    amount = number(order.auxPrice) if trailing else None
    percent = number(order.trailingPercent) if trailing and not amount else None
    group = order.ocaGroup if _CLIENT_ID.match(order.ocaGroup or "") else None
    if kind in ("stop", "stop_limit"):
        stop = number(order.auxPrice)
    else:
        stop = number(order.trailStopPrice) if trailing else None
    try:
        return OrderRequest(
            client_order_id=order.orderRef,
            symbol=trade.contract.symbol,
            side="buy" if str(order.action).upper() == "BUY" else "sell",
            quantity=float(order.totalQuantity),
            order_type=kind,
            limit_price=number(order.lmtPrice) if kind in ("limit", "stop_limit") else None,
            stop_price=stop or None,
            time_in_force=order.tif if order.tif in TIMES_IN_FORCE else "DAY",
            extended_hours=bool(order.outsideRth),
            trail_amount=amount or None,
            trail_percent=percent or None,
            parent_id=parent_id if parent_id != order.orderRef else None,
            oco_group=group,
        )
    except OrderError as exc:
        _log.warning(
            "IB order %s (orderRef %r) cannot be represented: %s",
            order.orderId,
            order.orderRef,
            exc,
        )
        return None


def _fill_record(ib_fill: IBFill) -> Fill | None:
    execution = ib_fill.execution
    if not _CLIENT_ID.match(execution.orderRef or ""):
        return None
    report = ib_fill.commissionReport
    return Fill(
        fill_id=execution.execId,
        client_order_id=execution.orderRef,
        broker_order_id=str(execution.orderId),
        symbol=ib_fill.contract.symbol,
        side="buy" if execution.side == "BOT" else "sell",
        quantity=float(execution.shares),
        price=float(execution.price),
        commission=float(report.commission) if report.execId else 0.0,
        timestamp=as_utc(execution.time) if execution.time else utc_now(),
    )


def _status(trade: Trade, filled: float) -> tuple[OrderStatus, str]:
    """Our status (and a reason) for an ib_async trade with ``filled`` shares done."""
    status = trade.orderStatus.status
    errors = [entry for entry in trade.log if entry.errorCode]
    message = errors[-1].message if errors else ""
    if status == "Filled":
        return OrderStatus.FILLED, ""
    if status == "Inactive":
        return OrderStatus.REJECTED, message or "IB made the order inactive (rejected)"
    if status in _CANCELLED:
        accepted = any(entry.status in _ACKNOWLEDGED for entry in trade.log)
        if errors and errors[-1].errorCode != _CANCEL_NOTICE and not accepted and not filled:
            return OrderStatus.REJECTED, message
        return OrderStatus.CANCELLED, message or "cancelled at IB"
    if status in _PENDING and not filled:
        return OrderStatus.PENDING, ""
    return (OrderStatus.PARTIALLY_FILLED if filled else OrderStatus.SUBMITTED), ""


@dataclass(slots=True)
class _Entry:
    """One order of the book: its latest record and its identity at IB."""

    order: BrokerOrder
    client_id: int = 0
    order_id: int = 0
    perm_id: int = 0
    trade: Trade | None = None  # ib_async's live trade on the current connection
    guessed: bool = False  # closed by close_missing: IB's word may still override it

    def same_order(self, trade: Trade) -> bool:
        """Whether ``trade`` is this order (completed orders come without an order id)."""
        perm = trade.order.permId or trade.orderStatus.permId
        if self.perm_id and perm:
            return self.perm_id == perm
        if self.order_id and trade.order.orderId:
            return (self.client_id, self.order_id) == (trade.order.clientId, trade.order.orderId)
        return True

    def link(self, trade: Trade) -> None:
        self.trade = trade
        self.client_id = trade.order.clientId or self.client_id
        self.order_id = trade.order.orderId or self.order_id
        self.perm_id = trade.order.permId or trade.orderStatus.permId or self.perm_id


class IBOrderBook:
    """Orders and fills of the IB broker by ``client_order_id``; emits their changes.

    Args:
        emit: ``emit(kind, payload)`` for ``"order"`` and ``"fill"`` events.
    """

    def __init__(self, emit: Callable[[str, Any], None]) -> None:
        self._emit = emit
        self._entries: dict[str, _Entry] = {}
        self._fills: dict[str, Fill] = {}
        self._waiting: set[str] = set()  # execIds whose commission report is still due
        self._foreign: dict[str, str] = {}  # orderRefs IB holds that we cannot represent
        self._warned: set[tuple[str, int]] = set()

    # ------------------------------------------------------------------ views
    def get(self, client_order_id: str) -> BrokerOrder | None:
        """The latest record of an order, or ``None``."""
        entry = self._entries.get(client_order_id)
        return None if entry is None else entry.order

    def trade(self, client_order_id: str) -> Trade | None:
        """ib_async's trade of an order on the current connection (``None`` if not seen)."""
        entry = self._entries.get(client_order_id)
        return None if entry is None else entry.trade

    def order_id(self, client_order_id: str) -> int:
        """IB's order id of one of our orders (0 if not known yet)."""
        entry = self._entries.get(client_order_id)
        return 0 if entry is None else entry.order_id

    def _parent_of(self, trade: Trade) -> str | None:
        """Our client order id of the order IB names as ``trade``'s parent, if we hold it."""
        parent = trade.order.parentId
        if not parent:
            return None
        for ref, entry in self._entries.items():
            if entry.order_id == parent and entry.client_id in (0, trade.order.clientId):
                return ref
        return None

    def foreign(self, client_order_id: str) -> str | None:
        """Why IB's order with this ``orderRef`` is not in the book (``None``: no such order)."""
        return self._foreign.get(client_order_id)

    def orders(self, *, open_only: bool = False) -> list[BrokerOrder]:
        """Every order (or the open ones), oldest first."""
        orders = [entry.order for entry in self._entries.values()]
        return [o for o in orders if o.is_open] if open_only else orders

    def fills(self) -> list[Fill]:
        """Every fill, in the order they were learnt."""
        return list(self._fills.values())

    @property
    def commissions(self) -> float:
        """Sum of the commissions of every fill."""
        return sum(fill.commission for fill in self._fills.values())

    @property
    def waiting_for_commissions(self) -> bool:
        """Whether some executions wait for their commission report."""
        return bool(self._waiting)

    # ------------------------------------------------------------------ changes
    def add_placed(self, request: OrderRequest, trade: Trade) -> BrokerOrder:
        """Record an order just sent (``PendingSubmit``) and emit it."""
        order = BrokerOrder(
            request=request, broker_order_id=str(trade.order.orderId), status=OrderStatus.PENDING
        )
        entry = _Entry(order=order)
        entry.link(trade)
        self._entries[request.client_order_id] = entry
        self._emit("order", order)
        return order

    def set_request(self, client_order_id: str, request: OrderRequest) -> BrokerOrder:
        """Record new terms of a modified order and emit it."""
        entry = self._entries[client_order_id]
        entry.order = entry.order.evolve(request=request)
        self._emit("order", entry.order)
        return entry.order

    def forget_trades(self) -> None:
        """Drop the links to ib_async's trades (they die with the connection)."""
        for entry in self._entries.values():
            entry.trade = None
        self._waiting.clear()

    def absorb_trade(self, trade: Trade) -> str | None:
        """Merge one ib_async trade; returns its ``client_order_id`` if it is one of ours."""
        ref = trade.order.orderRef or ""
        if not _CLIENT_ID.match(ref):
            return None
        entry = self._entries.get(ref)
        if entry is not None and entry.order_id and not entry.same_order(trade):
            key = (ref, trade.order.permId)
            if key not in self._warned:
                self._warned.add(key)
                _log.warning(
                    "IB holds a second order (id %s) with orderRef %r; the book keeps order %s",
                    trade.order.orderId,
                    ref,
                    entry.order_id,
                )
            return None
        request = request_from_trade(trade, self._parent_of(trade))
        if entry is not None and request is not None and request.parent_id is None and \
                entry.order.request.parent_id is not None:  # keep a link IB cannot name now
            request = replace(request, parent_id=entry.order.request.parent_id)
        if entry is None:
            if request is None:
                self._foreign[ref] = (
                    f"IB holds order {trade.order.orderId} with orderRef "
                    f"{ref!r} ({trade.order.orderType} "
                    f"{trade.contract.symbol}), which tradelab cannot manage"
                )
                return None
            entry = _Entry(
                order=BrokerOrder(
                    request=request,
                    broker_order_id=str(trade.order.orderId),
                    status=OrderStatus.PENDING,
                )
            )
            entry.link(trade)
            self._entries[ref] = entry
            self._update(entry, trade, request, force=True)
            return ref
        entry.link(trade)
        self._update(entry, trade, request or entry.order.request)
        return ref

    def _update(
        self, entry: _Entry, trade: Trade, request: OrderRequest, *, force: bool = False
    ) -> None:
        current = entry.order
        mine = [f for f in self._fills.values() if f.client_order_id == current.client_order_id]
        if not entry.order_id:  # a completed order: its id comes with its executions
            entry.order_id = next(
                (int(f.broker_order_id) for f in mine if f.broker_order_id.isdigit()), 0
            )
        done = sum(f.quantity for f in mine)
        shares = [number(trade.orderStatus.filled), number(trade.order.filledQuantity), done]
        filled = max([current.filled_quantity, *(s for s in shares if s is not None)])
        status, reason = _status(trade, filled)
        if current.status.is_terminal and not (force or entry.guessed):
            status, reason = current.status, current.reason  # a stale update
        elif status is OrderStatus.PENDING and current.status is not OrderStatus.PENDING:
            status = current.status  # a modification in flight: still working
        average = number(trade.orderStatus.avgFillPrice)
        if not average:
            volume = sum(f.quantity for f in mine)
            average = sum(f.quantity * f.price for f in mine) / volume if volume else None
        changes = {
            "status": status,
            "filled_quantity": filled,
            "reason": reason,
            "average_fill_price": average or current.average_fill_price,
            "request": request,
            "broker_order_id": str(entry.order_id) if entry.order_id else f"perm-{entry.perm_id}",
        }
        if force or any(getattr(current, name) != value for name, value in changes.items()):
            entry.guessed = False
            entry.order = current.evolve(**changes)
            self._emit("order", entry.order)

    def absorb_fill(self, ib_fill: IBFill, *, force: bool = False) -> Fill | None:
        """Record one execution once (by execId) and emit it, with its commission.

        Without a commission report yet, the fill waits (returns ``None``) unless ``force``.
        """
        exec_id = ib_fill.execution.execId
        if exec_id in self._fills:
            return None
        if not ib_fill.commissionReport.execId and not force:
            self._waiting.add(exec_id)
            return None
        self._waiting.discard(exec_id)
        fill = _fill_record(ib_fill)
        if fill is None:
            return None
        if force and not ib_fill.commissionReport.execId:
            _log.warning(
                "no commission report for IB execution %s; recorded with commission 0", exec_id
            )
        self._fills[exec_id] = fill
        self._emit("fill", fill)
        entry = self._entries.get(fill.client_order_id)
        if entry is not None and not entry.order_id:
            entry.order_id = ib_fill.execution.orderId  # completed orders lack their id
        if entry is not None and entry.trade is not None:
            self._update(entry, entry.trade, entry.order.request)
        return fill

    def sync(self, trades: Iterable[Trade], fills: Iterable[IBFill]) -> set[str]:
        """Merge every trade, then every fill IB reports; returns the client ids seen."""
        seen = {ref for trade in trades if (ref := self.absorb_trade(trade)) is not None}
        for ib_fill in fills:
            self.absorb_fill(ib_fill)
        return seen

    def flush_fills(self, fills: Iterable[IBFill]) -> None:
        """Record executions still waiting for a commission report, with what is known."""
        for ib_fill in fills:
            if ib_fill.execution.execId in self._waiting:
                self.absorb_fill(ib_fill, force=True)

    def close_missing(self, seen: set[str]) -> list[BrokerOrder]:
        """Close open orders IB no longer knows (after a full reconcile) and emit them."""
        closed = []
        for ref, entry in self._entries.items():
            if ref in seen or not entry.order.is_open:
                continue
            if entry.order.status is OrderStatus.PENDING:
                status = OrderStatus.REJECTED
                reason = (
                    "IB never received the order (not found after the reconnect); send "
                    "it again under a new client_order_id"
                )
            else:
                status = OrderStatus.CANCELLED
                reason = "not found at IB when reconciling after a reconnect"
            entry.order = entry.order.evolve(status=status, reason=reason)
            entry.guessed = True
            self._emit("order", entry.order)
            closed.append(entry.order)
        return closed
