"""Historical bars for reqHistoricalData: end time, duration and bar size as TWS reads them."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd

_DURATION = re.compile(r"^\s*(\d+)\s*([SDWMY])\s*$", re.IGNORECASE)
_BAR_SIZE = re.compile(r"^\s*(\d+)\s*(secs?|mins?|hours?|days?|weeks?|months?)\s*$", re.I)
_INTRADAY_UNITS = {"sec": "s", "min": "min", "hour": "h"}


@dataclass(frozen=True, slots=True)
class HistoricalQuery:
    """What a provider callable receives for one reqHistoricalData request.

    Attributes:
        symbol: The requested symbol.
        end: End of the window (UTC).
        duration: IB duration string, e.g. ``"30 D"``.
        bar_size: IB bar size, e.g. ``"1 day"``.
        what_to_show: ``TRADES``, ``MIDPOINT``, ``ADJUSTED_LAST`` ...
        use_rth: Regular trading hours only.
    """

    symbol: str
    end: datetime
    duration: str
    bar_size: str
    what_to_show: str
    use_rth: bool


HistoricalProvider = Mapping[str, pd.DataFrame] | Callable[[HistoricalQuery], pd.DataFrame]


def parse_end(text: str, now: datetime) -> datetime:
    """Parse an IB endDateTime: empty (now), ``yyyymmdd hh:mm:ss [tz]``, ``yyyymmdd-hh:mm:ss``.

    A time without a zone is read as UTC (a real gateway uses its login time zone).
    """
    text = text.strip()
    if not text:
        return now
    if "-" in text and " " not in text:  # 20240102-15:00:00 is UTC
        return datetime.strptime(text, "%Y%m%d-%H:%M:%S").replace(tzinfo=UTC)
    parts = text.split()
    if len(parts) == 1:
        return datetime.strptime(parts[0], "%Y%m%d").replace(tzinfo=UTC)
    moment = datetime.strptime(parts[0] + parts[1], "%Y%m%d%H:%M:%S")
    zone = ZoneInfo(parts[2]) if len(parts) > 2 else UTC
    return moment.replace(tzinfo=zone).astimezone(UTC)


def duration_start(end: datetime, duration: str) -> datetime:
    """Start of the window ``duration`` before ``end`` (calendar units: S, D, W, M, Y)."""
    match = _DURATION.match(duration)
    if not match:
        raise ValueError(f"duration {duration!r} is not like '30 D' (units S, D, W, M, Y)")
    count, unit = int(match.group(1)), match.group(2).upper()
    stamp = pd.Timestamp(end)
    if unit == "S":
        return end - timedelta(seconds=count)
    if unit == "D":
        return end - timedelta(days=count)
    if unit == "W":
        return end - timedelta(weeks=count)
    if unit == "M":
        return (stamp - pd.DateOffset(months=count)).to_pydatetime()
    return (stamp - pd.DateOffset(years=count)).to_pydatetime()


def bar_rule(bar_size: str) -> tuple[str, str]:
    """Map an IB bar size to (kind, pandas rule): kind is intraday, day, week or month."""
    match = _BAR_SIZE.match(bar_size)
    if not match:
        raise ValueError(f"bar size {bar_size!r} is not like '1 day' or '5 mins'")
    count, unit = int(match.group(1)), match.group(2).lower().rstrip("s")
    if unit in _INTRADAY_UNITS:
        return "intraday", f"{count}{_INTRADAY_UNITS[unit]}"
    if unit == "day":
        return "day", f"{count}D"
    if unit == "week":
        return "week", "W-MON"
    return "month", "MS"


def select_bars(frame: pd.DataFrame, query: HistoricalQuery) -> pd.DataFrame:
    """Bars with ``end - duration < timestamp <= end``, resampled up to the bar size."""
    start = duration_start(query.end, query.duration)
    index = pd.DatetimeIndex(frame.index)
    if index.tz is None:
        index = index.tz_localize("UTC")
    frame = frame.set_axis(index.tz_convert("UTC")).sort_index()
    window = frame[(frame.index > pd.Timestamp(start)) & (frame.index <= pd.Timestamp(query.end))]
    kind, rule = bar_rule(query.bar_size)
    if len(window) < 2:
        return window
    spacing = pd.Series(window.index).diff().median()
    target = pd.Timedelta(rule) if kind in {"intraday", "day"} else pd.Timedelta(days=7)
    if spacing >= target:
        return window
    aggregation = {"open": "first", "high": "max", "low": "min", "close": "last"}
    if "volume" in window.columns:
        aggregation["volume"] = "sum"
    resampled = window.resample(rule, label="left", closed="left").agg(aggregation)
    return resampled.dropna(subset=["open", "close"])


def format_bar_time(stamp: pd.Timestamp, kind: str, format_date: int) -> str:
    """Bar date as TWS sends it: ``yyyymmdd`` for daily and longer bars; intraday bars as
    ``yyyymmdd hh:mm:ss UTC`` (formatDate=1) or epoch seconds (formatDate=2)."""
    if kind != "intraday":
        return stamp.strftime("%Y%m%d")
    if format_date == 2:
        return str(int(stamp.timestamp()))
    return stamp.tz_convert("UTC").strftime("%Y%m%d %H:%M:%S UTC")


def bar_rows(frame: pd.DataFrame, kind: str, format_date: int) -> list[tuple]:
    """Rows of (date, open, high, low, close, volume, wap, count) for the historicalData reply."""
    rows = []
    for stamp, bar in frame.iterrows():
        high, low, close = float(bar["high"]), float(bar["low"]), float(bar["close"])
        volume = float(bar["volume"]) if "volume" in bar.index else 0.0
        if "wap" in bar.index:
            wap = float(bar["wap"])
        else:
            wap = round((high + low + close) / 3.0, 6)
        count = int(bar["count"]) if "count" in bar.index else 0
        rows.append(
            (
                format_bar_time(pd.Timestamp(stamp), kind, format_date),
                float(bar["open"]),
                high,
                low,
                close,
                volume,
                wap,
                count,
            )
        )
    return rows
