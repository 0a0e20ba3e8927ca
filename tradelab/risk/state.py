"""TradingState: whether a :class:`tradelab.risk.RiskManager` lets orders through."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["TradingState"]


class TradingState(StrEnum):
    """The trading state of a risk manager.

    * ``ACTIVE``: orders are checked against every limit.
    * ``REDUCING``: only orders that shrink an existing position are approved.
    * ``HALTED``: every order is denied.

    A ``StrEnum`` (a ``str`` and an ``Enum``): ``TradingState.HALTED == "HALTED"`` and
    ``str(TradingState.HALTED) == "HALTED"``.

    Example:
        >>> TradingState("HALTED") is TradingState.HALTED
        True
    """

    ACTIVE = "ACTIVE"
    REDUCING = "REDUCING"
    HALTED = "HALTED"
