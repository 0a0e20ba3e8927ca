"""Private helpers of the importers: find the bar columns, parse times and numbers.

Every error names the file and the line (or the 1-based row when lines are unknown).
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from tradelab.data.bars import BAR_COLUMNS
from tradelab.errors import ConfigError, DataError, did_you_mean

TARGETS: tuple[str, ...] = ("timestamp", *BAR_COLUMNS, "adj_close")

_RECOGNISED: dict[str, tuple[str, ...]] = {
    "timestamp": ("timestamp", "datetime", "date time", "date/time", "date", "time"),
    "open": ("open",),
    "high": ("high",),
    "low": ("low",),
    "close": ("close",),
    "volume": ("volume", "vol"),
    "adj_close": ("adj close", "adjclose", "adjusted close"),
}

_ZONE_RE = r"^(?P<stamp>.*?\d)(?: (?P<zone>[A-Za-z][A-Za-z0-9_+\-]*(?:/[A-Za-z0-9_+\-]+)*))?$"
_OFFSET_RE = r"\d:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:Z|[+-]\d{2}(?::?\d{2})?)$"
_COMPACT_DATE_RE = r"^(\d{4})(\d{2})(\d{2})(?=$| )"
_EPOCH_RE = r"^\d{9,10}$"
_MIDNIGHT_RE = r"[T ]00:00(?::00(?:\.0+)?)?(?:\s*(?:Z|[+-]\d{2}(?::?\d{2})?))?$"
_TIME_DIRECTIVES = re.compile(r"%[HIMSXcTfpzZ]")
_EXAMPLES = (
    "expected e.g. '2024-01-02', '2024-01-02 09:30:00', '2024-01-02T09:30:00-05:00', "
    "'20240102' or '20240102 09:30:00 US/Eastern'; pass date_format='%d/%m/%Y' (a strptime "
    "format) for other layouts"
)


def _key(name: str) -> str:
    return re.sub(r"[\s_]+", " ", str(name).strip().lower())


def where(pos: int, name: str, lines: Sequence[int] | None) -> str:
    """``"prices.csv line 5 (row 4)"`` or ``"prices.parquet row 4"``."""
    if lines is not None:
        return f"{name} line {int(lines[pos])} (row {pos + 1})"
    return f"{name} row {pos + 1}"


def resolve_columns(
    columns: list[str], *, column_map: Mapping[str, str] | None, name: str
) -> dict[str, str]:
    """Map canonical names (and ``time`` for a separate time column) to the file's columns."""
    result: dict[str, str] = {}
    used: set[str] = set()
    if column_map is not None:
        if not isinstance(column_map, Mapping):
            raise ConfigError(
                f"column_map must be a mapping {{file column: canonical name}}; got "
                f"{type(column_map).__name__}."
            )
        for source, target in column_map.items():
            canonical = _key(str(target)).replace(" ", "_")
            if canonical not in TARGETS:
                raise ConfigError(
                    f"column_map maps {source!r} to {target!r}, which is not a canonical name."
                    f"{did_you_mean(str(target), TARGETS)} column_map is {{file column: "
                    f"canonical name}} with canonical names {', '.join(TARGETS)}."
                )
            found = source if source in columns else None
            if found is None:
                found = next((c for c in columns if _key(c) == _key(source)), None)
            if found is None:
                raise DataError(
                    f"{name}: column_map names column {source!r}, which the file does not have."
                    f"{did_you_mean(str(source), columns)} The file's columns: {columns}."
                )
            if canonical in result:
                raise ConfigError(
                    f"column_map maps both {result[canonical]!r} and {source!r} to "
                    f"{canonical!r}; map one column to each canonical name."
                )
            result[canonical] = found
            used.add(found)
    keyed: dict[str, str] = {}
    for column in columns:
        if column not in used:
            keyed.setdefault(_key(column), column)
    for target, names in _RECOGNISED.items():
        if target not in result:
            match = next((keyed[n] for n in names if n in keyed), None)
            if match is not None:
                result[target] = match
    if result.get("timestamp") is not None and _key(result["timestamp"]) == "date":
        if "time" in keyed and "timestamp" not in (column_map or {}).values():
            result["time"] = keyed["time"]
    missing = [c for c in ("timestamp", *BAR_COLUMNS) if c not in result]
    if missing:
        raise DataError(
            f"{name}: the header lacks columns {missing}; found columns {columns}. "
            "Recognised headers: Yahoo (Date,Open,High,Low,Close,Adj Close,Volume), IB "
            "(date,open,high,low,close,volume,average,barCount) and generic names (timestamp/"
            "datetime/date/time, open, high, low, close, volume). For other names pass "
            "column_map={'file column': 'close', ...}."
        )
    return result


def _check_zone(zone: str) -> bool:
    try:
        pd.Timestamp("2000-01-01").tz_localize(zone)
    except Exception:  # noqa: BLE001 - zoneinfo/pytz raise several types
        return False
    return True


def parse_timestamps(
    values: pd.Series,
    *,
    tz: str,
    date_format: str | None,
    name: str,
    lines: Sequence[int] | None,
) -> pd.DatetimeIndex:
    """Parse a column of times to a UTC nanosecond DatetimeIndex (rules in importers)."""
    if not isinstance(tz, str) or not _check_zone(tz):
        raise ConfigError(
            f"unknown time zone {tz!r}; use an IANA name such as 'America/New_York' or 'UTC'."
        )
    values = values.reset_index(drop=True)
    missing = values.isna().to_numpy()
    if missing.any():
        pos = int(np.flatnonzero(missing)[0])
        raise DataError(f"{where(pos, name, lines)}: the date is empty. Every row needs a date.")
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        return _from_datetimes(pd.DatetimeIndex(values), tz=tz, name=name, lines=lines)
    first = values.iloc[0] if len(values) else None
    if isinstance(first, _dt.date) and not isinstance(first, str):
        try:
            parsed = pd.DatetimeIndex(pd.to_datetime(values, utc=False))
        except (TypeError, ValueError):
            parsed = pd.DatetimeIndex(pd.to_datetime(values, utc=True))
        return _from_datetimes(parsed, tz=tz, name=name, lines=lines)
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values):
        values = values.map(lambda v: str(int(v)) if float(v).is_integer() else str(v))
    return _from_strings(values, tz=tz, date_format=date_format, name=name, lines=lines)


def _from_datetimes(
    index: pd.DatetimeIndex, *, tz: str, name: str, lines: Sequence[int] | None
) -> pd.DatetimeIndex:
    if (index == index.normalize()).all():  # all at (local) midnight: session dates
        out = (index if index.tz is None else index.tz_localize(None)).tz_localize("UTC")
    elif index.tz is not None:
        out = index.tz_convert("UTC")
    else:
        out = index.tz_localize(tz, ambiguous="NaT", nonexistent="NaT")
        _raise_for_dst(out.isna(), index.astype(str), tz, name, lines)
        out = out.tz_convert("UTC")
    return pd.DatetimeIndex(out.as_unit("ns"), name="timestamp")


def _raise_for_dst(
    bad: np.ndarray, original: Sequence[str], zone: str, name: str, lines: Sequence[int] | None
) -> None:
    if np.asarray(bad).any():
        pos = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"{where(pos, name, lines)}: the time {original[pos]!r} does not exist or is "
            f"ambiguous in {zone} (a daylight-saving change). Give times in UTC or with a UTC "
            "offset, or pass tz= for the zone the file uses."
        )


def _from_strings(
    values: pd.Series,
    *,
    tz: str,
    date_format: str | None,
    name: str,
    lines: Sequence[int] | None,
) -> pd.DatetimeIndex:
    text = values.astype("string").str.strip().str.replace(r"\s+", " ", regex=True)
    empty = (text == "").to_numpy(dtype=bool, na_value=True)
    if empty.any():
        pos = int(np.flatnonzero(empty)[0])
        raise DataError(f"{where(pos, name, lines)}: the date is empty. Every row needs a date.")
    parts = text.str.extract(_ZONE_RE)
    stamp = parts["stamp"].fillna(text)
    zone = parts["zone"]
    if date_format is None:
        stamp = stamp.str.replace(_COMPACT_DATE_RE, r"\1-\2-\3", regex=True)
        if stamp.str.contains(_MIDNIGHT_RE, regex=True).all():  # daily bars: session dates
            stamp = stamp.str.replace(_MIDNIGHT_RE, "", regex=True)
        epoch = stamp.str.match(_EPOCH_RE).to_numpy(dtype=bool, na_value=False)
        date_only = ~stamp.str.contains(":", regex=False).to_numpy(dtype=bool, na_value=False)
    else:
        epoch = np.zeros(len(stamp), dtype=bool)
        date_only = np.full(len(stamp), not _TIME_DIRECTIVES.search(date_format))
    date_only &= ~epoch
    offset = stamp.str.contains(_OFFSET_RE, regex=True).to_numpy(dtype=bool, na_value=False)
    offset &= ~date_only & ~epoch
    has_zone = zone.notna().to_numpy() & ~offset & ~date_only & ~epoch
    fmt = date_format or "ISO8601"
    out = np.full(len(stamp), np.iinfo(np.int64).min, dtype=np.int64)
    original = text.to_numpy(dtype=object)

    def parse(mask: np.ndarray, **kwargs: object) -> pd.DatetimeIndex:
        return pd.DatetimeIndex(pd.to_datetime(stamp[mask], format=fmt, errors="coerce", **kwargs))

    def store(mask: np.ndarray, index: pd.DatetimeIndex) -> None:
        out[mask] = index.as_unit("ns").asi8

    if epoch.any():
        seconds = stamp[epoch].astype("int64").to_numpy()
        store(epoch, pd.DatetimeIndex(pd.to_datetime(seconds, unit="s", utc=True)))
    if offset.any():
        store(offset, parse(offset, utc=True))
    if date_only.any():
        store(date_only, parse(date_only).tz_localize("UTC"))
    naive = ~(epoch | offset | date_only | has_zone)
    groups: list[tuple[np.ndarray, str]] = [(naive, tz)] if naive.any() else []
    for zone_name in sorted(set(zone[has_zone])):
        mask = has_zone & (zone == zone_name).to_numpy(dtype=bool, na_value=False)
        if not _check_zone(zone_name):
            pos = int(np.flatnonzero(mask)[0])
            raise DataError(
                f"{where(pos, name, lines)}: unknown time zone {zone_name!r} in "
                f"{original[pos]!r}; use an IANA name such as 'US/Eastern' or "
                "'America/New_York'."
            )
        groups.append((mask, zone_name))
    for mask, zone_name in groups:
        parsed = parse(mask)
        unreadable = np.zeros(len(stamp), dtype=bool)
        unreadable[mask] = parsed.isna()
        _raise_unreadable(unreadable, original, name, lines)
        localized = parsed.tz_localize(zone_name, ambiguous="NaT", nonexistent="NaT")
        dst = np.zeros(len(stamp), dtype=bool)
        dst[mask] = localized.isna()
        _raise_for_dst(dst, original, zone_name, name, lines)
        store(mask, localized.tz_convert("UTC"))
    _raise_unreadable(out == np.iinfo(np.int64).min, original, name, lines)
    index = pd.DatetimeIndex(pd.to_datetime(out, unit="ns", utc=True), name="timestamp")
    return index.as_unit("ns")


def _raise_unreadable(
    bad: np.ndarray, original: Sequence[object], name: str, lines: Sequence[int] | None
) -> None:
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"{where(pos, name, lines)}: cannot read the date {original[pos]!r}; {_EXAMPLES}."
        )


def parse_numbers(
    values: pd.Series, *, column: str, name: str, lines: Sequence[int] | None
) -> np.ndarray:
    """A column as float64; empty cells become NaN, anything non-numeric is an error."""
    values = values.reset_index(drop=True)
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values):
        result = values.to_numpy(dtype=np.float64, na_value=np.nan)
        text = values.astype(str).to_numpy(dtype=object)
    else:
        text_series = values.astype("string").str.strip()
        text = text_series.to_numpy(dtype=object, na_value=None)
        cells = text_series.to_numpy(dtype=object, na_value=np.nan)
        result = np.asarray(pd.to_numeric(cells, errors="coerce"), dtype=np.float64)
        filled = text_series.notna().to_numpy() & (text_series != "").to_numpy(
            dtype=bool, na_value=False
        )
        bad = np.isnan(result) & filled
        if bad.any():
            pos = int(np.flatnonzero(bad)[0])
            raise DataError(
                f"{where(pos, name, lines)}: {column} is not a number: {text[pos]!r}. Use plain "
                "numbers such as 101.25 (leave the cell empty for a missing value)."
            )
    infinite = np.isinf(result)
    if infinite.any():
        pos = int(np.flatnonzero(infinite)[0])
        raise DataError(
            f"{where(pos, name, lines)}: {column} is not a finite number: {text[pos]!r}."
        )
    return np.ascontiguousarray(result)
