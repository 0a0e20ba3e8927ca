"""The Parquet store: round trips, atomic writes, the catalog and its rebuild, lookups."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tradelab.data import (
    CatalogEntry,
    ParquetStore,
    bars_to_arrays,
    generate_bars,
    generate_universe,
)
from tradelab.errors import ConfigError, DataError, DataNotFoundError

from .helpers import clean_daily, stored_files


@pytest.fixture
def store(tmp_path: Path) -> ParquetStore:
    return ParquetStore(tmp_path / "store")


@pytest.fixture
def daily() -> pd.DataFrame:
    return generate_bars("AAPL", start="2023-01-01", end="2024-12-31", seed=4)


def test_write_then_read_returns_exactly_the_same_bars(store, daily):
    store.write("AAPL", daily, source="synthetic", quality_score=1.0)
    back = store.read("AAPL")
    pd.testing.assert_frame_equal(back, daily, check_exact=True)
    assert str(back.index.dtype) == "datetime64[ns, UTC]"


def test_intraday_round_trip_keeps_nanosecond_utc_stamps(store):
    bars = generate_bars("SPY", start="2024-03-08", end="2024-03-12", bar_size="5m", seed=2)
    store.write("SPY", bars, bar_size="5m", source="synthetic")
    pd.testing.assert_frame_equal(store.read("SPY", bar_size="5m"), bars, check_exact=True)


def test_write_uses_the_documented_layout_and_upper_cases_symbols(store, daily):
    entry = store.write("brk.b", daily, source="synthetic")
    assert entry.symbol == "BRK.B"
    assert (store.root / "bars" / "1d" / "BRK.B.parquet").is_file()
    assert store.exists("Brk.B") and not store.exists("BRK.B", bar_size="5m")


@pytest.mark.parametrize("symbol", ["AA/PL", "../etc", "", ".hidden", "A B", "X" * 40])
def test_invalid_symbol_is_refused_with_config_error(store, daily, symbol):
    with pytest.raises(ConfigError, match="invalid symbol"):
        store.write(symbol, daily, source="synthetic")
    assert stored_files(store.root) == []


def test_unknown_source_is_refused_with_suggestion(store, daily):
    with pytest.raises(ConfigError, match="Did you mean 'synthetic'"):
        store.write("AAPL", daily, source="synthetc")


def test_catalog_entry_describes_the_written_bars(store, daily):
    entry = store.write("AAPL", daily, source="synthetic", quality_score=0.97)
    assert entry == store.entry("aapl", bar_size="1d")
    assert (entry.first, entry.last, entry.rows) == (daily.index[0], daily.index[-1], len(daily))
    assert (entry.source, entry.quality_score, entry.bar_size) == ("synthetic", 0.97, "1d")
    assert CatalogEntry.from_dict(json.loads(json.dumps(entry.to_dict()))) == entry


def test_catalog_is_sorted_by_symbol_then_bar_size(store):
    universe = generate_universe(["MSFT", "AAPL"], start="2024-01-01", end="2024-02-29", seed=1)
    for symbol, bars in universe.items():
        store.write(symbol, bars, source="synthetic")
    hourly = generate_bars("AAPL", start="2024-01-02", end="2024-01-03", bar_size="1h", seed=1)
    store.write("AAPL", hourly, bar_size="1h", source="synthetic")
    assert [(e.symbol, e.bar_size) for e in store.catalog()] == [
        ("AAPL", "1d"),
        ("AAPL", "1h"),
        ("MSFT", "1d"),
    ]


def test_read_filters_inclusively_and_a_date_end_covers_the_whole_day(store):
    bars = generate_bars("SPY", start="2024-01-02", end="2024-01-05", bar_size="1h", seed=3)
    store.write("SPY", bars, bar_size="1h", source="synthetic")
    day = store.read("SPY", bar_size="1h", start="2024-01-03", end="2024-01-03")
    assert len(day) == 7 and (day.index.normalize() == pd.Timestamp("2024-01-03", tz="UTC")).all()
    exact = store.read(
        "SPY", bar_size="1h", start="2024-01-03 14:30", end=pd.Timestamp("2024-01-03 16:30")
    )
    assert list(exact.index.strftime("%H:%M")) == ["14:30", "15:30", "16:30"]


def test_read_arrays_equals_bars_to_arrays_of_read(store, daily):
    store.write("AAPL", daily, source="synthetic")
    arrays = store.read_arrays("AAPL", start="2024-01-01")
    expected = bars_to_arrays(store.read("AAPL", start="2024-01-01"))
    assert arrays.keys() == expected.keys()
    for key, values in expected.items():
        np.testing.assert_array_equal(arrays[key], values)
        assert arrays[key].dtype == values.dtype and arrays[key].flags.c_contiguous


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda b: b.drop(columns="volume"), "missing columns ['volume']"),
        (lambda b: b.assign(close=np.nan), "NaN in columns ['close']"),
        (lambda b: b.iloc[::-1], "not sorted"),
        (lambda b: b.iloc[:0], "refusing to store 0 bars"),
    ],
)
def test_failed_write_leaves_previous_file_and_catalog_intact(store, daily, mutate, fragment):
    store.write("AAPL", daily, source="synthetic", quality_score=1.0)
    path = store.path("AAPL")
    before_file, before_catalog = path.read_bytes(), store.catalog_path.read_bytes()
    with pytest.raises(DataError) as info:
        store.write("AAPL", mutate(daily), source="csv", quality_score=0.5)
    assert fragment in str(info.value)
    assert path.read_bytes() == before_file
    assert store.catalog_path.read_bytes() == before_catalog
    assert [p.name for p in stored_files(store.root)] == ["AAPL.parquet", "catalog.json"]


def test_write_replaces_previous_bars_and_entry(store, daily):
    store.write("AAPL", daily, source="synthetic")
    shorter = daily.iloc[:10]
    store.write("AAPL", shorter, source="csv", quality_score=0.9)
    pd.testing.assert_frame_equal(store.read("AAPL"), shorter)
    entry = store.entry("AAPL", bar_size="1d")
    assert (entry.rows, entry.source, entry.quality_score) == (10, "csv", 0.9)


def test_catalog_is_rebuilt_from_parquet_files_after_catalog_json_is_deleted(store, daily):
    store.write("AAPL", daily, source="synthetic", quality_score=0.99)
    store.write("MSFT", clean_daily(5), source="csv", quality_score=0.75)
    before = store.catalog()
    store.catalog_path.unlink()
    assert store.catalog() == before
    assert store.catalog_path.is_file()


def test_corrupt_catalog_json_is_rebuilt(store, daily):
    store.write("AAPL", daily, source="ib", quality_score=0.8)
    before = store.catalog()
    store.catalog_path.write_text("{ not json", encoding="utf-8")
    assert store.catalog() == before
    json.loads(store.catalog_path.read_text(encoding="utf-8"))


def test_rebuild_describes_a_parquet_file_without_tradelab_metadata(store):
    path = store.root / "bars" / "1d" / "XYZ.parquet"
    path.parent.mkdir(parents=True)
    bars = clean_daily(3)
    table = pa.table(
        {
            "timestamp": pa.array(bars.index.asi8, type=pa.timestamp("ns", tz="UTC")),
            **{c: bars[c].to_numpy() for c in bars.columns},
        }
    )
    pq.write_table(table, path)
    [entry] = store.catalog()
    assert (entry.symbol, entry.rows, entry.source, entry.quality_score) == (
        "XYZ",
        3,
        "parquet",
        None,
    )
    assert entry.first == bars.index[0] and entry.last == bars.index[-1]
    pd.testing.assert_frame_equal(store.read("XYZ"), bars)


def test_reading_a_missing_symbol_lists_what_is_stored_with_did_you_mean(store, daily):
    store.write("AAPL", daily, source="synthetic")
    store.write("MSFT", daily, source="synthetic")
    with pytest.raises(DataNotFoundError) as info:
        store.read("APPL")
    message = str(info.value)
    assert "no 1d bars stored for APPL" in message
    assert "Did you mean 'AAPL'?" in message
    assert "Stored at 1d: AAPL, MSFT." in message


def test_reading_a_missing_bar_size_says_which_sizes_exist(store, daily):
    store.write("AAPL", daily, source="synthetic")
    with pytest.raises(DataNotFoundError, match="AAPL is stored at bar size 1d"):
        store.read("AAPL", bar_size="5m")


def test_reading_an_empty_store_raises_data_not_found(tmp_path):
    with pytest.raises(DataNotFoundError, match=r"Stored at 1d: \(none\)"):
        ParquetStore(tmp_path / "nowhere").read("AAPL")


def test_a_date_range_without_bars_raises_data_not_found_with_the_stored_range(store, daily):
    store.write("AAPL", daily, source="synthetic")
    with pytest.raises(DataNotFoundError) as info:
        store.read("AAPL", start="2030-01-01", end="2030-12-31")
    message = str(info.value)
    assert "no AAPL 1d bars between 2030-01-01 and 2030-12-31" in message
    assert f"{len(daily)} bars from {daily.index[0]} to {daily.index[-1]}" in message


def test_start_after_end_is_a_config_error(store, daily):
    store.write("AAPL", daily, source="synthetic")
    with pytest.raises(ConfigError, match="is after end"):
        store.read("AAPL", start="2024-02-01", end="2024-01-01")


def test_delete_removes_the_file_and_its_catalog_entry(store, daily):
    store.write("AAPL", daily, source="synthetic")
    store.write("MSFT", daily, source="synthetic")
    store.delete("aapl", bar_size="1d")
    assert not store.exists("AAPL")
    assert [e.symbol for e in store.catalog()] == ["MSFT"]
    with pytest.raises(DataNotFoundError):
        store.delete("AAPL", bar_size="1d")
    with pytest.raises(DataNotFoundError, match="Did you mean 'MSFT'"):
        store.entry("MSFX", bar_size="1d")


def test_default_root_is_the_tradelab_home(tmp_path, monkeypatch, daily):
    monkeypatch.setenv("TRADELAB_HOME", str(tmp_path / "home"))
    ParquetStore().write("AAPL", daily, source="synthetic")
    assert (tmp_path / "home" / "bars" / "1d" / "AAPL.parquet").is_file()


def test_concurrent_writers_in_threads_all_reach_the_catalog(store):
    bars = clean_daily(5)
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            store.write(f"T{i}", bars, source="synthetic")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(e.symbol for e in store.catalog()) == sorted(f"T{i}" for i in range(12))


def test_concurrent_writers_in_processes_all_reach_the_catalog(store):
    script = (
        "import sys\n"
        "from tradelab.data import ParquetStore, generate_bars\n"
        "store = ParquetStore(sys.argv[1])\n"
        "bars = generate_bars('P', start='2024-01-01', end='2024-01-31', seed=1)\n"
        "for i in range(8):\n"
        "    store.write(f'{sys.argv[2]}{i}', bars, source='synthetic')\n"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(store.root), prefix])
        for prefix in ("A", "B")
    ]
    assert [p.wait(timeout=60) for p in procs] == [0, 0]
    expected = sorted(f"{p}{i}" for p in "AB" for i in range(8))
    assert sorted(e.symbol for e in store.catalog()) == expected
