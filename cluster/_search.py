"""Search algorithms (Optuna through Ray Tune), early stopping and study stopping rules."""

from __future__ import annotations

import math
import random
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from ray.tune.search import BasicVariantGenerator, ConcurrencyLimiter, Searcher
from ray.tune.search.optuna import OptunaSearch
from ray.tune.stopper import Stopper

from cluster._trial import OBJECTIVE, STATE, objective_keys, params_key
from tradelab.strategy import Choice, Constraint, FloatParam, IntParam, ParameterSpace

__all__ = ["DefineByRun", "DistinctAsker", "StudySearch", "StudyStopper", "build_searcher",
           "random_point", "tell_trial"]

# How long the searcher waits after handing out a suggestion before computing the next one.
_AHEAD_DELAY_S = 0.02
# Enumerate the untried points of a discrete space up to this size once random draws stop
# finding one; a larger space is taken as inexhaustible.
_ENUMERATE_LIMIT = 200_000


def random_point(specs: Mapping[str, Any], rng: random.Random) -> dict[str, Any]:
    """A uniformly drawn point of a space's parameters (floats snapped to their step)."""
    point: dict[str, Any] = {}
    for name, spec in specs.items():
        if isinstance(spec, Choice):
            point[name] = rng.choice(spec.values)
        elif isinstance(spec, FloatParam):
            value = rng.uniform(spec.low, spec.high)
            if spec.step:
                value = round(min(spec.high, spec.low + round((value - spec.low) / spec.step)
                                  * spec.step), 12)
            point[name] = value
        else:
            point[name] = rng.randrange(spec.low, spec.high + 1, spec.step)
    return point


class DistinctAsker:
    """Asks an Optuna study for parameter sets it has not returned before.

    Backtests are deterministic, so a repeated parameter set only costs a trial — and samplers do
    repeat themselves: TPE on integer spaces suggested an evaluated or running set for a quarter
    of a 200-trial study. A repeat of a finished set is told that set's result again (what the
    sampler would have learned by running it) and the sampler asked once more, up to
    ``resamples`` times; a repeat of a running set is told FAIL (which samplers ignore). If the
    sampler still insists, the point it insists on is where it wants to look, so an untried
    neighbour of it is evaluated instead (the neighbourhood widening until one is found), then
    any untried point. ``ask`` returns None once every feasible point is taken. Results reach the
    asker through :meth:`remember`. A plain object, so it pickles with the searcher that holds
    it (a resumed study knows what its trials evaluated).
    """

    def __init__(self, define: DefineByRun, *, seed: int | None = None,
                 resamples: int = 3) -> None:
        self.define = define
        self.tried: set[str] = set()
        self.known: dict[str, tuple[str, Any]] = {}  # finished sets: (Optuna state, value)
        self.resamples = resamples
        self.discarded = 0
        self._rng = random.Random(seed)

    def remember(self, params: Mapping[str, Any], value: Any = None, *,
                 state: str = "COMPLETE") -> None:
        """Record a finished set's outcome as told to Optuna: ``COMPLETE`` with its value (a
        float, or a list for several objectives), ``PRUNED`` or ``FAIL``."""
        self.known[params_key(params)] = (state, value)

    def tell(self, study: Any, trial: Any, state: str, value: Any = None) -> None:
        """Tell ``study`` how an asked trial ended (as for :meth:`remember`) and remember it."""
        tell_trial(study, trial, state, value)
        self.remember(trial.params, value, state=state)

    def ask(self, study: Any) -> tuple[Any, dict[str, Any]] | None:
        """``(optuna trial, params)`` of an untried parameter set, or None: none is left."""
        insisted: dict[str, Any] = {}
        for _ in range(self.resamples):
            trial, params = self._ask_one(study)
            if self._take(params):
                return trial, params
            self.discarded += 1
            tell_trial(study, trial, *self.known.get(params_key(params), ("FAIL", None)))
            insisted = params
        point = self._near(insisted)
        if point is None:
            return None
        study.enqueue_trial(point)
        trial, params = self._ask_one(study)
        self._take(params)
        return trial, params

    def _ask_one(self, study: Any) -> tuple[Any, dict[str, Any]]:
        trial = study.ask()
        self.define(trial)
        return trial, dict(trial.params)

    def _take(self, params: Mapping[str, Any]) -> bool:
        key = params_key(params)
        if key in self.tried:
            return False
        self.tried.add(key)
        return True

    def _new(self, point: Mapping[str, Any]) -> bool:
        return params_key(point) not in self.tried and self.define.feasible(point)

    def _near(self, centre: Mapping[str, Any]) -> dict[str, Any] | None:
        """An untried feasible point, as close to ``centre`` as one is found."""
        specs = self.define.specs
        widest = max((_positions(spec) for spec in specs.values()), default=1)
        radius = 1
        while radius < 2 * widest:
            for _ in range(16):
                point = {name: _step_from(spec, centre.get(name), radius, self._rng)
                         for name, spec in specs.items()}
                if self._new(point):
                    return point
            radius *= 2
        infeasible = None
        for _ in range(256):
            point = random_point(specs, self._rng)
            if self._new(point):
                return point
            if params_key(point) not in self.tried:
                infeasible = infeasible or point
        discrete = all(not isinstance(s, FloatParam) or s.step for s in specs.values())
        if discrete and math.prod(_positions(s) for s in specs.values()) <= _ENUMERATE_LIMIT:
            left = [p for p in ParameterSpace(specs).grid() if self._new(p)]
            return self._rng.choice(left) if left else None
        return infeasible  # a vast space: an untried point, even one a constraint refuses


def tell_trial(study: Any, trial: Any, state: str, value: Any = None) -> None:
    """Tell Optuna a trial's end: ``COMPLETE`` with ``value``, ``PRUNED`` or ``FAIL``."""
    import optuna

    if state == "COMPLETE":
        study.tell(trial, value)
    else:
        study.tell(trial, state=getattr(optuna.trial.TrialState, state))


def _positions(spec: Any) -> int:
    """How many steps wide a parameter's range is (100 for an unstepped float)."""
    if isinstance(spec, Choice):
        return len(spec.values)
    if isinstance(spec, FloatParam) and not spec.step:
        return 100
    return int((spec.high - spec.low) / spec.step) + 1


def _step_from(spec: Any, value: Any, radius: int, rng: random.Random) -> Any:
    """A value within ``radius`` steps of ``value`` (a hundredth of the range for a float)."""
    if value is None:
        return random_point({"x": spec}, rng)["x"]
    if isinstance(spec, Choice):
        return rng.choice(spec.values) if rng.random() < radius / (radius + 3) else value
    if isinstance(spec, FloatParam) and not spec.step:
        moved = value + rng.uniform(-radius, radius) * (spec.high - spec.low) / 100
        return min(spec.high, max(spec.low, moved))
    steps = round((value - spec.low) / spec.step) + rng.randint(-radius, radius)
    steps = min(max(steps, 0), _positions(spec) - 1)
    moved = spec.low + steps * spec.step
    return round(moved, 12) if isinstance(spec, FloatParam) else int(moved)


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

    Every suggestion is a parameter set no other trial of the study has had (see
    :class:`DistinctAsker`); when the space has none left the search is finished and the study
    ends early.

    The next suggestion is computed in a background thread as soon as one is handed out, while
    the driver waits on the running trials, so a trial that ends finds its successor ready (TPE
    takes 5 ms at 200 trials and 20 ms at 5,000, on the path from one trial to the next). It is
    one result behind, as with one trial queued ahead, but without Tune requesting a placement
    group for a queued trial and dropping it when the trial takes over a finished trial's actor.
    """

    def __init__(self, *args: Any, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._asker = DistinctAsker(self._space, seed=seed)
        self._ahead: tuple[threading.Thread, dict[str, Any], threading.Event] | None = None
        self._ready: list[Any] = []  # a suggestion computed ahead, not yet handed out

    def suggest(self, trial_id: str) -> dict | str | None:
        if trial_id not in self._ot_trials:
            if self._ot_study is None:
                return super().suggest(trial_id)  # raises Tune's own "not set up" error
            asked = self._next()
            if asked is None:
                return Searcher.FINISHED
            self._ot_trials[trial_id] = asked[0]
            self._ask_ahead()
        return dict(self._ot_trials[trial_id].params)

    def _next(self) -> tuple[Any, dict[str, Any]] | None:
        self._collect()
        if self._ready:
            return self._ready.pop()
        return self._asker.ask(self._ot_study)

    def _ask_ahead(self) -> None:
        box: dict[str, Any] = {}
        go = threading.Event()

        def ask() -> None:
            # Let the controller first start the trial just suggested: computing at once would
            # hold the GIL it needs to do that (Python hands it over every 5 ms at best).
            go.wait(_AHEAD_DELAY_S)
            try:
                box["asked"] = self._asker.ask(self._ot_study)
            except BaseException as exc:  # noqa: BLE001 - raised where the suggestion is used
                box["error"] = exc

        thread = threading.Thread(target=ask, name="tradelab-ask-ahead", daemon=True)
        thread.start()
        self._ahead = (thread, box, go)

    def _collect(self) -> None:
        """Wait for the suggestion being computed ahead and keep it in ``_ready``."""
        if self._ahead is None:
            return
        thread, box, go = self._ahead
        go.set()
        thread.join()
        self._ahead = None
        if "error" in box:
            raise box["error"]
        self._ready = [box["asked"]]

    def save(self, checkpoint_path: str) -> None:
        self._collect()  # a thread does not pickle; its suggestion does
        super().save(checkpoint_path)

    def restore(self, checkpoint_path: str) -> None:
        super().restore(checkpoint_path)
        self._ahead = None
        self.__dict__.setdefault("_ready", [])

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        if not isinstance(self.metric, list) and self.metric in result:
            super().on_trial_result(trial_id, result)

    def on_trial_complete(self, trial_id: str, result: dict | None = None,
                          error: bool = False) -> None:
        state = (result or {}).get(STATE)
        if state == "COMPLETE":
            super().on_trial_complete(trial_id, result, error=False)
            told = "COMPLETE"
            value = [result.get(m) for m in self.metric] if isinstance(self.metric, list) \
                else result.get(self.metric)
        else:
            failed = error or state == "ERROR"
            super().on_trial_complete(trial_id, None, error=failed)
            told, value = ("FAIL" if failed else "PRUNED"), None
        if trial_id in self._completed_trials:  # not a repeated completion Optuna ignored
            self._asker.remember(self._ot_trials[trial_id].params, value, state=told)


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

    def _checks(self) -> list[Constraint]:
        if self._constraints is None:
            self._constraints = [Constraint(text) for text in self.constraint_texts]
        return self._constraints

    def feasible(self, values: Mapping[str, Any]) -> bool:
        """Whether a point (with the fixed parameters and defaults) meets every constraint."""
        params = {**self.defaults, **values}
        return all(c(params) for c in self._checks() if c.names <= params.keys())

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
        params = {**self.defaults, **values}
        for index, constraint in enumerate(self._checks()):
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
        seed=seed,
    )
    # no trial queued ahead: the searcher computes the next suggestion in the background instead
    return ConcurrencyLimiter(searcher, max_concurrent=concurrency)


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
