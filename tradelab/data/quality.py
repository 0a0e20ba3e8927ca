"""Quality checks on bars, a score, and a conservative repair.

:func:`check_quality` looks for these problems (``kind`` of a :class:`QualityIssue`):

===================== ======== ======================================================== ======
kind                  severity  what                                                    weight
===================== ======== ======================================================== ======
``nan``               error    a missing (NaN) value in any column                      1.0
``duplicate``         error    a timestamp that already appeared in an earlier row      1.0
``unsorted``          error    a timestamp earlier than the previous row's              1.0
``ohlc``              error    high < max(open, close), low > min(open, close) or       1.0
                               high < low
``non_positive_price`` error   open, high, low or close <= 0                            1.0
``negative_volume``   error    volume < 0                                               1.0
``zero_volume``       warning  volume == 0                                              0.25
``gap``               warning  missing bars (rule below)                                0.5
===================== ======== ======================================================== ======

Errors block an import; warnings do not.

**Gap rule.** Daily bars are compared with a Monday–Friday business-day calendar without
holidays. A gap is reported only when *more than one* business day is missing between two bars,
so a single market holiday (Good Friday, a Monday holiday) is not a gap, while two or more missing
days are (this also flags real two-day closures such as Hurricane Sandy in 2012 — as warnings).
Weekly bars report any missing week. Intraday bars report any missing bar between two bars of the
same session day (days taken in ``America/New_York``), plus missing session days by the daily rule;
bars missing before the first or after the last bar of a day are not counted (so a half day's
early close is never a gap).

**With an exchange calendar** (``check_quality(..., calendar="XNYS")``), daily and intraday
session days are compared with the exchange's sessions instead: every missing *session* is a gap
(one missing session too), while holidays and closures such as Hurricane Sandy (two days in 2012)
never are; a missing intraday session counts its own number of bars (fewer on a half day).

**Score.** ``score = max(0, 1 - sum(weight[kind] * fraction[kind]))`` where ``fraction`` is the
share of rows affected by that kind (a row with several problems of one kind counts once). For gaps
the fraction is ``missing bars / (rows + missing bars)``, a missing intraday session counting as
a full session of bars. 1.0 means clean.

**Rows.** A :class:`QualityIssue`'s ``row`` is the 1-based data row of the file when
``source_name`` is given (the file the bars came from), otherwise the 0-based position in the frame.
Importers also pass the physical line numbers, reported as ``line``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from tradelab.data._checks import PRICE_COLUMNS, Locator, find_gaps, fmt, fmt_ts
from tradelab.data._repair import RepairChange, repair
from tradelab.data.bars import BAR_COLUMNS, BarSize, parse_bar_size, to_canonical

__all__ = [
    "ERROR_KINDS",
    "SCORE_WEIGHTS",
    "WARNING_KINDS",
    "IssueKind",
    "QualityIssue",
    "QualityReport",
    "RepairChange",
    "check_quality",
    "repair",
]


class IssueKind(StrEnum):
    """The kinds of quality issue (compare equal to their string values)."""

    NAN = "nan"
    DUPLICATE = "duplicate"
    UNSORTED = "unsorted"
    OHLC = "ohlc"
    NON_POSITIVE_PRICE = "non_positive_price"
    NEGATIVE_VOLUME = "negative_volume"
    ZERO_VOLUME = "zero_volume"
    GAP = "gap"


ERROR_KINDS: frozenset[IssueKind] = frozenset(
    {
        IssueKind.NAN,
        IssueKind.DUPLICATE,
        IssueKind.UNSORTED,
        IssueKind.OHLC,
        IssueKind.NON_POSITIVE_PRICE,
        IssueKind.NEGATIVE_VOLUME,
    }
)
"""Issue kinds that block an import."""

WARNING_KINDS: frozenset[IssueKind] = frozenset({IssueKind.GAP, IssueKind.ZERO_VOLUME})
"""Issue kinds reported but accepted."""

SCORE_WEIGHTS: Mapping[IssueKind, float] = MappingProxyType(
    {
        IssueKind.NAN: 1.0,
        IssueKind.DUPLICATE: 1.0,
        IssueKind.UNSORTED: 1.0,
        IssueKind.OHLC: 1.0,
        IssueKind.NON_POSITIVE_PRICE: 1.0,
        IssueKind.NEGATIVE_VOLUME: 1.0,
        IssueKind.ZERO_VOLUME: 0.25,
        IssueKind.GAP: 0.5,
    }
)
"""Weight of each kind in the score (see the module docstring)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class QualityIssue:
    """One problem found in the bars.

    Attributes:
        kind: What is wrong (an :class:`IssueKind`).
        row: The 1-based data row of the source file when the check was given a
            ``source_name``, else the 0-based position in the frame.
        timestamp: The bar's timestamp (UTC).
        column: The column concerned, or ``None`` (e.g. for duplicates and gaps).
        value: The offending value (for gaps: the number of missing bars), or ``None``.
        message: A complete sentence saying where and what, e.g.
            ``"prices.csv line 5 (row 4): high 99.0 < max(open, close) 101.0"``.
        line: The physical line in the source file (header = line 1), when known.
    """

    kind: IssueKind
    row: int
    timestamp: pd.Timestamp
    column: str | None
    value: float | None
    message: str
    line: int | None = None

    @property
    def is_error(self) -> bool:
        """True when this kind blocks an import."""
        return self.kind in ERROR_KINDS

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict."""
        return {
            "kind": str(self.kind),
            "row": self.row,
            "line": self.line,
            "timestamp": self.timestamp.isoformat(),
            "column": self.column,
            "value": self.value,
            "message": self.message,
        }

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True, kw_only=True, slots=True)
class QualityReport:
    """The result of :func:`check_quality`.

    Attributes:
        issues: Every issue, by row (then by kind, in the order of :class:`IssueKind`).
        score: 0–1, 1.0 = clean (see the module docstring for the weights).
        rows: Number of rows checked.
    """

    issues: tuple[QualityIssue, ...]
    score: float
    rows: int

    @property
    def errors(self) -> tuple[QualityIssue, ...]:
        """Issues that block an import (duplicates, unsorted, OHLC, price <= 0, NaN, volume < 0)."""
        return tuple(i for i in self.issues if i.kind in ERROR_KINDS)

    @property
    def warnings(self) -> tuple[QualityIssue, ...]:
        """Issues reported but accepted (gaps, zero volume)."""
        return tuple(i for i in self.issues if i.kind in WARNING_KINDS)

    @property
    def ok(self) -> bool:
        """True when there are no errors (warnings allowed)."""
        return not any(i.kind in ERROR_KINDS for i in self.issues)

    def counts(self) -> dict[str, int]:
        """Number of issues per kind (only kinds that occur)."""
        out: dict[str, int] = {}
        for issue in self.issues:
            out[str(issue.kind)] = out.get(str(issue.kind), 0) + 1
        return out

    def summary(self, *, limit: int = 10, errors_only: bool = False) -> str:
        """One line per issue, at most ``limit`` of them, then ``"… and N more"``."""
        chosen = self.errors if errors_only else self.issues
        lines = [f"  - {issue.message}" for issue in chosen[:limit]]
        if len(chosen) > limit:
            lines.append(f"  … and {len(chosen) - limit} more")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict."""
        return {
            "score": self.score,
            "rows": self.rows,
            "ok": self.ok,
            "counts": self.counts(),
            "issues": [i.to_dict() for i in self.issues],
        }


def check_quality(
    bars: pd.DataFrame,
    *,
    bar_size: str | BarSize = "1d",
    source_name: str | None = None,
    line_numbers: Sequence[int] | None = None,
    calendar: str | None = None,
) -> QualityReport:
    """Check bars for the problems listed in the module docstring.

    The bars may be raw (unsorted, with duplicates or NaN); only their types are coerced.

    Args:
        bars: Bars with a DatetimeIndex (or ``timestamp`` column) and the five bar columns.
        bar_size: The bar size, for the gap rule.
        source_name: The file the bars were read from (e.g. ``"prices.csv"``). When given,
            rows are reported 1-based and messages start with the file name.
        line_numbers: The physical line of each row in that file (importers pass this).
        calendar: An exchange calendar (``"XNYS"``) for the gap rule (see the module docstring);
            ``None`` uses the Monday–Friday rule.

    Returns:
        The report; ``report.ok`` is False when any error was found.

    Example:
        >>> from tradelab.data.synthetic import generate_bars
        >>> bars = generate_bars("DEMO", start="2024-01-01", end="2024-03-31", seed=1)
        >>> check_quality(bars).ok
        True
    """
    size = parse_bar_size(bar_size)
    frame = to_canonical(bars, drop_extra=True, check_order=False)
    n = len(frame)
    loc = Locator(n, source_name, line_numbers)
    index = frame.index
    intraday = size.is_intraday
    ts = index.asi8
    cols = {c: frame[c].to_numpy() for c in BAR_COLUMNS}
    issues: list[QualityIssue] = []
    affected: dict[IssueKind, np.ndarray] = {}

    def add(kind: IssueKind, pos: int, column: str | None, value: float | None, text: str) -> None:
        issues.append(
            QualityIssue(
                kind=kind,
                row=loc.row(pos),
                timestamp=index[pos],
                column=column,
                value=None if value is None else float(value),
                message=f"{loc.where(pos, index[pos], intraday)}: {text}",
                line=loc.line(pos),
            )
        )

    nan_any = np.zeros(n, dtype=bool)
    for column in BAR_COLUMNS:
        mask = np.isnan(cols[column])
        nan_any |= mask
        for pos in np.flatnonzero(mask):
            add(IssueKind.NAN, pos, column, None, f"{column} is missing (NaN)")
    affected[IssueKind.NAN] = nan_any

    dup = index.duplicated(keep="first")
    if dup.any():
        uniq, first = np.unique(ts, return_index=True)
        for pos in np.flatnonzero(dup):
            first_pos = int(first[np.searchsorted(uniq, ts[pos])])
            add(
                IssueKind.DUPLICATE,
                pos,
                None,
                None,
                f"duplicate timestamp {fmt_ts(index[pos], intraday)} "
                f"(same as row {loc.row(first_pos)})",
            )
    affected[IssueKind.DUPLICATE] = np.asarray(dup)

    unsorted = np.zeros(n, dtype=bool)
    if n > 1:
        unsorted[1:] = ts[1:] < ts[:-1]
    for pos in np.flatnonzero(unsorted):
        add(
            IssueKind.UNSORTED,
            pos,
            None,
            None,
            f"timestamp {fmt_ts(index[pos], intraday)} is earlier than the previous row's "
            f"{fmt_ts(index[pos - 1], intraday)} (rows must be in time order)",
        )
    affected[IssueKind.UNSORTED] = unsorted

    o, h, low, c, v = (cols[k] for k in BAR_COLUMNS)
    top, bottom = np.maximum(o, c), np.minimum(o, c)
    high_bad, low_bad, cross = h < top, low > bottom, h < low
    for pos in np.flatnonzero(high_bad | low_bad | cross):
        if high_bad[pos]:
            add(
                IssueKind.OHLC,
                pos,
                "high",
                h[pos],
                f"high {fmt(h[pos])} < max(open, close) {fmt(top[pos])}",
            )
        if low_bad[pos]:
            add(
                IssueKind.OHLC,
                pos,
                "low",
                low[pos],
                f"low {fmt(low[pos])} > min(open, close) {fmt(bottom[pos])}",
            )
        if cross[pos]:
            add(IssueKind.OHLC, pos, "high", h[pos], f"high {fmt(h[pos])} < low {fmt(low[pos])}")
    affected[IssueKind.OHLC] = high_bad | low_bad | cross

    non_positive = np.zeros(n, dtype=bool)
    for column in PRICE_COLUMNS:
        mask = cols[column] <= 0
        non_positive |= mask
        for pos in np.flatnonzero(mask):
            add(
                IssueKind.NON_POSITIVE_PRICE,
                pos,
                column,
                cols[column][pos],
                f"{column} {fmt(cols[column][pos])} is not positive",
            )
    affected[IssueKind.NON_POSITIVE_PRICE] = non_positive

    negative = v < 0
    for pos in np.flatnonzero(negative):
        add(IssueKind.NEGATIVE_VOLUME, pos, "volume", v[pos], f"volume {fmt(v[pos])} is negative")
    affected[IssueKind.NEGATIVE_VOLUME] = negative

    zero = v == 0
    for pos in np.flatnonzero(zero):
        add(IssueKind.ZERO_VOLUME, pos, "volume", 0.0, "volume is 0")
    affected[IssueKind.ZERO_VOLUME] = zero

    uniq_ts, first_pos = np.unique(ts, return_index=True)
    missing_total = 0
    for after, count, text, missing_bars in find_gaps(uniq_ts, size, calendar):
        pos = int(first_pos[after])
        missing_total += missing_bars
        add(IssueKind.GAP, pos, None, count, text)

    penalty = 0.0
    if n:
        for kind, mask in affected.items():
            penalty += SCORE_WEIGHTS[kind] * float(np.count_nonzero(mask)) / n
        penalty += SCORE_WEIGHTS[IssueKind.GAP] * missing_total / (len(uniq_ts) + missing_total)
    order = {kind: i for i, kind in enumerate(IssueKind)}
    issues.sort(key=lambda i: (i.row, order[i.kind]))
    return QualityReport(issues=tuple(issues), score=max(0.0, 1.0 - penalty), rows=n)
