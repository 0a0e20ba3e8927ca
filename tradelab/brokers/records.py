"""Immutable broker records: order requests, order snapshots, fills, positions, account, bars."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from tradelab.errors import OrderError
from tradelab.risk import PortfolioSnapshot, Position

__all__ = [
    "ORDER_TYPES",
    "TIMES_IN_FORCE",
    "AccountSnapshot",
    "Bar",
    "BrokerOrder",
    "BrokerPosition",
    "Fill",
    "OrderRequest",
    "OrderStatus",
    "utc_now",
]

ORDER_TYPES = ("market", "limit", "stop", "stop_limit", "trailing_stop")
TIMES_IN_FORCE = ("DAY", "GTC")
_SIDES = ("buy", "sell")
_CLIENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")
_SYMBOL = re.compile(r"^[A-Z0-9][A-Z0-9.\-]{0,19}$")
#: Largest quantity any request may carry: a typo guard far above any real order.
MAX_QUANTITY = 10_000_000
_LINK_HINT = "give 1-64 characters of letters, digits, '.', '_', ':' or '-'"


def utc_now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


class OrderStatus(StrEnum):
    """Where an order is in its life. Terminal: ``Filled``, ``Cancelled``, ``Rejected``."""

    PENDING = "PendingSubmit"
    SUBMITTED = "Submitted"
    PARTIALLY_FILLED = "PartiallyFilled"
    FILLED = "Filled"
    CANCELLED = "Cancelled"
    REJECTED = "Rejected"

    @property
    def is_terminal(self) -> bool:
        """Whether nothing more can happen to an order in this status."""
        return self in (OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED)


def _bad(field_name: str, value: Any, hint: str) -> OrderError:
    return OrderError(f"order field {field_name!r}: got {value!r}; {hint}")


def _price(field_name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _bad(field_name, value, "give a number > 0")
    number = float(value)
    if not math.isfinite(number) or number <= 0:
        raise _bad(field_name, value, "give a finite price > 0")
    return number


@dataclass(frozen=True, kw_only=True, slots=True)
class OrderRequest:
    """An order as a client asks for it. Validated on construction.

    Attributes:
        client_order_id: The caller's id (1-64 of ``A-Z a-z 0-9 . _ : -``); placing the same id
            twice never makes two orders.
        symbol: Upper-case ticker, e.g. ``"AAPL"``.
        side: ``"buy"`` or ``"sell"``.
        quantity: Shares, > 0 and at most 10,000,000.
        order_type: ``"market"``, ``"limit"``, ``"stop"``, ``"stop_limit"`` or
            ``"trailing_stop"``.
        limit_price: Required for limit and stop-limit orders, forbidden otherwise.
        stop_price: Required for stop and stop-limit orders, optional for a trailing stop,
            forbidden otherwise.
        time_in_force: ``"DAY"`` (expires at the end of the session it first trades in) or
            ``"GTC"``.
        extended_hours: May be sent outside the regular session (otherwise the live engine
            refuses it there).
        trail_amount: A ``"trailing_stop"``'s distance from the price, in price units (give
            it or ``trail_percent``, not both). The stop of a sell trails ``trail_amount``
            below the best close since it was placed (above it for a buy); it never moves
            back. ``stop_price`` is then the current stop: optional on a new order (default:
            the last close minus the distance), updated by the broker as the stop moves.
        trail_percent: The distance in percent of the close (``2.0`` = 2%), in (0, 100).
        parent_id: ``client_order_id`` of the parent order: this order is a child (an exit of
            a bracket), held inactive until the parent has filled completely, then working
            from the next bar on; cancelled when the parent is cancelled or rejected without
            a fill (a parent cancelled after a partial fill leaves its children working for
            the shares filled). See :func:`tradelab.brokers.bracket`.
        oco_group: One-cancels-other group: a fill of one member reduces every other open
            member of the group in proportion (IB's ``ocaType`` 2, "reduce with block"), so
            a complete fill cancels them; the group never fills more than its largest member.

    Raises:
        OrderError: A field is invalid; the message names the field and the value.

    Example:
        >>> OrderRequest(client_order_id="a1", symbol="AAA", side="buy", quantity=10,
        ...              order_type="limit", limit_price=99.5).time_in_force
        'DAY'
    """

    client_order_id: str
    symbol: str
    side: str
    quantity: float
    order_type: str = "market"
    limit_price: float | None = None
    stop_price: float | None = None
    time_in_force: str = "DAY"
    extended_hours: bool = False
    trail_amount: float | None = None
    trail_percent: float | None = None
    parent_id: str | None = None
    oco_group: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.extended_hours, bool):
            raise _bad("extended_hours", self.extended_hours, "give true or false")
        if not isinstance(self.client_order_id, str) or not _CLIENT_ID.match(self.client_order_id):
            raise _bad("client_order_id", self.client_order_id,
                       "give 1-64 characters of letters, digits, '.', '_', ':' or '-'")
        if not isinstance(self.symbol, str) or not _SYMBOL.match(self.symbol):
            raise _bad("symbol", self.symbol, "give an upper-case ticker such as 'AAPL'")
        if self.side not in _SIDES:
            raise _bad("side", self.side, "give 'buy' or 'sell'")
        quantity = self.quantity
        if isinstance(quantity, bool) or not isinstance(quantity, int | float):
            raise _bad("quantity", quantity, "give a number of shares > 0")
        if not math.isfinite(quantity) or quantity <= 0:
            raise _bad("quantity", quantity, "give a finite number of shares > 0")
        if quantity > MAX_QUANTITY:
            raise _bad("quantity", quantity, f"at most {MAX_QUANTITY:,} shares per order")
        if self.order_type not in ORDER_TYPES:
            raise _bad("order_type", self.order_type, f"give one of {', '.join(ORDER_TYPES)}")
        if self.time_in_force not in TIMES_IN_FORCE:
            raise _bad("time_in_force", self.time_in_force, "give 'DAY' or 'GTC'")
        needs_limit = self.order_type in ("limit", "stop_limit")
        needs_stop = self.order_type in ("stop", "stop_limit")
        trailing = self.order_type == "trailing_stop"
        for name, needed in (("limit_price", needs_limit), ("stop_price", needs_stop)):
            value = getattr(self, name)
            if needed or (trailing and name == "stop_price" and value is not None):
                if value is None:
                    raise _bad(name, value, f"a {self.order_type} order needs one")
                object.__setattr__(self, name, _price(name, value))
            elif value is not None:
                raise _bad(name, value, f"a {self.order_type} order takes no {name}")
        self._check_trail(trailing)
        for name in ("parent_id", "oco_group"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not _CLIENT_ID.match(value)):
                raise _bad(name, value, _LINK_HINT)
        if self.parent_id is not None and self.parent_id == self.client_order_id:
            raise _bad("parent_id", self.parent_id, "an order cannot be its own parent")
        object.__setattr__(self, "quantity", float(quantity))

    def _check_trail(self, trailing: bool) -> None:
        amount, percent = self.trail_amount, self.trail_percent
        if not trailing:
            for name, value in (("trail_amount", amount), ("trail_percent", percent)):
                if value is not None:
                    raise _bad(name, value, f"a {self.order_type} order takes no {name} "
                                            "(only order_type 'trailing_stop' trails)")
            return
        if (amount is None) == (percent is None):
            raise _bad("trail_amount", amount, f"a trailing_stop needs exactly one of "
                                               f"trail_amount and trail_percent (trail_percent "
                                               f"is {percent!r})")
        if amount is not None:
            object.__setattr__(self, "trail_amount", _price("trail_amount", amount))
        else:
            number = _price("trail_percent", percent)
            if number >= 100:
                raise _bad("trail_percent", percent, "give a percentage in (0, 100), e.g. 2.0")
            object.__setattr__(self, "trail_percent", number)

    def trailed_stop(self, price: float) -> float:
        """The stop a trailing stop would have ``price`` away from ``price`` (below for a
        sell, above for a buy), before the never-move-back rule.

        Raises:
            OrderError: The order is not a trailing stop.
        """
        if self.order_type != "trailing_stop":
            raise OrderError(f"order {self.client_order_id!r} is a {self.order_type} order, "
                             "not a trailing_stop")
        if self.trail_amount is not None:
            distance = self.trail_amount
        else:  # a share of the price, as Backtrader's trailpercent
            distance = price * (float(self.trail_percent or 0.0) / 100.0)
        return price + distance if self.side == "buy" else price - distance

    @property
    def signed_quantity(self) -> float:
        """``quantity`` for a buy, ``-quantity`` for a sell."""
        return self.quantity if self.side == "buy" else -self.quantity

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict."""
        return asdict(self)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> OrderRequest:
        """Build from a mapping; unknown keys raise :class:`OrderError`."""
        names = [f for f in cls.__dataclass_fields__]
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise OrderError(f"unknown order field(s) {', '.join(map(repr, unknown))}; "
                             f"known: {', '.join(names)}")
        return cls(**data)


@dataclass(frozen=True, kw_only=True, slots=True)
class BrokerOrder:
    """One order as the broker holds it at one moment.

    Attributes:
        request: What was asked.
        broker_order_id: The broker's id (IB's order id; the paper broker's sequence).
        status: Where the order is.
        filled_quantity: Shares filled so far.
        average_fill_price: Volume-weighted fill price, ``None`` before the first fill.
        created_at, updated_at: UTC times.
        reason: Why it was rejected or cancelled, or ``""``.
    """

    request: OrderRequest
    broker_order_id: str
    status: OrderStatus = OrderStatus.SUBMITTED
    filled_quantity: float = 0.0
    average_fill_price: float | None = None
    created_at: datetime = field(default_factory=utc_now)
    updated_at: datetime = field(default_factory=utc_now)
    reason: str = ""

    @property
    def client_order_id(self) -> str:
        """The caller's id of the order."""
        return self.request.client_order_id

    @property
    def symbol(self) -> str:
        """The order's symbol."""
        return self.request.symbol

    @property
    def remaining(self) -> float:
        """Shares still to fill (0 once terminal)."""
        if self.status.is_terminal:
            return 0.0
        return max(self.request.quantity - self.filled_quantity, 0.0)

    @property
    def is_open(self) -> bool:
        """Whether the order can still fill or be cancelled."""
        return not self.status.is_terminal

    def evolve(self, **changes: Any) -> BrokerOrder:
        """A copy with ``changes`` and ``updated_at`` set to now (unless given)."""
        changes.setdefault("updated_at", utc_now())
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict: the request's fields plus the order's state."""
        data = self.request.to_dict()
        data.update(
            broker_order_id=self.broker_order_id,
            status=self.status.value,
            filled_quantity=self.filled_quantity,
            remaining=self.remaining,
            average_fill_price=self.average_fill_price,
            created_at=self.created_at.isoformat(),
            updated_at=self.updated_at.isoformat(),
            reason=self.reason,
        )
        return data


@dataclass(frozen=True, kw_only=True, slots=True)
class Fill:
    """One execution of (part of) an order.

    ``timestamp`` is when it happened at the market (the bar's time for the paper broker).
    ``commission`` includes every fee (commission and, on sells, the SEC fee).
    """

    fill_id: str
    client_order_id: str
    broker_order_id: str
    symbol: str
    side: str
    quantity: float
    price: float
    commission: float
    timestamp: datetime

    @property
    def signed_quantity(self) -> float:
        """``quantity`` for a buy, ``-quantity`` for a sell."""
        return self.quantity if self.side == "buy" else -self.quantity

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict."""
        data = asdict(self)
        data["timestamp"] = self.timestamp.isoformat()
        return data


@dataclass(frozen=True, kw_only=True, slots=True)
class BrokerPosition:
    """A holding at the broker: signed shares, average cost, and the latest mark."""

    symbol: str
    quantity: float
    average_cost: float
    market_price: float

    @property
    def market_value(self) -> float:
        """Signed value at ``market_price``."""
        return self.quantity * self.market_price

    @property
    def unrealized_pnl(self) -> float:
        """``(market_price - average_cost) * quantity``."""
        return (self.market_price - self.average_cost) * self.quantity

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict with value and unrealized P&L."""
        data = asdict(self)
        data.update(market_value=self.market_value, unrealized_pnl=self.unrealized_pnl)
        return data


@dataclass(frozen=True, kw_only=True, slots=True)
class AccountSnapshot:
    """The account at one moment: cash, equity (cash + positions at their marks), positions."""

    account_id: str
    cash: float
    equity: float
    positions: Mapping[str, BrokerPosition]
    realized_pnl: float = 0.0
    commissions: float = 0.0
    timestamp: datetime = field(default_factory=utc_now)

    def __post_init__(self) -> None:
        object.__setattr__(self, "positions", MappingProxyType(dict(self.positions)))

    def to_portfolio(self) -> PortfolioSnapshot:
        """The risk manager's view of this account."""
        return PortfolioSnapshot(
            equity=self.equity,
            cash=self.cash,
            positions={
                symbol: Position(symbol=symbol, quantity=p.quantity, price=p.market_price)
                for symbol, p in self.positions.items()
                if p.quantity != 0
            },
            timestamp=self.timestamp,
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict."""
        return {
            "account_id": self.account_id,
            "cash": self.cash,
            "equity": self.equity,
            "realized_pnl": self.realized_pnl,
            "commissions": self.commissions,
            "gross_exposure": sum(abs(p.market_value) for p in self.positions.values()),
            "positions": {s: p.to_dict() for s, p in self.positions.items()},
            "timestamp": self.timestamp.isoformat(),
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class Bar:
    """One OHLCV bar of a live or replayed stream; ``timestamp`` is the bar's start, UTC."""

    symbol: str
    timestamp: datetime
    open: float
    high: float
    low: float
    close: float
    volume: float

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict."""
        data = asdict(self)
        data["timestamp"] = self.timestamp.isoformat()
        return data
