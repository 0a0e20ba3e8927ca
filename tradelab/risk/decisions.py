"""What a risk manager answers and records: decisions and the event log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

__all__ = ["EventKind", "RiskDecision", "RiskEvent"]

EventKind = Literal["order_check", "state_change", "daily_reset"]


@dataclass(frozen=True, kw_only=True, slots=True)
class RiskDecision:
    """The answer to one order check. A denial is a value, not an exception.

    Attributes:
        approved: Whether the order may be sent.
        reason: Why, with the numbers (e.g. ``"position AAA would be 31.2% of equity, above
            max_concentration 25.0%"``).
        rule: The rule that denied the order (``"max_concentration"``, ``"halted"``, ...), or
            ``""`` when approved.

    Example:
        >>> decision = RiskDecision(approved=False, reason="trading is HALTED", rule="halted")
        >>> bool(decision)
        False
    """

    approved: bool
    reason: str
    rule: str

    def __bool__(self) -> bool:
        return self.approved


@dataclass(frozen=True, kw_only=True, slots=True)
class RiskEvent:
    """One entry of a risk manager's log: an order check, a state change or a new trading day.

    Attributes:
        timestamp: The snapshot's time (or the time given to ``halt``/``reduce``/``resume``).
        kind: ``"order_check"``, ``"state_change"`` or ``"daily_reset"``.
        symbol: The order's symbol (``""`` for other kinds).
        side: The order's side (``""`` for other kinds).
        quantity: The order's quantity (0.0 for other kinds).
        approved: The decision; ``True`` for events that are not order checks, so ``False`` marks
            exactly the denied orders.
        rule: The deciding rule: the denying rule of a check, the rule that halted or un-halted
            (``"daily_loss_limit"``, ``"max_drawdown"``), ``"manual"``, or ``""``.
        reason: Why, in words with the numbers.
        state: The trading state after the event (``"ACTIVE"``, ``"REDUCING"``, ``"HALTED"``).
    """

    timestamp: datetime | None
    kind: EventKind
    symbol: str
    side: str
    quantity: float
    approved: bool
    rule: str
    reason: str
    state: str

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict (timestamp as an ISO string or ``None``)."""
        return {
            "timestamp": None if self.timestamp is None else self.timestamp.isoformat(),
            "kind": self.kind,
            "symbol": self.symbol,
            "side": self.side,
            "quantity": self.quantity,
            "approved": self.approved,
            "rule": self.rule,
            "reason": self.reason,
            "state": self.state,
        }
