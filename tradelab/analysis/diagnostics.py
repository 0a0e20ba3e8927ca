"""Overfitting diagnostics of a finished study, from its trials x time returns matrix.

:func:`diagnose_study` combines, for one study:

* **PBO** by CSCV over every trial's returns (:mod:`tradelab.analysis.pbo`), with the IS -> OOS
  degradation of the in-sample winner across the CSCV splits;
* **PSR / DSR** of the study's best trial (:mod:`tradelab.analysis.sharpe`): ``N`` is the number
  of distinct parameter sets in the matrix and ``V[SR_n]`` the variance of their per-period
  Sharpe ratios;
* **robustness** of the optimum (:mod:`tradelab.analysis.robustness`);
* the best trial's returns per **market regime** (:mod:`tradelab.analysis.regimes`).

It is pure: the matrix comes from the caller (``cluster.diagnostics`` builds it on Ray).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from tradelab.analysis.pbo import PBOResult, probability_of_backtest_overfitting
from tradelab.analysis.regimes import regime_breakdown
from tradelab.analysis.robustness import ParameterBounds, RobustnessReport, parameter_robustness
from tradelab.analysis.sharpe import SharpeSignificance, sharpe_ratio, sharpe_significance
from tradelab.errors import ConfigError

__all__ = ["MIN_SLICE_ROWS", "StudyDiagnostics", "choose_slices", "diagnose_study"]

MIN_SLICE_ROWS = 20
"""CSCV slices are reduced (in steps of 2) until each holds at least this many periods."""


def choose_slices(observations: int, wanted: int = 16) -> int:
    """The even slice count closest to ``wanted`` (not above) giving every slice at least
    :data:`MIN_SLICE_ROWS` periods; at least 2.

    Example:
        >>> choose_slices(2520), choose_slices(200), choose_slices(30)
        (16, 10, 2)
    """
    slices = max(2, wanted - wanted % 2)
    while slices > 2 and observations // slices < MIN_SLICE_ROWS:
        slices -= 2
    return slices


@dataclass(frozen=True, kw_only=True, slots=True)
class StudyDiagnostics:
    """Everything ``tradelab report STUDY`` shows.

    Attributes:
        study, strategy, symbols, metric, mode, search: the study.
        start, end: first and last date of the returns matrix; observations: its rows.
        trials_total: trials of the study; trials_complete: COMPLETE ones;
            trials_in_matrix: distinct parameter sets whose returns form the matrix.
        best_number, best_params, best_value: the study's best trial and objective.
        pbo: CSCV result (None with fewer than 2 trials in the matrix).
        significance: PSR / DSR of the best trial's returns.
        robustness: the optimum's neighbourhood, edges and sensitivities.
        regimes: the best trial's returns per market regime.
        trial_sharpes: annualized Sharpe ratio of each trial's returns, by trial number.
    """

    study: str
    strategy: str
    symbols: tuple[str, ...]
    metric: str
    mode: str
    search: str
    start: str
    end: str
    observations: int
    trials_total: int
    trials_complete: int
    trials_in_matrix: int
    best_number: int
    best_params: Mapping[str, Any]
    best_value: float
    pbo: PBOResult | None
    significance: SharpeSignificance
    robustness: RobustnessReport
    regimes: pd.DataFrame
    trial_sharpes: pd.Series
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly summary (no per-combination arrays)."""
        return {
            "study": self.study,
            "strategy": self.strategy,
            "symbols": list(self.symbols),
            "metric": self.metric,
            "mode": self.mode,
            "search": self.search,
            "start": self.start,
            "end": self.end,
            "observations": self.observations,
            "trials_total": self.trials_total,
            "trials_complete": self.trials_complete,
            "trials_in_matrix": self.trials_in_matrix,
            "best_number": self.best_number,
            "best_params": dict(self.best_params),
            "best_value": self.best_value if math.isfinite(self.best_value) else None,
            "pbo": self.pbo.to_dict() if self.pbo else None,
            "significance": self.significance.to_dict(),
            "robustness": self.robustness.to_dict(),
            "regimes": self.regimes.replace({np.nan: None}).to_dict(orient="records"),
            "notes": list(self.notes),
        }


def diagnose_study(
    *,
    study: str,
    strategy: str,
    symbols: Sequence[str],
    metric: str,
    mode: str,
    search: str,
    returns: pd.DataFrame,
    trials: Sequence[Mapping[str, Any]],
    best_number: int,
    bounds: Mapping[str, ParameterBounds] | None = None,
    benchmark_returns: pd.Series | None = None,
    slices: int = 16,
    periods_per_year: int = 252,
    notes: Sequence[str] = (),
) -> StudyDiagnostics:
    """Diagnose a study from its returns matrix and its trials.

    Args:
        study, strategy, symbols, metric, mode, search: the study's identity and settings.
        returns: ``T x K`` per-period returns on a DatetimeIndex, one column per trial number
            (distinct parameter sets only), including ``best_number``.
        trials: every trial of the study as ``{"number", "params", "state", "value"}``.
        best_number: the study's best trial.
        bounds: the searched ranges (edge flags); benchmark_returns: for the regimes.
        slices: CSCV slices wanted (reduced by :func:`choose_slices` for short matrices).

    Raises:
        ConfigError: the best trial has no column in ``returns``, or the matrix is empty.

    Example:
        >>> index = pd.date_range("2020-01-01", periods=400, freq="B", tz="UTC")
        >>> rng = np.random.default_rng(3)
        >>> matrix = pd.DataFrame(rng.normal(0, 0.01, (400, 6)), index=index, columns=range(6))
        >>> trials = [{"number": n, "params": {"n": n}, "state": "COMPLETE", "value": 0.1 * n}
        ...           for n in range(6)]
        >>> result = diagnose_study(study="s", strategy="x", symbols=("A",), metric="sharpe",
        ...     mode="max", search="random", returns=matrix, trials=trials, best_number=5)
        >>> 0.0 <= result.pbo.pbo <= 1.0 and result.significance.trials == 6
        True
    """
    if returns.empty or best_number not in returns.columns:
        raise ConfigError(
            f"the returns matrix has no column for the best trial {best_number}; "
            "build it with the best trial included."
        )
    if returns.isna().to_numpy().any():
        returns = returns.fillna(0.0)
    notes = list(notes)
    matrix = returns.to_numpy(dtype=float)
    pbo = None
    if matrix.shape[1] >= 2:
        chosen = choose_slices(matrix.shape[0], slices)
        if chosen != slices:
            notes.append(
                f"CSCV used {chosen} slices instead of {slices}: {matrix.shape[0]} "
                f"periods give each of {slices} fewer than {MIN_SLICE_ROWS}."
            )
        if matrix.shape[0] >= 2 * chosen:
            pbo = probability_of_backtest_overfitting(matrix, slices=chosen)
    else:
        notes.append("PBO needs at least 2 distinct complete trials; it was not computed.")
    sharpes = pd.Series({n: sharpe_ratio(returns[n].to_numpy()) for n in returns.columns})
    best_returns = returns[best_number]
    significance = sharpe_significance(
        best_returns.to_numpy(), trial_sharpes=sharpes.to_numpy(), periods_per_year=periods_per_year
    )
    complete = [
        (t["params"], t["value"])
        for t in trials
        if t.get("state") == "COMPLETE" and t.get("value") is not None
    ]
    robustness = parameter_robustness(complete, bounds=bounds, mode=mode, grid=search == "grid")
    regimes = (
        regime_breakdown(best_returns, benchmark_returns, periods_per_year=periods_per_year)
        if benchmark_returns is not None
        else pd.DataFrame()
    )
    best = next((t for t in trials if t["number"] == best_number), None)
    return StudyDiagnostics(
        study=study,
        strategy=strategy,
        symbols=tuple(symbols),
        metric=metric,
        mode=mode,
        search=search,
        start=returns.index[0].date().isoformat(),
        end=returns.index[-1].date().isoformat(),
        observations=len(returns),
        trials_total=len(trials),
        trials_complete=sum(1 for t in trials if t.get("state") == "COMPLETE"),
        trials_in_matrix=returns.shape[1],
        best_number=int(best_number),
        best_params=dict(best["params"]) if best else {},
        best_value=float(best["value"]) if best and best.get("value") is not None else math.nan,
        pbo=pbo,
        significance=significance,
        robustness=robustness,
        regimes=regimes,
        trial_sharpes=sharpes * math.sqrt(periods_per_year),
        notes=tuple(notes),
    )
