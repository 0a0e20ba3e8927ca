"""The optimizer's search side without Ray: distinct suggestions, asking ahead, the registry."""

from __future__ import annotations

import math
import pickle

import optuna
import pytest

from cluster._search import DefineByRun, DistinctAsker, build_searcher, random_point
from cluster._trial import params_key
from tradelab.strategy import Choice, FloatParam, IntParam, ParameterSpace

optuna.logging.set_verbosity(optuna.logging.WARNING)
pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")


def _tpe(seed: int = 1) -> optuna.Study:
    return optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(
        seed=seed, multivariate=True, n_startup_trials=3))


def test_distinct_asker_never_repeats_and_ends_when_every_feasible_point_is_taken():
    space = ParameterSpace({"a": IntParam(1, 5), "b": IntParam(1, 5)}, constraints=("a < b",))
    study, asker = _tpe(), DistinctAsker(DefineByRun(space), seed=1)
    seen = []
    for _ in range(100):
        asked = asker.ask(study)
        if asked is None:
            break
        trial, params = asked
        seen.append((params["a"], params["b"]))
        study.tell(trial, params["b"] - params["a"])  # TPE is drawn to a few points
    else:
        pytest.fail("the asker never said the space was exhausted")
    assert len(seen) == len(set(seen))
    feasible = {(a, b) for a in range(1, 6) for b in range(1, 6) if a < b}
    assert feasible <= set(seen)
    assert asker.discarded > 0  # TPE did repeat itself; each repeat was replaced


def _insisting(space: ParameterSpace, point: dict, seed: int):
    """A study whose sampler always suggests ``point``, and an asker for it."""
    always = optuna.samplers.PartialFixedSampler(point, optuna.samplers.RandomSampler(seed=0))
    return optuna.create_study(sampler=always), DistinctAsker(DefineByRun(space), seed=seed)


def test_a_repeated_suggestion_is_replaced_by_a_nearby_untried_point():
    space = ParameterSpace({"fast": IntParam(5, 50), "slow": IntParam(20, 200, step=5)})
    study, asker = _insisting(space, {"fast": 20, "slow": 100}, 2)
    points = []
    for _ in range(12):
        trial, params = asker.ask(study)
        study.tell(trial, 0.5)
        asker.remember(params, 0.5)
        points.append((params["fast"], params["slow"]))
    assert points[0] == (20, 100)
    assert len(set(points)) == len(points)
    # each time the sampler repeated (20, 100) it was told that set's result again
    repeats = [t for t in study.trials if (t.params.get("fast"), t.params.get("slow")) == (20, 100)]
    assert len(repeats) > 1 and {t.value for t in repeats} == {0.5}
    # the sampler insists on (20, 100): the replacements stay in its neighbourhood
    assert all(abs(f - 20) <= 4 and abs(s - 100) <= 4 * 5 for f, s in points)
    assert all(s % 5 == 0 for _, s in points)


def test_neighbours_and_random_points_stay_on_stepped_floats_and_choices():
    space = ParameterSpace({"x": FloatParam(0.1, 0.9, step=0.1), "kind": Choice(("a", "b"))})
    study, asker = _insisting(space, {"x": 0.5, "kind": "a"}, 3)
    grid = {round(0.1 * i, 12) for i in range(1, 10)}
    points = []
    while (asked := asker.ask(study)) is not None:
        study.tell(asked[0], 0.0)
        points.append((asked[1]["x"], asked[1]["kind"]))
    assert len(points) == len(set(points)) == 18  # 9 values × 2 choices, each once
    assert {x for x, _ in points} == grid
    import random

    draws = [random_point(space.params, random.Random(i)) for i in range(50)]
    assert all(d["x"] in grid and d["kind"] in ("a", "b") for d in draws)


def test_a_continuous_space_is_never_exhausted():
    space = ParameterSpace({"w": FloatParam(0.0, 1.0)})
    study, asker = _insisting(space, {"w": 0.5}, 4)
    values = []
    for _ in range(30):
        trial, params = asker.ask(study)
        study.tell(trial, 0.0)
        values.append(params["w"])
    assert len(set(values)) == 30
    assert all(0.0 <= v <= 1.0 and math.isfinite(v) for v in values)


def _searcher(seed: int = 5):
    space = ParameterSpace({"fast": IntParam(5, 50), "slow": IntParam(20, 200, step=5)},
                           constraints=("fast < slow",))
    limiter = build_searcher(search="optuna", space=space, defaults={}, metrics=("sharpe",),
                             modes=("max",), seed=seed, concurrency=2, points=())
    return limiter.searcher


def test_the_searcher_asks_ahead_and_its_state_pickles_with_the_suggestion(tmp_path):
    searcher = _searcher()
    first = searcher.suggest("t1")
    assert searcher._ahead is not None  # the next suggestion is being computed
    searcher.on_trial_complete("t1", {"objective": 0.3, "state": "COMPLETE"})
    assert searcher._asker.known[params_key(first)] == ("COMPLETE", 0.3)  # told again on repeat
    path = tmp_path / "searcher.pkl"
    searcher.save(str(path))
    assert searcher._ahead is None and len(searcher._ready) == 1
    state = pickle.loads(path.read_bytes())
    assert "_ahead" not in state or state["_ahead"] is None
    restored = _searcher()
    restored.restore(str(path))
    suggestions = [first] + [restored.suggest(f"t{i}") for i in range(2, 30)]
    for index, config in enumerate(suggestions[1:], start=2):
        restored.on_trial_complete(f"t{index}", {"objective": config["fast"] / 100,
                                                 "state": "COMPLETE"})
    keys = [params_key(c) for c in suggestions]
    assert len(set(keys)) == len(keys)  # the restored searcher knows what was handed out


def test_trainable_lookups_are_remembered_only_inside_the_block(monkeypatch):
    from ray.tune import registry

    from cluster._tune_registry import remembered_trainables

    lookups = []
    plain_get = registry._Registry.get

    def counted_get(self, category, key):
        lookups.append(key)
        return plain_get(self, category, key)

    monkeypatch.setattr(registry._Registry, "get", counted_get)
    registry.register_trainable("tradelab-registry-test", lambda config: None)
    name = "tradelab-registry-test"
    registry.get_trainable_cls(name)
    registry.get_trainable_cls(name)
    assert len(lookups) == 2  # Tune looks the trainable up every time
    with remembered_trainables():
        for _ in range(5):
            registry.get_trainable_cls(name)
        assert len(lookups) == 3
        registry.register_trainable(name, lambda config: None)
        registry.get_trainable_cls(name)
        registry.get_trainable_cls(name)
        assert len(lookups) == 4  # registering again forgets what was remembered
    assert not {"get", "contains", "register", "unregister"} & set(vars(registry._global_registry))
    registry.get_trainable_cls(name)
    assert len(lookups) == 5
