"""Walk-forward windows: exact boundaries, no train/test overlap, no look-ahead."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradelab.analysis import parse_period, walk_forward_windows, window_rows
from tradelab.errors import ConfigError


def _dates(windows):
    return [
        (
            w.train_start.isoformat(),
            w.train_end.isoformat(),
            w.test_start.isoformat(),
            w.test_end.isoformat(),
        )
        for w in windows
    ]


def test_rolling_windows_have_exact_boundaries():
    windows = walk_forward_windows("2016-01-01", "2018-12-31", train="1y", test="6m")
    assert _dates(windows) == [
        ("2016-01-01", "2016-12-31", "2017-01-01", "2017-06-30"),
        ("2016-07-01", "2017-06-30", "2017-07-01", "2017-12-31"),
        ("2017-01-01", "2017-12-31", "2018-01-01", "2018-06-30"),
        ("2017-07-01", "2018-06-30", "2018-07-01", "2018-12-31"),
    ]
    assert [w.index for w in windows] == [0, 1, 2, 3]


def test_anchored_windows_keep_the_train_start_and_grow():
    windows = walk_forward_windows("2014-01-01", "2023-12-31", train="3y", test="1y", anchored=True)
    assert _dates(windows)[:2] == [
        ("2014-01-01", "2016-12-31", "2017-01-01", "2017-12-31"),
        ("2014-01-01", "2017-12-31", "2018-01-01", "2018-12-31"),
    ]
    assert len(windows) == 7
    assert {w.train_start for w in windows} == {date(2014, 1, 1)}
    assert windows[-1].test_end == date(2023, 12, 31)


def test_a_step_longer_than_the_test_leaves_gaps_and_a_shorter_one_is_refused():
    windows = walk_forward_windows("2016-01-01", "2018-12-31", train="1y", test="3m", step="6m")
    assert _dates(windows)[:2] == [
        ("2016-01-01", "2016-12-31", "2017-01-01", "2017-03-31"),
        ("2016-07-01", "2017-06-30", "2017-07-01", "2017-09-30"),
    ]
    with pytest.raises(ConfigError, match="step 1m is shorter than test 3m"):
        walk_forward_windows("2016-01-01", "2018-12-31", train="1y", test="3m", step="1m")


def test_month_ends_do_not_drift():
    # every boundary is origin + n months: Jan 31 + 1m = Feb 29 (2016), + 2m = Mar 31, ...
    windows = walk_forward_windows("2016-01-31", "2016-12-31", train="1m", test="1m")
    starts = [w.test_start for w in windows]
    assert starts[:4] == [
        date(2016, 2, 29),
        date(2016, 3, 31),
        date(2016, 4, 30),
        date(2016, 5, 31),
    ]
    for earlier, later in zip(windows, windows[1:], strict=False):
        assert earlier.test_end + timedelta(days=1) == later.test_start


def test_no_whole_window_and_bad_periods_are_refused():
    with pytest.raises(ConfigError, match="no whole walk-forward window"):
        walk_forward_windows("2016-01-01", "2017-03-31", train="1y", test="6m")
    with pytest.raises(ConfigError, match="'3y', '6m'"):
        parse_period("3 years")
    with pytest.raises(ConfigError, match="train"):
        walk_forward_windows("2016-01-01", "2018-12-31", train="0y", test="6m")


_PERIODS = st.tuples(st.integers(1, 18), st.sampled_from("dwmy")).map(lambda p: f"{p[0]}{p[1]}")


@settings(max_examples=150, deadline=None)
@given(
    start=st.dates(date(2000, 1, 1), date(2010, 12, 31)),
    days=st.integers(30, 4000),
    train=_PERIODS,
    test=_PERIODS,
    anchored=st.booleans(),
    extra=st.integers(0, 3),
)
def test_every_scheme_separates_train_from_test(start, days, train, test, anchored, extra):
    end = start + timedelta(days=days)
    test_period = parse_period(test)
    step = f"{test_period.count + extra}{test_period.unit}"
    try:
        windows = walk_forward_windows(
            start, end, train=train, test=test, step=step, anchored=anchored
        )
    except ConfigError as exc:
        assert "no whole walk-forward window" in str(exc)
        return
    for w in windows:
        assert start <= w.train_start <= w.train_end < w.test_start <= w.test_end <= end
        assert w.test_start == w.train_end + timedelta(days=1)  # adjacent, no overlap
        if anchored:
            assert w.train_start == start
    for earlier, later in zip(windows, windows[1:], strict=False):
        assert earlier.test_end < later.test_start  # test periods never overlap
        if extra == 0:
            assert earlier.test_end + timedelta(days=1) == later.test_start  # and tile
        assert later.train_end > earlier.train_end


def test_window_rows_split_bars_without_look_ahead():
    stamps = pd.bdate_range("2016-01-01", "2018-12-31", tz="UTC").as_unit("ns").asi8
    for window in walk_forward_windows("2016-01-01", "2018-12-31", train="1y", test="6m"):
        train = window_rows(stamps, window.train_start, window.train_end)
        test = window_rows(stamps, window.test_start, window.test_end)
        assert train.stop == test.start  # adjacent rows, none shared
        train_days = pd.to_datetime(stamps[train], utc=True).date
        test_days = pd.to_datetime(stamps[test], utc=True).date
        assert train_days.min() >= window.train_start and train_days.max() <= window.train_end
        assert test_days.min() >= window.test_start and test_days.max() <= window.test_end
        assert train_days.max() < test_days.min()  # every train bar precedes every test bar
        # no bar of the test period is missing from it
        inside = (pd.to_datetime(stamps, utc=True).date >= window.test_start) & (
            pd.to_datetime(stamps, utc=True).date <= window.test_end
        )
        assert np.flatnonzero(inside).tolist() == list(range(test.start, test.stop))
