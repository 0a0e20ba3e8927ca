"""Performance statistics of a backtest: 50 named, documented metrics, regimes, benchmark.

The one entry point is :func:`compute_metrics`; :data:`METRICS` describes every value it returns
(meaning, formula, unit, direction, and when it is undefined).

Example:
    >>> import pandas as pd
    >>> from tradelab.metrics import compute_metrics, metric_info
    >>> index = pd.date_range("2024-01-02", periods=5, freq="B", tz="UTC")
    >>> report = compute_metrics(pd.Series([0.01, -0.02, 0.03, 0.0, -0.01], index=index))
    >>> metric_info("max_drawdown").unit, round(report["max_drawdown"], 4)
    ('fraction', -0.02)
"""

from __future__ import annotations

from tradelab.metrics.compute import compute_metrics
from tradelab.metrics.regimes import REGIME_LABELS, UNCLASSIFIED, classify_regimes
from tradelab.metrics.registry import METRICS, UNITS, MetricInfo, metric_info
from tradelab.metrics.report import MetricsReport

__all__ = [
    "METRICS",
    "REGIME_LABELS",
    "UNCLASSIFIED",
    "UNITS",
    "MetricInfo",
    "MetricsReport",
    "classify_regimes",
    "compute_metrics",
    "metric_info",
]
