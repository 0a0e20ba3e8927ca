"""What the trading engine answers to an order submission."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tradelab.brokers.records import BrokerOrder, OrderRequest
from tradelab.risk import RiskDecision

__all__ = ["SubmitOutcome"]


@dataclass(frozen=True, kw_only=True, slots=True)
class SubmitOutcome:
    """One order submission: the request, the risk decision, and the broker's order if sent.

    Attributes:
        request: What was asked.
        decision: The risk manager's answer (a denial is a value, with the rule and numbers).
        order: The broker's order when approved and sent; ``None`` when denied.
        source: Who asked: ``"api"``, ``"strategy:<name>"``, ``"kill"`` ...
    """

    request: OrderRequest
    decision: RiskDecision
    order: BrokerOrder | None
    source: str = "api"

    @property
    def accepted(self) -> bool:
        """Whether the order reached the broker."""
        return self.order is not None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict (the API's response body)."""
        return {
            "accepted": self.accepted,
            "source": self.source,
            "risk": {"approved": self.decision.approved, "rule": self.decision.rule,
                     "reason": self.decision.reason},
            "request": self.request.to_dict(),
            "order": None if self.order is None else self.order.to_dict(),
        }
