"""The metric registry: complete, documented, read-only, with did-you-mean lookups."""

from __future__ import annotations

import pytest

from tradelab.errors import ConfigError, UnknownNameError
from tradelab.metrics import METRICS, UNITS, MetricInfo, metric_info

REQUIRED = {
    "total_return",
    "cagr",
    "annual_volatility",
    "sharpe",
    "sortino",
    "calmar",
    "omega",
    "max_drawdown",
    "max_drawdown_duration",
    "avg_drawdown",
    "var_95",
    "cvar_95",
    "tail_ratio",
    "skew",
    "kurtosis",
    "best_day",
    "worst_day",
    "best_month",
    "worst_month",
    "win_rate",
    "payoff_ratio",
    "profit_factor",
    "expectancy",
    "sqn",
    "num_trades",
    "avg_trade",
    "avg_win",
    "avg_loss",
    "max_consecutive_losses",
    "avg_bars_held",
    "exposure_time",
    "commissions",
    "alpha",
    "beta",
    "r_squared",
    "information_ratio",
    "tracking_error",
    "positive_days_pct",
    "final_value",
    "ulcer_index",
    "recovery_factor",
}


def test_registry_holds_at_least_35_metrics_including_every_required_one():
    assert len(METRICS) >= 35
    assert REQUIRED <= set(METRICS)


@pytest.mark.parametrize("name", sorted(METRICS))
def test_every_metric_is_documented_with_title_description_and_unit(name):
    info = METRICS[name]
    assert info.name == name
    assert info.title.strip() and info.description.strip()
    assert info.description.rstrip().endswith(".")
    assert info.unit in UNITS
    assert info.higher_is_better in (True, False, None)
    assert isinstance(info.undefined_when, str)
    assert info.group in {"returns", "risk", "drawdown", "trades", "benchmark"}


def test_metric_names_do_not_collide_with_report_dict_keys():
    assert not {"undefined", "regimes"} & set(METRICS)


def test_metric_info_returns_the_registry_entry():
    info = metric_info("sharpe")
    assert info is METRICS["sharpe"]
    assert info.title == "Sharpe ratio"
    assert info.unit == "ratio" and info.higher_is_better is True


def test_unknown_metric_name_raises_with_did_you_mean():
    with pytest.raises(UnknownNameError, match="Did you mean 'sharpe'") as caught:
        metric_info("sharp")
    assert caught.value.kind == "metric"
    assert caught.value.name == "sharp"
    assert "sortino" in caught.value.choices


def test_unknown_metric_error_is_a_config_error():
    with pytest.raises(ConfigError):
        metric_info("no_such_metric")


def test_registry_is_read_only():
    with pytest.raises(TypeError):
        METRICS["sharpe"] = METRICS["sortino"]  # type: ignore[index]


def test_metric_info_rejects_unknown_unit_and_bad_name():
    with pytest.raises(ConfigError, match="unit"):
        MetricInfo(
            name="x",
            title="X",
            description="X.",
            unit="percent",
            higher_is_better=None,
            undefined_when="",
        )
    with pytest.raises(ConfigError, match="snake_case"):
        MetricInfo(
            name="Bad Name",
            title="X",
            description="X.",
            unit="ratio",
            higher_is_better=None,
            undefined_when="",
        )
