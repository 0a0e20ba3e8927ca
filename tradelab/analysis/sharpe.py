"""The probabilistic and the deflated Sharpe ratio: is a Sharpe ratio skill, luck or selection?

* **PSR** — Bailey & López de Prado (2012), "The Sharpe Ratio Efficient Frontier", *Journal of
  Risk* 15(2): the probability that the true Sharpe ratio exceeds a benchmark ``SR*`` given the
  estimate ``SR`` from ``T`` returns of skewness ``g3`` and kurtosis ``g4``::

      PSR(SR*) = Z[ (SR - SR*) * sqrt(T - 1) / sqrt(1 - g3 * SR + (g4 - 1) / 4 * SR**2) ]

* **DSR** — Bailey & López de Prado (2014), "The Deflated Sharpe Ratio: Correcting for Selection
  Bias, Backtest Overfitting and Non-Normality", *Journal of Portfolio Management* 40(5): the PSR
  against the Sharpe ratio the best of ``N`` trials would show by luck alone::

      SR0 = sqrt(V[SR_n]) * ((1 - gamma) * Z^-1[1 - 1/N] + gamma * Z^-1[1 - 1/(N e)])
      DSR = PSR(SR0)

  with ``V[SR_n]`` the variance of the trials' Sharpe ratios and ``gamma`` the Euler-Mascheroni
  constant.

Sharpe ratios here are per period (daily for daily returns, *not* annualized) and the kurtosis is
the plain fourth standardized moment (3 for normal returns), as in both papers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from statistics import NormalDist
from typing import Any

import numpy as np

from tradelab.errors import ConfigError

__all__ = [
    "EULER_GAMMA",
    "SharpeSignificance",
    "deflated_sharpe_ratio",
    "expected_max_sharpe",
    "min_track_record_length",
    "probabilistic_sharpe_ratio",
    "return_moments",
    "sharpe_ratio",
    "sharpe_significance",
]

EULER_GAMMA = 0.5772156649015329
_NORMAL = NormalDist()


def sharpe_ratio(returns: Sequence[float] | np.ndarray) -> float:
    """Per-period Sharpe ratio ``mean / std`` (sample std, ``ddof=1``); 0 for constant returns
    with a zero mean, NaN with fewer than 2 returns."""
    values = _values(returns)
    if values.size < 2:
        return math.nan
    std = float(values.std(ddof=1))
    mean = float(values.mean())
    if std == 0.0:
        return 0.0 if mean == 0.0 else math.copysign(math.inf, mean)
    return mean / std


def return_moments(returns: Sequence[float] | np.ndarray) -> tuple[float, float]:
    """``(skewness, kurtosis)`` of the returns from population moments, kurtosis not in excess
    (3 for normal returns), as the PSR formula takes them. ``(0, 3)`` for constant returns."""
    values = _values(returns)
    if values.size < 2:
        return 0.0, 3.0
    centred = values - values.mean()
    m2 = float(np.mean(centred**2))
    if m2 == 0.0:
        return 0.0, 3.0
    return float(np.mean(centred**3)) / m2**1.5, float(np.mean(centred**4)) / m2**2


def probabilistic_sharpe_ratio(
    sharpe: float,
    *,
    observations: int,
    benchmark: float = 0.0,
    skew: float = 0.0,
    kurtosis: float = 3.0,
) -> float:
    """PSR: the probability that the true per-period Sharpe ratio exceeds ``benchmark``.

    Args:
        sharpe: the observed per-period Sharpe ratio.
        observations: ``T``, the number of returns it was measured on (at least 2).
        benchmark: ``SR*``, per period.
        skew, kurtosis: of the returns (kurtosis 3 = normal).

    Returns:
        A probability in [0, 1]; NaN when ``sharpe`` is NaN or the variance term is not
        positive (extreme skew against a large Sharpe ratio).

    Example (the DSR paper's selected strategy tested against its ``SR0``):
        >>> round(probabilistic_sharpe_ratio(2.5 / math.sqrt(250), observations=1250,
        ...       benchmark=expected_max_sharpe(100, 0.5 / 250), skew=-3, kurtosis=10), 4)
        0.9004
    """
    _count(observations, "observations", 2)
    if not math.isfinite(sharpe) or not math.isfinite(benchmark):
        return math.nan
    variance = 1.0 - skew * sharpe + (kurtosis - 1.0) / 4.0 * sharpe**2
    if not variance > 0.0:
        return math.nan
    z = (sharpe - benchmark) * math.sqrt(observations - 1) / math.sqrt(variance)
    return _NORMAL.cdf(z)


def expected_max_sharpe(trials: int, variance: float, *, mean: float = 0.0) -> float:
    """``SR0``: the expected maximum of ``trials`` Sharpe ratio estimates whose true values are
    all ``mean`` and whose estimates have variance ``variance`` (the DSR paper's eq. for
    ``E[max SR_n]``). ``mean`` for a single trial.

    Example (the DSR paper: N = 100, V[SR_n] = 1/2 annualized = 0.5/250 daily):
        >>> round(expected_max_sharpe(100, 0.5 / 250), 4)
        0.1132
    """
    _count(trials, "trials", 1)
    if not (math.isfinite(variance) and variance >= 0.0):
        raise ConfigError(f"variance must be a finite number >= 0, got {variance!r}.")
    if trials == 1:
        return mean
    spread = (1.0 - EULER_GAMMA) * _NORMAL.inv_cdf(1.0 - 1.0 / trials) + EULER_GAMMA * (
        _NORMAL.inv_cdf(1.0 - 1.0 / (trials * math.e))
    )
    return mean + math.sqrt(variance) * spread


def deflated_sharpe_ratio(
    sharpe: float,
    *,
    observations: int,
    trials: int,
    sharpe_variance: float,
    skew: float = 0.0,
    kurtosis: float = 3.0,
) -> float:
    """DSR: the PSR of the selected strategy against ``expected_max_sharpe(trials, variance)``.

    Args:
        sharpe: the selected (best) trial's per-period Sharpe ratio.
        observations: its number of returns ``T``.
        trials: ``N``, how many (independent) configurations were tried.
        sharpe_variance: ``V[SR_n]``, the variance of the trials' per-period Sharpe ratios.
        skew, kurtosis: of the selected trial's returns.

    Example (Bailey & López de Prado 2014, the numerical example: N = 100 trials, best
    annualized SR 2.5 over T = 1250 daily returns, V[SR_n] = 1/2 annualized, skew -3,
    kurtosis 10):
        >>> round(deflated_sharpe_ratio(2.5 / math.sqrt(250), observations=1250, trials=100,
        ...       sharpe_variance=0.5 / 250, skew=-3, kurtosis=10), 4)
        0.9004
    """
    threshold = expected_max_sharpe(trials, sharpe_variance)
    return probabilistic_sharpe_ratio(
        sharpe, observations=observations, benchmark=threshold, skew=skew, kurtosis=kurtosis
    )


def min_track_record_length(
    sharpe: float,
    *,
    benchmark: float = 0.0,
    skew: float = 0.0,
    kurtosis: float = 3.0,
    confidence: float = 0.95,
) -> float:
    """MinTRL (Bailey & López de Prado 2012): the number of returns needed for the PSR against
    ``benchmark`` to reach ``confidence``; ``inf`` when ``sharpe <= benchmark``.

    ``1 + (1 - g3 SR + (g4 - 1)/4 SR**2) * (Z^-1[confidence] / (SR - SR*))**2``
    """
    if not 0.0 < confidence < 1.0:
        raise ConfigError(f"confidence must be between 0 and 1, got {confidence!r}.")
    if not math.isfinite(sharpe) or sharpe <= benchmark:
        return math.inf
    variance = 1.0 - skew * sharpe + (kurtosis - 1.0) / 4.0 * sharpe**2
    if not variance > 0.0:
        return math.nan
    return 1.0 + variance * (_NORMAL.inv_cdf(confidence) / (sharpe - benchmark)) ** 2


@dataclass(frozen=True, kw_only=True, slots=True)
class SharpeSignificance:
    """How much a selected trial's Sharpe ratio can be trusted.

    Attributes:
        sharpe: per-period Sharpe ratio of the returns; sharpe_annualized: times sqrt(periods).
        observations: ``T``; skew, kurtosis: of the returns.
        psr: PSR against 0 (the probability the true Sharpe ratio is positive).
        trials: ``N`` trials the selection was made from; sharpe_variance: ``V[SR_n]``.
        expected_max_sharpe: ``SR0`` per period (what the best of N would show by luck);
            expected_max_sharpe_annualized likewise.
        dsr: the deflated Sharpe ratio, PSR against ``SR0``.
        min_track_record: MinTRL in periods for 95% confidence that SR > 0.
    """

    sharpe: float
    sharpe_annualized: float
    observations: int
    skew: float
    kurtosis: float
    psr: float
    trials: int
    sharpe_variance: float
    expected_max_sharpe: float
    expected_max_sharpe_annualized: float
    dsr: float
    min_track_record: float

    def to_dict(self) -> dict[str, Any]:
        return {
            k: (v if not isinstance(v, float) or math.isfinite(v) else None)
            for k, v in asdict(self).items()
        }


def sharpe_significance(
    returns: Sequence[float] | np.ndarray,
    *,
    trial_sharpes: Sequence[float] | np.ndarray | None = None,
    trials: int | None = None,
    periods_per_year: int = 252,
) -> SharpeSignificance:
    """PSR, DSR and MinTRL of a selected trial's returns.

    Args:
        returns: the selected trial's per-period returns.
        trial_sharpes: the per-period Sharpe ratios of every trial the selection was made from
            (gives ``V[SR_n]`` and, unless ``trials`` is given, ``N``). None: a single trial.
        trials: ``N`` when it differs from ``len(trial_sharpes)``.
        periods_per_year: for the annualized figures.

    Example:
        >>> rng = np.random.default_rng(1)
        >>> result = sharpe_significance(rng.normal(0.001, 0.01, 1000),
        ...                              trial_sharpes=rng.normal(0, 0.03, 50))
        >>> 0 <= result.dsr <= result.psr <= 1
        True
    """
    values = _values(returns)
    _count(values.size, "number of returns", 2)
    sharpe = sharpe_ratio(values)
    skew, kurtosis = return_moments(values)
    sharpes = (
        np.array([sharpe])
        if trial_sharpes is None
        else np.asarray(trial_sharpes, dtype=float).ravel()
    )
    sharpes = sharpes[np.isfinite(sharpes)]
    count = int(trials if trials is not None else max(len(sharpes), 1))
    variance = float(sharpes.var(ddof=1)) if sharpes.size > 1 else 0.0
    threshold = expected_max_sharpe(count, variance)
    root = math.sqrt(periods_per_year)
    return SharpeSignificance(
        sharpe=sharpe,
        sharpe_annualized=sharpe * root,
        observations=int(values.size),
        skew=skew,
        kurtosis=kurtosis,
        psr=probabilistic_sharpe_ratio(
            sharpe, observations=values.size, skew=skew, kurtosis=kurtosis
        ),
        trials=count,
        sharpe_variance=variance,
        expected_max_sharpe=threshold,
        expected_max_sharpe_annualized=threshold * root,
        dsr=probabilistic_sharpe_ratio(
            sharpe, observations=values.size, benchmark=threshold, skew=skew, kurtosis=kurtosis
        ),
        min_track_record=min_track_record_length(sharpe, skew=skew, kurtosis=kurtosis),
    )


def _values(returns: Any) -> np.ndarray:
    try:
        values = np.asarray(returns, dtype=float).ravel()
    except (TypeError, ValueError):
        raise ConfigError(f"returns must be numbers, got {type(returns).__name__}.") from None
    if not np.isfinite(values).all():
        raise ConfigError("returns contain NaN or infinite values; drop or fill them first.")
    return values


def _count(value: Any, what: str, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
        raise ConfigError(f"{what} must be an integer >= {low}, got {value!r}.")
