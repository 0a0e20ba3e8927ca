"""Computations behind the Study, Run and Compare pages, on the frames of ``study_trials``:
best-so-far, Optuna parameter importances, the 2-parameter grid, neighbours of the top trials,
monthly returns. Pure pandas/numpy (and optuna); no streamlit, no plotting."""

from __future__ import annotations

import logging
import math
import warnings
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "IMPORTANCE_SAMPLE",
    "best_so_far",
    "complete_trials",
    "heatmap_grid",
    "monthly_returns",
    "param_columns",
    "param_importances",
    "robustness",
]


def param_columns(trials: pd.DataFrame) -> list[str]:
    """The ``param.<name>`` columns that vary over the study's trials (names without the
    prefix are what the pages show)."""
    columns = []
    for column in trials.columns:
        if column.startswith("param.") and trials[column].nunique(dropna=True) > 1:
            columns.append(column)
    return columns


def complete_trials(trials: pd.DataFrame) -> pd.DataFrame:
    """Trials with state COMPLETE and a finite objective."""
    if trials.empty:
        return trials
    value = pd.to_numeric(trials["value"], errors="coerce")
    return trials[(trials["state"] == "COMPLETE") & np.isfinite(value)].copy()


def best_so_far(trials: pd.DataFrame, mode: str) -> pd.DataFrame:
    """``number``, ``value`` and ``best`` (the best complete objective up to each trial)."""
    done = complete_trials(trials).sort_values("number")
    values = done["value"].astype(float)
    best = values.cummax() if mode == "max" else values.cummin()
    return pd.DataFrame(
        {"number": done["number"].to_numpy(), "value": values.to_numpy(), "best": best.to_numpy()}
    )


IMPORTANCE_SAMPLE = 300
"""At most this many complete trials (a seeded random sample) go into the fANOVA: its forest
takes seconds per thousand trials, and 300 give the same shares within a few points."""


def param_importances(
    trials: pd.DataFrame, mode: str, *, seed: int = 0, max_trials: int = IMPORTANCE_SAMPLE
) -> pd.Series:
    """Optuna's fANOVA importance of each varying parameter for the objective (sums to 1),
    largest first; empty with fewer than 3 complete trials or no varying parameter.

    The complete trials (a random sample of ``max_trials`` when there are more) are handed to
    an in-memory Optuna study with distributions spanning the values seen (integers, floats, or
    categories for anything else)."""
    import optuna
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    done = complete_trials(trials)
    if len(done) > max_trials:
        done = done.sample(max_trials, random_state=seed)
    columns = [c for c in param_columns(done) if done[c].notna().all()]
    if len(done) < 3 or not columns:
        return pd.Series(dtype=float)
    distributions: dict[str, Any] = {}
    for column in columns:
        values = done[column]
        name = column[len("param.") :]
        if pd.api.types.is_bool_dtype(values) or not pd.api.types.is_numeric_dtype(values):
            distributions[name] = CategoricalDistribution(sorted({str(v) for v in values}))
        elif pd.api.types.is_integer_dtype(values):
            distributions[name] = IntDistribution(int(values.min()), int(values.max()))
        else:
            distributions[name] = FloatDistribution(float(values.min()), float(values.max()))
    frozen = []
    for _, row in done.iterrows():
        params = {}
        for column in columns:
            name = column[len("param.") :]
            value = row[column]
            if isinstance(distributions[name], CategoricalDistribution):
                value = str(value)
            elif isinstance(distributions[name], IntDistribution):
                value = int(value)
            else:
                value = float(value)
            params[name] = value
        frozen.append(
            optuna.trial.create_trial(
                params=params, distributions=distributions, value=float(row["value"])
            )
        )
    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            study = optuna.create_study(direction="maximize" if mode == "max" else "minimize")
            study.add_trials(frozen)
            evaluator = optuna.importance.FanovaImportanceEvaluator(seed=seed)
            scores = optuna.importance.get_param_importances(study, evaluator=evaluator)
    finally:
        optuna.logging.set_verbosity(level)
    series = pd.Series(scores, dtype=float).sort_values(ascending=False)
    series.index.name = "parameter"
    return series


def heatmap_grid(
    trials: pd.DataFrame, x: str, y: str, *, bins: int = 12, how: str = "mean"
) -> pd.DataFrame:
    """The objective of the complete trials on a grid of parameters ``x`` by ``y`` (column names
    ``param.<name>``): rows are ``y`` values, columns ``x`` values, cells the ``how`` (``mean``
    or ``max`` / ``min``) of the objective there; NaN where no trial fell. A parameter with more
    than ``bins`` distinct numeric values is grouped into ``bins`` equal-width bins labelled by
    their middle."""
    done = complete_trials(trials)
    if done.empty:
        return pd.DataFrame()
    keys = {}
    for column in (x, y):
        values = done[column]
        if pd.api.types.is_numeric_dtype(values) and values.nunique() > bins:
            cut = pd.cut(values.astype(float), bins=bins)
            keys[column] = cut.map(lambda interval: round(float(interval.mid), 6)).astype(float)
        else:
            keys[column] = values
    frame = pd.DataFrame({"x": keys[x], "y": keys[y], "value": done["value"].astype(float)})
    grid = frame.pivot_table(index="y", columns="x", values="value", aggfunc=how)
    return grid.sort_index().sort_index(axis=1)


def robustness(
    trials: pd.DataFrame, mode: str, *, top: int = 5, neighbours: int = 5
) -> pd.DataFrame:
    """Each of the ``top`` complete trials against its ``neighbours`` nearest complete trials in
    parameter space (numeric parameters scaled to [0, 1] over the study's range, a different
    category counting 1).

    Columns: ``number``, ``value``, ``neighbours`` (their trial numbers), ``neighbour_mean``,
    ``neighbour_min``, ``neighbour_max``, ``distance`` (mean distance to them) and ``retained``
    (neighbour mean / value: near 1 is a plateau, far below 1 an isolated peak; NaN when the
    value is not positive). Empty with fewer than 2 complete trials.
    """
    done = complete_trials(trials).reset_index(drop=True)
    columns = param_columns(done)
    if len(done) < 2 or not columns:
        return pd.DataFrame()
    scaled = []
    for column in columns:
        values = done[column]
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            numbers = values.astype(float)
            span = numbers.max() - numbers.min()
            scaled.append(((numbers - numbers.min()) / span if span else numbers * 0).to_numpy())
        else:
            scaled.append(None)
    sign = 1.0 if mode == "max" else -1.0
    order = (done["value"].astype(float) * sign).sort_values(ascending=False).index[:top]
    rows = []
    for index in order:
        distance = np.zeros(len(done))
        for column, numbers in zip(columns, scaled, strict=True):
            if numbers is None:
                distance += (done[column] != done.at[index, column]).to_numpy(dtype=float)
            else:
                distance += (numbers - numbers[index]) ** 2
        distance = np.sqrt(distance)
        distance[index] = np.inf
        nearest = np.argsort(distance, kind="stable")[: min(neighbours, len(done) - 1)]
        values = done.loc[nearest, "value"].astype(float)
        value = float(done.at[index, "value"])
        mean = float(values.mean())
        rows.append(
            {
                "number": int(done.at[index, "number"]),
                "value": value,
                "neighbours": ", ".join(str(int(n)) for n in done.loc[nearest, "number"]),
                "neighbour_mean": mean,
                "neighbour_min": float(values.min()),
                "neighbour_max": float(values.max()),
                "distance": float(distance[nearest].mean()),
                "retained": mean / value if value > 0 and mode == "max" else math.nan,
            }
        )
    return pd.DataFrame(rows)


def monthly_returns(equity: pd.DataFrame, cash: float) -> pd.DataFrame:
    """Compounded return of each calendar month: rows are years, columns 1..12 (NaN outside the
    run), from ``timestamp``/``equity`` and the starting ``cash``."""
    if equity.empty:
        return pd.DataFrame()
    series = equity.set_index("timestamp")["equity"].astype(float)
    index = pd.DatetimeIndex(series.index)
    if index.tz is not None:
        index = index.tz_convert("UTC").tz_localize(None)
    series.index = index
    month_end = series.groupby(index.to_period("M")).last()
    previous = pd.concat([pd.Series([cash]), pd.Series(month_end.to_numpy()[:-1])]).to_numpy()
    returns = pd.Series(month_end.to_numpy() / previous - 1.0, index=month_end.index)
    table = pd.DataFrame(
        {"year": returns.index.year, "month": returns.index.month, "return": returns.to_numpy()}
    )
    grid = table.pivot(index="year", columns="month", values="return")
    return grid.reindex(columns=range(1, 13))
