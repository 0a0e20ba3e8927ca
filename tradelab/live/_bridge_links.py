"""The broker bridge's linked orders: Backtrader brackets and OCO groups sent to the trader.

Mixed into :class:`~tradelab.live.BridgeBroker` (see its module docstring for the mapping). The
rules are ``BackBroker``'s: orders with ``transmit=False`` wait for the rest of their bracket, a
bracket goes as one group, cancelling one order of a bracket or OCO group cancels the others,
and an exit that completes ends its siblings.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import backtrader as bt

from tradelab.brokers.records import OrderRequest

if TYPE_CHECKING:
    from tradelab.live.bridge import BridgeBroker

_log = logging.getLogger("tradelab.live.bridge")


class BridgeLinks:
    """Bracket groups, their submission, and the cancels Backtrader's links imply."""

    def _cancel_linked(self: BridgeBroker, order: bt.Order) -> None:
        """Cancel the other live orders of ``order``'s bracket and OCO group."""
        linked = [*self._brackets.get(self._bracket_ref(order), ()),
                  *self._oco_members.get(self._oco_leader.get(order.ref, -1), ())]
        for other in linked:
            client_id = self._client_ids.get(other.ref)
            if other is order or client_id is None or not other.alive() or \
                    other.ref in self._cancel_requested:
                continue
            self._cancel_requested.add(other.ref)
            self._request_cancel(client_id)

    @staticmethod
    def _bracket_ref(order: bt.Order) -> int:
        parent = order.parent
        return order.ref if parent is None else parent.ref

    def _submit_group(
        self: BridgeBroker, group: list[tuple[bt.Order, OrderRequest]]
    ) -> list[bt.Order]:
        """Send a bracket: the parent and its children, together when ``submit`` can."""
        (parent, _), children = group[0], group[1:]
        if parent.parent is not None:  # children of a parent sent before: attached one by one
            group_id = self._client_id(parent.parent)
            return [
                self._submit_one(order, replace(request, oco_group=request.oco_group or group_id))
                for order, request in group
            ]
        parent_id = self._client_id(parent)
        requests = [group[0][1]] + [
            replace(request, parent_id=parent_id,
                    oco_group=request.oco_group or (parent_id if len(children) > 1 else None))
            for _, request in children]
        orders = [order for order, _ in group]
        self._brackets[parent.ref] = orders
        submit_group = getattr(self._submit_fn, "submit_group", None)
        if not callable(submit_group):
            return self._submit_in_turn(orders, requests)
        for order, request in zip(orders, requests, strict=True):
            self._client_ids[order.ref] = request.client_order_id
            self._by_client_id[request.client_order_id] = order
        future = asyncio.run_coroutine_threadsafe(submit_group(requests), self._loop)
        try:
            outcomes = list(future.result(self.submit_timeout))
        except concurrent.futures.TimeoutError:
            self.last_error = (
                f"bracket {parent_id} did not answer within {self.submit_timeout:g} s; its "
                "answer is applied when it comes"
            )
            _log.warning("bridge: %s", self.last_error)
            for order in orders:
                order.submit(self)
                self.notify(order)
            ids = [r.client_order_id for r in requests]
            future.add_done_callback(lambda f: self._events.append(("group", (ids, f))))
            return orders
        except Exception as exc:
            self.failed += 1
            self.last_error = f"bracket {parent_id} failed: {exc!r}"
            for order in orders:
                self._reject(order, f"bracket submission failed: {exc}")
            return orders
        return [self._settle(order, outcome)
                for order, outcome in zip(orders, outcomes, strict=True)]

    def _submit_in_turn(self: BridgeBroker, orders: list[bt.Order],
                        requests: list[OrderRequest]) -> list[bt.Order]:
        """A bracket through a ``submit`` without groups: the parent, then each child."""
        parent = self._submit_one(orders[0], requests[0])
        for index, (order, request) in enumerate(zip(orders[1:], requests[1:], strict=True)):
            if not parent.alive():
                self._reject(order, f"its parent order {parent.ref} was not accepted")
                continue
            self._submit_one(order, request)
            if not order.alive():  # all or nothing: the rest of the bracket goes
                for other in orders[: index + 1]:
                    self.cancel(other)
                for other in orders[index + 2:]:
                    self._reject(other, f"bracket order {order.ref} was not accepted")
                break
        return orders

    def _apply_group_outcome(
        self: BridgeBroker, client_ids: list[str], future: concurrent.futures.Future[Any]
    ) -> None:
        orders = [self._by_client_id[i] for i in client_ids]
        try:
            outcomes = list(future.result(0))
        except Exception as exc:
            self.failed += 1
            for order in orders:
                if order.alive():
                    self._reject(order, f"bracket submission failed: {exc}")
            return
        for order, outcome in zip(orders, outcomes, strict=True):
            if order.alive():
                self._settle(order, outcome)

    def _ended_by_link(self: BridgeBroker, order: bt.Order) -> bool:
        """Whether ``order`` went because another order of its bracket or OCO group did (a
        cancel, not its own DAY expiry)."""
        linked = [*self._brackets.get(self._bracket_ref(order), ()),
                  *self._oco_members.get(self._oco_leader.get(order.ref, -1), ())]
        return any(other is not order and (not other.alive() or other.executed.size)
                   for other in linked)

    def _cancel_linked_oco(self: BridgeBroker, order: bt.Order) -> None:
        for other in self._oco_members.get(self._oco_leader[order.ref], ()):
            client_id = self._client_ids.get(other.ref)
            if other is order or client_id is None or not other.alive() or \
                    other.ref in self._cancel_requested:
                continue
            self._cancel_requested.add(other.ref)
            self._request_cancel(client_id)

    def _join_oco(self: BridgeBroker, order: bt.Order, oco: bt.Order) -> str:
        """Register ``order`` in the OCO group of ``oco`` (Backtrader's ``_ocoize``); returns
        the group's name at the broker."""
        leader = self._oco_leader.get(oco.ref, oco.ref)
        self._oco_leader.setdefault(oco.ref, leader)
        self._oco_leader[order.ref] = leader
        members = self._oco_members.setdefault(leader, [oco] if oco.ref == leader else [])
        members.append(order)
        return f"{self.client_prefix}-oco-{leader}"
