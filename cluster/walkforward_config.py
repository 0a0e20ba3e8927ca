"""``WalkForwardConfig``: everything one walk-forward analysis needs, validated up front."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from cluster.config import AGGREGATES, OptimizeConfig
from tradelab.analysis import parse_period
from tradelab.errors import ConfigError, UnknownNameError

__all__ = ["WALKFORWARD_SEARCHES", "WalkForwardConfig"]

WALKFORWARD_SEARCHES = ("optuna", "random", "grid")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


@dataclass(frozen=True, kw_only=True, slots=True)
class WalkForwardConfig:
    """One walk-forward analysis.

    Attributes:
        strategy: strategy name or ``module:Class`` path; symbols: one backtest each per trial.
        train, test: period lengths (``"3y"``, ``"6m"``, ``"26w"``, ``"90d"``).
        step: how far each window moves (default: ``test``; at least ``test``).
        anchored: every window trains from the data's start (expanding) instead of rolling.
        trials: trials per window (grid: at most this many points, 0 = all).
        start, end: the analysed range (inclusive dates; default: all stored data, the end
            extended over a weekend after the last bar).
        metric, mode, aggregate: the in-sample objective, as for ``tradelab optimize``.
        search: ``optuna`` (TPE), ``random`` or ``grid``; seed: window k's sampler uses
            ``seed + k``.
        min_trades: a trial with fewer closed trades over its backtests is FAILED.
        costs, cash, bar_size, fixed_params, constraints, space_file: as for a study.
        concurrency: trials running at once (default: the cluster's CPUs).
        name: the analysis name (MLflow tag ``tradelab.walkforward``; default
            ``wfa-<strategy>-<time>``); project, asset_class: tracking tags.
    """

    strategy: str
    symbols: tuple[str, ...]
    train: str = "3y"
    test: str = "6m"
    step: str | None = None
    anchored: bool = False
    trials: int = 50
    start: str | None = None
    end: str | None = None
    bar_size: str = "1d"
    metric: str = "sharpe"
    mode: str = "max"
    aggregate: str = "mean"
    search: str = "optuna"
    seed: int | None = 1
    min_trades: int = 1
    costs: str = "ib-fixed"
    cash: float = 100_000.0
    fixed_params: Mapping[str, Any] = field(default_factory=dict)
    constraints: tuple[str, ...] = ()
    space_file: str | None = None
    concurrency: int | None = None
    name: str | None = None
    project: str = "default"
    asset_class: str = "equity"

    def __post_init__(self) -> None:
        def put(name: str, value: Any) -> None:
            object.__setattr__(self, name, value)

        if self.search not in WALKFORWARD_SEARCHES:
            raise UnknownNameError("walk-forward search", str(self.search), WALKFORWARD_SEARCHES)
        if not isinstance(self.metric, str):
            raise ConfigError(
                f"metric must be one metric name (walk-forward optimizes a single "
                f"objective), got {self.metric!r}."
            )
        if self.aggregate not in AGGREGATES:
            raise UnknownNameError("aggregate", str(self.aggregate), AGGREGATES)
        if not isinstance(self.anchored, bool):
            raise ConfigError(f"anchored must be True or False, got {self.anchored!r}.")
        put("train", parse_period(self.train, what="train").text)
        put("test", parse_period(self.test, what="test").text)
        put("step", self.test if self.step is None else parse_period(self.step, what="step").text)
        put("constraints", tuple(self.constraints))
        put("fixed_params", dict(self.fixed_params))
        if self.name is not None and not _NAME.match(self.name):
            raise ConfigError(
                f"name {self.name!r} may use letters, digits, '.', '-' and '_' "
                "(at most 100 characters, starting with a letter or digit)."
            )
        # the settings a study shares are checked by OptimizeConfig (metric, symbols, trials …)
        put("symbols", self.optimize_config().symbols)

    def optimize_config(self) -> OptimizeConfig:
        """The per-window search as an ``OptimizeConfig`` (validated the same way)."""
        return OptimizeConfig(
            strategy=self.strategy,
            symbols=self.symbols,
            start=self.start,
            end=self.end,
            bar_size=self.bar_size,
            metric=(self.metric,),
            mode=(self.mode,),
            aggregate=self.aggregate,
            search=self.search,
            trials=self.trials,
            concurrency=self.concurrency,
            space_file=self.space_file,
            constraints=self.constraints,
            fixed_params=self.fixed_params,
            min_trades=self.min_trades,
            costs=self.costs,
            cash=self.cash,
            seed=self.seed,
            early_stopping=False,
            project=self.project,
            asset_class=self.asset_class,
            best_n_artifacts=0,
        )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["symbols"] = list(self.symbols)
        data["constraints"] = list(self.constraints)
        return data
