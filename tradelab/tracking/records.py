"""The immutable record of one optimizer trial, as the tracker logs it."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from tradelab.errors import ConfigError, UnknownNameError
from tradelab.tracking._values import finite, plain

__all__ = ["RESERVED_METRICS", "TRIAL_STATES", "TrialRecord", "best_trials"]

TRIAL_STATES: tuple[str, ...] = ("COMPLETE", "FAILED", "ERROR", "STOPPED", "INFEASIBLE")
"""``COMPLETE`` has an objective; ``FAILED``: objective undefined (too few trades, NaN);
``ERROR``: the strategy raised; ``STOPPED``: early-stopped (ASHA); ``INFEASIBLE``: broke a
constraint."""

RESERVED_METRICS: frozenset[str] = frozenset({"value", "backtests", "duration_s", "cpu_s"})
"""MLflow metric names the tracker writes itself (also every ``value.<objective>``)."""

_FIELDS = (
    "trial_id",
    "number",
    "params",
    "state",
    "value",
    "values",
    "metrics",
    "backtests",
    "error",
    "duration_s",
    "cpu_s",
)


@dataclass(frozen=True, kw_only=True, slots=True)
class TrialRecord:
    """One optimizer trial: its parameters, outcome and cost.

    Attributes:
        trial_id: the Ray Tune trial id, unique within a study.
        number: 0-based order of creation.
        params: the parameter set the trial evaluated.
        state: one of :data:`TRIAL_STATES`.
        value: the aggregated objective; a finite number for ``COMPLETE``, ``None`` otherwise.
        values: per objective metric (multi-objective studies); ``None`` where undefined.
        metrics: every metric, aggregated (mean) over the trial's backtests; NaN allowed.
        backtests: backtests evaluated (symbols x folds, fewer if stopped).
        error: the traceback for ``ERROR``, the reason for ``FAILED`` / ``INFEASIBLE``.
        duration_s: wall seconds of the trial; cpu_s: in-trial backtest CPU seconds.

    The mappings are read-only copies; a record pickles (for Ray) and round-trips through
    :meth:`to_dict` / :meth:`from_dict`.

    Example:
        >>> record = TrialRecord(trial_id="a1", number=0, params={"fast": 10}, state="COMPLETE",
        ...                      value=0.8, metrics={"sharpe": 0.8, "win_rate": float("nan")})
        >>> record.to_dict()["metrics"]
        {'sharpe': 0.8, 'win_rate': None}
    """

    trial_id: str
    number: int
    params: Mapping[str, Any]
    state: str
    value: float | None
    values: Mapping[str, float | None] = field(default_factory=dict)
    metrics: Mapping[str, float] = field(default_factory=dict)
    backtests: int = 0
    error: str | None = None
    duration_s: float = 0.0
    cpu_s: float = 0.0

    def __post_init__(self) -> None:
        where = f"trial {self.trial_id!r}"
        if not isinstance(self.trial_id, str) or not self.trial_id.strip():
            raise ConfigError(
                f"TrialRecord.trial_id must be a non-empty string, got {self.trial_id!r}."
            )
        _count(self.number, "number", where)
        _count(self.backtests, "backtests", where)
        if self.state not in TRIAL_STATES:
            raise UnknownNameError("trial state", str(self.state), TRIAL_STATES)
        if not isinstance(self.params, Mapping):
            raise ConfigError(f"{where}: params must be a mapping, got {self.params!r}.")
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))
        object.__setattr__(self, "value", _objective(self.value, self.state, where))
        object.__setattr__(self, "values", _floats(self.values, "values", where, allow_none=True))
        metrics = _floats(self.metrics, "metrics", where, allow_none=False)
        clash = sorted(k for k in metrics if k in RESERVED_METRICS or k.startswith("value."))
        if clash:
            raise ConfigError(
                f"{where}: metrics {clash} clash with names the tracker writes itself "
                f"({sorted(RESERVED_METRICS)} and value.<objective>); rename them."
            )
        object.__setattr__(self, "metrics", metrics)
        if self.error is not None and not isinstance(self.error, str):
            raise ConfigError(f"{where}: error must be a string or None, got {self.error!r}.")
        for name in ("duration_s", "cpu_s"):
            seconds = finite(getattr(self, name))
            if seconds is None or seconds < 0:
                raise ConfigError(
                    f"{where}: {name} must be a finite number >= 0, got {getattr(self, name)!r}."
                )
            object.__setattr__(self, name, seconds)

    def __reduce__(self) -> tuple[Any, ...]:
        fields = {name: getattr(self, name) for name in _FIELDS}
        for name in ("params", "values", "metrics"):
            fields[name] = dict(fields[name])
        return (_rebuild, (fields,))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict of every field; NaN and infinities become ``None``."""
        return {
            "trial_id": self.trial_id,
            "number": self.number,
            "params": plain(self.params),
            "state": self.state,
            "value": self.value,
            "values": {k: _json_float(v) for k, v in self.values.items()},
            "metrics": {k: _json_float(v) for k, v in self.metrics.items()},
            "backtests": self.backtests,
            "error": self.error,
            "duration_s": self.duration_s,
            "cpu_s": self.cpu_s,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrialRecord:
        """Rebuild a record from :meth:`to_dict` output (``None`` metrics become NaN).

        Raises:
            ConfigError: a key is unknown or a required one is missing.
        """
        unknown = sorted(set(data) - set(_FIELDS))
        if unknown:
            raise ConfigError(f"unknown TrialRecord keys {unknown}; known: {list(_FIELDS)}.")
        missing = [k for k in ("trial_id", "number", "params", "state") if k not in data]
        if missing:
            raise ConfigError(f"TrialRecord data misses {missing}.")
        fields = dict(data)
        fields.setdefault("value", None)
        fields["metrics"] = {
            k: math.nan if v is None else v for k, v in (data.get("metrics") or {}).items()
        }
        return cls(**fields)


def best_trials(
    trials: Iterable[TrialRecord], *, n: int, mode: str = "max"
) -> tuple[TrialRecord, ...]:
    """The ``n`` best ``COMPLETE`` trials by objective, best first (ties: lower number first).

    Args:
        trials: the study's trials.
        n: how many to return (``TrackingConfig.best_n_artifacts``).
        mode: ``"max"`` or ``"min"``.

    Example:
        >>> trials = [TrialRecord(trial_id=str(i), number=i, params={}, state="COMPLETE",
        ...                       value=float(i)) for i in range(4)]
        >>> [t.number for t in best_trials(trials, n=2)]
        [3, 2]
    """
    if mode not in ("max", "min"):
        raise ConfigError(f"mode must be 'max' or 'min', got {mode!r}.")
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise ConfigError(f"n must be an integer >= 0, got {n!r}.")
    sign = -1.0 if mode == "max" else 1.0
    complete = [t for t in trials if t.state == "COMPLETE" and t.value is not None]
    return tuple(sorted(complete, key=lambda t: (sign * t.value, t.number))[:n])


def _rebuild(fields: dict[str, Any]) -> TrialRecord:
    return TrialRecord(**fields)


def _json_float(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _count(value: Any, name: str, where: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ConfigError(f"{where}: {name} must be an integer >= 0, got {value!r}.")


def _objective(value: Any, state: str, where: str) -> float | None:
    if state != "COMPLETE":
        if value is not None:
            raise ConfigError(
                f"{where}: value must be None for state {state} (only COMPLETE trials have an "
                f"objective), got {value!r}; report it as COMPLETE or drop the value."
            )
        return None
    number = finite(value)
    if number is None:
        raise ConfigError(
            f"{where}: a COMPLETE trial needs a finite value, got {value!r}; a trial whose "
            "objective is undefined is FAILED."
        )
    return number


def _floats(values: Any, name: str, where: str, *, allow_none: bool) -> MappingProxyType[str, Any]:
    if not isinstance(values, Mapping):
        raise ConfigError(f"{where}: {name} must be a mapping, got {values!r}.")
    out: dict[str, Any] = {}
    for key, value in values.items():
        if not isinstance(key, str) or not key:
            raise ConfigError(f"{where}: {name} keys must be non-empty strings, got {key!r}.")
        if value is None and allow_none:
            out[key] = None
            continue
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            and not hasattr(value, "__float__")
        ):
            raise ConfigError(f"{where}: {name}[{key!r}] must be a number, got {value!r}.")
        out[key] = float(value)
    return MappingProxyType(out)
