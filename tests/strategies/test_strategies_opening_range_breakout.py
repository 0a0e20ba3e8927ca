"""The opening range breakout: intraday, flat every night (half days too), entries only after the
range and not near the close, an optional daily trend filter from resampled bars."""

from __future__ import annotations

from collections import Counter

import pandas as pd
import pytest
from click.testing import CliRunner

from strategies.opening_range_breakout import OpeningRangeBreakout
from tradelab.backtest import run_backtest
from tradelab.calendar import market_calendar
from tradelab.strategy import list_strategies, space_of, validate_params

NEW_YORK = "America/New_York"


def local(moment) -> pd.Timestamp:
    return pd.Timestamp(moment).tz_convert(NEW_YORK)


@pytest.fixture(scope="module")
def with_trend_filter(five_minute_bars):
    return run_backtest(
        five_minute_bars,
        "opening_range_breakout",
        bar_size="5m",
        symbol="AAA",
        params={"trend_period": 10},
    )


@pytest.fixture(scope="module")
def defaults(five_minute_bars):
    return run_backtest(five_minute_bars, "opening_range_breakout", bar_size="5m", symbol="AAA")


@pytest.mark.parametrize("run", ["defaults", "with_trend_filter"])
def test_five_minute_backtest_holds_no_position_overnight_on_any_day(run, request):
    result = request.getfixturevalue(run)
    sessions = {s.day: s for s in market_calendar().sessions("2024-06-01", "2024-12-31")}
    assert len(result.trades) >= 50
    assert not any(t.is_open for t in result.trades)
    for trade in result.trades:
        session = sessions[local(trade.entry_time).date()]
        assert local(trade.exit_time).date() == session.day  # closed the session it opened
        flat_by = pd.Timestamp(session.close) - pd.Timedelta(minutes=5)  # 15:55, half days 12:55
        assert pd.Timestamp(trade.exit_time) <= flat_by < pd.Timestamp(session.close)
        # no entry within 30 minutes of the close (eod_no_entry_minutes=30)
        assert pd.Timestamp(session.close) - pd.Timestamp(trade.entry_time) >= pd.Timedelta("30min")
    half_day_exits = {
        local(t.exit_time).strftime("%Y-%m-%d %H:%M")
        for t in result.trades
        if sessions[local(t.exit_time).date()].early_close
    }
    assert half_day_exits  # the data has trades on half days, flattened by 12:55 at the latest
    assert all(text[-5:] <= "12:55" for text in half_day_exits)


def test_one_entry_per_session_after_the_opening_range(defaults):
    entries = [local(t.entry_time) for t in defaults.trades]
    assert max(Counter(e.date() for e in entries).values()) == 1
    # the 30-minute range ends at 10:00; the first breakout bar is 10:00, its order fills 10:05
    assert min(e.strftime("%H:%M") for e in entries) >= "10:05"


def test_the_daily_trend_filter_trades_less_and_needs_daily_bars_only_when_on(
    defaults, with_trend_filter
):
    assert OpeningRangeBreakout.timeframes_for({"trend_period": 10}) == ("1d",)
    assert OpeningRangeBreakout.timeframes_for({"trend_period": 0}) == ()
    assert len(with_trend_filter.trades) < len(defaults.trades)
    # the filter waits for ten complete daily bars: no trade in the first ten sessions
    first_day = local(with_trend_filter.trades[0].entry_time).date()
    assert first_day >= market_calendar().sessions("2024-06-01", "2024-12-31")[10].day


def test_results_are_unchanged_by_unused_higher_timeframes(five_minute_bars, defaults):
    plain = run_backtest(
        five_minute_bars,
        "opening_range_breakout",
        bar_size="5m",
        symbol="AAA",
        resample=("1h", "1d"),
    )
    assert plain.equity_values.tolist() == defaults.equity_values.tolist()
    assert plain.trades == defaults.trades
    # with the trend filter (daily bars declared), an extra hourly timeframe changes nothing
    autumn = five_minute_bars.loc["2024-09-01":"2024-11-30"]
    params = {"trend_period": 10}
    trend = run_backtest(autumn, "opening_range_breakout", symbol="AAA", params=params)
    extra = run_backtest(
        autumn, "opening_range_breakout", symbol="AAA", params=params, resample=("1h",)
    )
    assert extra.equity_values.tolist() == trend.equity_values.tolist()
    assert extra.trades == trend.trades and len(trend.trades) > 10


def test_on_daily_bars_it_trades_the_previous_days_range_without_end_of_day_rules():
    from tradelab.data import generate_bars

    bars = generate_bars("AAA", start="2015-01-01", end="2019-12-31", seed=7)
    result = run_backtest(bars, "opening_range_breakout", params={"trend_period": 20})
    assert len(result.trades) > 20
    assert not [o for o in result.orders if o.status == "denied"]
    assert max(t.bars_held for t in result.trades) > 1  # positions held across days


def test_it_is_registered_with_a_parameter_space_and_listed_by_the_cli():
    assert list_strategies()["opening_range_breakout"] is OpeningRangeBreakout
    space = space_of(OpeningRangeBreakout)
    assert set(space.params) == {"range_minutes", "reward", "trend_period"}
    assert validate_params(OpeningRangeBreakout, {"range_minutes": "45", "trend_period": 20}) == {
        "range_minutes": 45,
        "trend_period": 20,
    }
    defaults = dict(OpeningRangeBreakout.params._getitems())
    assert (defaults["eod_flatten"], defaults["eod_no_entry_minutes"]) == ("15:55", 30)
    from tradelab.cli.backtest_command import strategies

    out = CliRunner().invoke(strategies).output
    assert "opening_range_breakout  breakout" in out
