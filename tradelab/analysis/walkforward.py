"""The results of a walk-forward analysis, and the statistics that need no Ray.

For each window the parameters are optimized on the train period and the best set is run on the
test period; the test periods' returns, stitched in time order, are the analysis's honest
out-of-sample record. This module holds the records (:class:`WindowResult`,
:class:`WalkForwardResult`) and computes from them:

* per-window IS/OOS metrics (``sharpe``, ``cagr``, ``max_drawdown``, ``total_return``,
  ``num_trades``) and the window's walk-forward efficiency;
* the stitched OOS returns and equity, and their metrics;
* **walk-forward efficiency** (WFE) = annualized OOS return ÷ annualized IS return: the CAGR of
  the stitched OOS returns over the mean IS CAGR of the windows' chosen parameters (Pardo's
  definition; undefined — NaN — when the mean IS CAGR is not positive);
* **parameter drift**: each parameter's chosen value per window, its spread and how often it
  changed (stable choices suggest a real effect, wandering ones a fit to noise);
* the OOS results per market regime (:func:`tradelab.analysis.regime_breakdown`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from tradelab.analysis.regimes import regime_breakdown
from tradelab.analysis.robustness import ParameterBounds
from tradelab.analysis.sharpe import probabilistic_sharpe_ratio, return_moments, sharpe_ratio
from tradelab.analysis.windows import WalkForwardWindow
from tradelab.errors import ConfigError

__all__ = [
    "SUMMARY_METRICS",
    "WINDOW_METRICS",
    "WalkForwardResult",
    "WindowResult",
    "assemble_walk_forward",
    "parameter_drift",
    "period_metrics",
    "walk_forward_efficiency",
]

WINDOW_METRICS = ("sharpe", "cagr", "max_drawdown", "total_return", "num_trades")
"""Metrics measured in and out of sample for every window (``is_<m>`` / ``oos_<m>``)."""

SUMMARY_METRICS = (
    "wfe",
    "oos_sharpe",
    "oos_cagr",
    "oos_max_drawdown",
    "oos_total_return",
    "oos_psr",
    "is_sharpe",
    "is_cagr",
    "windows",
)
"""Keys of :attr:`WalkForwardResult.summary`."""


def period_metrics(
    returns: pd.Series, *, trades: int = 0, periods_per_year: int = 252
) -> dict[str, float]:
    """:data:`WINDOW_METRICS` of a return series (``num_trades`` as given). NaN where undefined
    (e.g. the Sharpe ratio of returns that never move)."""
    from tradelab.metrics import compute_metrics

    if len(returns) == 0:
        return {**{m: math.nan for m in WINDOW_METRICS}, "num_trades": float(trades)}
    report = compute_metrics(returns, initial_value=1.0, periods_per_year=periods_per_year)
    out = {m: float(report.values.get(m, math.nan)) for m in WINDOW_METRICS}
    out["num_trades"] = float(trades)
    return out


def walk_forward_efficiency(oos_cagr: float, is_cagr: float) -> float:
    """OOS CAGR ÷ IS CAGR; NaN when either is undefined or the IS CAGR is not positive
    (a ratio to a loss or to nothing has no meaning).

    Example:
        >>> walk_forward_efficiency(0.05, 0.10)
        0.5
    """
    if not (math.isfinite(oos_cagr) and math.isfinite(is_cagr)) or is_cagr <= 0.0:
        return math.nan
    return oos_cagr / is_cagr


@dataclass(frozen=True, kw_only=True, slots=True)
class WindowResult:
    """One window: the parameters chosen in sample and how they did out of sample.

    Attributes:
        window: the dates.
        best_params: the chosen parameters (empty when no trial completed: the window then
            stays in cash out of sample and ``note`` says so).
        is_objective: the search objective of the chosen parameters on the train period.
        is_metrics, oos_metrics: :data:`WINDOW_METRICS` of the equal-weight portfolio (one
            backtest per symbol) on the train and the test period.
        oos_returns: the test period's daily portfolio returns.
        trials: trials run in the window's search; complete: how many completed.
        note: why a window has no parameters, if so.
    """

    window: WalkForwardWindow
    best_params: Mapping[str, Any]
    is_objective: float
    is_metrics: Mapping[str, float]
    oos_metrics: Mapping[str, float]
    oos_returns: pd.Series
    trials: int
    complete: int
    note: str = ""

    @property
    def wfe(self) -> float:
        return walk_forward_efficiency(
            self.oos_metrics.get("cagr", math.nan), self.is_metrics.get("cagr", math.nan)
        )

    def row(self) -> dict[str, Any]:
        """The window as one JSON-friendly row (the ``windows.json`` artifact's items)."""
        row: dict[str, Any] = {**self.window.to_dict(), "best_params": dict(self.best_params)}
        row["is_objective"] = _num(self.is_objective)
        for prefix, metrics in (("is", self.is_metrics), ("oos", self.oos_metrics)):
            for name in WINDOW_METRICS:
                row[f"{prefix}_{name}"] = _num(metrics.get(name, math.nan))
        row.update(wfe=_num(self.wfe), trials=self.trials, complete=self.complete, note=self.note)
        return row


@dataclass(frozen=True, kw_only=True, slots=True)
class WalkForwardResult:
    """A finished walk-forward analysis.

    Attributes:
        name: the analysis name (MLflow tag ``tradelab.walkforward``).
        strategy, symbols: what was analysed; settings: train, test, step, anchored, trials …
        windows: one :class:`WindowResult` per window, in time order.
        oos_returns: the stitched out-of-sample daily returns (test periods only).
        cash: starting value of :attr:`oos_equity`.
        summary: :data:`SUMMARY_METRICS`.
        regimes: the OOS returns per market regime (:func:`regime_breakdown`).
        drift: :func:`parameter_drift` of the chosen parameters.
        wall_s: wall seconds; tracking_run_id / tracking_uri: the MLflow parent run.
    """

    name: str
    strategy: str
    symbols: tuple[str, ...]
    settings: Mapping[str, Any]
    windows: tuple[WindowResult, ...]
    oos_returns: pd.Series
    cash: float
    summary: Mapping[str, float]
    regimes: pd.DataFrame
    drift: pd.DataFrame
    wall_s: float = 0.0
    tracking_run_id: str | None = None
    tracking_uri: str | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def oos_equity(self) -> pd.Series:
        """``cash`` compounded by the stitched OOS returns (one value per OOS bar)."""
        return (self.cash * (1.0 + self.oos_returns).cumprod()).rename("equity")

    def window_table(self) -> pd.DataFrame:
        """One row per window (the ``windows.json`` rows as a DataFrame)."""
        return pd.DataFrame([w.row() for w in self.windows])

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly: settings, summary, windows, drift, regimes and the OOS equity."""
        equity = self.oos_equity
        return {
            "name": self.name,
            "strategy": self.strategy,
            "symbols": list(self.symbols),
            "settings": dict(self.settings),
            "summary": {k: _num(v) for k, v in self.summary.items()},
            "windows": [w.row() for w in self.windows],
            "drift": json.loads(self.drift.to_json(orient="records")),
            "regimes": json.loads(self.regimes.to_json(orient="records")),
            "oos_equity": {
                "timestamps": [t.isoformat() for t in equity.index],
                "equity": [float(v) for v in equity],
            },
            "wall_seconds": self.wall_s,
            "tracking_run_id": self.tracking_run_id,
            "tracking_uri": self.tracking_uri,
            "notes": list(self.notes),
        }


def parameter_drift(
    windows: Sequence[WindowResult], bounds: Mapping[str, ParameterBounds] | None = None
) -> pd.DataFrame:
    """Per parameter: its chosen value in each window, spread and changes.

    Columns: ``parameter``, ``values`` (per window, in order; None where a window chose
    nothing), ``min``, ``max``, ``mean``, ``std``, ``changes`` (windows whose value differs
    from the previous window's) and ``range_used`` ((max - min) / the search range's width;
    NaN without bounds or for categorical parameters).

    Example:
        >>> from datetime import date
        >>> w = WalkForwardWindow(index=0, train_start=date(2020, 1, 1),
        ...     train_end=date(2020, 12, 31), test_start=date(2021, 1, 1),
        ...     test_end=date(2021, 6, 30))
        >>> make = lambda fast: WindowResult(window=w, best_params={"fast": fast},
        ...     is_objective=1.0, is_metrics={}, oos_metrics={},
        ...     oos_returns=pd.Series(dtype=float), trials=1, complete=1)
        >>> drift = parameter_drift([make(10), make(10), make(20)])
        >>> drift[["parameter", "changes"]].values.tolist()
        [['fast', 1]]
    """
    names = sorted({name for w in windows for name in w.best_params})
    rows = []
    for name in names:
        values = [w.best_params.get(name) for w in windows]
        present = [v for v in values if v is not None]
        numeric = [
            float(v)
            for v in present
            if isinstance(v, int | float | np.number) and not isinstance(v, bool)
        ]
        is_numeric = bool(present) and len(numeric) == len(present)
        changes = sum(1 for a, b in zip(present, present[1:], strict=False) if a != b)
        span = (bounds or {}).get(name)
        width = (
            (span.high - span.low)
            if span is not None
            and span.kind != "choice"
            and span.high is not None
            and span.low is not None
            else math.nan
        )
        low = min(numeric) if is_numeric else math.nan
        high = max(numeric) if is_numeric else math.nan
        rows.append(
            {
                "parameter": name,
                "values": values,
                "min": low,
                "max": high,
                "mean": float(np.mean(numeric)) if is_numeric else math.nan,
                "std": float(np.std(numeric, ddof=1))
                if is_numeric and len(numeric) > 1
                else math.nan,
                "changes": changes,
                "range_used": (high - low) / width
                if is_numeric and width and width > 0
                else math.nan,
            }
        )
    return pd.DataFrame(
        rows, columns=["parameter", "values", "min", "max", "mean", "std", "changes", "range_used"]
    )


def assemble_walk_forward(
    *,
    name: str,
    strategy: str,
    symbols: Sequence[str],
    settings: Mapping[str, Any],
    windows: Sequence[WindowResult],
    benchmark_returns: pd.Series | None,
    cash: float,
    bounds: Mapping[str, ParameterBounds] | None = None,
    periods_per_year: int = 252,
    wall_s: float = 0.0,
    notes: Sequence[str] = (),
) -> WalkForwardResult:
    """Stitch the windows' OOS returns and compute the summary, drift and regimes.

    Raises:
        ConfigError: no windows, or test periods that overlap (their OOS returns share dates).
    """
    if not windows:
        raise ConfigError("a walk-forward analysis needs at least one window.")
    ordered = sorted(windows, key=lambda w: w.window.test_start)
    pieces = [w.oos_returns for w in ordered if len(w.oos_returns)]
    stitched = pd.concat(pieces) if pieces else pd.Series(dtype=float)
    if stitched.index.has_duplicates:
        raise ConfigError(
            "the windows' test periods overlap; their OOS returns cannot be "
            "stitched (use a step of at least the test length)."
        )
    stitched = stitched.sort_index().rename("returns")
    trades = int(
        sum(
            w.oos_metrics.get("num_trades", 0) or 0
            for w in ordered
            if math.isfinite(w.oos_metrics.get("num_trades", 0) or 0)
        )
    )
    oos = period_metrics(stitched, trades=trades, periods_per_year=periods_per_year)
    is_sharpes = [w.is_metrics.get("sharpe", math.nan) for w in ordered if w.best_params]
    is_cagrs = [w.is_metrics.get("cagr", math.nan) for w in ordered if w.best_params]
    is_sharpe = _nanmean(is_sharpes)
    is_cagr = _nanmean(is_cagrs)
    psr = math.nan
    if len(stitched) > 2:
        skew, kurtosis = return_moments(stitched.to_numpy())
        psr = probabilistic_sharpe_ratio(
            sharpe_ratio(stitched.to_numpy()),
            observations=len(stitched),
            skew=skew,
            kurtosis=kurtosis,
        )
    summary = {
        "wfe": walk_forward_efficiency(oos["cagr"], is_cagr),
        "oos_sharpe": oos["sharpe"],
        "oos_cagr": oos["cagr"],
        "oos_max_drawdown": oos["max_drawdown"],
        "oos_total_return": oos["total_return"],
        "oos_psr": psr,
        "is_sharpe": is_sharpe,
        "is_cagr": is_cagr,
        "windows": float(len(ordered)),
    }
    regimes = (
        regime_breakdown(stitched, benchmark_returns, periods_per_year=periods_per_year)
        if benchmark_returns is not None and len(stitched)
        else pd.DataFrame()
    )
    return WalkForwardResult(
        name=name,
        strategy=strategy,
        symbols=tuple(symbols),
        settings=dict(settings),
        windows=tuple(ordered),
        oos_returns=stitched,
        cash=float(cash),
        summary=summary,
        regimes=regimes,
        drift=parameter_drift(ordered, bounds),
        wall_s=wall_s,
        notes=tuple(notes),
    )


def _nanmean(values: Sequence[float]) -> float:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.mean(finite)) if finite else math.nan


def _num(value: Any) -> Any:
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    return value
