"""MetricsReport behaviour and compute_metrics input validation and NaN bookkeeping."""

from __future__ import annotations

import dataclasses
import json
import math
import pickle

import numpy as np
import pandas as pd
import pytest

from tests.metrics.metrics_helpers import HAND_RETURNS, random_returns, trade, utc_series
from tradelab.errors import ConfigError, UnknownNameError
from tradelab.metrics import METRICS, MetricsReport, compute_metrics


def _scenarios():
    """Runs covering every undefined reason compute_metrics can give."""
    long = random_returns(300, seed=51)
    bench = random_returns(300, seed=52)
    yield "empty", compute_metrics(utc_series([]))
    yield "one return", compute_metrics(utc_series([0.01]), initial_value=100.0)
    yield "two returns", compute_metrics(utc_series([0.01, -0.01]))
    yield "three returns", compute_metrics(utc_series([0.01, -0.01, 0.02]))
    yield "constant", compute_metrics(utc_series([0.001] * 30))
    yield "all zero", compute_metrics(utc_series([0.0] * 30))
    yield "wiped out", compute_metrics(utc_series([-0.5, -1.5, 0.1]))
    yield "hand", compute_metrics(utc_series(HAND_RETURNS), initial_value=1e4, exposure=0.5)
    yield "winners only", compute_metrics(long, trades=[trade(5, day=1), trade(5, day=2)])
    yield "losers only", compute_metrics(long, trades=[trade(-5, day=1)])
    yield "break-even", compute_metrics(long, trades=[trade(0, day=1), trade(0, day=2)])
    yield (
        "mixed trades",
        compute_metrics(long, trades=[trade(5, day=1), trade(-3, day=2), trade(7, day=3)]),
    )
    yield "benchmark", compute_metrics(long, benchmark_returns=bench)
    yield "no overlap", compute_metrics(long, benchmark_returns=utc_series([0.1], "2040-01-02"))
    yield "flat benchmark", compute_metrics(long, benchmark_returns=bench * 0.0)
    yield "same as benchmark", compute_metrics(bench.copy(), benchmark_returns=bench)
    yield "flat vs benchmark", compute_metrics(bench * 0.0, benchmark_returns=bench)


SCENARIOS = dict(_scenarios())


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_report_has_every_metric_and_nan_exactly_where_a_reason_is_given(scenario):
    report = SCENARIOS[scenario]
    assert list(report.values) == list(METRICS)
    for name, value in report.values.items():
        assert not math.isinf(value), name
        assert math.isnan(value) == (name in report.undefined), name


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_every_undefined_reason_is_documented_in_the_metric_info(scenario):
    for name, reason in SCENARIOS[scenario].undefined.items():
        documented = METRICS[name].undefined_when.split("; ")
        for part in reason.split("; "):
            assert part in documented, (name, reason, documented)


def test_fewer_than_two_returns_leave_dispersion_metrics_undefined():
    report = SCENARIOS["one return"]
    for name in (
        "annual_volatility",
        "sharpe",
        "sortino",
        "omega",
        "var_95",
        "cvar_95",
        "tail_ratio",
        "gain_to_pain",
    ):
        assert report.undefined[name] == "fewer than 2 returns"
    assert report.undefined["skew"] == "fewer than 3 returns"
    assert report.undefined["kurtosis"] == "fewer than 4 returns"
    assert report["total_return"] == pytest.approx(0.01)
    assert report["final_value"] == pytest.approx(101.0)


def test_no_returns_leave_every_return_metric_undefined():
    report = SCENARIOS["empty"]
    for name, info in METRICS.items():
        if info.group in {"returns", "risk", "drawdown"}:
            assert report.undefined[name] == "no returns", name


def test_zero_volatility_leaves_sharpe_undefined_and_volatility_zero():
    report = SCENARIOS["constant"]
    assert report["annual_volatility"] == 0.0
    assert report.undefined["sharpe"] == "zero volatility"
    assert report.undefined["sortino"] == "no returns below the risk-free rate"
    assert report.undefined["omega"] == "no returns below the risk-free rate"


def test_sortino_with_risk_free_rate_above_constant_returns_is_negative_not_undefined():
    report = compute_metrics(utc_series([0.0001] * 30), risk_free_rate=0.10)
    assert report["sortino"] < 0
    assert report["omega"] == 0.0


def test_tail_ratio_with_zero_5th_percentile_is_undefined():
    report = SCENARIOS["all zero"]
    assert report.undefined["tail_ratio"] == "5th percentile return is zero"


# ---- the report object --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def report():
    return compute_metrics(utc_series(HAND_RETURNS), initial_value=1e4)


def test_getitem_of_unknown_metric_raises_with_did_you_mean(report):
    with pytest.raises(UnknownNameError, match="Did you mean 'sortino'"):
        report["sortin"]
    assert "sharpe" in report and "sharp" not in report


def test_to_dict_is_strict_json_with_none_for_nan_reasons_and_regimes(report):
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert data["total_return"] == pytest.approx(report["total_return"])
    assert data["win_rate"] is None
    assert data["undefined"]["win_rate"] == "no closed trades"
    assert set(data["regimes"]) == {
        "bull_low_vol",
        "bull_high_vol",
        "bear_low_vol",
        "bear_high_vol",
    }
    assert data["regimes"]["bull_low_vol"]["sharpe"] is None
    assert set(data) == set(METRICS) | {"undefined", "regimes"}


def test_report_is_immutable(report):
    with pytest.raises(dataclasses.FrozenInstanceError):
        report.values = {}  # type: ignore[misc]
    with pytest.raises(TypeError):
        report.values["sharpe"] = 1.0  # type: ignore[index]
    with pytest.raises(TypeError):
        report.regimes["bull_low_vol"]["return"] = 1.0  # type: ignore[index]


def test_report_survives_pickling_and_compares_equal_with_nan_values(report):
    copy = pickle.loads(pickle.dumps(report))
    assert isinstance(copy, MetricsReport)
    assert copy == report
    assert math.isnan(copy["win_rate"])


def test_same_inputs_give_equal_reports():
    returns = random_returns(100, seed=53)
    assert compute_metrics(returns) == compute_metrics(returns.copy())
    assert compute_metrics(returns) != compute_metrics(returns * 2)


# ---- input validation ---------------------------------------------------------------------------


def test_returns_that_are_not_a_series_are_rejected():
    with pytest.raises(ConfigError, match="pandas Series"):
        compute_metrics(np.array(HAND_RETURNS))  # type: ignore[arg-type]


def test_returns_without_datetime_index_are_rejected():
    with pytest.raises(ConfigError, match="DatetimeIndex"):
        compute_metrics(pd.Series(HAND_RETURNS))


def test_returns_with_nan_are_rejected_with_the_timestamp():
    returns = utc_series(HAND_RETURNS)
    returns.iloc[0] = np.nan
    with pytest.raises(ConfigError, match="2024-01-29"):
        compute_metrics(returns)


def test_unsorted_returns_are_rejected():
    with pytest.raises(ConfigError, match="sorted"):
        compute_metrics(utc_series(HAND_RETURNS).iloc[::-1])


def test_equity_on_other_timestamps_is_rejected():
    returns = utc_series(HAND_RETURNS)
    with pytest.raises(ConfigError, match="same timestamps"):
        compute_metrics(returns, equity=(1 + returns).cumprod().iloc[1:])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"periods_per_year": 0}, "periods_per_year"),
        ({"periods_per_year": 252.0}, "periods_per_year"),
        ({"risk_free_rate": -1.0}, "risk_free_rate"),
        ({"risk_free_rate": float("nan")}, "risk_free_rate"),
        ({"initial_value": 0.0}, "initial_value"),
        ({"vol_window": 1}, "vol_window"),
    ],
)
def test_invalid_settings_are_rejected(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        compute_metrics(utc_series(HAND_RETURNS), **kwargs)


def test_periods_per_year_changes_annualization():
    weekly = compute_metrics(utc_series(HAND_RETURNS), periods_per_year=52)
    daily = compute_metrics(utc_series(HAND_RETURNS))
    assert weekly["sharpe"] == pytest.approx(daily["sharpe"] * math.sqrt(52 / 252))
    assert weekly["cagr"] == pytest.approx((1 + daily["total_return"]) ** (52 / 5) - 1)
