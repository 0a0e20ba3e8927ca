"""Drawdown statistics from the wealth index: depth, duration, episodes, ulcer, Calmar."""

from __future__ import annotations

import math

import numpy as np

from tradelab.metrics._collect import Collector
from tradelab.metrics.registry import NO_RETURNS

DRAWDOWN_METRICS = (
    "max_drawdown",
    "max_drawdown_duration",
    "avg_drawdown",
    "avg_drawdown_duration",
    "ulcer_index",
    "calmar",
    "recovery_factor",
)


def drawdown_series(wealth: np.ndarray) -> np.ndarray:
    """``W / running peak - 1`` per bar, the starting capital (1.0) counting as the first peak."""
    peak = np.maximum.accumulate(wealth)
    np.maximum(peak, 1.0, out=peak)
    return wealth / peak - 1.0


def drawdown_episodes(drawdown: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Depth and duration (bars) of each run of bars below a previous peak.

    The duration counts from the peak bar (the bar before the run; the start for a run at bar 0)
    to the bar that regains the peak, or to the last bar when the run never ends.
    """
    n = drawdown.size
    edges = np.diff(np.concatenate(([0], (drawdown < 0.0).view(np.int8), [0])))
    starts = np.flatnonzero(edges == 1)
    if starts.size == 0:
        return np.empty(0), np.empty(0)
    ends = np.flatnonzero(edges == -1) - 1
    # Bars between two runs have drawdown 0, so the per-segment minimum is the run's depth.
    depths = np.minimum.reduceat(drawdown, starts)
    durations = (ends - starts + 1 + (ends < n - 1)).astype(float)
    return depths, durations


def drawdown_metrics(
    out: Collector,
    wealth: np.ndarray,
    *,
    total_return: float,
    cagr: float,
) -> None:
    """Max/average drawdown depth and duration, ulcer index, Calmar ratio, recovery factor."""
    if wealth.size == 0:
        out.undefined(DRAWDOWN_METRICS, NO_RETURNS)
        return
    drawdown = drawdown_series(wealth)
    depths, durations = drawdown_episodes(drawdown)
    max_dd = float(drawdown.min()) + 0.0  # + 0.0 turns -0.0 into 0.0
    out.put("max_drawdown", max_dd)
    out.put("ulcer_index", math.sqrt(float(np.dot(drawdown, drawdown)) / drawdown.size))
    if depths.size:
        out.put("max_drawdown_duration", durations.max())
        out.put("avg_drawdown", depths.mean())
        out.put("avg_drawdown_duration", durations.mean())
    else:
        out.put("max_drawdown_duration", 0.0)
        out.put("avg_drawdown", 0.0)
        out.put("avg_drawdown_duration", 0.0)
    if max_dd == 0.0:
        out.undefined(("calmar", "recovery_factor"), "no drawdown")
        return
    if math.isnan(cagr):
        out.undefined("calmar", "cagr undefined (wealth below zero)")
    else:
        out.put("calmar", cagr / -max_dd)
    out.put("recovery_factor", total_return / -max_dd)
