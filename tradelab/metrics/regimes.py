"""Market regimes: bull/bear crossed with low/high volatility, classified without look-ahead.

The rule, for bar ``t`` of a return series ``x`` (the benchmark's when one is given to
:func:`~tradelab.metrics.compute_metrics`, else the strategy's own):

* **trend** — the compounded return of the bars *before* ``t``, over the last ``trend_window``
  (126) bars, or over all earlier bars (an expanding window) while fewer exist. Strictly positive
  → ``bull``, otherwise ``bear``. At least ``min_trend_bars`` (21) earlier bars are needed.
* **volatility** — the standard deviation of the ``vol_window`` (21) bars before ``t``. Strictly
  above the median of that trailing volatility over the whole sample → ``high_vol``, otherwise
  ``low_vol``.
* bars without both readings (the first ``max(min_trend_bars, vol_window)`` bars) are
  ``"unclassified"``.

Only bars before ``t`` are used, so a regime is known before its bar trades and a bar's own return
cannot push it into a regime (a crash day is not labelled bear because of itself). The
volatility median is taken over the full sample: the split into high and low is descriptive.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tradelab.errors import ConfigError
from tradelab.metrics._regimes import REGIME_LABELS, UNCLASSIFIED, check_windows, regime_codes

__all__ = ["REGIME_LABELS", "UNCLASSIFIED", "classify_regimes"]

_LABELS = np.array((*REGIME_LABELS, UNCLASSIFIED), dtype=object)  # code -1 picks the last


def classify_regimes(
    returns: pd.Series,
    *,
    trend_window: int = 126,
    vol_window: int = 21,
    min_trend_bars: int | None = None,
) -> pd.Series:
    """Label every bar ``bull_low_vol``, ``bull_high_vol``, ``bear_low_vol``, ``bear_high_vol``
    or ``unclassified`` (see the module docstring for the rule).

    Args:
        returns: Periodic returns (usually a benchmark's), in time order, without NaN.
        trend_window: Bars in the trailing trend window.
        vol_window: Bars in the trailing volatility window (at least 2).
        min_trend_bars: Earlier bars needed before the trend is read (expanding window until
            ``trend_window`` bars exist); None means ``min(21, trend_window)``.

    Returns:
        A Series of labels (object dtype) on ``returns.index``, named ``"regime"``.

    Raises:
        ConfigError: ``returns`` is not a numeric Series without NaN/inf, or a window is invalid.

    Example:
        >>> import numpy as np, pandas as pd
        >>> index = pd.date_range("2024-01-01", periods=60, freq="B", tz="UTC")
        >>> up = pd.Series(np.r_[np.full(30, 0.001), np.full(30, 0.02)], index=index)
        >>> classify_regimes(up).iloc[[0, 40]].tolist()
        ['unclassified', 'bull_high_vol']
    """
    if min_trend_bars is None:
        min_trend_bars = min(21, trend_window) if isinstance(trend_window, int) else 21
    check_windows(trend_window, vol_window, min_trend_bars)
    if not isinstance(returns, pd.Series):
        raise ConfigError(f"returns must be a pandas Series, got {type(returns).__name__}.")
    try:
        values = returns.to_numpy(dtype=float, na_value=np.nan)
    except (TypeError, ValueError):
        raise ConfigError(f"returns must hold numbers, got dtype {returns.dtype}.") from None
    if not np.isfinite(values).all():
        raise ConfigError(
            "returns contain NaN or infinite values; drop or fill them before classifying."
        )
    codes = regime_codes(
        values, trend_window=trend_window, vol_window=vol_window, min_trend_bars=min_trend_bars
    )
    return pd.Series(_LABELS[codes], index=returns.index, name="regime", dtype=object)
