"""Plain-text tables and number formatting for the command line."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["format_metric", "format_number", "render_table"]


def format_number(value: Any, *, digits: int = 4) -> str:
    """Numbers compactly: NaN/None as ``n/a``, large values with thousands separators."""
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value):
            return "n/a"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        if abs(value) >= 10_000:
            return f"{value:,.2f}"
        return f"{value:.{digits}g}" if abs(value) < 1e-3 and value else f"{value:.{digits}f}"
    return str(value)


def format_metric(value: Any, unit: str) -> str:
    """A metric value in its unit: fractions as percentages, money with cents, counts whole."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if unit == "fraction":
        return f"{value:.2%}"
    if unit == "currency":
        return f"{value:,.2f}"
    if unit in {"count", "bars", "days"}:
        return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"
    return f"{value:.3f}"


def render_table(headers: Sequence[str], rows: Iterable[Sequence[Any]], *,
                 align: str | None = None, title: str | None = None) -> str:
    """Render rows as an aligned table with a header rule.

    ``align`` is one character per column (``l`` or ``r``); numbers default to right.
    """
    text_rows = [[c if isinstance(c, str) else format_number(c) for c in row] for row in rows]
    raw_rows = list(rows) if not isinstance(rows, list) else rows
    widths = [len(h) for h in headers]
    for row in text_rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    if align is None:
        align = "".join(
            "r" if raw_rows and all(isinstance(r[i], int | float) or r[i] is None
                                    for r in raw_rows) else "l"
            for i in range(len(headers))
        )

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.rjust(w) if a == "r" else c.ljust(w)
                         for c, w, a in zip(cells, widths, align, strict=False)).rstrip()

    out = []
    if title:
        out.append(title)
    out.append(line(list(headers)))
    out.append("  ".join("-" * w for w in widths))
    out.extend(line(row) for row in text_rows)
    return "\n".join(out)
