"""Linked orders in the trading engine: brackets and other parent/child groups, one decision.

Mixed into :class:`~tradelab.live.TradingEngine`. A group is a parent (the entry) and its
children (exits, ``parent_id`` = the entry): :meth:`LinkedSubmissions.submit_group` takes one
risk decision, on the entry, because the exits cannot add risk — they work only once the entry
has filled, and together they close at most what it opens (``tradelab.brokers.linked``); in
the engine's worst case an exit waiting for its entry counts as nothing, and the members of an
OCO group count once. The group is all or nothing: the decision, the three orders and their
links are in the audit log before anything is sent, the broker gets them as one group (IB's
bracket pattern: ``transmit`` only on the last), and if the broker refuses one the others are
cancelled.

Why a group and not three ``submit`` calls: a market entry can fill before its exits reach
the broker, leaving a position without its stop; and a stop-loss checked alone against a flat
book looks like a new short (denied in ``REDUCING``, counted against the limits), which it is
not.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from tradelab.brokers.linked import bracket, check_child, check_group
from tradelab.brokers.records import BrokerOrder, OrderRequest, OrderStatus
from tradelab.errors import BrokerError, DuplicateOrderError, OrderError
from tradelab.live.outcome import SubmitOutcome
from tradelab.risk import RiskDecision, TradingState

if TYPE_CHECKING:
    from tradelab.live.engine import TradingEngine

__all__ = ["EngineSubmitter", "LinkedSubmissions", "closing_shares", "waiting_exits"]


def waiting_exits(orders: Sequence[BrokerOrder]) -> set[str]:
    """Client ids of the orders among ``orders`` whose parent is also among them (open): exits
    that wait for their entry and cannot trade yet."""
    ids = {order.client_order_id for order in orders}
    return {o.client_order_id for o in orders if o.request.parent_id in ids}


class EngineSubmitter:
    """The engine's submission for one source, as a live strategy's bridge calls it.

    Calling it submits one order (:meth:`TradingEngine.submit`); :meth:`submit_group` sends a
    parent and its children together (:meth:`TradingEngine.submit_group`). A
    :class:`~tradelab.live.BridgeBroker` uses the group call for Backtrader brackets when its
    ``submit`` has one.
    """

    def __init__(self, engine: TradingEngine, source: str) -> None:
        self.engine = engine
        self.source = source

    async def __call__(self, request: OrderRequest) -> SubmitOutcome:
        return await self.engine.submit(request, source=self.source)

    async def submit_group(self, requests: Sequence[OrderRequest]) -> list[SubmitOutcome]:
        """Send a parent and its children as one group."""
        return await self.engine.submit_group(requests, source=self.source)


class LinkedSubmissions:
    """Brackets and parent/child groups through one risk decision; exits attached later."""

    def submitter(self: TradingEngine, source: str) -> EngineSubmitter:
        """A submit function for ``source`` with a ``submit_group`` method (for live
        strategies)."""
        return EngineSubmitter(self, source)

    async def submit_bracket(self: TradingEngine, entry: OrderRequest, take_profit: float,
                             stop_loss: float, *, source: str = "api",
                             take_profit_id: str | None = None,
                             stop_loss_id: str | None = None) -> list[SubmitOutcome]:
        """An entry with its take-profit and stop-loss (see :func:`tradelab.brokers.bracket`),
        sent as one group (:meth:`submit_group`).

        The stop-loss is placed before the take-profit, as Backtrader's ``buy_bracket`` does,
        so on a bar that reaches both the paper broker fills the stop (the cautious reading).

        Returns:
            The outcomes of the entry, the take-profit and the stop-loss, in this order.

        Example:
            >>> import asyncio, tempfile
            >>> from tradelab.audit import AuditConfig, AuditLog
            >>> from tradelab.brokers import OrderRequest, PaperBroker, PaperBrokerConfig
            >>> from tradelab.brokers.replay import synthetic_bars
            >>> from tradelab.live import TradingEngine
            >>> from tradelab.risk import RiskManager
            >>> async def demo():
            ...     broker = PaperBroker(synthetic_bars(["AAA"], end="2024-02-28"),
            ...                          PaperBrokerConfig(speed=0, autostart=False))
            ...     audit = AuditLog(AuditConfig(url=f"sqlite:///{tempfile.mkdtemp()}/a.db"))
            ...     engine = TradingEngine(broker, risk=RiskManager(), audit=audit)
            ...     await engine.start()
            ...     await broker.run_steps(1)
            ...     last = broker.last_price("AAA")
            ...     entry = OrderRequest(client_order_id="e1", symbol="AAA", side="buy",
            ...                          quantity=10, time_in_force="GTC")
            ...     outcomes = await engine.submit_bracket(entry, take_profit=last * 1.05,
            ...                                            stop_loss=last * 0.95)
            ...     await engine.close()
            ...     return [(o.request.client_order_id, o.request.parent_id) for o in outcomes]
            >>> asyncio.run(demo())
            [('e1', None), ('e1.tp', 'e1'), ('e1.sl', 'e1')]

        Raises:
            OrderError: An exit price on the wrong side of the entry or of the last price (a
                market entry), or any input error of :meth:`submit_group`; nothing recorded.
            DuplicateOrderError: An id of the three was used before; nothing recorded.
            BrokerError: The broker refused the group (logged as rejected, the rest cancelled).
        """
        entry, profit, loss = bracket(entry, take_profit, stop_loss,
                                      take_profit_id=take_profit_id, stop_loss_id=stop_loss_id,
                                      reference=self.broker.last_price(entry.symbol))
        outcomes = await self.submit_group([entry, loss, profit], source=source)
        return [outcomes[0], outcomes[2], outcomes[1]]

    async def submit_group(self: TradingEngine, requests: Sequence[OrderRequest], *,
                           source: str = "api") -> list[SubmitOutcome]:
        """Validate, risk-check the parent once, log all, then send the group to the broker.

        Args:
            requests: The parent first, then its children (``parent_id`` = the parent's id).
            source: Who asks (``"api"``, ``"strategy:<name>"``).

        Returns:
            One outcome per request, in order; all denied (with the parent's rule) or all sent.

        Raises:
            OrderError: Bad input — a malformed group, unknown symbol, a price outside the band;
                nothing recorded.
            DuplicateOrderError: An id was used before; nothing recorded.
            BrokerError: The broker refused (every order logged as rejected with the reason,
                any already placed cancelled).
        """
        async with self._lock:
            return await self._submit_group(list(requests), source=source)

    async def _submit_group(self: TradingEngine, requests: list[OrderRequest], *,
                            source: str) -> list[SubmitOutcome]:
        parent, children = check_group(requests)
        used = [r.client_order_id for r in requests if self.audit.has_order(r.client_order_id)]
        if used:
            raise DuplicateOrderError(
                f"client_order_id(s) {', '.join(map(repr, used))} were used already; nothing "
                "of the group was sent. Use new ids for a new group.")
        for request in requests:
            await self._check_request(request, source=source)
            self._reference_price(request)  # the price band, for every member
        decision = await self._decide(parent, source)
        state = self.risk.state.value
        if not decision.approved:
            outcomes = [self._deny(parent, decision, source)]
            for child in children:
                denied = RiskDecision(approved=False, rule=decision.rule,
                                      reason=f"not sent: its entry {parent.client_order_id} "
                                             f"was denied ({decision.reason})")
                outcome = SubmitOutcome(request=child, decision=denied, order=None,
                                        source=source)
                self.audit.record_submission(outcome, state=state)
                outcomes.append(outcome)
            return outcomes
        decisions = [decision] + [
            RiskDecision(approved=True, rule="",
                         reason=f"exit of {parent.client_order_id}, sent with it: it works once "
                                "the entry has filled and closes at most what the entry opens")
            for _ in children]
        pending = [BrokerOrder(request=r, broker_order_id="", status=OrderStatus.PENDING)
                   for r in requests]
        for request, granted, order in zip(requests, decisions, pending, strict=True):
            self.audit.record_submission(
                SubmitOutcome(request=request, decision=granted, order=order, source=source),
                state=state)
        try:
            orders = await self._place_group(requests)
        except Exception as exc:
            for order in pending:
                self.audit.record_order_update(order.evolve(
                    status=OrderStatus.REJECTED,
                    reason=f"the broker refused the group: {exc}"))
            self._count("orders_failed", {"source": source.split(":", 1)[0]})
            self._alert("warning", "order_rejected", parent.client_order_id,
                        f"the broker refused the group of {parent.client_order_id}: {exc}")
            if isinstance(exc, BrokerError):
                raise
            raise BrokerError(f"the broker refused the group of {parent.client_order_id!r}: "
                              f"{exc}") from exc
        if any(o.status is OrderStatus.REJECTED for o in orders):  # all or nothing
            orders = [await self.broker.cancel_order(o.client_order_id) if o.is_open else o
                      for o in orders]
        for order in orders:
            self.audit.record_order_update(order)
        self._day_counts["orders"] += len(orders)
        self._count("orders_accepted", {"source": source.split(":", 1)[0]})
        return [SubmitOutcome(request=r, decision=d, order=o, source=source)
                for r, d, o in zip(requests, decisions, orders, strict=True)]

    async def _place_group(self: TradingEngine,
                           requests: list[OrderRequest]) -> list[BrokerOrder]:
        """The broker's ``place_group``, or one ``place_order`` after the other (cancelling
        those placed if a later one fails) for a broker without it."""
        place_group = getattr(self.broker, "place_group", None)
        if callable(place_group):
            return list(await place_group(requests))
        placed: list[BrokerOrder] = []
        try:
            for request in requests:
                placed.append(await self.broker.place_order(request))
        except Exception:
            for order in placed:
                if order.is_open:
                    self.audit.record_order_update(
                        await self.broker.cancel_order(order.client_order_id))
            raise
        return placed

    async def _check_child(self: TradingEngine, request: OrderRequest,
                           orders: list[BrokerOrder]) -> None:
        """Refuse an exit attached to an unknown or finished parent, or one that could close
        more than its parent opens (an input error: nothing recorded)."""
        parent_id = request.parent_id
        parent = next((o for o in orders if o.client_order_id == parent_id), None) or \
            self.audit.order(str(parent_id))
        if parent is None:
            raise OrderError(f"order field 'parent_id': no order {parent_id!r}; place the entry "
                             "first, or the whole bracket with POST /orders/bracket")
        if parent.status.is_terminal and not parent.filled_quantity:
            raise OrderError(f"order field 'parent_id': the entry {parent_id!r} is "
                             f"{parent.status.value} without a fill; nothing was sent")
        siblings = [o.request for o in orders if o.request.parent_id == parent_id
                    and (o.is_open or o.filled_quantity)]
        check_child(parent.request, request, siblings)

    def _contingent(self: TradingEngine, request: OrderRequest,
                    open_orders: Sequence[BrokerOrder]) -> RiskDecision | None:
        """The decision for an exit whose entry is still open (``None`` for other orders): it
        cannot trade before the entry fills and then only closes it, so it adds no risk —
        approved unless trading is HALTED."""
        if request.parent_id is None or \
                not any(o.client_order_id == request.parent_id for o in open_orders):
            return None
        if self.risk.state is TradingState.HALTED:
            reason = self.risk.state_snapshot()["halt_reason"]
            return RiskDecision(approved=False, rule="halted",
                                reason=f"trading is HALTED ({reason}); every order is denied "
                                       "until resume()")
        return RiskDecision(approved=True, rule="",
                            reason=f"exit of {request.parent_id}: it works once its entry has "
                                   "filled and closes at most what the entry opens")


def closing_shares(orders: Sequence[BrokerOrder], waiting: set[str]) -> float:
    """Shares ``orders`` can close at most: OCO groups count once (their largest remaining),
    exits still waiting for their entry not at all."""
    groups: dict[str, float] = {}
    total = 0.0
    for order in orders:
        if order.client_order_id in waiting:
            continue
        group = order.request.oco_group
        if group is None:
            total += order.remaining
        else:
            groups[group] = max(groups.get(group, 0.0), order.remaining)
    return total + sum(groups.values())

