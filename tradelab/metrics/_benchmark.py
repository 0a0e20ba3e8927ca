"""Benchmark-relative statistics: CAPM alpha and beta, R², correlation, tracking, information."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from tradelab.errors import ConfigError
from tradelab.metrics._collect import Collector
from tradelab.metrics.registry import NO_BENCHMARK, ZERO_VOLATILITY

BENCHMARK_METRICS = (
    "alpha",
    "beta",
    "r_squared",
    "correlation",
    "tracking_error",
    "information_ratio",
    "benchmark_return",
    "excess_return",
)
NO_SHARED = "no bars shared with the benchmark"
FEW_SHARED = "fewer than 2 bars shared with the benchmark"
FLAT_BENCHMARK = "benchmark has zero variance"


def benchmark_values(benchmark: pd.Series, index: pd.DatetimeIndex) -> pd.Series:
    """Validate a benchmark return series against the strategy's ``index``; drop its NaN bars.

    Raises:
        ConfigError: not a Series with a unique DatetimeIndex in the same time-zone awareness
            as the strategy's, not numeric, or holding infinite values.
    """
    if not isinstance(benchmark, pd.Series):
        raise ConfigError(
            f"benchmark_returns must be a pandas Series of periodic returns, got "
            f"{type(benchmark).__name__}."
        )
    bench_index = benchmark.index
    if not isinstance(bench_index, pd.DatetimeIndex):
        raise ConfigError(
            f"benchmark_returns must have a DatetimeIndex, got {type(bench_index).__name__}."
        )
    if (bench_index.tz is None) != (index.tz is None):
        raise ConfigError(
            f"benchmark_returns index has time zone {bench_index.tz}, the returns have "
            f"{index.tz}; both must be tz-aware (UTC) so their bars can be matched."
        )
    if not bench_index.is_unique:
        raise ConfigError("benchmark_returns index has duplicate timestamps; drop them first.")
    try:
        values = benchmark.to_numpy(dtype=float, na_value=np.nan)
    except (TypeError, ValueError):
        raise ConfigError(
            f"benchmark_returns must hold numbers, got dtype {benchmark.dtype}."
        ) from None
    if np.isinf(values).any():
        raise ConfigError("benchmark_returns contain infinite values; clean the benchmark first.")
    finite = ~np.isnan(values)
    if finite.all():
        return pd.Series(values, index=benchmark.index, copy=False)
    return pd.Series(values[finite], index=benchmark.index[finite], copy=False)


def align(
    returns: np.ndarray, index: pd.DatetimeIndex, benchmark: pd.Series
) -> tuple[np.ndarray, np.ndarray]:
    """Strategy and benchmark returns on the bars both have (benchmark NaN already dropped)."""
    if benchmark.index.equals(index):
        return returns, benchmark.to_numpy()
    shared = index.get_indexer(benchmark.index)
    keep = shared >= 0
    positions = shared[keep]
    order = np.argsort(positions, kind="stable")
    return returns[positions[order]], benchmark.to_numpy()[keep][order]


def benchmark_metrics(
    out: Collector,
    returns: np.ndarray | None,
    benchmark: np.ndarray | None,
    *,
    periods_per_year: int,
    rf_per_period: float,
) -> None:
    """Fill the benchmark metrics from returns and benchmark aligned on their shared bars."""
    if returns is None or benchmark is None:
        out.undefined(BENCHMARK_METRICS, NO_BENCHMARK)
        return
    m = returns.size
    if m == 0:
        out.undefined(BENCHMARK_METRICS[:6], FEW_SHARED)
        out.undefined(BENCHMARK_METRICS[6:], NO_SHARED)
        return
    bench_total = float(np.prod(1.0 + benchmark)) - 1.0
    out.put("benchmark_return", bench_total)
    out.put("excess_return", float(np.prod(1.0 + returns)) - 1.0 - bench_total)
    if m < 2:
        out.undefined(BENCHMARK_METRICS[:6], FEW_SHARED)
        return

    root_p = math.sqrt(periods_per_year)
    active = returns - benchmark
    if active.max() == active.min():
        out.put("tracking_error", 0.0)
        out.undefined("information_ratio", "zero tracking error")
    else:
        active_std = float(active.std(ddof=1))
        out.put("tracking_error", active_std * root_p)
        out.put("information_ratio", float(active.mean()) / active_std * root_p)

    if benchmark.max() == benchmark.min():
        out.undefined(("alpha", "beta", "r_squared", "correlation"), FLAT_BENCHMARK)
        return
    excess = returns - rf_per_period
    bench_excess = benchmark - rf_per_period
    dev_s = excess - excess.mean()
    dev_b = bench_excess - bench_excess.mean()
    var_b = float(np.dot(dev_b, dev_b))
    cov = float(np.dot(dev_s, dev_b))
    beta = cov / var_b
    out.put("beta", beta)
    out.put("alpha", (float(excess.mean()) - beta * float(bench_excess.mean())) * periods_per_year)
    if returns.max() == returns.min():
        out.undefined(("r_squared", "correlation"), ZERO_VOLATILITY)
        return
    corr = cov / math.sqrt(var_b * float(np.dot(dev_s, dev_s)))
    corr = min(1.0, max(-1.0, corr))
    out.put("correlation", corr)
    out.put("r_squared", corr * corr)
