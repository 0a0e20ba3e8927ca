"""Trading costs: IB commissions, the SEC fee and slippage, as pure functions and named models.

The Backtrader adapter lives in :mod:`tradelab.costs.backtrader` (the only module here that
imports Backtrader): ``apply_costs(cerebro, cost_model("ib-fixed"))``.

Example:
    >>> from tradelab.costs import cost_model, trade_cost
    >>> trade_cost(100, 50.0, side="buy", config=cost_model("ib-fixed"))
    1.0
"""

from __future__ import annotations

from tradelab.costs.calculation import (
    ORDER_TYPES,
    SIDES,
    OrderType,
    Side,
    commission,
    sec_fee,
    slipped_price,
    trade_cost,
)
from tradelab.costs.config import (
    COMMISSION_PRESETS,
    COST_MODELS,
    CommissionConfig,
    CostConfig,
    cost_model,
)

__all__ = [
    "COMMISSION_PRESETS",
    "COST_MODELS",
    "ORDER_TYPES",
    "SIDES",
    "CommissionConfig",
    "CostConfig",
    "OrderType",
    "Side",
    "commission",
    "cost_model",
    "sec_fee",
    "slipped_price",
    "trade_cost",
]
