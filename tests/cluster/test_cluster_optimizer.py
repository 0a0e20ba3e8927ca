from __future__ import annotations

import json

import pytest

from cluster import OptimizeConfig, get_data_service, optimize, study_dir
from tradelab.errors import ConfigError, DataNotFoundError, UnknownNameError

pytestmark = pytest.mark.integration


def _config(**overrides):
    base = dict(strategy="sma_crossover", symbols=("AAA", "BBB"), trials=6, seed=3,
                best_n_artifacts=1)
    base.update(overrides)
    return OptimizeConfig(**base)


def test_study_finishes_and_its_trials_are_in_mlflow(ray_session):
    from tradelab.tracking import list_studies, study_trials

    result = optimize(_config(study="finish-mlflow", folds=2), verbose=False)
    assert len(result.trials) == 6
    assert result.best is not None and result.best.state == "COMPLETE"
    assert result.best.backtests == 4  # 2 symbols × 2 folds
    assert all(t.cpu_s > 0 for t in result.trials if t.state == "COMPLETE")
    assert 0 < result.efficiency <= 1.5
    trials = study_trials("finish-mlflow")
    assert len(trials) == 6
    studies = list_studies(strategy="sma_crossover")
    assert "finish-mlflow" in set(studies["study"])
    saved = json.loads((study_dir("finish-mlflow") / "result.json").read_text())
    assert saved["best_params"] == dict(result.best.params)
    assert {"params", "value", "state"} <= set(saved["trials"][0])


def test_data_service_loads_each_dataset_once_across_two_studies(ray_session):
    service = get_data_service()
    before = ray_session.get(service.stats.remote())
    optimize(_config(study="reuse-one", symbols=("AAA", "CCC"), trials=2), verbose=False)
    optimize(_config(study="reuse-two", symbols=("AAA", "CCC"), trials=2), verbose=False)
    after = ray_session.get(service.stats.remote())
    loaded_now = {"AAA/1d", "CCC/1d"} - {d for d in before["datasets"]}
    assert after["loads"] - before["loads"] == len(loaded_now)
    assert after["hits"] > before["hits"]
    assert {"AAA/1d", "CCC/1d"} <= set(after["datasets"])


def test_trials_never_read_parquet(ray_session, tradelab_home):
    """Once the service holds the data, the Parquet files can vanish: trials still run."""
    service = get_data_service()
    ray_session.get(service.get.remote("BBB", "1d"))
    parquet = tradelab_home / "bars" / "1d" / "BBB.parquet"
    hidden = parquet.with_suffix(".hidden")
    parquet.rename(hidden)
    try:
        result = optimize(_config(study="no-parquet", symbols=("BBB",), trials=3),
                          verbose=False)
    finally:
        hidden.rename(parquet)
    assert sum(t.state == "COMPLETE" for t in result.trials) == 3


def test_a_raising_strategy_errors_one_trial_and_the_study_goes_on(ray_session):
    result = optimize(OptimizeConfig(
        strategy="tests.cluster.boom_strategy:BoomStrategy", symbols=("AAA",), search="grid",
        trials=0, fixed_params={"fast": 5, "slow": 20}, study="boom", best_n_artifacts=0),
        verbose=False)
    states = {t.params["boom"]: t for t in result.trials}
    assert sorted(states) == [1, 2, 3, 4]
    assert states[3].state == "ERROR"
    assert "boom: strategy bug on purpose" in states[3].error
    assert "Traceback" in states[3].error
    assert all(states[b].state == "COMPLETE" for b in (1, 2, 4))


def test_grid_search_visits_every_point_exactly_once(ray_session, tmp_path):
    space = tmp_path / "space.json"
    space.write_text(json.dumps({"params": {"fast": {"type": "int", "low": 5, "high": 15,
                                                     "step": 5},
                                            "slow": {"type": "int", "low": 20, "high": 30,
                                                     "step": 10}}}))
    result = optimize(_config(study="grid-once", search="grid", trials=0,
                              space_file=str(space), symbols=("AAA",)), verbose=False)
    points = [(t.params["fast"], t.params["slow"]) for t in result.trials]
    assert sorted(points) == [(5, 20), (5, 30), (10, 20), (10, 30), (15, 20), (15, 30)]


def test_asha_stops_poor_trials_early(ray_session):
    result = optimize(_config(study="asha", symbols=("AAA", "BBB", "CCC"), folds=2, trials=12,
                              strategy="rsi_mean_reversion", seed=5), verbose=False)
    stopped = [t for t in result.trials if t.state == "STOPPED"]
    assert stopped, [(t.state, t.backtests) for t in result.trials]
    assert all(t.backtests < 6 for t in stopped)
    assert any(t.backtests == 6 for t in result.trials if t.state == "COMPLETE")


def test_min_trades_fails_trials_below_it(ray_session):
    result = optimize(_config(study="min-trades", symbols=("AAA",), trials=3, min_trades=10_000),
                      verbose=False)
    assert {t.state for t in result.trials} == {"FAILED"}
    assert result.best is None
    assert "below min_trades" in result.trials[0].error


def test_warm_start_evaluates_the_given_point_first(ray_session):
    result = optimize(_config(study="warm", symbols=("AAA",), trials=3,
                              points_to_evaluate=({"fast": 7, "slow": 45},)), verbose=False)
    first = min(result.trials, key=lambda t: t.number)
    assert dict(first.params) == {"fast": 7, "slow": 45}


def test_multi_objective_study_returns_a_pareto_front(ray_session):
    result = optimize(_config(study="pareto", symbols=("AAA",), trials=8,
                              metric=("sharpe", "max_drawdown"), mode=("max", "max")),
                      verbose=False)
    assert result.config.search == "nsga2"
    assert result.pareto
    for trial in result.pareto:
        assert set(trial.values) == {"sharpe", "max_drawdown"}


@pytest.mark.parametrize("overrides,error,message", [
    ({"metric": ("sharpee",)}, UnknownNameError, "Did you mean 'sharpe'"),
    ({"fixed_params": {"fast": 10, "slow": 30}}, ConfigError, "space of sma_crossover is empty"),
    ({"constraints": ("fast > slow + 500",)}, ConfigError, "no point of the search space"),
    ({"symbols": ("ZZZ",)}, DataNotFoundError, "no 1d data for ZZZ"),
])
def test_bad_input_is_refused_before_any_trial(ray_session, overrides, error, message):
    name = f"bad-{abs(hash(str(overrides))) % 10_000}"
    with pytest.raises(error, match=message):
        optimize(_config(study=name, **overrides), verbose=False)
    assert not study_dir(name).exists()


def test_trials_never_repeat_a_parameter_set_and_the_study_ends_when_the_space_is_exhausted(
        ray_session, tmp_path):
    space = tmp_path / "small.json"
    space.write_text(json.dumps({"params": {"fast": {"type": "int", "low": 5, "high": 7},
                                            "slow": {"type": "int", "low": 20, "high": 30,
                                                     "step": 5}}}))
    result = optimize(_config(study="exhausted", trials=15, space_file=str(space),
                              symbols=("AAA",), best_n_artifacts=0), verbose=False)
    points = [(t.params["fast"], t.params["slow"]) for t in result.trials]
    assert sorted(points) == [(f, s) for f in (5, 6, 7) for s in (20, 25, 30)]  # 9, each once
    assert "every feasible point" in result.stopped_reason
    assert all(t.cpu_s > 0 for t in result.trials)  # each one ran its own backtest
