"""Regime classification and the per-regime breakdown of a report."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from tests.metrics.metrics_helpers import random_returns, utc_series
from tradelab.errors import ConfigError
from tradelab.metrics import REGIME_LABELS, UNCLASSIFIED, classify_regimes, compute_metrics


def reference_labels(x, *, trend=126, vol=21, min_trend=21):
    """The documented rule, written as a plain loop."""
    x = np.asarray(x, dtype=float)
    n = len(x)
    vols = {t: np.std(x[t - vol : t], ddof=1) for t in range(vol, n)}
    median = np.median(list(vols.values())) if vols else math.nan
    labels = [UNCLASSIFIED] * n
    for t in range(max(min_trend, vol), n):
        cumulative = np.prod(1 + x[max(0, t - trend) : t]) - 1
        direction = "bull" if cumulative > 0 else "bear"
        level = "high_vol" if vols[t] > median else "low_vol"
        labels[t] = f"{direction}_{level}"
    return labels


def test_small_series_labels_match_hand_worked_rule():
    # trailing 2-bar vol (|a - b| / sqrt 2) for bars 2..7 from differences
    # 0.01, 0.07, 0.06, 0, 0.03, 0.05 -> median at difference 0.04: bars 3, 4, 7 are high
    # trailing 3-bar growth: bar 2 1.0302 (bull), 3..6 below 1 (bear), bar 7 1.019494 (bull)
    x = utc_series([0.01, 0.02, -0.05, 0.01, 0.01, -0.02, 0.03, 0.0])
    labels = classify_regimes(x, trend_window=3, vol_window=2, min_trend_bars=2)
    assert labels.tolist() == [
        "unclassified",
        "unclassified",
        "bull_low_vol",
        "bear_high_vol",
        "bear_high_vol",
        "bear_low_vol",
        "bear_low_vol",
        "bull_high_vol",
    ]
    assert labels.index.equals(x.index)
    assert labels.name == "regime"


def test_default_windows_match_the_plain_loop_on_a_long_series():
    x = random_returns(700, seed=31, mean=0.0002, std=0.012)
    assert classify_regimes(x).tolist() == reference_labels(x)


def test_first_21_bars_are_unclassified_and_trend_expands_until_126_bars():
    x = random_returns(200, seed=32)
    labels = classify_regimes(x)
    assert (labels.iloc[:21] == UNCLASSIFIED).all()
    assert (labels.iloc[21:] != UNCLASSIFIED).all()
    assert labels.tolist() == reference_labels(x)


def test_a_bar_own_return_never_changes_its_label():
    x = random_returns(300, seed=33)
    crashed = x.copy()
    crashed.iloc[-1] = -0.5
    assert classify_regimes(crashed).tolist() == classify_regimes(x).tolist()


def test_series_too_short_is_all_unclassified():
    labels = classify_regimes(random_returns(21, seed=34))
    assert (labels == UNCLASSIFIED).all()


@pytest.mark.parametrize(
    "kwargs",
    [{"vol_window": 1}, {"trend_window": 10, "min_trend_bars": 11}, {"trend_window": 2.5}],
)
def test_invalid_windows_are_rejected(kwargs):
    with pytest.raises(ConfigError):
        classify_regimes(random_returns(50, seed=35), **kwargs)


def test_nan_returns_are_rejected_by_classifier():
    x = random_returns(50, seed=36)
    x.iloc[5] = np.nan
    with pytest.raises(ConfigError, match="NaN"):
        classify_regimes(x)


# ---- per-regime statistics in the report ------------------------------------------------------


def _expected_regimes(strategy, labels):
    values, labels = strategy.to_numpy(), np.asarray(labels)
    expected = {}
    for label in REGIME_LABELS:
        picked = values[labels == label]
        expected[label] = {
            "return": np.prod(1 + picked) - 1 if picked.size else math.nan,
            "sharpe": picked.mean() / picked.std(ddof=1) * math.sqrt(252)
            if picked.size > 1
            else math.nan,
            "fraction": picked.size / len(values),
            "bars": float(picked.size),
        }
    return expected


def _assert_regimes(actual, expected):
    assert list(actual) == list(REGIME_LABELS)
    for label in REGIME_LABELS:
        for key, value in expected[label].items():
            assert actual[label][key] == pytest.approx(value, rel=1e-9, nan_ok=True), (label, key)


def test_regimes_are_classified_from_the_benchmark_when_given():
    strategy = random_returns(600, seed=37)
    benchmark = random_returns(600, seed=38, mean=0.0, std=0.015)
    report = compute_metrics(strategy, benchmark_returns=benchmark)
    _assert_regimes(report.regimes, _expected_regimes(strategy, reference_labels(benchmark)))


def test_regimes_are_classified_from_the_strategy_without_benchmark():
    strategy = random_returns(600, seed=39)
    report = compute_metrics(strategy)
    _assert_regimes(report.regimes, _expected_regimes(strategy, reference_labels(strategy)))
    assert sum(stats["fraction"] for stats in report.regimes.values()) == pytest.approx(
        (600 - 21) / 600
    )


def test_strategy_bars_missing_from_benchmark_are_unclassified():
    strategy = random_returns(300, seed=40)
    benchmark = random_returns(300, seed=41).iloc[:250]
    report = compute_metrics(strategy, benchmark_returns=benchmark)
    labels = reference_labels(benchmark) + [UNCLASSIFIED] * 50
    _assert_regimes(report.regimes, _expected_regimes(strategy, labels))
    assert sum(stats["bars"] for stats in report.regimes.values()) == 250 - 21


def test_regime_sharpe_uses_the_risk_free_rate():
    strategy = random_returns(300, seed=42)
    report = compute_metrics(strategy, risk_free_rate=0.05)
    labels = np.asarray(reference_labels(strategy))
    excess = strategy.to_numpy()[labels == "bull_low_vol"] - (1.05 ** (1 / 252) - 1)
    expected = excess.mean() / excess.std(ddof=1) * math.sqrt(252)
    assert report.regimes["bull_low_vol"]["sharpe"] == pytest.approx(expected, rel=1e-9)


def test_short_run_has_empty_regimes_with_nan_return_and_sharpe():
    report = compute_metrics(utc_series([0.01, -0.02, 0.03]))
    for stats in report.regimes.values():
        assert stats["bars"] == 0 and stats["fraction"] == 0
        assert math.isnan(stats["return"]) and math.isnan(stats["sharpe"])


def test_regime_windows_of_compute_metrics_are_configurable():
    strategy = random_returns(120, seed=43)
    report = compute_metrics(strategy, trend_window=10, vol_window=5)
    labels = reference_labels(strategy, trend=10, vol=5, min_trend=10)
    _assert_regimes(report.regimes, _expected_regimes(strategy, labels))


def test_regimes_of_constant_benchmark_are_all_bear_low_vol():
    strategy = random_returns(100, seed=44)
    benchmark = pd.Series(0.0, index=strategy.index)
    report = compute_metrics(strategy, benchmark_returns=benchmark)
    assert report.regimes["bear_low_vol"]["bars"] == 100 - 21
