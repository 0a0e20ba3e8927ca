"""The paper broker's linked orders: bracket children, OCO groups and trailing stops.

Mixed into :class:`~tradelab.brokers.PaperBroker`. The rules are Backtrader's where Backtrader
has them (``BackBroker._bracketize``, ``_ococheck``, ``Order.trailadjust``), so a strategy's
bracket run live on replayed bars trades as in its backtest:

* **Children** wait, inactive, until their parent has filled completely; they match from the
  bar *after* the parent's fill (Backtrader activates them at the start of the next bar). A
  parent cancelled or rejected without a fill cancels its children. A parent cancelled after
  a partial fill (a DAY limit entry that expired part-filled) leaves its children working,
  resized to the shares filled — Backtrader cancels them, but never part-fills an entry in
  our backtests, so the two never disagree there; live, the filled shares keep their exits.
* **OCO groups**: a fill of one member reduces every other open member in proportion — by
  the share of the filler's unfilled shares that filled (IB's ``ocaType`` 2); a complete fill
  cancels them. Backtrader cancels the others on any
  execution, which is the same thing for the complete fills of a backtest.
* **Trailing stops** trigger like stops at their current stop; a bar that does not trigger
  one moves it to ``close ∓ distance`` if that is better (never back), as Backtrader's
  ``StopTrail`` does after each bar it did not execute in. The current stop is the order's
  ``request.stop_price`` (so it is in the audit log and survives a restart).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from tradelab.brokers.linked import check_child
from tradelab.brokers.records import BrokerOrder, OrderRequest, OrderStatus
from tradelab.errors import OrderError

if TYPE_CHECKING:
    from tradelab.brokers._paper_fills import WorkingOrder
    from tradelab.brokers.paper import PaperBroker

_TOLERANCE = 1e-9


def _released(parent: BrokerOrder) -> bool:
    """Whether a parent lets its children work: filled, or ended after a partial fill."""
    return parent.status is OrderStatus.FILLED or \
        (parent.status.is_terminal and parent.filled_quantity > 0)


class LinkedOrders:
    """Parent/child activation, OCO reduction and trailing for the paper broker."""

    def _admit(self: PaperBroker, request: OrderRequest,
               group_parent: OrderRequest | None = None) -> tuple[OrderRequest, bool]:
        """Check a new order's links and complete a trailing stop's first stop price.

        Returns:
            The request to place and whether it may work at once (``False``: a child waiting
            for its parent).

        Raises:
            OrderError: An unknown or finished parent, a child that could do more than close
                its parent's position, or a trailing stop without a price to trail from.
        """
        active = True
        if request.parent_id is not None and (
                group_parent is None or group_parent.client_order_id != request.parent_id):
            parent = self._orders.get(request.parent_id)
            if parent is None:
                raise OrderError(f"order field 'parent_id': no order {request.parent_id!r} at "
                                 "the paper broker; place the parent first (or the whole "
                                 "bracket with place_group)")
            if parent.status.is_terminal and not parent.filled_quantity:
                raise OrderError(f"order field 'parent_id': parent {request.parent_id!r} is "
                                 f"{parent.status.value} without a fill; nothing was placed")
            siblings = [o.request for o in self._orders.values()
                        if o.request.parent_id == request.parent_id
                        and (o.is_open or o.filled_quantity)]
            check_child(parent.request, request, siblings)
            active = _released(parent)
        elif request.parent_id is not None:
            active = False  # its parent is placed with it, in the same group
        if request.order_type == "trailing_stop" and request.stop_price is None:
            last = self.last_price(request.symbol)
            if last is None:
                raise OrderError(f"order field 'stop_price': a trailing_stop without one trails "
                                 f"from the last price, and no bar of {request.symbol} was "
                                 "replayed yet; give stop_price")
            request = replace(request, stop_price=request.trailed_stop(last))
        return request, active

    def _children(self: PaperBroker, parent_id: str) -> list[BrokerOrder]:
        return [o for o in self._orders.values() if o.request.parent_id == parent_id]

    def _after_fill(self: PaperBroker, order: BrokerOrder, quantity: float,
                    stamp: datetime) -> None:
        """A fill of ``quantity``: reduce the OCO group, activate children of a filled parent."""
        if order.request.oco_group is not None:
            self._reduce_group(order, quantity)
        if order.status is OrderStatus.FILLED:
            self._release_children(order, stamp)

    def _after_end(self: PaperBroker, order: BrokerOrder, stamp: datetime | None) -> None:
        """An order cancelled or rejected: its children go with it, or work for the shares it
        filled."""
        if order.filled_quantity > 0:
            self._release_children(order, stamp)
            return
        for child in self._children(order.client_order_id):
            if child.is_open:
                self._finish(child.client_order_id, OrderStatus.CANCELLED,
                             f"parent {order.client_order_id} was {order.status.value.lower()} "
                             "before it filled")

    def _release_children(self: PaperBroker, parent: BrokerOrder,
                          stamp: datetime | None) -> None:
        filled = parent.filled_quantity
        for child in self._children(parent.client_order_id):
            working = self._working.get(child.client_order_id)
            if working is None or working.active:
                continue
            if child.request.quantity > filled + _TOLERANCE:  # the parent ended part-filled
                self._store(child.evolve(request=replace(child.request, quantity=filled)))
            working.active = True
            working.since = stamp

    def _reduce_group(self: PaperBroker, filler: BrokerOrder, quantity: float) -> None:
        """Shrink the other open members' unfilled shares by the share of the filler's
        unfilled shares that just filled (all of them: the others are cancelled)."""
        group = filler.request.oco_group
        after = max(filler.request.quantity - filler.filled_quantity, 0.0)
        before = after + quantity
        for client_id, other in list(self._orders.items()):
            if client_id == filler.client_order_id or other.request.oco_group != group or \
                    not other.is_open:
                continue
            done = other.filled_quantity
            left = (other.request.quantity - done) * after / before
            if left <= _TOLERANCE:
                self._finish(client_id, OrderStatus.CANCELLED,
                             f"OCO group {group}: {filler.client_order_id} filled")
            else:
                self._store(other.evolve(request=replace(other.request, quantity=done + left)))

    def _trail(self: PaperBroker, working: WorkingOrder, close: float) -> None:
        """Move a trailing stop after a bar it did not trigger in (never back)."""
        order = working.order
        request = order.request
        candidate = request.trailed_stop(close)
        current = request.stop_price
        better = current is None or (candidate < current if request.side == "buy"
                                     else candidate > current)
        if better:
            self._store(order.evolve(request=replace(request, stop_price=candidate)))

    def _restored_active(self: PaperBroker, order: BrokerOrder,
                         orders: Sequence[BrokerOrder]) -> bool:
        """Whether a restored open order works (a child whose parent had not filled waits)."""
        if order.request.parent_id is None:
            return True
        parent = next((o for o in orders if o.client_order_id == order.request.parent_id), None)
        return parent is None or _released(parent)
