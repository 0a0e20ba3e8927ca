"""Strategy infrastructure: parameter spaces, validation and lookup by name."""

from __future__ import annotations

from tradelab.strategy.eod import EndOfDayClock, EndOfDayConfig, SessionTimes
from tradelab.strategy.params import (
    default_params,
    parse_param_assignments,
    space_of,
    validate_params,
)
from tradelab.strategy.registry import list_strategies, load_strategy, strategy_name
from tradelab.strategy.space import (
    Choice,
    Constraint,
    FloatParam,
    IntParam,
    ParameterSpace,
    load_space_file,
)

__all__ = [
    "Choice",
    "Constraint",
    "EndOfDayClock",
    "EndOfDayConfig",
    "FloatParam",
    "IntParam",
    "ParameterSpace",
    "SessionTimes",
    "default_params",
    "list_strategies",
    "load_space_file",
    "load_strategy",
    "parse_param_assignments",
    "space_of",
    "strategy_name",
    "validate_params",
]
