"""IBBroker: the :class:`~tradelab.brokers.Broker` protocol on TWS / IB Gateway via ib_async.

Only ib_async's asynchronous API is used (the broker runs inside Ray Serve's event loop, where
blocking calls fail). How the broker stays consistent with IB:

* **Idempotency.** Every order carries its ``client_order_id`` in IB's ``orderRef``. The book
  (:mod:`tradelab.brokers._ib_orders`) holds every order of this session and every order IB
  reports (open, completed, executed), so ``place_order`` with a known id returns that order and
  sends nothing, also after a reconnect or a restart.
* **Connection** (:mod:`tradelab.brokers._ib_connection`). ``connect`` retries with
  :meth:`IBConfig.backoff` between attempts. A socket drop, a failed health check
  (``reqCurrentTime`` every ``health_interval``) or IB's error 1100 / 2110 marks the broker down
  and emits ``"connection" {connected: False}``; a reconnect (or error 1101 / 1102) reconciles
  open orders, completed orders, executions and positions before ``"connection" {connected:
  True}``. Orders are refused with :class:`BrokerError` meanwhile.
* **Pacing** (:mod:`tradelab.brokers._ib_pacing`). Every message we send waits on a
  sliding-window pacer (``messages_per_second``), ib_async's own throttle is set to the same
  rate, and historical requests have their own pacer (``historical_requests`` per
  ``historical_window``).
* **Events.** ``"order"`` on every change of an order, ``"fill"`` once per IB execId (with its
  commission), ``"bar"`` per real-time 5-second bar, ``"connection"`` on every change.
* **Linked orders.** :meth:`IBBroker.place_group` sends a bracket the way IB asks for it: the
  parent and every child but the last with ``transmit=False`` (TWS holds them), the last with
  ``transmit=True`` (TWS sends them all), children with ``parentId`` = the parent's order id.
  IB then holds the children until the parent fills and cancels them with it; an ``ocaGroup``
  (``ocaType`` 2) makes the exits one-cancels-other. See :mod:`tradelab.brokers._ib_orders`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any

from ib_async import IB, Trade
from ib_async import Fill as IBFill

from tradelab.brokers._ib_connection import (
    ConnectionState,
    IBConnection,
    IBConnectionAttempt,
    event_handler,
    mask_account,
)
from tradelab.brokers._ib_groups import IBGroups
from tradelab.brokers._ib_market import (
    IBMarketData,
    account_values,
    portfolio_marks,
    position_view,
)
from tradelab.brokers._ib_orders import IBOrderBook, ib_order
from tradelab.brokers._ib_pacing import RequestPacer, message_pacer
from tradelab.brokers.base import BrokerEvents
from tradelab.brokers.ib_config import IBConfig
from tradelab.brokers.records import (
    AccountSnapshot,
    Bar,
    BrokerOrder,
    BrokerPosition,
    Fill,
    OrderRequest,
    OrderStatus,
)
from tradelab.errors import BrokerError, DuplicateOrderError, OrderError, OrderNotFoundError

__all__ = ["IBBroker", "IBConnectionAttempt", "mask_account"]

_log = logging.getLogger(__name__)

#: Seconds an execution waits for its commission report before it is recorded without one.
COMMISSION_WAIT = 2.0


class IBBroker(IBGroups, BrokerEvents):
    """The broker on Interactive Brokers: orders, fills, positions and bars from TWS / Gateway.

    Args:
        config: Where IB runs, which client id and account, timeouts and pacing.

    Example:
        With IB Gateway (paper) listening on port 4002:

        >>> import asyncio
        >>> from tradelab.brokers import IBBroker, IBConfig, OrderRequest
        >>> async def demo():
        ...     broker = IBBroker(IBConfig(port=4002, client_id=7))
        ...     broker.add_listener(lambda kind, payload: print(kind, payload))
        ...     await broker.connect()
        ...     order = await broker.place_order(OrderRequest(
        ...         client_order_id="demo-1", symbol="AAPL", side="buy", quantity=1,
        ...         order_type="limit", limit_price=100.0, time_in_force="GTC"))
        ...     await broker.cancel_order("demo-1")
        ...     await broker.disconnect()
        >>> asyncio.run(demo())  # doctest: +SKIP
    """

    name = "ib"

    def __init__(self, config: IBConfig | None = None) -> None:
        super().__init__()
        self.config = config or IBConfig()
        self._ib = IB()
        self._pacer = message_pacer(self.config.messages_per_second)
        # ib_async's own throttle, for the messages it sends by itself (startup, resubscribe)
        self._ib.client.MaxRequests = self._pacer.count
        self._ib.client.RequestsInterval = self._pacer.window
        self._connection = IBConnection(
            self._ib,
            self.config,
            self._pacer,
            sync=self._sync,
            went_down=self._went_down,
            announce=self._announce,
        )
        self._book = IBOrderBook(self.emit)
        self._market = IBMarketData(
            self._ib,
            pacer=self._pacer,
            history_pacer=RequestPacer(
                self.config.historical_requests, self.config.historical_window
            ),
            timeout=self.config.request_timeout,
            emit=self.emit,
            require_socket=self._connection.require_socket,
        )
        self._announced = False  # whether listeners were last told "connected"
        self._commission_timer: asyncio.TimerHandle | None = None
        self._order_lock = asyncio.Lock()
        self._reconcile_lock = asyncio.Lock()
        self._waiters: list[asyncio.Future[None]] = []
        self._positions: dict[str, BrokerPosition] = {}
        self._snapshot: AccountSnapshot | None = None
        ib = self._ib
        ib.orderStatusEvent += self._on_trade
        ib.openOrderEvent += self._on_trade
        ib.execDetailsEvent += self._on_execution
        ib.commissionReportEvent += self._on_commission
        ib.barUpdateEvent += self._market.on_bar_update

    # ------------------------------------------------------------------ connection
    @property
    def connected(self) -> bool:
        """Whether orders can be sent now (connected and reconciled)."""
        return self._connection.state == "connected"

    @property
    def state(self) -> ConnectionState:
        """``disconnected``, ``connecting``, ``reconciling``, ``connected`` or ``lost`` (IB
        reported lost connectivity to its servers; the socket is up)."""
        return self._connection.state

    @property
    def account_id(self) -> str:
        """The traded account, masked (``""`` before the first connection)."""
        account = self._connection.account
        return mask_account(account) if account else ""

    @property
    def connection_attempts(self) -> tuple[IBConnectionAttempt, ...]:
        """The latest connection attempts (at most 200), oldest first."""
        return tuple(self._connection.attempts)

    async def connect(self) -> None:
        """Connect (retrying with backoff), reconcile, and start the subscribed bar streams.

        Raises:
            BrokerError: No connection after ``IBConfig.max_attempts`` attempts, or the
                configured account is not managed by this gateway.
        """
        await self._connection.connect()

    async def disconnect(self) -> None:
        """Disconnect; open orders stay at IB. Stops reconnecting and health checks."""
        if self._commission_timer is not None:
            self._commission_timer.cancel()
            self._commission_timer = None
        await self._connection.disconnect()

    def _went_down(self) -> None:
        self._book.forget_trades()
        self._market.forget_streams()
        self._notify()

    def _announce(self, connected: bool, reason: str) -> None:
        if connected != self._announced:
            self._announced = connected
            self.emit("connection", {"connected": connected, "reason": reason})
        self._notify()

    def _notify(self) -> None:
        waiters, self._waiters = self._waiters, []
        for future in waiters:
            if not future.done():
                future.set_result(None)

    async def _wait_for(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Wait until ``predicate()`` holds (re-checked on every broker event)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate():
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            future: asyncio.Future[None] = loop.create_future()
            self._waiters.append(future)
            try:
                await asyncio.wait_for(future, remaining)
            except TimeoutError:
                return predicate()
        return True

    async def _sync(self, fetch: bool, restart_streams: bool) -> None:
        """Reconcile the book with IB, then (re)start the bar streams (before trading)."""
        await self._reconcile(fetch=fetch)
        await self._market.resubscribe(restart=restart_streams)

    async def _reconcile(self, *, fetch: bool) -> None:
        """Bring the book in line with IB: open and completed orders, executions, positions.

        ``fetch`` asks IB again; without it the lists ib_async loaded on connect are used.
        Open orders IB no longer knows are closed (see ``IBOrderBook.close_missing``).
        """
        async with self._reconcile_lock:
            ib = self._ib
            if fetch:
                requests: list[Callable[[], Any]] = [
                    ib.reqOpenOrdersAsync,
                    lambda: ib.reqCompletedOrdersAsync(False),
                    ib.reqExecutionsAsync,
                    ib.reqPositionsAsync,
                ]
                for request in requests:
                    await self._pacer.acquire()
                    await asyncio.wait_for(request(), self.config.request_timeout)
            seen = self._book.sync(ib.trades(), ib.fills())
            closed = self._book.close_missing(seen)
            self._schedule_commission_flush()
            self._position_view()
            _log.info(
                "reconciled with IB: %d open orders, %d fills, %d positions, %d closed as missing",
                len(self._book.orders(open_only=True)),
                len(self._book.fills()),
                len(self._positions),
                len(closed),
            )
            self._notify()

    # ------------------------------------------------------------------ ib_async events
    @event_handler
    def _on_trade(self, trade: Trade) -> None:
        self._book.absorb_trade(trade)
        self._notify()

    @event_handler
    def _on_execution(self, trade: Trade, fill: IBFill) -> None:
        self._book.absorb_trade(trade)
        self._book.absorb_fill(fill)
        self._schedule_commission_flush()
        self._notify()

    @event_handler
    def _on_commission(self, trade: Trade, fill: IBFill, report: Any) -> None:
        self._book.absorb_trade(trade)
        self._book.absorb_fill(fill)
        self._notify()

    def _schedule_commission_flush(self) -> None:
        if self._book.waiting_for_commissions and self._commission_timer is None:
            self._commission_timer = asyncio.get_running_loop().call_later(
                COMMISSION_WAIT, self._flush_commissions
            )

    def _flush_commissions(self) -> None:
        self._commission_timer = None
        self._book.flush_fills(self._ib.fills())
        self._notify()

    # ------------------------------------------------------------------ market data
    async def has_symbol(self, symbol: str) -> bool:
        """Whether IB knows ``symbol`` as a US stock (the answer is cached per broker).

        Raises:
            BrokerError: Not connected and the symbol was not looked up before.
        """
        try:
            await self._market.contract(symbol)
        except OrderError:
            return False
        return True

    async def subscribe_bars(self, symbols: Sequence[str]) -> None:
        """Stream IB's real-time 5-second bars of ``symbols`` as ``"bar"`` events (restarted
        after every reconnect). Before :meth:`connect`, the symbols are only remembered.

        Raises:
            OrderError: IB does not know a symbol.
        """
        await self._market.subscribe(symbols, live=self._connection.state in ("connected", "lost"))

    async def history(self, symbol: str, count: int | None = None) -> list[Bar]:
        """The last ``count`` daily bars of ``symbol`` from IB (``reqHistoricalData``, TRADES,
        regular hours), oldest first, stamped at midnight UTC of their session. Paced to
        ``historical_requests`` per ``historical_window``; empty if IB sends none in time.

        Raises:
            OrderError: IB does not know the symbol.
            BrokerError: Not connected.
        """
        return await self._market.history(symbol, count)

    def last_price(self, symbol: str) -> float | None:
        """The latest real-time bar close, else IB's portfolio mark (held symbols), else the
        latest historical close; ``None`` if none is known."""
        return self._market.last_price(symbol, self._marks())

    def _marks(self) -> dict[str, float]:
        if not self._connection.live:
            return {}
        return portfolio_marks(self._ib, self._connection.account)

    # ------------------------------------------------------------------ orders
    async def place_order(self, request: OrderRequest) -> BrokerOrder:
        """Send an order, or return the one IB already holds under its ``client_order_id``.

        Waits up to ``request_timeout`` for IB's acknowledgement; the returned order may
        already be filled, or rejected (with the reason).

        Raises:
            BrokerError: Not connected, or reconciling after a reconnect (nothing was sent).
            OrderError: IB does not know the symbol.
            DuplicateOrderError: IB holds an order with this ``orderRef`` that tradelab cannot
                manage (another order type).
        """
        client_id = request.client_order_id
        existing = self._book.get(client_id)
        if existing is not None:
            return existing
        foreign = self._book.foreign(client_id)
        if foreign is not None:
            raise DuplicateOrderError(f"{foreign}; nothing was sent. Use a new client_order_id")
        self._connection.require_ready(f"place order {client_id!r}")
        contract = await self._market.contract(request.symbol)
        async with self._order_lock:
            existing = self._book.get(client_id)
            if existing is not None:
                return existing
            parent_order_id = self._parent_order_id(request)
            await self._pacer.acquire()
            self._connection.require_ready(f"place order {client_id!r}")
            try:
                trade = self._ib.placeOrder(
                    contract,
                    ib_order(request, self._connection.account, parent_order_id=parent_order_id),
                )
            except ConnectionError as exc:
                raise BrokerError(
                    f"cannot place order {client_id!r}: the connection to IB "
                    "closed; nothing was sent"
                ) from exc
            self._book.add_placed(request, trade)
        await self._wait_for(
            lambda: self._status(client_id) is not OrderStatus.PENDING or not self.connected,
            self.config.request_timeout,
        )
        return self._get(client_id)

    def _status(self, client_order_id: str) -> OrderStatus:
        return self._get(client_order_id).status

    def _get(self, client_order_id: str) -> BrokerOrder:
        order = self._book.get(client_order_id)
        if order is None:
            raise OrderNotFoundError(
                f"no order with client_order_id {client_order_id!r} at IB "
                "(this session or reconciled)"
            )
        return order

    def _live_trade(self, order: BrokerOrder, action: str) -> Trade:
        self._connection.require_ready(f"{action} order {order.client_order_id!r}")
        trade = self._book.trade(order.client_order_id)
        if trade is None or trade.isDone():
            raise OrderError(
                f"cannot {action} order {order.client_order_id!r}: IB lists it for "
                "another client id or it is no longer working"
            )
        return trade

    async def cancel_order(self, client_order_id: str) -> BrokerOrder:
        """Cancel an open order and wait (up to ``request_timeout``) for IB to confirm; a
        terminal order is returned unchanged.

        Raises:
            OrderNotFoundError: No order has this id.
            BrokerError: Not connected (nothing was sent).
        """
        order = self._get(client_order_id)
        if order.status.is_terminal:
            return order
        await self._pacer.acquire()
        order = self._get(client_order_id)
        if order.status.is_terminal:
            return order
        trade = self._live_trade(order, "cancel")
        self._ib.cancelOrder(trade.order)
        await self._wait_for(
            lambda: self._status(client_order_id).is_terminal or not self.connected,
            self.config.request_timeout,
        )
        return self._get(client_order_id)

    async def modify_order(
        self,
        client_order_id: str,
        *,
        quantity: float | None = None,
        limit_price: float | None = None,
        stop_price: float | None = None,
    ) -> BrokerOrder:
        """Change an open order's quantity or prices: IB gets the order again under the same
        order id. Waits up to ``request_timeout`` for IB to acknowledge.

        Raises:
            OrderNotFoundError: No order has this id.
            OrderError: The order is finished, or the new terms are invalid.
            BrokerError: Not connected (nothing was sent).
        """
        order = self._get(client_order_id)
        if order.status.is_terminal:
            raise OrderError(
                f"order {client_order_id!r} is {order.status.value}; only open "
                "orders can be modified"
            )
        changes: dict[str, Any] = {}
        if quantity is not None:
            if quantity < order.filled_quantity:
                raise OrderError(
                    f"quantity {quantity} is below the {order.filled_quantity} "
                    f"shares already filled of {client_order_id!r}"
                )
            changes["quantity"] = quantity
        if limit_price is not None:
            changes["limit_price"] = limit_price
        if stop_price is not None:
            changes["stop_price"] = stop_price
        request = OrderRequest(**{**order.request.to_dict(), **changes})
        await self._pacer.acquire()
        trade = self._live_trade(self._get(client_order_id), "modify")
        replacement = ib_order(request, self._connection.account)
        for name in ("totalQuantity", "lmtPrice", "auxPrice", "trailStopPrice", "trailingPercent"):
            setattr(trade.order, name, getattr(replacement, name))
        self._ib.placeOrder(trade.contract, trade.order)  # logs "Modify" on the trade
        mark = len(trade.log)
        self._book.set_request(client_order_id, request)
        await self._wait_for(  # IB's answer (a status, "Modified", or an error) is logged too
            lambda: (
                len(trade.log) > mark
                or self._status(client_order_id).is_terminal
                or not self.connected
            ),
            self.config.request_timeout,
        )
        return self._get(client_order_id)

    # ------------------------------------------------------------------ views
    async def orders(self, *, open_only: bool = False) -> list[BrokerOrder]:
        """Every order of this session and every one IB reported (open, completed), oldest
        first; kept across reconnects."""
        return self._book.orders(open_only=open_only)

    async def fills(self) -> list[Fill]:
        """Every execution learnt this session (``fill_id`` = IB's execId), oldest first."""
        return self._book.fills()

    async def positions(self) -> dict[str, BrokerPosition]:
        """Non-zero stock positions of the account (the last known ones while disconnected)."""
        return self._position_view()

    def _position_view(self) -> dict[str, BrokerPosition]:
        if self._connection.live:
            self._positions = position_view(self._ib, self._connection.account, self._market.prices)
        return dict(self._positions)

    async def account(self) -> AccountSnapshot:
        """Cash, equity and positions from IB's account updates (see :meth:`account_now`)."""
        return self.account_now()

    def account_now(self) -> AccountSnapshot:
        """The account now, without awaiting: ``TotalCashValue`` as cash, ``NetLiquidation``
        re-marked to the latest bar prices as equity, and the positions. While disconnected,
        the last snapshot taken.

        Raises:
            BrokerError: No account data has been received yet.
        """
        if not self._connection.live:
            if self._snapshot is None:
                raise BrokerError(
                    f"no IB account data yet: the broker is {self._connection.describe()}"
                )
            return self._snapshot
        values = account_values(self._ib, self._connection.account)
        equity, cash = values.get("NetLiquidation"), values.get("TotalCashValue")
        if equity is None or cash is None:
            if self._snapshot is not None:
                return self._snapshot
            raise BrokerError(
                "IB has not sent NetLiquidation and TotalCashValue for account "
                f"{self.account_id} yet"
            )
        positions = self._position_view()
        marks = self._marks()
        remark = sum(
            p.quantity * (p.market_price - marks[s]) for s, p in positions.items() if s in marks
        )
        self._snapshot = AccountSnapshot(
            account_id=self.account_id,
            cash=cash,
            equity=equity + remark,
            positions=positions,
            realized_pnl=values.get("RealizedPnL", 0.0),
            commissions=self._book.commissions,
        )
        return self._snapshot
