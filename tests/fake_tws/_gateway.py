"""The fake gateway's protocol engine: handshake, request dispatch and orders.

Runs entirely on the fake's own event loop thread; ``FakeTWS`` marshals control calls here.
Position/account requests live in ``_account.py``, market data in ``_market.py``.

Linked orders behave as at IB: an order sent with ``transmit=False`` is held (no message back)
until an order of its group (its parent or a child of it) arrives with ``transmit=True``, which
transmits the held ones first, in the order they came. A child (``parentId``) is
``PreSubmitted`` and does not fill until its parent has filled, then ``Submitted``; a parent
cancelled or rejected cancels its open children. An ``ocaGroup`` member's fill cancels the
other open members of the group (``ocaType`` 1) or reduces them in proportion (2 and 3).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from inspect import isawaitable

from tests.fake_tws import _messages as msg
from tests.fake_tws import _order_messages as orders_msg
from tests.fake_tws._account import AccountDesk
from tests.fake_tws._market import MarketDesk
from tests.fake_tws._requests import PlaceOrderRequest, read_place_order
from tests.fake_tws._session import ReceivedMessage, Session
from tests.fake_tws._state import Book, FakeExecution, OrderRecord, ib_time
from tests.fake_tws._wire import Field, FieldReader, ProtocolError, decode_fields, read_frame

_log = logging.getLogger("tests.fake_tws")
_VERSION_RANGE = re.compile(r"^v(\d+)(?:\.\.(\d+))?")
_CONNECT_NOTICES = (
    (2104, "Market data farm connection is OK:usfarm"),
    (2106, "HMDS data farm connection is OK:ushmds"),
    (2158, "Sec-def data farm connection is OK:secdefnj"),
)


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _same_group(sent: OrderRecord, held: OrderRecord) -> bool:
    """Whether a held order is ``sent``'s parent, sibling or child (one bracket)."""
    parent = sent.parent_id
    return bool(
        (parent and held.order_id == parent)
        or (parent and held.parent_id == parent)
        or held.parent_id == sent.order_id
    )


def _client_id(session: Session) -> int:
    """The session's API client id (dispatch lets only started sessions through)."""
    if session.client_id is None:
        raise ProtocolError("request before startApi")
    return session.client_id


class Gateway:
    """Protocol engine shared by all connections; holds the server-side ``Book``."""

    def __init__(
        self,
        *,
        book: Book,
        server_version: int,
        auto_fill: bool,
        connect_notices: bool,
        market: Callable[[Gateway], MarketDesk],
    ) -> None:
        self.book = book
        self.server_version = server_version
        self.auto_fill = auto_fill
        self.connect_notices = connect_notices
        self.sessions: list[Session] = []
        self.connection_count = 0
        self.place_order_count = 0
        self.protocol_errors: list[str] = []
        self.ignored: set[int] = set()
        self.rejections: list[str] = []
        self.rejected_refs: dict[str, str] = {}  # orderRef -> reason: reject that order
        self.held: dict[tuple[int, int], OrderRecord] = {}  # sent with transmit=False
        self.received: list[ReceivedMessage] = []
        self.received_changed = threading.Condition()
        self._numbers = itertools.count(1)
        self.account = AccountDesk(self)
        self.market = market(self)
        self._handlers: dict[int, Callable[[Session, list[str]], object]] = {
            msg.START_API: self._start_api,
            msg.PLACE_ORDER: self._place_order,
            msg.CANCEL_ORDER: self._cancel_order,
            msg.REQ_OPEN_ORDERS: self._open_orders,
            msg.REQ_ALL_OPEN_ORDERS: self._all_open_orders,
            msg.REQ_AUTO_OPEN_ORDERS: self._nothing,
            msg.REQ_COMPLETED_ORDERS: self._completed_orders,
            msg.REQ_EXECUTIONS: self._executions,
            msg.REQ_IDS: self._ids,
            msg.REQ_MANAGED_ACCTS: self._managed_accounts,
            msg.REQ_CURRENT_TIME: self._current_time,
            msg.REQ_GLOBAL_CANCEL: self._global_cancel,
            msg.REQ_MARKET_DATA_TYPE: self._nothing,
            **self.account.handlers(),
            **self.market.handlers(),
        }

    # --- connections ---------------------------------------------------------------------

    def ready_sessions(self, client_id: int | None = None) -> list[Session]:
        """Sessions past startApi (of one client id when given)."""
        return [
            s for s in self.sessions if s.ready and (client_id is None or s.client_id == client_id)
        ]

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Serve one connection until EOF, reset or abort."""
        session = Session(reader, writer, next(self._numbers))
        self.sessions.append(session)
        try:
            await self._handshake(session)
            while not session.closed:
                fields = decode_fields(await read_frame(reader))
                await self._dispatch(session, fields)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        except ProtocolError as exc:
            self.protocol_error(str(exc))
        except asyncio.CancelledError:
            pass  # server shutdown; finishing normally keeps asyncio's stream callback quiet
        finally:
            if session in self.sessions:
                self.sessions.remove(session)
            session.close()

    async def _handshake(self, session: Session) -> None:
        prefix = await session.reader.readexactly(4)
        if prefix != b"API\0":
            raise ProtocolError(f"handshake must start with b'API\\0', got {prefix!r}")
        text = (await read_frame(session.reader)).decode(errors="replace")
        match = _VERSION_RANGE.match(text)
        if not match:
            raise ProtocolError(f"handshake version range unreadable: {text!r}")
        low = int(match.group(1))
        high = int(match.group(2) or low)
        version = min(self.server_version, high)
        if version < low:
            raise ProtocolError(f"client wants versions {low}..{high}, fake serves {version}")
        session.version = version
        session.send([version, ib_time(_now())])
        self.connection_count += 1

    async def _dispatch(self, session: Session, fields: list[str]) -> None:
        try:
            msg_id = int(fields[0])
        except (IndexError, ValueError):
            self.protocol_error(f"message without a numeric id: {fields!r}")
            return
        with self.received_changed:
            self.received.append(
                ReceivedMessage(
                    msg_id, tuple(fields), session.client_id, session.number, time.monotonic()
                )
            )
            self.received_changed.notify_all()
        if msg_id in self.ignored:
            return
        if session.client_id is None and msg_id != msg.START_API:
            self.protocol_error(f"request {msg_id} before startApi: {fields!r}")
            return
        handler = self._handlers.get(msg_id)
        if handler is None:
            _log.info("fake TWS ignores unsupported request %s: %s", msg_id, fields)
            return
        try:
            result = handler(session, fields)
            if isawaitable(result):
                await result
        except ProtocolError as exc:
            self.protocol_error(str(exc))
            session.send(msg.error(-1, 320, f"Error reading request: {exc}", session.version))
        except Exception:  # a bug in the fake: record it so the test fails loudly
            self.protocol_error(f"fake TWS failed on {fields!r}:\n{traceback.format_exc()}")

    def protocol_error(self, text: str) -> None:
        """Record a layout disagreement or a fake bug (tests assert there are none)."""
        _log.error("fake TWS protocol error: %s", text)
        self.protocol_errors.append(text)

    def send_all(self, fields: Sequence[Field], client_id: int | None = None) -> int:
        """Send one message to every ready session (of ``client_id`` when given)."""
        sessions = self.ready_sessions(client_id)
        for session in sessions:
            session.send(fields)
        return len(sessions)

    def error_to(self, session: Session, req_id: int, code: int, text: str) -> None:
        """Send an error message to one session."""
        session.send(msg.error(req_id, code, text, session.version))

    def drop_all(self) -> int:
        """Abort every connection (RST) and forget it at once."""
        dropped = list(self.sessions)
        self.sessions.clear()
        for session in dropped:
            session.abort()
        return len(dropped)

    # --- session requests ----------------------------------------------------------------

    async def _start_api(self, session: Session, fields: list[str]) -> None:
        reader = FieldReader(fields, "startApi")
        reader.skip(2)  # 71, version 2
        client_id = reader.integer()
        reader.skip(1)  # optional capabilities
        reader.expect_end()
        # A client that just disconnected may not have been noticed yet: allow a moment.
        deadline = time.monotonic() + 0.5
        while self.ready_sessions(client_id) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        if self.ready_sessions(client_id):
            self.error_to(
                session,
                -1,
                326,
                "Unable to connect as the client id is already in use. "
                "Retry with a unique client id.",
            )
            session.close()
            return
        session.client_id = client_id
        session.send(msg.managed_accounts([self.book.account]))
        session.send(msg.next_valid_id(self.book.next_order_id(client_id)))
        if self.connect_notices:
            for code, text in _CONNECT_NOTICES:
                self.error_to(session, -1, code, text)

    def _nothing(self, session: Session, fields: list[str]) -> None:
        """Requests that need no answer (cancels, auto-bind, market data type)."""

    def _ids(self, session: Session, fields: list[str]) -> None:
        session.send(msg.next_valid_id(self.book.next_order_id(_client_id(session))))

    def _managed_accounts(self, session: Session, fields: list[str]) -> None:
        session.send(msg.managed_accounts([self.book.account]))

    def _current_time(self, session: Session, fields: list[str]) -> None:
        session.send(msg.current_time(int(time.time())))

    # --- orders --------------------------------------------------------------------------

    def _place_order(self, session: Session, fields: list[str]) -> None:
        request = read_place_order(fields, session.version)
        self.place_order_count += 1
        client_id = _client_id(session)
        order_id = request.order_id
        contract = request.contract
        instrument = self.book.instrument(symbol=contract.symbol, con_id=contract.con_id)
        if instrument is None:
            self.error_to(
                session, order_id, 200, "No security definition has been found for the request"
            )
            return
        existing = self.book.orders.get((client_id, order_id))
        if existing is not None:
            self._modify(session, existing, request)
            return
        record = OrderRecord(
            order_id=order_id,
            client_id=client_id,
            perm_id=0 if request.what_if else self.book.next_perm_id(),
            instrument=instrument,
            exchange=contract.exchange or "SMART",
            action=request.action,
            quantity=request.quantity,
            order_type=request.order_type,
            limit_price=request.limit_price,
            aux_price=request.aux_price,
            tif=request.tif or "DAY",
            order_ref=request.order_ref,
            account=request.account or self.book.account,
            outside_rth=request.outside_rth,
            oca_group=request.oca_group,
            oca_type=request.oca_type,
            parent_id=request.parent_id,
            trail_stop_price=request.trail_stop_price,
            trailing_percent=request.trailing_percent,
            transmitted=request.transmit,
            good_after_time=request.good_after_time,
            good_till_date=request.good_till_date,
        )
        if request.what_if:
            self._what_if(session, record)
            return
        if not request.transmit:
            self.held[(client_id, order_id)] = record  # TWS keeps it, sends nothing back
            return
        for key, held in list(self.held.items()):  # the group this order completes
            if key[0] == client_id and _same_group(record, held):
                del self.held[key]
                held.transmitted = True
                self._transmit(session, held)
        self._transmit(session, record)

    def _transmit(self, session: Session, record: OrderRecord) -> None:
        """A new order reaches the (fake) exchange: rejected, held for its parent, or working."""
        client_id, order_id = record.client_id, record.order_id
        self.book.orders[(client_id, order_id)] = record
        reason = self.rejected_refs.pop(record.order_ref, None)
        if reason is None and self.rejections:
            reason = self.rejections.pop(0)
        if reason is not None:
            record.status = "Inactive"
            record.completed_status = f"Rejected: {reason}"
            record.completed_time = ib_time(_now())
            self.error_to(session, order_id, 201, f"Order rejected - reason:{reason}")
            self._end_children(record)
            return
        parent = self.book.orders.get((client_id, record.parent_id)) if record.parent_id else None
        if parent is not None and not parent.is_open and parent.status != "Filled":
            self.cancel(record, f"parent order {parent.order_id} is {parent.status}")
            return
        waiting = parent is not None and parent.status != "Filled"
        record.status = "PreSubmitted" if waiting else "Submitted"
        self.publish_order(record)
        self.try_fill(record)

    def _what_if(self, session: Session, record: OrderRecord) -> None:
        price = self.book.mark(record.instrument.symbol)
        margin = round(0.25 * record.quantity * price, 2)
        commission = max(self.book.min_commission, record.quantity * self.book.commission_per_share)
        record.status = "PreSubmitted"
        session.send(
            orders_msg.open_order(
                record, session.version, what_if=True, margin=margin, commission=commission
            )
        )

    def _modify(self, session: Session, order: OrderRecord, request: PlaceOrderRequest) -> None:
        if not order.is_open:
            self.error_to(session, order.order_id, 103, "Duplicate order id")
            return
        order.quantity = request.quantity
        order.order_type = request.order_type
        order.limit_price = request.limit_price
        order.aux_price = request.aux_price
        order.trail_stop_price = request.trail_stop_price or order.trail_stop_price
        order.trailing_percent = request.trailing_percent
        order.tif = request.tif or order.tif
        order.order_ref = request.order_ref
        self.publish_order(order)
        self.try_fill(order)

    def publish_order(self, order: OrderRecord) -> None:
        """Send openOrder + orderStatus for an order to its owner's sessions."""
        for session in self.ready_sessions(order.client_id):
            session.send(orders_msg.open_order(order, session.version))
            session.send(orders_msg.order_status(order))

    def try_fill(self, order: OrderRecord) -> None:
        """Fill an order completely now if auto-fill is on and it is marketable."""
        if not self.auto_fill:
            return
        price = self.book.fill_price_now(order)
        if price is not None:
            self.execute(order, order.remaining, price)

    def execute(self, order: OrderRecord, shares: float, price: float) -> FakeExecution:
        """Fill ``shares`` of an order and report it: execDetails, openOrder, orderStatus,
        commissionReport to the owner; position/portfolio/account updates to subscribers."""
        before = order.remaining
        execution = self.book.fill(order, shares, price, _now())
        for session in self.ready_sessions(order.client_id):
            session.send(orders_msg.exec_details(-1, execution, order.instrument, session.version))
            session.send(orders_msg.open_order(order, session.version))
            session.send(orders_msg.order_status(order))
            session.send(orders_msg.commission_report(execution))
        self.account.publish_position(order.instrument)
        if order.oca_group:
            self._oca_fill(order, order.remaining / before if before else 0.0)
        if order.status == "Filled":
            for child in self._children(order):
                if child.status == "PreSubmitted":
                    child.status = "Submitted"
                    self.publish_order(child)
                    self.try_fill(child)
        return execution

    def _children(self, order: OrderRecord) -> list[OrderRecord]:
        return [
            o
            for (owner, _), o in self.book.orders.items()
            if owner == order.client_id and o.parent_id == order.order_id and o.is_open
        ]

    def _end_children(self, order: OrderRecord) -> None:
        """A parent that ended without filling takes its open children with it."""
        if order.filled:
            return
        for child in self._children(order):
            self.cancel(child, f"parent order {order.order_id} was {order.status}")

    def _oca_fill(self, filler: OrderRecord, left: float) -> None:
        """The other open members of ``filler``'s OCA group after it filled: cancelled
        (ocaType 1, or a complete fill) or reduced to ``left`` of their open shares."""
        for (owner, _), other in list(self.book.orders.items()):
            if other is filler or owner != filler.client_id or not other.is_open:
                continue
            if other.oca_group != filler.oca_group:
                continue
            if filler.oca_type == 1 or left <= 0:
                self.cancel(other, f"OCA group {filler.oca_group}: order {filler.order_id} filled")
            else:
                other.quantity = other.filled + other.remaining * left
                self.publish_order(other)

    def cancel(self, order: OrderRecord, reason: str = "") -> None:
        """Cancel an open order and tell its owner (orderStatus, then error 202)."""
        self.book.cancel(order, _now())
        for session in self.ready_sessions(order.client_id):
            session.send(orders_msg.order_status(order))
            self.error_to(session, order.order_id, 202, f"Order Canceled - reason:{reason}")
        self._end_children(order)

    def _cancel_order(self, session: Session, fields: list[str]) -> None:
        reader = FieldReader(fields, "cancelOrder")
        reader.skip(2)  # 4, version 1
        order_id = reader.integer()
        if session.version >= 169:
            reader.skip(1)  # manualCancelOrderTime
        reader.expect_end()
        order = self.book.orders.get((session.client_id or 0, order_id))
        if order is None:
            self.error_to(
                session,
                order_id,
                10147,
                f"OrderId {order_id} that needs to be cancelled is not found.",
            )
        elif not order.is_open:
            self.error_to(
                session,
                order_id,
                161,
                "Cancel attempted when order is not in a cancellable state. "
                f"Order permId ={order.perm_id}",
            )
        else:
            self.cancel(order)

    def _global_cancel(self, session: Session, fields: list[str]) -> None:
        for order in list(self.book.orders.values()):
            if order.is_open:
                self.cancel(order, "Global Cancel")

    def _send_open_orders(self, session: Session, orders: list[OrderRecord]) -> None:
        for order in sorted(orders, key=lambda o: o.perm_id):
            session.send(orders_msg.open_order(order, session.version))
            session.send(orders_msg.order_status(order))
        session.send(orders_msg.open_order_end())

    def _open_orders(self, session: Session, fields: list[str]) -> None:
        own = [o for o in self.book.orders.values() if o.is_open]
        own = [o for o in own if o.client_id == session.client_id]
        self._send_open_orders(session, own)

    def _all_open_orders(self, session: Session, fields: list[str]) -> None:
        self._send_open_orders(session, [o for o in self.book.orders.values() if o.is_open])

    def _completed_orders(self, session: Session, fields: list[str]) -> None:
        reader = FieldReader(fields, "reqCompletedOrders")
        reader.skip(2)  # 99, apiOnly
        reader.expect_end()
        done = [o for o in self.book.orders.values() if not o.is_open]
        for order in sorted(done, key=lambda o: o.perm_id):
            session.send(orders_msg.completed_order(order, session.version))
        session.send(orders_msg.completed_orders_end())

    def _executions(self, session: Session, fields: list[str]) -> None:
        reader = FieldReader(fields, "reqExecutions")
        reader.skip(2)  # 7, version 3
        req_id = reader.integer()
        client_filter = reader.integer()
        account_filter = reader.text()
        reader.skip(1)  # time filter (ignored)
        symbol_filter = reader.text()
        sec_type_filter = reader.text()
        reader.skip(1)  # exchange filter (ignored)
        side_filter = reader.text().upper()
        reader.expect_end()
        wanted_client = client_filter or session.client_id
        for execution in self.book.executions:
            instrument = self.book.instruments[execution.symbol]
            if (wanted_client and execution.client_id != wanted_client) or (
                account_filter and execution.account != account_filter
            ):
                continue
            if (symbol_filter and execution.symbol != symbol_filter) or (
                sec_type_filter and instrument.sec_type != sec_type_filter
            ):
                continue
            if side_filter and {"BUY": "BOT", "SELL": "SLD"}.get(side_filter) != execution.side:
                continue
            session.send(orders_msg.exec_details(req_id, execution, instrument, session.version))
            session.send(orders_msg.commission_report(execution))
        session.send(orders_msg.exec_details_end(req_id))
