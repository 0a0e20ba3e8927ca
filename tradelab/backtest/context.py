"""What a run hands its strategies: the risk manager and where denied orders are recorded.

The engine (or, later, the live runner) attaches a :class:`RunContext` to the ``Cerebro`` as
``cerebro.tradelab_context``; ``strategies.base.BaseStrategy`` reads it, and creates a default one
when a strategy runs in a plain ``Cerebro``, so the risk manager is never skipped.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tradelab.records import OrderRecord
from tradelab.risk import RiskConfig, RiskManager

__all__ = ["CONTEXT_ATTRIBUTE", "RunContext"]

CONTEXT_ATTRIBUTE = "tradelab_context"


@dataclass(slots=True)
class RunContext:
    """Mutable per-run state shared between the engine and the strategy."""

    risk: RiskManager = field(default_factory=lambda: RiskManager(RiskConfig()))
    denied_orders: list[OrderRecord] = field(default_factory=list)
