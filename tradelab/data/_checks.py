"""Private helpers shared by the quality checks and the repair: row labels and gap finding."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from tradelab.data.bars import BarSize
from tradelab.errors import ConfigError

SESSION_TZ = "America/New_York"
"""Session days of intraday bars are taken in this zone."""

PRICE_COLUMNS = ("open", "high", "low", "close")
_NS_PER_DAY = 86_400 * 10**9
_SESSION_MINUTES = 390  # 09:30-16:00


class Locator:
    """Turns positions into row labels, line numbers and message prefixes."""

    def __init__(self, n: int, source_name: str | None, line_numbers: Sequence[int] | None) -> None:
        self.source_name = source_name
        self.base = 1 if source_name else 0
        if line_numbers is not None and len(line_numbers) != n:
            raise ConfigError(
                f"line_numbers has {len(line_numbers)} entries for {n} rows; pass one line "
                "number per row (or None)."
            )
        self.lines = None if line_numbers is None else [int(x) for x in line_numbers]

    def row(self, pos: int) -> int:
        return int(pos) + self.base

    def line(self, pos: int) -> int | None:
        return None if self.lines is None else self.lines[int(pos)]

    def where(self, pos: int, stamp: pd.Timestamp, intraday: bool) -> str:
        row = self.row(pos)
        if self.source_name:
            line = self.line(pos)
            if line is not None:
                return f"{self.source_name} line {line} (row {row})"
            return f"{self.source_name} row {row}"
        return f"row {row} ({fmt_ts(stamp, intraday)})"


def fmt(x: float) -> str:
    return repr(float(x))


def fmt_ts(stamp: pd.Timestamp, intraday: bool) -> str:
    return str(stamp) if intraday else stamp.strftime("%Y-%m-%d")


def find_gaps(
    ts: np.ndarray, size: BarSize, calendar: str | None = None
) -> list[tuple[int, int, str, int]]:
    """Gaps in sorted unique int64-ns timestamps.

    Args:
        ts: Sorted unique int64-ns UTC timestamps.
        size: The bar size.
        calendar: An exchange calendar (``"XNYS"``): session days are compared with its
            sessions (every missing session is a gap, holidays and closures never are) and a
            missing intraday session counts its own number of bars (fewer on a half day).
            ``None``: the Monday–Friday rule.

    Returns:
        ``(index of the bar after the gap, missing count in the message's unit, message,
        missing bars)`` per gap; a missing intraday session counts as a full session of bars.
    """
    if len(ts) < 2:
        return []
    gaps: list[tuple[int, int, str, int]] = []
    if not size.is_intraday:
        days = (ts // _NS_PER_DAY).astype("datetime64[D]")
        if size.timedelta.days >= 7:
            weeks = days - ((days.astype(np.int64) + 3) % 7).astype("timedelta64[D]")  # Mondays
            missing = (np.diff(weeks).astype(np.int64) // 7) - 1
            for i in np.flatnonzero(missing >= 1):
                gaps.append(
                    (
                        i + 1,
                        int(missing[i]),
                        _gap_text(days[i], days[i + 1], missing[i], unit="week"),
                        int(missing[i]),
                    )
                )
            return gaps
        if calendar is not None:
            return _calendar_gaps(days, np.arange(len(days)), size, calendar)
        return _session_gaps(days, np.arange(len(days)), bars_per_day=1)

    local = pd.DatetimeIndex(pd.to_datetime(ts, unit="ns", utc=True)).tz_convert(SESSION_TZ)
    local_days = local.normalize().tz_localize(None).to_numpy().astype("datetime64[D]")
    step = int(size.timedelta.total_seconds() * 10**9)
    same_day = local_days[1:] == local_days[:-1]
    missing = np.diff(ts) // step - 1
    for i in np.flatnonzero(same_day & (missing >= 1)):
        a = local[i].strftime("%H:%M")
        b = local[i + 1].strftime("%H:%M")
        gaps.append(
            (
                i + 1,
                int(missing[i]),
                f"gap: {int(missing[i])} {size.text} bar(s) missing between {a} and {b} "
                f"{SESSION_TZ} on {local_days[i]}",
                int(missing[i]),
            )
        )
    starts = np.r_[0, np.flatnonzero(~same_day) + 1]
    if calendar is not None:
        gaps.extend(_calendar_gaps(local_days[starts], starts, size, calendar))
    else:
        bars_per_day = math.ceil(_SESSION_MINUTES / size.minutes)
        gaps.extend(_session_gaps(local_days[starts], starts, bars_per_day=bars_per_day))
    gaps.sort(key=lambda g: g[0])
    return gaps


def _session_gaps(
    days: np.ndarray, positions: np.ndarray, *, bars_per_day: int
) -> list[tuple[int, int, str, int]]:
    """Daily rule: more than one business day missing between consecutive session days."""
    if len(days) < 2:
        return []
    missing = np.busday_count(days[:-1] + np.timedelta64(1, "D"), days[1:])
    return [
        (
            int(positions[i + 1]),
            int(missing[i]),
            _gap_text(days[i], days[i + 1], missing[i]),
            int(missing[i]) * bars_per_day,
        )
        for i in np.flatnonzero(missing > 1)
    ]


def _calendar_gaps(
    days: np.ndarray, positions: np.ndarray, size: BarSize, calendar: str
) -> list[tuple[int, int, str, int]]:
    """Calendar rule: any session of ``calendar`` missing between consecutive session days."""
    if len(days) < 2:
        return []
    from tradelab.calendar import market_calendar

    sessions = market_calendar(calendar).sessions(str(days[0]), str(days[-1]))
    session_days = np.array([s.day for s in sessions], dtype="datetime64[D]")
    if size.is_intraday:
        step = size.timedelta.total_seconds()
        bars = np.array(
            [math.ceil((s.close - s.open).total_seconds() / step) for s in sessions],
            dtype=np.int64,
        )
    else:
        bars = np.ones(len(sessions), dtype=np.int64)
    cumulative = np.r_[0, np.cumsum(bars)]
    after_first = np.searchsorted(session_days, days[:-1], side="right")
    before_next = np.searchsorted(session_days, days[1:], side="left")
    missing = before_next - after_first
    return [
        (
            int(positions[i + 1]),
            int(missing[i]),
            f"gap: {int(missing[i])} {calendar} session(s) missing between {days[i]} and "
            f"{days[i + 1]}",
            int(cumulative[before_next[i]] - cumulative[after_first[i]]),
        )
        for i in np.flatnonzero(missing > 0)
    ]


def _gap_text(a: np.datetime64, b: np.datetime64, missing: int, *, unit: str = "day") -> str:
    what = "business days" if unit == "day" else "weeks"
    return f"gap: {int(missing)} {what} missing between {a} and {b}" + (
        " (Mon–Fri calendar; a single missing day is taken as a holiday)" if unit == "day" else ""
    )
