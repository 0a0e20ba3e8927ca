"""``FakeTWS``: a TWS / IB Gateway stand-in on 127.0.0.1 that the real ib_async client talks to.

The server runs its own asyncio loop in a background thread, so synchronous tests and code
running in any other event loop (e.g. inside Ray Serve) can connect to it. All control
methods are thread-safe: they run on the server's loop and wait for the result.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Literal, TypeVar

from tests.fake_tws._gateway import Gateway
from tests.fake_tws._history import HistoricalProvider
from tests.fake_tws._market import MarketDesk
from tests.fake_tws._session import ReceivedMessage
from tests.fake_tws._state import Book, FakeExecution, FakeOrder, FakePosition, Instrument
from tests.fake_tws._wire import Field

T = TypeVar("T")

DEFAULT_SYMBOLS: Mapping[str, int] = {"AAA": 100001, "BBB": 100002, "CCC": 100003}
"""Symbols the fake knows when none are given (symbol → conId)."""
SUPPORTED_VERSIONS = range(164, 179)


class FakeTWS:
    """A wire-level fake IB Gateway for tests.

    Server-side state (orders, executions, positions, cash) lives on the fake, not on the
    connection, so it survives client disconnects the way a real gateway's does.

    Args:
        host: Interface to bind (keep 127.0.0.1).
        port: Port to bind; 0 picks a free one (read it back from ``port``).
        account: The single managed account.
        server_version: Protocol version announced (164–178; 176 matches IB Gateway 10.19+).
        symbols: Known stocks, symbol → conId. Unknown symbols get error 200.
        prices: Last price per symbol; symbols without one default to 100.0.
        historical_bars: Per-symbol DataFrames (open/high/low/close/volume, UTC index) or a
            callable taking a ``HistoricalQuery`` and returning the bars to send.
        auto_fill: Fill MKT orders at once and LMT/STP/TRAIL orders when marketable at the
            current price (a child only once its parent has filled); otherwise orders rest
            until ``fill_order``. Brackets (``transmit``/``parentId``) and OCA groups behave
            as at IB either way (see ``_gateway``).
        commission_per_share: Per-share commission.
        min_commission: Minimum commission per order.
        cash: Starting cash of the account.
        primary_exchange: Primary exchange reported for every symbol.
        connect_notices: Send the usual 2104/2106/2158 farm-OK notices on connect.
        historical_request_limit: ``(count, seconds)`` pacing limit for historical
            requests (error 162 beyond it), or None for no limit.

    Example:
        >>> with FakeTWS(symbols={"AAA": 1}) as fake:  # doctest: +SKIP
        ...     ib = await IB().connectAsync("127.0.0.1", fake.port, clientId=1)
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        account: str = "DU1234567",
        server_version: int = 176,
        symbols: Mapping[str, int] | None = None,
        prices: Mapping[str, float] | None = None,
        historical_bars: HistoricalProvider | None = None,
        auto_fill: bool = True,
        commission_per_share: float = 0.005,
        min_commission: float = 1.0,
        cash: float = 1_000_000.0,
        primary_exchange: str = "NASDAQ",
        connect_notices: bool = True,
        historical_request_limit: tuple[int, float] | None = None,
    ) -> None:
        if server_version not in SUPPORTED_VERSIONS:
            raise ValueError(
                f"server_version={server_version} is not served by the fake; "
                f"use {SUPPORTED_VERSIONS.start}..{SUPPORTED_VERSIONS.stop - 1} (176 is typical)"
            )
        if not account:
            raise ValueError("account must be a non-empty account code such as 'DU1234567'")
        symbols = dict(DEFAULT_SYMBOLS if symbols is None else symbols)
        for name, given in (("prices", prices), ("historical_bars", historical_bars)):
            unknown = sorted(set(given) - set(symbols)) if isinstance(given, Mapping) else []
            if unknown:
                raise ValueError(
                    f"{name} given for unknown symbols {unknown}; known: {sorted(symbols)} "
                    "(add them to symbols=)"
                )
        instruments = {
            symbol: Instrument(symbol, con_id, primary_exchange)
            for symbol, con_id in symbols.items()
        }
        book = Book(
            account=account,
            instruments=instruments,
            prices={symbol: 100.0 for symbol in symbols} | dict(prices or {}),
            cash=cash,
            commission_per_share=commission_per_share,
            min_commission=min_commission,
        )
        self.host = host
        self._requested_port = port
        self._port = 0
        self._gateway = Gateway(
            book=book,
            server_version=server_version,
            auto_fill=auto_fill,
            connect_notices=connect_notices,
            market=lambda gateway: MarketDesk(
                gateway,
                historical_bars=historical_bars,
                historical_request_limit=historical_request_limit,
            ),
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._refuse_mode: Literal["refuse", "close"] | None = None

    # --- lifecycle -----------------------------------------------------------------------

    def start(self) -> FakeTWS:
        """Start the server thread and listen; returns self."""
        if self._thread is not None:
            raise RuntimeError("FakeTWS is already running")
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            loop.run_forever()

        self._loop = loop
        self._thread = threading.Thread(target=run, name="fake-tws", daemon=True)
        self._thread.start()
        ready.wait(5)
        self._run_coroutine(self._listen(self._requested_port))
        return self

    def stop(self) -> None:
        """Abort all connections, stop listening and end the server thread."""
        if self._loop is None or self._thread is None:
            return
        self._run_coroutine(self._shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()
        self._loop = None
        self._thread = None

    def __enter__(self) -> FakeTWS:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def _listen(self, port: int) -> None:
        self._server = await asyncio.start_server(self._on_connection, self.host, port)
        self._port = self._server.sockets[0].getsockname()[1]

    async def _unlisten(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _shutdown(self) -> None:
        self._gateway.drop_all()
        await self._unlisten()
        current = asyncio.current_task()
        tasks = [task for task in asyncio.all_tasks() if task is not current]
        if tasks:  # aborted connections end by themselves; cancel only stragglers
            _, pending = await asyncio.wait(tasks, timeout=2)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    async def _on_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        if self._refuse_mode == "close":
            writer.transport.abort()
            return
        await self._gateway.serve(reader, writer)

    def _run_coroutine(self, coroutine: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
        if self._loop is None:
            coroutine.close()
            raise RuntimeError("FakeTWS is not running: call start() or use it as a context")
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    def _call(self, function: Callable[[], T], timeout: float = 10.0) -> T:
        """Run ``function`` on the server loop and return its result (thread-safe)."""
        if self._loop is None:
            raise RuntimeError("FakeTWS is not running: call start() or use it as a context")
        if threading.current_thread() is self._thread:
            return function()
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                future.set_result(function())
            except BaseException as exc:  # handed to the caller
                future.set_exception(exc)

        self._loop.call_soon_threadsafe(run)
        return future.result(timeout)

    # --- facts ---------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The bound port (valid after ``start``)."""
        return self._port

    @property
    def account(self) -> str:
        """The managed account code."""
        return self._gateway.book.account

    @property
    def server_version(self) -> int:
        """The protocol version the fake announces."""
        return self._gateway.server_version

    @property
    def connection_count(self) -> int:
        """API connections accepted (handshake completed) since start."""
        return self._gateway.connection_count

    @property
    def active_connections(self) -> int:
        """Connections currently past startApi."""
        return self._call(lambda: len(self._gateway.ready_sessions()))

    @property
    def client_ids(self) -> list[int]:
        """Client ids of the connections currently past startApi."""
        return self._call(
            lambda: sorted(
                s.client_id for s in self._gateway.ready_sessions() if s.client_id is not None
            )
        )

    @property
    def place_order_count(self) -> int:
        """placeOrder requests received (including modifications and rejections)."""
        return self._gateway.place_order_count

    @property
    def protocol_errors(self) -> list[str]:
        """Requests the fake could not read, and fake bugs; tests expect this to stay empty."""
        return self._call(lambda: list(self._gateway.protocol_errors))

    # --- server-side state ---------------------------------------------------------------

    def orders(self) -> list[FakeOrder]:
        """All orders the fake holds, in placement order."""
        return self._call(lambda: [o.view() for o in self._gateway.book.orders.values()])

    def order(self, order_id: int, *, client_id: int | None = None) -> FakeOrder:
        """One order by id (and client id when several clients used the id)."""
        return self._call(lambda: self._gateway.book.find_order(order_id, client_id).view())

    def executions(self) -> list[FakeExecution]:
        """All executions, oldest first."""
        return self._call(lambda: list(self._gateway.book.executions))

    def positions(self) -> list[FakePosition]:
        """Non-flat positions by symbol."""
        return self._call(self._gateway.book.position_views)

    def account_values(self) -> dict[str, float]:
        """NetLiquidation, TotalCashValue, BuyingPower … as the fake reports them."""
        return self._call(self._gateway.book.account_values)

    def price(self, symbol: str) -> float | None:
        """Current last price of a symbol."""
        return self._call(lambda: self._gateway.book.prices.get(symbol))

    def set_price(self, symbol: str, price: float) -> None:
        """Set the last price; pushes a tick to subscribers and, with auto-fill, fills
        resting orders that became marketable."""

        def apply() -> None:
            book = self._gateway.book
            if symbol not in book.instruments:
                raise KeyError(f"unknown symbol {symbol!r}; known: {sorted(book.instruments)}")
            book.prices[symbol] = float(price)
            self._gateway.market.publish_price(symbol, float(price))
            for order in list(book.orders.values()):
                if order.instrument.symbol == symbol:
                    self._gateway.try_fill(order)

        self._call(apply)

    def set_position(self, symbol: str, quantity: float, avg_cost: float) -> None:
        """Overwrite a server-side position and push it to subscribers."""

        def apply() -> None:
            book = self._gateway.book
            if symbol not in book.instruments:
                raise KeyError(f"unknown symbol {symbol!r}; known: {sorted(book.instruments)}")
            book.set_position(symbol, quantity, avg_cost)
            self._gateway.account.publish_position(book.instruments[symbol])

        self._call(apply)

    def fill_order(
        self,
        order_id: int,
        quantity: float | None = None,
        price: float | None = None,
        *,
        client_id: int | None = None,
    ) -> FakeExecution:
        """Fill a resting order, fully (default) or partly, and report it to the client.

        Args:
            order_id: The client's order id.
            quantity: Shares to fill; default the remaining quantity.
            price: Fill price; default the current price, else the limit price.
            client_id: Needed only when several clients used ``order_id``.
        """

        def apply() -> FakeExecution:
            book = self._gateway.book
            order = book.find_order(order_id, client_id)
            fill_price = price
            if fill_price is None:
                fill_price = book.prices.get(order.instrument.symbol, order.limit_price)
            if fill_price is None:
                raise ValueError(f"no price to fill order {order_id} at; pass price=")
            shares = order.remaining if quantity is None else float(quantity)
            return self._gateway.execute(order, shares, float(fill_price))

        return self._call(apply)

    def cancel_order(
        self, order_id: int, *, client_id: int | None = None, reason: str = ""
    ) -> FakeOrder:
        """Cancel an open order from the server side (expiry, broker action)."""

        def apply() -> FakeOrder:
            order = self._gateway.book.find_order(order_id, client_id)
            if not order.is_open:
                raise ValueError(f"order {order_id} is {order.status}, it cannot be cancelled")
            self._gateway.cancel(order, reason)
            return order.view()

        return self._call(apply)

    def reject_next_order(self, reason: str = "Not enough buying power") -> None:
        """Reject the next new order with error 201 (it ends Inactive)."""
        self._call(lambda: self._gateway.rejections.append(reason))

    def reject_order(self, order_ref: str, reason: str = "Invalid price") -> None:
        """Reject the order with this ``orderRef`` when it is transmitted (error 201)."""

        def apply() -> None:
            self._gateway.rejected_refs[order_ref] = reason

        self._call(apply)

    def held_orders(self) -> list[FakeOrder]:
        """Orders received with ``transmit=False`` and not transmitted yet."""
        return self._call(lambda: [o.view() for o in self._gateway.held.values()])

    # --- connection faults and pushes ----------------------------------------------------

    def drop_connections(self) -> int:
        """Abort every client connection (RST); returns how many were dropped."""
        return self._call(self._gateway.drop_all)

    def refuse_connections(
        self, refuse: bool = True, *, mode: Literal["refuse", "close"] = "refuse"
    ) -> None:
        """Stop (or resume) accepting clients.

        Args:
            refuse: True to stop accepting, False to accept again on the same port.
            mode: ``"refuse"`` closes the listening socket (connect gets ECONNREFUSED, like a
                gateway that is down); ``"close"`` accepts and at once aborts the socket
                (like a gateway whose API is not ready; ib_async then times out).
        """
        if mode not in ("refuse", "close"):
            raise ValueError(f"mode must be 'refuse' or 'close', got {mode!r}")
        self._refuse_mode = mode if refuse else None
        if refuse and mode == "refuse":
            self._run_coroutine(self._unlisten())
        elif self._server is None:
            self._run_coroutine(self._listen(self._port))

    def send_error(self, code: int, message: str, req_id: int = -1) -> int:
        """Send an error/notice (e.g. 1100, 1102, 2110) to every client; returns how many."""

        def apply() -> int:
            sessions = self._gateway.ready_sessions()
            for session in sessions:
                self._gateway.error_to(session, req_id, code, message)
            return len(sessions)

        return self._call(apply)

    def send_raw_message(self, fields: Sequence[Field], *, client_id: int | None = None) -> int:
        """Send arbitrary fields as one message (for protocol-error tests)."""
        return self._call(lambda: self._gateway.send_all(fields, client_id))

    def push_realtime_bar(
        self,
        symbol: str,
        time: datetime | int,
        open: float,
        high: float,
        low: float,
        close: float,
        volume: float,
        *,
        wap: float | None = None,
        count: int = 1,
    ) -> int:
        """Push a 5-second bar to reqRealTimeBars subscribers of ``symbol``; returns how
        many subscriptions received it."""
        epoch = int(time.timestamp()) if isinstance(time, datetime) else int(time)
        average = wap if wap is not None else round((high + low + close) / 3.0, 6)
        values = (open, high, low, close, volume, average, count)
        return self._call(lambda: self._gateway.market.push_realtime_bar(symbol, epoch, values))

    def realtime_subscribers(self, symbol: str | None = None) -> int:
        """Live reqRealTimeBars subscriptions (for ``symbol`` when given)."""
        return self._call(lambda: self._gateway.market.realtime_subscribers(symbol))

    def ignore_requests(self, *msg_ids: int) -> None:
        """Leave requests with these ids unanswered (simulate a stalled gateway);
        call with no ids to answer everything again."""
        ids = set(msg_ids)
        self._call(lambda: setattr(self._gateway, "ignored", ids))

    # --- what clients sent ---------------------------------------------------------------

    def messages(self, msg_id: int | None = None) -> list[ReceivedMessage]:
        """Messages received from clients (with ``msg_id`` when given), oldest first."""
        with self._gateway.received_changed:
            received = list(self._gateway.received)
        return [m for m in received if msg_id is None or m.msg_id == msg_id]

    def received(self, msg_id: int) -> int:
        """How many messages with ``msg_id`` clients sent (3 = placeOrder, 20 = history …)."""
        return len(self.messages(msg_id))

    def request_times(self, msg_id: int) -> list[float]:
        """``time.monotonic()`` arrival times of requests with ``msg_id`` (pacing checks)."""
        return [m.time for m in self.messages(msg_id)]

    def wait_for_message(
        self, msg_id: int, count: int = 1, timeout: float = 5.0
    ) -> ReceivedMessage:
        """Block until ``count`` messages with ``msg_id`` arrived; return the last one.

        Do not call this from the event loop of an ib_async client (it would block it);
        use ``wait_for_message_async`` there.
        """
        condition = self._gateway.received_changed
        deadline = time.monotonic() + timeout
        with condition:
            while True:
                matching = [m for m in self._gateway.received if m.msg_id == msg_id]
                if len(matching) >= count:
                    return matching[count - 1]
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(
                        f"fake TWS got {len(matching)} message(s) with id {msg_id} in "
                        f"{timeout}s, expected {count}"
                    )
                condition.wait(left)

    async def wait_for_message_async(
        self, msg_id: int, count: int = 1, timeout: float = 5.0
    ) -> ReceivedMessage:
        """Like ``wait_for_message`` but polls without blocking the caller's event loop."""
        deadline = time.monotonic() + timeout
        while True:
            matching = self.messages(msg_id)
            if len(matching) >= count:
                return matching[count - 1]
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"fake TWS got {len(matching)} message(s) with id {msg_id} in "
                    f"{timeout}s, expected {count}"
                )
            await asyncio.sleep(0.01)


def known_symbols(symbols: Iterable[str], first_con_id: int = 100001) -> dict[str, int]:
    """Build a symbols mapping with consecutive conIds: ``{"AAA": 100001, ...}``."""
    return {symbol: first_con_id + n for n, symbol in enumerate(symbols)}
