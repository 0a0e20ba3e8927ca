"""The in-sample search of one walk-forward window, driven by ask/tell from the driver.

Each window has its own Optuna study (TPE or random, seeded per window) or its own grid. The
driver asks every window for parameter sets in turn and runs them as Ray tasks, so all windows
search at once and the cluster stays busy; results are told back as they arrive. As in the
optimizer: a point that breaks a constraint is an INFEASIBLE trial told to Optuna as PRUNED
without running anything, FAILED trials are PRUNED too, ERROR ones FAIL, and every trial of a
window evaluates a parameter set no other trial of that window has (``DistinctAsker``: a repeat
suggested by the sampler is told the known result and the sampler asked again, then an untried
neighbour is taken); a window whose feasible points are all evaluated ends early.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cluster._trial import params_key

__all__ = ["TrialOutcome", "WindowSearch"]


@dataclass(frozen=True, kw_only=True, slots=True)
class TrialOutcome:
    """One finished trial of a window's search."""

    number: int
    params: Mapping[str, Any]
    state: str
    value: float
    result: Mapping[str, Any] = field(default_factory=dict)


class WindowSearch:
    """Ask/tell search over a parameter space for one window.

    Args:
        index: the window's index (the sampler's seed is ``seed + index``).
        space: the searched ``ParameterSpace``; context: defaults and fixed params (for
            constraints that name unsearched parameters).
        search: ``optuna`` (TPE), ``random`` or ``grid``; grid: the grid's points (a point
            listed twice is evaluated once).
        budget: trials to run (fewer when the space has fewer distinct points); mode: ``max``
            or ``min``; seed: sampler seed.
        startup: TPE's random start-up trials.
    """

    def __init__(
        self,
        *,
        index: int,
        space: Any,
        context: Mapping[str, Any],
        search: str,
        budget: int,
        mode: str,
        seed: int | None,
        grid: Sequence[Mapping[str, Any]] | None = None,
        startup: int = 10,
    ) -> None:
        import optuna

        from cluster._search import DefineByRun, DistinctAsker

        self.index = index
        self.mode = mode
        self._space = space
        self._context = dict(context)
        self._grid = None
        if search == "grid":
            unique: dict[str, dict[str, Any]] = {}
            for point in grid or ():
                unique.setdefault(params_key(point), dict(point))
            self._grid = list(unique.values())
            budget = min(budget, len(self._grid))
        self.budget = budget
        self._define = DefineByRun(space, context)
        self._study = None
        self._asker = None
        if self._grid is None:
            optuna.logging.set_verbosity(optuna.logging.WARNING)
            window_seed = None if seed is None else seed + index
            sampler = (
                optuna.samplers.RandomSampler(seed=window_seed)
                if search == "random"
                else optuna.samplers.TPESampler(
                    seed=window_seed,
                    n_startup_trials=startup,
                    multivariate=True,
                    constant_liar=True,
                )
            )
            self._study = optuna.create_study(
                direction="maximize" if mode == "max" else "minimize", sampler=sampler
            )
            self._asker = DistinctAsker(self._define, seed=window_seed)
        self._asked = 0
        self._exhausted = False  # every feasible point of the space has been asked
        self._pending: dict[int, tuple[Any, dict[str, Any]]] = {}
        self.outcomes: list[TrialOutcome] = []
        self.oos_started = False  # set by the driver when the window's OOS run is submitted

    @property
    def can_ask(self) -> bool:
        return self._asked < self.budget and not self._exhausted

    @property
    def done(self) -> bool:
        return not self.can_ask and not self._pending

    def ask(self) -> tuple[int, dict[str, Any]] | None:
        """The next parameter set to evaluate as ``(number, params)``, or None when there is
        nothing to run: the point breaks a constraint (settled as INFEASIBLE), or every feasible
        point has been asked (the search then ends with fewer trials than its budget)."""
        number = self._asked
        if self._grid is not None:
            params = dict(self._grid[number])
            trial = None
        else:
            asked = self._asker.ask(self._study)
            if asked is None:
                self._exhausted = True
                return None
            trial, params = asked
        self._asked += 1
        broken = self._space.failed_constraints({**self._context, **params})
        if broken:
            self._pending[number] = (trial, params)
            self.tell(
                number,
                {
                    "state": "INFEASIBLE",
                    "objective": math.nan,
                    "error": f"breaks constraint {broken[0]!r}",
                },
            )
            return None
        self._pending[number] = (trial, params)
        return number, params

    def tell(self, number: int, result: Mapping[str, Any]) -> TrialOutcome:
        """Record a finished trial's result (from :func:`cluster._evaluate.evaluate`)."""
        trial, params = self._pending.pop(number)
        state = str(result.get("state", "ERROR"))
        value = float(result.get("objective", math.nan))
        if state == "COMPLETE" and not math.isfinite(value):
            state = "FAILED"
        if trial is not None:
            told = {"COMPLETE": "COMPLETE", "ERROR": "FAIL"}.get(state, "PRUNED")
            self._asker.tell(self._study, trial, told, value if told == "COMPLETE" else None)
        outcome = TrialOutcome(
            number=number, params=params, state=state, value=value, result=result
        )
        self.outcomes.append(outcome)
        return outcome

    def best(self) -> TrialOutcome | None:
        """The best COMPLETE trial (lowest number on ties), or None."""
        sign = 1.0 if self.mode == "max" else -1.0
        complete = [o for o in self.outcomes if o.state == "COMPLETE"]
        if not complete:
            return None
        return max(complete, key=lambda o: (sign * o.value, -o.number))

    @property
    def complete(self) -> int:
        return sum(1 for o in self.outcomes if o.state == "COMPLETE")
