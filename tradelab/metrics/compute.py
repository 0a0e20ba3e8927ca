"""compute_metrics: every statistic of one backtest run, in about 2 ms for 10 years of bars.

Everything is computed with numpy on arrays taken once from the inputs (quantstats, the reference
the tests compare with, takes ~70 ms for the same set and fails on tz-aware indexes).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from tradelab.errors import ConfigError
from tradelab.metrics._benchmark import align, benchmark_metrics, benchmark_values
from tradelab.metrics._collect import Collector
from tradelab.metrics._drawdowns import drawdown_metrics
from tradelab.metrics._regimes import check_windows, regime_codes, regime_stats
from tradelab.metrics._returns import dispersion_metrics, growth_metrics, per_period_rate
from tradelab.metrics._trades import trade_metrics
from tradelab.metrics.registry import METRICS, NO_RETURNS
from tradelab.metrics.report import MetricsReport
from tradelab.records import TradeRecord

__all__ = ["compute_metrics"]

NO_CAPITAL = "no equity curve and no initial value given"


def compute_metrics(
    returns: pd.Series,
    *,
    equity: pd.Series | None = None,
    initial_value: float | None = None,
    trades: Sequence[TradeRecord] = (),
    benchmark_returns: pd.Series | None = None,
    exposure: float | None = None,
    commissions: float = 0.0,
    periods_per_year: int = 252,
    risk_free_rate: float = 0.0,
    trend_window: int = 126,
    vol_window: int = 21,
) -> MetricsReport:
    """Compute every metric of :data:`~tradelab.metrics.METRICS` for one run.

    Values are NaN only where undefined, with the reason in ``report.undefined`` (the possible
    reasons of each metric are listed in its ``MetricInfo.undefined_when``; a float overflow,
    e.g. a CAGR of absurd returns, is reported as "numerically undefined"). No value is ever
    infinite.

    Args:
        returns: Periodic (daily) strategy returns on a sorted, unique, tz-aware UTC
            DatetimeIndex (a naive index is read as UTC), without NaN. The first return is the
            first bar's change from the starting capital, which also counts as the first
            drawdown peak.
        equity: Account value at the same timestamps; gives ``final_value`` (its last value) and
            the starting capital ``equity[0] / (1 + returns[0])`` when ``initial_value`` is
            missing. Return and drawdown statistics always come from ``returns``.
        initial_value: Starting capital; with no ``equity`` the curve is
            ``initial_value * cumprod(1 + returns)``.
        trades: Round trips; closed ones (``is_open`` False) feed the trade statistics,
            ordered by exit time.
        benchmark_returns: Benchmark returns of the same frequency. Matched to ``returns`` on
            timestamps (NaN bars dropped); used for the benchmark metrics and to classify the
            regimes.
        exposure: Fraction of bars holding a position (0..1); None leaves it undefined.
        commissions: Total commissions and fees paid (>= 0).
        periods_per_year: Bars per year for annualization (252 for daily bars).
        risk_free_rate: Annual risk-free rate, de-annualized as ``(1 + rf) ** (1 / P) - 1``.
        trend_window: Bars of the trailing trend window of the regime classifier (at least
            ``min(21, trend_window)`` earlier bars are needed to read a trend).
        vol_window: Bars of the trailing volatility window of the regime classifier.

    Returns:
        The :class:`~tradelab.metrics.MetricsReport`, with the per-regime breakdown of
        :mod:`tradelab.metrics.regimes` classified from the benchmark when given, else from
        ``returns``.

    Raises:
        ConfigError: an input is malformed (the message says which and how to fix it).

    Example:
        >>> import pandas as pd
        >>> index = pd.date_range("2024-01-02", periods=5, freq="B", tz="UTC")
        >>> report = compute_metrics(
        ...     pd.Series([0.01, -0.02, 0.03, 0.0, -0.01], index=index), initial_value=10_000
        ... )
        >>> round(report["total_return"], 6), round(report["max_drawdown"], 4)
        (0.009299, -0.02)
        >>> report.undefined["alpha"]
        'no benchmark'
    """
    values = _returns_array(returns)
    index: pd.DatetimeIndex = returns.index
    _check_settings(periods_per_year, risk_free_rate, exposure, commissions, initial_value)
    min_trend_bars = min(21, trend_window) if isinstance(trend_window, int) else 21
    check_windows(trend_window, vol_window, min_trend_bars)
    rf = per_period_rate(risk_free_rate, periods_per_year)

    out = Collector()
    growth = 1.0 + values
    wealth = np.cumprod(growth)
    growth_metrics(out, values, wealth, _month_keys(index), periods_per_year=periods_per_year)
    dispersion_metrics(out, values, periods_per_year=periods_per_year, rf_per_period=rf)
    drawdown_metrics(
        out,
        wealth,
        total_return=out.values["total_return"],
        cagr=out.values["cagr"],
    )
    _value_metrics(out, values, wealth, _equity_array(equity, index), initial_value)
    trade_metrics(out, trades, exposure=exposure, commissions=float(commissions))

    if benchmark_returns is None:
        strategy_shared = bench_shared = None
        classify_on = values
    else:
        bench = benchmark_values(benchmark_returns, index)
        strategy_shared, bench_shared = align(values, index, bench)
        classify_on = bench
    benchmark_metrics(
        out,
        strategy_shared,
        bench_shared,
        periods_per_year=periods_per_year,
        rf_per_period=rf,
    )

    codes = _regime_codes_on(classify_on, index, trend_window, vol_window, min_trend_bars)
    regimes = regime_stats(values, codes, periods_per_year=periods_per_year, rf_per_period=rf)
    return _report(out, regimes)


def _returns_array(returns: pd.Series) -> np.ndarray:
    if not isinstance(returns, pd.Series):
        raise ConfigError(
            f"returns must be a pandas Series of periodic returns, got {type(returns).__name__}."
        )
    index = returns.index
    if not isinstance(index, pd.DatetimeIndex):
        raise ConfigError(
            f"returns must have a DatetimeIndex (tz-aware UTC), got {type(index).__name__}; "
            "index them by bar timestamp."
        )
    if not index.is_monotonic_increasing or not index.is_unique:
        raise ConfigError(
            "returns index must be sorted and unique; sort it and drop duplicate timestamps."
        )
    try:
        values = returns.to_numpy(dtype=float, na_value=np.nan)
    except (TypeError, ValueError):
        raise ConfigError(f"returns must hold numbers, got dtype {returns.dtype}.") from None
    if not np.isfinite(values).all():
        where = index[~np.isfinite(values)][:3].tolist()
        raise ConfigError(
            f"returns contain NaN or infinite values (first at {where}); drop the leading NaN "
            "of pct_change() or fill gaps before computing metrics."
        )
    return values


def _check_settings(
    periods_per_year: int,
    risk_free_rate: float,
    exposure: float | None,
    commissions: float,
    initial_value: float | None,
) -> None:
    if isinstance(periods_per_year, bool) or not isinstance(periods_per_year, int | np.integer):
        raise ConfigError(f"periods_per_year must be an int, got {periods_per_year!r}.")
    if periods_per_year < 1:
        raise ConfigError(
            f"periods_per_year must be at least 1 (252 for daily bars), got {periods_per_year}."
        )
    if not (math.isfinite(risk_free_rate) and risk_free_rate > -1.0):
        raise ConfigError(
            f"risk_free_rate must be a finite annual rate above -1 (0.03 for 3%), got "
            f"{risk_free_rate!r}."
        )
    if exposure is not None and not (math.isfinite(exposure) and 0.0 <= exposure <= 1.0):
        raise ConfigError(
            f"exposure must be a fraction of bars between 0 and 1 (or None), got {exposure!r}."
        )
    if not (math.isfinite(commissions) and commissions >= 0.0):
        raise ConfigError(f"commissions must be a finite amount >= 0, got {commissions!r}.")
    if initial_value is not None and not (math.isfinite(initial_value) and initial_value > 0.0):
        raise ConfigError(f"initial_value must be a positive amount, got {initial_value!r}.")


def _month_keys(index: pd.DatetimeIndex) -> np.ndarray:
    """``year * 12 + month`` per bar, in UTC (naive indexes are read as UTC)."""
    # asi8 holds UTC epoch ticks for tz-aware indexes
    ticks = index.asi8.view(f"datetime64[{index.unit}]")
    return ticks.astype("datetime64[M]").view(np.int64)


def _equity_array(equity: pd.Series | None, index: pd.DatetimeIndex) -> np.ndarray | None:
    if equity is None:
        return None
    if not isinstance(equity, pd.Series):
        raise ConfigError(f"equity must be a pandas Series, got {type(equity).__name__}.")
    if not equity.index.equals(index):
        raise ConfigError(
            f"equity must have the same timestamps as returns ({len(equity)} vs {len(index)} "
            "bars, or different timestamps); pass the equity curve of the same run."
        )
    values = equity.to_numpy(dtype=float, na_value=np.nan)
    if not np.isfinite(values).all():
        raise ConfigError("equity contains NaN or infinite values.")
    return values


def _value_metrics(
    out: Collector,
    returns: np.ndarray,
    wealth: np.ndarray,
    equity: np.ndarray | None,
    initial_value: float | None,
) -> None:
    """final_value and net_profit, in account currency."""
    if returns.size == 0:
        out.undefined(("final_value", "net_profit"), NO_RETURNS)
        return
    if equity is None and initial_value is None:
        out.undefined(("final_value", "net_profit"), NO_CAPITAL)
        return
    final = float(equity[-1]) if equity is not None else initial_value * float(wealth[-1])
    out.put("final_value", final)
    if initial_value is not None:
        start = float(initial_value)
    elif returns[0] == -1.0:
        out.undefined("net_profit", "first return is -100%")
        return
    else:
        start = float(equity[0]) / (1.0 + float(returns[0]))  # type: ignore[index]
    out.put("net_profit", final - start)


def _regime_codes_on(
    classify_on: np.ndarray | pd.Series,
    index: pd.DatetimeIndex,
    trend_window: int,
    vol_window: int,
    min_trend_bars: int,
) -> np.ndarray:
    """Regime codes per strategy bar, from the strategy itself or from the benchmark."""
    settings = {
        "trend_window": trend_window,
        "vol_window": vol_window,
        "min_trend_bars": min_trend_bars,
    }
    if isinstance(classify_on, np.ndarray):
        return regime_codes(classify_on, **settings)
    bench_codes = regime_codes(classify_on.to_numpy(), **settings)
    if classify_on.index.equals(index):
        return bench_codes
    positions = classify_on.index.get_indexer(index)
    return np.where(positions >= 0, bench_codes[positions], -1).astype(np.int8)


def _report(out: Collector, regimes: dict[str, dict[str, float]]) -> MetricsReport:
    missing = METRICS.keys() - out.values.keys()
    if missing:  # a bug in this package, not a caller error
        raise RuntimeError(f"metrics not computed: {sorted(missing)}")
    values = {name: out.values[name] for name in METRICS}
    undefined = {name: out.reasons[name] for name in METRICS if name in out.reasons}
    return MetricsReport(values=values, undefined=undefined, regimes=regimes)
