"""One trial: a parameter set evaluated over every (symbol, fold), reporting after each backtest.

This is the whole of the Ray work of a study: the function Tune runs. It reads market data only
through the data service's ObjectRefs (zero-copy), calls ``tradelab.backtest.run_backtest`` once
per (symbol, fold) and reports the running objective so ASHA can stop a poor trial early.
"""

from __future__ import annotations

import json
import math
import statistics
import time
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cluster.data_service import DataHandle, handle_rows

__all__ = ["TrialContext", "aggregate", "fold_windows", "run_trial"]

# result keys
PARTIAL = "objective_partial"
METRICS_KEY = "metrics_json"
OBJECTIVE = "objective"
STATE = "state"


@dataclass(frozen=True, kw_only=True, slots=True)
class TrialContext:
    """What every trial of a study shares (small: data arrives as ObjectRefs in the handles)."""

    strategy: str
    handles: tuple[DataHandle, ...]
    folds: int
    metrics: tuple[str, ...]
    modes: tuple[str, ...]
    aggregate: str
    min_trades: int
    costs: str
    cash: float
    bar_size: str
    fixed_params: Mapping[str, Any]
    constraints: tuple[str, ...]
    report_every_backtest: bool = True
    completed: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @property
    def backtests(self) -> int:
        return len(self.handles) * self.folds


def objective_keys(metrics: Sequence[str]) -> list[str]:
    """Result keys of the objective(s): ``objective`` or ``objective.<metric>`` for several."""
    if len(metrics) == 1:
        return [OBJECTIVE]
    return [f"{OBJECTIVE}.{m}" for m in metrics]


def fold_windows(rows: int, folds: int) -> list[slice]:
    """``folds`` contiguous, non-overlapping row windows covering ``rows`` rows."""
    edges = [round(i * rows / folds) for i in range(folds + 1)]
    return [slice(edges[i], edges[i + 1]) for i in range(folds)]


def aggregate(values: Sequence[float], how: str) -> float:
    """Combine per-backtest objectives: mean, median, or mean minus (population) std."""
    if not values:
        return math.nan
    if how == "median":
        return float(statistics.median(values))
    mean = float(statistics.fmean(values))
    if how == "mean_minus_std":
        return mean - (float(statistics.pstdev(values)) if len(values) > 1 else 0.0)
    return mean


_STRATEGIES: dict[str, type] = {}


def _strategy(ref: str) -> type:
    """The strategy class, looked up once per worker process (actors are reused across trials;
    a name lookup scans the strategy package)."""
    if ref not in _STRATEGIES:
        from tradelab.strategy import load_strategy

        _STRATEGIES[ref] = load_strategy(ref)
    return _STRATEGIES[ref]


# This worker's views of the current study's datasets, by ObjectRef: Tune reuses a trial's actor
# for the study's next trials, which then skip the ray.get (a round trip to the data service that
# owns the objects). Replaced, not grown, when a trial brings other datasets.
_VIEWS: dict[Any, dict[str, Any]] = {}


def _study_arrays(handles: Sequence[DataHandle]) -> dict[Any, dict[str, Any]]:
    refs = [h.ref for h in handles]
    if any(ref not in _VIEWS for ref in refs) or len(_VIEWS) != len(set(refs)):
        import ray

        _VIEWS.clear()
        _VIEWS.update(zip(refs, ray.get(refs), strict=True))
    return _VIEWS


def params_key(params: Mapping[str, Any]) -> str:
    """A stable key of a parameter set (the journal of finished trials is keyed by it)."""
    return json.dumps({k: params[k] for k in sorted(params)}, default=str)


def run_trial(config: dict[str, Any], context: TrialContext) -> None:
    """The Tune function trainable (bound with ``tune.with_parameters``)."""
    from ray import tune

    from tradelab.backtest import run_backtest
    from tradelab.errors import ParameterError
    from tradelab.strategy import ParameterSpace, default_params, validate_params

    began = time.perf_counter()
    key = params_key(config)
    finished = context.completed.get(key)
    if finished is not None:
        # finished before the driver died, after the last saved experiment state: report the
        # journaled result instead of running its backtests again
        tune.report({**finished, "resumed_from_journal": True})
        return
    strategy = _strategy(context.strategy)
    params = {**dict(context.fixed_params), **config}
    constraint_space = ParameterSpace({}, constraints=context.constraints, partial=True)
    broken = constraint_space.failed_constraints({**default_params(strategy), **params})
    try:
        if broken:
            raise ParameterError(f"breaks constraint {broken[0]!r}")
        params = validate_params(strategy, params)
    except ParameterError as exc:
        tune.report({STATE: "INFEASIBLE", "reason": str(exc), PARTIAL: math.nan,
                     "backtests_done": 0, "cpu_s": 0.0})
        return
    scores: dict[str, list[float]] = {m: [] for m in context.metrics}
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    trades = 0
    cpu = 0.0
    done = 0
    views = _study_arrays(context.handles)
    for handle in context.handles:
        arrays = handle_rows(handle, views[handle.ref])
        for fold, window in enumerate(fold_windows(handle.rows, context.folds)):
            piece = {name: column[window] for name, column in arrays.items()}
            cpu_began = time.process_time()
            try:
                result = run_backtest({handle.symbol: piece}, strategy, params=params,
                                      cash=context.cash, costs=context.costs,
                                      bar_size=context.bar_size)
            except Exception:  # noqa: BLE001 - a strategy bug fails this trial, not the study
                tune.report({STATE: "ERROR", "error": traceback.format_exc(limit=20),
                             "where": f"{handle.symbol} fold {fold + 1}", PARTIAL: math.nan,
                             "backtests_done": done, "cpu_s": cpu,
                             "duration_s": time.perf_counter() - began})
                return
            cpu += time.process_time() - cpu_began
            done += 1
            values = result.metrics.values
            trades += int(values.get("num_trades", 0) or 0)
            for name, value in values.items():
                if value is not None and math.isfinite(value):
                    sums[name] = sums.get(name, 0.0) + value
                    counts[name] = counts.get(name, 0) + 1
            for metric in context.metrics:
                value = values.get(metric, math.nan)
                if value is None or not math.isfinite(value):
                    reason = result.metrics.undefined.get(metric, "not a finite number")
                    tune.report({STATE: "FAILED", PARTIAL: math.nan, "backtests_done": done,
                                 "reason": f"{metric} undefined on {handle.symbol} fold "
                                           f"{fold + 1}: {reason}", "trades": trades,
                                 "cpu_s": cpu, "duration_s": time.perf_counter() - began})
                    return
                scores[metric].append(value)
            first = context.metrics[0]
            report: dict[str, Any] = {
                PARTIAL: aggregate(scores[first], context.aggregate),
                "backtests_done": done, "trades": trades, "cpu_s": cpu,
            }
            if done < context.backtests and context.report_every_backtest:
                tune.report(report)
    # One string, not 50 numeric keys: Tune keeps min/max/avg/last of every numeric result key
    # of every trial in its experiment state, which it rewrites on every save.
    means = {METRICS_KEY: json.dumps({name: sums[name] / counts[name] for name in sums})}
    final: dict[str, Any] = {
        PARTIAL: aggregate(scores[context.metrics[0]], context.aggregate),
        "backtests_done": done, "trades": trades, "cpu_s": cpu,
        "duration_s": time.perf_counter() - began, **means,
    }
    if trades < context.min_trades:
        final.update({STATE: "FAILED", "reason": f"{trades} closed trades over {done} backtests,"
                      f" below min_trades {context.min_trades}"})
    else:
        final[STATE] = "COMPLETE"
        for key, metric in zip(objective_keys(context.metrics), context.metrics, strict=True):
            final[key] = aggregate(scores[metric], context.aggregate)
    final["done"] = True  # ends the trial with this result, without another round trip
    tune.report(final)
