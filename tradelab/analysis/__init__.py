"""Honest statistics about optimization results: walk-forward windows, overfitting, robustness.

Pure numpy/pandas (no Ray): the cluster layer (``cluster.walkforward``, ``cluster.diagnostics``)
produces the returns and calls these.

* :mod:`~tradelab.analysis.windows` — rolling and anchored walk-forward windows.
* :mod:`~tradelab.analysis.pbo` — probability of backtest overfitting (CSCV).
* :mod:`~tradelab.analysis.sharpe` — probabilistic and deflated Sharpe ratios, MinTRL.
* :mod:`~tradelab.analysis.robustness` — the optimum's neighbourhood, edges, sensitivities.
* :mod:`~tradelab.analysis.regimes` — results per bull/bear x low/high-volatility regime.
* :mod:`~tradelab.analysis.walkforward` — walk-forward records, stitching, WFE, drift.
* :mod:`~tradelab.analysis.diagnostics` — all of it for one finished study.
* :mod:`~tradelab.analysis.report` — the text tables and the HTML report.

Example:
    >>> import numpy as np
    >>> from tradelab.analysis import probability_of_backtest_overfitting
    >>> noise = np.random.default_rng(0).normal(0, 0.01, size=(800, 20))
    >>> round(probability_of_backtest_overfitting(noise, slices=8).pbo, 1) in (0.3, 0.4, 0.5, 0.6)
    True
"""

from __future__ import annotations

from tradelab.analysis.diagnostics import StudyDiagnostics, choose_slices, diagnose_study
from tradelab.analysis.pbo import PBO_METRICS, PBOResult, probability_of_backtest_overfitting
from tradelab.analysis.regimes import REGIME_COLUMNS, buy_and_hold_returns, regime_breakdown
from tradelab.analysis.report import (
    study_report_html,
    study_report_text,
    walkforward_report_html,
    walkforward_report_text,
    write_report,
)
from tradelab.analysis.robustness import (
    ParameterBounds,
    ParameterSensitivity,
    RobustnessReport,
    parameter_robustness,
)
from tradelab.analysis.sharpe import (
    SharpeSignificance,
    deflated_sharpe_ratio,
    expected_max_sharpe,
    min_track_record_length,
    probabilistic_sharpe_ratio,
    return_moments,
    sharpe_ratio,
    sharpe_significance,
)
from tradelab.analysis.walkforward import (
    SUMMARY_METRICS,
    WINDOW_METRICS,
    WalkForwardResult,
    WindowResult,
    assemble_walk_forward,
    parameter_drift,
    period_metrics,
    walk_forward_efficiency,
)
from tradelab.analysis.windows import (
    Period,
    WalkForwardWindow,
    parse_period,
    walk_forward_windows,
    window_rows,
)

__all__ = [
    "PBO_METRICS",
    "REGIME_COLUMNS",
    "SUMMARY_METRICS",
    "WINDOW_METRICS",
    "PBOResult",
    "ParameterBounds",
    "ParameterSensitivity",
    "Period",
    "RobustnessReport",
    "SharpeSignificance",
    "StudyDiagnostics",
    "WalkForwardResult",
    "WalkForwardWindow",
    "WindowResult",
    "assemble_walk_forward",
    "buy_and_hold_returns",
    "choose_slices",
    "deflated_sharpe_ratio",
    "diagnose_study",
    "expected_max_sharpe",
    "min_track_record_length",
    "parameter_drift",
    "parameter_robustness",
    "parse_period",
    "period_metrics",
    "probabilistic_sharpe_ratio",
    "probability_of_backtest_overfitting",
    "regime_breakdown",
    "return_moments",
    "sharpe_ratio",
    "sharpe_significance",
    "study_report_html",
    "study_report_text",
    "walk_forward_efficiency",
    "walk_forward_windows",
    "walkforward_report_html",
    "walkforward_report_text",
    "window_rows",
    "write_report",
]
