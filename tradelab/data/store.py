"""The Parquet store of bars and its catalog.

Layout under the root (default :func:`tradelab.paths.data_root`)::

    <root>/bars/<bar_size>/<SYMBOL>.parquet   one file per symbol and bar size
    <root>/catalog.json                       what is stored (rebuilt from the files if lost)
    <root>/.catalog.lock                      lock file for writers in other processes

Each Parquet file holds the columns ``timestamp`` (``timestamp[ns, UTC]``) and ``open, high, low,
close, volume`` (float64), plus its catalog entry as JSON in the schema metadata key ``tradelab``,
so the catalog can always be rebuilt from the files.

Writes are atomic: a file is written to a temporary name in the same folder and moved into place
with :func:`os.replace`; the catalog is rewritten the same way. Writers are serialised by a lock
per root within a process and by ``fcntl.flock`` on the lock file across processes. Readers take
no lock (they only ever see whole files).
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from tradelab._files import atomic_write as _atomic_write
from tradelab.data.bars import BAR_COLUMNS, BarSize, arrays_to_bars, parse_bar_size, to_canonical
from tradelab.data.catalog import METADATA_KEY, CatalogEntry, entry_from_file, normalize_symbol
from tradelab.errors import ConfigError, DataError, DataNotFoundError, UnknownNameError
from tradelab.errors import did_you_mean as _did_you_mean
from tradelab.paths import data_root

try:  # POSIX only; elsewhere the in-process lock still applies
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

__all__ = ["SOURCES", "CatalogEntry", "ParquetStore", "date_bound", "normalize_symbol"]

log = logging.getLogger(__name__)

SOURCES: tuple[str, ...] = ("csv", "parquet", "synthetic", "ib")
"""Where stored bars may come from."""

_FORMAT_VERSION = 1
_CATALOG_FILE = "catalog.json"
_LOCK_FILE = ".catalog.lock"
_LIST_LIMIT = 20

_THREAD_LOCKS: dict[str, threading.Lock] = {}
_THREAD_LOCKS_GUARD = threading.Lock()




class ParquetStore:
    """Bars on disk, one Parquet file per (symbol, bar size), with a JSON catalog.

    Args:
        root: The store's folder; ``None`` means :func:`tradelab.paths.data_root`. It is created
            on the first write.

    Example:
        >>> import tempfile
        >>> from tradelab.data.synthetic import generate_bars
        >>> store = ParquetStore(tempfile.mkdtemp())
        >>> bars = generate_bars("DEMO", start="2024-01-01", end="2024-01-31", seed=1)
        >>> store.write("demo", bars, source="synthetic").rows
        23
        >>> store.read("DEMO", start="2024-01-02", end="2024-01-03").index.size
        2
    """

    def __init__(self, root: Path | str | None = None) -> None:
        self.root = data_root() if root is None else Path(root).expanduser().resolve()

    def __repr__(self) -> str:
        return f"ParquetStore({str(self.root)!r})"

    @property
    def catalog_path(self) -> Path:
        """``<root>/catalog.json``."""
        return self.root / _CATALOG_FILE

    def path(self, symbol: str, *, bar_size: str | BarSize = "1d") -> Path:
        """The file that holds (or would hold) these bars."""
        size = parse_bar_size(bar_size)
        return self.root / "bars" / size.text / f"{normalize_symbol(symbol)}.parquet"

    # ------------------------------------------------------------------ writing

    def write(
        self,
        symbol: str,
        bars: pd.DataFrame,
        *,
        bar_size: str | BarSize = "1d",
        source: str,
        quality_score: float | None = None,
    ) -> CatalogEntry:
        """Store bars, replacing any stored for the same symbol and bar size.

        Args:
            symbol: The symbol (upper-cased and validated).
            bars: Canonical bars without NaN (see :mod:`tradelab.data.bars`).
            bar_size: The bar size.
            source: ``"csv"``, ``"parquet"``, ``"synthetic"`` or ``"ib"``.
            quality_score: The quality score of these bars (0–1), if known.

        Returns:
            The new catalog entry.

        Raises:
            ConfigError: for an invalid symbol, bar size, source or score.
            DataError: for bars that are not canonical, are empty or hold NaN. Nothing is
                written then: the previous file and catalog stay as they were.
        """
        sym = normalize_symbol(symbol)
        size = parse_bar_size(bar_size)
        if source not in SOURCES:
            raise UnknownNameError("source", str(source), SOURCES)
        if quality_score is not None and not (
            isinstance(quality_score, int | float) and 0.0 <= quality_score <= 1.0
        ):
            raise ConfigError(
                f"quality_score must be between 0 and 1 or None; got {quality_score!r}."
            )
        canonical = to_canonical(bars)
        if canonical.empty:
            raise DataError(f"refusing to store 0 bars for {sym} {size.text}; nothing was written.")
        nan_columns = [c for c in BAR_COLUMNS if canonical[c].isna().any()]
        if nan_columns:
            raise DataError(
                f"refusing to store {sym} {size.text}: NaN in columns {nan_columns}. Drop or fill "
                "those rows first (tradelab.data.repair drops them); nothing was written."
            )
        entry = CatalogEntry(
            symbol=sym,
            bar_size=size.text,
            first=canonical.index[0],
            last=canonical.index[-1],
            rows=len(canonical),
            source=source,
            quality_score=None if quality_score is None else float(quality_score),
            updated=pd.Timestamp.now(tz="UTC"),
        )
        table = _to_table(canonical, entry)
        target = self.path(sym, bar_size=size)
        with self._locked():
            entries = self._load_catalog()
            if entries is None:
                entries = self._scan()
            _atomic_write(target, lambda tmp: pq.write_table(table, tmp))
            entries[(sym, size.text)] = entry
            self._save_catalog(entries)
        return entry

    def delete(self, symbol: str, *, bar_size: str | BarSize) -> None:
        """Delete the stored bars of one symbol and bar size.

        Raises:
            DataNotFoundError: when nothing is stored for them.
        """
        sym, size = normalize_symbol(symbol), parse_bar_size(bar_size)
        with self._locked():
            target = self.path(sym, bar_size=size)
            if not target.exists():
                raise self._not_found(sym, size)
            entries = self._load_catalog()
            target.unlink()
            if entries is None:
                entries = self._scan()
            entries.pop((sym, size.text), None)
            self._save_catalog(entries)

    def rebuild_catalog(self) -> list[CatalogEntry]:
        """Rebuild ``catalog.json`` from the Parquet files and return the entries."""
        with self._locked():
            entries = self._scan()
            self._save_catalog(entries)
        return [entries[k] for k in sorted(entries)]

    # ------------------------------------------------------------------ reading

    def exists(self, symbol: str, *, bar_size: str | BarSize = "1d") -> bool:
        """True when bars are stored for this symbol and bar size."""
        return self.path(symbol, bar_size=bar_size).exists()

    def read_arrays(
        self,
        symbol: str,
        *,
        bar_size: str | BarSize = "1d",
        start: Any = None,
        end: Any = None,
    ) -> dict[str, np.ndarray]:
        """Read stored bars as numpy arrays (the layout of :func:`~tradelab.data.bars_to_arrays`).

        Arguments are those of :meth:`read`.
        """
        sym, size = normalize_symbol(symbol), parse_bar_size(bar_size)
        target = self.path(sym, bar_size=size)
        if not target.exists():
            raise self._not_found(sym, size)
        try:
            table = pq.read_table(target, columns=["timestamp", *BAR_COLUMNS])
        except (OSError, pa.ArrowException) as exc:
            raise DataError(
                f"cannot read {target} ({exc}). Delete the file and import the data again."
            ) from exc
        stamps = table.column("timestamp").combine_chunks().cast(pa.int64()).to_numpy()
        lo_bound, hi_bound = date_bound(start, is_end=False), date_bound(end, is_end=True)
        if lo_bound is not None and hi_bound is not None and lo_bound > hi_bound:
            raise ConfigError(f"start {start!r} is after end {end!r}; swap them.")
        lo = 0 if lo_bound is None else int(np.searchsorted(stamps, lo_bound.value, "left"))
        hi = (
            len(stamps)
            if hi_bound is None
            else int(np.searchsorted(stamps, hi_bound.value, "right"))
        )
        if hi <= lo:
            first = pd.Timestamp(stamps[0], tz="UTC") if len(stamps) else None
            last = pd.Timestamp(stamps[-1], tz="UTC") if len(stamps) else None
            raise DataNotFoundError(
                f"no {sym} {size.text} bars between {start or 'the start'} and "
                f"{end or 'the end'}; the store holds {len(stamps)} bars from {first} to {last}. "
                "Choose dates inside that range."
            )
        # copies: writable, contiguous, and not pinning the Arrow buffers
        arrays = {"timestamp": np.array(stamps[lo:hi], dtype=np.int64, copy=True)}
        for column in BAR_COLUMNS:
            values = table.column(column).combine_chunks().to_numpy(zero_copy_only=False)
            arrays[column] = np.array(values[lo:hi], dtype=np.float64, copy=True)
        return arrays

    def read(
        self,
        symbol: str,
        *,
        bar_size: str | BarSize = "1d",
        start: Any = None,
        end: Any = None,
    ) -> pd.DataFrame:
        """Read stored bars in canonical form, optionally limited to ``[start, end]``.

        Args:
            symbol: The symbol (case-insensitive).
            bar_size: The bar size.
            start: First timestamp to include (date, datetime or string); naive values are UTC.
            end: Last timestamp to include. A date without a time (``"2024-01-31"`` or a
                :class:`datetime.date`) includes that whole day.

        Raises:
            DataNotFoundError: when nothing is stored (the message lists what is, with a "did
                you mean"), or when no bar falls in the range (the message gives the stored
                range).
        """
        return arrays_to_bars(self.read_arrays(symbol, bar_size=bar_size, start=start, end=end))

    def catalog(self) -> list[CatalogEntry]:
        """Every stored dataset, sorted by (symbol, bar size).

        A missing or corrupt ``catalog.json`` is rebuilt from the Parquet files.
        """
        if not self.root.is_dir():
            return []
        entries = self._load_catalog()
        if entries is None:
            with self._locked():
                entries = self._load_catalog()
                if entries is None:
                    entries = self._scan()
                    if entries or self.catalog_path.exists():
                        self._save_catalog(entries)
        return [entries[k] for k in sorted(entries)]

    def entry(self, symbol: str, *, bar_size: str | BarSize) -> CatalogEntry:
        """The catalog entry of one symbol and bar size.

        Raises:
            DataNotFoundError: when nothing is stored for them.
        """
        sym, size = normalize_symbol(symbol), parse_bar_size(bar_size)
        for item in self.catalog():
            if item.symbol == sym and item.bar_size == size.text:
                return item
        raise self._not_found(sym, size)

    def symbols(self, *, bar_size: str | BarSize | None = None) -> list[str]:
        """Symbols with stored files (of one bar size, or of any), sorted."""
        folder = self.root / "bars"
        if bar_size is not None:
            pattern = f"{parse_bar_size(bar_size).text}/*.parquet"
        else:
            pattern = "*/*.parquet"
        return sorted({p.stem for p in folder.glob(pattern)}) if folder.is_dir() else []

    # ------------------------------------------------------------------ internals

    def _not_found(self, sym: str, size: BarSize) -> DataNotFoundError:
        stored = self.symbols(bar_size=size)
        shown = ", ".join(stored[:_LIST_LIMIT]) or "(none)"
        if len(stored) > _LIST_LIMIT:
            shown += f" … and {len(stored) - _LIST_LIMIT} more"
        other_sizes = sorted(
            p.parent.name for p in (self.root / "bars").glob(f"*/{sym}.parquet") if p.is_file()
        )
        message = (
            f"no {size.text} bars stored for {sym} in {self.root}."
            f"{_did_you_mean(sym, stored)} Stored at {size.text}: {shown}."
        )
        if other_sizes:
            message += f" {sym} is stored at bar size {', '.join(other_sizes)}."
        message += (
            " Import a file with tradelab.data.import_bars() or store synthetic bars with "
            "ParquetStore.write(..., source='synthetic')."
        )
        return DataNotFoundError(message)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        key = str(self.root)
        with _THREAD_LOCKS_GUARD:
            thread_lock = _THREAD_LOCKS.setdefault(key, threading.Lock())
        with thread_lock:
            self.root.mkdir(parents=True, exist_ok=True)
            with open(self.root / _LOCK_FILE, "a+b") as handle:
                if fcntl is not None:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    if fcntl is not None:
                        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def _load_catalog(self) -> dict[tuple[str, str], CatalogEntry] | None:
        """The catalog, or None when the file is missing or corrupt."""
        try:
            data = json.loads(self.catalog_path.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or data.get("version") != _FORMAT_VERSION:
                raise DataError(f"unexpected catalog layout in {self.catalog_path}")
            entries = [CatalogEntry.from_dict(item) for item in data["entries"]]
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError, DataError) as exc:
            log.warning("catalog %s is unreadable (%s); rebuilding it", self.catalog_path, exc)
            return None
        return {(e.symbol, e.bar_size): e for e in entries}

    def _save_catalog(self, entries: dict[tuple[str, str], CatalogEntry]) -> None:
        payload = {
            "version": _FORMAT_VERSION,
            "entries": [entries[k].to_dict() for k in sorted(entries)],
        }
        text = json.dumps(payload, indent=2) + "\n"
        _atomic_write(self.catalog_path, lambda tmp: tmp.write_text(text, encoding="utf-8"))

    def _scan(self) -> dict[tuple[str, str], CatalogEntry]:
        """Catalog entries read from the Parquet files themselves."""
        entries: dict[tuple[str, str], CatalogEntry] = {}
        folder = self.root / "bars"
        if not folder.is_dir():
            return entries
        for path in sorted(folder.glob("*/*.parquet")):
            try:
                entry = entry_from_file(path)
            except Exception as exc:  # noqa: BLE001 - one bad file must not hide the others
                log.warning("skipping %s while rebuilding the catalog: %s", path, exc)
                continue
            entries[(entry.symbol, entry.bar_size)] = entry
        return entries


def _to_table(bars: pd.DataFrame, entry: CatalogEntry) -> pa.Table:
    columns = {
        "timestamp": pa.array(bars.index.asi8, type=pa.timestamp("ns", tz="UTC")),
        **{c: pa.array(bars[c].to_numpy(dtype=np.float64), type=pa.float64()) for c in BAR_COLUMNS},
    }
    metadata = {METADATA_KEY: json.dumps({"format": _FORMAT_VERSION, **entry.to_dict()}).encode()}
    return pa.table(columns).replace_schema_metadata(metadata)


def date_bound(value: Any, *, is_end: bool) -> pd.Timestamp | None:
    """A date-range bound as a UTC Timestamp (None stays None); a date-only end covers its
    whole day. The one rule for every ``start``/``end`` in tradelab."""
    if value is None:
        return None
    date_only = (isinstance(value, date) and not isinstance(value, datetime)) or (
        isinstance(value, str) and len(value.strip()) <= 10
    )
    try:
        stamp = pd.Timestamp(value)
        stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"cannot read {value!r} as a date or time ({exc}); use e.g. '2024-01-31' or "
            "'2024-01-31 14:30'."
        ) from exc
    if stamp is pd.NaT:
        raise ConfigError(f"cannot read {value!r} as a date or time; use e.g. '2024-01-31'.")
    if is_end and date_only:
        stamp = stamp + pd.Timedelta(days=1) - pd.Timedelta(1, "ns")
    return stamp.as_unit("ns")
