"""Repair of bars: the safe, recorded fixes for the problems :mod:`tradelab.data.quality` finds."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from tradelab.data._checks import PRICE_COLUMNS, Locator, find_gaps, fmt, fmt_ts
from tradelab.data.bars import BAR_COLUMNS, BarSize, parse_bar_size, to_canonical

__all__ = ["RepairChange", "repair"]


@dataclass(frozen=True, kw_only=True, slots=True)
class RepairChange:
    """One change made (or, for ``unrepaired_gap``, deliberately not made) by :func:`repair`.

    Attributes:
        row: The row, numbered as in :class:`QualityIssue`.
        timestamp: The bar's timestamp (UTC).
        action: ``drop_nan``, ``drop_non_positive``, ``sort``, ``drop_duplicate``,
            ``widen_high``, ``widen_low``, ``clip_volume``, or ``unrepaired_gap`` (a gap
            that is reported but not filled; the data is unchanged).
        detail: A complete sentence saying where and what.
        line: The physical line in the source file, when known.
    """

    row: int
    timestamp: pd.Timestamp
    action: str
    detail: str
    line: int | None = field(default=None)

    @property
    def changed_data(self) -> bool:
        """False for records of problems left as they are (``unrepaired_*``)."""
        return not self.action.startswith("unrepaired")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict."""
        return {
            "row": self.row,
            "line": self.line,
            "timestamp": self.timestamp.isoformat(),
            "action": self.action,
            "detail": self.detail,
        }

    def __str__(self) -> str:
        return self.detail


def repair(
    bars: pd.DataFrame,
    *,
    bar_size: str | BarSize = "1d",
    source_name: str | None = None,
    line_numbers: Sequence[int] | None = None,
) -> tuple[pd.DataFrame, list[RepairChange]]:
    """Repair what can be repaired safely, and record every change.

    In order: drop rows with a NaN in any column; drop rows with a price <= 0; sort by time
    (stable); drop duplicate timestamps keeping the last row in file order; widen high/low to
    cover open and close; clip negative volume to 0. Gaps are not filled: each remaining gap is
    recorded with action ``unrepaired_gap``.

    Args:
        bars: Raw bars (as for :func:`check_quality`).
        bar_size: The bar size, for the gap rule.
        source_name: The file the bars came from; rows are then 1-based (as in the checks).
        line_numbers: The physical line of each row in that file.

    Returns:
        ``(canonical bars, changes)``; the changes are in the order they were applied.
    """
    size = parse_bar_size(bar_size)
    frame = to_canonical(bars, drop_extra=True, check_order=False)
    n = len(frame)
    loc = Locator(n, source_name, line_numbers)
    index, intraday = frame.index, size.is_intraday
    ts = index.asi8
    cols = {c: frame[c].to_numpy().copy() for c in BAR_COLUMNS}
    changes: list[RepairChange] = []

    def record(pos: int, action: str, text: str) -> None:
        changes.append(
            RepairChange(
                row=loc.row(pos),
                timestamp=index[pos],
                action=action,
                detail=f"{loc.where(pos, index[pos], intraday)}: {text}",
                line=loc.line(pos),
            )
        )

    nan_mask = np.zeros(n, dtype=bool)
    for column in BAR_COLUMNS:
        nan_mask |= np.isnan(cols[column])
    for pos in np.flatnonzero(nan_mask):
        missing = [c for c in BAR_COLUMNS if np.isnan(cols[c][pos])]
        record(pos, "drop_nan", f"dropped the row ({', '.join(missing)} missing)")
    bad_price = np.zeros(n, dtype=bool)
    for column in PRICE_COLUMNS:
        bad_price |= cols[column] <= 0
    bad_price &= ~nan_mask
    for pos in np.flatnonzero(bad_price):
        values = ", ".join(f"{c} {fmt(cols[c][pos])}" for c in PRICE_COLUMNS if cols[c][pos] <= 0)
        record(pos, "drop_non_positive", f"dropped the row (non-positive price: {values})")

    kept = np.flatnonzero(~(nan_mask | bad_price))
    kept_ts = ts[kept]
    late = np.flatnonzero(kept_ts[1:] < kept_ts[:-1]) + 1
    for i in late:
        record(
            kept[i],
            "sort",
            f"moved into time order (it came after {fmt_ts(index[kept[i - 1]], intraday)})",
        )
    kept = kept[np.argsort(kept_ts, kind="stable")]
    kept_ts = ts[kept]
    is_last = np.r_[kept_ts[1:] != kept_ts[:-1], True] if len(kept) else np.zeros(0, dtype=bool)
    for i in np.flatnonzero(~is_last):
        winner = kept[np.searchsorted(kept_ts, kept_ts[i], side="right") - 1]
        record(
            kept[i],
            "drop_duplicate",
            f"dropped duplicate timestamp "
            f"{fmt_ts(index[kept[i]], intraday)} (kept the later row {loc.row(winner)})",
        )
    kept = kept[is_last]

    o, h, low, c, v = (cols[k] for k in BAR_COLUMNS)
    for pos in kept:
        top, bottom = max(o[pos], c[pos]), min(o[pos], c[pos])
        if h[pos] < top:
            record(
                pos, "widen_high", f"high {fmt(h[pos])} raised to {fmt(top)} (max of open, close)"
            )
            h[pos] = top
        if low[pos] > bottom:
            record(
                pos,
                "widen_low",
                f"low {fmt(low[pos])} lowered to {fmt(bottom)} (min of open, close)",
            )
            low[pos] = bottom
        if v[pos] < 0:
            record(pos, "clip_volume", f"volume {fmt(v[pos])} clipped to 0.0")
            v[pos] = 0.0

    for after, _count, text, _bars in find_gaps(ts[kept], size):
        record(kept[after], "unrepaired_gap", f"{text}; gaps are not filled")

    out = pd.DataFrame(
        {column: cols[column][kept] for column in BAR_COLUMNS},
        index=pd.DatetimeIndex(index[kept], name="timestamp"),
    )
    return to_canonical(out), changes
