"""IBBroker's linked orders: a child's parent at IB, and brackets sent as IB's bracket pattern.

Mixed into :class:`~tradelab.brokers.ib.IBBroker`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from tradelab.brokers._ib_orders import ib_order
from tradelab.brokers.linked import check_group
from tradelab.brokers.records import BrokerOrder, OrderRequest, OrderStatus
from tradelab.errors import BrokerError, DuplicateOrderError, OrderError

if TYPE_CHECKING:
    from tradelab.brokers.ib import IBBroker

__all__ = ["IBGroups"]


class IBGroups:
    """``place_group`` and the parent lookup of ``place_order``."""

    def _parent_order_id(self: IBBroker, request: OrderRequest) -> int:
        """IB's order id of ``request``'s parent (0 for an order without one).

        Raises:
            OrderError: The parent is not an order of this broker, or IB has not numbered it.
        """
        if request.parent_id is None:
            return 0
        parent = self._book.order_id(request.parent_id)
        if not parent:
            raise OrderError(
                f"order field 'parent_id': IB holds no order {request.parent_id!r} of this "
                "client; place the parent first (or the whole bracket with place_group)"
            )
        return parent

    async def place_group(self: IBBroker, requests: Sequence[OrderRequest]) -> list[BrokerOrder]:
        """Send a parent and its children as IB's bracket: transmitted together, all or none.

        Every order but the last goes with ``transmit=False``, so TWS holds the group until the
        last arrives; a child carries ``parentId`` (the parent's IB order id). Waits up to
        ``request_timeout`` for IB's acknowledgement of all of them; if IB rejects one, the
        others are cancelled. A group whose ids IB already holds returns those orders.

        Raises:
            OrderError: The group breaks :func:`~tradelab.brokers.linked.check_group`, or IB
                does not know the symbol (nothing was sent).
            DuplicateOrderError: Some ids of the group are known and others not.
            BrokerError: Not connected (nothing was sent), or the connection closed while the
                group was sent (IB discards untransmitted orders; they come back rejected).
        """
        check_group(requests)
        ids = [r.client_order_id for r in requests]
        known = [self._book.get(i) for i in ids]
        if all(order is not None for order in known):
            return [order for order in known if order is not None]
        used = [i for i, order in zip(ids, known, strict=True) if order is not None]
        used += [i for i in ids if self._book.foreign(i) is not None]
        if used:
            raise DuplicateOrderError(
                f"IB holds orders {', '.join(used)} already; nothing of the group was sent"
            )
        self._connection.require_ready(f"place group {ids[0]!r}")
        contract = await self._market.contract(requests[0].symbol)
        async with self._order_lock:
            numbers: dict[str, int] = {}
            for index, request in enumerate(requests):
                await self._pacer.acquire()
                self._connection.require_ready(f"place group {ids[0]!r}")
                order = ib_order(
                    request,
                    self._connection.account,
                    parent_order_id=numbers.get(request.parent_id or "", 0),
                    transmit=index == len(requests) - 1,
                )
                try:
                    trade = self._ib.placeOrder(contract, order)
                except ConnectionError as exc:
                    raise BrokerError(
                        f"cannot place group {ids[0]!r}: the connection to IB closed after "
                        f"{index} of {len(requests)} orders (untransmitted, so not sent)"
                    ) from exc
                numbers[request.client_order_id] = trade.order.orderId
                self._book.add_placed(request, trade)
        await self._wait_for(
            lambda: all(self._status(i) is not OrderStatus.PENDING for i in ids)
            or not self.connected,
            self.config.request_timeout,
        )
        orders = [self._get(i) for i in ids]
        if any(o.status is OrderStatus.REJECTED for o in orders):
            for order in orders:
                if order.is_open and order.status is not OrderStatus.PENDING:
                    await self.cancel_order(order.client_order_id)
            orders = [self._get(i) for i in ids]
        return orders
