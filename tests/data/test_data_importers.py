"""Importers: the recognised CSV layouts, time zones, and refusal of bad files (writing nothing)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tradelab.data import (
    ParquetStore,
    generate_bars,
    import_bars,
    read_csv_bars,
    read_parquet_bars,
)
from tradelab.errors import ConfigError, DataError, DataQualityError

from .helpers import stored_files, write

YAHOO = """Date,Open,High,Low,Close,Adj Close,Volume
2024-01-02,472.16,473.67,470.49,472.65,466.80,123623700
2024-01-03,470.43,471.19,468.17,468.79,462.99,103585900
2024-01-04,468.30,470.96,467.05,467.28,461.50,84232200
"""

IB_DAILY = """date,open,high,low,close,volume,average,barCount
20240102,472.16,473.67,470.49,472.65,1236237,472.1,60211
20240103,470.43,471.19,468.17,468.79,1035859,469.6,50544
"""

IB_INTRADAY = """date,open,high,low,close,volume,average,barCount
20240102 09:30:00 US/Eastern,472.16,472.50,471.90,472.30,12000,472.2,100
20240102 09:35:00 US/Eastern,472.30,472.80,472.10,472.60,9000,472.4,80
20240102 09:40:00 US/Eastern,472.60,472.70,472.00,472.10,8000,472.3,70
"""


@pytest.fixture
def store(tmp_path: Path) -> ParquetStore:
    return ParquetStore(tmp_path / "store")


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def assert_nothing_written(store: ParquetStore) -> None:
    assert stored_files(store.root) == []


def test_yahoo_csv_uses_close_and_ignores_adj_close(tmp_path, store):
    path = write(tmp_path / "spy.csv", YAHOO)
    bars = read_csv_bars(path)
    assert list(bars.index) == [utc("2024-01-02"), utc("2024-01-03"), utc("2024-01-04")]
    assert bars["close"].tolist() == [472.65, 468.79, 467.28]
    assert bars["volume"].iloc[0] == 123623700.0
    report = import_bars(path, symbol="spy", store=store)
    assert (report.symbol, report.bar_size, report.rows) == ("SPY", "1d", 3)
    assert report.entry.source == "csv" and report.entry.quality_score == 1.0
    pd.testing.assert_frame_equal(store.read("SPY"), bars)


def test_yahoo_csv_adjusted_scales_ohlc_by_adj_close_over_close(tmp_path):
    path = write(tmp_path / "spy.csv", YAHOO)
    bars = read_csv_bars(path, adjusted=True)
    factor = 466.80 / 472.65
    assert bars["close"].iloc[0] == pytest.approx(466.80)
    assert bars["open"].iloc[0] == pytest.approx(472.16 * factor)
    assert bars["volume"].iloc[0] == 123623700.0


def test_adjusted_without_adj_close_column_is_a_data_error(tmp_path):
    path = write(tmp_path / "ib.csv", IB_DAILY)
    with pytest.raises(DataError, match="adjusted=True needs an 'Adj Close' column"):
        read_csv_bars(path, adjusted=True)


def test_ib_daily_csv_reads_compact_dates_as_session_dates(tmp_path, store):
    path = write(tmp_path / "ib_daily.csv", IB_DAILY)
    report = import_bars(path, symbol="SPY", store=store)
    bars = store.read("SPY")
    assert list(bars.index) == [utc("2024-01-02"), utc("2024-01-03")]
    assert list(bars.columns) == ["open", "high", "low", "close", "volume"]
    assert report.bar_size == "1d"


def test_ib_intraday_csv_with_zone_names_is_converted_to_utc(tmp_path, store):
    path = write(tmp_path / "ib_5m.csv", IB_INTRADAY)
    report = import_bars(path, symbol="SPY", store=store)
    assert report.bar_size == "5m"  # inferred from the spacing
    index = store.read("SPY", bar_size="5m").index
    assert list(index) == [
        utc("2024-01-02 14:30"),
        utc("2024-01-02 14:35"),
        utc("2024-01-02 14:40"),
    ]


def test_ib_intraday_without_zone_is_localized_to_the_given_tz(tmp_path):
    text = IB_INTRADAY.replace(" US/Eastern", "").replace("20240102 ", "20240702  ")
    bars = read_csv_bars(write(tmp_path / "ib.csv", text), tz="America/New_York")
    assert bars.index[0] == utc("2024-07-02 13:30")  # EDT is UTC-4


def test_date_only_stamps_are_midnight_utc_whatever_the_tz(tmp_path):
    bars = read_csv_bars(write(tmp_path / "d.csv", YAHOO), tz="America/New_York")
    assert bars.index[0] == utc("2024-01-02")


def test_naive_times_are_taken_in_tz_and_offsets_are_honoured(tmp_path):
    text = (
        "timestamp,open,high,low,close,volume\n"
        "2024-01-02 09:30:00,1,2,0.5,1.5,10\n"
        "2024-01-02T09:35:00-05:00,1,2,0.5,1.5,10\n"
        "2024-01-02T14:40:00Z,1,2,0.5,1.5,10\n"
    )
    bars = read_csv_bars(write(tmp_path / "t.csv", text), tz="America/New_York")
    assert list(bars.index) == [
        utc("2024-01-02 14:30"),
        utc("2024-01-02 14:35"),
        utc("2024-01-02 14:40"),
    ]


def test_generic_upper_case_headers_and_separate_date_and_time_columns(tmp_path):
    text = (
        "DATE,TIME,OPEN,HIGH,LOW,CLOSE,VOLUME\n"
        "2024-01-02,14:30,1,2,0.5,1.5,10\n"
        "2024-01-02,14:31,1,2,0.5,1.5,10\n"
    )
    bars = read_csv_bars(write(tmp_path / "g.csv", text))
    assert list(bars.index) == [utc("2024-01-02 14:30"), utc("2024-01-02 14:31")]


def test_column_map_maps_unrecognised_headers(tmp_path, store):
    text = (
        "When,Px Open,Px High,Px Low,Px Last,Shares\n"
        "02/01/2024,1,2,0.5,1.5,10\n"
        "03/01/2024,1,2,0.5,1.5,10\n"
    )
    path = write(tmp_path / "custom.csv", text)
    column_map = {
        "When": "timestamp",
        "Px Open": "open",
        "Px High": "high",
        "Px Low": "low",
        "Px Last": "close",
        "Shares": "volume",
    }
    report = import_bars(
        path, symbol="X", store=store, column_map=column_map, date_format="%d/%m/%Y"
    )
    assert list(store.read("X").index) == [utc("2024-01-02"), utc("2024-01-03")]
    assert report.rows == 2


def test_column_map_to_an_unknown_canonical_name_is_a_config_error(tmp_path):
    path = write(tmp_path / "c.csv", YAHOO)
    with pytest.raises(ConfigError, match="'Close' to 'closing'.*Did you mean 'close'"):
        read_csv_bars(path, column_map={"Close": "closing"})


def test_column_map_naming_a_missing_column_is_a_data_error_with_suggestion(tmp_path):
    path = write(tmp_path / "c.csv", YAHOO)
    with pytest.raises(DataError, match="'Adj Clse', which the file does not have.*Adj Close"):
        read_csv_bars(path, column_map={"Adj Clse": "close"})


def test_parquet_file_with_datetime_index_imports_with_source_parquet(tmp_path, store):
    bars = generate_bars("P", start="2024-01-01", end="2024-02-29", seed=5)
    path = tmp_path / "p.parquet"
    bars.rename(columns=str.title).to_parquet(path)
    report = import_bars(path, symbol="P", store=store)
    assert report.entry.source == "parquet"
    pd.testing.assert_frame_equal(store.read("P"), bars)


def test_parquet_file_with_naive_date_column_reads_session_dates(tmp_path):
    frame = pd.DataFrame(
        {
            "date": pd.to_datetime(["2024-01-02", "2024-01-03"]),
            "open": [1.0, 1.0],
            "high": [2.0, 2.0],
            "low": [0.5, 0.5],
            "close": [1.5, 1.5],
            "volume": [10, 20],
        }
    )
    frame.to_parquet(tmp_path / "d.parquet")
    bars = read_parquet_bars(tmp_path / "d.parquet", tz="America/New_York")
    assert list(bars.index) == [utc("2024-01-02"), utc("2024-01-03")]
    assert bars["volume"].dtype == np.float64


def test_quality_error_message_names_file_line_row_and_problem(tmp_path, store):
    text = YAHOO + "2024-01-05,100.0,99.0,98.0,101.0,100.0,5000\n"
    path = write(tmp_path / "prices.csv", text)
    with pytest.raises(DataQualityError) as info:
        import_bars(path, symbol="SPY", store=store)
    message = str(info.value)
    assert "prices.csv line 5 (row 4): high 99.0 < max(open, close) 101.0" in message
    assert "nothing was written" in message and "repair=True" in message
    assert "data row n is line n+1" in message
    assert [i.kind for i in info.value.issues] == ["ohlc"]
    assert_nothing_written(store)


def test_many_problems_are_listed_up_to_ten_then_counted(tmp_path, store):
    rows = "".join(f"2024-01-{d:02d},100,99,98,101,100,10\n" for d in range(1, 16))
    path = write(tmp_path / "many.csv", "Date,Open,High,Low,Close,Adj Close,Volume\n" + rows)
    with pytest.raises(DataQualityError) as info:
        import_bars(path, symbol="X", store=store, bar_size="1d")
    assert "… and 5 more" in str(info.value)
    assert len(info.value.issues) == 15
    assert_nothing_written(store)


BAD_FILES = [
    ("empty", "", DataError, ["empty.csv is empty (line 1)"]),
    ("header_only", "Date,Open,High,Low,Close,Volume\n", DataError, ["but no data rows"]),
    (
        "wrong_columns",
        "Date,Price,Size\n2024-01-02,1,2\n",
        DataError,
        ["lacks columns ['open', 'high', 'low', 'close', 'volume']", "column_map"],
    ),
    (
        "nan",
        YAHOO + "2024-01-05,100,101,99,,100,10\n",
        DataQualityError,
        ["nan.csv line 5 (row 4): close is missing (NaN)"],
    ),
    (
        "unsorted",
        YAHOO + "2024-01-03,100,101,99,100,100,10\n",
        DataQualityError,
        ["unsorted.csv line 5 (row 4): timestamp 2024-01-03 is earlier than the previous row's"],
    ),
    (
        "duplicate",
        YAHOO + "2024-01-04,100,101,99,100,100,10\n",
        DataQualityError,
        ["duplicate.csv line 5 (row 4): duplicate timestamp 2024-01-04 (same as row 3)"],
    ),
    (
        "negative_price",
        YAHOO + "2024-01-05,-100,101,-101,100,100,10\n",
        DataQualityError,
        ["negative_price.csv line 5 (row 4): open -100.0 is not positive"],
    ),
    (
        "bad_date",
        YAHOO + "2024-13-45,100,101,99,100,100,10\n",
        DataError,
        ["bad_date.csv line 5 (row 4): cannot read the date '2024-13-45'", "date_format"],
    ),
    (
        "non_numeric",
        YAHOO + "2024-01-05,100,101,99,abc,100,10\n",
        DataError,
        ["non_numeric.csv line 5 (row 4): close is not a number: 'abc'"],
    ),
    (
        "ragged",
        YAHOO + "2024-01-05,100,101,99,100,100,10,7,8\n",
        DataError,
        ["ragged.csv is not valid CSV", "line 5"],
    ),
]


@pytest.mark.parametrize(
    ("name", "text", "error", "fragments"), BAD_FILES, ids=[b[0] for b in BAD_FILES]
)
def test_bad_file_is_refused_with_a_clear_error_and_writes_nothing(
    tmp_path, store, name, text, error, fragments
):
    path = write(tmp_path / f"{name}.csv", text)
    with pytest.raises(error) as info:
        import_bars(path, symbol="SPY", store=store, bar_size="1d")
    for fragment in fragments:
        assert fragment in str(info.value)
    assert_nothing_written(store)


def test_refused_import_leaves_previously_stored_bars_untouched(tmp_path, store):
    import_bars(write(tmp_path / "good.csv", YAHOO), symbol="SPY", store=store)
    before = {p: p.read_bytes() for p in stored_files(store.root)}
    bad = write(tmp_path / "bad.csv", YAHOO + "2024-01-03,100,101,99,100,100,10\n")
    with pytest.raises(DataQualityError):
        import_bars(bad, symbol="SPY", store=store)
    assert {p: p.read_bytes() for p in stored_files(store.root)} == before


def test_import_with_repair_lists_each_change_and_writes_the_repaired_bars(tmp_path, store):
    text = (
        YAHOO
        + "2024-01-03,100,101,99,100,100,10\n"  # line 5: duplicate and unsorted
        + "2024-01-08,100,99.5,99,100.5,100,10\n"  # line 6: high below close
        + "2024-01-09,100,101,99,,100,10\n"  # line 7: NaN
    )
    path = write(tmp_path / "fixme.csv", text)
    report = import_bars(path, symbol="SPY", store=store, repair=True)
    actions = [(c.action, c.line) for c in report.changes]
    assert actions == [
        ("drop_nan", 7),
        ("sort", 5),
        ("drop_duplicate", 3),
        ("widen_high", 6),
    ]
    assert "fixme.csv line 6 (row 5): high 99.5 raised to 100.5" in report.changes[-1].detail
    assert not report.quality.ok and report.stored_quality.ok
    bars = store.read("SPY")
    assert len(bars) == report.rows == 4
    assert bars.loc["2024-01-03", "close"].item() == 100.0  # the later duplicate won
    assert report.entry.quality_score == report.stored_quality.score
    assert "4 repair(s)" in report.summary()


def test_blank_lines_keep_line_numbers_physical(tmp_path, store):
    text = YAHOO.replace("2024-01-03", "\n2024-01-03") + "2024-01-05,100,99,98,101,100,10\n"
    path = write(tmp_path / "blank.csv", text)
    with pytest.raises(DataQualityError, match=r"blank.csv line 6 \(row 4\): high 99.0"):
        import_bars(path, symbol="SPY", store=store)


def test_unknown_file_type_is_refused(tmp_path, store):
    path = write(tmp_path / "prices.xlsx", "x")
    with pytest.raises(DataError, match="unknown file type '.xlsx'"):
        import_bars(path, symbol="SPY", store=store)
    assert_nothing_written(store)


def test_unknown_time_zone_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="unknown time zone 'Mars/Olympus'"):
        read_csv_bars(write(tmp_path / "z.csv", IB_DAILY), tz="Mars/Olympus")


def test_time_that_does_not_exist_in_tz_is_a_data_error_naming_the_line(tmp_path):
    text = "timestamp,open,high,low,close,volume\n2024-03-10 02:30:00,1,2,0.5,1.5,10\n"
    with pytest.raises(DataError, match=r"line 2 \(row 1\): the time .* daylight-saving"):
        read_csv_bars(write(tmp_path / "dst.csv", text), tz="America/New_York")


def test_single_row_without_bar_size_asks_for_it(tmp_path, store):
    path = write(tmp_path / "one.csv", YAHOO.splitlines()[0] + "\n" + YAHOO.splitlines()[1])
    with pytest.raises(DataError, match="pass bar_size="):
        import_bars(path, symbol="SPY", store=store)
    assert import_bars(path, symbol="SPY", store=store, bar_size="1d").rows == 1


def test_daily_file_with_all_times_at_local_midnight_keeps_session_dates(tmp_path):
    text = (
        "Date,Open,High,Low,Close,Volume\n"
        "2024-01-02 00:00:00-05:00,1,2,0.5,1.5,10\n"
        "2024-01-03 00:00:00-05:00,1,2,0.5,1.5,10\n"
    )
    bars = read_csv_bars(write(tmp_path / "yf.csv", text))
    assert list(bars.index) == [utc("2024-01-02"), utc("2024-01-03")]


def test_parquet_with_zoned_midnight_index_keeps_session_dates(tmp_path):
    bars = generate_bars("P", start="2024-01-01", end="2024-01-10", seed=5)
    zoned = bars.tz_convert(None).tz_localize("Asia/Tokyo")
    zoned.to_parquet(tmp_path / "tokyo.parquet")
    assert read_parquet_bars(tmp_path / "tokyo.parquet").index.equals(bars.index)


def test_epoch_seconds_and_gzip_files_are_read(tmp_path):
    import gzip

    text = "date,open,high,low,close,volume\n1704205800,1,2,0.5,1.5,10\n"
    path = tmp_path / "epoch.csv.gz"
    path.write_bytes(gzip.compress(text.encode()))
    assert read_csv_bars(path).index[0] == utc("2024-01-02 14:30")


def test_empty_store_catalog_is_empty_and_creates_nothing(tmp_path):
    store = ParquetStore(tmp_path / "fresh")
    assert store.catalog() == []
    assert not store.root.exists()
