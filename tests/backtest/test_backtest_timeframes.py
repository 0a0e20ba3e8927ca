"""Higher timeframes resampled by Backtrader from start-stamped bars: what they hold, when a
strategy sees them, how they are named, and that an unused one changes nothing."""

from __future__ import annotations

from typing import Any, ClassVar

import backtrader as bt
import numpy as np
import pandas as pd
import pytest

from strategies.base import BaseStrategy
from tradelab.backtest import NumpyFeed, run_backtest
from tradelab.backtest.timeframes import add_timeframes, timeframe_name
from tradelab.data import bars_to_arrays, generate_bars
from tradelab.errors import BacktestError, StrategyError

NEW_YORK = "America/New_York"
AGGREGATE = {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}


@pytest.fixture(scope="module")
def intraday() -> pd.DataFrame:
    """Five-minute SYNTHETIC bars on NYSE sessions around Independence Day (a half day)."""
    return generate_bars(
        "AAA", start="2024-06-24", end="2024-07-12", bar_size="5m", seed=5, calendar="XNYS"
    )


class Recorder(BaseStrategy):
    """Records, on every base bar, what each feed shows (class-level: read after the run)."""

    timeframes = ("1h", "1d")
    seen: ClassVar[list[dict[str, Any]]] = []
    names: ClassVar[list[str]] = []

    def __init__(self) -> None:
        super().__init__()
        type(self).seen = []
        type(self).names = [d._name for d in self.datas]
        self.daily = self.resampled(self.data, "1d")
        self.hourly = self.resampled(self.data, "1h")

    def prenext(self) -> None:
        self.next()

    def next(self) -> None:
        row = {"bar": pd.Timestamp(self.data.datetime.datetime(0), tz="UTC")}
        for key, feed in (("hour", self.hourly), ("day", self.daily)):
            if len(feed):
                row[key] = pd.Timestamp(feed.datetime.datetime(0), tz="UTC")
                row[f"{key}_close"] = feed.close[0]
        self.seen.append(row)


def resampled_frame(feed: bt.DataBase) -> pd.DataFrame:
    stamps = pd.to_datetime([bt.num2date(x) for x in feed.datetime.array]).tz_localize("UTC")
    data = {c: np.asarray(getattr(feed, c).array) for c in AGGREGATE}
    return pd.DataFrame(data, index=stamps)


def test_numpy_feed_resampled_by_cerebro_matches_the_daily_and_hourly_aggregation(intraday):
    cerebro = bt.Cerebro(stdstats=False)
    feed = NumpyFeed(
        arrays=bars_to_arrays(intraday), name="AAA", timeframe=bt.TimeFrame.Minutes, compression=5
    )
    cerebro.adddata(feed)
    hourly = cerebro.resampledata(feed, timeframe=bt.TimeFrame.Minutes, compression=60)
    daily = cerebro.resampledata(feed, timeframe=bt.TimeFrame.Days, compression=1)
    cerebro.addstrategy(bt.Strategy)
    cerebro.run()

    local = intraday.index.tz_convert(NEW_YORK)
    by_session = intraday.groupby(local.date).agg(AGGREGATE)
    got_daily = resampled_frame(daily)
    assert got_daily[list(AGGREGATE)].to_numpy().tolist() == by_session.to_numpy().tolist()
    assert len(got_daily) == 14  # 15 weekdays, less Independence Day
    # a daily bar is stamped at the end of its (UTC) day
    assert list(got_daily.index.date) == list(by_session.index)
    assert (got_daily.index.strftime("%H:%M:%S") == "23:59:59").all()

    # hours are clock-aligned (09:30-10:00, 10:00-11:00, ...) and stamped at their end
    by_hour = intraday.groupby(intraday.index.floor("1h")).agg(AGGREGATE)
    got_hourly = resampled_frame(hourly)
    assert got_hourly.to_numpy().tolist() == by_hour.to_numpy().tolist()
    assert list(got_hourly.index) == list(by_hour.index + pd.Timedelta("1h"))
    half_day = got_hourly.index.tz_convert(NEW_YORK)
    last_hour = half_day[half_day.strftime("%Y-%m-%d") == "2024-07-03"][-1]
    assert last_hour.strftime("%H:%M") == "13:00"  # the half day's last hour ends at its close


def test_a_strategy_sees_a_higher_timeframe_bar_only_once_its_period_has_ended(intraday):
    result = run_backtest(intraday, Recorder, bar_size="5m", symbol="AAA")
    assert Recorder.names == ["AAA", "AAA@1h", "AAA@1d"]
    seen = pd.DataFrame(Recorder.seen).set_index("bar")
    assert len(seen) == len(intraday) == len(result.equity_values)
    hour_seen = seen.dropna(subset=["hour"])
    assert (hour_seen["hour"] <= hour_seen.index).all()  # never a bar still in progress
    local = seen.index.tz_convert(NEW_YORK)
    day_seen = seen.dropna(subset=["day"])
    days = day_seen.index.tz_convert(NEW_YORK).date
    assert (day_seen["day"].dt.date < days).all()  # only complete sessions
    # on a session's first bar the daily feed shows the previous session's close
    closes = intraday["close"].groupby(local.date).last()
    firsts = seen[local.strftime("%H:%M") == "09:30"].iloc[1:]
    previous = closes.shift(1).loc[firsts.index.tz_convert(NEW_YORK).date]
    assert firsts["day_close"].tolist() == previous.tolist()
    # on the 10:00 bar the hourly feed shows 09:30-10:00, whose close is the 09:55 bar's
    at_ten = seen[local.strftime("%H:%M") == "10:00"]
    at_955 = intraday["close"][local.strftime("%H:%M") == "09:55"]
    assert at_ten["hour_close"].tolist() == at_955.tolist()


def test_datas_hold_every_base_feed_first_then_each_symbols_higher_timeframes(intraday):
    other = generate_bars(
        "BBB", start="2024-06-24", end="2024-07-12", bar_size="5m", seed=5, calendar="XNYS"
    )
    run_backtest({"AAA": intraday, "BBB": other}, Recorder, resample=("30m",))
    assert Recorder.names == [
        "AAA",
        "BBB",
        "AAA@30m",
        "AAA@1h",
        "AAA@1d",
        "BBB@30m",
        "BBB@1h",
        "BBB@1d",
    ]
    assert timeframe_name("AAA", "60min") == "AAA@1h"


def test_an_unused_resample_leaves_every_result_unchanged(intraday):
    params = {"fast": 5, "slow": 20}
    plain = run_backtest(intraday, "sma_crossover", bar_size="5m", params=params)
    extra = run_backtest(
        intraday, "sma_crossover", bar_size="5m", params=params, resample=("1h", "1d")
    )
    assert extra.equity_values.tolist() == plain.equity_values.tolist()
    assert extra.timestamps.tolist() == plain.timestamps.tolist()
    assert extra.trades == plain.trades and len(plain.trades) > 20

    def without_ref(orders):  # Backtrader numbers orders across runs
        return [{k: v for k, v in o.to_dict().items() if k != "ref"} for o in orders]

    assert without_ref(extra.orders) == without_ref(plain.orders)
    assert extra.metrics.values == plain.metrics.values


def test_daily_bars_resampled_weekly_work_with_a_daily_strategy():
    bars = generate_bars("AAA", start="2019-01-01", end="2019-12-31", seed=7)
    plain = run_backtest(bars, "sma_crossover")
    weekly = run_backtest(bars, "sma_crossover", resample=("1w",))
    assert weekly.equity_values.tolist() == plain.equity_values.tolist()


@pytest.mark.parametrize(
    ("resample", "fragment"),
    [
        (("1m",), "timeframe 1m is not longer than the base bars"),
        (("5m",), "timeframe 5m is not longer than the base bars"),
        (("2d",), "unknown bar size '2d'"),
        ("1h", "not the string '1h'"),
    ],
)
def test_an_invalid_resample_is_refused_before_running(intraday, resample, fragment):
    with pytest.raises(BacktestError, match=fragment):
        run_backtest(intraday, "sma_crossover", resample=resample)


class ReadsDailyUndeclared(BaseStrategy):
    def __init__(self) -> None:
        super().__init__()
        self.daily = self.resampled(self.data, "1d")


def test_reading_an_undeclared_timeframe_says_how_to_declare_it(intraday):
    with pytest.raises(StrategyError, match=r"reads AAA@1d.*timeframes = \('1d',\)"):
        run_backtest(intraday, ReadsDailyUndeclared, symbol="AAA")


def test_add_timeframes_names_feeds_and_turns_preload_off(intraday):
    cerebro = bt.Cerebro(stdstats=False)
    feed = NumpyFeed(
        arrays=bars_to_arrays(intraday), name="AAA", timeframe=bt.TimeFrame.Minutes, compression=5
    )
    cerebro.adddata(feed)
    added = add_timeframes(cerebro, feed, ["15m", "1w"], holds_warmup=False)
    assert [d._name for d in cerebro.datas] == ["AAA", "AAA@15m", "AAA@1w"]
    assert added == cerebro.datas[1:] and not any(d.holds_warmup for d in added)
