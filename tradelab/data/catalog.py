"""Catalog entries: what the store holds for one (symbol, bar size), and how to recover it.

Every Parquet file of the store carries its :class:`CatalogEntry` as JSON in the schema metadata
key ``tradelab`` (:data:`METADATA_KEY`), so ``catalog.json`` can always be rebuilt from the files.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from tradelab.data.bars import parse_bar_size
from tradelab.errors import ConfigError, DataError

__all__ = ["METADATA_KEY", "CatalogEntry", "entry_from_file", "normalize_symbol"]

METADATA_KEY = b"tradelab"
"""The Parquet schema metadata key holding a file's catalog entry."""

_SYMBOL_RE = re.compile(r"^[A-Z0-9_][A-Z0-9._-]{0,31}$")


def normalize_symbol(symbol: str) -> str:
    """Upper-case and validate a symbol: letters, digits, ``.``, ``-`` and ``_`` only.

    Raises:
        ConfigError: for anything else (the symbol names a file, so it must be safe as one).

    Example:
        >>> normalize_symbol("brk.b")
        'BRK.B'
    """
    text = symbol.strip().upper() if isinstance(symbol, str) else ""
    if not _SYMBOL_RE.match(text):
        raise ConfigError(
            f"invalid symbol {symbol!r}: use 1-32 letters, digits, '.', '-' or '_', starting "
            "with a letter, digit or '_' (e.g. 'AAPL', 'BRK.B')."
        )
    return text


def _timestamp(value: Any) -> pd.Timestamp:
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


@dataclass(frozen=True, kw_only=True, slots=True)
class CatalogEntry:
    """What the store holds for one (symbol, bar size).

    Attributes:
        symbol: Upper-case symbol.
        bar_size: Bar size text (``"1d"``, ``"5m"`` ...).
        first: Timestamp of the first bar (UTC).
        last: Timestamp of the last bar (UTC).
        rows: Number of bars.
        source: ``"csv"``, ``"parquet"``, ``"synthetic"`` or ``"ib"``.
        quality_score: The quality score of the stored bars (0–1), if known.
        updated: When the file was written (UTC).
    """

    symbol: str
    bar_size: str
    first: pd.Timestamp
    last: pd.Timestamp
    rows: int
    source: str
    quality_score: float | None
    updated: pd.Timestamp

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict (timestamps as ISO strings)."""
        return {
            "symbol": self.symbol,
            "bar_size": self.bar_size,
            "first": self.first.isoformat(),
            "last": self.last.isoformat(),
            "rows": self.rows,
            "source": self.source,
            "quality_score": self.quality_score,
            "updated": self.updated.isoformat(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CatalogEntry:
        """The inverse of :meth:`to_dict`.

        Raises:
            DataError: when a key is missing or a value is malformed.
        """
        try:
            score = data["quality_score"]
            return cls(
                symbol=str(data["symbol"]),
                bar_size=parse_bar_size(str(data["bar_size"])).text,
                first=_timestamp(data["first"]),
                last=_timestamp(data["last"]),
                rows=int(data["rows"]),
                source=str(data["source"]),
                quality_score=None if score is None else float(score),
                updated=_timestamp(data["updated"]),
            )
        except (KeyError, TypeError, ValueError, ConfigError) as exc:
            raise DataError(f"malformed catalog entry {data!r}: {exc!r}") from exc


def entry_from_file(path: Path) -> CatalogEntry:
    symbol = normalize_symbol(path.stem)
    size = parse_bar_size(path.parent.name)
    parquet = pq.ParquetFile(path)
    raw = (parquet.schema_arrow.metadata or {}).get(METADATA_KEY)
    rows = parquet.metadata.num_rows
    if raw is not None:
        entry = CatalogEntry.from_dict(json.loads(raw))
        if entry.rows == rows and entry.symbol == symbol and entry.bar_size == size.text:
            return entry
    # A file without (matching) tradelab metadata: describe it from its contents.
    stamps = parquet.read(columns=["timestamp"]).column("timestamp").to_pandas()
    if len(stamps) == 0:
        raise DataError(f"{path} holds no bars")
    stamps = pd.DatetimeIndex(stamps)
    stamps = stamps.tz_localize("UTC") if stamps.tz is None else stamps.tz_convert("UTC")
    return CatalogEntry(
        symbol=symbol,
        bar_size=size.text,
        first=stamps.min(),
        last=stamps.max(),
        rows=rows,
        source="parquet",
        quality_score=None,
        updated=pd.Timestamp(path.stat().st_mtime, unit="s", tz="UTC"),
    )
