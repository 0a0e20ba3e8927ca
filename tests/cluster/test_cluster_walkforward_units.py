"""Walk-forward parts without Ray: the ask/tell search of one window (results told by hand)
and the analysis's settings."""

from __future__ import annotations

import math

import pytest

from cluster._window_search import WindowSearch
from cluster.walkforward import WalkForwardConfig
from tradelab.errors import ConfigError, UnknownNameError
from tradelab.strategy import IntParam, ParameterSpace

SPACE = ParameterSpace(
    {"fast": IntParam(5, 30), "slow": IntParam(10, 60)}, constraints=("fast < slow",)
)


def _run(search, objective):
    while search.can_ask:
        asked = search.ask()
        if asked is not None:
            number, params = asked
            search.tell(number, {"state": "COMPLETE", "objective": objective(params)})


def test_tpe_search_finds_a_good_point_and_settles_infeasible_ones_without_running():
    search = WindowSearch(
        index=0, space=SPACE, context={}, search="optuna", budget=40, mode="max", seed=1, startup=8
    )
    _run(search, lambda p: -((p["fast"] - 12) ** 2) - ((p["slow"] - 40) / 2) ** 2)
    assert search.done and len(search.outcomes) == 40
    infeasible = [o for o in search.outcomes if o.state == "INFEASIBLE"]
    assert all(o.params["fast"] >= o.params["slow"] for o in infeasible)
    best = search.best()
    assert abs(best.params["fast"] - 12) <= 4 and abs(best.params["slow"] - 40) <= 10


def test_grid_search_visits_the_given_points_and_min_mode_picks_the_lowest():
    grid = [{"fast": f, "slow": 40} for f in (5, 10, 15)]
    search = WindowSearch(
        index=2, space=SPACE, context={}, search="grid", budget=3, mode="min", seed=None, grid=grid
    )
    _run(search, lambda p: float(p["fast"]))
    assert [dict(o.params) for o in search.outcomes] == grid
    assert search.best().params == {"fast": 5, "slow": 40}


def test_failed_trials_are_never_best_and_a_grid_point_listed_twice_runs_once():
    search = WindowSearch(
        index=0,
        space=SPACE,
        context={},
        search="grid",
        budget=2,
        mode="max",
        seed=None,
        grid=[{"fast": 5, "slow": 20}] * 2,
    )
    number, _ = search.ask()
    assert not search.can_ask and not search.done  # the one distinct point is still running
    search.tell(number, {"state": "FAILED", "objective": math.nan})
    assert [o.state for o in search.outcomes] == ["FAILED"]
    assert search.best() is None and search.done


@pytest.mark.parametrize("sampler", ["optuna", "random"])
def test_every_trial_of_a_window_is_a_distinct_point_until_the_space_is_used_up(sampler):
    # 3 × 4 points, 6 of them feasible (fast < slow); a budget of 20 cannot be spent
    space = ParameterSpace(
        {"fast": IntParam(10, 30, step=10), "slow": IntParam(10, 40, step=10)},
        constraints=("fast < slow",),
    )
    search = WindowSearch(
        index=1, space=space, context={}, search=sampler, budget=20, mode="max", seed=3,
        startup=4,
    )
    _run(search, lambda p: float(p["slow"] - p["fast"]))
    assert search.done and not search.can_ask
    ran = [tuple(sorted(o.params.items())) for o in search.outcomes if o.state == "COMPLETE"]
    assert len(ran) == len(set(ran)) == 6
    assert all(o.params["fast"] >= o.params["slow"]
               for o in search.outcomes if o.state == "INFEASIBLE")
    assert len(search.outcomes) < 20
    assert search.best().params == {"fast": 10, "slow": 40}


@pytest.mark.parametrize(
    "overrides,error,message",
    [
        ({"search": "nsga2"}, UnknownNameError, "walk-forward search"),
        ({"metric": ("sharpe", "cagr")}, ConfigError, "single objective"),
        ({"metric": "sharpee"}, UnknownNameError, "Did you mean 'sharpe'"),
        ({"train": "3 years"}, ConfigError, "train must be"),
        ({"test": "6x"}, ConfigError, "test must be"),
        ({"trials": 0}, ConfigError, "trials must be >= 1"),
        ({"symbols": ()}, ConfigError, "at least one symbol"),
        ({"name": "bad name!"}, ConfigError, "may use letters"),
        ({"anchored": "yes"}, ConfigError, "anchored must be"),
    ],
)
def test_walk_forward_config_refuses_bad_settings_before_anything_runs(overrides, error, message):
    settings = {"strategy": "sma_crossover", "symbols": ("AAA",), **overrides}
    with pytest.raises(error, match=message):
        WalkForwardConfig(**settings)


def test_walk_forward_config_normalizes_periods_and_defaults_the_step_to_the_test():
    config = WalkForwardConfig(
        strategy="sma_crossover", symbols=("aaa", "BBB"), train="36M", test="26W"
    )
    assert (config.train, config.test, config.step) == ("36m", "26w", "26w")
    assert config.symbols == ("AAA", "BBB")
    assert config.optimize_config().metric == ("sharpe",)
