"""Probability of Backtest Overfitting by combinatorially symmetric cross-validation (CSCV).

Bailey, Borwein, López de Prado & Zhu, "The Probability of Backtest Overfitting", *Journal of
Computational Finance* 20(4), 2017. From a ``T x N`` matrix of returns (``T`` periods, ``N``
trials — every parameter set the search evaluated):

1. split the rows into ``S`` contiguous, equal slices (the first ``T mod S`` rows are dropped);
2. for every way of choosing ``S/2`` slices as the in-sample set ``J`` (the other half is the
   out-of-sample set ``J'``) — ``C(S, S/2)`` combinations, each with its complement —
   measure every trial's performance (Sharpe ratio) on ``J`` and on ``J'``;
3. take the in-sample best trial ``n*``, its out-of-sample relative rank
   ``w = rank(R'_{n*}) / (N + 1)`` and the logit ``L = ln(w / (1 - w))``;
4. **PBO** is the share of combinations with ``L <= 0``: the in-sample best fell to the lower
   half out of sample.

For trials that are pure noise the out-of-sample rank of the in-sample winner is uniform, so
PBO is about 0.5; when one trial is truly better in every period it wins in and out of sample
and PBO is about 0. The same combinations give the IS -> OOS **degradation** of the selected
trial (the regression of its OOS performance on its IS performance, and the probability that
it loses money out of sample).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from tradelab.errors import ConfigError

__all__ = ["PBO_METRICS", "PBOResult", "probability_of_backtest_overfitting"]

PBO_METRICS = ("sharpe", "mean")
"""Performance measures CSCV can rank trials by: per-period Sharpe ratio or mean return."""

_MAX_COMBINATIONS = 20_000


@dataclass(frozen=True, kw_only=True, slots=True)
class PBOResult:
    """The outcome of CSCV.

    Attributes:
        pbo: probability of backtest overfitting, in [0, 1].
        trials: ``N`` columns; observations: ``T`` rows used (a multiple of ``slices``).
        slices: ``S``; combinations: how many IS/OOS splits were evaluated.
        metric: the performance measure (``sharpe`` per period, or ``mean``).
        logits: ``L`` per combination (read-only).
        is_performance, oos_performance: the selected trial's IS and OOS performance per
            combination (read-only).
        degradation_slope, degradation_intercept: least-squares fit of OOS on IS performance
            of the selected trial (a slope well below 1 = performance does not carry over).
        probability_of_loss: share of combinations where the selected trial's OOS performance
            is below zero.
        mean_is, mean_oos: mean IS and OOS performance of the selected trial.
    """

    pbo: float
    trials: int
    observations: int
    slices: int
    combinations: int
    metric: str
    logits: np.ndarray
    is_performance: np.ndarray
    oos_performance: np.ndarray
    degradation_slope: float
    degradation_intercept: float
    probability_of_loss: float
    mean_is: float
    mean_oos: float

    def to_dict(self) -> dict[str, Any]:
        """Numbers only (the per-combination arrays are summarised by their counts)."""
        return {
            name: (_plain(getattr(self, name)))
            for name in (
                "pbo",
                "trials",
                "observations",
                "slices",
                "combinations",
                "metric",
                "degradation_slope",
                "degradation_intercept",
                "probability_of_loss",
                "mean_is",
                "mean_oos",
            )
        }


def probability_of_backtest_overfitting(
    returns: np.ndarray | pd.DataFrame,
    *,
    slices: int = 16,
    metric: str = "sharpe",
    max_combinations: int = _MAX_COMBINATIONS,
    seed: int | None = 0,
) -> PBOResult:
    """PBO of a ``T x N`` returns matrix (rows in time order, one column per trial).

    Args:
        returns: per-period returns, ``T`` rows by ``N >= 2`` trials, no NaN.
        slices: ``S``, an even number >= 2 (the paper uses 16); every slice needs >= 2 rows.
        metric: ``"sharpe"`` (per-period Sharpe ratio; a constant column scores 0) or
            ``"mean"``.
        max_combinations: above this many of the ``C(S, S/2)`` splits, a seeded random
            sample of them (with their complements) is used.
        seed: the sample's seed.

    Raises:
        ConfigError: a bad matrix, slice count or metric.

    Example:
        >>> rng = np.random.default_rng(7)
        >>> noise = rng.normal(0.0, 0.01, size=(1600, 40))
        >>> result = probability_of_backtest_overfitting(noise, slices=10)
        >>> 0.3 < result.pbo < 0.7
        True
    """
    matrix = _matrix(returns)
    if metric not in PBO_METRICS:
        from tradelab.errors import UnknownNameError

        raise UnknownNameError("PBO metric", str(metric), PBO_METRICS)
    if isinstance(slices, bool) or not isinstance(slices, int) or slices < 2 or slices % 2:
        raise ConfigError(f"slices must be an even integer >= 2, got {slices!r}.")
    rows, trials = matrix.shape
    if trials < 2:
        raise ConfigError(f"PBO needs at least 2 trials (columns), got {trials}.")
    size = rows // slices
    if size < 2:
        raise ConfigError(
            f"{rows} observations are too few for {slices} slices (each needs at least 2); "
            f"use fewer slices (at most {rows // 2 - rows // 2 % 2 or 2}) or a longer period."
        )
    used = matrix[rows - size * slices :]
    blocks = used.reshape(slices, size, trials)
    sums = blocks.sum(axis=1)  # S x N
    squares = (blocks**2).sum(axis=1)
    members = _combinations(slices, max_combinations, seed)  # C x S booleans
    is_perf = _performance(members, sums, squares, size, metric)
    oos_perf = _performance(~members, sums, squares, size, metric)
    chosen = np.argmax(is_perf, axis=1)  # first best on ties
    picked = np.arange(len(chosen))
    oos_chosen = oos_perf[picked, chosen]
    is_chosen = is_perf[picked, chosen]
    ranks = _average_ranks(oos_perf)[picked, chosen]
    relative = ranks / (trials + 1.0)
    logits = np.log(relative / (1.0 - relative))
    slope, intercept = _fit(is_chosen, oos_chosen)
    return PBOResult(
        pbo=float(np.mean(logits <= 0.0)),
        trials=trials,
        observations=size * slices,
        slices=slices,
        combinations=len(members),
        metric=metric,
        logits=_frozen(logits),
        is_performance=_frozen(is_chosen),
        oos_performance=_frozen(oos_chosen),
        degradation_slope=slope,
        degradation_intercept=intercept,
        probability_of_loss=float(np.mean(oos_chosen < 0.0)),
        mean_is=float(np.mean(is_chosen)),
        mean_oos=float(np.mean(oos_chosen)),
    )


def _matrix(returns: Any) -> np.ndarray:
    values = returns.to_numpy(dtype=float) if isinstance(returns, pd.DataFrame) else returns
    try:
        matrix = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise ConfigError(
            f"returns must be a numeric matrix, got {type(returns).__name__}."
        ) from None
    if matrix.ndim != 2:
        raise ConfigError(
            f"returns must be a 2-D matrix (periods x trials), got {matrix.ndim} dimension(s)."
        )
    if not np.isfinite(matrix).all():
        raise ConfigError("returns contain NaN or infinite values; fill them (e.g. with 0) first.")
    return matrix


def _combinations(slices: int, limit: int, seed: int | None) -> np.ndarray:
    """Membership of the in-sample half, one row per combination (complements included)."""
    half = slices // 2
    total = math.comb(slices, half)
    if total <= limit:
        chosen = list(itertools.combinations(range(slices), half))
    else:
        rng = np.random.default_rng(seed)
        picked: set[tuple[int, ...]] = set()
        while len(picked) < limit:
            combo = tuple(sorted(rng.choice(slices, size=half, replace=False).tolist()))
            complement = tuple(i for i in range(slices) if i not in combo)
            picked.update((combo, complement))
        chosen = sorted(picked)
    members = np.zeros((len(chosen), slices), dtype=bool)
    for row, combo in enumerate(chosen):
        members[row, list(combo)] = True
    return members


def _performance(
    members: np.ndarray, sums: np.ndarray, squares: np.ndarray, size: int, metric: str
) -> np.ndarray:
    weights = members.astype(float)
    count = weights.sum(axis=1, keepdims=True) * size
    total = weights @ sums
    mean = total / count
    if metric == "mean":
        return mean
    variance = (weights @ squares - count * mean**2) / (count - 1.0)
    std = np.sqrt(np.clip(variance, 0.0, None))
    tiny = std <= 1e-15 * np.maximum(np.abs(mean), 1e-300)
    with np.errstate(divide="ignore", invalid="ignore"):
        sharpe = np.where(tiny, 0.0, mean / np.where(tiny, 1.0, std))
    return sharpe


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks along each row, ties sharing their average rank."""
    return pd.DataFrame(values).rank(axis=1, method="average").to_numpy()


def _fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    if x.size < 2 or float(np.ptp(x)) == 0.0:
        return math.nan, math.nan
    slope, intercept = np.polyfit(x, y, 1)
    return float(slope), float(intercept)


def _frozen(values: np.ndarray) -> np.ndarray:
    out = np.array(values, dtype=float, copy=True)
    out.flags.writeable = False
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
