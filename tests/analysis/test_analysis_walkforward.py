"""Stitching, walk-forward efficiency, drift and the reports, without Ray."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from tradelab.analysis import (
    WindowResult,
    assemble_walk_forward,
    buy_and_hold_returns,
    period_metrics,
    walk_forward_efficiency,
    walk_forward_windows,
    walkforward_report_html,
    walkforward_report_text,
    write_report,
)
from tradelab.errors import ConfigError

DAYS = pd.bdate_range("2016-01-01", "2018-12-31", tz="UTC")


def _result(window, params, is_cagr, daily):
    test = DAYS[(DAYS.date >= window.test_start) & (DAYS.date <= window.test_end)]
    oos = pd.Series(daily, index=test, name="returns")
    return WindowResult(
        window=window,
        best_params=params,
        is_objective=1.0,
        is_metrics={"cagr": is_cagr, "sharpe": 1.0},
        oos_metrics=period_metrics(oos, trades=3),
        oos_returns=oos,
        trials=5,
        complete=4,
    )


def _analysis(windows=None, **overrides):
    schemes = walk_forward_windows("2016-01-01", "2018-12-31", train="1y", test="6m")
    parts = windows or [
        _result(w, {"fast": f, "slow": 40}, 0.10, 0.0002)
        for w, f in zip(schemes, (10, 10, 15, 10), strict=True)
    ]
    rng = np.random.default_rng(1)
    bench = pd.Series(rng.normal(0.0003, 0.01, len(DAYS)), index=DAYS)
    settings = {"train": "1y", "test": "6m", "step": "6m", "anchored": False, "trials": 5}
    return assemble_walk_forward(
        name="t",
        strategy="sma_crossover",
        symbols=("AAA",),
        settings=settings,
        windows=parts,
        benchmark_returns=bench,
        cash=1000.0,
        **overrides,
    )


def test_stitched_oos_returns_cover_exactly_the_test_periods_in_order():
    result = _analysis()
    first, last = result.windows[0].window.test_start, result.windows[-1].window.test_end
    expected = DAYS[(DAYS.date >= first) & (DAYS.date <= last)]
    assert result.oos_returns.index.equals(expected)
    equity = result.oos_equity
    assert equity.iloc[0] == pytest.approx(1000.0 * 1.0002)
    assert equity.iloc[-1] == pytest.approx(1000.0 * 1.0002 ** len(expected))


def test_walk_forward_efficiency_is_oos_cagr_over_mean_is_cagr():
    result = _analysis()
    oos_cagr = (1.0002 ** len(result.oos_returns)) ** (252 / len(result.oos_returns)) - 1
    assert result.summary["oos_cagr"] == pytest.approx(oos_cagr)
    assert result.summary["wfe"] == pytest.approx(oos_cagr / 0.10)
    assert walk_forward_efficiency(0.05, -0.02) != walk_forward_efficiency(0.05, -0.02)  # NaN
    assert math.isnan(walk_forward_efficiency(0.05, 0.0))
    assert result.summary["windows"] == 4.0


def test_parameter_drift_counts_changes_across_windows():
    drift = _analysis().drift.set_index("parameter")
    assert drift.loc["fast", "values"] == [10, 10, 15, 10]
    assert drift.loc["fast", "changes"] == 2 and drift.loc["slow", "changes"] == 0
    assert drift.loc["fast", "min"] == 10 and drift.loc["fast", "max"] == 15


def test_overlapping_test_periods_are_refused():
    window = walk_forward_windows("2016-01-01", "2018-12-31", train="1y", test="6m")[0]
    twice = [_result(window, {"fast": 10}, 0.1, 0.0), _result(window, {"fast": 12}, 0.1, 0.0)]
    with pytest.raises(ConfigError, match="overlap"):
        _analysis(windows=twice)


def test_the_reports_show_every_section(tmp_path):
    result = _analysis()
    text = walkforward_report_text(result)
    for heading in (
        "Out-of-sample summary",
        "walk-forward efficiency",
        "Windows",
        "Parameter drift",
        "10 → 10 → 15 → 10",
        "Regimes",
        "bull_low_vol",
    ):
        assert heading in text
    page = write_report(tmp_path / "wfa" / "report.html", walkforward_report_html(result))
    html = page.read_text()
    assert html.startswith("<!DOCTYPE html>") and "Parameter drift" in html
    assert "data:image/png;base64," in html  # the OOS equity chart
    data = result.to_dict()
    assert len(data["oos_equity"]["timestamps"]) == len(result.oos_returns)
    assert data["windows"][2]["best_params"] == {"fast": 15, "slow": 40}


def test_buy_and_hold_benchmark_averages_symbol_returns():
    index = pd.date_range("2024-01-01", periods=4, freq="D", tz="UTC")
    bench = buy_and_hold_returns(
        {
            "A": pd.Series([10.0, 11.0, 11.0, 12.1], index=index),
            "B": pd.Series([5.0, 5.0, 4.5, 4.5], index=index[:4]),
        }
    )
    assert bench.round(6).tolist() == [0.05, -0.05, 0.05]
