"""Known answers of CSCV (Bailey, Borwein, López de Prado & Zhu, "The Probability of Backtest
Overfitting", J. Computational Finance 2017): pure noise gives PBO 0.5, a strategy that is truly
better in every slice gives PBO 0."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from tradelab.analysis import probability_of_backtest_overfitting
from tradelab.errors import ConfigError, UnknownNameError


def test_pure_noise_trials_give_pbo_of_one_half_within_sampling_error():
    # With exchangeable (i.i.d. noise) columns the in-sample winner's OOS rank is uniform, so
    # E[PBO] = 0.5 exactly (20 trials: no rank sits on the median). One matrix's PBO spreads
    # widely (sigma ~ 0.19 measured for this shape: the 252 splits share data), so the test
    # averages 50 seeded matrices: sigma of the mean ~ 0.027, tolerance 0.08 ~ 3 sigma.
    values = [
        probability_of_backtest_overfitting(
            np.random.default_rng(seed).normal(0.0, 0.01, size=(800, 20)), slices=10
        ).pbo
        for seed in range(50)
    ]
    assert abs(np.mean(values) - 0.5) < 0.08
    assert 0.0 < min(values) and max(values) < 1.0


def test_a_strategy_truly_better_in_every_slice_gives_pbo_near_zero():
    rng = np.random.default_rng(11)
    matrix = rng.normal(0.0, 0.01, size=(1600, 30))
    matrix[:, 17] += 0.003  # daily Sharpe +0.3: better than every noise column in every slice
    result = probability_of_backtest_overfitting(matrix, slices=16)
    assert result.pbo < 0.02
    assert result.combinations == math.comb(16, 8)
    assert result.mean_oos > 0.2 and result.probability_of_loss < 0.02


def test_a_strategy_best_on_every_single_day_gives_pbo_exactly_zero():
    rng = np.random.default_rng(5)
    matrix = rng.normal(0.0, 0.01, size=(320, 10))
    matrix[:, 3] = matrix.max(axis=1) + 0.001 + rng.uniform(0, 1e-4, 320)
    result = probability_of_backtest_overfitting(pd.DataFrame(matrix), slices=8, metric="mean")
    assert result.pbo == 0.0
    assert np.all(result.logits > 0)


def test_an_overfit_choice_that_reverses_out_of_sample_gives_pbo_near_one():
    # each column is good in one half of the slices and bad in the other: whatever wins in
    # sample is the loser out of sample
    rng = np.random.default_rng(2)
    rows, slices = 800, 8
    base = rng.normal(0.0, 0.01, size=(rows, 12))
    block = rows // slices
    for column in range(12):
        good = rng.choice(slices, size=slices // 2, replace=False)
        for s in range(slices):
            base[s * block : (s + 1) * block, column] += 0.004 if s in good else -0.004
    assert probability_of_backtest_overfitting(base, slices=slices).pbo > 0.6


def test_sampled_combinations_keep_their_complements():
    matrix = np.random.default_rng(0).normal(0, 0.01, size=(400, 6))
    result = probability_of_backtest_overfitting(matrix, slices=16, max_combinations=50, seed=3)
    assert 50 <= result.combinations <= 51 and result.combinations % 2 == 0


@pytest.mark.parametrize(
    "matrix,kwargs,error,message",
    [
        (np.zeros((100, 1)), {}, ConfigError, "at least 2 trials"),
        (np.zeros((100, 4)), {"slices": 7}, ConfigError, "even integer"),
        (np.zeros((10, 4)), {"slices": 16}, ConfigError, "too few"),
        (np.full((100, 4), np.nan), {}, ConfigError, "NaN"),
        (np.zeros(100), {}, ConfigError, "2-D"),
        (np.zeros((100, 4)), {"metric": "sortino"}, UnknownNameError, "Known PBO metrics"),
    ],
)
def test_bad_input_is_refused_with_what_to_do(matrix, kwargs, error, message):
    with pytest.raises(error, match=message):
        probability_of_backtest_overfitting(matrix, **kwargs)
