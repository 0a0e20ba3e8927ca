"""Canonical bars: the one shape of OHLCV data that every part of tradelab agrees on.

Canonical bars are a :class:`pandas.DataFrame` with

* a tz-aware UTC :class:`pandas.DatetimeIndex` named ``timestamp`` at nanosecond resolution,
  sorted ascending, without duplicates, and without a ``freq``;
* exactly the columns :data:`BAR_COLUMNS` (``open, high, low, close, volume``), all float64.

A bar's timestamp is the start of its interval. Daily and weekly bars are stamped at midnight
UTC of their session date (the Monday of the week for weekly bars).

For the Ray object store the same bars travel as a dict of contiguous numpy arrays
(:func:`bars_to_arrays` / :func:`arrays_to_bars`): ``"timestamp"`` as int64 nanoseconds since the
epoch (UTC) plus one float64 array per column.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tradelab.errors import DataError, UnknownNameError

__all__ = [
    "BAR_COLUMNS",
    "BAR_SIZES",
    "BarSize",
    "arrays_to_bars",
    "bars_to_arrays",
    "parse_bar_size",
    "to_canonical",
]

BAR_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close", "volume")
"""The columns of canonical bars, in order."""

_ARRAY_KEYS: tuple[str, ...] = ("timestamp", *BAR_COLUMNS)

# text -> (timedelta, pandas frequency alias)
_BAR_SIZE_TABLE: dict[str, tuple[_dt.timedelta, str]] = {
    "1m": (_dt.timedelta(minutes=1), "1min"),
    "5m": (_dt.timedelta(minutes=5), "5min"),
    "15m": (_dt.timedelta(minutes=15), "15min"),
    "30m": (_dt.timedelta(minutes=30), "30min"),
    "1h": (_dt.timedelta(hours=1), "1h"),
    "1d": (_dt.timedelta(days=1), "1D"),
    "1w": (_dt.timedelta(weeks=1), "W-MON"),
}

BAR_SIZES: tuple[str, ...] = tuple(_BAR_SIZE_TABLE)
"""The bar sizes tradelab knows, shortest first."""

_ALIASES: dict[str, str] = {
    "1min": "1m",
    "5min": "5m",
    "15min": "15m",
    "30min": "30m",
    "60m": "1h",
    "60min": "1h",
    "1day": "1d",
    "daily": "1d",
    "1wk": "1w",
    "weekly": "1w",
}


@dataclass(frozen=True, kw_only=True, slots=True)
class BarSize:
    """A bar size such as ``1d`` or ``5m``. Build one with :func:`parse_bar_size`.

    Attributes:
        text: The canonical name (``"1d"``, ``"1h"``, ``"30m"``, ``"15m"``, ``"5m"``, ``"1m"``,
            ``"1w"``); also the folder name in the Parquet store.
        timedelta: The length of one bar.
    """

    text: str
    timedelta: _dt.timedelta

    @property
    def is_intraday(self) -> bool:
        """True for bars shorter than a day."""
        return self.timedelta < _dt.timedelta(days=1)

    @property
    def pandas_freq(self) -> str:
        """The pandas frequency alias (``"5min"``, ``"1h"``, ``"1D"``, ``"W-MON"``).

        Weekly bars are labelled by their Monday, hence ``W-MON``. The frequency describes the bar
        length only; sessions (Mon–Fri, 09:30–16:00 New York) are not encoded in it.
        """
        return _BAR_SIZE_TABLE[self.text][1]

    @property
    def minutes(self) -> float:
        """The bar length in minutes."""
        return self.timedelta.total_seconds() / 60.0

    def __str__(self) -> str:
        return self.text


def parse_bar_size(text: str | BarSize) -> BarSize:
    """Parse a bar size name such as ``"1d"``, ``"1h"`` or ``"5m"``.

    Matching ignores case and spaces, and a few aliases are accepted (``"5min"``, ``"daily"``).

    Args:
        text: The bar size name, or an existing :class:`BarSize` (returned as is).

    Returns:
        The bar size.

    Raises:
        UnknownNameError: (a :class:`~tradelab.errors.ConfigError`) for an unknown name, with a
            "did you mean" suggestion and the list of known sizes.

    Example:
        >>> parse_bar_size("5m").timedelta
        datetime.timedelta(seconds=300)
    """
    if isinstance(text, BarSize):
        return text
    if not isinstance(text, str):
        raise UnknownNameError("bar size", repr(text), BAR_SIZES)
    key = "".join(text.split()).lower()
    key = _ALIASES.get(key, key)
    if key not in _BAR_SIZE_TABLE:
        raise UnknownNameError("bar size", text, BAR_SIZES)
    return BarSize(text=key, timedelta=_BAR_SIZE_TABLE[key][0])


def _utc_index(values: object, *, what: str) -> pd.DatetimeIndex:
    """Turn index-like values into a UTC nanosecond DatetimeIndex named ``timestamp``."""
    try:
        index = pd.DatetimeIndex(values)
    except (TypeError, ValueError) as exc:
        raise DataError(
            f"{what} cannot be read as timestamps ({exc}). Give bars a DatetimeIndex or a "
            "'timestamp' column of datetimes."
        ) from exc
    index = index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")
    return pd.DatetimeIndex(index.as_unit("ns"), name="timestamp", freq=None)


def to_canonical(
    df: pd.DataFrame, *, drop_extra: bool = False, check_order: bool = True
) -> pd.DataFrame:
    """Coerce a frame of bars to canonical form (see the module docstring).

    Column names are matched case-insensitively. The timestamps come from a DatetimeIndex or,
    failing that, from a column named ``timestamp``. Naive timestamps are taken to be UTC;
    zoned ones are converted to UTC. Values are converted to float64.

    Args:
        df: The bars.
        drop_extra: Drop columns other than :data:`BAR_COLUMNS` instead of refusing them.
        check_order: Require sorted, unique timestamps (canonical form). Pass False to coerce
            types only, e.g. before running the quality checks on raw data.

    Returns:
        A new canonical frame (the input is not modified).

    Raises:
        DataError: naming the missing or extra columns, a non-numeric value and its row, missing
            timestamps, or unsorted/duplicate timestamps.
    """
    if not isinstance(df, pd.DataFrame):
        raise DataError(f"bars must be a pandas DataFrame, got {type(df).__name__}.")
    frame = df.rename(columns=lambda c: str(c).strip().lower())
    if frame.columns.duplicated().any():
        dupes = sorted(set(frame.columns[frame.columns.duplicated()]))
        raise DataError(
            f"bars have duplicate columns {dupes} (names are compared case-insensitively). "
            "Keep one column per name."
        )
    if isinstance(frame.index, pd.DatetimeIndex):
        index = _utc_index(frame.index, what="the index")
    elif "timestamp" in frame.columns:
        index = _utc_index(frame["timestamp"], what="the 'timestamp' column")
        frame = frame.drop(columns="timestamp")
    else:
        raise DataError(
            f"bars need a DatetimeIndex or a 'timestamp' column; got a "
            f"{type(frame.index).__name__} and columns {list(frame.columns)}."
        )
    missing = [c for c in BAR_COLUMNS if c not in frame.columns]
    extra = [c for c in frame.columns if c not in BAR_COLUMNS]
    if missing or (extra and not drop_extra):
        parts = []
        if missing:
            parts.append(f"missing columns {missing}")
        if extra and not drop_extra:
            parts.append(f"unexpected columns {extra}")
        raise DataError(
            f"bars have {' and '.join(parts)}; canonical bars have exactly "
            f"{list(BAR_COLUMNS)} (got {list(frame.columns)}). Rename or drop columns, or pass "
            "drop_extra=True to ignore the extra ones."
        )
    data: dict[str, np.ndarray] = {}
    for column in BAR_COLUMNS:
        data[column] = _to_float64(frame[column], column=column)
    out = pd.DataFrame(data, index=index, columns=list(BAR_COLUMNS))
    if index.hasnans:
        row = int(np.flatnonzero(index.isna())[0])
        raise DataError(f"bars have a missing timestamp at row {row}. Drop or fix that row.")
    if check_order:
        _check_order(out.index)
    return out


def _to_float64(series: pd.Series, *, column: str) -> np.ndarray:
    """Convert one column to a float64 array, naming the first non-numeric value."""
    if pd.api.types.is_bool_dtype(series.dtype):
        raise DataError(f"column '{column}' holds booleans; it must hold numbers.")
    try:
        return np.ascontiguousarray(series.to_numpy(dtype=np.float64, na_value=np.nan))
    except (TypeError, ValueError):
        pass
    numeric = pd.to_numeric(series, errors="coerce")
    bad = numeric.isna().to_numpy() & series.notna().to_numpy()
    row = int(np.flatnonzero(bad)[0]) if bad.any() else 0
    raise DataError(
        f"column '{column}' has a non-numeric value {series.iloc[row]!r} at row {row}. "
        "Bars must hold numbers (use NaN for a missing value)."
    )


def _check_order(index: pd.DatetimeIndex) -> None:
    values = index.asi8
    if len(values) > 1:
        steps = np.diff(values)
        if (steps < 0).any():
            row = int(np.flatnonzero(steps < 0)[0]) + 1
            raise DataError(
                f"bars are not sorted by time: row {row} ({index[row]}) comes before row "
                f"{row - 1} ({index[row - 1]}). Sort them, or run tradelab.data.repair()."
            )
        if (steps == 0).any():
            row = int(np.flatnonzero(steps == 0)[0]) + 1
            raise DataError(
                f"bars have a duplicate timestamp {index[row]} (rows {row - 1} and {row}). "
                "Drop duplicates, or run tradelab.data.repair()."
            )


def bars_to_arrays(df: pd.DataFrame) -> dict[str, np.ndarray]:
    """Split canonical bars into contiguous numpy arrays (for the Ray object store).

    Args:
        df: Bars in canonical form (they are validated with :func:`to_canonical`).

    Returns:
        ``{"timestamp": int64 ns since epoch UTC, "open": float64, ..., "volume": float64}``,
        each a new C-contiguous array.

    Example:
        >>> import pandas as pd
        >>> bars = pd.DataFrame(
        ...     {"open": [1.0], "high": [2.0], "low": [0.5], "close": [1.5], "volume": [10.0]},
        ...     index=pd.DatetimeIndex(["2024-01-02"], tz="UTC"),
        ... )
        >>> sorted(bars_to_arrays(bars))
        ['close', 'high', 'low', 'open', 'timestamp', 'volume']
    """
    bars = to_canonical(df)
    arrays: dict[str, np.ndarray] = {
        "timestamp": np.ascontiguousarray(bars.index.asi8, dtype=np.int64).copy()
    }
    for column in BAR_COLUMNS:
        arrays[column] = np.ascontiguousarray(bars[column].to_numpy(dtype=np.float64)).copy()
    return arrays


def arrays_to_bars(arrays: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """Rebuild canonical bars from the arrays of :func:`bars_to_arrays` (the inverse).

    Args:
        arrays: ``"timestamp"`` (int64 ns since epoch UTC) and the five float64 columns, all of
            the same length. Read-only arrays (from the object store) are fine; they are copied.

    Returns:
        Canonical bars.

    Raises:
        DataError: when a key is missing or unexpected, or the lengths differ.
    """
    keys = set(arrays)
    missing = [k for k in _ARRAY_KEYS if k not in keys]
    extra = sorted(keys - set(_ARRAY_KEYS))
    if missing or extra:
        raise DataError(
            f"bar arrays need exactly the keys {list(_ARRAY_KEYS)}; missing {missing}, "
            f"unexpected {extra}. Build them with bars_to_arrays()."
        )
    lengths = {k: len(arrays[k]) for k in _ARRAY_KEYS}
    if len(set(lengths.values())) > 1:
        raise DataError(f"bar arrays must all have the same length; got {lengths}.")
    stamps = np.asarray(arrays["timestamp"])
    if stamps.dtype.kind == "M":
        stamps = stamps.astype("datetime64[ns]").view(np.int64)
    index = pd.DatetimeIndex(
        pd.to_datetime(stamps.astype(np.int64, copy=False), unit="ns", utc=True), name="timestamp"
    ).as_unit("ns")
    data = {c: np.array(arrays[c], dtype=np.float64, copy=True) for c in BAR_COLUMNS}
    return to_canonical(pd.DataFrame(data, index=index, columns=list(BAR_COLUMNS)))
