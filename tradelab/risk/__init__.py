"""Risk management shared by backtests and live trading: limits, trading state, decisions.

Denials are values (:class:`RiskDecision`), never exceptions; the trading state is
``ACTIVE | REDUCING | HALTED``. Nothing here does I/O.

Example:
    >>> from tradelab.risk import OrderIntent, PortfolioSnapshot, RiskConfig, RiskManager
    >>> manager = RiskManager(RiskConfig(max_concentration=0.10))
    >>> portfolio = PortfolioSnapshot(equity=50_000.0, cash=50_000.0, positions={})
    >>> decision = manager.check(OrderIntent(symbol="AAA", side="buy", quantity=40, price=100.0),
    ...                          portfolio)
    >>> decision.approved, manager.state.value
    (True, 'ACTIVE')
"""

from __future__ import annotations

from tradelab.risk.config import RiskConfig
from tradelab.risk.decisions import EventKind, RiskDecision, RiskEvent
from tradelab.risk.manager import RiskManager
from tradelab.risk.records import OrderIntent, PortfolioSnapshot, Position
from tradelab.risk.state import TradingState

__all__ = [
    "EventKind",
    "OrderIntent",
    "PortfolioSnapshot",
    "Position",
    "RiskConfig",
    "RiskDecision",
    "RiskEvent",
    "RiskManager",
    "TradingState",
]
