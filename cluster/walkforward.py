"""Walk-forward analysis on the cluster: optimize every window in sample, test out of sample.

For each window of a rolling or anchored scheme (:func:`tradelab.analysis.walk_forward_windows`)
the strategy's parameters are searched on the train period (TPE, random or grid, like
``tradelab optimize``: one trial = one parameter set over every symbol), the best set is run on
the test period, and the test periods' returns are stitched into one out-of-sample record.
All windows search at once: the driver asks each window's sampler in turn and runs the trials
as Ray tasks on the data service's ObjectRefs, keeping the cluster's CPUs busy; a window's OOS
run starts as soon as its search ends. Results go to MLflow (a parent run per analysis, a child
per window — :mod:`tradelab.tracking.walkforward`).

No look-ahead: the test period starts the day after the train period ends; the OOS backtest
runs from the train period's start so indicators are warm on the first test day, but only test
days are measured, with the parameters chosen from train data alone.

Example:
    >>> from cluster.walkforward import WalkForwardConfig, walk_forward
    >>> result = walk_forward(WalkForwardConfig(strategy="sma_crossover", symbols=("AAA",),
    ...                       train="3y", test="6m", trials=30))     # doctest: +SKIP
    >>> result.summary["wfe"], result.window_table()                 # doctest: +SKIP
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np
import ray

from cluster._evaluate import (
    EvaluationSpec,
    benchmark_returns,
    evaluate_task,
    portfolio_returns,
)
from cluster._window_search import WindowSearch
from cluster.runtime import ensure_ray
from cluster.walkforward_config import WALKFORWARD_SEARCHES, WalkForwardConfig
from tradelab.analysis import (
    ParameterBounds,
    WalkForwardResult,
    WalkForwardWindow,
    WindowResult,
    assemble_walk_forward,
    period_metrics,
    walk_forward_windows,
    walkforward_report_html,
    window_rows,
)
from tradelab.errors import DataNotFoundError

__all__ = ["WALKFORWARD_SEARCHES", "WalkForwardConfig", "walk_forward"]


def walk_forward(
    config: WalkForwardConfig,
    *,
    address: str | None = None,
    tracking: Any = None,
    verbose: bool = True,
) -> WalkForwardResult:
    """Run a walk-forward analysis and return its :class:`~tradelab.analysis.WalkForwardResult`.

    Everything is checked before the first trial (strategy, space, constraints, symbols, the
    windows fitting the data, the name being new).

    Args:
        config: the analysis.
        address: a Ray address (default: ``$RAY_ADDRESS`` or a local Ray).
        tracking: a ``tradelab.tracking.TrackingConfig`` (default: the embedded MLflow store).
        verbose: print progress lines.

    Example:
        >>> walk_forward(WalkForwardConfig(strategy="sma_crossover", symbols=("AAA", "BBB"),
        ...              train="2y", test="6m", anchored=True, trials=20))  # doctest: +SKIP
    """
    from cluster.optimizer import _check_symbols, _handles, _plan
    from tradelab.tracking import WalkForwardTracker

    began = time.perf_counter()
    optimize_config = config.optimize_config()
    plan = _plan(optimize_config)
    _check_symbols(optimize_config)
    ensure_ray(address)
    handles = _handles(optimize_config)
    stamps = {h.symbol: np.asarray(ray.get(h.ref)["timestamp"][h.begin : h.end]) for h in handles}
    windows = _windows(config, stamps)
    rows = _rows(windows, stamps)
    name = (
        config.name or f"wfa-{config.strategy.replace(':', '.')}-{time.strftime('%Y%m%d-%H%M%S')}"
    )
    tracker = WalkForwardTracker(tracking)
    settings = {
        "strategy": config.strategy,
        "symbols": list(config.symbols),
        "train": config.train,
        "test": config.test,
        "step": config.step,
        "anchored": config.anchored,
        "trials": plan.samples,
        "metric": config.metric,
        "mode": config.mode,
        "aggregate": config.aggregate,
        "search": config.search,
        "start": windows[0].train_start.isoformat(),
        "end": windows[-1].test_end.isoformat(),
        "seed": config.seed,
        "costs": config.costs,
        "cash": config.cash,
        "fixed_params": dict(config.fixed_params),
    }
    tracker.start(
        name=name,
        params=settings,
        tags={
            "strategy": config.strategy,
            "project": config.project,
            "asset_class": config.asset_class,
        },
    )
    cpus = float(ray.cluster_resources().get("CPU", 1.0))
    concurrency = config.concurrency or max(1, int(cpus))
    if verbose:
        print(
            f"walk-forward {name}: {len(windows)} windows x {plan.samples} trials x "
            f"{len(handles)} symbols on {cpus:g} CPUs ({config.search})",
            flush=True,
        )
    status = "FAILED"
    try:
        results = _run(
            config,
            plan=plan,
            handles=handles,
            windows=windows,
            rows=rows,
            tracker=tracker,
            concurrency=concurrency,
            verbose=verbose,
            began=began,
        )
        bounds = ParameterBounds.from_space(plan.space)
        result = assemble_walk_forward(
            name=name,
            strategy=config.strategy,
            symbols=config.symbols,
            settings=settings,
            windows=results,
            benchmark_returns=benchmark_returns(handles),
            cash=config.cash,
            bounds=bounds,
            wall_s=time.perf_counter() - began,
            notes=_notes(handles),
        )
        page = walkforward_report_html(result)
        tracker.finish(
            metrics=dict(result.summary),
            oos_equity=result.oos_equity,
            windows=[w.row() for w in result.windows],
            report_html=page,
        )
        status = "FINISHED"
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    finally:
        if status != "FINISHED":
            tracker.finish(status=status)
    return replace(
        result, tracking_run_id=tracker.run_id, tracking_uri=tracker.config.resolved_uri()
    )


def _windows(
    config: WalkForwardConfig, stamps: Mapping[str, np.ndarray]
) -> list[WalkForwardWindow]:
    """The scheme over the range every symbol covers. Without ``end`` the data ends on its last
    bar's date, extended over a weekend that follows it: bars through Friday Dec 29 cover a
    test period ending Sunday Dec 31."""
    from datetime import timedelta

    import pandas as pd

    first = max(int(s[0]) for s in stamps.values())
    last = min(int(s[-1]) for s in stamps.values())
    start = config.start or pd.Timestamp(first, tz="UTC").date()
    end = config.end
    if end is None:
        last_day = pd.Timestamp(last, tz="UTC").date()
        weekday = last_day.weekday()  # Friday 4, Saturday 5: the weekend runs to Sunday
        end = last_day + timedelta(days=6 - weekday if weekday >= 4 else 0)
    return walk_forward_windows(
        start, end, train=config.train, test=config.test, step=config.step, anchored=config.anchored
    )


def _rows(
    windows: list[WalkForwardWindow], stamps: Mapping[str, np.ndarray]
) -> dict[int, dict[str, tuple[slice, slice]]]:
    """Per window and symbol: the train rows and the test rows (relative to the handle)."""
    out: dict[int, dict[str, tuple[slice, slice]]] = {}
    for window in windows:
        out[window.index] = {}
        for symbol, times in stamps.items():
            train = window_rows(times, window.train_start, window.train_end)
            test = window_rows(times, window.test_start, window.test_end)
            if train.stop - train.start < 2 or test.stop <= test.start:
                raise DataNotFoundError(
                    f"{symbol} has {train.stop - train.start} bars in window {window.index}'s "
                    f"train period {window.train_start} .. {window.train_end} and "
                    f"{test.stop - test.start} in its test period {window.test_start} .. "
                    f"{window.test_end}; give a range every symbol covers (--start/--end)."
                )
            out[window.index][symbol] = (train, test)
    return out


def _run(
    config: WalkForwardConfig,
    *,
    plan: Any,
    handles: tuple[Any, ...],
    windows: list[WalkForwardWindow],
    rows: Mapping[int, Mapping[str, tuple[slice, slice]]],
    tracker: Any,
    concurrency: int,
    verbose: bool,
    began: float,
) -> list[WindowResult]:
    spec = EvaluationSpec(
        strategy=config.strategy,
        handles=handles,
        metric=config.metric,
        aggregate=config.aggregate,
        min_trades=config.min_trades,
        costs=config.costs,
        cash=float(config.cash),
        bar_size=config.bar_size,
        fixed_params=dict(config.fixed_params),
    )
    spec_ref = ray.put(spec)
    context = {**plan.defaults, **config.fixed_params}
    searches = [
        WindowSearch(
            index=w.index,
            space=plan.space,
            context=context,
            search=config.search,
            budget=plan.samples,
            mode=config.mode,
            seed=config.seed,
            grid=plan.grid,
            startup=min(10, max(4, concurrency * 2)),
        )
        for w in windows
    ]
    train_segments = {
        w.index: {s: [(r[0].start, r[0].start, r[0].stop)] for s, r in rows[w.index].items()}
        for w in windows
    }
    pending: dict[Any, tuple[str, int, int]] = {}  # ref -> (kind, window, trial number)
    finished: dict[int, WindowResult] = {}
    total = plan.samples * len(windows)
    told = 0
    every = max(1, math.ceil(total / 10))
    cursor = 0
    while len(finished) < len(windows):
        while sum(1 for k in pending.values() if k[0] == "trial") < concurrency:
            search = _next_search(searches, cursor)
            if search is None:
                break
            cursor = search.index + 1
            settled = len(search.outcomes)
            asked = search.ask()
            if asked is None:  # settled without running, or the window's space is used up
                told += len(search.outcomes) - settled
                _maybe_out_of_sample(search, spec_ref, rows, pending, windows)
                continue
            number, params = asked
            ref = evaluate_task.remote(spec_ref, params, train_segments[search.index])
            pending[ref] = ("trial", search.index, number)
        if not pending:
            break
        ready, _ = ray.wait(list(pending), num_returns=1)
        kind, index, number = pending.pop(ready[0])
        outcome = ray.get(ready[0])
        if kind == "trial":
            searches[index].tell(number, outcome)
            told += 1
            if verbose and (told % every == 0 or told == total):
                _progress(told, total, len(finished), len(windows), began)
            _maybe_out_of_sample(searches[index], spec_ref, rows, pending, windows)
        else:
            result = _window_result(windows[index], searches[index], outcome)
            finished[index] = result
            tracker.log_window(
                window=windows[index].to_dict(),
                best_params=result.best_params,
                metrics={
                    **{f"is_{k}": v for k, v in result.is_metrics.items()},
                    **{f"oos_{k}": v for k, v in result.oos_metrics.items()},
                    "is_objective": result.is_objective,
                    "wfe": result.wfe,
                },
            )
            if verbose:
                _window_line(result)
    return [finished[w.index] for w in windows]


def _next_search(searches: list[WindowSearch], cursor: int) -> WindowSearch | None:
    """Round robin over the windows that still have trials to ask."""
    count = len(searches)
    for offset in range(count):
        search = searches[(cursor + offset) % count]
        if search.can_ask:
            return search
    return None


def _maybe_out_of_sample(
    search: WindowSearch,
    spec_ref: Any,
    rows: Mapping[int, Mapping[str, tuple[slice, slice]]],
    pending: dict[Any, tuple[str, int, int]],
    windows: list[WalkForwardWindow],
) -> None:
    """Once a window's search is done, run its best parameters on its test period (warmed up
    from the train period's start, measured from the test period's first day)."""
    if not search.done or search.oos_started:
        return
    search.oos_started = True
    best = search.best()
    if best is None:
        pending[ray.put(None)] = ("oos", search.index, -1)
        return
    segments = {
        symbol: [(train.start, test.start, test.stop)]
        for symbol, (train, test) in rows[search.index].items()
    }
    ref = evaluate_task.remote(spec_ref, dict(best.params), segments)
    pending[ref] = ("oos", search.index, best.number)


def _window_result(
    window: WalkForwardWindow, search: WindowSearch, outcome: Mapping[str, Any] | None
) -> WindowResult:
    import pandas as pd

    best = search.best()
    trials, complete = len(search.outcomes), search.complete
    if best is None or outcome is None or outcome.get("state") in ("ERROR", "INFEASIBLE"):
        days = pd.bdate_range(window.test_start, window.test_end, tz="UTC")
        note = (
            "no trial completed in sample: stays in cash out of sample"
            if best is None
            else f"the OOS run failed ({(outcome or {}).get('error', '')!s:.200}): stays in cash"
        )
        flat = pd.Series(0.0, index=days, name="returns")
        return WindowResult(
            window=window,
            best_params=dict(best.params) if best else {},
            is_objective=best.value if best else math.nan,
            is_metrics=period_metrics(
                portfolio_returns(best.result["returns"]), trades=int(best.result["trades"])
            )
            if best
            else {},
            oos_metrics=period_metrics(flat),
            oos_returns=flat,
            trials=trials,
            complete=complete,
            note=note,
        )
    is_returns = portfolio_returns(best.result["returns"])
    oos_returns = portfolio_returns(outcome["returns"])
    return WindowResult(
        window=window,
        best_params=dict(best.params),
        is_objective=best.value,
        is_metrics=period_metrics(is_returns, trades=int(best.result["trades"])),
        oos_metrics=period_metrics(oos_returns, trades=int(outcome["trades"])),
        oos_returns=oos_returns,
        trials=trials,
        complete=complete,
    )


def _progress(told: int, total: int, done: int, windows: int, began: float) -> None:
    elapsed = time.perf_counter() - began
    eta = elapsed / told * (total - told) if told else math.inf
    print(
        f"[{told:>5}/{total} trials] windows done {done}/{windows} | elapsed "
        f"{elapsed:5.1f}s | ETA {eta:5.1f}s",
        flush=True,
    )


def _window_line(result: WindowResult) -> None:
    params = ", ".join(f"{k}={v}" for k, v in sorted(result.best_params.items())) or "none"
    print(
        f"window {result.window.index}: test {result.window.test_start} → "
        f"{result.window.test_end}  best {params}  IS sharpe "
        f"{result.is_metrics.get('sharpe', math.nan):.3f} → OOS sharpe "
        f"{result.oos_metrics.get('sharpe', math.nan):.3f}  ({result.complete}/"
        f"{result.trials} complete)",
        flush=True,
    )


def _notes(handles: tuple[Any, ...]) -> tuple[str, ...]:
    from tradelab.data import ParquetStore

    try:
        entries = {(e.symbol, e.bar_size): e for e in ParquetStore().catalog()}
    except Exception:  # noqa: BLE001 - a note is never worth a failed analysis
        return ()
    synthetic = [
        h.symbol
        for h in handles
        if getattr(entries.get((h.symbol, h.bar_size)), "source", "") == "synthetic"
    ]
    return (
        (f"SYNTHETIC data (generated, not market history): {', '.join(synthetic)}",)
        if synthetic
        else ()
    )
