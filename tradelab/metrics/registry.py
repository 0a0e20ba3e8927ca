"""The registry of every statistic tradelab computes: name, meaning, unit and when it is undefined.

Every key of :data:`METRICS` is a key of :attr:`tradelab.metrics.MetricsReport.values`. Symbols used
in the descriptions: ``r`` the periodic (daily) returns, ``n`` their number, ``P`` the periods per
year, ``rf_p = (1 + risk_free_rate) ** (1 / P) - 1`` the per-period risk-free rate, ``e = r - rf_p``
the excess returns, ``W`` the wealth index ``cumprod(1 + r)`` started at 1 before the first bar,
``b`` the benchmark returns on the bars both series share. Standard deviations use ``ddof=1``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from tradelab.errors import ConfigError, UnknownNameError

__all__ = ["METRICS", "UNITS", "MetricInfo", "metric_info"]

UNITS: frozenset[str] = frozenset({"ratio", "fraction", "days", "count", "currency", "bars"})
"""The units a metric can be expressed in."""

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")

# Reasons shared by several metrics; compute_metrics reports exactly these strings.
NO_RETURNS = "no returns"
FEWER_THAN_2 = "fewer than 2 returns"
ZERO_VOLATILITY = "zero volatility"
NO_TRADES = "no closed trades"
NO_BENCHMARK = "no benchmark"


@dataclass(frozen=True, kw_only=True, slots=True)
class MetricInfo:
    """What one metric means.

    Attributes:
        name: snake_case key, e.g. ``"sharpe"``.
        title: Human title, e.g. ``"Sharpe ratio"``.
        description: One or two sentences including the formula and the annualization.
        unit: One of :data:`UNITS`.
        higher_is_better: ``True``/``False``, or ``None`` when neither direction is better.
        undefined_when: The documented conditions under which the value is NaN; ``""`` if never.
        group: ``"returns"``, ``"risk"``, ``"drawdown"``, ``"trades"`` or ``"benchmark"``.
    """

    name: str
    title: str
    description: str
    unit: str
    higher_is_better: bool | None
    undefined_when: str
    group: str = ""

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ConfigError(f"metric name must be snake_case, got {self.name!r}.")
        if self.unit not in UNITS:
            raise ConfigError(
                f"metric {self.name!r} has unit {self.unit!r}; use one of {sorted(UNITS)}."
            )
        if not self.title or not self.description:
            raise ConfigError(f"metric {self.name!r} needs a title and a description.")


def _m(
    name: str,
    title: str,
    unit: str,
    higher_is_better: bool | None,
    description: str,
    undefined_when: str,
    group: str,
) -> MetricInfo:
    return MetricInfo(
        name=name,
        title=title,
        description=description,
        unit=unit,
        higher_is_better=higher_is_better,
        undefined_when=undefined_when,
        group=group,
    )


# The table below is laid out by hand, one metric per block; keep ruff format off it.
# fmt: off
_DISPERSION = f"{NO_RETURNS}; {FEWER_THAN_2}"
_TRADES = f"{NO_TRADES}"
_BENCH = (
    f"{NO_BENCHMARK}; fewer than 2 bars shared with the benchmark; "
    "benchmark has zero variance"
)

_ALL: tuple[MetricInfo, ...] = (
    # ---- returns ----------------------------------------------------------------------------
    _m("total_return", "Total return", "fraction", True,
       "Compounded return over the whole run: prod(1 + r) - 1.",
       NO_RETURNS, "returns"),
    _m("cagr", "CAGR", "fraction", True,
       "Compound annual growth rate: (1 + total_return) ** (P / n) - 1, with n bars taken as "
       "n / P years.",
       f"{NO_RETURNS}; wealth below zero (a loss beyond -100%)", "returns"),
    _m("best_day", "Best day", "fraction", True,
       "Largest single-bar return max(r).", NO_RETURNS, "returns"),
    _m("worst_day", "Worst day", "fraction", True,
       "Smallest single-bar return min(r).", NO_RETURNS, "returns"),
    _m("best_month", "Best month", "fraction", True,
       "Largest compounded calendar-month (UTC) return; the first and last months may be "
       "partial.", NO_RETURNS, "returns"),
    _m("worst_month", "Worst month", "fraction", True,
       "Smallest compounded calendar-month (UTC) return; the first and last months may be "
       "partial.", NO_RETURNS, "returns"),
    _m("positive_days_pct", "Positive days", "fraction", True,
       "Fraction of all bars with a strictly positive return (flat bars count as not "
       "positive).", NO_RETURNS, "returns"),
    _m("final_value", "Final value", "currency", True,
       "Account value at the last bar: the last equity value, else "
       "initial_value * (1 + total_return).",
       f"{NO_RETURNS}; no equity curve and no initial value given", "returns"),
    _m("net_profit", "Net profit", "currency", True,
       "final_value minus the starting capital (initial_value, else equity[0] / (1 + r[0])).",
       f"{NO_RETURNS}; no equity curve and no initial value given; first return is -100%",
       "returns"),
    # ---- risk-adjusted and distribution -------------------------------------------------------
    _m("annual_volatility", "Annual volatility", "fraction", False,
       "Annualized standard deviation of returns: std(r) * sqrt(P).",
       _DISPERSION, "risk"),
    _m("sharpe", "Sharpe ratio", "ratio", True,
       "Annualized Sharpe ratio: mean(e) / std(e) * sqrt(P), on excess returns over the "
       "de-annualized risk-free rate.",
       f"{_DISPERSION}; {ZERO_VOLATILITY}", "risk"),
    _m("sortino", "Sortino ratio", "ratio", True,
       "Annualized Sortino ratio: mean(e) / DD * sqrt(P) with downside deviation "
       "DD = sqrt(sum(min(e, 0) ** 2) / n) over all n bars (target = risk-free rate).",
       f"{_DISPERSION}; no returns below the risk-free rate", "risk"),
    _m("omega", "Omega ratio", "ratio", True,
       "Omega ratio at the risk-free threshold: sum(max(e, 0)) / sum(max(-e, 0)).",
       f"{_DISPERSION}; no returns below the risk-free rate", "risk"),
    _m("gain_to_pain", "Gain to pain ratio", "ratio", True,
       "Schwager's gain-to-pain ratio on bar returns: sum(r) / |sum(r[r < 0])|.",
       f"{_DISPERSION}; no negative returns", "risk"),
    _m("var_95", "Value at risk (95%)", "fraction", True,
       "Historical one-bar value at risk: the 5th percentile of r (linear interpolation); "
       "a loss is negative.",
       _DISPERSION, "risk"),
    _m("cvar_95", "Conditional value at risk (95%)", "fraction", True,
       "Historical expected shortfall: mean of the returns at or below var_95.",
       _DISPERSION, "risk"),
    _m("tail_ratio", "Tail ratio", "ratio", True,
       "|95th percentile of r / 5th percentile of r| (linear interpolation).",
       f"{_DISPERSION}; 5th percentile return is zero", "risk"),
    _m("skew", "Skewness", "ratio", True,
       "Sample skewness of r, bias-adjusted (Fisher-Pearson G1, as pandas Series.skew).",
       f"{NO_RETURNS}; fewer than 3 returns; {ZERO_VOLATILITY}", "risk"),
    _m("kurtosis", "Excess kurtosis", "ratio", None,
       "Sample excess kurtosis of r, bias-adjusted (G2, as pandas Series.kurt); 0 for a normal "
       "distribution.",
       f"{NO_RETURNS}; fewer than 4 returns; {ZERO_VOLATILITY}", "risk"),
    # ---- drawdown -----------------------------------------------------------------------------
    _m("max_drawdown", "Max drawdown", "fraction", True,
       "Deepest fall of W below its running peak: min(W / cummax(W) - 1), the starting capital "
       "counting as the first peak; a negative fraction, 0 if never below a peak.",
       NO_RETURNS, "drawdown"),
    _m("max_drawdown_duration", "Max drawdown duration", "bars", False,
       "Longest drawdown in bars, from the peak bar to the bar that regains the peak, or to "
       "the last bar if never regained; 0 if never below a peak.",
       NO_RETURNS, "drawdown"),
    _m("avg_drawdown", "Average drawdown", "fraction", True,
       "Mean depth of the drawdown episodes (each episode's deepest W / peak - 1); 0 if never "
       "below a peak.",
       NO_RETURNS, "drawdown"),
    _m("avg_drawdown_duration", "Average drawdown duration", "bars", False,
       "Mean length in bars of the drawdown episodes, measured as for max_drawdown_duration; "
       "0 if never below a peak.",
       NO_RETURNS, "drawdown"),
    _m("ulcer_index", "Ulcer index", "fraction", False,
       "Root mean square of the drawdown series over all n bars: sqrt(mean((W / cummax(W) - 1) "
       "** 2)).",
       NO_RETURNS, "drawdown"),
    _m("calmar", "Calmar ratio", "ratio", True,
       "cagr / |max_drawdown| over the whole run.",
       f"{NO_RETURNS}; no drawdown; cagr undefined (wealth below zero)", "drawdown"),
    _m("recovery_factor", "Recovery factor", "ratio", True,
       "total_return / |max_drawdown| (signed: negative when the run lost money).",
       f"{NO_RETURNS}; no drawdown", "drawdown"),
    # ---- trades -------------------------------------------------------------------------------
    _m("num_trades", "Closed trades", "count", None,
       "Number of closed trades (is_open False).", "", "trades"),
    _m("open_trades", "Open trades", "count", None,
       "Number of trades still open at the end of the run; they count in no other trade "
       "statistic.", "", "trades"),
    _m("win_rate", "Win rate", "fraction", True,
       "Fraction of closed trades with net pnl > 0 (break-even trades count as not won).",
       _TRADES, "trades"),
    _m("avg_trade", "Average trade", "fraction", True,
       "Mean return_pct (net pnl / capital committed at entry) of the closed trades.",
       _TRADES, "trades"),
    _m("avg_win", "Average win", "fraction", True,
       "Mean return_pct of the winning trades (pnl > 0).",
       f"{NO_TRADES}; no winning trades", "trades"),
    _m("avg_loss", "Average loss", "fraction", True,
       "Mean return_pct of the losing trades (pnl < 0); a negative fraction.",
       f"{NO_TRADES}; no losing trades", "trades"),
    _m("best_trade", "Best trade", "fraction", True,
       "Largest return_pct of a closed trade.", _TRADES, "trades"),
    _m("worst_trade", "Worst trade", "fraction", True,
       "Smallest return_pct of a closed trade.", _TRADES, "trades"),
    _m("payoff_ratio", "Payoff ratio", "ratio", True,
       "avg_win / |avg_loss|, both on trade return_pct.",
       f"{NO_TRADES}; no winning trades; no losing trades; average loss is zero", "trades"),
    _m("profit_factor", "Profit factor", "ratio", True,
       "Gross profit / gross loss in currency: sum(pnl[pnl > 0]) / |sum(pnl[pnl < 0])|; 0 "
       "when no trade won. Never infinite: with no losing trade it is NaN.",
       f"{NO_TRADES}; no losing trades", "trades"),
    _m("expectancy", "Expectancy", "currency", True,
       "Mean net pnl per closed trade, in account currency.", _TRADES, "trades"),
    _m("sqn", "System quality number", "ratio", True,
       "Van Tharp's SQN on net trade pnl: sqrt(n_trades) * mean(pnl) / std(pnl) (no cap on "
       "n_trades).",
       f"{NO_TRADES}; fewer than 2 closed trades; trade pnl has zero dispersion", "trades"),
    _m("max_consecutive_wins", "Max consecutive wins", "count", True,
       "Longest run of winning trades (pnl > 0) in exit-time order; 0 without trades.",
       "", "trades"),
    _m("max_consecutive_losses", "Max consecutive losses", "count", False,
       "Longest run of losing trades (pnl < 0) in exit-time order; a break-even trade ends a "
       "run; 0 without trades.", "", "trades"),
    _m("avg_bars_held", "Average bars held", "bars", None,
       "Mean bars_held of the closed trades.", _TRADES, "trades"),
    _m("exposure_time", "Exposure time", "fraction", None,
       "Fraction of bars holding a position, as given by the backtest.",
       "exposure not given", "trades"),
    _m("commissions", "Commissions", "currency", False,
       "Total commissions and fees paid, as given by the backtest.", "", "trades"),
    # ---- benchmark ----------------------------------------------------------------------------
    _m("alpha", "Alpha", "fraction", True,
       "Annualized CAPM alpha: the intercept of the OLS regression of strategy excess returns "
       "on benchmark excess returns, per bar, times P.",
       _BENCH, "benchmark"),
    _m("beta", "Beta", "ratio", None,
       "CAPM beta: cov(e, e_b) / var(e_b) on the shared bars (slope of the same regression).",
       _BENCH, "benchmark"),
    _m("r_squared", "R squared", "fraction", None,
       "Coefficient of determination of that regression: corr(r, b) ** 2.",
       f"{_BENCH}; {ZERO_VOLATILITY}", "benchmark"),
    _m("correlation", "Correlation", "ratio", None,
       "Pearson correlation of strategy and benchmark returns on the shared bars.",
       f"{_BENCH}; {ZERO_VOLATILITY}", "benchmark"),
    _m("tracking_error", "Tracking error", "fraction", False,
       "Annualized standard deviation of active returns: std(r - b) * sqrt(P).",
       f"{NO_BENCHMARK}; fewer than 2 bars shared with the benchmark", "benchmark"),
    _m("information_ratio", "Information ratio", "ratio", True,
       "Annualized information ratio: mean(r - b) / std(r - b) * sqrt(P).",
       f"{NO_BENCHMARK}; fewer than 2 bars shared with the benchmark; zero tracking error",
       "benchmark"),
    _m("benchmark_return", "Benchmark return", "fraction", None,
       "Compounded benchmark return over the bars it shares with the strategy.",
       f"{NO_BENCHMARK}; no bars shared with the benchmark", "benchmark"),
    _m("excess_return", "Excess return", "fraction", True,
       "Compounded strategy return minus benchmark_return, both over the shared bars.",
       f"{NO_BENCHMARK}; no bars shared with the benchmark", "benchmark"),
)
# fmt: on

METRICS: Mapping[str, MetricInfo] = MappingProxyType({info.name: info for info in _ALL})
"""Every metric by name, in report order (read-only)."""


def metric_info(name: str) -> MetricInfo:
    """Return the :class:`MetricInfo` of one metric.

    Args:
        name: The metric's key, e.g. ``"sharpe"``.

    Returns:
        Its registry entry.

    Raises:
        UnknownNameError: ``name`` is not a metric (the message suggests the closest one).

    Example:
        >>> metric_info("sharpe").title
        'Sharpe ratio'
    """
    try:
        return METRICS[name]
    except (KeyError, TypeError):
        raise UnknownNameError("metric", name, METRICS) from None
