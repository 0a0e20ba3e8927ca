"""Walk-forward window schemes: rolling and anchored train/test windows with exact boundaries.

A window is a train period followed at once by its test period, both inclusive calendar dates::

    rolling  (train 1y, test 6m, step 6m):  [2016-01-01 .. 2016-12-31] -> [2017-01-01 .. 2017-06-30]
                                            [2016-07-01 .. 2017-06-30] -> [2017-07-01 .. 2017-12-31]
    anchored (the train start never moves): [2016-01-01 .. 2016-12-31] -> [2017-01-01 .. 2017-06-30]
                                            [2016-01-01 .. 2017-06-30] -> [2017-07-01 .. 2017-12-31]

Every boundary is computed from the scheme's origin (``origin + train + k * step``, the months
added in one step), never by adding to the previous boundary, so month ends cannot drift.
The test period starts the day after the train period ends: a window's train and test data never
overlap and every test bar lies after every train bar (no look-ahead). Only windows whose whole
test period fits before the data's end are made. With ``step == test`` (the default) the test
periods tile the range after the first train period without gaps or overlap, so their
out-of-sample returns stitch into one continuous series.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd

from tradelab.data.synthetic import _to_day
from tradelab.errors import ConfigError

__all__ = ["Period", "WalkForwardWindow", "parse_period", "walk_forward_windows", "window_rows"]

_PERIOD = re.compile(r"^\s*(\d+)\s*([dwmy])\s*$", re.IGNORECASE)
_UNITS = {"d": "days", "w": "weeks", "m": "months", "y": "years"}


@dataclass(frozen=True, slots=True)
class Period:
    """A calendar length: ``count`` days, weeks, months or years (``"3y"``, ``"6m"``)."""

    count: int
    unit: str  # d, w, m or y

    @property
    def text(self) -> str:
        return f"{self.count}{self.unit}"

    @property
    def months(self) -> int:
        """Calendar months in this length (0 for days and weeks)."""
        return {"y": 12, "m": 1}.get(self.unit, 0) * self.count

    @property
    def days(self) -> int:
        """Days in this length (0 for months and years)."""
        return {"w": 7, "d": 1}.get(self.unit, 0) * self.count

    def __str__(self) -> str:
        return self.text


def parse_period(value: str | Period, *, what: str = "period") -> Period:
    """Read ``"3y"``, ``"6m"``, ``"26w"`` or ``"90d"`` as a :class:`Period`.

    Raises:
        ConfigError: not a positive whole number followed by d, w, m or y.

    Example:
        >>> parse_period("18m")
        Period(count=18, unit='m')
    """
    if isinstance(value, Period):
        return value
    match = _PERIOD.match(str(value)) if isinstance(value, str) else None
    if match is None or int(match.group(1)) < 1:
        raise ConfigError(
            f"{what} must be a positive whole number of days, weeks, months or years such as "
            f"'3y', '6m', '26w' or '90d'; got {value!r}."
        )
    return Period(int(match.group(1)), match.group(2).lower())


@dataclass(frozen=True, kw_only=True, slots=True)
class WalkForwardWindow:
    """One walk-forward window; every date is inclusive (``train_end + 1 day == test_start``).

    Attributes:
        index: 0-based position of the window in its scheme.
        train_start, train_end: the in-sample period the parameters are optimized on.
        test_start, test_end: the out-of-sample period the chosen parameters are tested on.
    """

    index: int
    train_start: date
    train_end: date
    test_start: date
    test_end: date

    def __post_init__(self) -> None:
        if not self.train_start <= self.train_end < self.test_start <= self.test_end:
            raise ConfigError(
                f"window {self.index}: dates must satisfy train_start <= train_end < test_start "
                f"<= test_end; got {self.train_start}, {self.train_end}, {self.test_start}, "
                f"{self.test_end}."
            )

    def to_dict(self) -> dict[str, Any]:
        """ISO dates keyed as in MLflow (``window``, ``train_start`` … ``test_end``)."""
        return {
            "window": self.index,
            "train_start": self.train_start.isoformat(),
            "train_end": self.train_end.isoformat(),
            "test_start": self.test_start.isoformat(),
            "test_end": self.test_end.isoformat(),
        }


def walk_forward_windows(
    start: str | date | pd.Timestamp,
    end: str | date | pd.Timestamp,
    *,
    train: str | Period,
    test: str | Period,
    step: str | Period | None = None,
    anchored: bool = False,
) -> list[WalkForwardWindow]:
    """The windows of a rolling (or anchored) scheme over the inclusive range ``start..end``.

    Window ``k`` (``k = 0, 1, …``) of a rolling scheme trains on
    ``[start + k*step, start + k*step + train)`` and tests on the ``test`` period right after;
    an anchored scheme trains on ``[start, start + train + k*step)``. Windows are made while the
    whole test period ends on or before ``end``.

    Args:
        start, end: the first and last date of the data (inclusive).
        train, test: the train and test lengths (``"3y"``, ``"6m"`` …).
        step: how far each window moves (default: ``test``). Must be at least ``test``:
            overlapping test periods could not be stitched into one out-of-sample series.
        anchored: keep every window's train start at ``start`` (an expanding train period).

    Raises:
        ConfigError: bad lengths, ``step`` shorter than ``test``, or no whole window fits.

    Example:
        >>> [w.test_start.isoformat() for w in walk_forward_windows(
        ...     "2016-01-01", "2018-12-31", train="1y", test="6m")]
        ['2017-01-01', '2017-07-01', '2018-01-01', '2018-07-01']
    """
    train_period = parse_period(train, what="train")
    test_period = parse_period(test, what="test")
    step_period = test_period if step is None else parse_period(step, what="step")
    first, last = _day(start, "start"), _day(end, "end")
    if last < first:
        raise ConfigError(f"end {last} is before start {first}; give an end after the start.")
    origin = pd.Timestamp(first)
    if _shift(origin, (step_period, 1)) < _shift(origin, (test_period, 1)):
        raise ConfigError(
            f"step {step_period} is shorter than test {test_period}: test periods would overlap "
            "and could not be stitched into one out-of-sample series; use a step of at least "
            "the test length (the default is the test length)."
        )
    windows: list[WalkForwardWindow] = []
    for k in range(100_000):
        moved = (step_period, k)
        train_start = origin if anchored else _shift(origin, moved)
        test_start = _shift(origin, (train_period, 1), moved)
        test_stop = _shift(origin, (train_period, 1), moved, (test_period, 1))  # exclusive
        if test_stop.date() - timedelta(days=1) > last:
            break
        windows.append(
            WalkForwardWindow(
                index=k,
                train_start=train_start.date(),
                train_end=test_start.date() - timedelta(days=1),
                test_start=test_start.date(),
                test_end=test_stop.date() - timedelta(days=1),
            )
        )
    if not windows:
        need = _shift(origin, (train_period, 1), (test_period, 1)).date() - timedelta(days=1)
        raise ConfigError(
            f"no whole walk-forward window (train {train_period} + test {test_period}) fits in "
            f"{first} .. {last}: the first would end on {need}. Use shorter train/test periods "
            "or more data."
        )
    return windows


def window_rows(timestamps: np.ndarray, first: date, last: date) -> slice:
    """The rows of sorted int64-ns UTC ``timestamps`` whose UTC date is in ``first..last``.

    Example:
        >>> stamps = pd.date_range("2024-01-01", periods=10, freq="D", tz="UTC")
        >>> window_rows(stamps.as_unit("ns").asi8, date(2024, 1, 3), date(2024, 1, 5))
        slice(2, 5, None)
    """
    lo = pd.Timestamp(first, tz="UTC").value
    hi = pd.Timestamp(last + timedelta(days=1), tz="UTC").value
    stamps = np.asarray(timestamps, dtype=np.int64)
    return slice(
        int(np.searchsorted(stamps, lo, side="left")),
        int(np.searchsorted(stamps, hi, side="left")),
    )


def _shift(origin: pd.Timestamp, *terms: tuple[Period, int]) -> pd.Timestamp:
    """``origin`` plus the sum of ``count * period`` terms, the months added in one step (so
    Jan 31 + 2 months is Mar 31, not Feb 29 + 1 month = Mar 29), then the days."""
    months = sum(period.months * count for period, count in terms)
    days = sum(period.days * count for period, count in terms)
    return origin + pd.DateOffset(months=months) + pd.Timedelta(days=days)


def _day(value: str | date | pd.Timestamp, what: str) -> date:
    # the synthetic generator's date rule: zoned values are taken in UTC
    return _to_day(value, name=what).date()
