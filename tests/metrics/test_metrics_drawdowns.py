"""Drawdown metrics against hand-worked wealth paths, a plain-Python walk, and quantstats."""

from __future__ import annotations

import math

import numpy as np
import pytest
import quantstats as qs

from tests.metrics.metrics_helpers import (
    HAND_RETURNS,
    naive,
    quantstats,
    random_returns,
    utc_series,
)
from tradelab.metrics import compute_metrics

HAND_TOTAL = 1.01 * 0.98 * 1.03 * 1.00 * 0.99 - 1


@pytest.fixture(scope="module")
def hand():
    # wealth 1.01, 0.9898, 1.019494, 1.019494, 1.00929906
    # drawdown 0, -0.02, 0, 0, -0.01: one episode recovered (bar 0 -> bar 2), one still open
    return compute_metrics(utc_series(HAND_RETURNS))


def test_max_drawdown_of_hand_series_is_minus_two_percent(hand):
    assert hand["max_drawdown"] == pytest.approx(-0.02, rel=1e-12)


def test_max_drawdown_duration_counts_bars_from_peak_to_recovery(hand):
    assert hand["max_drawdown_duration"] == 2.0


def test_avg_drawdown_and_duration_average_the_episodes(hand):
    assert hand["avg_drawdown"] == pytest.approx((-0.02 + -0.01) / 2, rel=1e-12)
    # episode 1: peak bar 0 -> recovery bar 2 (2 bars); episode 2: peak bar 3 -> end bar 4 (1)
    assert hand["avg_drawdown_duration"] == pytest.approx(1.5)


def test_ulcer_index_is_root_mean_square_drawdown_over_all_bars(hand):
    assert hand["ulcer_index"] == pytest.approx(math.sqrt((0.02**2 + 0.01**2) / 5), rel=1e-12)


def test_calmar_and_recovery_factor_divide_by_absolute_max_drawdown(hand):
    cagr = (1 + HAND_TOTAL) ** (252 / 5) - 1
    assert hand["calmar"] == pytest.approx(cagr / 0.02, rel=1e-12)
    assert hand["recovery_factor"] == pytest.approx(HAND_TOTAL / 0.02, rel=1e-12)


def test_loss_on_first_bar_is_a_drawdown_from_the_starting_capital():
    # wealth 0.9, 0.945, 1.0017: peak is the start (before bar 0), regained at bar 2
    report = compute_metrics(utc_series([-0.1, 0.05, 0.06]))
    assert report["max_drawdown"] == pytest.approx(-0.1)
    assert report["max_drawdown_duration"] == 3.0


def test_drawdown_never_recovered_lasts_from_peak_to_last_bar():
    # wealth 1.1, 1.045, 0.99275: peak bar 0, still below at bar 2
    report = compute_metrics(utc_series([0.1, -0.05, -0.05]))
    assert report["max_drawdown"] == pytest.approx(0.95 * 0.95 - 1)
    assert report["max_drawdown_duration"] == 2.0


def test_losing_run_gives_negative_recovery_factor():
    report = compute_metrics(utc_series([-0.1, 0.02]))
    assert report["recovery_factor"] == pytest.approx((0.9 * 1.02 - 1) / 0.1)
    assert report["recovery_factor"] < 0


def test_series_that_never_falls_has_zero_drawdowns_and_undefined_calmar():
    report = compute_metrics(utc_series([0.01, 0.0, 0.02]))
    for name in ("max_drawdown", "avg_drawdown", "ulcer_index"):
        assert report[name] == 0.0 and math.copysign(1.0, report[name]) == 1.0
    assert report["max_drawdown_duration"] == 0.0
    assert report["avg_drawdown_duration"] == 0.0
    assert math.isnan(report["calmar"]) and math.isnan(report["recovery_factor"])
    assert report.undefined["calmar"] == report.undefined["recovery_factor"] == "no drawdown"


def _walk(returns: np.ndarray) -> tuple[float, int, list[float]]:
    """Max drawdown, longest peak-to-recovery (or to end) span, episode depths: a plain loop."""
    wealth, peak, peak_bar = 1.0, 1.0, -1
    worst, longest, depths, depth, under = 0.0, 0, [], 0.0, False
    for bar, r in enumerate(returns):
        wealth *= 1 + r
        if wealth >= peak:
            if under:
                longest = max(longest, bar - peak_bar)
                depths.append(depth)
            peak, peak_bar, under, depth = wealth, bar, False, 0.0
        else:
            under = True
            depth = min(depth, wealth / peak - 1)
            worst = min(worst, wealth / peak - 1)
    if under:
        longest = max(longest, len(returns) - 1 - peak_bar)
        depths.append(depth)
    return worst, longest, depths


def test_drawdown_statistics_match_a_plain_python_walk_on_random_returns():
    returns = random_returns(2520, seed=5)
    worst, longest, depths = _walk(returns.to_numpy())
    report = compute_metrics(returns)
    assert report["max_drawdown"] == pytest.approx(worst, rel=1e-12)
    assert report["max_drawdown_duration"] == longest
    assert report["avg_drawdown"] == pytest.approx(sum(depths) / len(depths), rel=1e-12)


def test_drawdown_statistics_match_quantstats_on_random_returns():
    returns = random_returns(600, seed=3)
    report = compute_metrics(returns)
    details = quantstats(
        qs.stats.drawdown_details, quantstats(qs.stats.to_drawdown_series, naive(returns))
    )
    reference = quantstats(qs.stats.max_drawdown, naive(returns))
    assert report["max_drawdown"] == pytest.approx(reference, rel=1e-12)
    assert report["avg_drawdown"] == pytest.approx(details["max drawdown"].mean() / 100, rel=1e-9)


def test_ulcer_index_averages_over_n_where_quantstats_divides_by_n_minus_1():
    returns = random_returns(600, seed=3)
    n = len(returns)
    reference = quantstats(qs.stats.ulcer_index, naive(returns))
    assert compute_metrics(returns)["ulcer_index"] == pytest.approx(
        reference * math.sqrt((n - 1) / n), rel=1e-9
    )
