"""Shared set-up of the experiment scripts: demo data in the store, argument defaults."""

from __future__ import annotations

from tradelab.data import ParquetStore, check_quality, generate_bars

DEMO_START, DEMO_END, DEMO_SEED = "2014-01-01", "2023-12-31", 7


def ensure_synthetic(symbols: tuple[str, ...], *, start: str = DEMO_START, end: str = DEMO_END,
                     seed: int = DEMO_SEED) -> ParquetStore:
    """Make sure every symbol has daily bars in the store (SYNTHETIC where missing)."""
    store = ParquetStore()
    for symbol in symbols:
        if not store.exists(symbol, bar_size="1d"):
            bars = generate_bars(symbol, start=start, end=end, bar_size="1d", seed=seed)
            store.write(symbol, bars, bar_size="1d", source="synthetic",
                        quality_score=check_quality(bars, bar_size="1d").score)
    return store
