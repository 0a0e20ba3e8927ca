"""Synthetic bars on an exchange calendar: real sessions, no holidays, half days end at 13:00;
the quality checks taught the same calendar."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

from tradelab.data import (
    SyntheticConfig,
    bar_timestamps,
    check_quality,
    generate_bars,
    generate_universe,
)
from tradelab.errors import ConfigError, UnknownNameError

HALF_DAYS_2024 = ["2024-07-03", "2024-11-29", "2024-12-24"]
HOLIDAYS_2024 = ["2024-01-01", "2024-07-04", "2024-09-02", "2024-11-28", "2024-12-25"]


def _new_york(bars: pd.DataFrame) -> pd.DatetimeIndex:
    return bars.index.tz_convert("America/New_York")


def _fingerprint(bars: pd.DataFrame) -> str:
    return hashlib.sha256(bars.to_numpy().tobytes() + bars.index.asi8.tobytes()).hexdigest()[:16]


@pytest.fixture(scope="module")
def five_minute_2024() -> pd.DataFrame:
    return generate_bars(
        "AAA", start="2024-06-01", end="2024-12-31", bar_size="5m", seed=3, calendar="XNYS"
    )


@pytest.mark.parametrize(
    ("bar_size", "start", "end", "rows", "fingerprint"),
    [
        ("1d", "2015-01-01", "2024-12-31", 2609, "788df49436992102"),
        ("5m", "2024-03-01", "2024-03-29", 1638, "91e3134ac92f031d"),
        ("1w", "2020-01-01", "2020-12-31", 52, "2693efbb76a324bc"),
    ],
)
def test_without_a_calendar_the_same_seed_gives_the_same_bars_as_before(
    bar_size, start, end, rows, fingerprint
):
    # fingerprints of the bars generated before calendars existed (seed 7)
    bars = generate_bars("AAA", start=start, end=end, bar_size=bar_size, seed=7)
    assert len(bars) == rows
    assert _fingerprint(bars) == fingerprint
    pd.testing.assert_frame_equal(
        bars, generate_bars("AAA", start=start, end=end, bar_size=bar_size, seed=7, calendar=None)
    )


def test_a_holiday_has_no_bars_daily_or_intraday():
    daily = generate_bars("AAA", start="2024-01-01", end="2024-12-31", seed=1, calendar="XNYS")
    assert len(daily) == 252  # NYSE sessions in 2024
    days = set(daily.index.strftime("%Y-%m-%d"))
    assert not days & set(HOLIDAYS_2024)
    intraday = generate_bars(
        "AAA", start="2024-11-25", end="2024-11-29", bar_size="5m", seed=1, calendar="XNYS"
    )
    assert "2024-11-28" not in set(_new_york(intraday).strftime("%Y-%m-%d"))  # Thanksgiving


def test_half_days_end_at_1300_and_regular_sessions_at_1600(five_minute_2024):
    local = _new_york(five_minute_2024)
    per_day = pd.Series(local.strftime("%H:%M"), index=local.strftime("%Y-%m-%d"))
    firsts, lasts = per_day.groupby(level=0).first(), per_day.groupby(level=0).last()
    counts = per_day.groupby(level=0).size()
    assert len(counts) == 147  # sessions from 2024-06-03 to 2024-12-31
    assert (firsts == "09:30").all()
    assert sorted(lasts[lasts != "15:55"].index) == HALF_DAYS_2024
    assert (lasts[HALF_DAYS_2024] == "12:55").all()
    assert (counts[HALF_DAYS_2024] == 42).all() and (counts.drop(HALF_DAYS_2024) == 78).all()


def test_half_day_volume_follows_the_u_shape_of_its_shorter_session(five_minute_2024):
    local = _new_york(five_minute_2024)
    half = five_minute_2024["volume"][local.strftime("%Y-%m-%d") == "2024-07-03"].to_numpy()
    assert half[0] > half[len(half) // 2] < half[-1]  # busy open, quiet midday, busy close
    daily = five_minute_2024["volume"].groupby(local.strftime("%Y-%m-%d")).sum()
    assert daily[HALF_DAYS_2024].mean() < daily.drop(HALF_DAYS_2024).median()


def test_calendar_bars_are_canonical_consistent_and_deterministic(five_minute_2024):
    again = generate_bars(
        "AAA", start="2024-06-01", end="2024-12-31", bar_size="5m", seed=3, calendar="XNYS"
    )
    pd.testing.assert_frame_equal(five_minute_2024, again, check_exact=True)
    o, h, low, c = (five_minute_2024[k].to_numpy() for k in ("open", "high", "low", "close"))
    assert (h >= np.maximum(o, c)).all() and (low <= np.minimum(o, c)).all() and (low > 0).all()
    report = check_quality(five_minute_2024, bar_size="5m", calendar="XNYS")
    assert report.issues == () and report.score == 1.0


def test_calendar_from_config_keyword_and_universe_agree():
    config = SyntheticConfig(calendar="XNYS")
    a = generate_bars(
        "BBB", start="2024-12-20", end="2024-12-31", bar_size="1h", seed=2, config=config
    )
    b = generate_bars(
        "BBB", start="2024-12-20", end="2024-12-31", bar_size="1h", seed=2, calendar="XNYS"
    )
    c = generate_universe(
        ["BBB"], start="2024-12-20", end="2024-12-31", bar_size="1h", seed=2, calendar="XNYS"
    )["BBB"]
    pd.testing.assert_frame_equal(a, b)
    pd.testing.assert_frame_equal(a, c)
    assert a.index.equals(
        bar_timestamps(start="2024-12-20", end="2024-12-31", bar_size="1h", calendar="XNYS")
    )
    # hourly bars on the Christmas Eve half day: 09:30 … 12:30 (the last one half an hour)
    eve = _new_york(a)[_new_york(a).strftime("%Y-%m-%d") == "2024-12-24"]
    assert list(eve.strftime("%H:%M")) == ["09:30", "10:30", "11:30", "12:30"]
    assert SyntheticConfig.from_dict(config.to_dict()) == config


def test_weekly_calendar_bars_are_labelled_by_the_monday_even_on_a_holiday():
    stamps = bar_timestamps(start="2024-01-01", end="2024-01-31", bar_size="1w", calendar="XNYS")
    # 1 January 2024 (a Monday) is a holiday; its week has sessions and keeps its Monday label
    assert list(stamps.strftime("%Y-%m-%d")) == [
        "2024-01-01",
        "2024-01-08",
        "2024-01-15",
        "2024-01-22",
        "2024-01-29",
    ]


def test_unknown_calendar_is_refused_with_a_suggestion():
    with pytest.raises(UnknownNameError, match="unknown exchange calendar 'XNYZ'. Did you mean"):
        SyntheticConfig(calendar="XNYZ")
    with pytest.raises(ConfigError, match="calendar must be an exchange calendar name"):
        generate_bars("AAA", start="2024-01-02", end="2024-01-05", seed=1, calendar="")


def test_a_range_without_sessions_is_refused_naming_the_calendar():
    with pytest.raises(ConfigError, match="no XNYS session in range"):
        generate_bars("AAA", start="2024-12-25", end="2024-12-25", seed=1, calendar="XNYS")


@pytest.mark.parametrize("bar_size", ["1d", "1h"])
def test_quality_with_the_calendar_sees_no_gap_in_a_two_day_closure(bar_size):
    # Hurricane Sandy closed the NYSE on 29 and 30 October 2012
    bars = generate_bars(
        "AAA", start="2012-10-22", end="2012-11-02", bar_size=bar_size, seed=1, calendar="XNYS"
    )
    plain = check_quality(bars, bar_size=bar_size)
    assert [i.kind for i in plain.issues] == ["gap"]  # the Monday-Friday rule flags it
    assert check_quality(bars, bar_size=bar_size, calendar="XNYS").issues == ()


def test_quality_with_the_calendar_flags_one_missing_session_counting_its_bars():
    bars = generate_bars(
        "AAA", start="2024-11-25", end="2024-12-03", bar_size="5m", seed=1, calendar="XNYS"
    )
    without_half_day = bars[_new_york(bars).strftime("%Y-%m-%d") != "2024-11-29"]
    [plain] = check_quality(without_half_day, bar_size="5m").issues
    assert "2 business days missing" in plain.message  # Thanksgiving counted as missing too
    report = check_quality(without_half_day, bar_size="5m", calendar="XNYS")
    [gap] = report.issues
    assert gap.kind == "gap" and gap.value == 1.0
    assert "1 XNYS session(s) missing between 2024-11-27 and 2024-12-02" in gap.message
    rows = len(without_half_day)
    assert report.score == pytest.approx(1 - 0.5 * 42 / (rows + 42))  # the half day's 42 bars
