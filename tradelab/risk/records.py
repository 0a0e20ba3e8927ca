"""What a risk check looks at: the order intended and a snapshot of the portfolio."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Literal

from tradelab.risk._validation import finite

__all__ = ["OrderIntent", "PortfolioSnapshot", "Position"]

_SIDES = ("buy", "sell")


@dataclass(frozen=True, kw_only=True, slots=True)
class OrderIntent:
    """An order a strategy wants to place, before the risk check and the broker see it.

    Attributes:
        symbol: The instrument, e.g. ``"AAPL"``.
        side: ``"buy"`` or ``"sell"``.
        quantity: Shares, > 0 (the side gives the direction).
        price: Reference price, > 0: the expected fill (last price, or the limit price). Limits
            on value, concentration and leverage value the post-trade position at this price.
        order_type: ``"market"``, ``"limit"``, ``"stop"``, ``"stop_limit"``, ... (informational).

    Raises:
        ValueError: A field is invalid (a bug in the caller, not a risk denial).

    Example:
        >>> OrderIntent(symbol="AAPL", side="buy", quantity=100, price=190.0).side
        'buy'
    """

    symbol: str
    side: Literal["buy", "sell"]
    quantity: float
    price: float
    order_type: str = "market"

    def __post_init__(self) -> None:
        if not isinstance(self.symbol, str) or not self.symbol:
            raise ValueError(f"OrderIntent.symbol must be a non-empty string, got {self.symbol!r}")
        if self.side not in _SIDES:
            raise ValueError(f"OrderIntent.side must be 'buy' or 'sell', got {self.side!r}")
        finite("OrderIntent", "quantity", self.quantity, positive=True)
        finite("OrderIntent", "price", self.price, positive=True)
        if not isinstance(self.order_type, str) or not self.order_type:
            raise ValueError(
                f"OrderIntent.order_type must be a non-empty string, got {self.order_type!r}"
            )

    @property
    def signed_quantity(self) -> float:
        """``quantity`` for a buy, ``-quantity`` for a sell."""
        return self.quantity if self.side == "buy" else -self.quantity


@dataclass(frozen=True, kw_only=True, slots=True)
class Position:
    """A holding: signed shares (negative is short) marked at ``price``.

    Example:
        >>> Position(symbol="AAPL", quantity=-50, price=190.0).value
        -9500.0
    """

    symbol: str
    quantity: float
    price: float

    def __post_init__(self) -> None:
        if not isinstance(self.symbol, str) or not self.symbol:
            raise ValueError(f"Position.symbol must be a non-empty string, got {self.symbol!r}")
        finite("Position", "quantity", self.quantity)
        finite("Position", "price", self.price)
        if self.price < 0:
            raise ValueError(f"Position.price must be >= 0, got {self.price!r}")

    @property
    def value(self) -> float:
        """Signed market value: ``quantity * price``."""
        return self.quantity * self.price


@dataclass(frozen=True, kw_only=True, slots=True)
class PortfolioSnapshot:
    """The account at one moment: equity, cash and positions by symbol.

    ``positions`` is copied into a read-only mapping; each key must equal its position's symbol.

    Example:
        >>> snapshot = PortfolioSnapshot(
        ...     equity=100_000.0,
        ...     cash=81_000.0,
        ...     positions={"AAPL": Position(symbol="AAPL", quantity=100, price=190.0)},
        ... )
        >>> snapshot.gross_exposure
        19000.0
    """

    equity: float
    cash: float
    positions: Mapping[str, Position]
    timestamp: datetime | None = None

    def __post_init__(self) -> None:
        finite("PortfolioSnapshot", "equity", self.equity)
        finite("PortfolioSnapshot", "cash", self.cash)
        positions = dict(self.positions)
        for symbol, position in positions.items():
            if not isinstance(position, Position) or position.symbol != symbol:
                raise ValueError(
                    f"PortfolioSnapshot.positions[{symbol!r}] must be a Position with symbol "
                    f"{symbol!r}, got {position!r}"
                )
        if self.timestamp is not None and not isinstance(self.timestamp, datetime):
            raise ValueError(
                f"PortfolioSnapshot.timestamp must be a datetime or None, got {self.timestamp!r}"
            )
        object.__setattr__(self, "positions", MappingProxyType(positions))

    @property
    def gross_exposure(self) -> float:
        """Sum of the absolute position values."""
        return sum(abs(p.quantity * p.price) for p in self.positions.values())

    @property
    def open_positions(self) -> int:
        """Number of positions with a non-zero quantity."""
        return sum(1 for p in self.positions.values() if p.quantity != 0)
