"""Canonical bars: bar sizes, coercion to canonical form, and the numpy array layout."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from tradelab.data import (
    BAR_COLUMNS,
    BAR_SIZES,
    arrays_to_bars,
    bars_to_arrays,
    parse_bar_size,
    to_canonical,
)
from tradelab.errors import ConfigError, DataError, UnknownNameError

from .helpers import clean_daily, make_bars


@pytest.mark.parametrize(
    ("text", "delta", "intraday", "freq"),
    [
        ("1m", dt.timedelta(minutes=1), True, "1min"),
        ("5m", dt.timedelta(minutes=5), True, "5min"),
        ("15m", dt.timedelta(minutes=15), True, "15min"),
        ("30m", dt.timedelta(minutes=30), True, "30min"),
        ("1h", dt.timedelta(hours=1), True, "1h"),
        ("1d", dt.timedelta(days=1), False, "1D"),
        ("1w", dt.timedelta(weeks=1), False, "W-MON"),
    ],
)
def test_parse_bar_size_known_names_give_length_and_frequency(text, delta, intraday, freq):
    size = parse_bar_size(text)
    assert (size.text, size.timedelta, size.is_intraday, size.pandas_freq) == (
        text,
        delta,
        intraday,
        freq,
    )
    pd.tseries.frequencies.to_offset(size.pandas_freq)  # a valid pandas alias


def test_parse_bar_size_ignores_case_spaces_and_accepts_aliases():
    assert parse_bar_size(" 1D ").text == "1d"
    assert parse_bar_size("5min").text == "5m"
    assert parse_bar_size("daily").text == "1d"
    assert parse_bar_size(parse_bar_size("1h")).text == "1h"


def test_parse_bar_size_unknown_name_raises_config_error_with_suggestion():
    with pytest.raises(ConfigError) as info:
        parse_bar_size("1hr")
    assert isinstance(info.value, UnknownNameError)
    message = str(info.value)
    assert "'1hr'" in message and "Did you mean '1h'?" in message
    for known in BAR_SIZES:
        assert known in message


def test_to_canonical_naive_index_becomes_utc_nanoseconds_and_float_columns():
    frame = pd.DataFrame(
        {"Open": [1, 2], "HIGH": [2, 3], "low": [0.5, 1], "close": [1.5, 2], "volume": [10, 20]},
        index=pd.DatetimeIndex(["2024-01-02", "2024-01-03"]),
    )
    out = to_canonical(frame)
    assert list(out.columns) == list(BAR_COLUMNS)
    assert str(out.index.dtype) == "datetime64[ns, UTC]"
    assert out.index.name == "timestamp"
    assert all(out[c].dtype == np.float64 for c in BAR_COLUMNS)
    assert out.index[0] == pd.Timestamp("2024-01-02", tz="UTC")


def test_to_canonical_converts_zoned_index_and_timestamp_column_to_utc():
    stamps = pd.DatetimeIndex(["2024-01-02 09:30"]).tz_localize("America/New_York")
    frame = pd.DataFrame(
        {"timestamp": stamps, "open": [1.0], "high": [1], "low": [1], "close": [1], "volume": [1]}
    )
    out = to_canonical(frame)
    assert out.index[0] == pd.Timestamp("2024-01-02 14:30", tz="UTC")


def test_to_canonical_missing_and_extra_columns_are_named_in_the_error():
    frame = clean_daily(2).drop(columns="volume").assign(vwap=1.0)
    with pytest.raises(DataError) as info:
        to_canonical(frame)
    assert "missing columns ['volume']" in str(info.value)
    assert "unexpected columns ['vwap']" in str(info.value)


def test_to_canonical_drop_extra_ignores_additional_columns():
    out = to_canonical(clean_daily(2).assign(vwap=1.0), drop_extra=True)
    assert list(out.columns) == list(BAR_COLUMNS)


def test_to_canonical_non_numeric_value_names_column_row_and_value():
    frame = clean_daily(3).astype(object)
    frame.iloc[1, 3] = "abc"
    with pytest.raises(DataError, match=r"column 'close' has a non-numeric value 'abc' at row 1"):
        to_canonical(frame)


def test_to_canonical_unsorted_or_duplicate_timestamps_are_refused_unless_unchecked():
    unsorted = make_bars([("2024-01-03", 1, 1, 1, 1, 1), ("2024-01-02", 1, 1, 1, 1, 1)])
    duplicate = make_bars([("2024-01-02", 1, 1, 1, 1, 1), ("2024-01-02", 1, 1, 1, 1, 1)])
    with pytest.raises(DataError, match="not sorted"):
        to_canonical(unsorted)
    with pytest.raises(DataError, match="duplicate timestamp"):
        to_canonical(duplicate)
    assert len(to_canonical(unsorted, check_order=False)) == 2


def test_to_canonical_without_timestamps_is_refused():
    with pytest.raises(DataError, match="DatetimeIndex or a 'timestamp' column"):
        to_canonical(clean_daily(2).reset_index(drop=True))


def test_bars_to_arrays_gives_contiguous_int64_nanoseconds_and_float64_columns():
    bars = clean_daily(4)
    arrays = bars_to_arrays(bars)
    assert set(arrays) == {"timestamp", *BAR_COLUMNS}
    assert arrays["timestamp"].dtype == np.int64
    assert arrays["timestamp"][0] == pd.Timestamp("2024-01-01", tz="UTC").value
    for column in BAR_COLUMNS:
        assert arrays[column].dtype == np.float64
        assert arrays[column].flags.c_contiguous
        np.testing.assert_array_equal(arrays[column], bars[column].to_numpy())


def test_arrays_to_bars_inverts_bars_to_arrays_exactly_even_from_read_only_arrays():
    bars = clean_daily(6)
    arrays = bars_to_arrays(bars)
    for values in arrays.values():
        values.setflags(write=False)
    back = arrays_to_bars(arrays)
    pd.testing.assert_frame_equal(back, bars)
    back.iloc[0, 0] = 1.0  # the frame owns writable memory
    assert arrays["open"][0] == bars["open"].iloc[0]


def test_arrays_to_bars_with_missing_key_or_unequal_lengths_raises_data_error():
    arrays = bars_to_arrays(clean_daily(3))
    with pytest.raises(DataError, match=r"missing \['volume'\]"):
        arrays_to_bars({k: v for k, v in arrays.items() if k != "volume"})
    arrays["open"] = arrays["open"][:2]
    with pytest.raises(DataError, match="same length"):
        arrays_to_bars(arrays)
