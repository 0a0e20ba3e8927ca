"""Results split by market regime: bull/bear crossed with low/high volatility.

The regimes are :func:`tradelab.metrics.classify_regimes` of a benchmark (no look-ahead: a bar's
regime comes from the bars before it), classified over the benchmark's *whole* history and then
looked up at the dates of the returns being split — so an out-of-sample window's first bars get
their regime from the data before the window rather than being left unclassified.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from tradelab.errors import ConfigError
from tradelab.metrics import REGIME_LABELS, UNCLASSIFIED, classify_regimes

__all__ = ["REGIME_COLUMNS", "buy_and_hold_returns", "regime_breakdown"]

REGIME_COLUMNS = ("regime", "bars", "fraction", "return", "annual_return", "sharpe")
"""Columns of :func:`regime_breakdown`."""


def regime_breakdown(
    returns: pd.Series,
    benchmark_returns: pd.Series,
    *,
    periods_per_year: int = 252,
) -> pd.DataFrame:
    """The returns' compounded return, annualized return and Sharpe ratio per regime.

    Args:
        returns: per-period strategy returns on a DatetimeIndex (e.g. the stitched
            out-of-sample returns of a walk-forward analysis).
        benchmark_returns: the benchmark's returns over a history covering ``returns`` (the
            longer the history before them, the fewer bars are unclassified).
        periods_per_year: for the annualized figures.

    Returns:
        One row per regime of :data:`tradelab.metrics.REGIME_LABELS` plus ``unclassified``
        (columns :data:`REGIME_COLUMNS`); NaN where a regime has too few bars.

    Example:
        >>> index = pd.date_range("2020-01-01", periods=300, freq="B", tz="UTC")
        >>> bench = pd.Series(np.where(np.arange(300) % 2, 0.012, -0.01), index=index)
        >>> table = regime_breakdown(bench.iloc[200:], bench)
        >>> int(table["bars"].sum())
        100
    """
    for what, series in (("returns", returns), ("benchmark_returns", benchmark_returns)):
        if not isinstance(series, pd.Series) or not isinstance(series.index, pd.DatetimeIndex):
            raise ConfigError(f"{what} must be a pandas Series on a DatetimeIndex.")
    bench = benchmark_returns.sort_index()
    bench = bench[~bench.index.duplicated(keep="last")].dropna()
    labels = classify_regimes(bench) if len(bench) else pd.Series(dtype=object)
    picked = labels.reindex(returns.index).fillna(UNCLASSIFIED)
    values = returns.to_numpy(dtype=float)
    total = len(values)
    rows = []
    root = math.sqrt(periods_per_year)
    for label in (*REGIME_LABELS, UNCLASSIFIED):
        chosen = values[(picked == label).to_numpy()]
        count = chosen.size
        compounded = float(np.prod(1.0 + chosen) - 1.0) if count else math.nan
        annual = (
            (1.0 + compounded) ** (periods_per_year / count) - 1.0
            if count and compounded > -1.0
            else math.nan
        )
        sharpe = math.nan
        if count >= 2 and chosen.std(ddof=1) > 0:
            sharpe = float(chosen.mean() / chosen.std(ddof=1) * root)
        rows.append(
            {
                "regime": label,
                "bars": count,
                "fraction": count / total if total else math.nan,
                "return": compounded,
                "annual_return": annual,
                "sharpe": sharpe,
            }
        )
    return pd.DataFrame(rows, columns=list(REGIME_COLUMNS))


def buy_and_hold_returns(closes: dict[str, pd.Series]) -> pd.Series:
    """Daily returns of an equal-weight, daily-rebalanced buy-and-hold of ``closes`` (symbol ->
    close prices on a DatetimeIndex): the regime benchmark of a set of symbols. A day a symbol
    has no bar counts as a 0 return for it.

    Example:
        >>> index = pd.date_range("2024-01-01", periods=3, freq="D", tz="UTC")
        >>> returns = buy_and_hold_returns({"A": pd.Series([10.0, 11.0, 11.0], index=index),
        ...                                 "B": pd.Series([20.0, 20.0, 22.0], index=index)})
        >>> returns.round(6).tolist()
        [0.05, 0.05]
    """
    series = {}
    for symbol, close in closes.items():
        daily = close.copy()
        daily.index = pd.DatetimeIndex(daily.index).normalize()
        daily = daily[~daily.index.duplicated(keep="last")].sort_index()
        series[symbol] = daily.pct_change().iloc[1:]
    if not series:
        return pd.Series(dtype=float, name="benchmark")
    frame = pd.concat(series, axis=1).sort_index().fillna(0.0)
    return frame.mean(axis=1).rename("benchmark")
