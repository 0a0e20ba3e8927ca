"""The IB historical download against the wire-level fake TWS (real ib_async, real store).

Each test points ``TRADELAB_HOME`` at its own folder, so the Parquet store is private. Pacing
windows, timeouts and backoffs are shrunk so the whole file runs in a few seconds.
"""

from __future__ import annotations

import gc
import hashlib
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests.fake_tws import FakeTWS, HistoricalQuery
from tests.fake_tws._history import duration_start, select_bars
from tradelab.brokers.ib_config import IBConfig
from tradelab.brokers.ib_history import (
    IBDownloadConfig,
    IBDownloadProgress,
    IBDownloadResult,
    IBDownloadStatus,
    download_ib_history,
    resume_path,
)
from tradelab.data import ParquetStore, check_quality, to_canonical
from tradelab.errors import BrokerError

pytestmark = pytest.mark.integration

HISTORICAL_DATA = 20  # reqHistoricalData message id


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private $TRADELAB_HOME for each test."""
    root = tmp_path / "home"
    monkeypatch.setenv("TRADELAB_HOME", str(root))
    return root


def daily_bars(seed: int, start: str = "2020-01-01", end: str = "2022-12-30") -> pd.DataFrame:
    """Business-day bars at midnight UTC with consistent OHLC."""
    index = pd.bdate_range(start, end, tz="UTC", name="timestamp")
    rng = np.random.default_rng(seed)
    close = 100.0 + np.cumsum(rng.normal(0.0, 1.0, len(index)))
    return to_canonical(
        pd.DataFrame(
            {
                "open": close - 0.25,
                "high": close + 1.0,
                "low": close - 1.0,
                "close": close,
                "volume": 1_000.0 + np.arange(len(index)),
            },
            index=index,
        )
    )


def recording_provider(
    frames: dict[str, pd.DataFrame],
    queries: list[HistoricalQuery],
    before: Callable[[HistoricalQuery], bool] | None = None,
) -> Callable[[HistoricalQuery], pd.DataFrame]:
    """A provider that records each query and answers like the fake's mapping mode; when
    ``before(query)`` returns True the query gets no bars."""

    def provide(query: HistoricalQuery) -> pd.DataFrame:
        queries.append(query)
        if before is not None and before(query):
            return pd.DataFrame()
        frame = frames.get(query.symbol)
        return pd.DataFrame() if frame is None else select_bars(frame, query)

    return provide


def fast_config(fake: FakeTWS, **overrides: Any) -> IBConfig:
    settings: dict[str, Any] = {
        "port": fake.port,
        "connect_timeout": 5.0,
        "backoff_initial": 0.05,
        "backoff_max": 0.2,
        "max_attempts": 2,
        "request_timeout": 5.0,
    }
    return IBConfig(**(settings | overrides))


def download(
    symbols: Iterable[str],
    config: IBConfig,
    *,
    start: str = "2020-01-01",
    end: str = "2022-12-31",
    settings: IBDownloadConfig | None = None,
    progress: Callable[[IBDownloadProgress], None] | None = None,
) -> list[IBDownloadResult]:
    """Run the sync entry point, then collect garbage (see tests/brokers/test_fake_tws.py run():
    ib_async futures finalised during pytest's report crash CPython 3.11.7)."""
    try:
        return download_ib_history(
            symbols,
            start=start,
            end=end,
            config=config,
            download=settings,
            store=ParquetStore(),
            progress=progress,
        )
    finally:
        gc.collect()


def window_start(query: HistoricalQuery) -> pd.Timestamp:
    """The exclusive lower bound of a request's window, as the fake computes it."""
    return pd.Timestamp(duration_start(query.end, query.duration))


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- full download ---------------------------------------------------------------------------


def test_full_download_of_two_symbols_stores_the_fakes_bars_and_catalogs_them(
    fake_tws_factory: Callable[..., FakeTWS], home: Path
) -> None:
    frames = {"AAA": daily_bars(1), "BBB": daily_bars(2)}
    fake = fake_tws_factory(historical_bars=frames)
    reports: list[IBDownloadProgress] = []

    results = download(["AAA", "BBB"], fast_config(fake), progress=reports.append)

    assert [(r.symbol, r.status, r.bars_added, r.requests) for r in results] == [
        ("AAA", IBDownloadStatus.DOWNLOADED, 783, 3),
        ("BBB", IBDownloadStatus.DOWNLOADED, 783, 3),
    ]
    store = ParquetStore()
    for symbol, expected in frames.items():
        stored = store.read(symbol, bar_size="1d")
        pd.testing.assert_frame_equal(stored, expected)
        assert str(stored.index.tz) == "UTC" and stored.index.dtype == "datetime64[ns, UTC]"
        entry = store.entry(symbol, bar_size="1d")
        assert (entry.source, entry.rows, entry.quality_score) == ("ib", 783, 1.0)
        assert (entry.first, entry.last) == (expected.index[0], expected.index[-1])
    assert [e.symbol for e in store.catalog()] == ["AAA", "BBB"]
    # one "1 Y" chunk per calendar year, walking forwards; nothing left in downloads/
    ends = [m.fields for m in fake.messages(HISTORICAL_DATA)]
    assert [f for f in ends[0] if f.endswith("UTC")] == ["20201231 23:59:59 UTC"]
    assert [f for f in ends[2] if f.endswith("UTC")] == ["20221231 23:59:59 UTC"]
    assert [(p.symbol, p.chunk, p.chunks) for p in reports if not p.note] == [
        ("AAA", 1, 3),
        ("AAA", 2, 3),
        ("AAA", 3, 3),
        ("BBB", 1, 3),
        ("BBB", 2, 3),
        ("BBB", 3, 3),
    ]
    assert reports[-1].bars == 783 and reports[-1].eta == 0
    assert not any((home / "downloads").glob("*.parquet"))


def test_five_minute_bars_are_requested_in_one_week_chunks_and_stored_in_utc(
    fake_tws_factory: Callable[..., FakeTWS],
) -> None:
    days = pd.bdate_range("2024-01-02", "2024-01-19", tz="UTC")
    index = pd.DatetimeIndex(
        [day + pd.Timedelta(minutes=870 + 5 * k) for day in days for k in range(78)],
        name="timestamp",
    )
    close = 50.0 + np.sin(np.arange(len(index)) / 10.0)
    frame = to_canonical(
        pd.DataFrame(
            {
                "open": close,
                "high": close + 0.1,
                "low": close - 0.1,
                "close": close,
                "volume": 10.0,
            },
            index=index,
        )
    )
    queries: list[HistoricalQuery] = []
    fake = fake_tws_factory(historical_bars=recording_provider({"AAA": frame}, queries))

    (result,) = download(
        ["AAA"],
        fast_config(fake),
        start="2024-01-02",
        end="2024-01-19",
        settings=IBDownloadConfig(bar_size="5m"),
    )

    assert result.status == IBDownloadStatus.DOWNLOADED
    assert [(q.bar_size, q.duration) for q in queries] == [
        ("5 mins", "1 W"),
        ("5 mins", "1 W"),
        ("5 mins", "4 D"),
    ]
    pd.testing.assert_frame_equal(ParquetStore().read("AAA", bar_size="5m"), frame)


# --- incremental -----------------------------------------------------------------------------


def test_incremental_run_requests_only_from_the_last_stored_bar_and_appends_new_bars(
    fake_tws_factory: Callable[..., FakeTWS],
) -> None:
    full = daily_bars(3)
    frames = {"AAA": full.copy()}
    queries: list[HistoricalQuery] = []
    fake = fake_tws_factory(historical_bars=recording_provider(frames, queries))
    config = fast_config(fake)
    download(["AAA"], config, end="2021-06-30")
    store = ParquetStore()
    last = store.entry("AAA", bar_size="1d").last
    assert last == pd.Timestamp("2021-06-30", tz="UTC")
    frames["AAA"].loc[last, "volume"] = 12_345.0  # IB corrected the last stored bar
    queries.clear()

    (result,) = download(["AAA"], config, end="2022-12-31")

    assert result.status == IBDownloadStatus.DOWNLOADED
    assert result.bars_added == int((full.index > last).sum()) == 392
    assert queries, "the incremental run sent no request"
    # windows are (end - duration, end]: the first starts 1 s before the last stored bar
    assert window_start(queries[0]) == last - timedelta(seconds=1)
    assert all(window_start(q) >= last - timedelta(seconds=1) and q.end > last for q in queries)
    assert [q.duration for q in queries] == ["1 Y", "185 D"]
    stored = store.read("AAA", bar_size="1d")
    expected = full.copy()
    expected.loc[last, "volume"] = 12_345.0  # new data wins on the overlapping bar
    pd.testing.assert_frame_equal(stored, expected)
    entry = store.entry("AAA", bar_size="1d")
    assert (entry.rows, entry.last) == (783, full.index[-1])

    queries.clear()
    (again,) = download(["AAA"], config, end="2022-12-30")
    assert again.status == IBDownloadStatus.UP_TO_DATE and again.bars_added == 0
    assert queries == []


# --- resume ----------------------------------------------------------------------------------


def test_interrupted_download_leaves_the_store_unchanged_and_a_rerun_resumes_after_it(
    fake_tws_factory: Callable[..., FakeTWS], home: Path
) -> None:
    full = daily_bars(4, start="2019-01-01")
    queries: list[HistoricalQuery] = []
    state: dict[str, Any] = {"fake": None, "drop_at": 3}

    def interrupt(query: HistoricalQuery) -> bool:
        """On the third query: drop the client and stop answering (a stalled gateway)."""
        if len(queries) == state["drop_at"]:
            state["fake"].drop_connections()
            state["fake"].ignore_requests(HISTORICAL_DATA)
            return True
        return False

    fake = fake_tws_factory(historical_bars=recording_provider({"AAA": full}, queries, interrupt))
    state["fake"] = fake
    store = ParquetStore()
    store.write("AAA", full.loc[:"2019-12-31"], bar_size="1d", source="ib", quality_score=1.0)
    bars_file = store.path("AAA", bar_size="1d")
    before = (digest(bars_file), store.catalog_path.read_text())
    config = fast_config(fake, request_timeout=0.5)
    settings = IBDownloadConfig(identical_interval=0.3, max_attempts=2)

    (failed,) = download(["AAA"], config, start="2019-01-01", settings=settings)

    assert failed.status == IBDownloadStatus.FAILED
    assert "no answer within 0.5 s" in failed.message and "2 attempts" in failed.message
    partial = resume_path(store, "AAA", "1d")
    assert failed.resume_file == partial and partial.is_file()
    assert (digest(bars_file), store.catalog_path.read_text()) == before
    assert not list(bars_file.parent.glob(".*.tmp"))
    finished = queries[:2]  # answered before the interruption
    kept = pd.read_parquet(partial).set_index("timestamp")
    covered = full.loc["2019-12-31" : finished[-1].end.strftime("%Y-%m-%d")]
    pd.testing.assert_frame_equal(to_canonical(kept), covered)
    # the retry of the same chunk waited out the identical-request interval
    times = fake.request_times(HISTORICAL_DATA)
    assert len(times) == 4 and times[3] - times[2] >= 0.3

    state["drop_at"] = None
    fake.ignore_requests()
    answered = len(queries)
    (resumed,) = download(["AAA"], config, start="2019-01-01", settings=settings)

    assert resumed.status == IBDownloadStatus.DOWNLOADED and resumed.resumed_chunks == 2
    rerun = queries[answered:]
    assert rerun and all(q.end > finished[-1].end for q in rerun)
    assert not {(q.end, q.duration) for q in rerun} & {(q.end, q.duration) for q in finished}
    pd.testing.assert_frame_equal(store.read("AAA", bar_size="1d"), full)
    assert resumed.bars_added == len(full) - len(full.loc[:"2019-12-31"])
    assert not partial.exists()


# --- errors ----------------------------------------------------------------------------------


def test_unknown_symbol_fails_with_a_clear_message_and_the_other_symbol_still_lands(
    fake_tws_factory: Callable[..., FakeTWS], home: Path
) -> None:
    fake = fake_tws_factory(historical_bars={"AAA": daily_bars(5)})

    unknown, known = download(["ZZZ", "AAA"], fast_config(fake))

    assert unknown.status == IBDownloadStatus.UNKNOWN_SYMBOL and not unknown.ok
    assert "unknown symbol 'ZZZ'" in unknown.message and "error 200" in unknown.message
    assert unknown.requests == 0 and unknown.resume_file is None
    assert known.status == IBDownloadStatus.DOWNLOADED and known.bars_added == 783
    assert [e.symbol for e in ParquetStore().catalog()] == ["AAA"]
    assert not (home / "downloads" / "ZZZ-1d.partial.parquet").exists()


def test_refused_connection_raises_broker_error_naming_host_port_and_what_to_check(
    fake_tws_factory: Callable[..., FakeTWS],
) -> None:
    fake = fake_tws_factory()
    fake.refuse_connections()

    with pytest.raises(BrokerError) as caught:
        download(["AAA"], fast_config(fake, max_attempts=1))

    message = str(caught.value)
    assert f"127.0.0.1:{fake.port}" in message and "connection refused" in message
    assert "IB Gateway 4002 paper / 4001 live" in message and "API is enabled" in message


def test_quality_score_is_stored_and_bars_failing_the_checks_are_refused_but_kept(
    fake_tws_factory: Callable[..., FakeTWS],
) -> None:
    gappy = daily_bars(12).drop(pd.bdate_range("2021-03-01", "2021-03-12", tz="UTC"))
    broken = daily_bars(13)
    broken.loc["2021-02-24", "high"] = 1.0  # below open, close and low
    fake = fake_tws_factory(historical_bars={"AAA": gappy, "BBB": broken})

    stored, refused = download(["AAA", "BBB"], fast_config(fake))

    store = ParquetStore()
    assert stored.status == IBDownloadStatus.DOWNLOADED
    score = check_quality(store.read("AAA", bar_size="1d"), bar_size="1d").score
    assert stored.quality_score == store.entry("AAA", bar_size="1d").quality_score == score < 1
    assert refused.status == IBDownloadStatus.FAILED
    assert "fail the quality checks" in refused.message and "2021-02-24" in refused.message
    assert not store.exists("BBB", bar_size="1d")
    assert refused.resume_file is not None and refused.resume_file.is_file()


# --- pacing ----------------------------------------------------------------------------------


def test_pacing_keeps_at_most_three_requests_in_any_two_second_window_at_the_server(
    fake_tws_factory: Callable[..., FakeTWS],
) -> None:
    fake = fake_tws_factory(historical_bars={"AAA": daily_bars(6), "BBB": daily_bars(7)})
    config = fast_config(fake, historical_requests=3, historical_window=2.0)
    notes: list[str] = []

    results = download(["AAA", "BBB"], config, progress=lambda p: notes.append(p.note))

    assert all(r.status == IBDownloadStatus.DOWNLOADED for r in results)
    times = fake.request_times(HISTORICAL_DATA)
    assert len(times) == 6
    assert times[2] - times[0] < 2.0  # the first three went out at once: the limit did bind
    for first, fourth in zip(times, times[3:], strict=False):
        assert fourth - first > 2.0, f"4 requests within {fourth - first:.3f} s"
    assert any(note.startswith("waiting") and "IB pacing" in note for note in notes)


# --- command line ----------------------------------------------------------------------------


def test_cli_download_prints_the_table_and_returns_zero(
    fake_tws_factory: Callable[..., FakeTWS], capsys: pytest.CaptureFixture[str]
) -> None:
    from tradelab.cli.main import main

    fake = fake_tws_factory(historical_bars={"AAA": daily_bars(8), "BBB": daily_bars(9)})
    argv = [
        "data",
        "download",
        "--source",
        "ib",
        "--symbols",
        "AAA",
        "BBB",
        "--start",
        "2020-01-01",
        "--end",
        "2022-12-31",
        "--bar-size",
        "1d",
        "--port",
        str(fake.port),
    ]
    try:
        code = main(argv)
    finally:
        gc.collect()

    out, err = capsys.readouterr()
    assert code == 0, err
    lines = out.splitlines()
    header = next(line for line in lines if line.startswith("symbol"))
    assert header.split() == ["symbol", "bars", "added", "first", "last", "source", "status"]
    rows = [line.split() for line in lines if line.startswith(("AAA", "BBB"))]
    assert rows == [
        ["AAA", "783", "2020-01-01", "2022-12-30", "ib", "downloaded"],
        ["BBB", "783", "2020-01-01", "2022-12-30", "ib", "downloaded"],
    ]
    assert "AAA      chunk 3/3  783 bars" in err and "ETA" in err
    assert "Error" not in err  # ib_async's own log lines stay off the terminal


def test_cli_download_with_an_unknown_symbol_returns_one_and_names_it(
    fake_tws_factory: Callable[..., FakeTWS], capsys: pytest.CaptureFixture[str]
) -> None:
    from tradelab.cli.main import main

    fake = fake_tws_factory(historical_bars={"AAA": daily_bars(10)})
    argv = [
        "data",
        "download",
        "--symbols",
        "AAA",
        "NOPE",
        "--start",
        "2022-01-01",
        "--end",
        "2022-12-31",
        "--port",
        str(fake.port),
    ]
    try:
        code = main(argv)
    finally:
        gc.collect()

    out, err = capsys.readouterr()
    assert code == 1
    assert ["NOPE", "0", "-", "-", "-", "unknown", "symbol"] in [
        line.split() for line in out.splitlines()
    ]
    assert "NOPE: unknown symbol 'NOPE'" in err
    assert ParquetStore().entry("AAA", bar_size="1d").rows == len(daily_bars(10).loc["2022"])


def test_download_ends_are_sent_as_utc_times(fake_tws_factory: Callable[..., FakeTWS]) -> None:
    queries: list[HistoricalQuery] = []
    fake = fake_tws_factory(historical_bars=recording_provider({"AAA": daily_bars(11)}, queries))
    download(["AAA"], fast_config(fake), start="2022-03-01", end="2022-03-31")
    assert [(q.end, q.duration) for q in queries] == [
        (datetime(2022, 3, 31, 23, 59, 59, tzinfo=UTC), "31 D")
    ]
