"""``OptimizeConfig``: everything one optimization study needs, validated before any trial."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from tradelab.errors import ConfigError, UnknownNameError, did_you_mean

__all__ = ["AGGREGATES", "OptimizeConfig", "SEARCHES"]

SEARCHES = ("optuna", "nsga2", "grid", "random")
AGGREGATES = ("mean", "median", "mean_minus_std")
_STUDY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


@dataclass(frozen=True, kw_only=True, slots=True)
class OptimizeConfig:
    """One optimization study.

    Attributes:
        strategy: strategy name or ``module:Class`` path.
        symbols: symbols to evaluate every parameter set on.
        start, end: date range (inclusive); None = all stored data.
        bar_size: bar size of the stored data.
        folds: contiguous time splits per symbol; a trial runs ``len(symbols) * folds`` backtests.
        metric: objective metric name(s) — several for a multi-objective (NSGA-II) study.
        mode: ``max`` or ``min`` per metric.
        aggregate: how a trial's per-backtest objectives combine: ``mean``, ``median`` or
            ``mean_minus_std`` (robust: rewards consistency across symbols and folds).
        search: ``optuna`` (TPE), ``nsga2`` (multi-objective), ``grid`` or ``random``.
        trials: number of trials (for ``grid``: at most this many of the feasible points;
            ``0`` = all of them).
        concurrency: trials at once (default: the cluster's CPUs).
        space_file: JSON/YAML file overriding the strategy's declared space.
        constraints: extra constraints (expressions over parameter names).
        fixed_params: parameters held fixed (not searched).
        min_trades: below this many closed trades over all its backtests a trial is FAILED.
        costs, cash: as for a backtest.
        seed: sampler seed.
        early_stopping: ASHA over the backtests of a trial (single-objective only).
        target: stop the study once the best objective reaches this value.
        patience: stop the study after this many finished trials without improvement.
        points_to_evaluate: parameter sets to try first (warm start, e.g. earlier best params).
        study: the study name (a directory under ``$TRADELAB_HOME/studies``; resumable).
        project, asset_class: tracking tags.
        max_failures: retries of a trial after an infrastructure failure (a node dying).
        best_n_artifacts: trials whose equity curve, trades and tear sheet are logged.
    """

    strategy: str
    symbols: tuple[str, ...]
    start: str | None = None
    end: str | None = None
    bar_size: str = "1d"
    folds: int = 1
    metric: tuple[str, ...] = ("sharpe",)
    mode: tuple[str, ...] = ("max",)
    aggregate: str = "mean"
    search: str = "optuna"
    trials: int = 50
    concurrency: int | None = None
    space_file: str | None = None
    constraints: tuple[str, ...] = ()
    fixed_params: Mapping[str, Any] = field(default_factory=dict)
    min_trades: int = 1
    costs: str = "ib-fixed"
    cash: float = 100_000.0
    seed: int | None = 1
    early_stopping: bool = True
    target: float | None = None
    patience: int | None = None
    points_to_evaluate: tuple[Mapping[str, Any], ...] = ()
    study: str | None = None
    project: str = "default"
    asset_class: str = "equity"
    max_failures: int = 2
    best_n_artifacts: int = 3

    def __post_init__(self) -> None:
        def put(name: str, value: Any) -> None:
            object.__setattr__(self, name, value)

        if isinstance(self.symbols, str):
            put("symbols", (self.symbols,))
        put("symbols", tuple(dict.fromkeys(s.strip().upper() for s in self.symbols if s.strip())))
        if not self.symbols:
            raise ConfigError("symbols: give at least one symbol, e.g. symbols=('AAA',).")
        put("metric", (self.metric,) if isinstance(self.metric, str) else tuple(self.metric))
        put("mode", (self.mode,) if isinstance(self.mode, str) else tuple(self.mode))
        if len(self.mode) == 1 and len(self.metric) > 1:
            put("mode", self.mode * len(self.metric))
        if len(self.mode) != len(self.metric):
            raise ConfigError(f"mode: give one mode per metric; got {len(self.mode)} modes for "
                              f"{len(self.metric)} metrics {list(self.metric)}.")
        for mode in self.mode:
            if mode not in ("max", "min"):
                raise ConfigError(f"mode must be 'max' or 'min', got {mode!r}.")
        from tradelab.metrics import METRICS

        for metric in self.metric:
            if metric not in METRICS:
                raise UnknownNameError("metric", metric, METRICS)
        if self.search not in SEARCHES:
            raise UnknownNameError("search", self.search, SEARCHES)
        if len(self.metric) > 1 and self.search == "optuna":
            put("search", "nsga2")
        if self.aggregate not in AGGREGATES:
            raise UnknownNameError("aggregate", self.aggregate, AGGREGATES)
        for name, low in (("folds", 1), ("trials", 0), ("min_trades", 0), ("max_failures", 0),
                          ("best_n_artifacts", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigError(f"{name} must be an integer >= {low}, got {value!r}.")
        if self.trials == 0 and self.search != "grid":
            raise ConfigError("trials must be >= 1 (0 means 'every grid point' with "
                              "search='grid' only).")
        if self.concurrency is not None and (not isinstance(self.concurrency, int)
                                             or self.concurrency < 1):
            raise ConfigError(f"concurrency must be an integer >= 1, got {self.concurrency!r}.")
        if not (isinstance(self.cash, int | float) and math.isfinite(self.cash)
                and self.cash > 0):
            raise ConfigError(f"cash must be a positive number, got {self.cash!r}.")
        if self.patience is not None and self.patience < 1:
            raise ConfigError(f"patience must be >= 1, got {self.patience}.")
        if self.study is not None and not _STUDY_NAME.match(self.study):
            raise ConfigError(f"study name {self.study!r} may use letters, digits, '.', '-' "
                              "and '_' (at most 100 characters).")
        put("constraints", tuple(self.constraints))
        put("fixed_params", dict(self.fixed_params))
        put("points_to_evaluate", tuple(dict(p) for p in self.points_to_evaluate))

    @property
    def multi_objective(self) -> bool:
        return len(self.metric) > 1

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("symbols", "metric", "mode", "constraints"):
            data[key] = list(data[key])
        data["points_to_evaluate"] = [dict(p) for p in self.points_to_evaluate]
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, default=str)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> OptimizeConfig:
        """Build from a mapping (a JSON/YAML file), rejecting unknown keys with a suggestion."""
        known = {f.name for f in fields(cls)}
        for key in data:
            if key not in known:
                raise ConfigError(f"unknown optimize setting '{key}'.{did_you_mean(key, known)}")
        values = dict(data)
        for key in ("symbols", "metric", "mode", "constraints", "points_to_evaluate"):
            if key in values and isinstance(values[key], list):
                values[key] = tuple(values[key])
        return cls(**values)
