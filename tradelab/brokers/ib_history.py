"""Download historical bars from Interactive Brokers into the Parquet store.

:func:`download_ib_history` (sync) and :func:`download_ib_history_async` fetch bars for several
symbols through IB Gateway / TWS with ib_async's async API, one symbol after another, and store
each symbol with a single atomic :meth:`~tradelab.data.ParquetStore.write`.

**Chunks.** IB limits how much history one request may cover, by bar size (1 day bars: ``1 Y``;
1 hour / 30 mins: ``1 M``; 5 / 15 mins: ``1 W``; 1 min: ``1 D``). The range is cut into chunks
walking *forwards* from the start: a request with ``endDateTime=E`` and ``durationStr=D`` returns
the bars in ``(E - D, E]``, so the first chunk ends at ``start - 1 s + D``, the next one ``D``
later, and the last one, shorter, at the end of the range (its duration in days). Bars outside
``[start, end]`` are dropped and overlapping bars de-duplicated. ``ADJUSTED_LAST`` cannot take an
end date at IB, so it is one request ending now (daily and weekly bars only).

**Pacing.** Before each request a pacer waits until (a) fewer than ``IBConfig.historical_requests``
requests were sent in the last ``IBConfig.historical_window`` seconds (plus a safety margin of
10 % of the window, at most 1 s), (b) fewer than ``contract_requests`` for the same contract in
``contract_window`` seconds (IB: six or more within two seconds is a violation), and (c) no
identical request was sent within ``identical_interval`` seconds (IB: 15 s). The pacer only knows
this process's requests; a pacing violation (error 162) caused by another client is retried.

**Incremental.** When the store already holds the symbol at this bar size (from source ``ib``),
only bars from its last stored bar on are requested (the last bar is fetched again, as it may have
been incomplete) and merged: new bars win where timestamps overlap. ``full=True`` downloads the
whole range and *replaces* the stored bars (bars outside the range are dropped).

**Resume.** After each chunk the bars so far are written atomically to
``<store root>/downloads/<SYMBOL>-<bar>.partial.parquet`` with the window covered. The store is
written only when the symbol is complete, then that file is removed; so a killed or failed
download leaves the store as it was and the file behind, and a re-run with the same settings
continues after the last finished chunk.

**Errors.** Error 200 (no security definition) fails that symbol as an unknown symbol; the
others still download. Error 162 "no data" is an empty chunk; a 162 pacing violation, a timeout
(``IBConfig.request_timeout``) or a lost connection is retried with ``IBConfig.backoff`` up to
``max_attempts`` times, then that symbol fails with the reason. A gateway that cannot be reached
raises :class:`~tradelab.errors.BrokerError` naming the host, port and what to check.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from ib_async import IB, RequestError, StartupFetchNONE, Stock

from tradelab._files import atomic_write as _atomic_write
from tradelab.brokers.ib_config import IBConfig
from tradelab.data.bars import BAR_COLUMNS, BarSize, parse_bar_size, to_canonical
from tradelab.data.quality import check_quality
from tradelab.data.store import ParquetStore, date_bound, normalize_symbol
from tradelab.errors import BrokerError, ConfigError, UnknownNameError

__all__ = [
    "IB_BAR_SIZES",
    "WHAT_TO_SHOW",
    "IBDownloadConfig",
    "IBDownloadProgress",
    "IBDownloadResult",
    "IBDownloadStatus",
    "download_ib_history",
    "download_ib_history_async",
    "resume_path",
]

IB_BAR_SIZES: dict[str, tuple[str, str]] = {
    "1m": ("1 min", "1 D"),
    "5m": ("5 mins", "1 W"),
    "15m": ("15 mins", "1 W"),
    "30m": ("30 mins", "1 M"),
    "1h": ("1 hour", "1 M"),
    "1d": ("1 day", "1 Y"),
    "1w": ("1 week", "1 Y"),
}
"""tradelab bar size → (IB ``barSizeSetting``, longest duration per request)."""

WHAT_TO_SHOW: tuple[str, ...] = ("TRADES", "ADJUSTED_LAST", "MIDPOINT", "BID", "ASK")
"""The ``whatToShow`` values supported (volume is 0 for MIDPOINT, BID and ASK: IB sends -1)."""

_NO_VOLUME = frozenset({"MIDPOINT", "BID", "ASK"})
_RESUME_KEY = b"tradelab_download"
_RESUME_FORMAT = 1
_SECOND = pd.Timedelta(seconds=1)


class IBDownloadStatus(StrEnum):
    """What happened to one symbol."""

    DOWNLOADED = "downloaded"
    UP_TO_DATE = "up to date"
    UNKNOWN_SYMBOL = "unknown symbol"
    FAILED = "failed"


@dataclass(frozen=True, kw_only=True, slots=True)
class IBDownloadConfig:
    """What to download and how hard to retry (connection and pacing limits are in IBConfig).

    Attributes:
        bar_size: tradelab bar size (``1d``, ``1h``, ``30m``, ``15m``, ``5m``, ``1m``, ``1w``).
        what_to_show: ``TRADES``, ``ADJUSTED_LAST`` (split/dividend adjusted; daily or weekly
            bars), ``MIDPOINT``, ``BID`` or ``ASK``.
        use_rth: Regular trading hours only.
        full: Download the whole range and replace the stored bars (default: only what comes
            after the last stored bar, merged in).
        exchange: IB exchange of the stock contracts.
        currency: Currency of the stock contracts.
        max_attempts: Tries per request (timeouts, lost connection, pacing violation) and per
            reconnection, before that symbol fails.
        contract_requests: Most requests for one contract within ``contract_window`` seconds.
        contract_window: Window of ``contract_requests``, seconds.
        identical_interval: Seconds before an identical request may be sent again (IB: 15).

    Example:
        >>> IBDownloadConfig(bar_size="1h", use_rth=False).what_to_show
        'TRADES'
    """

    bar_size: str = "1d"
    what_to_show: str = "TRADES"
    use_rth: bool = True
    full: bool = False
    exchange: str = "SMART"
    currency: str = "USD"
    max_attempts: int = 3
    contract_requests: int = 5
    contract_window: float = 2.0
    identical_interval: float = 15.0

    def __post_init__(self) -> None:
        size = parse_bar_size(self.bar_size)
        object.__setattr__(self, "bar_size", size.text)
        what = str(self.what_to_show).strip().upper()
        if what not in WHAT_TO_SHOW:
            raise UnknownNameError("whatToShow value", str(self.what_to_show), WHAT_TO_SHOW)
        if what == "ADJUSTED_LAST" and size.is_intraday:
            raise ConfigError(
                f"ADJUSTED_LAST cannot be used with {size.text} bars: IB serves it only ending "
                "now (no end date), so it cannot be split into chunks. Use --bar-size 1d or 1w, "
                "or TRADES."
            )
        object.__setattr__(self, "what_to_show", what)
        for name in ("exchange", "currency"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise ConfigError(f"IBDownloadConfig.{name} must be a non-empty string")
        for name in ("max_attempts", "contract_requests"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"IBDownloadConfig.{name} must be an integer >= 1, got {value!r}")
        for name in ("contract_window", "identical_interval"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ConfigError(f"IBDownloadConfig.{name} must be >= 0, got {value!r}")


@dataclass(frozen=True, kw_only=True, slots=True)
class IBDownloadProgress:
    """A progress report, sent after each chunk and before long waits.

    Attributes:
        symbol: The symbol being downloaded.
        chunk: Chunks finished for this symbol (resumed ones included).
        chunks: Chunks planned for this symbol.
        bars: Bars downloaded so far for this symbol.
        elapsed: Seconds since the download started.
        eta: Estimated seconds left for the whole download (None until a chunk is done).
        note: What is happening besides progress (a pacing wait, a retry, a resume), or "".
    """

    symbol: str
    chunk: int
    chunks: int
    bars: int
    elapsed: float
    eta: float | None
    note: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class IBDownloadResult:
    """What happened to one symbol.

    Attributes:
        symbol: The symbol.
        bar_size: The bar size.
        status: An :class:`IBDownloadStatus`.
        bars_added: Stored timestamps that were not stored before.
        rows: Bars stored now (0 when nothing is stored).
        first: First stored bar (None when nothing is stored).
        last: Last stored bar.
        source: Source of the stored bars (``"ib"``), or None.
        quality_score: Quality score of the stored bars, or None.
        requests: Historical-data requests sent for it in this run.
        resumed_chunks: Chunks taken from a resume file instead of IB.
        message: Why it failed or was unknown, or a note (``"note: ..."``); "" otherwise.
        resume_file: The resume file left behind (after a failure), else None.
    """

    symbol: str
    bar_size: str
    status: IBDownloadStatus
    bars_added: int = 0
    rows: int = 0
    first: pd.Timestamp | None = None
    last: pd.Timestamp | None = None
    source: str | None = None
    quality_score: float | None = None
    requests: int = 0
    resumed_chunks: int = 0
    message: str = ""
    resume_file: Path | None = None

    @property
    def ok(self) -> bool:
        """True when the symbol is downloaded or was up to date."""
        return self.status in (IBDownloadStatus.DOWNLOADED, IBDownloadStatus.UP_TO_DATE)


def resume_path(store: ParquetStore, symbol: str, bar_size: str | BarSize) -> Path:
    """The resume file of a download: ``<root>/downloads/<SYM>-<bar>.partial.parquet``.

    Example:
        >>> resume_path(ParquetStore("/data"), "aaa", "1d").name
        'AAA-1d.partial.parquet'
    """
    size = parse_bar_size(bar_size)
    return store.root / "downloads" / f"{normalize_symbol(symbol)}-{size.text}.partial.parquet"


# --------------------------------------------------------------------------- entry points


def download_ib_history(
    symbols: Iterable[str],
    *,
    start: Any,
    end: Any = None,
    config: IBConfig | None = None,
    download: IBDownloadConfig | None = None,
    store: ParquetStore | None = None,
    progress: Callable[[IBDownloadProgress], None] | None = None,
) -> list[IBDownloadResult]:
    """Download bars from IB into the store (blocking; runs its own event loop).

    Args:
        symbols: Stock symbols (``BRK.B`` is sent to IB as ``BRK B``).
        start: First date or time to download (naive values are UTC).
        end: Last date or time (a date includes its whole day); None or later than now: now.
        config: How to reach IB Gateway / TWS and its pacing limits (default ``IBConfig()``).
        download: What to download (default ``IBDownloadConfig()``: daily TRADES, RTH).
        store: The Parquet store (default: the one under ``$TRADELAB_HOME``).
        progress: Called with an :class:`IBDownloadProgress` after each chunk.

    Returns:
        One result per symbol, in the order given.

    Raises:
        ConfigError: for invalid symbols, dates or settings.
        BrokerError: when IB cannot be reached at all (the message says what to check).
        RuntimeError: when called inside a running event loop (await the async form there).

    Example:
        >>> results = download_ib_history(  # doctest: +SKIP
        ...     ["AAA", "BBB"], start="2020-01-01", end="2024-12-31",
        ...     config=IBConfig(port=4002), download=IBDownloadConfig(bar_size="1d"))
        >>> [r.status for r in results]  # doctest: +SKIP
        ['downloaded', 'downloaded']
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise RuntimeError(
            "download_ib_history() cannot run inside a running event loop (Jupyter, Ray Serve); "
            "use 'await download_ib_history_async(...)' there."
        )
    return asyncio.run(
        download_ib_history_async(
            symbols,
            start=start,
            end=end,
            config=config,
            download=download,
            store=store,
            progress=progress,
        )
    )


async def download_ib_history_async(
    symbols: Iterable[str],
    *,
    start: Any,
    end: Any = None,
    config: IBConfig | None = None,
    download: IBDownloadConfig | None = None,
    store: ParquetStore | None = None,
    progress: Callable[[IBDownloadProgress], None] | None = None,
) -> list[IBDownloadResult]:
    """The async form of :func:`download_ib_history` (same arguments and result)."""
    config = config or IBConfig()
    download = download or IBDownloadConfig()
    store = store or ParquetStore()
    names = list(dict.fromkeys(normalize_symbol(s) for s in _as_list(symbols)))
    if not names:
        raise ConfigError("no symbols given; pass e.g. --symbols AAPL MSFT.")
    first = date_bound(start, is_end=False)
    if first is None:
        raise ConfigError("start is required, e.g. '2020-01-01'.")
    now = pd.Timestamp.now(tz="UTC").floor("s")
    last = date_bound(end, is_end=True)
    last = now if last is None or last > now else last.floor("s")
    if first > last:
        raise ConfigError(f"start {start!r} is after end {end!r} (or after now); swap them.")
    runner = _Downloader(config=config, download=download, store=store, progress=progress)
    return await runner.run(names, first, last, now)


def _as_list(symbols: Iterable[str]) -> list[str]:
    if isinstance(symbols, str):
        return symbols.replace(",", " ").split()
    return list(symbols)


# --------------------------------------------------------------------------- chunks


@dataclass(frozen=True, slots=True)
class _Chunk:
    """One request: bars in ``(end - duration, end]``; ``end`` None means now (ADJUSTED_LAST)."""

    after: pd.Timestamp
    end: pd.Timestamp | None
    duration: str


def _step(duration: str) -> pd.Timedelta | pd.DateOffset:
    count, unit = duration.split()
    n = int(count)
    if unit == "D":
        return pd.Timedelta(days=n)
    if unit == "W":
        return pd.Timedelta(weeks=n)
    return pd.DateOffset(months=n) if unit == "M" else pd.DateOffset(years=n)


def _plan_chunks(after: pd.Timestamp, end: pd.Timestamp, duration: str) -> list[_Chunk]:
    """Chunks covering ``(after, end]``, walking forwards ``duration`` at a time."""
    step = _step(duration)
    chunks: list[_Chunk] = []
    while after < end:
        full_end = after + step
        if full_end >= end:
            days = math.ceil((end - after) / pd.Timedelta(days=1))
            short = end - pd.Timedelta(days=days) > end - step
            chunks.append(_Chunk(after, end, f"{days} D" if short else duration))
            break
        chunks.append(_Chunk(after, full_end, duration))
        after = full_end
    return chunks


def _adjusted_chunk(after: pd.Timestamp, now: pd.Timestamp) -> _Chunk:
    days = math.ceil((now - after) / pd.Timedelta(days=1))
    return _Chunk(after, None, f"{days} D" if days <= 365 else f"{math.ceil(days / 365)} Y")


# --------------------------------------------------------------------------- pacing


class _Pacer:
    """Waits so that requests keep to IB's three historical-data pacing rules."""

    def __init__(self, config: IBConfig, download: IBDownloadConfig) -> None:
        self.limit, self.window = config.historical_requests, config.historical_window
        self.margin = min(0.1 * self.window, 1.0)
        self.contract_limit = download.contract_requests
        self.contract_window = download.contract_window + min(0.1 * download.contract_window, 0.5)
        self.identical_interval = download.identical_interval
        self._sent: deque[float] = deque()
        self._by_contract: dict[str, deque[float]] = {}
        self._identical: dict[tuple[Any, ...], float] = {}

    def _delay(self, contract: str, key: tuple[Any, ...], now: float) -> float:
        while self._sent and now - self._sent[0] >= self.window + self.margin:
            self._sent.popleft()
        delay = 0.0
        if len(self._sent) >= self.limit:
            delay = self._sent[-self.limit] + self.window + self.margin - now
        recent = self._by_contract.setdefault(contract, deque())
        while recent and now - recent[0] >= self.contract_window:
            recent.popleft()
        if len(recent) >= self.contract_limit:
            delay = max(delay, recent[-self.contract_limit] + self.contract_window - now)
        sent = self._identical.get(key)
        if sent is not None:
            delay = max(delay, sent + self.identical_interval - now)
        return delay

    async def acquire(
        self, contract: str, key: tuple[Any, ...], on_wait: Callable[[float], None]
    ) -> None:
        """Wait for a free slot, then count a request as sent now."""
        while (delay := self._delay(contract, key, time.monotonic())) > 0:
            on_wait(delay)
            await asyncio.sleep(delay)
        now = time.monotonic()
        self._sent.append(now)
        self._by_contract[contract].append(now)
        self._identical = {
            k: t for k, t in self._identical.items() if now - t < self.identical_interval
        }
        self._identical[key] = now


# --------------------------------------------------------------------------- connection


class _ConnectionDown(Exception):
    """IB could not be reached again after a lost connection."""


class _Connection:
    """One ib_async connection, reconnected on demand."""

    def __init__(self, config: IBConfig, attempts: int) -> None:
        self.config, self.attempts = config, attempts
        self.ib: IB | None = None

    async def ensure(self) -> IB:
        if self.ib is not None and self.ib.isConnected():
            return self.ib
        self.close()
        config, reason = self.config, ""
        for attempt in range(1, self.attempts + 1):
            await asyncio.sleep(config.backoff(attempt))
            ib = IB()
            ib.RaiseRequestErrors = True
            try:
                await ib.connectAsync(
                    config.host,
                    config.port,
                    clientId=config.client_id,
                    timeout=config.connect_timeout,
                    readonly=True,
                    fetchFields=StartupFetchNONE,
                )
            except ConnectionRefusedError:
                reason = "connection refused"
            except TimeoutError:
                reason = f"no answer within {config.connect_timeout:g} s"
            except OSError as exc:  # ConnectionError, unreachable host ...
                reason = f"{type(exc).__name__}: {exc}"
            else:
                self.ib = ib
                return ib
        raise BrokerError(_connect_message(config, reason, self.attempts))

    def close(self) -> None:
        if self.ib is not None:
            self.ib.disconnect()
            self.ib = None


def _connect_message(config: IBConfig, reason: str, attempts: int) -> str:
    return (
        f"cannot connect to IB at {config.host}:{config.port} (client id {config.client_id}): "
        f"{reason} after {attempts} attempt(s). Check that IB Gateway or TWS is running and "
        "logged in; that its API is enabled (Configure > Settings > API > Settings: 'Enable "
        "ActiveX and Socket Clients', with this host a trusted IP); that the port is right "
        "(IB Gateway 4002 paper / 4001 live, TWS 7497 paper / 7496 live: --port); and that no "
        "other API client uses the same client id (--client-id)."
    )


# --------------------------------------------------------------------------- resume files




def _write_resume(path: Path, bars: pd.DataFrame, meta: dict[str, Any]) -> None:
    columns = {"timestamp": pa.array(bars.index.asi8, type=pa.timestamp("ns", tz="UTC"))}
    columns |= {c: pa.array(bars[c].to_numpy(dtype=np.float64)) for c in BAR_COLUMNS}
    table = pa.table(columns).replace_schema_metadata({_RESUME_KEY: json.dumps(meta).encode()})
    _atomic_write(path, lambda tmp: pq.write_table(table, tmp))


def _read_resume(path: Path) -> tuple[pd.DataFrame, dict[str, Any]] | None:
    """The bars and metadata of a resume file, or None when missing or unreadable."""
    if not path.is_file():
        return None
    try:
        table = pq.read_table(path)
        meta = json.loads((table.schema.metadata or {})[_RESUME_KEY])
        frame = table.to_pandas().set_index("timestamp")
        return to_canonical(frame), meta
    except Exception:  # noqa: BLE001 - a bad resume file is discarded, never fatal
        return None


def _empty_bars() -> pd.DataFrame:
    index = pd.DatetimeIndex([], tz="UTC", name="timestamp").as_unit("ns")
    return pd.DataFrame({c: np.empty(0) for c in BAR_COLUMNS}, index=index)


def _merge(old: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    """Union of two canonical frames; ``new`` wins where timestamps are equal."""
    if old.empty:
        return new
    combined = pd.concat([old, new])
    return combined[~combined.index.duplicated(keep="last")].sort_index()


# --------------------------------------------------------------------------- the download


class _SymbolFailure(Exception):
    def __init__(self, status: IBDownloadStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class _Plan:
    """One symbol's work: what is stored, what the resume file holds, what is left."""

    symbol: str
    start: pd.Timestamp
    end: pd.Timestamp
    chunks: list[_Chunk]
    chunks_done: int
    bars: pd.DataFrame
    stored: pd.DataFrame | None
    resume: Path
    meta: dict[str, Any]
    result: IBDownloadResult | None = None
    requests: int = 0
    resumed_chunks: int = 0
    message: str = ""
    notes: list[str] = field(default_factory=list)


class _Downloader:
    def __init__(
        self,
        *,
        config: IBConfig,
        download: IBDownloadConfig,
        store: ParquetStore,
        progress: Callable[[IBDownloadProgress], None] | None,
    ) -> None:
        self.config, self.download, self.store = config, download, store
        self.size = parse_bar_size(download.bar_size)
        self.ib_bar_size, self.step = IB_BAR_SIZES[self.size.text]
        self.progress = progress
        self.pacer = _Pacer(config, download)
        self.connection = _Connection(config, config.max_attempts or download.max_attempts)
        self.started = time.monotonic()
        self.left = 0  # chunks still to request in this run, all symbols
        self.done = 0  # chunks requested in this run

    async def run(
        self, symbols: list[str], start: pd.Timestamp, end: pd.Timestamp, now: pd.Timestamp
    ) -> list[IBDownloadResult]:
        plans = [self._plan(symbol, start, end, now) for symbol in symbols]
        self.left = sum(len(p.chunks) for p in plans if p.result is None)
        try:
            if any(p.result is None and p.chunks for p in plans):
                await self.connection.ensure()
            down: str | None = None
            for plan in plans:
                if plan.result is not None:
                    continue
                if down is not None:
                    plan.result = self._failed(plan, IBDownloadStatus.FAILED, down)
                    continue
                try:
                    plan.result = await self._symbol(plan)
                except _SymbolFailure as exc:
                    plan.result = self._failed(plan, exc.status, str(exc))
                except _ConnectionDown as exc:
                    down = f"not downloaded: {exc}"
                    plan.result = self._failed(plan, IBDownloadStatus.FAILED, str(exc))
                self.left -= len(plan.chunks)  # chunks a failure left unrequested
        finally:
            self.connection.close()
        return [p.result for p in plans if p.result is not None]

    # -- planning

    def _plan(
        self, symbol: str, start: pd.Timestamp, end: pd.Timestamp, now: pd.Timestamp
    ) -> _Plan:
        download, store = self.download, self.store
        stored = None
        if store.exists(symbol, bar_size=self.size):
            stored = store.read(symbol, bar_size=self.size)
        first, note = start, ""
        if stored is not None and not download.full:
            entry = store.entry(symbol, bar_size=self.size)
            if entry.source != "ib":
                plan = self._new_plan(symbol, start, end, stored)
                plan.result = self._failed(
                    plan,
                    IBDownloadStatus.FAILED,
                    f"{symbol} {self.size.text} is stored from source '{entry.source}'; an "
                    "incremental IB download would mix sources. Use --full (full=True) to "
                    "replace it with IB bars.",
                )
                return plan
            if start < entry.first - max(pd.Timedelta(days=7), 2 * self.size.timedelta):
                note = (
                    f"note: the stored bars start at {entry.first:%Y-%m-%d}, after the "
                    f"requested start {start:%Y-%m-%d}; an incremental download only adds bars "
                    "after the last stored one. Use --full (full=True) for the whole range."
                )
            last = stored.index[-1]
            if last + self.size.timedelta > end:
                plan = self._new_plan(symbol, start, end, stored)
                plan.message = note
                plan.result = self._stored_result(plan, IBDownloadStatus.UP_TO_DATE, 0)
                return plan
            first = max(start, last)
        plan = self._new_plan(symbol, first, end, stored)
        plan.message = note
        after = first - _SECOND
        resumed = _read_resume(plan.resume)
        if resumed is not None:
            bars, meta = resumed
            if all(meta.get(k) == plan.meta[k] for k in plan.meta):
                after = max(after, pd.Timestamp(meta["covered_until"]))
                plan.bars, plan.chunks_done = bars, int(meta.get("chunks_done", 0))
                plan.resumed_chunks = plan.chunks_done
                plan.notes.append(
                    f"resumed {plan.chunks_done} chunk(s), {len(bars)} bars, from {plan.resume}"
                )
            else:
                plan.notes.append(f"discarded {plan.resume}: made with other settings")
        if after >= end:
            plan.chunks = []
        elif download.what_to_show == "ADJUSTED_LAST":
            plan.chunks = [_adjusted_chunk(after, now)]
        else:
            plan.chunks = _plan_chunks(after, end, self.step)
        return plan

    def _new_plan(
        self, symbol: str, start: pd.Timestamp, end: pd.Timestamp, stored: pd.DataFrame | None
    ) -> _Plan:
        meta = {
            "format": _RESUME_FORMAT,
            "symbol": symbol,
            "bar_size": self.size.text,
            "what_to_show": self.download.what_to_show,
            "use_rth": self.download.use_rth,
            "exchange": self.download.exchange,
            "currency": self.download.currency,
            "start": start.isoformat(),
        }
        return _Plan(
            symbol=symbol,
            start=start,
            end=end,
            chunks=[],
            chunks_done=0,
            bars=_empty_bars(),
            stored=stored,
            resume=resume_path(self.store, symbol, self.size),
            meta=meta,
        )

    # -- one symbol

    async def _symbol(self, plan: _Plan) -> IBDownloadResult:
        for note in plan.notes:
            self._report(plan, note)
        if plan.chunks:
            contract = await self._qualify(plan)
            total = plan.chunks_done + len(plan.chunks)
            while plan.chunks:
                chunk = plan.chunks[0]
                bars = await self._fetch(plan, contract, chunk)
                bars = bars[(bars.index >= plan.start) & (bars.index <= plan.end)]
                plan.bars = _merge(plan.bars, bars)
                plan.chunks.pop(0)
                plan.chunks_done += 1
                covered = plan.end if chunk.end is None else chunk.end
                meta = plan.meta | {
                    "covered_until": covered.isoformat(),
                    "chunks_done": plan.chunks_done,
                }
                _write_resume(plan.resume, plan.bars, meta)
                self.left -= 1
                self.done += 1
                self._report(plan, "", total=total)
        return self._finish(plan)

    async def _qualify(self, plan: _Plan) -> Stock:
        download = self.download
        contract = Stock(plan.symbol.replace(".", " "), download.exchange, download.currency)
        what = f"stock {contract.symbol} ({download.exchange}, {download.currency})"
        reason = ""
        for attempt in range(1, download.max_attempts + 1):
            if attempt > 1:
                await asyncio.sleep(self.config.backoff(attempt))
            ib = await self._ib()
            try:
                found = await asyncio.wait_for(
                    ib.qualifyContractsAsync(contract), self.config.request_timeout
                )
            except RequestError as exc:
                if exc.code == 200:
                    raise _SymbolFailure(
                        IBDownloadStatus.UNKNOWN_SYMBOL,
                        f"unknown symbol '{plan.symbol}': IB has no security definition for "
                        f"{what} (error 200). Check the spelling (share classes like BRK.B are "
                        "sent as 'BRK B'), the exchange and the currency.",
                    ) from None
                raise _SymbolFailure(
                    IBDownloadStatus.FAILED,
                    f"looking up {what}: IB error {exc.code}: {exc.message}",
                ) from None
            except TimeoutError:
                reason = f"no answer within {self.config.request_timeout:g} s"
                continue
            except ConnectionError:
                self.connection.close()
                reason = "lost the connection to IB"
                continue
            if not found or found[0] is None:
                raise _SymbolFailure(
                    IBDownloadStatus.UNKNOWN_SYMBOL,
                    f"unknown symbol '{plan.symbol}': IB found no single {what} (unknown or "
                    "ambiguous). Check the symbol, the exchange and the currency.",
                )
            return contract
        raise _SymbolFailure(
            IBDownloadStatus.FAILED,
            f"looking up {what} failed: {reason}; gave up after {download.max_attempts} attempts",
        )

    async def _ib(self) -> IB:
        try:
            return await self.connection.ensure()
        except BrokerError as exc:
            raise _ConnectionDown(str(exc)) from None

    async def _fetch(self, plan: _Plan, contract: Stock, chunk: _Chunk) -> pd.DataFrame:
        download, config = self.download, self.config
        end_time = "" if chunk.end is None else chunk.end.to_pydatetime()
        key = (
            contract.symbol,
            str(chunk.end),
            chunk.duration,
            self.ib_bar_size,
            download.what_to_show,
            download.use_rth,
        )
        window = f"{chunk.duration} ending {chunk.end or 'now'}"
        reason = ""
        pacing_violation = False
        for attempt in range(1, download.max_attempts + 1):
            if attempt > 1:
                delay = config.backoff(attempt)
                if pacing_violation:
                    delay = max(delay, config.historical_window / config.historical_requests)
                self._report(
                    plan, f"retry {attempt}/{download.max_attempts} in {delay:.1f} s after {reason}"
                )
                await asyncio.sleep(delay)
            ib = await self._ib()
            await self.pacer.acquire(plan.symbol, key, lambda wait: self._pacing_wait(plan, wait))
            plan.requests += 1
            sent = time.monotonic()
            pacing_violation = False
            try:
                bars = await ib.reqHistoricalDataAsync(
                    contract,
                    end_time,
                    chunk.duration,
                    self.ib_bar_size,
                    download.what_to_show,
                    download.use_rth,
                    formatDate=2,
                    timeout=config.request_timeout,
                )
            except RequestError as exc:
                text = exc.message.lower()
                if exc.code == 162 and "no data" in text:
                    return _empty_bars()
                if exc.code == 162 and "pacing" in text:
                    pacing_violation, reason = True, "a pacing violation (IB error 162)"
                    continue
                status = (
                    IBDownloadStatus.UNKNOWN_SYMBOL if exc.code == 200 else IBDownloadStatus.FAILED
                )
                raise _SymbolFailure(
                    status, f"IB error {exc.code} for {plan.symbol} ({window}): {exc.message}"
                ) from None
            except ConnectionError:
                self.connection.close()
                reason = "the connection to IB was lost"
                continue
            # ib_async answers a timed-out request (which it cancels) with an empty list
            if not bars and time.monotonic() - sent >= 0.95 * config.request_timeout:
                reason = f"no answer within {config.request_timeout:g} s (request_timeout)"
                continue
            return self._to_frame(bars)
        raise _SymbolFailure(
            IBDownloadStatus.FAILED,
            f"{plan.symbol} ({window}): {reason}; gave up after {download.max_attempts} "
            f"attempts. The {plan.chunks_done} finished chunk(s) are kept in {plan.resume}; "
            "run the same download again to continue.",
        )

    def _to_frame(self, bars: list[Any]) -> pd.DataFrame:
        if not bars:
            return _empty_bars()
        stamps = pd.DatetimeIndex([pd.Timestamp(bar.date) for bar in bars])
        stamps = stamps.tz_localize("UTC") if stamps.tz is None else stamps.tz_convert("UTC")
        if self.size.text == "1w":  # canonical weekly bars are stamped on their Monday
            stamps = stamps.normalize() - pd.to_timedelta(stamps.weekday, unit="D")
        volume = [
            0.0 if self.download.what_to_show in _NO_VOLUME else float(bar.volume) for bar in bars
        ]
        frame = pd.DataFrame(
            {
                "open": [float(b.open) for b in bars],
                "high": [float(b.high) for b in bars],
                "low": [float(b.low) for b in bars],
                "close": [float(b.close) for b in bars],
                "volume": volume,
            },
            index=stamps,
        ).sort_index(kind="stable")
        return to_canonical(frame[~frame.index.duplicated(keep="last")])

    def _finish(self, plan: _Plan) -> IBDownloadResult:
        old = plan.stored if plan.stored is not None else _empty_bars()
        new = plan.bars[(plan.bars.index >= plan.start) & (plan.bars.index <= plan.end)]
        if new.empty:
            plan.resume.unlink(missing_ok=True)
            if plan.stored is not None and not self.download.full:
                return self._stored_result(plan, IBDownloadStatus.UP_TO_DATE, 0)
            raise _SymbolFailure(
                IBDownloadStatus.FAILED,
                f"IB returned no {self.size.text} {self.download.what_to_show} bars for "
                f"{plan.symbol} between {plan.start} and {plan.end}; nothing was written.",
            )
        merged = new if self.download.full else _merge(old, new)
        quality = check_quality(merged, bar_size=self.size)
        if not quality.ok:
            raise _SymbolFailure(
                IBDownloadStatus.FAILED,
                f"the {plan.symbol} bars fail the quality checks ({quality.counts()}); nothing "
                f"was written:\n{quality.summary(limit=5, errors_only=True)}\nThe downloaded bars "
                f"are kept in {plan.resume}: import them with 'tradelab data import "
                f"{plan.resume} --symbol {plan.symbol} --bar-size {self.size.text} --repair', or "
                "delete that file to download again.",
            )
        entry = self.store.write(
            plan.symbol, merged, bar_size=self.size, source="ib", quality_score=quality.score
        )
        plan.resume.unlink(missing_ok=True)
        added = int(np.count_nonzero(~merged.index.isin(old.index)))
        return IBDownloadResult(
            symbol=plan.symbol,
            bar_size=self.size.text,
            status=IBDownloadStatus.DOWNLOADED,
            bars_added=added,
            rows=entry.rows,
            first=entry.first,
            last=entry.last,
            source=entry.source,
            quality_score=entry.quality_score,
            requests=plan.requests,
            resumed_chunks=plan.resumed_chunks,
            message=plan.message,
            resume_file=None,
        )

    # -- results and progress

    def _stored_result(
        self, plan: _Plan, status: IBDownloadStatus, added: int, message: str | None = None
    ) -> IBDownloadResult:
        entry = None
        if self.store.exists(plan.symbol, bar_size=self.size):
            entry = self.store.entry(plan.symbol, bar_size=self.size)
        return IBDownloadResult(
            symbol=plan.symbol,
            bar_size=self.size.text,
            status=status,
            bars_added=added,
            rows=entry.rows if entry else 0,
            first=entry.first if entry else None,
            last=entry.last if entry else None,
            source=entry.source if entry else None,
            quality_score=entry.quality_score if entry else None,
            requests=plan.requests,
            resumed_chunks=plan.resumed_chunks,
            message=plan.message if message is None else message,
            resume_file=plan.resume if plan.resume.exists() else None,
        )

    def _failed(self, plan: _Plan, status: IBDownloadStatus, message: str) -> IBDownloadResult:
        return self._stored_result(plan, status, 0, message)

    def _pacing_wait(self, plan: _Plan, seconds: float) -> None:
        if seconds >= 1.0:
            config = self.config
            self._report(
                plan,
                f"waiting {seconds:.0f} s for IB pacing "
                f"({config.historical_requests} requests per "
                f"{config.historical_window:g} s)",
            )

    def _report(self, plan: _Plan, note: str, *, total: int | None = None) -> None:
        if self.progress is None:
            return
        elapsed = time.monotonic() - self.started
        eta = elapsed / self.done * self.left if self.done else None
        chunks = total if total is not None else plan.chunks_done + len(plan.chunks)
        self.progress(
            IBDownloadProgress(
                symbol=plan.symbol,
                chunk=plan.chunks_done,
                chunks=chunks,
                bars=len(plan.bars),
                elapsed=elapsed,
                eta=eta,
                note=note,
            )
        )
