"""PaperBroker: fills orders against a replayed or synthetic bar stream, with backtest costs.

Fill rules are Backtrader's, so a strategy run live on replayed bars trades as in its backtest:
orders placed between bars fill on the next bar — market at the open (slipped), limit at the
open if it is better than the limit or else at the limit if the bar reaches it, stop when the bar
trades through the stop (slipped, like a market order). Limit orders fill at most
``volume_participation`` of the bar's volume per bar (partial fills); ``DAY`` orders expire when
the session they first traded in ends. Commission, SEC fee and slippage come from the same cost
model as backtests. Bracket children, OCO groups and trailing stops follow Backtrader's rules
too (see :mod:`tradelab.brokers._paper_links`).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tradelab.brokers._paper_fills import WorkingOrder, match_price
from tradelab.brokers._paper_links import LinkedOrders
from tradelab.brokers.base import BrokerEvents
from tradelab.brokers.linked import check_group
from tradelab.brokers.records import (
    AccountSnapshot,
    Bar,
    BrokerOrder,
    BrokerPosition,
    Fill,
    OrderRequest,
    OrderStatus,
    utc_now,
)
from tradelab.costs import COST_MODELS, CostConfig, cost_model, trade_cost
from tradelab.errors import (
    BrokerError,
    ConfigError,
    DuplicateOrderError,
    OrderError,
    UnknownNameError,
)

__all__ = ["PaperBroker", "PaperBrokerConfig", "StreamConsumer"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True, slots=True)
class PaperBrokerConfig:
    """Settings of a :class:`PaperBroker`.

    Attributes:
        account_id: Shown as the account's id.
        cash: Starting cash, > 0.
        costs: Cost model name (``"ib-fixed"``, ``"ib-pro"``, ``"none"``), as in backtests.
        volume_participation: Largest share of a bar's volume one limit order fills per bar,
            in (0, 1]; ``None`` fills limit orders in full.
        speed: Bars (time steps) per second of the replay; 0 runs as fast as the stream's
            lockstep consumers allow.
        autostart: Start the stream on :meth:`PaperBroker.connect`; otherwise on
            :meth:`PaperBroker.start_stream`.
        lockstep_timeout: Seconds the stream waits for a slow consumer before moving on.
        allow_negative_cash: A margin account: buys may take cash below zero. Off (a cash
            account, as Backtrader's broker): a buy fill that would leave cash negative is
            rejected instead.
    """

    account_id: str = "PAPER"
    cash: float = 100_000.0
    costs: str = "ib-fixed"
    volume_participation: float | None = 0.1
    speed: float = 1.0
    autostart: bool = True
    lockstep_timeout: float = 30.0
    allow_negative_cash: bool = False

    def __post_init__(self) -> None:
        if not (isinstance(self.cash, int | float) and math.isfinite(self.cash) and self.cash > 0):
            raise ConfigError(f"PaperBrokerConfig.cash must be > 0, got {self.cash!r}")
        if self.costs not in COST_MODELS:
            raise UnknownNameError("cost model", self.costs, COST_MODELS)
        share = self.volume_participation
        if share is not None and not (isinstance(share, int | float) and 0 < share <= 1):
            raise ConfigError(
                f"PaperBrokerConfig.volume_participation must be in (0, 1] or None, got {share!r}"
            )
        if not (isinstance(self.speed, int | float) and self.speed >= 0):
            raise ConfigError(f"PaperBrokerConfig.speed must be >= 0 bars/s, got {self.speed!r}")
        if not (isinstance(self.lockstep_timeout, int | float) and self.lockstep_timeout > 0):
            raise ConfigError("PaperBrokerConfig.lockstep_timeout must be > 0 seconds, got "
                              f"{self.lockstep_timeout!r}")


class StreamConsumer:
    """A lockstep consumer of the paper stream: the next time step waits for its :meth:`ack`."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._ready = asyncio.Event()
        self._ready.set()

    def ack(self) -> None:
        """Done with the latest time step (call on the broker's loop)."""
        self._ready.set()


class PaperBroker(BrokerEvents, LinkedOrders):
    """A simulated broker on a replayed or synthetic bar stream (the embedded default).

    Args:
        stream: Time-ordered groups of bars (see :mod:`tradelab.brokers.replay`).
        config: Settings.

    Example:
        >>> import asyncio
        >>> from tradelab.brokers import OrderRequest, PaperBroker, PaperBrokerConfig
        >>> from tradelab.brokers.replay import synthetic_bars
        >>> async def demo():
        ...     broker = PaperBroker(synthetic_bars(["AAA"], end="2024-01-31"),
        ...                          PaperBrokerConfig(speed=0, autostart=False))
        ...     await broker.connect()
        ...     await broker.place_order(OrderRequest(client_order_id="o1", symbol="AAA",
        ...                                           side="buy", quantity=10))
        ...     await broker.run_steps(2)
        ...     return (await broker.positions())["AAA"].quantity
        >>> asyncio.run(demo())
        10.0
    """

    name = "paper"

    def __init__(self, stream: Sequence[tuple[datetime, Sequence[Bar]]],
                 config: PaperBrokerConfig | None = None) -> None:
        super().__init__()
        self.config = config or PaperBrokerConfig()
        self._costs: CostConfig = cost_model(self.config.costs)
        self._stream = list(stream)
        self.symbols = sorted({bar.symbol for _, group in self._stream for bar in group})
        self._cursor = 0
        self._connected = False
        self._task: asyncio.Task[None] | None = None
        self._consumers: list[StreamConsumer] = []
        self._history: dict[str, list[Bar]] = {s: [] for s in self.symbols}
        self._last: dict[str, Bar] = {}
        self._orders: dict[str, BrokerOrder] = {}
        self._working: dict[str, WorkingOrder] = {}
        self._fills: list[Fill] = []
        self._cash = float(self.config.cash)
        self._positions: dict[str, list[float]] = {}  # symbol -> [quantity, average cost]
        self._realized = 0.0
        self._commissions = 0.0
        self._ids = itertools.count(1)
        self.finished = asyncio.Event()

    # ------------------------------------------------------------------ connection, stream
    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def now(self) -> datetime | None:
        """Time of the latest bar replayed (``None`` before the first)."""
        return self._stream[self._cursor - 1][0] if self._cursor else None

    @property
    def intraday(self) -> bool:
        """Whether the stream's bars are shorter than a day (sessions have hours)."""
        if len(self._stream) < 2:
            return False
        return (self._stream[1][0] - self._stream[0][0]).total_seconds() < 86_400

    @property
    def remaining_steps(self) -> int:
        """Time steps not yet replayed."""
        return len(self._stream) - self._cursor

    async def connect(self) -> None:
        self._connected = True
        self.emit("connection", {"connected": True, "reason": "paper broker ready"})
        if self.config.autostart:
            self.start_stream()

    async def disconnect(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
        self._connected = False
        self.emit("connection", {"connected": False, "reason": "disconnected"})

    def start_stream(self) -> None:
        """Start replaying the stream in the background (once; later calls do nothing)."""
        if self._task is None and self.remaining_steps:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="paper-stream")

    def stop_stream(self) -> None:
        """Stop replaying (the book stays; :meth:`start_stream` does not restart it)."""
        if self._task is not None:
            self._task.cancel()

    def add_consumer(self, name: str) -> StreamConsumer:
        """Register a lockstep consumer: each time step waits until it has acknowledged the last."""
        consumer = StreamConsumer(name)
        self._consumers.append(consumer)
        return consumer

    def remove_consumer(self, consumer: StreamConsumer) -> None:
        """Unregister a lockstep consumer (a step waiting for it goes on at once)."""
        if consumer in self._consumers:
            self._consumers.remove(consumer)
        consumer._ready.set()

    async def _run(self) -> None:
        delay = 1.0 / self.config.speed if self.config.speed else 0.0
        try:
            while self.remaining_steps:
                await self._wait_for_consumers()
                self.step()
                await asyncio.sleep(delay)
        finally:
            if not self.remaining_steps:
                self.finished.set()

    async def _wait_for_consumers(self) -> None:
        for consumer in tuple(self._consumers):
            try:
                await asyncio.wait_for(consumer._ready.wait(), self.config.lockstep_timeout)
            except TimeoutError:
                _log.warning("paper stream: consumer %s did not keep up within %.0f s; moving on",
                             consumer.name, self.config.lockstep_timeout)
            if consumer in self._consumers:
                consumer._ready.clear()

    async def run_steps(self, count: int) -> int:
        """Replay up to ``count`` time steps now (without the background task); returns how many."""
        done = 0
        while done < count and self.remaining_steps:
            await self._wait_for_consumers()
            self.step()
            done += 1
        if not self.remaining_steps:
            self.finished.set()
        return done

    def step(self) -> None:
        """Replay one time step: fill working orders against its bars, mark, then emit the bars."""
        stamp, bars = self._stream[self._cursor]
        self._cursor += 1
        for bar in bars:
            self._process_bar(bar)
            self._last[bar.symbol] = bar
            self._history[bar.symbol].append(bar)
        for bar in bars:
            self.emit("bar", bar)

    async def subscribe_bars(self, symbols: Sequence[str]) -> None:
        unknown = sorted(set(symbols) - set(self.symbols))
        if unknown:
            raise OrderError(f"the paper stream has no bars for {', '.join(unknown)}; it has "
                             f"{', '.join(self.symbols)}")

    async def has_symbol(self, symbol: str) -> bool:
        return symbol in self._history

    async def history(self, symbol: str, count: int | None = None) -> list[Bar]:
        """Bars of ``symbol`` replayed so far (the last ``count``), oldest first."""
        bars = self._history.get(symbol, [])
        return list(bars if count is None else bars[-count:])

    def last_price(self, symbol: str) -> float | None:
        bar = self._last.get(symbol)
        return None if bar is None else bar.close

    # ------------------------------------------------------------------ orders
    async def place_order(self, request: OrderRequest) -> BrokerOrder:
        existing = self._orders.get(request.client_order_id)
        if existing is not None:
            return existing
        self._check_placeable(request)
        request, active = self._admit(request)
        return self._open(request, active)

    async def place_group(self, requests: Sequence[OrderRequest]) -> list[BrokerOrder]:
        """Place a parent and its children together (a bracket): all or none.

        The children wait until the parent has filled (see :mod:`tradelab.brokers._paper_links`).
        A group whose ids are all known returns the existing orders.

        Raises:
            OrderError: The group breaks the rules of :func:`~tradelab.brokers.linked.check_group`,
                or an order cannot be placed; nothing was placed.
            DuplicateOrderError: Some ids of the group are known and others not.
        """
        parent, _ = check_group(requests)
        known = [self._orders.get(r.client_order_id) for r in requests]
        if all(order is not None for order in known):
            return [order for order in known if order is not None]
        if any(order is not None for order in known):
            used = [r.client_order_id for r, o in zip(requests, known, strict=True) if o]
            raise DuplicateOrderError(f"client_order_id(s) {', '.join(used)} exist already; "
                                      "nothing of the group was placed")
        admitted = []
        for request in requests:
            self._check_placeable(request)
            admitted.append(self._admit(request, group_parent=parent))
        return [self._open(request, active) for request, active in admitted]

    def _check_placeable(self, request: OrderRequest) -> None:
        if request.symbol not in self._history:
            raise OrderError(f"unknown symbol {request.symbol!r}: the paper stream trades "
                             f"{', '.join(self.symbols)}")
        if not self._connected:
            raise BrokerError("the paper broker is not connected; call connect() first")

    def _open(self, request: OrderRequest, active: bool) -> BrokerOrder:
        order = BrokerOrder(request=request, broker_order_id=f"P{next(self._ids)}",
                            status=OrderStatus.SUBMITTED)
        self._orders[request.client_order_id] = order
        since = self.now if active and request.parent_id is not None else None
        self._working[request.client_order_id] = WorkingOrder(order=order, active=active,
                                                          since=since)
        self.emit("order", order)
        return order

    async def cancel_order(self, client_order_id: str) -> BrokerOrder:
        order = self._get(client_order_id)
        if order.status.is_terminal:
            return order
        return self._finish(client_order_id, OrderStatus.CANCELLED, "cancelled on request")

    async def modify_order(self, client_order_id: str, *, quantity: float | None = None,
                           limit_price: float | None = None,
                           stop_price: float | None = None) -> BrokerOrder:
        order = self._get(client_order_id)
        if order.status.is_terminal:
            raise OrderError(f"order {client_order_id!r} is {order.status.value}; only open "
                             f"orders can be modified")
        changes: dict[str, Any] = {}
        if quantity is not None:
            if quantity < order.filled_quantity:
                raise OrderError(f"quantity {quantity} is below the {order.filled_quantity} "
                                 f"shares already filled of {client_order_id!r}")
            changes["quantity"] = quantity
        if limit_price is not None:
            changes["limit_price"] = limit_price
        if stop_price is not None:
            changes["stop_price"] = stop_price
        request = OrderRequest(**{**order.request.to_dict(), **changes})
        updated = order.evolve(request=request)
        self._store(updated)
        if updated.filled_quantity >= request.quantity:
            return self._finish(client_order_id, OrderStatus.FILLED, "")
        return updated

    def _get(self, client_order_id: str) -> BrokerOrder:
        order = self._orders.get(client_order_id)
        if order is None:
            raise OrderError(f"no order with client_order_id {client_order_id!r}")
        return order

    def _store(self, order: BrokerOrder) -> None:
        self._orders[order.client_order_id] = order
        working = self._working.get(order.client_order_id)
        if working is not None:
            working.order = order
        self.emit("order", order)

    def _finish(self, client_order_id: str, status: OrderStatus, reason: str) -> BrokerOrder:
        order = self._orders[client_order_id].evolve(status=status, reason=reason)
        self._working.pop(client_order_id, None)
        self._store(order)
        self._after_end(order, self.now)
        return order

    # ------------------------------------------------------------------ matching
    def _process_bar(self, bar: Bar) -> None:
        for client_id, working in list(self._working.items()):
            if self._working.get(client_id) is not working:
                continue  # ended on this bar by a linked order (OCO, parent)
            order = working.order
            request = order.request
            if request.symbol != bar.symbol:
                continue
            if not working.active or (working.since is not None and
                                      bar.timestamp <= working.since):
                continue  # a child: inactive until the bar after its parent's fill
            day = bar.timestamp.date()
            if working.session is None:
                working.session = bar.timestamp
            elif request.time_in_force == "DAY" and day > working.session.date():
                self._finish(client_id, OrderStatus.CANCELLED,
                             f"DAY order expired at the end of {working.session.date()}")
                continue
            price = match_price(working, bar, self._costs)
            if price is None:
                if request.order_type == "trailing_stop":
                    self._trail(working, bar.close)
                continue
            quantity = order.remaining
            if request.order_type in ("limit", "stop_limit") and \
                    self.config.volume_participation is not None:
                cap = math.floor(bar.volume * self.config.volume_participation)
                quantity = min(quantity, float(max(cap, 0)))
            if quantity > 0:
                self._execute(working, bar, quantity, price)

    def _execute(self, working: WorkingOrder, bar: Bar, quantity: float, price: float) -> None:
        order = working.order
        request = order.request
        fee = trade_cost(quantity, price, side=request.side, config=self._costs)
        signed = quantity if request.side == "buy" else -quantity
        if signed > 0 and not self.config.allow_negative_cash and \
                self._cash - signed * price - fee < 0:
            self._finish(request.client_order_id, OrderStatus.REJECTED,
                         f"insufficient cash: the fill needs {signed * price + fee:,.2f}, cash is "
                         f"{self._cash:,.2f} (a cash account; allow_negative_cash for margin)")
            return
        self._cash -= signed * price + fee
        self._commissions += fee
        self._apply_position(request.symbol, signed, price)
        working.notional += quantity * price
        filled = order.filled_quantity + quantity
        fill = Fill(fill_id=f"{order.broker_order_id}.{len(self._fills) + 1}",
                    client_order_id=request.client_order_id,
                    broker_order_id=order.broker_order_id, symbol=request.symbol,
                    side=request.side, quantity=quantity, price=price, commission=fee,
                    timestamp=bar.timestamp)
        self._fills.append(fill)
        status = OrderStatus.FILLED if filled >= request.quantity else \
            OrderStatus.PARTIALLY_FILLED
        updated = order.evolve(status=status, filled_quantity=filled,
                               average_fill_price=working.notional / filled)
        if status is OrderStatus.FILLED:
            self._working.pop(request.client_order_id, None)
        self._store(updated)
        self.emit("fill", fill)
        self._after_fill(updated, quantity, bar.timestamp)

    def _apply_position(self, symbol: str, signed: float, price: float) -> None:
        quantity, cost = self._positions.get(symbol, [0.0, 0.0])
        after = quantity + signed
        if quantity == 0 or (quantity > 0) == (signed > 0):
            cost = (quantity * cost + signed * price) / after if after else 0.0
        else:
            closed = min(abs(signed), abs(quantity))
            self._realized += closed * (price - cost) * (1 if quantity > 0 else -1)
            if after == 0:
                cost = 0.0
            elif (after > 0) != (quantity > 0):
                cost = price  # flipped: the new side opened at this price
        if after == 0:
            self._positions.pop(symbol, None)
        else:
            self._positions[symbol] = [after, cost]

    # ------------------------------------------------------------------ views
    async def orders(self, *, open_only: bool = False) -> list[BrokerOrder]:
        orders = list(self._orders.values())
        return [o for o in orders if o.is_open] if open_only else orders

    async def fills(self) -> list[Fill]:
        return list(self._fills)

    async def positions(self) -> dict[str, BrokerPosition]:
        return self._position_view()

    def _position_view(self) -> dict[str, BrokerPosition]:
        view = {}
        for symbol, (quantity, cost) in self._positions.items():
            last = self.last_price(symbol)
            view[symbol] = BrokerPosition(symbol=symbol, quantity=quantity, average_cost=cost,
                                          market_price=cost if last is None else last)
        return view

    async def account(self) -> AccountSnapshot:
        return self.account_now()

    def account_now(self) -> AccountSnapshot:
        """:meth:`account` without awaiting (the paper book is local)."""
        positions = self._position_view()
        equity = self._cash + sum(p.market_value for p in positions.values())
        return AccountSnapshot(account_id=self.config.account_id, cash=self._cash, equity=equity,
                               positions=positions, realized_pnl=self._realized,
                               commissions=self._commissions,
                               timestamp=self.now or utc_now())

    # ------------------------------------------------------------------ restore
    def restore(self, orders: Sequence[BrokerOrder], fills: Sequence[Fill],
                resume_after: datetime | None = None) -> None:
        """Rebuild the book after a restart: replay ``fills``, re-open non-terminal ``orders``,
        and continue the stream after ``resume_after`` (the last time step already replayed).

        Links are kept: a child whose parent had not filled waits for it again, an OCO group
        and a trailing stop's current stop (its ``stop_price``) go on as before.
        """
        for order in orders:
            self._orders[order.client_order_id] = order
        notional: dict[str, float] = {}
        for fill in fills:
            signed = fill.signed_quantity
            self._cash -= signed * fill.price + fill.commission
            self._commissions += fill.commission
            self._apply_position(fill.symbol, signed, fill.price)
            self._fills.append(fill)
            notional[fill.client_order_id] = notional.get(fill.client_order_id, 0.0) + \
                fill.quantity * fill.price
        for order in orders:
            if order.is_open:
                self._working[order.client_order_id] = WorkingOrder(
                    order=order, notional=notional.get(order.client_order_id, 0.0),
                    active=self._restored_active(order, orders))
        numbers = [int(o.broker_order_id[1:]) for o in orders
                   if o.broker_order_id[1:].isdigit()]
        self._ids = itertools.count(max(numbers, default=0) + 1)
        if resume_after is not None:
            while self.remaining_steps and self._stream[self._cursor][0] <= resume_after:
                for bar in self._stream[self._cursor][1]:
                    self._last[bar.symbol] = bar
                    self._history[bar.symbol].append(bar)
                self._cursor += 1
