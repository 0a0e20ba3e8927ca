"""Import bars from CSV and Parquet files into the store, refusing bad data by default.

Recognised CSV layouts (header names are matched ignoring case, spaces and underscores):

* **Yahoo**: ``Date,Open,High,Low,Close,Adj Close,Volume``. ``Close`` is used and ``Adj Close``
  ignored, unless ``adjusted=True``, which scales open/high/low/close by ``Adj Close / Close``.
* **Interactive Brokers**: ``date,open,high,low,close,volume,average,barCount`` with dates like
  ``20240102``, ``20240102  09:30:00`` or ``20240102 09:30:00 US/Eastern`` (extra columns are
  ignored).
* **Generic**: a time column named ``timestamp``, ``datetime``, ``date`` or ``time`` (or separate
  ``date`` and ``time`` columns) and ``open, high, low, close, volume`` in any case.
* **Anything else** through ``column_map={"file column": "canonical name"}``, where the canonical
  names are ``timestamp, open, high, low, close, volume`` and ``adj_close``.

Times: a date without a time is the session date and becomes midnight UTC of that date; a time
without a zone is taken in ``tz`` and converted to UTC; a time with a UTC offset
(``2024-01-02T09:30:00-05:00``) or a zone name (IB style) is converted to UTC. When *every* time in
a file is midnight in its own zone (``2024-01-02 00:00:00-05:00``, as some daily downloads write),
the file holds daily bars and the dates are taken as session dates (midnight UTC).

Line numbers in messages count the header as line 1, so data row ``n`` is line ``n + 1`` (unless
blank lines come before it; the line is always the physical line in the file).
"""

from __future__ import annotations

import gzip
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tradelab.data._parsing import parse_numbers, parse_timestamps, resolve_columns
from tradelab.data.bars import BAR_COLUMNS, BAR_SIZES, BarSize, parse_bar_size, to_canonical
from tradelab.data.quality import QualityReport, RepairChange, check_quality
from tradelab.data.quality import repair as repair_bars
from tradelab.data.store import CatalogEntry, ParquetStore, normalize_symbol
from tradelab.errors import ConfigError, DataError, DataQualityError

__all__ = [
    "ImportReport",
    "import_bars",
    "infer_bar_size",
    "read_csv_bars",
    "read_parquet_bars",
]

_CSV_SUFFIXES = (".csv", ".txt", ".csv.gz", ".txt.gz")
_PARQUET_SUFFIXES = (".parquet", ".pq")
_ISSUE_LIMIT = 10


@dataclass(frozen=True, kw_only=True, slots=True)
class ImportReport:
    """What :func:`import_bars` did.

    Attributes:
        symbol: The stored symbol (upper case).
        bar_size: The bar size (given or inferred).
        rows: Bars written.
        entry: The new catalog entry.
        quality: The quality report of the file as read (before any repair).
        changes: Each repair made (empty without ``repair=True``), including gaps left unfilled.
        path: The imported file.
        stored_quality: The quality report of the bars written (the catalog's score).
    """

    symbol: str
    bar_size: str
    rows: int
    entry: CatalogEntry
    quality: QualityReport
    changes: tuple[RepairChange, ...]
    path: Path
    stored_quality: QualityReport

    def summary(self) -> str:
        """A few lines for people: what was written, the score, warnings and repairs."""
        lines = [
            f"imported {self.path.name} as {self.symbol} {self.bar_size}: {self.rows} bars from "
            f"{self.entry.first} to {self.entry.last}, quality {self.stored_quality.score:.3f}"
        ]
        repaired = [c for c in self.changes if c.changed_data]
        if repaired:
            lines.append(f"{len(repaired)} repair(s):")
            lines += [f"  - {c.detail}" for c in repaired[:_ISSUE_LIMIT]]
            if len(repaired) > _ISSUE_LIMIT:
                lines.append(f"  … and {len(repaired) - _ISSUE_LIMIT} more")
        warnings = self.stored_quality.warnings
        if warnings:
            lines.append(f"{len(warnings)} warning(s) (accepted):")
            lines.append(self.stored_quality.summary(limit=_ISSUE_LIMIT))
        return "\n".join(lines)


def _suffix(path: Path) -> str:
    name = path.name.lower()
    for suffix in (*_CSV_SUFFIXES, *_PARQUET_SUFFIXES):
        if name.endswith(suffix):
            return suffix
    return path.suffix.lower()


def _leading_blank_lines(path: Path) -> int:
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    count = 0
    with opener(path, "rt", encoding="utf-8-sig", errors="replace") as handle:
        for line in handle:
            if line.strip():
                break
            count += 1
    return count


def _read_csv(
    path: Path,
    *,
    column_map: Mapping[str, str] | None,
    tz: str,
    date_format: str | None,
    adjusted: bool,
) -> tuple[pd.DataFrame, np.ndarray]:
    """(bars in file order, physical line number of each row)."""
    name = path.name
    _check_file(path)
    try:
        leading = _leading_blank_lines(path)
        raw = pd.read_csv(
            path,
            dtype=str,
            skip_blank_lines=False,
            skiprows=leading,
            skipinitialspace=True,
            encoding="utf-8-sig",
        )
    except pd.errors.EmptyDataError as exc:
        raise DataError(
            f"{name} is empty (line 1): expected a header such as "
            "'Date,Open,High,Low,Close,Volume' followed by data rows."
        ) from exc
    except pd.errors.ParserError as exc:
        raise DataError(f"{name} is not valid CSV: {exc}. Fix the row named above.") from exc
    except (UnicodeDecodeError, OSError) as exc:
        raise DataError(f"cannot read {path} as text CSV ({exc}).") from exc
    header_line = leading + 1
    lines = header_line + 1 + np.arange(len(raw))
    blank = raw.isna().all(axis=1).to_numpy()
    raw, lines = raw.loc[~blank].reset_index(drop=True), lines[~blank]
    if raw.empty:
        raise DataError(
            f"{name} has a header (line {header_line}: {', '.join(map(str, raw.columns))}) but "
            "no data rows. Add bars below the header."
        )
    return _build(raw, lines, name, column_map, tz, date_format, adjusted), lines


def _check_file(path: Path) -> None:
    if not path.exists():
        raise DataError(f"file not found: {path}. Check the path.")
    if not path.is_file():
        raise DataError(f"{path} is not a file.")


def _build(
    raw: pd.DataFrame,
    lines: np.ndarray | None,
    name: str,
    column_map: Mapping[str, str] | None,
    tz: str,
    date_format: str | None,
    adjusted: bool,
) -> pd.DataFrame:
    """Bars (file order) from a raw table of strings or values."""
    columns = resolve_columns([str(c) for c in raw.columns], column_map=column_map, name=name)
    if adjusted and "adj_close" not in columns:
        raise DataError(
            f"{name}: adjusted=True needs an 'Adj Close' column; found columns "
            f"{[str(c) for c in raw.columns]}. Map one with column_map={{'...': 'adj_close'}} "
            "or import unadjusted prices."
        )
    stamp_values = raw[columns["timestamp"]]
    if "time" in columns:
        stamp_values = stamp_values.astype("string") + " " + raw[columns["time"]].astype("string")
    index = parse_timestamps(stamp_values, tz=tz, date_format=date_format, name=name, lines=lines)
    data = {
        column: parse_numbers(raw[columns[column]], column=column, name=name, lines=lines)
        for column in BAR_COLUMNS
    }
    if adjusted:
        adj = parse_numbers(raw[columns["adj_close"]], column="adj_close", name=name, lines=lines)
        close = data["close"]
        factor = np.full_like(close, np.nan)
        np.divide(adj, close, out=factor, where=close > 0)
        for column in ("open", "high", "low", "close"):
            data[column] = data[column] * factor
    return pd.DataFrame(data, index=index, columns=list(BAR_COLUMNS))


def read_csv_bars(
    path: Path | str,
    *,
    column_map: Mapping[str, str] | None = None,
    tz: str = "UTC",
    date_format: str | None = None,
    adjusted: bool = False,
) -> pd.DataFrame:
    """Read bars from a CSV file (layouts and time rules in the module docstring).

    Rows stay in file order, so the result may be unsorted or hold duplicates or NaN: run
    :func:`~tradelab.data.check_quality` (and :func:`~tradelab.data.repair`) or
    :func:`~tradelab.data.to_canonical` before using it.

    Args:
        path: The CSV file (``.csv``, ``.txt``, optionally ``.gz``).
        column_map: ``{file column: canonical name}`` for headers that are not recognised.
        tz: Zone of times written without one (an IANA name such as ``"America/New_York"``).
        date_format: A :func:`~datetime.datetime.strptime` format for dates in other layouts
            (``"%d/%m/%Y"``).
        adjusted: Scale open/high/low/close by ``Adj Close / Close`` (Yahoo files).

    Returns:
        Bars with a UTC DatetimeIndex named ``timestamp`` and the five float64 columns.

    Raises:
        DataError: for an empty file, a header without rows, missing columns, an unreadable
            date or a non-numeric value — naming the file and line.

    Example:
        >>> import pathlib, tempfile
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "spy.csv"
        >>> _ = path.write_text("Date,Open,High,Low,Close,Adj Close,Volume\\n"
        ...                     "2024-01-02,472.2,473.7,470.5,472.7,468.8,123100\\n")
        >>> read_csv_bars(path).iloc[0].close
        np.float64(472.7)
    """
    frame, _ = _read_csv(
        Path(path), column_map=column_map, tz=tz, date_format=date_format, adjusted=adjusted
    )
    return frame


def read_parquet_bars(
    path: Path | str,
    *,
    column_map: Mapping[str, str] | None = None,
    tz: str = "UTC",
    date_format: str | None = None,
    adjusted: bool = False,
) -> pd.DataFrame:
    """Read bars from a Parquet file with the same column and time rules as :func:`read_csv_bars`.

    The time may be the index (a DatetimeIndex) or a column; it may be stored as datetimes,
    dates or strings. Naive datetimes that are all at midnight are taken as session dates
    (midnight UTC). Rows stay in file order; rows in messages are 1-based.
    """
    path = Path(path)
    _check_file(path)
    try:
        raw = pd.read_parquet(path)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises many types for bad files
        raise DataError(f"cannot read {path} as Parquet ({exc}).") from exc
    if isinstance(raw.index, pd.DatetimeIndex):
        raw = raw.reset_index(names=raw.index.name or "timestamp")
    else:
        raw = raw.reset_index(drop=True)
    if raw.empty:
        raise DataError(f"{path.name} holds no rows. Nothing to import.")
    return _build(raw, None, path.name, column_map, tz, date_format, adjusted)


def infer_bar_size(index: pd.DatetimeIndex, *, name: str = "the data") -> BarSize:
    """Infer the bar size from the median spacing of the distinct timestamps.

    Raises:
        DataError: with fewer than two timestamps, or a spacing that matches no bar size.
    """
    stamps = np.unique(pd.DatetimeIndex(index).asi8)
    if len(stamps) < 2:
        raise DataError(
            f"cannot infer the bar size of {name} from {len(stamps)} timestamp(s); pass "
            f"bar_size= (one of {', '.join(BAR_SIZES)})."
        )
    spacing = float(np.median(np.diff(stamps))) / 1e9
    best = min(
        (parse_bar_size(s) for s in BAR_SIZES),
        key=lambda size: abs(np.log(spacing / size.timedelta.total_seconds())),
    )
    if abs(np.log(spacing / best.timedelta.total_seconds())) > np.log(1.5):
        raise DataError(
            f"cannot infer the bar size of {name}: the median spacing is "
            f"{pd.Timedelta(seconds=spacing)}, which is not one of {', '.join(BAR_SIZES)}. "
            "Pass bar_size= explicitly."
        )
    return best


def import_bars(
    path: Path | str,
    *,
    symbol: str,
    store: ParquetStore,
    bar_size: str | BarSize | None = None,
    repair: bool = False,
    column_map: Mapping[str, str] | None = None,
    tz: str = "UTC",
    date_format: str | None = None,
    adjusted: bool = False,
) -> ImportReport:
    """Import a CSV or Parquet file of bars into the store, after the quality checks.

    Data with errors (duplicates, unsorted rows, OHLC inconsistencies, prices <= 0, NaN,
    negative volume) is refused with a :class:`~tradelab.errors.DataQualityError` that names
    the file, line and problem, and nothing is written. With ``repair=True`` the data is
    repaired instead (see :func:`~tradelab.data.repair`), every change is listed in the report,
    and the repaired bars are written. Warnings (gaps, zero volume) never block an import.

    Args:
        path: A ``.csv``/``.txt`` (optionally ``.gz``) or ``.parquet`` file.
        symbol: The symbol to store the bars under.
        store: The store to write to.
        bar_size: The bar size; inferred from the median spacing when None.
        repair: Repair errors instead of refusing the file.
        column_map: ``{file column: canonical name}`` for unrecognised headers.
        tz: Zone of times written without one.
        date_format: A strptime format for dates in unusual layouts.
        adjusted: Use adjusted prices (Yahoo ``Adj Close``).

    Returns:
        The report (rows written, catalog entry, quality, repairs).

    Raises:
        DataQualityError: for data with errors when ``repair`` is False (``.issues`` lists them).
        DataError: for an unreadable file (naming file and line).
        ConfigError: for an invalid symbol, bar size, time zone or column map.

    Example:
        >>> import pathlib, tempfile
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (folder / "spy.csv").write_text(
        ...     "date,open,high,low,close,volume\\n"
        ...     "20240102,472.2,473.7,470.5,472.7,123100\\n"
        ...     "20240103,470.4,471.2,468.2,468.8,103600\\n")
        >>> report = import_bars(folder / "spy.csv", symbol="SPY", store=ParquetStore(folder))
        >>> report.rows, report.bar_size
        (2, '1d')
    """
    path = Path(path)
    sym = normalize_symbol(symbol)
    if not isinstance(store, ParquetStore):
        raise ConfigError(f"store must be a ParquetStore; got {type(store).__name__}.")
    size = None if bar_size is None else parse_bar_size(bar_size)
    suffix = _suffix(path)
    options: dict[str, Any] = dict(
        column_map=column_map, tz=tz, date_format=date_format, adjusted=adjusted
    )
    if suffix in _CSV_SUFFIXES:
        source = "csv"
        frame, line_array = _read_csv(path, **options)
        lines: list[int] | None = [int(x) for x in line_array]
    elif suffix in _PARQUET_SUFFIXES:
        source = "parquet"
        frame, lines = read_parquet_bars(path, **options), None
    else:
        raise DataError(
            f"cannot import {path.name}: unknown file type {suffix!r}. Use a "
            f"{', '.join(_CSV_SUFFIXES)} or {', '.join(_PARQUET_SUFFIXES)} file."
        )
    if size is None:
        size = infer_bar_size(frame.index, name=path.name)
    quality = check_quality(frame, bar_size=size, source_name=path.name, line_numbers=lines)
    if not quality.ok and not repair:
        errors = quality.errors
        numbering = (
            "Lines count the header as line 1 (data row n is line n+1)."
            if lines is not None
            else "Rows count from 1."
        )
        raise DataQualityError(
            f"refused to import {path.name} as {sym} {size.text}: {len(errors)} problem(s); "
            f"nothing was written. {numbering}\n"
            f"{quality.summary(limit=_ISSUE_LIMIT, errors_only=True)}\n"
            "Fix the file, or import with --repair (repair=True in Python) to drop rows with "
            "NaN or prices <= 0, sort by time, drop duplicate timestamps (keeping the last), "
            "widen high/low to cover open/close and clip negative volume to 0.",
            errors,
        )
    if repair:
        bars, change_list = repair_bars(
            frame, bar_size=size, source_name=path.name, line_numbers=lines
        )
        changes = tuple(change_list)
        stored_quality = check_quality(bars, bar_size=size)
    else:
        bars, changes, stored_quality = to_canonical(frame), (), quality
    if bars.empty:
        raise DataError(
            f"no usable rows left in {path.name} after repair ({len(changes)} changes); "
            "nothing was written. Check the file."
        )
    entry = store.write(sym, bars, bar_size=size, source=source, quality_score=stored_quality.score)
    return ImportReport(
        symbol=sym,
        bar_size=size.text,
        rows=len(bars),
        entry=entry,
        quality=quality,
        changes=changes,
        path=path,
        stored_quality=stored_quality,
    )
