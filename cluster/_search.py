"""Search algorithms (Optuna through Ray Tune), early stopping and study stopping rules."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from ray.tune.search import BasicVariantGenerator, ConcurrencyLimiter, Searcher
from ray.tune.search.optuna import OptunaSearch
from ray.tune.stopper import Stopper

from cluster._trial import OBJECTIVE, STATE, objective_keys
from tradelab.strategy import Choice, Constraint, FloatParam, IntParam, ParameterSpace

__all__ = ["DefineByRun", "StudySearch", "StudyStopper", "build_searcher"]



class StudySearch(OptunaSearch):
    """OptunaSearch that tells Optuna the truth about trials that did not complete.

    A trial reports its objective once, at the end. Stock OptunaSearch reads the objective from
    every intermediate result (a KeyError here) and tells Optuna whatever the last result held —
    the partial mean of an early-stopped trial would be recorded as if complete, and NaN leaves
    the Optuna trial RUNNING forever. Here: COMPLETE trials tell their objective; INFEASIBLE
    (broke a constraint), FAILED (objective undefined) and early-stopped trials are PRUNED, which
    TPE ranks among the worst, so it learns to avoid those regions (as FAIL, it would ignore them
    and keep sampling there: half the demo's trials were infeasible); ERROR (a strategy bug)
    is FAIL.
    """

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        if not isinstance(self.metric, list) and self.metric in result:
            super().on_trial_result(trial_id, result)

    def on_trial_complete(self, trial_id: str, result: dict | None = None,
                          error: bool = False) -> None:
        state = (result or {}).get(STATE)
        if state == "COMPLETE":
            super().on_trial_complete(trial_id, result, error=False)
        else:
            super().on_trial_complete(trial_id, None, error=error or state == "ERROR")


class DefineByRun:
    """An Optuna define-by-run space: suggests every parameter of a space exactly, and records
    each constraint (``set_constraint``: <= 0 feasible) so constraint-aware samplers (TPE,
    NSGA-II) learn where the feasible region is. A plain class, so the searcher pickles."""

    def __init__(self, space: ParameterSpace, defaults: Mapping[str, Any] | None = None) -> None:
        self.specs = dict(space.params)
        self.constraint_texts = list(space.constraint_texts())
        self.defaults = dict(defaults or {})
        self._constraints: list[Constraint] | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {"specs": self.specs, "constraint_texts": self.constraint_texts,
                "defaults": self.defaults}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._constraints = None

    def __call__(self, trial: Any) -> None:
        values: dict[str, Any] = {}
        for name, spec in self.specs.items():
            if isinstance(spec, IntParam):
                values[name] = trial.suggest_int(name, spec.low, spec.high, step=spec.step,
                                                 log=spec.log)
            elif isinstance(spec, FloatParam):
                values[name] = trial.suggest_float(name, spec.low, spec.high, step=spec.step,
                                                   log=spec.log)
            elif isinstance(spec, Choice):
                values[name] = trial.suggest_categorical(name, list(spec.values))
        if self._constraints is None:
            self._constraints = [Constraint(text) for text in self.constraint_texts]
        params = {**self.defaults, **values}
        for index, constraint in enumerate(self._constraints):
            if constraint.names <= params.keys():
                trial.set_constraint(f"c{index}", 0.0 if constraint(params) else 1.0)


def build_searcher(*, search: str, space: ParameterSpace, defaults: Mapping[str, Any],
                   metrics: Sequence[str], modes: Sequence[str], seed: int | None,
                   concurrency: int, points: Sequence[Mapping[str, Any]],
                   grid: Sequence[Mapping[str, Any]] | None = None) -> Searcher:
    """The Tune searcher for ``search``: TPE, NSGA-II, random (Optuna), or an exact grid."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if search == "grid":
        return BasicVariantGenerator(points_to_evaluate=[dict(p) for p in grid or []],
                                     max_concurrent=concurrency, random_state=seed)
    if search == "nsga2":
        sampler = optuna.samplers.NSGAIISampler(seed=seed)
    elif search == "random":
        sampler = optuna.samplers.RandomSampler(seed=seed)
    else:
        sampler = optuna.samplers.TPESampler(seed=seed,
                                             n_startup_trials=min(10, max(4, concurrency * 2)),
                                             multivariate=True, group=False)
    keys = objective_keys(metrics)
    searcher = StudySearch(
        space=DefineByRun(space, defaults),
        metric=keys[0] if len(keys) == 1 else keys,
        mode=modes[0] if len(keys) == 1 else list(modes),
        points_to_evaluate=[dict(p) for p in points] or None,
        sampler=sampler,
    )
    # one suggestion ahead per running trial: a trial waits PENDING with its config ready, so a
    # freed CPU starts it at once instead of waiting for the sampler (constant liar keeps TPE
    # from suggesting the same point to both)
    return ConcurrencyLimiter(searcher, max_concurrent=2 * concurrency)


class StudyStopper(Stopper):
    """Stops the whole study on a target objective or after ``patience`` trials without a gain."""

    def __init__(self, *, mode: str, target: float | None, patience: int | None) -> None:
        self._sign = 1.0 if mode == "max" else -1.0
        self._target, self._patience = target, patience
        self._best = -math.inf
        self._since = 0
        self._done = False
        self.reason = ""

    def __call__(self, trial_id: str, result: dict) -> bool:
        if result.get(STATE) is None:  # intermediate result
            return False
        value = result.get(OBJECTIVE)
        if result.get(STATE) == "COMPLETE" and value is not None and math.isfinite(value):
            if self._sign * value > self._best:
                self._best, self._since = self._sign * value, 0
            else:
                self._since += 1
            if self._target is not None and self._sign * value >= self._sign * self._target:
                self._done, self.reason = True, f"target {self._target} reached ({value:.4g})"
        else:
            self._since += 1
        if self._patience is not None and self._since >= self._patience and not self._done:
            self._done = True
            self.reason = f"no improvement in {self._patience} trials"
        return False

    def stop_all(self) -> bool:
        return self._done
