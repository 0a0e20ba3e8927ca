"""A Ray task that runs one parameter set over row segments of every symbol and returns its
daily returns — the unit of work of walk-forward searches, their out-of-sample runs and the
returns matrix of study diagnostics.

A *segment* is ``(begin, measure_from, end)`` in rows of a symbol's :class:`DataHandle`: the
backtest runs on rows ``[begin, end)`` and only the days from row ``measure_from`` on are
measured — the rows before it warm the indicators up (walk-forward OOS runs start at the train
period, so a 200-day average is ready on the first test day, yet only test days are counted).
"""

from __future__ import annotations

import math
import time
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import ray

from cluster._trial import _strategy, aggregate
from cluster.data_service import DataHandle, fetch_arrays

__all__ = ["EvaluationSpec", "Segment", "evaluate", "evaluate_task", "portfolio_returns"]

Segment = tuple[int, int, int]


@dataclass(frozen=True, kw_only=True, slots=True)
class EvaluationSpec:
    """What every evaluation of one analysis shares (data arrives as ObjectRefs in handles)."""

    strategy: str
    handles: tuple[DataHandle, ...]
    metric: str = "sharpe"
    aggregate: str = "mean"
    min_trades: int = 0
    costs: str = "ib-fixed"
    cash: float = 100_000.0
    bar_size: str = "1d"
    fixed_params: Mapping[str, Any] = field(default_factory=dict)


def evaluate(
    spec: EvaluationSpec, params: Mapping[str, Any], segments: Mapping[str, Sequence[Segment]]
) -> dict[str, Any]:
    """Backtest ``params`` on each symbol's segments.

    Returns:
        ``state`` (COMPLETE, FAILED, INFEASIBLE or ERROR), ``objective`` (the aggregate of
        ``spec.metric`` over the backtests; NaN unless COMPLETE), ``metrics`` (every metric's
        mean over the backtests), ``returns`` (symbol -> daily returns of the measured days,
        segments concatenated), ``trades`` (closed trades that exited on a measured day),
        ``error`` and ``cpu_s``.
    """
    from tradelab.backtest import run_backtest
    from tradelab.errors import ParameterError
    from tradelab.strategy import validate_params

    began = time.process_time()
    strategy = _strategy(spec.strategy)
    merged = {**dict(spec.fixed_params), **dict(params)}
    out: dict[str, Any] = {
        "state": "COMPLETE",
        "objective": math.nan,
        "metrics": {},
        "returns": {},
        "trades": 0,
        "error": None,
        "cpu_s": 0.0,
    }
    try:
        merged = validate_params(strategy, merged)
    except ParameterError as exc:
        return {**out, "state": "INFEASIBLE", "error": str(exc)}
    scores: list[float] = []
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    for handle in spec.handles:
        pieces = []
        arrays = fetch_arrays(handle)
        for begin, measure_from, end in segments.get(handle.symbol, ()):
            window = {name: column[begin:end] for name, column in arrays.items()}
            try:
                result = run_backtest(
                    {handle.symbol: window},
                    strategy,
                    params=merged,
                    cash=spec.cash,
                    costs=spec.costs,
                    bar_size=spec.bar_size,
                )
            except Exception:  # noqa: BLE001 - a strategy bug fails this evaluation only
                return {
                    **out,
                    "state": "ERROR",
                    "error": traceback.format_exc(limit=20),
                    "cpu_s": time.process_time() - began,
                }
            first = pd.Timestamp(int(arrays["timestamp"][measure_from]), tz="UTC").normalize()
            returns = result.returns
            pieces.append(returns[returns.index >= first])
            out["trades"] += sum(
                1
                for t in result.closed_trades
                if t.exit_time is not None and pd.Timestamp(t.exit_time) >= first
            )
            for name, value in result.metrics.values.items():
                if value is not None and math.isfinite(value):
                    sums[name] = sums.get(name, 0.0) + value
                    counts[name] = counts.get(name, 0) + 1
            value = result.metrics.values.get(spec.metric, math.nan)
            scores.append(value if value is not None else math.nan)
        if pieces:
            series = pd.concat(pieces)
            out["returns"][handle.symbol] = series[~series.index.duplicated(keep="last")]
    out["metrics"] = {name: sums[name] / counts[name] for name in sums}
    out["cpu_s"] = time.process_time() - began
    if not scores or not all(math.isfinite(s) for s in scores):
        return {
            **out,
            "state": "FAILED",
            "error": f"{spec.metric} undefined on at least one backtest",
        }
    if out["trades"] < spec.min_trades:
        return {
            **out,
            "state": "FAILED",
            "error": f"{out['trades']} closed trades, below min_trades {spec.min_trades}",
        }
    out["objective"] = aggregate(scores, spec.aggregate)
    return out


evaluate_task = ray.remote(num_cpus=1)(evaluate)
"""``evaluate`` as a Ray task (one CPU)."""


def portfolio_returns(returns: Mapping[str, pd.Series]) -> pd.Series:
    """The equal-weight portfolio of per-symbol daily returns (rebalanced daily; a day a symbol
    has no bar counts as a 0 return for it)."""
    if not returns:
        return pd.Series(dtype=float, name="returns")
    frame = pd.concat(dict(returns), axis=1).sort_index().fillna(0.0)
    return frame.mean(axis=1).rename("returns")


def benchmark_returns(handles: Sequence[DataHandle]) -> pd.Series:
    """Daily returns of an equal-weight buy-and-hold of the handles' closes (the regime
    benchmark), over the handles' whole ranges."""
    from tradelab.analysis import buy_and_hold_returns

    closes = {}
    for handle in handles:
        arrays = ray.get(handle.ref)
        window = slice(handle.begin, handle.end)
        index = pd.DatetimeIndex(pd.to_datetime(np.asarray(arrays["timestamp"][window]), utc=True))
        closes[handle.symbol] = pd.Series(
            np.asarray(arrays["close"][window], dtype=float), index=index
        )
    return buy_and_hold_returns(closes)
