from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tradelab.analysis import (
    ParameterBounds,
    choose_slices,
    diagnose_study,
    study_report_html,
    study_report_text,
)
from tradelab.errors import ConfigError
from tradelab.strategy import IntParam, ParameterSpace

INDEX = pd.bdate_range("2016-01-01", periods=300, tz="UTC")


def _study(columns=12, best=7, rows=300):
    rng = np.random.default_rng(9)
    matrix = pd.DataFrame(
        rng.normal(0.0, 0.01, (rows, columns)), index=INDEX[:rows], columns=list(range(columns))
    )
    matrix[best] += 0.002
    trials = [
        {
            "number": n,
            "params": {"fast": 5 + n, "slow": 50},
            "state": "COMPLETE",
            "value": float(matrix[n].mean() / matrix[n].std()),
        }
        for n in range(columns)
    ]
    trials.append(
        {"number": columns, "params": {"fast": 1, "slow": 2}, "state": "INFEASIBLE", "value": None}
    )
    bounds = ParameterBounds.from_space(
        ParameterSpace({"fast": IntParam(5, 16), "slow": IntParam(20, 50)})
    )
    bench = pd.Series(rng.normal(0.0003, 0.01, rows), index=INDEX[:rows])
    return diagnose_study(
        study="s1",
        strategy="sma_crossover",
        symbols=("AAA", "BBB"),
        metric="sharpe",
        mode="max",
        search="random",
        returns=matrix,
        trials=trials,
        best_number=best,
        bounds=bounds,
        benchmark_returns=bench,
        slices=16,
    )


def test_diagnostics_combine_pbo_dsr_robustness_and_regimes():
    diag = _study()
    assert diag.trials_total == 13 and diag.trials_complete == 12 and diag.trials_in_matrix == 12
    assert diag.pbo is not None and diag.pbo.slices == 14  # 300 days: 16 slices of 18 < 20
    assert any("14 slices instead of 16" in note for note in diag.notes)
    assert diag.pbo.pbo < 0.2  # trial 7 carries a real edge
    assert diag.significance.trials == 12
    assert diag.significance.dsr < diag.significance.psr
    assert diag.best_params == {"fast": 12, "slow": 50}
    assert any("slow = 50 is at the high edge" in edge for edge in diag.robustness.edges)
    assert set(diag.regimes["regime"]) >= {"bull_low_vol", "bear_high_vol"}
    assert diag.to_dict()["pbo"]["pbo"] == diag.pbo.pbo


def test_report_text_and_html_show_every_section():
    diag = _study()
    text = study_report_text(diag)
    for heading in (
        "Probability of backtest overfitting",
        "PBO",
        "DSR",
        "PSR (SR > 0)",
        "SR0 (annualized)",
        "IS → OOS degradation",
        "Robustness",
        "Per-parameter sensitivity",
        "Regimes",
        "Notes",
    ):
        assert heading in text, heading
    html = study_report_html(diag)
    assert "Probability of backtest overfitting" in html and "data:image/png;base64," in html


def test_the_best_trial_must_be_in_the_matrix():
    with pytest.raises(ConfigError, match="no column for the best trial 99"):
        diagnose_study(
            study="s",
            strategy="x",
            symbols=("A",),
            metric="sharpe",
            mode="max",
            search="optuna",
            returns=pd.DataFrame({0: [0.0, 0.1]}, index=INDEX[:2]),
            trials=[],
            best_number=99,
        )


def test_choose_slices_keeps_at_least_twenty_days_per_slice():
    assert [choose_slices(n) for n in (2520, 320, 319, 100, 10)] == [16, 16, 14, 4, 2]
