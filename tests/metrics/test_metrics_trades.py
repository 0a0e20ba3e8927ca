"""Trade metrics against a hand-made list of TradeRecord round trips."""

from __future__ import annotations

import math
from datetime import datetime

import pandas as pd
import pytest
import quantstats as qs

from tests.metrics.metrics_helpers import HAND_RETURNS, quantstats, trade, utc_series
from tradelab.errors import ConfigError
from tradelab.metrics import compute_metrics
from tradelab.records import TradeRecord

# Every closed trade commits 1,000 at entry, so return_pct = pnl / 1000.
# In exit order: +100, -50, -30, 0, -20, +200 (a short), +60, +40; plus one open trade.
HAND_TRADES = [
    trade(60, day=7, bars_held=1),
    trade(-50, day=2, bars_held=6),
    trade(100, day=1, bars_held=4),
    trade(500, day=9, is_open=True),
    trade(-20, day=5, bars_held=5),
    trade(200, day=6, bars_held=10, entry_price=50.0, size=-20.0),
    trade(0, day=4, bars_held=3),
    trade(-30, day=3, bars_held=2),
    trade(40, day=8, bars_held=9),
]
PNL = [100, -50, -30, 0, -20, 200, 60, 40]


def _report(trades, **kwargs):
    return compute_metrics(utc_series(HAND_RETURNS), trades=trades, **kwargs)


@pytest.fixture(scope="module")
def hand():
    return _report(HAND_TRADES, exposure=0.37, commissions=8.5)


def test_num_trades_counts_closed_trades_and_open_trades_separately(hand):
    assert hand["num_trades"] == 8
    assert hand["open_trades"] == 1


def test_win_rate_counts_break_even_trades_as_not_won(hand):
    assert hand["win_rate"] == pytest.approx(4 / 8)


def test_avg_trade_is_mean_return_pct_including_the_short(hand):
    returns = (0.1, -0.05, -0.03, 0.0, -0.02, 0.2, 0.06, 0.04)
    assert hand["avg_trade"] == pytest.approx(sum(returns) / 8)


def test_avg_win_and_avg_loss_are_mean_return_pct_of_winners_and_losers(hand):
    assert hand["avg_win"] == pytest.approx((0.1 + 0.2 + 0.06 + 0.04) / 4)
    assert hand["avg_loss"] == pytest.approx((-0.05 - 0.03 - 0.02) / 3)


def test_best_and_worst_trade_are_extreme_return_pct(hand):
    assert hand["best_trade"] == pytest.approx(0.2)
    assert hand["worst_trade"] == pytest.approx(-0.05)


def test_payoff_ratio_is_avg_win_over_absolute_avg_loss(hand):
    assert hand["payoff_ratio"] == pytest.approx(0.1 / (0.1 / 3))


def test_profit_factor_is_gross_profit_over_gross_loss(hand):
    assert hand["profit_factor"] == pytest.approx((100 + 200 + 60 + 40) / (50 + 30 + 20))


def test_expectancy_is_mean_net_pnl_in_currency(hand):
    assert hand["expectancy"] == pytest.approx(300 / 8)


def test_sqn_is_sqrt_n_times_mean_over_sample_std_of_pnl(hand):
    # squared deviations from 37.5 sum to 47,750
    assert hand["sqn"] == pytest.approx(math.sqrt(8) * 37.5 / math.sqrt(47_750 / 7))


def test_streaks_follow_exit_time_order_not_list_order(hand):
    # exit order: W L L (even) L W W W -> 3 wins in a row, 2 losses in a row
    assert hand["max_consecutive_wins"] == 3
    assert hand["max_consecutive_losses"] == 2


def test_avg_bars_held_averages_closed_trades_only(hand):
    assert hand["avg_bars_held"] == pytest.approx((4 + 6 + 2 + 3 + 5 + 10 + 1 + 9) / 8)


def test_exposure_and_commissions_are_reported_as_given(hand):
    assert hand["exposure_time"] == 0.37
    assert hand["commissions"] == 8.5


def test_trade_ratios_match_quantstats_on_the_trade_return_series(hand):
    returns = pd.Series([p / 1000 for p in PNL])
    assert hand["profit_factor"] == pytest.approx(
        quantstats(qs.stats.profit_factor, returns, prepare_returns=False)
    )
    assert hand["payoff_ratio"] == pytest.approx(
        quantstats(qs.stats.payoff_ratio, returns, prepare_returns=False)
    )
    assert hand["avg_win"] == pytest.approx(
        quantstats(qs.stats.avg_win, returns, prepare_returns=False)
    )
    assert hand["avg_loss"] == pytest.approx(
        quantstats(qs.stats.avg_loss, returns, prepare_returns=False)
    )
    # quantstats leaves break-even periods out of the win rate (4 / 7); tradelab does not
    assert quantstats(qs.stats.win_rate, returns, prepare_returns=False) == pytest.approx(4 / 7)


# ---- undefined cases ----------------------------------------------------------------------------

PER_TRADE = (
    "win_rate",
    "avg_trade",
    "avg_win",
    "avg_loss",
    "best_trade",
    "worst_trade",
    "payoff_ratio",
    "profit_factor",
    "expectancy",
    "sqn",
    "avg_bars_held",
)


@pytest.mark.parametrize("trades", [[], [trade(500, day=9, is_open=True)]], ids=["none", "open"])
def test_no_closed_trades_makes_per_trade_metrics_undefined(trades):
    report = _report(trades)
    for name in PER_TRADE:
        assert math.isnan(report[name]), name
        assert report.undefined[name] == "no closed trades"
    assert report["num_trades"] == 0
    assert report["max_consecutive_wins"] == report["max_consecutive_losses"] == 0


def test_only_winning_trades_leaves_profit_factor_nan_not_inf():
    report = _report([trade(10, day=1), trade(20, day=2)])
    assert report["win_rate"] == 1.0
    for name in ("profit_factor", "avg_loss", "payoff_ratio"):
        assert math.isnan(report[name])
        assert report.undefined[name] == "no losing trades"


def test_only_losing_trades_gives_zero_profit_factor_and_undefined_avg_win():
    report = _report([trade(-10, day=1), trade(-20, day=2)])
    assert report["profit_factor"] == 0.0
    assert report["win_rate"] == 0.0
    assert report.undefined["avg_win"] == "no winning trades"
    assert report.undefined["payoff_ratio"] == "no winning trades"
    assert report["max_consecutive_losses"] == 2


def test_only_break_even_trades_reports_both_reasons_for_payoff_ratio():
    report = _report([trade(0, day=1), trade(0, day=2)])
    assert report.undefined["payoff_ratio"] == "no winning trades; no losing trades"
    assert report.undefined["sqn"] == "trade pnl has zero dispersion"
    assert report["max_consecutive_wins"] == report["max_consecutive_losses"] == 0


def test_single_closed_trade_leaves_sqn_undefined():
    report = _report([trade(10, day=1)])
    assert report.undefined["sqn"] == "fewer than 2 closed trades"
    assert report["expectancy"] == 10.0


def test_identical_trade_pnl_leaves_sqn_undefined():
    report = _report([trade(10, day=1), trade(10, day=2), trade(10, day=3)])
    assert report.undefined["sqn"] == "trade pnl has zero dispersion"


def test_exposure_not_given_is_undefined_with_reason():
    report = _report([])
    assert math.isnan(report["exposure_time"])
    assert report.undefined["exposure_time"] == "exposure not given"
    assert report["commissions"] == 0.0


# ---- invalid inputs -----------------------------------------------------------------------------


def test_closed_trade_without_exit_time_is_rejected():
    broken = TradeRecord(
        symbol="SPY",
        entry_time=datetime(2024, 1, 2),
        exit_time=None,
        entry_price=1.0,
        exit_price=None,
        size=1.0,
        pnl_gross=0.0,
        pnl=0.0,
        commission=0.0,
        bars_held=1,
    )
    with pytest.raises(ConfigError, match="no exit_time"):
        _report([broken])


def test_item_that_is_not_a_trade_record_is_rejected():
    with pytest.raises(ConfigError, match=r"trades\[0\] is a dict"):
        _report([{"pnl": 1.0}])


def test_naive_and_aware_exit_times_mixed_are_rejected():
    naive_trade = TradeRecord(
        symbol="SPY",
        entry_time=datetime(2024, 1, 2),
        exit_time=datetime(2024, 1, 3),
        entry_price=1.0,
        exit_price=1.0,
        size=1.0,
        pnl_gross=0.0,
        pnl=0.0,
        commission=0.0,
        bars_held=1,
    )
    with pytest.raises(ConfigError, match="tz-aware UTC"):
        _report([trade(1, day=1), naive_trade])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"exposure": 1.5}, "exposure"), ({"commissions": -1.0}, "commissions")],
)
def test_out_of_range_exposure_or_commissions_is_rejected(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        _report([], **kwargs)
