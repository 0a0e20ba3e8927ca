"""The numpy core of the market-regime classifier and the per-regime statistics.

Codes: 0 bull_low_vol, 1 bull_high_vol, 2 bear_low_vol, 3 bear_high_vol, -1 unclassified.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from tradelab.errors import ConfigError

REGIME_LABELS: tuple[str, ...] = ("bull_low_vol", "bull_high_vol", "bear_low_vol", "bear_high_vol")
UNCLASSIFIED = "unclassified"


def check_windows(trend_window: int, vol_window: int, min_trend_bars: int) -> None:
    """Raise ConfigError unless ``2 <= vol_window``, ``1 <= min_trend_bars <= trend_window``."""
    for name, value in (
        ("trend_window", trend_window),
        ("vol_window", vol_window),
        ("min_trend_bars", min_trend_bars),
    ):
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            raise ConfigError(f"{name} must be an int number of bars, got {value!r}.")
    if vol_window < 2:
        raise ConfigError(f"vol_window must be at least 2 bars, got {vol_window}.")
    if not 1 <= min_trend_bars <= trend_window:
        raise ConfigError(
            f"min_trend_bars must be between 1 and trend_window ({trend_window}), got "
            f"{min_trend_bars}."
        )


def regime_codes(
    values: np.ndarray, *, trend_window: int, vol_window: int, min_trend_bars: int
) -> np.ndarray:
    """Regime code per bar from the bars *before* it (no look-ahead); -1 where unclassified.

    Bar ``t`` is bull when the compounded return of ``values[max(0, t - trend_window):t]`` is
    strictly positive (at least ``min_trend_bars`` bars needed), and high-vol when the standard
    deviation of ``values[t - vol_window:t]`` is strictly above the median of that trailing
    volatility over every bar where it is defined.
    """
    n = values.size
    codes = np.full(n, -1, dtype=np.int8)
    first = max(min_trend_bars, vol_window)
    if n <= first:
        return codes
    growth = 1.0 + values

    # trailing compounded growth over the bars before t: expanding, then a fixed window
    trend = np.empty(n)
    expanding_end = min(n, trend_window + 1)
    trend[1:expanding_end] = np.cumprod(growth[: expanding_end - 1])
    if n > trend_window + 1:
        windows = sliding_window_view(growth[: n - 1], trend_window)
        trend[trend_window + 1 :] = windows[1:].prod(axis=1)
    bull = trend[first:] > 1.0

    vol = sliding_window_view(values[: n - 1], vol_window).std(axis=1, ddof=1)
    high = vol > np.median(vol)
    high = high[first - vol_window :]

    codes[first:] = np.where(bull, 0, 2) + high
    return codes


def regime_stats(
    returns: np.ndarray,
    codes: np.ndarray,
    *,
    periods_per_year: int,
    rf_per_period: float,
) -> dict[str, dict[str, float]]:
    """``label -> {"return", "sharpe", "fraction", "bars"}`` of the strategy returns per regime.

    ``return`` is the compounded return over the regime's bars (NaN without bars), ``sharpe`` the
    annualized Sharpe ratio on them (NaN with fewer than 2 bars or zero volatility), ``fraction``
    the share of all bars (NaN without bars at all) and ``bars`` their count.
    """
    n = returns.size
    root_p = math.sqrt(periods_per_year)
    stats: dict[str, dict[str, float]] = {}
    for code, label in enumerate(REGIME_LABELS):
        picked = returns[codes == code]
        count = picked.size
        total = float(np.prod(1.0 + picked)) - 1.0 if count else math.nan
        sharpe = math.nan
        if count >= 2 and picked.max() != picked.min():
            excess = picked - rf_per_period
            sharpe = float(excess.mean()) / float(excess.std(ddof=1)) * root_p
        stats[label] = {
            "return": total,
            "sharpe": sharpe,
            "fraction": count / n if n else math.nan,
            "bars": float(count),
        }
    return stats
