"""Overfitting diagnostics of a finished study: its trials x time returns matrix built on Ray.

PBO needs every trial's return series, which a study does not keep (a trial reports metrics,
not returns, and changing that would grow Tune's experiment state and the MLflow store for
every study). Instead the matrix is **rebuilt by re-running the study's trials on Ray** from
``result.json``: backtests are deterministic, so the same parameters over the same (symbol,
fold) windows give exactly the returns the study saw. This works for any finished study,
including those run before diagnostics existed, costs nothing while optimizing, and is fast:
one Ray task per distinct parameter set (every symbol and fold in it) on the data service's
ObjectRefs, at most ``max_trials`` of them (COMPLETE and early-stopped trials; the best always
included), and the matrix is cached in the study directory (``diagnostics/returns.parquet``)
so a second report is instant.

Example:
    >>> from cluster.diagnostics import diagnose
    >>> diagnostics = diagnose("demo-sma_crossover-20261122-060432")   # doctest: +SKIP
    >>> diagnostics.pbo.pbo, diagnostics.significance.dsr             # doctest: +SKIP
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import ray

from cluster._evaluate import EvaluationSpec, evaluate_task, portfolio_returns
from cluster._trial import fold_windows, params_key
from cluster.runtime import ensure_ray
from tradelab.analysis import ParameterBounds, StudyDiagnostics, diagnose_study
from tradelab.errors import ConfigError, TradelabError, UnknownNameError

__all__ = ["MATRIX_STATES", "diagnose", "study_returns_matrix"]

MATRIX_STATES = ("COMPLETE", "STOPPED")
"""Trials whose parameter sets enter the returns matrix: every configuration the search
evaluated on its merits (infeasible, failed and erroring ones have no meaningful returns)."""

_CACHE = "diagnostics"


def diagnose(
    study: str,
    *,
    slices: int = 16,
    max_trials: int = 200,
    address: str | None = None,
    refresh: bool = False,
    verbose: bool = True,
) -> StudyDiagnostics:
    """PBO, PSR/DSR, degradation, robustness and regimes of a finished study.

    Args:
        study: the study name (its directory under ``$TRADELAB_HOME/studies`` holds
            ``result.json``).
        slices: CSCV slices (16 as in the paper; fewer for short studies).
        max_trials: at most this many parameter sets are re-run (the best always).
        address: a Ray address (default: ``$RAY_ADDRESS`` or a local Ray).
        refresh: rebuild the cached returns matrix.
        verbose: print progress lines.

    Raises:
        UnknownNameError: no finished study of that name.
        ConfigError: the study has no complete trial.

    Example:
        >>> print(diagnose("sma-2024").pbo.pbo)            # doctest: +SKIP
    """
    data = _study_result(study)
    config = data["config"]
    matrix, trials, best, notes = study_returns_matrix(
        study, max_trials=max_trials, address=address, refresh=refresh, verbose=verbose
    )
    bounds = _bounds(config, notes)
    metric = config["metric"][0] if isinstance(config["metric"], list) else config["metric"]
    mode = config["mode"][0] if isinstance(config["mode"], list) else config["mode"]
    if len(config.get("metric") or []) > 1:
        notes.append(f"multi-objective study: the best trial is the best on {metric} alone.")
    return diagnose_study(
        study=study,
        strategy=config["strategy"],
        symbols=tuple(config["symbols"]),
        metric=metric,
        mode=mode,
        search=config["search"],
        returns=matrix,
        trials=trials,
        best_number=best,
        bounds=bounds,
        benchmark_returns=_benchmark(config, notes),
        slices=slices,
        notes=notes,
    )


def study_returns_matrix(
    study: str,
    *,
    max_trials: int = 200,
    address: str | None = None,
    refresh: bool = False,
    verbose: bool = True,
) -> tuple[pd.DataFrame, list[dict[str, Any]], int, list[str]]:
    """The study's ``T x K`` daily returns matrix (one column per distinct parameter set, named
    by its first trial number), rebuilt on Ray or read from the cache.

    Each column is the equal-weight portfolio of the trial's per-symbol backtests, fold after
    fold exactly as the study ran them.

    Returns:
        ``(matrix, trials, best_number, notes)``: ``trials`` as ``{"number", "params",
        "state", "value"}`` dicts.
    """
    if isinstance(max_trials, bool) or not isinstance(max_trials, int) or max_trials < 2:
        raise ConfigError(f"max_trials must be an integer >= 2, got {max_trials!r}.")
    from cluster.optimizer import _handles, study_dir

    data = _study_result(study)
    config = data["config"]
    trials = [
        {
            "number": int(t["number"]),
            "params": dict(t["params"]),
            "state": t["state"],
            "value": t.get("value"),
        }
        for t in data["trials"]
    ]
    best = _best_number(data, trials)
    chosen, notes = _choose(trials, best, max_trials)
    directory = study_dir(study) / _CACHE
    meta = {
        "numbers": [t["number"] for t in chosen],
        "symbols": list(config["symbols"]),
        "start": config.get("start"),
        "end": config.get("end"),
        "folds": config.get("folds", 1),
    }
    cached = None if refresh else _read_cache(directory, meta)
    if cached is not None:
        if verbose:
            print(
                f"returns matrix of {study}: {cached.shape[1]} parameter sets x "
                f"{cached.shape[0]} days (cached in {directory})",
                flush=True,
            )
        return cached, trials, best, notes
    ensure_ray(address)
    optimize_config = _optimize_config(config)
    handles = _handles(optimize_config)
    spec = EvaluationSpec(
        strategy=config["strategy"],
        handles=handles,
        metric=optimize_config.metric[0],
        costs=config["costs"],
        cash=float(config["cash"]),
        bar_size=config["bar_size"],
        fixed_params=dict(config.get("fixed_params") or {}),
    )
    spec_ref = ray.put(spec)
    segments = {
        h.symbol: [(w.start, w.start, w.stop) for w in fold_windows(h.rows, optimize_config.folds)]
        for h in handles
    }
    began = time.perf_counter()
    if verbose:
        print(
            f"re-running {len(chosen)} parameter sets of {study} on Ray "
            f"({len(handles)} symbols x {optimize_config.folds} folds each) …",
            flush=True,
        )
    refs = {evaluate_task.remote(spec_ref, t["params"], segments): t["number"] for t in chosen}
    columns: dict[int, pd.Series] = {}
    every = max(1, len(refs) // 10)
    remaining = list(refs)
    while remaining:
        ready, remaining = ray.wait(remaining, num_returns=1)
        outcome = ray.get(ready[0])
        number = refs[ready[0]]
        if outcome["state"] in ("ERROR", "INFEASIBLE") or not outcome["returns"]:
            notes.append(f"trial {number} could not be re-run ({outcome['state']}); left out.")
        else:
            columns[number] = portfolio_returns(outcome["returns"])
        done = len(refs) - len(remaining)
        if verbose and (done % every == 0 or not remaining):
            elapsed = time.perf_counter() - began
            print(
                f"[{done:>4}/{len(refs)}] parameter sets re-run | elapsed {elapsed:5.1f}s | "
                f"ETA {elapsed / done * len(remaining):5.1f}s",
                flush=True,
            )
    if best not in columns:
        raise ConfigError(
            f"the best trial {best} of study '{study}' could not be re-run; see the notes above."
        )
    matrix = pd.concat(columns, axis=1).sort_index().fillna(0.0)
    matrix = matrix[sorted(matrix.columns)]
    _write_cache(directory, meta, matrix)
    return matrix, trials, best, notes


def _study_result(study: str) -> dict[str, Any]:
    from cluster.optimizer import study_dir

    if not isinstance(study, str) or not study:
        raise ConfigError(f"study must be a non-empty string, got {study!r}.")
    path = study_dir(study) / "result.json"
    if not path.is_file():
        root = study_dir(study).parent
        known = (
            [p.name for p in root.glob("*") if (p / "result.json").is_file()]
            if root.is_dir()
            else []
        )
        if (study_dir(study) / "study.json").is_file():
            raise ConfigError(
                f"study '{study}' has not finished (no result.json in "
                f"{study_dir(study)}); finish it with `tradelab optimize --resume "
                f"{study}` first."
            )
        raise UnknownNameError("finished study", study, known)
    return json.loads(path.read_text())


def _optimize_config(config: Mapping[str, Any]) -> Any:
    from cluster.config import OptimizeConfig

    return OptimizeConfig.from_mapping({**config, "study": None})


def _best_number(data: Mapping[str, Any], trials: Sequence[Mapping[str, Any]]) -> int:
    best_params = data.get("best_params")
    complete = [t for t in trials if t["state"] == "COMPLETE" and t["value"] is not None]
    if not complete:
        raise ConfigError(
            f"study '{data.get('study')}' has no complete trial: nothing to diagnose."
        )
    if best_params is not None:
        key = params_key(best_params)
        for trial in sorted(complete, key=lambda t: t["number"]):
            if params_key(trial["params"]) == key:
                return int(trial["number"])
    mode = data.get("mode", "max")
    mode = mode[0] if isinstance(mode, list) else mode
    sign = 1.0 if mode == "max" else -1.0
    return int(max(complete, key=lambda t: (sign * t["value"], -t["number"]))["number"])


def _choose(
    trials: Sequence[Mapping[str, Any]], best: int, max_trials: int
) -> tuple[list[Mapping[str, Any]], list[str]]:
    """Distinct parameter sets of COMPLETE / STOPPED trials (first trial of each), the best
    first, then by trial number, at most ``max_trials``."""
    notes: list[str] = []
    seen: dict[str, Mapping[str, Any]] = {}
    best_trial = next(t for t in trials if t["number"] == best)
    seen[params_key(best_trial["params"])] = best_trial
    for trial in sorted(trials, key=lambda t: t["number"]):
        if trial["state"] in MATRIX_STATES:
            seen.setdefault(params_key(trial["params"]), trial)
    distinct = list(seen.values())
    if len(distinct) > max_trials:
        notes.append(
            f"{len(distinct)} distinct parameter sets; the matrix uses the best and the "
            f"first {max_trials - 1} by trial number (--max-trials)."
        )
        distinct = distinct[:max_trials]
    repeats = sum(1 for t in trials if t["state"] in MATRIX_STATES) - len(seen)
    if repeats > 0:
        notes.append(f"{repeats} trial(s) repeated an earlier parameter set and count once.")
    return distinct, notes


def _bounds(config: Mapping[str, Any], notes: list[str]) -> dict[str, ParameterBounds] | None:
    from cluster.optimizer import _plan

    try:
        plan = _plan(_optimize_config(config))
    except TradelabError as exc:
        notes.append(f"the search space could not be rebuilt ({exc}); no edge flags.")
        return None
    return ParameterBounds.from_space(plan.space)


def _benchmark(config: Mapping[str, Any], notes: list[str]) -> pd.Series | None:
    """The symbols' equal-weight buy-and-hold returns, read from the store (no Ray needed)."""
    from tradelab.analysis import buy_and_hold_returns
    from tradelab.data import ParquetStore

    store = ParquetStore()
    closes = {}
    try:
        for symbol in config["symbols"]:
            arrays = store.read_arrays(
                symbol,
                bar_size=config["bar_size"],
                start=config.get("start"),
                end=config.get("end"),
            )
            closes[symbol] = pd.Series(
                arrays["close"], index=pd.to_datetime(arrays["timestamp"], utc=True)
            )
    except TradelabError as exc:
        notes.append(f"no regimes: the symbols' bars could not be read ({exc}).")
        return None
    return buy_and_hold_returns(closes)


def _read_cache(directory: Path, meta: Mapping[str, Any]) -> pd.DataFrame | None:
    try:
        if json.loads((directory / "returns.json").read_text()) != dict(meta):
            return None
        frame = pd.read_parquet(directory / "returns.parquet")
    except (OSError, ValueError):
        return None
    frame.columns = [int(c) for c in frame.columns]
    return frame


def _write_cache(directory: Path, meta: Mapping[str, Any], matrix: pd.DataFrame) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    frame = matrix.copy()
    frame.columns = [str(c) for c in frame.columns]
    frame.to_parquet(directory / "returns.parquet")
    (directory / "returns.json").write_text(json.dumps(dict(meta)))
