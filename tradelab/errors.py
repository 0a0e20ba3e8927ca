"""The one exception hierarchy of tradelab.

Messages say what was wrong, the value received, and what to do. Risk denials are *not*
exceptions: they are :class:`tradelab.risk.RiskDecision` values.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = [
    "AuditError",
    "BacktestError",
    "BrokerError",
    "ConfigError",
    "DataError",
    "DataNotFoundError",
    "DataQualityError",
    "DuplicateOrderError",
    "OrderError",
    "OrderNotFoundError",
    "ParameterError",
    "StrategyError",
    "TrackingError",
    "TradelabError",
    "UnknownNameError",
    "did_you_mean",
]


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """Return ``" Did you mean 'x'?"`` for the closest choice, or ``""`` when nothing is close.

    Example:
        >>> did_you_mean("sma_crosover", ["sma_crossover", "macd_trend"])
        " Did you mean 'sma_crossover'?"
    """
    matches = difflib.get_close_matches(str(name), list(choices), n=1, cutoff=0.6)
    return f" Did you mean '{matches[0]}'?" if matches else ""


class TradelabError(Exception):
    """Base class of every error tradelab raises on purpose."""


class ConfigError(TradelabError):
    """A setting, option or configuration file is invalid."""


class UnknownNameError(ConfigError):
    """A name (strategy, metric, cost model, parameter ...) that does not exist."""

    def __init__(self, kind: str, name: str, choices: Iterable[str]) -> None:
        choices = sorted(choices)
        self.kind, self.name, self.choices = kind, name, choices
        super().__init__(
            f"unknown {kind} '{name}'.{did_you_mean(name, choices)} "
            f"Known {kind}s: {', '.join(choices) if choices else '(none)'}."
        )


class ParameterError(ConfigError):
    """Strategy parameters that are invalid (unknown name, wrong type, broken constraint)."""


class DataError(TradelabError):
    """Market data that is missing, malformed or inconsistent."""


class DataNotFoundError(DataError):
    """No stored data for the requested symbol, bar size or date range."""


class DataQualityError(DataError):
    """Data refused by the quality checks; ``issues`` lists every problem found."""

    def __init__(self, message: str, issues: Iterable[object] = ()) -> None:
        super().__init__(message)
        self.issues = tuple(issues)


class StrategyError(TradelabError):
    """A strategy that cannot be found, loaded or run."""


class BacktestError(TradelabError):
    """A backtest that cannot run with the inputs given."""


class BrokerError(TradelabError):
    """Broken broker infrastructure (connection, protocol). Not a risk denial."""


class OrderError(BrokerError):
    """An order request that cannot be placed as given (bad field, unknown or duplicate id)."""


class DuplicateOrderError(OrderError):
    """An order with this client order id exists already; nothing new was sent."""


class OrderNotFoundError(OrderError):
    """No order has this client order id."""


class AuditError(TradelabError):
    """The live-trading audit database cannot be opened or written (the message names its URL,
    with any password masked, and what to do). Nothing of the record that failed was written."""


class TrackingError(TradelabError):
    """The experiment tracking store (MLflow) cannot be reached or queried."""
