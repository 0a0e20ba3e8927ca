"""Questions about tracked studies, answered as pandas DataFrames (for the viewer and the CLI).

Every query reads the MLflow store page by page (1000 runs a request), so studies with
thousands of trials work. ``tracking_uri`` and ``experiment`` default as in
:class:`~tradelab.tracking.TrackingConfig`; when the default experiment does not exist yet
(nothing tracked), the answer is empty.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import pandas as pd

from tradelab.errors import ConfigError, UnknownNameError
from tradelab.tracking import _store
from tradelab.tracking.config import DEFAULT_EXPERIMENT, TrackingConfig
from tradelab.tracking.records import RESERVED_METRICS, TRIAL_STATES

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Run

__all__ = [
    "COMPARE_COLUMNS",
    "STUDY_COLUMNS",
    "TRIAL_COLUMNS",
    "compare_strategies",
    "list_studies",
    "study_trials",
]

STUDY_COLUMNS: tuple[str, ...] = (
    "study",
    "strategy",
    "family",
    "project",
    "asset_class",
    "status",
    "start_time",
    "duration_s",
    "trials",
    "best_value",
    "metric",
    "mode",
    "run_id",
)
"""Columns of :func:`list_studies`."""

TRIAL_COLUMNS: tuple[str, ...] = ("number", "trial_id", "state", "value")
"""Leading columns of :func:`study_trials`; then ``value.<objective>``, ``param.<name>``,
``metric.<name>``, ``backtests``, ``duration_s``, ``cpu_s``, ``error``, ``run_id``."""

COMPARE_COLUMNS: tuple[str, ...] = (
    "strategy",
    "family",
    "metric",
    "best",
    "study",
    "trial_number",
    "trial_id",
    "params",
    "project",
    "asset_class",
    "run_id",
)
"""Columns of :func:`compare_strategies` (``params`` is the best trial's params as JSON)."""

_TRIAL_TAIL = ("backtests", "duration_s", "cpu_s", "error", "run_id")


def list_studies(
    *,
    project: str | None = None,
    asset_class: str | None = None,
    strategy_family: str | None = None,
    strategy: str | None = None,
    status: str | None = None,
    last_days: float | None = None,
    tracking_uri: str | None = None,
    experiment: str = DEFAULT_EXPERIMENT,
) -> pd.DataFrame:
    """One row per study, newest first (columns :data:`STUDY_COLUMNS`).

    Args:
        project, asset_class, strategy_family, strategy: keep studies with these tags.
        status: keep studies whose run has this MLflow status (``RUNNING``, ``FINISHED``,
            ``FAILED``, ``KILLED``).
        last_days: keep studies started in the last ``last_days`` days.
        tracking_uri: the MLflow store (default as in ``TrackingConfig``).
        experiment: the MLflow experiment.

    ``trials`` counts the trials logged, ``best_value`` is the best objective so far (or the
    one the optimizer reported at the end), ``duration_s`` runs to now for a running study.

    Raises:
        UnknownNameError: an unknown status, or a non-default experiment that does not exist.
        TrackingError: the store cannot be reached.

    Example:
        >>> list_studies(project="demo", status="FINISHED", last_days=7)  # doctest: +SKIP
    """
    clauses = [_store.tag_is(_store.KIND_TAG, _store.STUDY_KIND)]
    for key, value in (
        (_store.PROJECT_TAG, project),
        (_store.ASSET_CLASS_TAG, asset_class),
        (_store.FAMILY_TAG, strategy_family),
        (_store.STRATEGY_TAG, strategy),
    ):
        if value is not None:
            clauses.append(_store.tag_is(key, _text(key, value)))
    if status is not None:
        name = str(status).upper()
        if name not in _store.RUN_STATUSES:
            raise UnknownNameError("status", str(status), _store.RUN_STATUSES)
        clauses.append(f"attributes.status = '{name}'")
    _store.check_days(last_days)
    if last_days is not None:
        clauses.append(_store.started_since(last_days))
    with _experiment(tracking_uri, experiment, "list studies") as (client, experiment_id):
        runs = (
            []
            if experiment_id is None
            else _store.search_all(
                client,
                experiment_id,
                " AND ".join(clauses),
                order_by=["attributes.start_time DESC"],
            )
        )
    now = _store.now_ms()
    rows = [_study_row(run, now) for run in runs]
    frame = pd.DataFrame(rows, columns=list(STUDY_COLUMNS))
    frame["start_time"] = pd.to_datetime(frame["start_time"], unit="ms", utc=True)
    frame["trials"] = frame["trials"].astype("int64")
    frame["best_value"] = frame["best_value"].astype("float64")
    frame["duration_s"] = frame["duration_s"].astype("float64")
    return frame


def study_trials(
    study: str,
    *,
    state: str | None = None,
    tracking_uri: str | None = None,
    experiment: str = DEFAULT_EXPERIMENT,
) -> pd.DataFrame:
    """One row per trial of ``study``, by trial number.

    Columns: ``number``, ``trial_id``, ``state``, ``value``, ``value.<objective>`` (multi-
    objective studies), ``param.<name>`` (numbers and booleans decoded from MLflow's text when
    a whole column parses), ``metric.<name>`` (registry order), ``backtests``, ``duration_s``,
    ``cpu_s``, ``error``, ``run_id``.

    Args:
        study: the study name.
        state: keep trials in this state (one of :data:`~tradelab.tracking.TRIAL_STATES`).
        tracking_uri, experiment: as in :func:`list_studies`.

    Raises:
        UnknownNameError: an unknown study (with the closest known study) or state.
        TrackingError: the store cannot be reached.

    Example:
        >>> study_trials("sma-2024-06", state="COMPLETE").nlargest(5, "value")  # doctest: +SKIP
    """
    _text("study", study)
    clauses: list[str] = []
    if state is not None:
        name = str(state).upper()
        if name not in TRIAL_STATES:
            raise UnknownNameError("trial state", str(state), TRIAL_STATES)
        clauses.append(_store.tag_is(_store.STATE_TAG, name))
    with _experiment(tracking_uri, experiment, f"read study '{study}'") as (client, eid):
        parent = None if eid is None else _study_run(client, eid, study)
        if parent is None:
            known = [] if eid is None else _study_names(client, eid)
            raise UnknownNameError("study", study, known)
        clauses.insert(0, _store.tag_is(_store.PARENT_TAG, parent.info.run_id))
        runs = _store.search_all(client, eid, " AND ".join(clauses))
    rows = [_trial_row(run) for run in runs]
    return _trial_frame(rows)


def compare_strategies(
    metric: str,
    *,
    mode: str = "max",
    project: str | None = None,
    last_days: float | None = None,
    tracking_uri: str | None = None,
    experiment: str = DEFAULT_EXPERIMENT,
) -> pd.DataFrame:
    """The best ``COMPLETE`` trial of every strategy on ``metric``, best first.

    Columns :data:`COMPARE_COLUMNS`; ``best`` is the trial's ``metric``. One query per strategy
    asks the store for its single best trial, so large studies stay cheap.

    Args:
        metric: a metric of :data:`tradelab.metrics.METRICS`, e.g. ``"sharpe"``.
        mode: ``"max"`` (higher is better) or ``"min"``.
        project: only studies of this project.
        last_days: only trials run in the last ``last_days`` days.
        tracking_uri, experiment: as in :func:`list_studies`.

    Raises:
        UnknownNameError: ``metric`` is not a tradelab metric (with did-you-mean).
        ConfigError: a bad mode or ``last_days``. TrackingError: the store cannot be reached.

    Example:
        >>> compare_strategies("max_drawdown", mode="max", project="demo")  # doctest: +SKIP
    """
    from tradelab.metrics import METRICS

    if metric not in METRICS:
        raise UnknownNameError("metric", str(metric), METRICS)
    if mode not in ("max", "min"):
        raise ConfigError(f"mode must be 'max' or 'min', got {mode!r}.")
    _store.check_days(last_days)
    scope = []
    if project is not None:
        scope.append(_store.tag_is(_store.PROJECT_TAG, _text("project", project)))
    rows = []
    with _experiment(tracking_uri, experiment, "compare strategies") as (client, eid):
        if eid is not None:
            studies = _store.search_all(
                client,
                eid,
                " AND ".join([_store.tag_is(_store.KIND_TAG, _store.STUDY_KIND)] + scope),
            )
            strategies = sorted({r.data.tags.get(_store.STRATEGY_TAG, "") for r in studies} - {""})
            for strategy in strategies:
                clauses = [
                    _store.tag_is(_store.KIND_TAG, _store.TRIAL_KIND),
                    _store.tag_is(_store.STATE_TAG, "COMPLETE"),
                    _store.tag_is(_store.STRATEGY_TAG, strategy),
                    *scope,
                ]
                if last_days is not None:
                    clauses.append(_store.started_since(last_days))
                order = "DESC" if mode == "max" else "ASC"
                best = _store.search_all(
                    client,
                    eid,
                    " AND ".join(clauses),
                    order_by=[f"metrics.{metric} {order}", "attributes.start_time ASC"],
                    limit=1,
                )
                if best and metric in best[0].data.metrics:
                    rows.append(_compare_row(best[0], metric))
    frame = pd.DataFrame(rows, columns=list(COMPARE_COLUMNS))
    frame["best"] = frame["best"].astype("float64")
    frame = frame.sort_values(["best", "strategy"], ascending=[mode == "min", True])
    return frame.reset_index(drop=True)


# ---- helpers -------------------------------------------------------------------------------


@contextmanager
def _experiment(
    tracking_uri: str | None, experiment: str, action: str
) -> Iterator[tuple[MlflowClient, str | None]]:
    config = TrackingConfig(tracking_uri=tracking_uri, experiment=experiment)
    uri = config.resolved_uri()
    client = _store.mlflow_client(uri)
    with _store.store_errors(action, uri):
        experiment_id = _store.find_experiment_id(client, config.experiment)
        if experiment_id is None and config.experiment != DEFAULT_EXPERIMENT:
            names = [e.name for e in client.search_experiments()]
            raise UnknownNameError("experiment", config.experiment, names)
        yield client, experiment_id


def _text(what: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{what} must be a non-empty string, got {value!r}.")
    return value


def _study_run(client: MlflowClient, experiment_id: str, study: str) -> Run | None:
    runs = _store.search_all(
        client,
        experiment_id,
        f"{_store.tag_is(_store.KIND_TAG, _store.STUDY_KIND)} AND "
        f"{_store.tag_is(_store.STUDY_TAG, study)}",
        order_by=["attributes.start_time ASC"],
    )
    return runs[0] if runs else None


def _study_names(client: MlflowClient, experiment_id: str) -> list[str]:
    runs = _store.search_all(
        client, experiment_id, _store.tag_is(_store.KIND_TAG, _store.STUDY_KIND)
    )
    return sorted({run.data.tags.get(_store.STUDY_TAG, "") for run in runs} - {""})


def _setting(run: Run, name: str) -> str | None:
    """A parent's setting: the latest value of a resumed study, else the param."""
    return run.data.tags.get(f"latest.{name}", run.data.params.get(name))


def _study_row(run: Run, now: int) -> dict[str, Any]:
    tags, metrics, info = run.data.tags, run.data.metrics, run.info
    running = info.status in ("RUNNING", "SCHEDULED") or not info.end_time
    end = now if running else info.end_time
    return {
        "study": tags.get(_store.STUDY_TAG),
        "strategy": tags.get(_store.STRATEGY_TAG),
        "family": tags.get(_store.FAMILY_TAG),
        "project": tags.get(_store.PROJECT_TAG),
        "asset_class": tags.get(_store.ASSET_CLASS_TAG),
        "status": info.status,
        "start_time": info.start_time,
        "duration_s": max(end - info.start_time, 0) / 1000.0,
        "trials": int(metrics.get("trials", 0)),
        "best_value": metrics.get("best_value", math.nan),
        "metric": _setting(run, "metric"),
        "mode": _setting(run, "mode"),
        "run_id": info.run_id,
    }


def _trial_row(run: Run) -> dict[str, Any]:
    tags, metrics = run.data.tags, run.data.metrics
    row: dict[str, Any] = {
        "number": int(tags.get(_store.NUMBER_TAG) or -1),
        "trial_id": tags.get(_store.TRIAL_ID_TAG),
        "state": tags.get(_store.STATE_TAG),
        "value": metrics.get("value", math.nan),
    }
    for key, value in metrics.items():
        if key.startswith("value."):
            row[key] = value
        elif key not in RESERVED_METRICS:
            row[f"metric.{key}"] = value
    for key, value in run.data.params.items():
        row[f"param.{key}"] = value
    row.update(
        backtests=int(metrics.get("backtests", 0)),
        duration_s=metrics.get("duration_s", math.nan),
        cpu_s=metrics.get("cpu_s", math.nan),
        error=tags.get(_store.ERROR_TAG),
        run_id=run.info.run_id,
    )
    return row


def _trial_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    from tradelab.metrics import METRICS

    seen = dict.fromkeys(key for row in rows for key in row)
    order = {name: i for i, name in enumerate(METRICS)}
    values = sorted(k for k in seen if k.startswith("value."))
    params = sorted(k for k in seen if k.startswith("param."))
    metrics = sorted(
        (k for k in seen if k.startswith("metric.")),
        key=lambda k: (order.get(k[7:], len(order)), k),
    )
    columns = [*TRIAL_COLUMNS, *values, *params, *metrics, *_TRIAL_TAIL]
    frame = pd.DataFrame(rows, columns=columns)
    for column in params:
        frame[column] = _decode_column(frame[column])
    frame = frame.sort_values("number", kind="stable").reset_index(drop=True)
    frame["number"] = frame["number"].astype("int64")
    frame["backtests"] = frame["backtests"].astype("int64")
    return frame


def _decode_scalar(text: str) -> Any:
    if text == "None":
        return None
    if text in ("True", "False"):
        return text == "True"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _decode_column(column: pd.Series) -> pd.Series:
    """MLflow keeps params as text: a column whose every value reads as a number (or as a
    boolean) becomes numeric (boolean); anything else stays text."""
    present = [v for v in column if isinstance(v, str) and v != "None"]
    if not present:
        return column
    decoded = [_decode_scalar(v) for v in present]
    if all(isinstance(v, bool) for v in decoded):
        return column.map(lambda v: _decode_scalar(v) if isinstance(v, str) else None)
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in decoded):
        return pd.to_numeric(column.where(column != "None"), errors="coerce")
    return column


def _compare_row(run: Run, metric: str) -> dict[str, Any]:
    tags = run.data.tags
    params = {key: _decode_scalar(value) for key, value in sorted(run.data.params.items())}
    return {
        "strategy": tags.get(_store.STRATEGY_TAG),
        "family": tags.get(_store.FAMILY_TAG),
        "metric": metric,
        "best": run.data.metrics[metric],
        "study": tags.get(_store.STUDY_TAG),
        "trial_number": int(tags.get(_store.NUMBER_TAG) or -1),
        "trial_id": tags.get(_store.TRIAL_ID_TAG),
        "params": json.dumps(params, sort_keys=True, default=str),
        "project": tags.get(_store.PROJECT_TAG),
        "asset_class": tags.get(_store.ASSET_CLASS_TAG),
        "run_id": run.info.run_id,
    }
