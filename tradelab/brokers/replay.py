"""Bar streams for the paper broker: stored bars replayed in time order, or synthetic ones."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from itertools import groupby
from typing import Any

import pandas as pd

from tradelab.brokers.records import Bar
from tradelab.data import ParquetStore, generate_universe, normalize_symbol
from tradelab.errors import DataError

__all__ = ["bars_from_frames", "replay_bars", "synthetic_bars"]


def bars_from_frames(frames: Mapping[str, pd.DataFrame]) -> list[tuple[datetime, list[Bar]]]:
    """Merge per-symbol canonical frames into time-ordered groups of bars sharing a timestamp.

    Example:
        >>> from tradelab.data import generate_universe
        >>> groups = bars_from_frames(generate_universe(["AAA"], start="2024-01-02",
        ...                                             end="2024-01-05", seed=1))
        >>> len(groups[0][1]), groups[0][1][0].symbol
        (1, 'AAA')
    """
    bars: list[Bar] = []
    for symbol, frame in frames.items():
        if frame.empty:
            raise DataError(f"no bars for {symbol} to replay; check the date range")
        index = frame.index
        columns = [frame[c].to_numpy(dtype=float) for c in ("open", "high", "low", "close",
                                                              "volume")]
        for i, stamp in enumerate(index):
            bars.append(Bar(symbol=symbol, timestamp=stamp.to_pydatetime(),
                            open=columns[0][i], high=columns[1][i], low=columns[2][i],
                            close=columns[3][i], volume=columns[4][i]))
    bars.sort(key=lambda bar: (bar.timestamp, bar.symbol))
    return [(stamp, list(group)) for stamp, group in groupby(bars, key=lambda b: b.timestamp)]


def replay_bars(
    symbols: Sequence[str],
    *,
    bar_size: str = "1d",
    start: Any = None,
    end: Any = None,
    root: Any = None,
) -> list[tuple[datetime, list[Bar]]]:
    """Stored bars of ``symbols`` from the Parquet store, grouped by time, for replay.

    Raises:
        DataNotFoundError: A symbol is not in the store (the message lists what is).
    """
    store = ParquetStore(root) if root is not None else ParquetStore()
    frames = {normalize_symbol(s): store.read(s, bar_size=bar_size, start=start, end=end)
              for s in symbols}
    return bars_from_frames(frames)


def synthetic_bars(
    symbols: Iterable[str],
    *,
    start: Any = "2024-01-02",
    end: Any = "2024-12-31",
    bar_size: str = "1d",
    seed: int = 7,
) -> list[tuple[datetime, list[Bar]]]:
    """Seeded synthetic bars (regime-switching GBM), grouped by time, for replay."""
    frames = generate_universe([normalize_symbol(s) for s in symbols], start=start, end=end,
                               bar_size=bar_size, seed=seed)
    return bars_from_frames(frames)
