"""Statistics of the return series itself: growth, dispersion, risk-adjusted ratios, tails.

Pure numpy on a float64 array; see :mod:`tradelab.metrics.registry` for the definitions.
"""

from __future__ import annotations

import math

import numpy as np

from tradelab.metrics._collect import Collector
from tradelab.metrics.registry import FEWER_THAN_2, NO_RETURNS, ZERO_VOLATILITY

GROWTH_METRICS = (
    "total_return",
    "cagr",
    "best_day",
    "worst_day",
    "best_month",
    "worst_month",
    "positive_days_pct",
)
DISPERSION_METRICS = (
    "annual_volatility",
    "sharpe",
    "sortino",
    "omega",
    "gain_to_pain",
    "var_95",
    "cvar_95",
    "tail_ratio",
    "skew",
    "kurtosis",
)
BELOW_RF = "no returns below the risk-free rate"


def per_period_rate(annual_rate: float, periods_per_year: int) -> float:
    """De-annualize a rate geometrically: ``(1 + annual) ** (1 / P) - 1``."""
    return (1.0 + annual_rate) ** (1.0 / periods_per_year) - 1.0


def month_starts(month_keys: np.ndarray) -> np.ndarray:
    """Indices where a new calendar month begins in sorted ``year * 12 + month`` keys."""
    change = np.empty(month_keys.size, dtype=bool)
    change[:1] = True
    np.not_equal(month_keys[1:], month_keys[:-1], out=change[1:])
    return np.flatnonzero(change)


def growth_metrics(
    out: Collector,
    returns: np.ndarray,
    wealth: np.ndarray,
    month_keys: np.ndarray,
    *,
    periods_per_year: int,
) -> None:
    """Total return, CAGR, best/worst bar and month, fraction of positive bars."""
    n = returns.size
    if n == 0:
        out.undefined(GROWTH_METRICS, NO_RETURNS)
        return
    end = float(wealth[-1])
    out.put("total_return", end - 1.0)
    if end < 0.0:
        out.undefined("cagr", "wealth below zero (a loss beyond -100%)")
    else:
        with np.errstate(over="ignore"):
            out.put("cagr", np.float64(end) ** (periods_per_year / n) - 1.0)
    out.put("best_day", returns.max())
    out.put("worst_day", returns.min())
    monthly = np.multiply.reduceat(1.0 + returns, month_starts(month_keys)) - 1.0
    out.put("best_month", monthly.max())
    out.put("worst_month", monthly.min())
    out.put("positive_days_pct", np.count_nonzero(returns > 0.0) / n)


def dispersion_metrics(
    out: Collector,
    returns: np.ndarray,
    *,
    periods_per_year: int,
    rf_per_period: float,
) -> None:
    """Volatility, Sharpe, Sortino, Omega, gain-to-pain, VaR/CVaR, tail ratio, skew, kurtosis."""
    n = returns.size
    if n == 0:
        out.undefined(DISPERSION_METRICS, NO_RETURNS)
        return
    if n == 1:
        out.undefined(DISPERSION_METRICS[:-2], FEWER_THAN_2)
        _moments(out, returns, constant=True)  # reports "fewer than 3/4 returns"
        return
    root_p = math.sqrt(periods_per_year)
    constant = returns.max() == returns.min()
    excess = returns - rf_per_period
    mean_excess = float(excess.mean())

    if constant:
        out.put("annual_volatility", 0.0)
        out.undefined("sharpe", ZERO_VOLATILITY)
    else:
        std = float(returns.std(ddof=1))
        out.put("annual_volatility", std * root_p)
        out.put("sharpe", mean_excess / float(excess.std(ddof=1)) * root_p, ZERO_VOLATILITY)

    below = np.minimum(excess, 0.0)
    downside_sq = float(np.dot(below, below))
    if downside_sq == 0.0:
        out.undefined(("sortino", "omega"), BELOW_RF)
    else:
        out.put("sortino", mean_excess / math.sqrt(downside_sq / n) * root_p, BELOW_RF)
        gains = float(np.maximum(excess, 0.0).sum())
        out.put("omega", gains / -float(below.sum()), BELOW_RF)

    pain = -float(returns[returns < 0.0].sum())
    if pain == 0.0:
        out.undefined("gain_to_pain", "no negative returns")
    else:
        out.put("gain_to_pain", float(returns.sum()) / pain)

    q05, q95 = np.quantile(returns, (0.05, 0.95))
    out.put("var_95", q05)
    out.put("cvar_95", returns[returns <= q05].mean())
    if q05 == 0.0:
        out.undefined("tail_ratio", "5th percentile return is zero")
    else:
        out.put("tail_ratio", abs(q95 / q05))

    _moments(out, returns, constant)


def _moments(out: Collector, returns: np.ndarray, constant: bool) -> None:
    """Bias-adjusted sample skewness (G1) and excess kurtosis (G2), as pandas computes them."""
    n = returns.size
    if n < 3:
        out.undefined("skew", "fewer than 3 returns")
    if n < 4:
        out.undefined("kurtosis", "fewer than 4 returns")
    if n < 3:
        return
    if constant:
        out.undefined(("skew", "kurtosis") if n >= 4 else "skew", ZERO_VOLATILITY)
        return
    dev = returns - returns.mean()
    dev2 = dev * dev
    m2 = float(dev2.mean())
    m3 = float(np.dot(dev2, dev)) / n
    out.put("skew", m3 / m2**1.5 * math.sqrt(n * (n - 1.0)) / (n - 2.0), ZERO_VOLATILITY)
    if n >= 4:
        g2 = float(np.dot(dev2, dev2)) / n / (m2 * m2) - 3.0
        out.put(
            "kurtosis",
            (n - 1.0) / ((n - 2.0) * (n - 3.0)) * ((n + 1.0) * g2 + 6.0),
            ZERO_VOLATILITY,
        )
