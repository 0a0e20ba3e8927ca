"""Server-side trading state of the fake gateway: orders, executions, positions, cash.

Pure bookkeeping with no I/O, so it outlives client connections the way a real gateway's
state does: orders placed before a disconnect are still there after the reconnect.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

OPEN_STATUSES = frozenset({"PendingSubmit", "PreSubmitted", "Submitted"})
_EPSILON = 1e-9


@dataclass(frozen=True, slots=True)
class Instrument:
    """A stock the fake knows: what contract details and positions report for it."""

    symbol: str
    con_id: int
    primary_exchange: str = "NASDAQ"
    currency: str = "USD"
    sec_type: str = "STK"
    trading_class: str = "NMS"


@dataclass(frozen=True, slots=True)
class FakeOrder:
    """Server-side view of one order, as the fake gateway holds it."""

    order_id: int
    client_id: int
    perm_id: int
    order_ref: str
    symbol: str
    action: str
    quantity: float
    order_type: str
    limit_price: float | None
    aux_price: float | None
    tif: str
    status: str
    filled: float
    remaining: float
    avg_fill_price: float
    parent_id: int = 0
    oca_group: str = ""
    oca_type: int = 0
    trail_stop_price: float | None = None
    trailing_percent: float | None = None
    transmitted: bool = True


@dataclass(frozen=True, slots=True)
class FakeExecution:
    """One execution (fill) the fake reported, with its commission."""

    exec_id: str
    order_id: int
    client_id: int
    perm_id: int
    order_ref: str
    symbol: str
    side: str
    shares: float
    price: float
    cum_qty: float
    avg_price: float
    time: datetime
    commission: float
    realized_pnl: float | None
    account: str


@dataclass(frozen=True, slots=True)
class FakePosition:
    """Server-side position in one symbol; ``avg_cost`` is the fill-price-weighted average.

    A real gateway folds commissions into the average cost; the fake does not.
    """

    symbol: str
    con_id: int
    quantity: float
    avg_cost: float


@dataclass(slots=True)
class OrderRecord:
    """Mutable server-side order (internal)."""

    order_id: int
    client_id: int
    perm_id: int
    instrument: Instrument
    exchange: str
    action: str
    quantity: float
    order_type: str
    limit_price: float | None
    aux_price: float | None
    tif: str
    order_ref: str
    account: str
    outside_rth: bool = False
    oca_group: str = ""
    oca_type: int = 0
    parent_id: int = 0
    trail_stop_price: float | None = None
    trailing_percent: float | None = None
    transmitted: bool = True
    good_after_time: str = ""
    good_till_date: str = ""
    status: str = "PreSubmitted"
    filled: float = 0.0
    avg_fill_price: float = 0.0
    last_fill_price: float = 0.0
    commission: float = 0.0
    stop_triggered: bool = False
    completed_time: str = ""
    completed_status: str = ""

    @property
    def remaining(self) -> float:
        """Quantity not filled yet."""
        return max(self.quantity - self.filled, 0.0)

    @property
    def is_open(self) -> bool:
        """Whether the order can still fill or be cancelled."""
        return self.status in OPEN_STATUSES

    def view(self) -> FakeOrder:
        """An immutable snapshot for tests."""
        return FakeOrder(
            order_id=self.order_id,
            client_id=self.client_id,
            perm_id=self.perm_id,
            order_ref=self.order_ref,
            symbol=self.instrument.symbol,
            action=self.action,
            quantity=self.quantity,
            order_type=self.order_type,
            limit_price=self.limit_price,
            aux_price=self.aux_price,
            tif=self.tif,
            status=self.status,
            filled=self.filled,
            remaining=self.remaining,
            avg_fill_price=self.avg_fill_price,
            parent_id=self.parent_id,
            oca_group=self.oca_group,
            oca_type=self.oca_type,
            trail_stop_price=self.trail_stop_price,
            trailing_percent=self.trailing_percent,
            transmitted=self.transmitted,
        )

    def trail_distance(self, price: float) -> float:
        """A TRAIL order's distance from ``price``: ``auxPrice``, else ``trailingPercent``."""
        if self.aux_price is not None:
            return self.aux_price
        return price * (self.trailing_percent or 0.0) / 100.0


def ib_time(moment: datetime) -> str:
    """Format a UTC datetime the way ib_async's ``parseIBDatetime`` reads it back."""
    return moment.strftime("%Y%m%d %H:%M:%S UTC")


class Book:
    """Orders, executions, positions and cash of the one account the fake serves.

    Args:
        account: The account code.
        instruments: Known instruments by symbol.
        prices: Last price per symbol.
        cash: Starting cash.
        commission_per_share: IB-style per-share commission.
        min_commission: Minimum commission per order.
    """

    def __init__(
        self,
        *,
        account: str,
        instruments: Mapping[str, Instrument],
        prices: Mapping[str, float],
        cash: float,
        commission_per_share: float,
        min_commission: float,
    ) -> None:
        self.account = account
        self.instruments = dict(instruments)
        self._by_con_id = {inst.con_id: inst for inst in self.instruments.values()}
        self.prices = dict(prices)
        self.cash = cash
        self.commission_per_share = commission_per_share
        self.min_commission = min_commission
        self.realized_pnl = 0.0
        self.orders: dict[tuple[int, int], OrderRecord] = {}
        self.executions: list[FakeExecution] = []
        self.positions: dict[str, tuple[float, float]] = {}
        self._perm_ids = itertools.count(1_000_001)
        self._exec_numbers = itertools.count(1)

    # --- lookups -----------------------------------------------------------------------

    def instrument(self, *, symbol: str = "", con_id: int = 0) -> Instrument | None:
        """Find an instrument by conId (when non-zero) or symbol."""
        if con_id:
            return self._by_con_id.get(con_id)
        return self.instruments.get(symbol)

    def next_perm_id(self) -> int:
        """A fresh permanent order id (assigned by the server, like TWS does)."""
        return next(self._perm_ids)

    def next_order_id(self, client_id: int) -> int:
        """The next valid order id for a client: above every id it has used."""
        used = [order_id for (owner, order_id) in self.orders if owner == client_id]
        return max(used, default=0) + 1

    def find_order(self, order_id: int, client_id: int | None = None) -> OrderRecord:
        """Find an order by id (and client id when several clients used that id)."""
        matches = [
            order
            for (owner, oid), order in self.orders.items()
            if oid == order_id and (client_id is None or owner == client_id)
        ]
        if not matches:
            known = sorted(oid for (_, oid) in self.orders)
            raise KeyError(
                f"no order with id {order_id}"
                + (f" for client {client_id}" if client_id is not None else "")
                + f"; known order ids: {known}"
            )
        if len(matches) > 1:
            clients = sorted(order.client_id for order in matches)
            raise KeyError(
                f"order id {order_id} is used by clients {clients}; pass client_id= to choose"
            )
        return matches[0]

    def mark(self, symbol: str) -> float:
        """Last price of a symbol, or its average cost when no price is set."""
        price = self.prices.get(symbol)
        if price is not None:
            return price
        return self.positions.get(symbol, (0.0, 0.0))[1]

    # --- order matching ----------------------------------------------------------------

    def fill_price_now(self, order: OrderRecord) -> float | None:
        """The price an open order fills at now under auto-fill rules, or None if it rests.

        MKT fills at the last price; LMT when marketable (at the last price); STP and
        STP LMT trigger when the last price reaches the stop, then act as MKT / LMT. TRAIL
        first moves its stop (``trailStopPrice``) to the price ∓ the trail if that is better,
        then triggers like STP. A child whose parent has not filled (``PreSubmitted``) rests.
        Other order types rest until filled by hand.
        """
        price = self.prices.get(order.instrument.symbol)
        if price is None or not order.is_open or order.status == "PreSubmitted":
            return None
        order_type = order.order_type.upper()
        buying = order.action.upper() == "BUY"
        if order_type == "TRAIL":
            candidate = price + (-1 if not buying else 1) * order.trail_distance(price)
            stop = order.trail_stop_price
            if stop is None or (candidate < stop if buying else candidate > stop):
                order.trail_stop_price = stop = candidate
            return price if (price >= stop if buying else price <= stop) else None
        if order_type in {"STP", "STP LMT"} and not order.stop_triggered:
            stop = order.aux_price
            if stop is None or (price < stop if buying else price > stop):
                return None
            order.stop_triggered = True
        if order_type in {"MKT", "STP"}:
            return price
        if order_type in {"LMT", "STP LMT"}:
            limit = order.limit_price
            if limit is not None and (price <= limit if buying else price >= limit):
                return price
        return None

    def _order_commission(self, cumulative_shares: float) -> float:
        if cumulative_shares <= 0:
            return 0.0
        return max(self.min_commission, cumulative_shares * self.commission_per_share)

    def fill(self, order: OrderRecord, shares: float, price: float, now: datetime) -> FakeExecution:
        """Execute ``shares`` of an open order at ``price``; update position and cash."""
        if not order.is_open:
            raise ValueError(f"order {order.order_id} is {order.status}, it cannot fill")
        if shares <= 0 or shares > order.remaining + _EPSILON:
            raise ValueError(
                f"fill of {shares} shares is outside (0, {order.remaining}] "
                f"for order {order.order_id}"
            )
        signed = shares if order.action.upper() == "BUY" else -shares
        realized = self._apply_position(order.instrument.symbol, signed, price)
        total_commission = self._order_commission(order.filled + shares)
        commission = round(total_commission - order.commission, 6)
        order.commission = total_commission
        order.avg_fill_price = (order.avg_fill_price * order.filled + price * shares) / (
            order.filled + shares
        )
        order.filled += shares
        order.last_fill_price = price
        if order.remaining <= _EPSILON:
            order.status = "Filled"
            order.completed_status = "Filled"
            order.completed_time = ib_time(now)
        else:
            order.status = "Submitted"
        self.cash -= signed * price + commission
        realized_net = None if realized is None else realized - commission
        if realized_net is not None:
            self.realized_pnl += realized_net
        execution = FakeExecution(
            exec_id=f"{order.perm_id:08x}.{next(self._exec_numbers):08x}.01.01",
            order_id=order.order_id,
            client_id=order.client_id,
            perm_id=order.perm_id,
            order_ref=order.order_ref,
            symbol=order.instrument.symbol,
            side="BOT" if signed > 0 else "SLD",
            shares=shares,
            price=price,
            cum_qty=order.filled,
            avg_price=order.avg_fill_price,
            time=now,
            commission=commission,
            realized_pnl=realized_net,
            account=self.account,
        )
        self.executions.append(execution)
        return execution

    def cancel(self, order: OrderRecord, now: datetime) -> None:
        """Mark an open order cancelled."""
        order.status = "Cancelled"
        order.completed_status = "Cancelled by Trader"
        order.completed_time = ib_time(now)

    # --- positions and account ---------------------------------------------------------

    def _apply_position(self, symbol: str, signed: float, price: float) -> float | None:
        quantity, avg_cost = self.positions.get(symbol, (0.0, 0.0))
        new_quantity = quantity + signed
        realized = None
        if abs(quantity) <= _EPSILON or (quantity > 0) == (signed > 0):
            avg_cost = (avg_cost * abs(quantity) + price * abs(signed)) / abs(new_quantity)
        else:
            closed = min(abs(signed), abs(quantity))
            realized = (price - avg_cost) * closed * (1.0 if quantity > 0 else -1.0)
            if abs(signed) > abs(quantity) + _EPSILON:
                avg_cost = price
        if abs(new_quantity) <= _EPSILON:
            new_quantity, avg_cost = 0.0, 0.0
        self.positions[symbol] = (new_quantity, avg_cost)
        return realized

    def set_position(self, symbol: str, quantity: float, avg_cost: float) -> None:
        """Overwrite the position in a symbol."""
        self.positions[symbol] = (float(quantity), float(avg_cost) if quantity else 0.0)

    def position_views(self, *, include_flat: bool = False) -> list[FakePosition]:
        """Positions as immutable views (flat ones only when asked)."""
        return [
            FakePosition(symbol, self.instruments[symbol].con_id, quantity, avg_cost)
            for symbol, (quantity, avg_cost) in sorted(self.positions.items())
            if include_flat or abs(quantity) > _EPSILON
        ]

    def account_values(self) -> dict[str, float]:
        """Account figures in the account currency (USD), derived from cash and positions."""
        market_value = sum(q * self.mark(s) for s, (q, _) in self.positions.items())
        gross = sum(abs(q) * self.mark(s) for s, (q, _) in self.positions.items())
        unrealized = sum(q * (self.mark(s) - avg) for s, (q, avg) in self.positions.items())
        net_liquidation = self.cash + market_value
        margin = 0.25 * gross
        return {
            "NetLiquidation": net_liquidation,
            "TotalCashValue": self.cash,
            "SettledCash": self.cash,
            "CashBalance": self.cash,
            "GrossPositionValue": gross,
            "EquityWithLoanValue": net_liquidation,
            "InitMarginReq": margin,
            "MaintMarginReq": margin,
            "AvailableFunds": net_liquidation - margin,
            "ExcessLiquidity": net_liquidation - margin,
            "BuyingPower": 4.0 * (net_liquidation - margin),
            "UnrealizedPnL": unrealized,
            "RealizedPnL": self.realized_pnl,
        }
