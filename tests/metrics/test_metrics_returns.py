"""Return-series metrics against hand arithmetic, plain numpy/scipy, and quantstats."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import quantstats as qs
import scipy.stats

from tests.metrics.metrics_helpers import (
    HAND_RETURNS,
    naive,
    quantstats,
    random_returns,
    utc_series,
)
from tradelab.metrics import compute_metrics

SQRT_252 = math.sqrt(252)
HAND_TOTAL = 1.01 * 0.98 * 1.03 * 1.00 * 0.99 - 1  # 0.00929906
HAND_MEAN = 0.002  # (0.01 - 0.02 + 0.03 + 0 - 0.01) / 5
HAND_VAR = (0.008**2 + 0.022**2 + 0.028**2 + 0.002**2 + 0.012**2) / 4  # 3.7e-4, ddof=1


@pytest.fixture(scope="module")
def hand():
    return compute_metrics(utc_series(HAND_RETURNS))


def test_total_return_of_hand_series_is_compounded_growth(hand):
    assert hand["total_return"] == pytest.approx(0.00929906, abs=1e-12)
    assert hand["total_return"] == pytest.approx(HAND_TOTAL, rel=1e-12)


def test_cagr_of_five_bars_annualizes_with_252_over_5(hand):
    assert hand["cagr"] == pytest.approx((1 + HAND_TOTAL) ** (252 / 5) - 1, rel=1e-12)


def test_annual_volatility_is_sample_std_times_sqrt_252(hand):
    assert HAND_VAR == pytest.approx(3.7e-4)
    assert hand["annual_volatility"] == pytest.approx(math.sqrt(HAND_VAR) * SQRT_252, rel=1e-12)


def test_sharpe_without_risk_free_rate_is_mean_over_std_annualized(hand):
    assert hand["sharpe"] == pytest.approx(HAND_MEAN / math.sqrt(HAND_VAR) * SQRT_252, rel=1e-12)


def test_sharpe_with_risk_free_rate_uses_geometrically_deannualized_rate():
    report = compute_metrics(utc_series(HAND_RETURNS), risk_free_rate=0.05)
    rf_daily = 1.05 ** (1 / 252) - 1
    expected = (HAND_MEAN - rf_daily) / math.sqrt(HAND_VAR) * SQRT_252
    assert report["sharpe"] == pytest.approx(expected, rel=1e-12)


def test_sortino_divides_by_downside_deviation_over_all_bars(hand):
    # downside deviation sqrt((0.02**2 + 0.01**2) / 5) = 0.01
    assert hand["sortino"] == pytest.approx(0.002 / 0.01 * SQRT_252, rel=1e-12)


def test_omega_is_gains_over_losses_at_zero_threshold(hand):
    assert hand["omega"] == pytest.approx((0.01 + 0.03) / (0.02 + 0.01), rel=1e-12)


def test_gain_to_pain_is_sum_over_absolute_sum_of_losses(hand):
    assert hand["gain_to_pain"] == pytest.approx(0.01 / 0.03, rel=1e-12)


def test_var_95_is_linearly_interpolated_5th_percentile(hand):
    # sorted: -0.02, -0.01, 0, 0.01, 0.03; position 0.05 * 4 = 0.2
    assert hand["var_95"] == pytest.approx(-0.02 + 0.2 * 0.01, rel=1e-12)


def test_cvar_95_is_mean_of_returns_at_or_below_var(hand):
    assert hand["cvar_95"] == pytest.approx(-0.02, rel=1e-12)


def test_tail_ratio_is_95th_over_5th_percentile(hand):
    # 95th percentile: position 3.8 -> 0.01 + 0.8 * 0.02 = 0.026
    assert hand["tail_ratio"] == pytest.approx(0.026 / 0.018, rel=1e-12)


def test_skew_is_bias_adjusted_fisher_pearson(hand):
    m2 = (0.008**2 + 0.022**2 + 0.028**2 + 0.002**2 + 0.012**2) / 5
    m3 = (0.008**3 - 0.022**3 + 0.028**3 - 0.002**3 - 0.012**3) / 5
    expected = m3 / m2**1.5 * math.sqrt(5 * 4) / 3
    assert hand["skew"] == pytest.approx(expected, rel=1e-10)
    assert hand["skew"] == pytest.approx(scipy.stats.skew(HAND_RETURNS, bias=False), rel=1e-10)


def test_kurtosis_is_bias_adjusted_excess_kurtosis(hand):
    m2 = (0.008**2 + 0.022**2 + 0.028**2 + 0.002**2 + 0.012**2) / 5
    m4 = (0.008**4 + 0.022**4 + 0.028**4 + 0.002**4 + 0.012**4) / 5
    g2 = m4 / m2**2 - 3
    expected = (5 - 1) / ((5 - 2) * (5 - 3)) * ((5 + 1) * g2 + 6)
    assert hand["kurtosis"] == pytest.approx(expected, rel=1e-10)
    assert hand["kurtosis"] == pytest.approx(
        scipy.stats.kurtosis(HAND_RETURNS, fisher=True, bias=False), rel=1e-10
    )


def test_best_and_worst_day_are_extreme_bar_returns(hand):
    assert hand["best_day"] == 0.03
    assert hand["worst_day"] == -0.02


def test_best_and_worst_month_compound_within_calendar_months(hand):
    # Jan 29-31: 0.01, -0.02, 0.03; Feb 1-2: 0.0, -0.01
    assert hand["best_month"] == pytest.approx(1.01 * 0.98 * 1.03 - 1, rel=1e-12)
    assert hand["worst_month"] == pytest.approx(1.00 * 0.99 - 1, rel=1e-12)


def test_months_are_calendar_months_in_utc_not_months_of_year():
    # two Januaries (2023 and 2024) must stay separate months
    index = pd.DatetimeIndex(["2023-01-10", "2023-01-11", "2024-01-10", "2024-01-11"], tz="UTC")
    report = compute_metrics(pd.Series([0.1, 0.1, -0.1, -0.1], index=index))
    assert report["best_month"] == pytest.approx(1.1 * 1.1 - 1)
    assert report["worst_month"] == pytest.approx(0.9 * 0.9 - 1)


def test_months_of_non_utc_index_are_read_in_utc():
    # 2024-02-01 01:00 in UTC+03:00 is still January 31 in UTC
    index = pd.DatetimeIndex(["2024-01-31 12:00", "2024-02-01 01:00"], tz="Etc/GMT-3")
    report = compute_metrics(pd.Series([0.1, 0.1], index=index))
    assert report["best_month"] == pytest.approx(0.21)
    assert report["worst_month"] == pytest.approx(0.21)


def test_positive_days_pct_counts_strictly_positive_bars_over_all_bars(hand):
    assert hand["positive_days_pct"] == pytest.approx(2 / 5)


def test_final_value_and_net_profit_from_initial_value():
    report = compute_metrics(utc_series(HAND_RETURNS), initial_value=10_000)
    assert report["final_value"] == pytest.approx(10_000 * (1 + HAND_TOTAL))
    assert report["net_profit"] == pytest.approx(10_000 * HAND_TOTAL)


def test_final_value_from_equity_curve_and_start_capital_backed_out_of_first_return():
    returns = utc_series(HAND_RETURNS)
    equity = 5_000 * (1 + returns).cumprod() + 0.0
    equity.iloc[-1] += 7.0  # the last equity value wins over the compounded returns
    report = compute_metrics(returns, equity=equity)
    assert report["final_value"] == pytest.approx(5_000 * (1 + HAND_TOTAL) + 7.0)
    assert report["net_profit"] == pytest.approx(5_000 * HAND_TOTAL + 7.0)


def test_final_value_without_equity_or_initial_value_is_undefined_with_reason(hand):
    assert math.isnan(hand["final_value"]) and math.isnan(hand["net_profit"])
    assert hand.undefined["final_value"] == "no equity curve and no initial value given"


def test_net_profit_with_first_return_of_minus_100pct_and_no_initial_value_is_undefined():
    returns = utc_series([-1.0, 0.0])
    report = compute_metrics(returns, equity=pd.Series([0.0, 0.0], index=returns.index))
    assert report["final_value"] == 0.0
    assert report.undefined["net_profit"] == "first return is -100%"


def test_cagr_with_wealth_below_zero_is_undefined_not_complex():
    report = compute_metrics(utc_series([-0.5, -1.5, 0.1]))
    assert math.isnan(report["cagr"])
    assert report.undefined["cagr"] == "wealth below zero (a loss beyond -100%)"
    assert report.undefined["calmar"] == "cagr undefined (wealth below zero)"


# ---- quantstats as a second reference ---------------------------------------------------------

QS_SAME_DEFINITION = {
    "sharpe": lambda r, rf: qs.stats.sharpe(r, rf=rf, periods=252),
    "sortino": lambda r, rf: qs.stats.sortino(r, rf=rf, periods=252),
    "omega": lambda r, rf: qs.stats.omega(r, rf=rf, periods=252),
    "cagr": lambda r, rf: qs.stats.cagr(r, periods=252),
    "annual_volatility": lambda r, rf: qs.stats.volatility(r, periods=252),
    "max_drawdown": lambda r, rf: qs.stats.max_drawdown(r),
    "calmar": lambda r, rf: qs.stats.calmar(r, periods=252),
    "cvar_95": lambda r, rf: qs.stats.cvar(r, method="historical"),
    "tail_ratio": lambda r, rf: qs.stats.tail_ratio(r),
    "skew": lambda r, rf: qs.stats.skew(r),
    "kurtosis": lambda r, rf: qs.stats.kurtosis(r),
    "best_day": lambda r, rf: qs.stats.best(r),
    "worst_day": lambda r, rf: qs.stats.worst(r),
    "best_month": lambda r, rf: qs.stats.best(r, aggregate="ME"),
    "worst_month": lambda r, rf: qs.stats.worst(r, aggregate="ME"),
    "gain_to_pain": lambda r, rf: qs.stats.gain_to_pain_ratio(r, resolution="D"),
    "total_return": lambda r, rf: qs.stats.comp(r),
}


@pytest.mark.parametrize("risk_free_rate", [0.0, 0.03])
@pytest.mark.parametrize("series", ["hand", "random"])
@pytest.mark.parametrize("name", sorted(QS_SAME_DEFINITION))
def test_metric_equals_quantstats_where_definitions_agree(name, series, risk_free_rate):
    returns = utc_series(HAND_RETURNS) if series == "hand" else random_returns(600, seed=7)
    report = compute_metrics(returns, risk_free_rate=risk_free_rate)
    reference = quantstats(QS_SAME_DEFINITION[name], naive(returns), risk_free_rate)
    assert report[name] == pytest.approx(float(reference), rel=1e-9, abs=1e-12)


def test_var_95_is_historical_where_quantstats_value_at_risk_is_parametric():
    returns = random_returns(600, seed=7)
    report = compute_metrics(returns)
    assert report["var_95"] == pytest.approx(np.quantile(returns.to_numpy(), 0.05), rel=1e-12)
    parametric = quantstats(qs.stats.value_at_risk, naive(returns))
    assert report["var_95"] != pytest.approx(parametric, rel=1e-6)


def test_cvar_95_matches_pandas_quantile_tail_mean_on_long_series():
    returns = random_returns(2520, seed=11)
    tail = returns[returns <= returns.quantile(0.05)]
    assert compute_metrics(returns)["cvar_95"] == pytest.approx(tail.mean(), rel=1e-12)


def test_skew_and_kurtosis_match_pandas_on_long_series():
    returns = random_returns(2520, seed=11)
    report = compute_metrics(returns)
    assert report["skew"] == pytest.approx(returns.skew(), rel=1e-9)
    assert report["kurtosis"] == pytest.approx(returns.kurt(), rel=1e-9)
