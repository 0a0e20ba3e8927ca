"""PSR and DSR against the worked numbers of the papers.

* DSR: Bailey & López de Prado (2014), "The Deflated Sharpe Ratio: Correcting for Selection
  Bias, Backtest Overfitting and Non-Normality", J. Portfolio Management 40(5), section "A
  numerical example": N = 100 independent trials, the best has an annualized Sharpe ratio of
  2.5 over T = 1250 daily returns (5 years), V[SR_n] = 1/2 (annualized), skewness -3,
  kurtosis 10. The paper finds SR0 = 0.1132 (per day) and DSR = 0.9004.
* PSR: Bailey & López de Prado (2012), "The Sharpe Ratio Efficient Frontier", J. Risk 15(2):
  PSR(SR*) = Z[(SR - SR*) sqrt(T-1) / sqrt(1 - g3 SR + (g4-1)/4 SR^2)] and MinTRL, the T at
  which PSR reaches the confidence level. The DSR above *is* the PSR at SR* = SR0, so the same
  worked example checks the PSR; the tests below also check the paper's identities.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from tradelab.analysis import (
    deflated_sharpe_ratio,
    expected_max_sharpe,
    min_track_record_length,
    probabilistic_sharpe_ratio,
    return_moments,
    sharpe_ratio,
    sharpe_significance,
)
from tradelab.errors import ConfigError

SR_DAILY = 2.5 / math.sqrt(250)
VARIANCE_DAILY = 0.5 / 250


def test_expected_max_sharpe_reproduces_the_dsr_papers_sr0():
    assert expected_max_sharpe(100, VARIANCE_DAILY) == pytest.approx(0.1132, abs=5e-5)


def test_deflated_sharpe_ratio_reproduces_the_dsr_papers_0_9004():
    dsr = deflated_sharpe_ratio(
        SR_DAILY,
        observations=1250,
        trials=100,
        sharpe_variance=VARIANCE_DAILY,
        skew=-3.0,
        kurtosis=10.0,
    )
    assert dsr == pytest.approx(0.9004, abs=5e-5)


def test_psr_at_the_papers_sr0_is_the_same_0_9004():
    psr = probabilistic_sharpe_ratio(
        SR_DAILY, observations=1250, benchmark=0.11317, skew=-3.0, kurtosis=10.0
    )
    assert psr == pytest.approx(0.9004, abs=1e-4)


def test_psr_formula_by_hand_for_normal_returns():
    # SR 0.1 per period, T = 101, normal (g3 0, g4 3): z = 0.1 * 10 / sqrt(1.005) = 0.997509,
    # Z(0.997509) = 0.84074
    assert probabilistic_sharpe_ratio(0.1, observations=101) == pytest.approx(0.84074, abs=1e-5)
    assert probabilistic_sharpe_ratio(0.1, observations=101, benchmark=0.1) == 0.5


def test_negative_skew_and_fat_tails_lower_the_psr():
    normal = probabilistic_sharpe_ratio(0.08, observations=500)
    skewed = probabilistic_sharpe_ratio(0.08, observations=500, skew=-2.0, kurtosis=9.0)
    assert skewed < normal


def test_min_track_record_length_is_where_the_psr_reaches_the_confidence():
    # the 2012 paper defines MinTRL as the T solving PSR(SR*) = confidence
    trl = min_track_record_length(0.05, skew=-1.0, kurtosis=6.0, confidence=0.95)
    z = (0.05 * math.sqrt(trl - 1)) / math.sqrt(1 + 0.05 + 5 / 4 * 0.05**2)
    assert z == pytest.approx(1.6448536, abs=1e-6)  # Z^-1(0.95)
    below = probabilistic_sharpe_ratio(0.05, observations=math.floor(trl), skew=-1.0, kurtosis=6.0)
    above = probabilistic_sharpe_ratio(0.05, observations=math.ceil(trl), skew=-1.0, kurtosis=6.0)
    assert below < 0.95 < above
    assert min_track_record_length(-0.1) == math.inf


def test_more_trials_deflate_more():
    values = [
        deflated_sharpe_ratio(0.08, observations=1000, trials=n, sharpe_variance=0.001)
        for n in (1, 10, 100, 1000)
    ]
    assert values == sorted(values, reverse=True)
    assert values[0] == pytest.approx(probabilistic_sharpe_ratio(0.08, observations=1000))


def test_sharpe_significance_of_returns_is_consistent():
    rng = np.random.default_rng(4)
    returns = rng.normal(0.0008, 0.01, 1500)
    trial_sharpes = rng.normal(0.0, 0.02, 80)
    result = sharpe_significance(returns, trial_sharpes=trial_sharpes)
    assert result.sharpe == pytest.approx(sharpe_ratio(returns))
    assert result.sharpe_annualized == pytest.approx(result.sharpe * math.sqrt(252))
    assert result.trials == 80 and result.observations == 1500
    assert result.sharpe_variance == pytest.approx(np.var(trial_sharpes, ddof=1))
    assert 0.0 <= result.dsr < result.psr <= 1.0
    skew, kurtosis = return_moments(returns)
    assert result.skew == skew and abs(skew) < 0.2 and abs(kurtosis - 3.0) < 0.3


@pytest.mark.parametrize(
    "call,message",
    [
        (lambda: probabilistic_sharpe_ratio(0.1, observations=1), "observations"),
        (lambda: expected_max_sharpe(0, 0.1), "trials"),
        (lambda: expected_max_sharpe(10, -1.0), "variance"),
        (lambda: min_track_record_length(0.1, confidence=1.5), "confidence"),
        (lambda: sharpe_significance([0.01, float("nan")]), "NaN"),
    ],
)
def test_bad_input_is_refused(call, message):
    with pytest.raises(ConfigError, match=message):
        call()
