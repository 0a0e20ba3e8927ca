"""Builders shared by the tradelab.metrics tests (series on UTC bars, trades, quantstats calls)."""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from tradelab.records import TradeRecord

HAND_RETURNS = (0.01, -0.02, 0.03, 0.0, -0.01)
"""Five daily returns; Jan 29 - Feb 2 2024, so January holds three bars and February two."""


def utc_series(values: Sequence[float], start: str = "2024-01-29") -> pd.Series:
    """Returns on consecutive business days (tz-aware UTC) starting at ``start``."""
    index = pd.date_range(start, periods=len(values), freq="B", tz="UTC")
    return pd.Series(np.asarray(values, dtype=float), index=index)


def random_returns(n: int, *, seed: int, mean: float = 0.0004, std: float = 0.01) -> pd.Series:
    """Seeded normal daily returns on UTC business days from 2015-01-01."""
    rng = np.random.default_rng(seed)
    return utc_series(rng.normal(mean, std, n), start="2015-01-01")


def naive(series: pd.Series) -> pd.Series:
    """The same series on a tz-naive index (quantstats' benchmark alignment needs it)."""
    return series.tz_convert("UTC").tz_localize(None)


def quantstats(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call a quantstats function with its warnings and prints silenced."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        return function(*args, **kwargs)


def trade(
    pnl: float,
    *,
    day: int,
    entry_price: float = 100.0,
    size: float = 10.0,
    bars_held: int = 5,
    commission: float = 1.0,
    is_open: bool = False,
) -> TradeRecord:
    """A round trip exiting on 2024-01-01 + ``day`` days (UTC)."""
    entry = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(days=day - bars_held)
    return TradeRecord(
        symbol="SPY",
        entry_time=entry,
        exit_time=None if is_open else entry + timedelta(days=bars_held),
        entry_price=entry_price,
        exit_price=None if is_open else entry_price + pnl / size,
        size=size,
        pnl_gross=pnl + commission,
        pnl=pnl,
        commission=commission,
        bars_held=bars_held,
        is_open=is_open,
    )
