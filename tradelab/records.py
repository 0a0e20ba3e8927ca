"""Immutable domain records shared by backtests, metrics and brokers (orders, fills, trades)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

__all__ = ["OrderRecord", "TradeRecord"]


@dataclass(frozen=True, kw_only=True, slots=True)
class TradeRecord:
    """One round trip: a position opened and closed (or still open at the end of a run).

    ``pnl`` is net of commissions and fees; ``pnl_gross`` before them. ``size`` is signed:
    positive for a long trade, negative for a short one.
    """

    symbol: str
    entry_time: datetime
    exit_time: datetime | None
    entry_price: float
    exit_price: float | None
    size: float
    pnl_gross: float
    pnl: float
    commission: float
    bars_held: int
    is_open: bool = False

    @property
    def return_pct(self) -> float:
        """Net P&L as a fraction of the capital committed at entry."""
        committed = abs(self.size) * self.entry_price
        return self.pnl / committed if committed else 0.0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict (times as ISO strings)."""
        d = asdict(self)
        for key in ("entry_time", "exit_time"):
            if d[key] is not None:
                d[key] = d[key].isoformat()
        d["return_pct"] = self.return_pct
        return d


@dataclass(frozen=True, kw_only=True, slots=True)
class OrderRecord:
    """An order as it ended: what was asked, what happened, and why."""

    ref: int
    symbol: str
    side: str  # "buy" | "sell"
    order_type: str  # "market" | "limit" | "stop" | "stop_limit" | ...
    quantity: float
    created: datetime
    status: str  # "completed" | "canceled" | "rejected" | "margin" | "expired" | "denied"
    limit_price: float | None = None
    stop_price: float | None = None
    filled_quantity: float = 0.0
    fill_price: float | None = None
    commission: float = 0.0
    executed: datetime | None = None
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict (times as ISO strings)."""
        d = asdict(self)
        for key in ("created", "executed"):
            if d[key] is not None:
                d[key] = d[key].isoformat()
        return d
