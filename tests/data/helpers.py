"""Small builders shared by the data tests (not a test module)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from tradelab.data import BAR_COLUMNS

Row = tuple[str, float, float, float, float, float]


def make_bars(rows: list[Row]) -> pd.DataFrame:
    """Bars from ``(timestamp, open, high, low, close, volume)`` tuples, in the order given."""
    index = pd.DatetimeIndex([r[0] for r in rows], name="timestamp").tz_localize("UTC")
    data = {c: [float(r[i + 1]) for r in rows] for i, c in enumerate(BAR_COLUMNS)}
    return pd.DataFrame(data, index=index.as_unit("ns"), columns=list(BAR_COLUMNS))


def clean_daily(days: int = 5, start: str = "2024-01-01") -> pd.DataFrame:
    """``days`` consecutive business days of consistent bars."""
    stamps = pd.bdate_range(start, periods=days)
    return make_bars(
        [
            (str(d.date()), 100.0 + i, 102.0 + i, 99.0 + i, 101.0 + i, 1000.0 + i)
            for i, d in enumerate(stamps)
        ]
    )


def write(path: Path, text: str) -> Path:
    """Write ``text`` (dedented by the caller) to ``path`` and return the path."""
    path.write_text(text, encoding="utf-8")
    return path


def stored_files(root: Path) -> list[Path]:
    """Every file under a store root except the lock file."""
    if not root.exists():
        return []
    return sorted(p for p in root.rglob("*") if p.is_file() and p.name != ".catalog.lock")
