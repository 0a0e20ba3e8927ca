"""BridgeBroker: Backtrader's broker interface in front of the live trader's order submission.

A strategy running in a live ``Cerebro`` calls ``buy``/``sell``/``cancel`` on this broker, on the
Cerebro thread. Each order becomes an :class:`~tradelab.brokers.OrderRequest` and is handed to the
trader's ``submit`` coroutine on the broker's asyncio loop (``run_coroutine_threadsafe``), which
runs the risk manager and the audit log before anything reaches the broker. The answer decides
the Backtrader order's fate at once: a denial (or a failed submission) makes it ``Rejected``, an
accepted order becomes ``Submitted`` then ``Accepted``; the strategy is notified through
``notify_order`` either way, on its next bar, as in a backtest.

What happens afterwards comes from the broker's listener events (on the loop): order updates and
fills are queued thread-safely and applied in :meth:`BridgeBroker.next`, which ``Cerebro`` calls
before the strategy's ``next`` — but only in an iteration that delivers a bar, so a fill is booked
with the bar it happened in (as Backtrader's ``BackBroker`` does). Fills are booked the way
``BackBroker`` books its own executions (position, cash, closed/opened legs, P&L), with the
broker's commission split between the closing and opening legs like Backtrader's IB broker;
``getcash``/``getvalue``/``getposition`` come from that book, so for the paper broker the value is
the account's equity (cash + positions at the last close) computed exactly as ``BackBroker`` does.

Mapping of Backtrader order fields:

* ``exectype`` Market/Limit/Stop/StopLimit → ``order_type`` market/limit/stop/stop_limit
  (``price`` is the limit or stop price, ``plimit`` the stop-limit's limit). StopTrail →
  ``trailing_stop`` with ``trail_amount`` = ``trailamount`` or ``trail_percent`` =
  ``trailpercent`` × 100, and ``stop_price`` = the first stop Backtrader computed (from
  ``price``, else the close). Close, StopTrailLimit and Historical are rejected with the reason.
* **Brackets** (``buy_bracket``/``sell_bracket``, or ``parent=``/``transmit=False`` by hand):
  orders sent with ``transmit=False`` are held, as ``BackBroker`` holds them, until an order of
  their group arrives with ``transmit=True``; then the parent and its children go to the trader
  together — through ``submit.submit_group`` when the submit function has it (one risk decision
  on the entry, all or nothing; :meth:`TradingEngine.submitter` gives one), else one by one
  through ``submit`` (a denied entry rejects its children; a refused child cancels the rest).
  Children carry ``parent_id`` and, two or more, one ``oco_group``: Backtrader cancels a
  bracket's other exits when one completes, the broker's OCO rule does the same. A child sent
  later for a parent already working is attached with ``parent_id``. As in ``BackBroker``,
  cancelling any order of a bracket cancels the whole bracket.
* ``oco=``: the order joins the group of the order it names (the group's first order). The
  members placed with ``oco=`` share an ``oco_group`` at the broker; the first one was sent
  before anyone named it, so the bridge itself cancels the others when any member executes or
  ends (``BackBroker._ococheck``) — applied at the next bar, so unlike a backtest the first
  member and another one can both fill on the same bar.
* ``valid``: ``None`` → ``GTC`` (Backtrader's meaning: good till cancelled); ``Order.DAY`` or ``0``
  → ``DAY`` (the broker expires it at the end of its session; the paper broker gives it the first
  session it can trade in, where a backtest expires a DAY order placed on a daily bar before the
  next bar); a date, datetime, timedelta or number of days → ``GTC`` at the broker plus a cancel
  request from the bridge once the feed's clock passes it, reported to the strategy as
  ``Expired``.
* ``client_order_id`` is ``"<client_prefix>-<order.ref>"``.

The reason of a rejection is in ``order.info["reason"]`` (and the risk rule, if any, in
``order.info["risk_rule"]``).
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import datetime as dt
import logging
import math
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

import backtrader as bt

from tradelab.brokers.records import BrokerOrder, Fill, OrderRequest, OrderStatus
from tradelab.errors import ConfigError, OrderError
from tradelab.live._bridge_links import BridgeLinks
from tradelab.live.feed import LiveFeed, bar_time_to_bt_num
from tradelab.live.outcome import SubmitOutcome

__all__ = ["BridgeBroker", "CancelFunction", "SubmitFunction"]

#: The trader's submission: risk check, audit, then the broker. Runs on the broker's loop.
SubmitFunction = Callable[[OrderRequest], Awaitable[SubmitOutcome]]
#: The trader's cancel by ``client_order_id``; returns the broker's order (or anything).
CancelFunction = Callable[[str], Awaitable[Any]]

_log = logging.getLogger(__name__)

_ORDER_TYPES = {
    bt.Order.Market: "market",
    bt.Order.Limit: "limit",
    bt.Order.Stop: "stop",
    bt.Order.StopLimit: "stop_limit",
    bt.Order.StopTrail: "trailing_stop",
}
#: Order parameters Backtrader passes to ``buy``/``sell`` besides the core ones; the rest of the
#: keyword arguments become ``order.info``, as in ``BackBroker``.
_ORDER_FIELDS = ("trailamount", "trailpercent", "parent", "transmit", "histnotify")
_UNSUPPORTED = {
    bt.Order.Close: "Close (fill at the next close)",
    bt.Order.StopTrailLimit: "StopTrailLimit",
    bt.Order.Historical: "Historical",
}


class BridgeBroker(BridgeLinks, bt.broker.BrokerBase):
    """A Backtrader broker whose orders go through the live trader's ``submit`` coroutine.

    Args:
        submit: The trader's submission coroutine function (risk manager + audit + broker).
        cancel: The trader's cancel coroutine function, by ``client_order_id``.
        loop: The broker's asyncio loop, where ``submit`` and ``cancel`` run.
        client_prefix: Prefix of every ``client_order_id``, unique per run (e.g. the runner id).
        cash: Starting cash of the book (the account's cash).
        positions: Starting positions by symbol, ``{symbol: (shares, average_cost)}``.
        outside_value: Value of holdings in symbols this run has no feed for, counted in
            :meth:`getvalue` at that fixed value.
        submit_timeout: Seconds to wait for ``submit``/``cancel``; a submission still running
            then leaves the order ``Submitted`` and its late answer is applied when it comes.

    Example:
        >>> broker = BridgeBroker(submit=engine_submit, cancel=engine_cancel,  # doctest: +SKIP
        ...                       loop=loop, client_prefix="sma-1a2b", cash=100_000.0)
        >>> cerebro.setbroker(broker)                                          # doctest: +SKIP
    """

    def __init__(
        self,
        *,
        submit: SubmitFunction,
        cancel: CancelFunction,
        loop: asyncio.AbstractEventLoop,
        client_prefix: str,
        cash: float,
        positions: Mapping[str, tuple[float, float]] | None = None,
        outside_value: float = 0.0,
        submit_timeout: float = 10.0,
    ) -> None:
        super().__init__()
        if not callable(submit) or not callable(cancel):
            raise ConfigError("BridgeBroker needs submit and cancel coroutine functions")
        if not (isinstance(cash, int | float) and math.isfinite(cash)):
            raise ConfigError(f"BridgeBroker cash must be a finite number, got {cash!r}")
        if not (isinstance(submit_timeout, int | float) and submit_timeout > 0):
            raise ConfigError(f"BridgeBroker submit_timeout must be > 0 s, got {submit_timeout!r}")
        self._submit_fn = submit
        self._cancel_fn = cancel
        self._loop = loop
        self.client_prefix = client_prefix
        self.startingcash = self.cash = float(cash)
        self._seed_positions = dict(positions or {})
        self.outside_value = float(outside_value)
        self.submit_timeout = float(submit_timeout)
        self.positions: collections.defaultdict[Any, bt.Position] = collections.defaultdict(
            bt.Position
        )
        self.orders: list[bt.Order] = []  # every order, in submission order (like BackBroker)
        self.notifs: collections.deque[bt.Order] = collections.deque()
        self._events: collections.deque[tuple[str, Any]] = collections.deque()
        self._by_client_id: dict[str, bt.Order] = {}
        self._client_ids: dict[int, str] = {}
        self._cancel_requested: set[int] = set()
        self._expiry: dict[int, float] = {}  # order ref -> bt day number after which it expires
        self._held: dict[int, list[tuple[bt.Order, OrderRequest]]] = {}  # bracket ref -> held
        self._brackets: dict[int, list[bt.Order]] = {}  # bracket ref -> its orders
        self._oco_leader: dict[int, int] = {}  # order ref -> the first order of its OCO group
        self._oco_members: dict[int, list[bt.Order]] = {}  # first order's ref -> the group
        self._feeds: list[LiveFeed] = []
        self.submitted = 0
        self.denied = 0
        self.failed = 0
        self.fills = 0
        self.last_error = ""
        self._book: dict[str, Any] = {"cash": self.cash, "value": self.cash + outside_value}

    # ------------------------------------------------------------------ wiring
    def set_feeds(self, feeds: Sequence[LiveFeed]) -> None:
        """The run's live feeds: events are applied with their bars; backfill blocks orders."""
        self._feeds = list(feeds)

    def owns(self, client_order_id: str) -> bool:
        """Whether ``client_order_id`` was made by this bridge (for routing broker events)."""
        return client_order_id.startswith(self.client_prefix + "-")

    def on_order(self, order: BrokerOrder) -> None:
        """Queue a broker order update (thread-safe; the listener calls it on the loop)."""
        self._events.append(("order", order))

    def on_fill(self, fill: Fill) -> None:
        """Queue a fill (thread-safe; the listener calls it on the loop)."""
        self._events.append(("fill", fill))

    def book(self) -> dict[str, Any]:
        """Cash, value and positions as of the last Cerebro iteration (safe from any thread)."""
        return dict(self._book)

    # ------------------------------------------------------------------ Backtrader API
    def start(self) -> None:
        super().start()
        by_symbol = {feed.symbol: feed for feed in self._feeds}
        for symbol, (size, price) in self._seed_positions.items():
            data = by_symbol.get(symbol)
            if data is None:
                raise ConfigError(
                    f"a starting position in {symbol} has no feed in this run; "
                    "count it in outside_value instead"
                )
            if size:
                self.positions[data] = bt.Position(size=size, price=price)

    def getcash(self) -> float:
        """Cash in the book."""
        return self.cash

    get_cash = getcash

    def getvalue(self, datas: Iterable[Any] | None = None) -> float:
        """Cash plus positions at their feed's last close, computed as ``BackBroker`` does."""
        return self._value(list(datas) if datas else None)

    get_value = getvalue

    def getposition(self, data: Any) -> bt.Position:
        """The book's position in ``data`` (the live object, as ``BackBroker`` returns it)."""
        return self.positions[data]

    def get_orders_open(self, safe: bool = False) -> list[bt.Order]:
        """Orders still alive (clones if ``safe``)."""
        alive = [o for o in self.orders if o.alive()]
        return [o.clone() for o in alive] if safe else alive

    def orderstatus(self, order: bt.Order) -> int:
        return order.status

    def get_notification(self) -> bt.Order | None:
        try:
            return self.notifs.popleft()
        except IndexError:
            return None

    def notify(self, order: bt.Order) -> None:
        self.notifs.append(order.clone())

    def buy(
        self,
        owner: Any,
        data: Any,
        size: float,
        price: float | None = None,
        plimit: float | None = None,
        exectype: int | None = None,
        valid: Any = None,
        tradeid: int = 0,
        oco: Any = None,
        **kwargs: Any,
    ) -> bt.Order:
        """Place a buy order (Backtrader's ``BrokerBase.buy`` arguments)."""
        return self._create(
            bt.BuyOrder, owner, data, size, price, plimit, exectype, valid, tradeid, oco, kwargs
        )

    def sell(
        self,
        owner: Any,
        data: Any,
        size: float,
        price: float | None = None,
        plimit: float | None = None,
        exectype: int | None = None,
        valid: Any = None,
        tradeid: int = 0,
        oco: Any = None,
        **kwargs: Any,
    ) -> bt.Order:
        """Place a sell order (Backtrader's ``BrokerBase.sell`` arguments)."""
        return self._create(
            bt.SellOrder, owner, data, size, price, plimit, exectype, valid, tradeid, oco, kwargs
        )

    def cancel(self, order: bt.Order) -> bool:
        """Ask the trader to cancel ``order``; it becomes ``Canceled`` when the broker confirms.

        As in ``BackBroker``, the other orders of its bracket and of its OCO group go too.
        """
        held = self._held.pop(self._bracket_ref(order), None)
        if held:  # never sent: cancelled here, like BackBroker's unsent bracket
            for member, _ in held:
                member.cancel()
                self.notify(member)
            return True
        client_id = self._client_ids.get(order.ref)
        if client_id is None or not order.alive() or order.ref in self._cancel_requested:
            return False
        self._cancel_requested.add(order.ref)
        self._request_cancel(client_id)
        self._cancel_linked(order)
        return True

    def next(self) -> None:
        """Apply the broker events queued since the last bar (only in iterations with a bar)."""
        if self._feeds and not any([q.take_tick() for q in {f.bar_queue for f in self._feeds}]):
            return
        while self._events:
            kind, payload = self._events.popleft()
            try:
                if kind == "fill":
                    self._apply_fill(payload)
                elif kind == "order":
                    self._apply_order(payload)
                elif kind == "group":
                    self._apply_group_outcome(*payload)
                else:
                    self._apply_outcome(*payload)
            except Exception as exc:  # a malformed event must not stop the strategy
                self.last_error = f"could not apply a broker {kind} event: {exc!r}"
                _log.exception(
                    "bridge %s: could not apply %s event %r", self.client_prefix, kind, payload
                )
        self._expire_orders()
        self._book = {
            "cash": self.cash,
            "value": self._value(None),
            "positions": {
                getattr(d, "_name", str(d)): p.size for d, p in self.positions.items() if p.size
            },
        }

    # ------------------------------------------------------------------ submission
    def _create(
        self,
        kind: type[bt.Order],
        owner: Any,
        data: Any,
        size: float,
        price: float | None,
        plimit: float | None,
        exectype: int | None,
        valid: Any,
        tradeid: int,
        oco: Any,
        extra: dict[str, Any],
    ) -> bt.Order:
        fields = {name: extra.pop(name) for name in _ORDER_FIELDS if name in extra}
        order = kind(
            owner=owner,
            data=data,
            size=size,
            price=price,
            pricelimit=plimit,
            exectype=exectype,
            valid=valid,
            tradeid=tradeid,
            **fields,
        )
        return self._place(order, oco, extra)

    def _place(self, order: bt.Order, oco: Any, info: Mapping[str, Any]) -> bt.Order:
        order.addinfo(**info)
        order.addcomminfo(self.getcommissioninfo(order.data))
        self.orders.append(order)
        key = self._bracket_ref(order)
        problem = self._unsupported(order)
        if not problem and order.parent is not None and key not in self._held and \
                not order.parent.alive():
            problem = "its parent order is no longer working (rejected, cancelled or done)"
        if problem:
            for member, _ in self._held.pop(key, []):  # the rest of its bracket cannot go
                self._reject(member, f"bracket order {order.ref} was rejected: {problem}")
            return self._reject(order, problem)
        try:
            request = self._request(order, oco)
        except OrderError as exc:
            for member, _ in self._held.pop(key, []):
                self._reject(member, f"bracket order {order.ref} was rejected: {exc}")
            return self._reject(order, str(exc))
        if not order.transmit:  # held until its group is complete, as BackBroker does
            self._held.setdefault(key, []).append((order, request))
            return order
        group = [*self._held.pop(key, []), (order, request)]
        if len(group) > 1:
            return self._submit_group(group)[-1]
        return self._submit_one(order, request)

    def _submit_one(self, order: bt.Order, request: OrderRequest) -> bt.Order:
        client_id = request.client_order_id
        self._client_ids[order.ref] = client_id
        self._by_client_id[client_id] = order  # before sending: events may come first
        if order.parent is not None:
            bracket = self._brackets.setdefault(order.parent.ref, [order.parent])
            if order not in bracket:
                bracket.append(order)
        future = asyncio.run_coroutine_threadsafe(self._submit_fn(request), self._loop)
        try:
            outcome = future.result(self.submit_timeout)
        except concurrent.futures.TimeoutError:
            self.last_error = (
                f"submission of {client_id} did not answer within "
                f"{self.submit_timeout:g} s; its answer is applied when it comes"
            )
            _log.warning("bridge: %s", self.last_error)
            order.submit(self)
            self.notify(order)
            future.add_done_callback(lambda f: self._events.append(("outcome", (client_id, f))))
            return order
        except Exception as exc:
            self.failed += 1
            return self._reject(order, f"submission failed: {exc}")
        return self._settle(order, outcome)

    def _client_id(self, order: bt.Order) -> str:
        return f"{self.client_prefix}-{order.ref}"

    def _settle(self, order: bt.Order, outcome: Any) -> bt.Order:
        if not isinstance(outcome, SubmitOutcome):
            self.failed += 1
            return self._reject(
                order, f"submit returned {type(outcome).__name__}, not a SubmitOutcome"
            )
        if not outcome.accepted:
            self.denied += 1
            rule = outcome.decision.rule
            order.addinfo(risk_rule=rule)
            reason = outcome.decision.reason or "denied by the live trader"
            return self._reject(order, f"denied ({rule}): {reason}" if rule else reason)
        self.submitted += 1
        if order.status == bt.Order.Created:
            order.submit(self)
            self.notify(order)
        if order.status == bt.Order.Submitted:
            order.accept(self)
            self.notify(order)
        if outcome.order is not None:
            self._events.append(("order", outcome.order))
        return order

    def _apply_outcome(self, client_id: str, future: concurrent.futures.Future[Any]) -> None:
        order = self._by_client_id.get(client_id)
        if order is None or not order.alive():
            return
        try:
            outcome = future.result(0)
        except Exception as exc:
            self.failed += 1
            self._reject(order, f"submission failed: {exc}")
            return
        self._settle(order, outcome)

    def _reject(self, order: bt.Order, reason: str) -> bt.Order:
        order.addinfo(reason=reason)
        order.reject(self)
        self.notify(order)
        _log.info("bridge %s: order %s rejected: %s", self.client_prefix, order.ref, reason)
        return order

    def _unsupported(self, order: bt.Order) -> str:
        if order.exectype in _UNSUPPORTED:
            return (
                f"exectype {_UNSUPPORTED[order.exectype]} is not supported live; use "
                "Market, Limit, Stop, StopLimit or StopTrail"
            )
        backfilling = [f.symbol for f in self._feeds if f.backfilling]
        if backfilling:
            return (
                f"no orders during backfill: {', '.join(backfilling)} still on historical "
                "bars; place orders once the feeds report LIVE"
            )
        return ""

    def _request(self, order: bt.Order, oco: Any = None) -> OrderRequest:
        kind = _ORDER_TYPES[order.exectype]
        limit = stop = amount = percent = None
        if kind == "limit":
            limit = order.price
        elif kind == "stop":
            stop = order.price
        elif kind == "stop_limit":
            stop, limit = order.price, order.pricelimit
        elif kind == "trailing_stop":  # the first stop, as Backtrader computed it
            stop = order.created.price
            if order.trailamount:
                amount = order.trailamount
            else:
                percent = order.trailpercent * 100.0 if order.trailpercent else None
        raw = order.p.valid
        if raw is None:
            tif = "GTC"
        elif (isinstance(raw, dt.timedelta) and raw == bt.Order.DAY) or (
            isinstance(raw, int | float) and not raw
        ):
            tif = "DAY"
        else:
            tif = "GTC"
            self._expiry[order.ref] = (
                float(order.valid)
                if not isinstance(raw, int | float)
                else order.data.datetime[0] + float(raw)
            )
        group = None if oco is None else self._join_oco(order, oco)
        parent = order.parent
        return OrderRequest(
            client_order_id=self._client_id(order),
            symbol=order.data._name,
            side="buy" if order.isbuy() else "sell",
            quantity=abs(order.created.size),
            order_type=kind,
            limit_price=limit,
            stop_price=stop,
            time_in_force=tif,
            trail_amount=amount,
            trail_percent=percent,
            parent_id=None if parent is None else self._client_id(parent),
            oco_group=group,
        )

    def _request_cancel(self, client_id: str) -> None:
        future = asyncio.run_coroutine_threadsafe(self._cancel_fn(client_id), self._loop)
        try:
            result = future.result(self.submit_timeout)
        except Exception as exc:
            self.last_error = f"cancel of {client_id} failed: {exc!r}"
            _log.warning("bridge: %s", self.last_error)
            return
        if isinstance(result, BrokerOrder):
            self._events.append(("order", result))

    # ------------------------------------------------------------------ broker events
    def _apply_order(self, update: BrokerOrder) -> None:
        order = self._by_client_id.get(update.client_order_id)
        if order is None or not order.alive():
            return
        status = update.status
        if update.request.order_type == "trailing_stop" and update.request.stop_price:
            order.created.price = update.request.stop_price  # the trailed stop, as in BackBroker
        if status is OrderStatus.SUBMITTED and order.status == bt.Order.Submitted:
            order.accept(self)
            self.notify(order)
        elif status is OrderStatus.REJECTED:
            self._reject(order, update.reason or "rejected by the broker")
            self._cancel_linked(order)
        elif status is OrderStatus.CANCELLED:
            order.addinfo(reason=update.reason)
            requested = order.ref in self._cancel_requested
            expiring = order.ref in self._expiry and requested
            day = not requested and update.request.time_in_force == "DAY"
            if expiring or (day and not self._ended_by_link(order)):
                order.status = bt.Order.Expired
                order.executed.dt = order.data.datetime[0]
            else:
                order.cancel()
            self.notify(order)
            self._cancel_linked(order)
        # PARTIALLY_FILLED / FILLED: the fills drive the execution bookkeeping

    def _apply_fill(self, fill: Fill) -> None:
        order = self._by_client_id.get(fill.client_order_id)
        if order is None:
            return
        data = order.data
        was_alive, status_before = order.alive(), order.status
        size = fill.quantity if order.isbuy() else -fill.quantity
        price = fill.price
        comminfo = self.getcommissioninfo(data)
        position = self.positions[data]
        pprice_orig = position.price
        psize, pprice, opened, closed = position.pseudoupdate(size, price)
        pnl = comminfo.profitandloss(-closed, pprice_orig, price)
        commission = fill.commission
        if not opened:
            closedcomm, openedcomm = commission, 0.0
        elif not closed:
            closedcomm, openedcomm = 0.0, commission
        else:  # a reversal: split like Backtrader's IB broker
            closedcomm = commission * closed / size
            openedcomm = commission - closedcomm
        # cash exactly as BackBroker._execute books it (shortcash=True, stock-like)
        cash = self.cash
        if closed:
            closedvalue = comminfo.getvaluesize(-closed, pprice_orig)
            closecash = closedvalue
            if closedvalue > 0:
                closecash /= comminfo.get_leverage()
            cash += closecash + pnl * comminfo.stocklike
            cash -= closedcomm
        else:
            closedvalue = 0.0
        if opened:
            openedvalue = comminfo.getvaluesize(opened, price)
            opencash = openedvalue
            if openedvalue > 0:
                opencash /= comminfo.get_leverage()
            cash -= opencash
            cash -= openedcomm
            position.adjbase = price
        else:
            openedvalue = 0.0
        self.cash = cash
        execsize = closed + opened
        position.update(execsize, price, data.datetime.datetime())
        order.execute(
            bar_time_to_bt_num(fill.timestamp),
            execsize,
            price,
            closed,
            closedvalue,
            closedcomm,
            opened,
            openedvalue,
            openedcomm,
            comminfo.margin,
            pnl,
            psize,
            pprice,
        )
        order.addcomminfo(comminfo)
        self.fills += 1
        if was_alive:
            if abs(order.executed.remsize) <= 1e-9:
                order.completed()
            else:
                order.partial()
        else:  # a fill reported after the order ended: booked, the order keeps its status
            order.status = status_before
        self.notify(order)
        if order.ref in self._oco_leader:  # BackBroker's _ococheck: any execution ends the rest
            self._cancel_linked_oco(order)
        if order.parent is not None and order.status == bt.Order.Completed:
            self._cancel_linked(order)  # BackBroker's _bracketize: an exit done ends the others

    def _expire_orders(self) -> None:
        for ref, until in list(self._expiry.items()):
            order = self._by_client_id.get(self._client_ids.get(ref, ""))
            if order is None or not order.alive():
                self._expiry.pop(ref, None)
                continue
            if ref not in self._cancel_requested and order.data.datetime[0] > until:
                self._cancel_requested.add(ref)
                self._request_cancel(self._client_ids[ref])

    # ------------------------------------------------------------------ valuation
    def _value(self, datas: list[Any] | None) -> float:
        """``BackBroker._get_value`` for stock-like positions with ``shortcash=True``."""
        pos_value_unlever = 0.0
        for data in datas or self.positions:
            comminfo = self.getcommissioninfo(data)
            position = self.positions[data]
            close = data.close[0] if len(data) else position.price
            dvalue = comminfo.getvaluesize(position.size, close)
            dunrealized = comminfo.profitandloss(position.size, position.price, close)
            if datas and len(datas) == 1:
                return dvalue
            if dvalue > 0:
                dvalue -= dunrealized
                pos_value_unlever += dvalue / comminfo.get_leverage()
                pos_value_unlever += dunrealized
            else:
                pos_value_unlever += dvalue
        return self.cash + pos_value_unlever + self.outside_value
