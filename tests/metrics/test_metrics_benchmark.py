"""Benchmark-relative metrics on constructed benchmarks whose answers are known."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import quantstats as qs

from tests.metrics.metrics_helpers import naive, quantstats, random_returns, utc_series
from tradelab.errors import ConfigError
from tradelab.metrics import compute_metrics

BENCHMARK_SIX = (
    "alpha",
    "beta",
    "r_squared",
    "correlation",
    "tracking_error",
    "information_ratio",
)
ALL_BENCHMARK = (*BENCHMARK_SIX, "benchmark_return", "excess_return")


@pytest.fixture(scope="module")
def benchmark():
    return random_returns(500, seed=21, mean=0.0003, std=0.009)


def test_strategy_twice_benchmark_plus_constant_has_beta_2_and_r_squared_1(benchmark):
    strategy = 2 * benchmark + 0.0001
    report = compute_metrics(strategy, benchmark_returns=benchmark)
    assert report["beta"] == pytest.approx(2.0, rel=1e-9)
    assert report["r_squared"] == pytest.approx(1.0, rel=1e-9)
    assert report["correlation"] == pytest.approx(1.0, rel=1e-9)
    assert report["alpha"] == pytest.approx(0.0001 * 252, rel=1e-6)


def test_alpha_is_capm_intercept_on_excess_returns_with_risk_free_rate(benchmark):
    rf_daily = 1.04 ** (1 / 252) - 1
    strategy = rf_daily + 0.5 * (benchmark - rf_daily) + 0.0002
    report = compute_metrics(strategy, benchmark_returns=benchmark, risk_free_rate=0.04)
    assert report["beta"] == pytest.approx(0.5, rel=1e-9)
    assert report["alpha"] == pytest.approx(0.0002 * 252, rel=1e-6)


def test_negatively_related_strategy_has_negative_beta_and_correlation(benchmark):
    report = compute_metrics(-benchmark, benchmark_returns=benchmark)
    assert report["beta"] == pytest.approx(-1.0)
    assert report["correlation"] == pytest.approx(-1.0)
    assert report["r_squared"] == pytest.approx(1.0)


def test_regression_on_noisy_strategy_matches_numpy_least_squares(benchmark):
    noise = random_returns(500, seed=22, mean=0.0, std=0.01)
    strategy = 0.7 * benchmark + noise
    report = compute_metrics(strategy, benchmark_returns=benchmark)
    x, y = benchmark.to_numpy(), strategy.to_numpy()
    design = np.column_stack([np.ones_like(x), x])
    (intercept, slope), *_ = np.linalg.lstsq(design, y, rcond=None)
    fitted = design @ np.array([intercept, slope])
    r2 = 1 - ((y - fitted) ** 2).sum() / ((y - y.mean()) ** 2).sum()
    assert report["beta"] == pytest.approx(slope, rel=1e-9)
    assert report["alpha"] == pytest.approx(intercept * 252, rel=1e-9)
    assert report["r_squared"] == pytest.approx(r2, rel=1e-9)
    assert report["correlation"] == pytest.approx(np.corrcoef(x, y)[0, 1], rel=1e-9)


def test_tracking_error_and_information_ratio_are_annualized_active_return_stats(benchmark):
    strategy = random_returns(500, seed=23)
    report = compute_metrics(strategy, benchmark_returns=benchmark)
    active = strategy.to_numpy() - benchmark.to_numpy()
    std = active.std(ddof=1)
    assert report["tracking_error"] == pytest.approx(std * math.sqrt(252), rel=1e-12)
    assert report["information_ratio"] == pytest.approx(
        active.mean() / std * math.sqrt(252), rel=1e-12
    )


def test_benchmark_metrics_match_quantstats(benchmark):
    strategy = 0.7 * benchmark + random_returns(500, seed=24, mean=0.0001)
    report = compute_metrics(strategy, benchmark_returns=benchmark)
    s, b = naive(strategy), naive(benchmark)
    greeks = quantstats(qs.stats.greeks, s, b, periods=252)
    assert report["beta"] == pytest.approx(greeks["beta"], rel=1e-9)
    assert report["alpha"] == pytest.approx(greeks["alpha"], rel=1e-9)
    assert report["r_squared"] == pytest.approx(quantstats(qs.stats.r_squared, s, b), rel=1e-9)
    # quantstats' information ratio is per bar; tradelab annualizes it by sqrt(252)
    per_bar = quantstats(qs.stats.information_ratio, s, b)
    assert report["information_ratio"] == pytest.approx(per_bar * math.sqrt(252), rel=1e-9)


def test_benchmark_and_excess_return_compound_over_shared_bars():
    strategy = utc_series([0.01, -0.02, 0.03, 0.0, -0.01])
    benchmark = utc_series([0.02, 0.01, -0.01, 0.0, 0.005])
    report = compute_metrics(strategy, benchmark_returns=benchmark)
    bench_total = 1.02 * 1.01 * 0.99 * 1.0 * 1.005 - 1
    assert report["benchmark_return"] == pytest.approx(bench_total)
    assert report["excess_return"] == pytest.approx(
        1.01 * 0.98 * 1.03 * 1.0 * 0.99 - 1 - bench_total
    )


def test_benchmark_is_aligned_on_timestamps_and_its_nan_bars_dropped():
    strategy = utc_series([0.01, -0.02, 0.03, 0.0, -0.01])
    # benchmark starts a bar earlier, has a NaN on bar 3 and misses the last bar; shuffled
    index = pd.date_range("2024-01-26", periods=5, freq="B", tz="UTC")
    benchmark = pd.Series([0.5, 0.02, 0.01, np.nan, 0.0], index=index).iloc[[4, 2, 0, 1, 3]]
    report = compute_metrics(strategy, benchmark_returns=benchmark)
    # shared bars: Jan 29 (0.01 vs 0.02), Jan 30 (-0.02 vs 0.01), Feb 1 (0.0 vs 0.0)
    assert report["benchmark_return"] == pytest.approx(1.02 * 1.01 * 1.0 - 1)
    assert report["excess_return"] == pytest.approx(1.01 * 0.98 * 1.0 - 1 - (1.02 * 1.01 - 1))
    active = np.array([0.01 - 0.02, -0.02 - 0.01, 0.0 - 0.0])
    assert report["tracking_error"] == pytest.approx(active.std(ddof=1) * math.sqrt(252))


# ---- undefined cases ----------------------------------------------------------------------------


def test_no_benchmark_leaves_every_benchmark_metric_undefined():
    report = compute_metrics(random_returns(50, seed=1))
    for name in ALL_BENCHMARK:
        assert math.isnan(report[name])
        assert report.undefined[name] == "no benchmark"


def test_benchmark_without_shared_bars_is_undefined_with_reason():
    strategy = utc_series([0.01, 0.02, 0.03])
    benchmark = utc_series([0.01, 0.02], start="2030-01-01")
    report = compute_metrics(strategy, benchmark_returns=benchmark)
    assert report.undefined["benchmark_return"] == "no bars shared with the benchmark"
    assert report.undefined["beta"] == "fewer than 2 bars shared with the benchmark"


def test_one_shared_bar_gives_returns_but_no_regression():
    strategy = utc_series([0.01, 0.02, 0.03])
    benchmark = utc_series([0.05], start="2024-01-31")
    report = compute_metrics(strategy, benchmark_returns=benchmark)
    assert report["benchmark_return"] == pytest.approx(0.05)
    assert report["excess_return"] == pytest.approx(0.03 - 0.05)
    for name in BENCHMARK_SIX:
        assert report.undefined[name] == "fewer than 2 bars shared with the benchmark"


def test_flat_benchmark_leaves_beta_alpha_r_squared_undefined():
    strategy = random_returns(30, seed=2)
    benchmark = pd.Series(0.001, index=strategy.index)
    report = compute_metrics(strategy, benchmark_returns=benchmark)
    for name in ("alpha", "beta", "r_squared", "correlation"):
        assert report.undefined[name] == "benchmark has zero variance"
    assert not math.isnan(report["tracking_error"])


def test_flat_strategy_has_zero_beta_and_undefined_r_squared(benchmark):
    strategy = pd.Series(0.0, index=benchmark.index)
    report = compute_metrics(strategy, benchmark_returns=benchmark)
    assert report["beta"] == 0.0
    assert report["alpha"] == 0.0
    assert report.undefined["r_squared"] == report.undefined["correlation"] == "zero volatility"


def test_strategy_equal_to_benchmark_has_zero_tracking_error_and_undefined_ir(benchmark):
    report = compute_metrics(benchmark.copy(), benchmark_returns=benchmark)
    assert report["tracking_error"] == 0.0
    assert report.undefined["information_ratio"] == "zero tracking error"
    assert report["beta"] == pytest.approx(1.0)
    assert report["excess_return"] == 0.0


# ---- invalid inputs -----------------------------------------------------------------------------


def test_naive_benchmark_against_utc_returns_is_rejected(benchmark):
    with pytest.raises(ConfigError, match="time zone"):
        compute_metrics(benchmark, benchmark_returns=naive(benchmark))


def test_benchmark_with_infinite_value_is_rejected(benchmark):
    broken = benchmark.copy()
    broken.iloc[3] = np.inf
    with pytest.raises(ConfigError, match="infinite"):
        compute_metrics(benchmark, benchmark_returns=broken)


def test_benchmark_that_is_not_a_series_is_rejected(benchmark):
    with pytest.raises(ConfigError, match="benchmark_returns must be a pandas Series"):
        compute_metrics(benchmark, benchmark_returns=benchmark.to_numpy())
