"""``optimize``: a Ray Tune study with an Optuna search over Backtrader trials, logged to MLflow.

A trial evaluates one parameter set over every (symbol, fold) and reports after each backtest, so
ASHA can stop a poor trial early and Tune's fixed cost per trial is spread over many backtests.
Market data reaches trials as ObjectRefs from the cluster's MarketDataService. The study lives in
``$TRADELAB_HOME/studies/<study>`` and can be resumed after the driver dies.

Example:
    >>> from cluster import OptimizeConfig, optimize
    >>> result = optimize(OptimizeConfig(strategy="sma_crossover", symbols=("AAA", "BBB"),
    ...                                  trials=20))          # doctest: +SKIP
    >>> result.best.params                                    # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ray

from cluster._records import trial_record
from cluster._search import StudyStopper, build_searcher
from cluster._trial import PARTIAL, TrialContext, run_trial
from cluster._tune_registry import remembered_trainables
from cluster.config import OptimizeConfig
from cluster.data_service import get_data_service
from cluster.runtime import ensure_ray
from tradelab.errors import ConfigError, TradelabError

__all__ = ["StudyResult", "optimize", "pareto_front", "resume", "study_dir"]

_FEASIBILITY_SAMPLES = 20_000


@dataclass(frozen=True, kw_only=True, slots=True)
class StudyResult:
    """The outcome of a study: every trial, the best one (or the Pareto front), efficiency."""

    study: str
    config: OptimizeConfig
    trials: tuple[Any, ...]
    best: Any | None
    pareto: tuple[Any, ...]
    wall_s: float
    cpu_s: float
    cpus: float
    efficiency: float
    stopped_reason: str
    directory: Path
    tracking_run_id: str | None = None
    tracking_uri: str | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for trial in self.trials:
            out[trial.state] = out.get(trial.state, 0) + 1
        return out

    def top(self, n: int = 10) -> list[Any]:
        """The best ``n`` complete trials by the (first) objective."""
        sign = 1.0 if self.config.mode[0] == "max" else -1.0
        done = [t for t in self.trials if t.state == "COMPLETE" and t.value is not None]
        return sorted(done, key=lambda t: -sign * t.value)[:n]

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly: best_params, best_value, metric, trials, efficiency and more."""
        best = self.best
        return {
            "study": self.study,
            "strategy": self.config.strategy,
            "metric": self.config.metric[0] if len(self.config.metric) == 1
            else list(self.config.metric),
            "mode": self.config.mode[0] if len(self.config.mode) == 1 else list(self.config.mode),
            "best_params": dict(best.params) if best else None,
            "best_value": best.value if best else None,
            "best_metrics": dict(best.metrics) if best else None,
            "pareto_front": [{"params": dict(t.params), "values": dict(t.values)}
                             for t in self.pareto],
            "trials": [_trial_dict(t) for t in sorted(self.trials, key=lambda t: t.number)],
            "counts": self.counts,
            "efficiency": self.efficiency,
            "wall_seconds": self.wall_s,
            "backtest_cpu_seconds": self.cpu_s,
            "cpus": self.cpus,
            "stopped_reason": self.stopped_reason,
            "directory": str(self.directory),
            "config": self.config.to_dict(),
            "tracking_run_id": self.tracking_run_id,
            "tracking_uri": self.tracking_uri,
            "notes": list(self.notes),
        }


def _trial_dict(trial: Any) -> dict[str, Any]:
    return {"number": trial.number, "trial_id": trial.trial_id, "params": dict(trial.params),
            "value": trial.value, "values": dict(trial.values), "state": trial.state,
            "backtests": trial.backtests, "error": trial.error, "cpu_s": trial.cpu_s,
            "metrics": {k: v for k, v in trial.metrics.items() if k in _SHOWN_METRICS}}


_SHOWN_METRICS = {"sharpe", "sortino", "cagr", "total_return", "max_drawdown", "win_rate",
                  "profit_factor", "num_trades", "calmar", "annual_volatility"}


def study_dir(study: str) -> Path:
    """Where a study's Tune experiment and settings live."""
    from tradelab.paths import data_root

    return data_root() / "studies" / study


def pareto_front(trials: Sequence[Any], modes: Sequence[str]) -> list[Any]:
    """Complete trials not dominated on every objective (``values`` in metric order)."""
    signs = [1.0 if m == "max" else -1.0 for m in modes]
    points = []
    for trial in trials:
        vals = list(trial.values.values())
        if trial.state == "COMPLETE" and all(v is not None and math.isfinite(v) for v in vals):
            points.append((trial, [s * v for s, v in zip(signs, vals, strict=True)]))
    front = []
    for trial, vec in points:
        dominated = any(all(o >= v for o, v in zip(other, vec, strict=True)) and other != vec
                        for _, other in points)
        if not dominated:
            front.append(trial)
    return sorted(front, key=lambda t: t.number)


@dataclass(frozen=True, kw_only=True, slots=True)
class _Plan:
    config: OptimizeConfig
    strategy_cls: type
    space: Any
    defaults: dict[str, Any]
    grid: list[dict[str, Any]] | None
    samples: int


def _plan(config: OptimizeConfig) -> _Plan:
    """Validate everything that can be checked before a trial starts."""
    from tradelab.costs import cost_model
    from tradelab.strategy import (
        ParameterSpace,
        default_params,
        load_space_file,
        load_strategy,
        space_of,
    )

    strategy_cls = load_strategy(config.strategy)
    cost_model(config.costs)
    space = space_of(strategy_cls)
    if config.space_file:
        space = space.override(load_space_file(config.space_file))
    defaults = default_params(strategy_cls)
    for name in config.fixed_params:
        if name not in defaults:
            from tradelab.errors import ParameterError, did_you_mean

            raise ParameterError(f"fixed parameter '{name}' is not a parameter of "
                                 f"{config.strategy}.{did_you_mean(name, defaults)}")
    searched = {k: v for k, v in space.params.items() if k not in config.fixed_params}
    constraints = list(space.constraint_texts()) + list(config.constraints)
    space = ParameterSpace(searched, constraints=constraints, partial=True)
    if not searched:
        raise ConfigError(f"the parameter space of {config.strategy} is empty (every parameter "
                          "fixed, or the strategy declares none): nothing to optimize.")
    context = {**defaults, **config.fixed_params}
    grid = None
    if config.search == "grid":
        grid = [p for p in space.grid() if space.satisfies({**context, **p})]
        if not grid:
            raise ConfigError(f"no grid point satisfies the constraints {constraints}.")
        samples = len(grid) if config.trials == 0 else min(config.trials, len(grid))
        grid = grid[:samples]
    else:
        _check_feasible(space, context, constraints, seed=config.seed)
        samples = config.trials
    return _Plan(config=config, strategy_cls=strategy_cls, space=space, defaults=defaults,
                 grid=grid, samples=samples)


def _check_feasible(space: Any, context: Mapping[str, Any], constraints: list[str],
                    *, seed: int | None) -> None:
    """Refuse a space in which no sampled point satisfies the constraints."""
    if not space.constraints:
        return
    import random

    from cluster._search import random_point

    rng = random.Random(seed)
    for _ in range(_FEASIBILITY_SAMPLES):
        point = random_point(space.params, rng)
        if space.satisfies({**context, **point}):
            return
    raise ConfigError(f"no point of the search space satisfies the constraints {constraints} "
                      f"({_FEASIBILITY_SAMPLES:,} samples tried); widen the ranges or fix the "
                      "constraints.")


def optimize(config: OptimizeConfig, *, address: str | None = None, tracking: Any = None,
             verbose: bool = True) -> StudyResult:
    """Run a study; returns a :class:`StudyResult`. Everything is validated before trial one.

    Args:
        config: the study.
        address: a Ray address (``auto``, ``ray://…``); default: ``$RAY_ADDRESS`` or local Ray.
        tracking: a ``tradelab.tracking.TrackingConfig`` (default: the embedded MLflow store).
        verbose: print a progress line per finished trial.
    """
    plan = _plan(config)
    _check_symbols(config)
    study = config.study or f"{config.strategy.replace(':', '.')}-{time.strftime('%Y%m%d-%H%M%S')}"
    directory = study_dir(study)
    if (directory / "study.json").exists():
        raise ConfigError(f"study '{study}' already exists in {directory}; resume it with "
                          f"`tradelab optimize --resume {study}` or choose another name.")
    ensure_ray(address)
    handles = _handles(config)
    directory.mkdir(parents=True, exist_ok=True)
    _write_json(directory / "study.json", {**config.to_dict(), "study": study})
    return _run(plan, study=study, directory=directory, handles=handles, tracking=tracking,
                verbose=verbose, restore=False)


def resume(study: str, *, address: str | None = None, tracking: Any = None,
           verbose: bool = True) -> StudyResult:
    """Continue an interrupted study without re-running its finished trials."""
    from tradelab.errors import UnknownNameError

    directory = study_dir(study)
    settings = directory / "study.json"
    if not settings.is_file():
        known = [p.name for p in directory.parent.glob("*") if (p / "study.json").is_file()] \
            if directory.parent.is_dir() else []
        raise UnknownNameError("study", study, known)
    data = json.loads(settings.read_text())
    data.pop("study", None)
    config = OptimizeConfig.from_mapping({**data, "study": study})
    plan = _plan(config)
    _check_symbols(config)
    ensure_ray(address)
    handles = _handles(config)
    return _run(plan, study=study, directory=directory, handles=handles, tracking=tracking,
                verbose=verbose, restore=True)


def _check_symbols(config: OptimizeConfig) -> None:
    """Every symbol must be in the store's catalog (a clear error before Ray is involved)."""
    from tradelab.data import ParquetStore
    from tradelab.errors import DataNotFoundError, did_you_mean

    store = ParquetStore()
    held = {(e.symbol, e.bar_size) for e in store.catalog()}
    names = sorted({s for s, b in held if b == config.bar_size})
    missing = [s for s in config.symbols if (s, config.bar_size) not in held]
    if missing:
        hint = did_you_mean(missing[0], names)
        raise DataNotFoundError(
            f"no {config.bar_size} data for {', '.join(missing)} in {store.root}.{hint} "
            f"Stored: {', '.join(names) or 'nothing'}. Add data with `tradelab data generate` "
            "or `tradelab data import`.")


def _handles(config: OptimizeConfig) -> tuple[Any, ...]:
    """Data handles from the cluster's service (which reads Parquet only on a first request)."""
    service = get_data_service()
    try:
        return tuple(ray.get(service.get_many.remote(list(config.symbols), config.bar_size,
                                                     config.start, config.end)))
    except ray.exceptions.RayTaskError as exc:
        if isinstance(exc.cause, TradelabError):
            raise exc.cause from None
        raise


def _write_json(path: Path, payload: Mapping[str, Any]) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".study.", suffix=".tmp")
    with os.fdopen(fd, "w") as handle:
        json.dump(payload, handle, indent=2, default=str)
    os.replace(tmp, path)


def _run(plan: _Plan, *, study: str, directory: Path, handles: tuple[Any, ...], tracking: Any,
         verbose: bool, restore: bool) -> StudyResult:
    from ray import tune

    from cluster._records import read_journal
    from cluster._trial import params_key
    from tradelab.tracking import StudyTracker

    config = plan.config
    cpus = float(ray.cluster_resources().get("CPU", 1.0))
    concurrency = config.concurrency or max(1, int(cpus))
    journal = directory / "completed.jsonl"
    finished = read_journal(str(journal)) if restore else []
    context = TrialContext(
        strategy=config.strategy, handles=handles, folds=config.folds, metrics=config.metric,
        modes=config.mode, aggregate=config.aggregate, min_trades=config.min_trades,
        costs=config.costs, cash=float(config.cash), bar_size=config.bar_size,
        fixed_params=dict(config.fixed_params), constraints=tuple(plan.space.constraint_texts()),
        report_every_backtest=_uses_asha(config),
        completed={params_key(e["params"]): e["result"] for e in finished},
    )
    trainable = tune.with_resources(tune.with_parameters(run_trial, context=context),
                                    {"cpu": 1})
    tracker = StudyTracker(tracking)
    run_id = tracker.start_study(
        study=study, strategy=getattr(plan.strategy_cls, "name", config.strategy),
        strategy_family=getattr(plan.strategy_cls, "family", "") or "custom",
        project=config.project, asset_class=config.asset_class,
        settings={**config.to_dict(), "space": plan.space.to_dict(), "study": study,
                  "metric": ",".join(config.metric), "mode": config.mode[0],
                  "modes": ",".join(config.mode)},
    )
    from cluster._callbacks import ACTIVE_TRACKERS, TRIAL_CONFIGS

    ACTIVE_TRACKERS[study] = tracker
    began = time.perf_counter()
    session_began = time.time()
    status = "FAILED"
    try:
        if restore:
            tuner = tune.Tuner.restore(str(directory), trainable=trainable,
                                       resume_unfinished=True, resume_errored=True)
            stopper = _restored_stopper(tuner)
        else:
            tuner, stopper = _new_tuner(plan, study=study, directory=directory,
                                        trainable=trainable, concurrency=concurrency,
                                        verbose=verbose)
        with remembered_trainables():
            grid = tuner.fit()
        status = "FINISHED"
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    finally:
        wall = time.perf_counter() - began
        ACTIVE_TRACKERS.pop(study, None)
        if status != "FINISHED":
            tracker.finish_study(status=status, summary={"wall_seconds": wall})
    records = []
    ran_now: set[str] = set()  # trials whose backtests ran in this session (not before a resume)
    started = TRIAL_CONFIGS.pop(study, {})
    for index in range(len(grid)):
        result = grid[index]
        metrics = result.metrics or {}
        trial_id = metrics.get("trial_id") or Path(result.path).name
        if not restore or (metrics.get("timestamp", 0) >= int(session_began)
                           and not metrics.get("resumed_from_journal")):
            ran_now.add(str(trial_id))
        params = result.config or started.get(str(trial_id)) or \
            next((c for t, c in started.items() if t in Path(result.path).name), {})
        records.append(trial_record(
            trial_id=str(trial_id), config=params, result=metrics,
            tune_error=str(result.error) if result.error else None, metrics=config.metric,
            label=Path(result.path).name))
    # trials that finished after the last saved experiment state are known only to the journal
    known = {r.trial_id for r in records}
    for entry in read_journal(str(journal)):
        if entry["trial_id"] not in known:
            known.add(entry["trial_id"])
            records.append(trial_record(
                trial_id=entry["trial_id"], config=entry["params"], result=entry["result"],
                tune_error=None, metrics=config.metric, label=f"{entry.get('number', 0)}_"))
    tracker.log_trials(records)
    sign = 1.0 if config.mode[0] == "max" else -1.0
    complete = [t for t in records if t.state == "COMPLETE" and t.value is not None]
    best = max(complete, key=lambda t: sign * t.value) if complete else None
    pareto = tuple(pareto_front(records, config.mode)) if config.multi_objective else ()
    # the wall clock is this session's, so is the CPU: a resumed study's efficiency counts only
    # the trials run since the resume
    cpu = sum(t.cpu_s for t in records if t.trial_id in ran_now)
    efficiency = cpu / (wall * cpus) if wall > 0 and cpus > 0 else math.nan
    notes = (f"resumed: efficiency counts the {len(ran_now)} trials run since the resume; "
             f"{len(records) - len(ran_now)} had finished before it",) if restore else ()
    stopper_reason = getattr(stopper, "reason", "") or ""
    if not stopper_reason and len(records) < plan.samples:
        stopper_reason = (f"every feasible point of the search space was evaluated "
                          f"({len(records)} distinct parameter sets)")
    result = StudyResult(
        study=study, config=config, trials=tuple(sorted(records, key=lambda t: t.number)),
        best=best, pareto=pareto, wall_s=wall, cpu_s=cpu, cpus=cpus, efficiency=efficiency,
        stopped_reason=stopper_reason, directory=directory, tracking_run_id=run_id,
        tracking_uri=tracker.config.resolved_uri(), notes=notes,
    )
    _log_best_artifacts(result, tracker, plan)
    tracker.finish_study(status="FINISHED", summary={
        "best_value": best.value if best else None, "efficiency": efficiency,
        "wall_seconds": wall, "trials": len(records), **{f"trials_{k.lower()}": v
                                                         for k, v in result.counts.items()},
        **({f"best.{k}": v for k, v in best.params.items()} if best else {}),
    })
    _write_json(directory / "result.json", result.to_dict())
    return result


def _uses_asha(config: OptimizeConfig) -> bool:
    """ASHA (early stopping over a trial's backtests) applies to single-objective, non-grid
    studies of at least 3 backtests per trial."""
    backtests = len(config.symbols) * config.folds
    return bool(config.early_stopping and not config.multi_objective and backtests >= 3
                and config.search != "grid")


def _new_tuner(plan: _Plan, *, study: str, directory: Path, trainable: Any, concurrency: int,
               verbose: bool) -> tuple[Any, StudyStopper]:
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler

    from cluster._callbacks import ProgressCallback, TrackingCallback

    config = plan.config
    searcher = build_searcher(
        search=config.search, space=plan.space, defaults={**plan.defaults,
                                                          **config.fixed_params},
        metrics=config.metric, modes=config.mode, seed=config.seed, concurrency=concurrency,
        points=config.points_to_evaluate, grid=plan.grid)
    backtests = len(config.symbols) * config.folds
    scheduler = None
    if _uses_asha(config):
        scheduler = ASHAScheduler(time_attr="backtests_done", metric=PARTIAL,
                                  mode=config.mode[0], max_t=backtests,
                                  grace_period=max(1, backtests // 3), reduction_factor=3)
    stopper = StudyStopper(mode=config.mode[0], target=config.target, patience=config.patience)
    callbacks = [TrackingCallback(study=study, metrics=config.metric,
                                  journal=str(directory / "completed.jsonl"))]
    if verbose:
        callbacks.append(ProgressCallback(total=plan.samples, metric=config.metric[0],
                                          mode=config.mode[0]))
    param_space = None
    if plan.grid is not None:
        # the grid's points are the trials; the domains only name the keys they fill
        param_space = {name: tune.choice(sorted({p[name] for p in plan.grid}, key=str))
                       for name in plan.grid[0]}
    return tune.Tuner(
        trainable,
        param_space=param_space,
        tune_config=tune.TuneConfig(
            search_alg=searcher, scheduler=scheduler, num_samples=plan.samples,
            max_concurrent_trials=None,  # the searcher limits it (ConcurrencyLimiter / grid)
            reuse_actors=True,
        ),
        run_config=tune.RunConfig(
            name=study, storage_path=str(directory.parent), stop=stopper, callbacks=callbacks,
            failure_config=tune.FailureConfig(max_failures=config.max_failures),
            # copy the saved experiment state to the study directory at every save, not every
            # 5 minutes: what a resume after a killed driver reads
            sync_config=tune.SyncConfig(sync_period=0),
            verbose=0, log_to_file=False,
        ),
    ), stopper


def _restored_stopper(tuner: Any) -> Any:
    """The study stopper as restored with the experiment (to read why it stopped)."""
    local = getattr(tuner, "_local_tuner", None)
    run_config = local.get_run_config() if local is not None else None
    return getattr(run_config, "stop", None)


def _log_best_artifacts(result: StudyResult, tracker: Any, plan: _Plan) -> None:
    """Equity curve, trades and tear sheet of the best N trials: each re-run over the study's
    whole range on the first symbol (read from the data service, not Parquet)."""
    config = result.config
    if not config.best_n_artifacts or not result.trials:
        return
    from cluster.data_service import fetch_arrays
    from tradelab.backtest import run_backtest

    handle = ray.get(get_data_service().get.remote(config.symbols[0], config.bar_size,
                                                   config.start, config.end))
    arrays = {k: v.copy() for k, v in fetch_arrays(handle).items()}
    chosen = list(result.pareto) if result.pareto else result.top(config.best_n_artifacts)
    for trial in chosen[: config.best_n_artifacts]:
        try:
            backtest = run_backtest({handle.symbol: arrays}, plan.strategy_cls,
                                    params={**config.fixed_params, **trial.params},
                                    cash=config.cash, costs=config.costs,
                                    bar_size=config.bar_size)
            tracker.log_trial_artifacts(trial.trial_id, backtest)
        except TradelabError as exc:  # an artifact problem must not lose the study
            print(f"warning: artifacts of trial {trial.number} not logged: {exc}")
