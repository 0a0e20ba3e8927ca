"""Pure parts of the optimizer (no Ray started)."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import pytest

from cluster import OptimizeConfig, pareto_front
from cluster._records import append_journal, read_journal, trial_number
from cluster._trial import aggregate, fold_windows, params_key
from tradelab.errors import ConfigError, UnknownNameError

ROOT = Path(__file__).resolve().parents[2]


def test_fold_windows_are_contiguous_non_overlapping_and_cover_every_row():
    windows = fold_windows(10, 3)
    assert [(w.start, w.stop) for w in windows] == [(0, 3), (3, 7), (7, 10)]
    assert fold_windows(5, 1) == [slice(0, 5)]


@pytest.mark.parametrize("how,expected", [("mean", 2.0), ("median", 2.0),
                                          ("mean_minus_std", 2.0 - math.sqrt(2 / 3))])
def test_aggregate_combines_backtest_objectives(how, expected):
    assert aggregate([1.0, 2.0, 3.0], how) == pytest.approx(expected)


def test_aggregate_of_nothing_is_nan():
    assert math.isnan(aggregate([], "mean"))


def test_pareto_front_keeps_only_non_dominated_complete_trials():
    def trial(number, sharpe, drawdown, state="COMPLETE"):
        return SimpleNamespace(number=number, state=state,
                               values={"sharpe": sharpe, "max_drawdown": drawdown})

    trials = [trial(0, 1.0, -0.30), trial(1, 0.8, -0.10), trial(2, 0.7, -0.20),
              trial(3, 2.0, -0.05, state="FAILED")]
    front = pareto_front(trials, ("max", "max"))
    assert [t.number for t in front] == [0, 1]


def test_trial_number_reads_the_experiment_tag_or_directory():
    assert trial_number("e6c6e460", "3_fast=11,slow=35") == 3
    assert trial_number("e6c6e460", "run_trial_e6c6e460_12_fast=5_2026") == 12
    assert trial_number("ca299_00007") == 7


def test_journal_round_trip_skips_a_torn_last_line(tmp_path):
    path = tmp_path / "completed.jsonl"
    append_journal(str(path), "t1", {"fast": 5, "slow": 20},
                   {"state": "COMPLETE", "objective": 0.5, "noise": 1}, number=1)
    with open(path, "a") as handle:
        handle.write('{"trial_id": "t2", "par')
    entries = read_journal(str(path))
    assert len(entries) == 1
    assert entries[0]["result"] == {"state": "COMPLETE", "objective": 0.5}
    assert params_key({"slow": 20, "fast": 5}) == params_key(entries[0]["params"])


def test_config_normalizes_symbols_and_picks_nsga2_for_several_metrics():
    config = OptimizeConfig(strategy="sma_crossover", symbols=("aaa", " BBB", "aaa"),
                            metric=("sharpe", "max_drawdown"), mode="max")
    assert config.symbols == ("AAA", "BBB")
    assert config.search == "nsga2" and config.mode == ("max", "max")


@pytest.mark.parametrize("kwargs,error,message", [
    ({"symbols": ()}, ConfigError, "at least one symbol"),
    ({"metric": ("sharpe", "cagr"), "mode": ("max", "min", "max")}, ConfigError, "one mode"),
    ({"mode": ("up",)}, ConfigError, "'max' or 'min'"),
    ({"search": "bayes"}, UnknownNameError, "unknown search 'bayes'"),
    ({"aggregate": "avg"}, UnknownNameError, "unknown aggregate"),
    ({"folds": 0}, ConfigError, "folds must be an integer >= 1"),
    ({"trials": 0}, ConfigError, "trials must be >= 1"),
    ({"cash": -1.0}, ConfigError, "cash must be a positive number"),
    ({"study": "bad name!"}, ConfigError, "study name"),
])
def test_invalid_config_is_refused_with_the_reason(kwargs, error, message):
    base = {"strategy": "sma_crossover", "symbols": ("AAA",)}
    with pytest.raises(error, match=message):
        OptimizeConfig(**{**base, **kwargs})


def test_config_from_mapping_rejects_unknown_keys_with_a_suggestion():
    with pytest.raises(ConfigError, match="unknown optimize setting 'trails'.*'trials'"):
        OptimizeConfig.from_mapping({"strategy": "sma_crossover", "symbols": ["AAA"],
                                     "trails": 5})
    config = OptimizeConfig.from_mapping(OptimizeConfig(strategy="sma_crossover",
                                                        symbols=("AAA",)).to_dict())
    assert config.symbols == ("AAA",)


def test_a_trial_worker_imports_neither_the_optimizer_nor_mlflow():
    """``cluster`` loads its names on first use: a Ray worker that runs a trial imports only
    what the trial needs (importing ``cluster._trial`` went from 1.3 s to 0.6 s)."""
    import subprocess
    import sys

    code = ("import sys, cluster._trial; "
            "print(sorted(m for m in ('cluster.optimizer', 'cluster.walkforward', 'mlflow', "
            "'optuna') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
    import cluster

    assert cluster.optimize.__module__ == "cluster.optimizer"  # the lazy names still resolve
    assert set(cluster.__all__) <= set(dir(cluster))
