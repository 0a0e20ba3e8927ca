"""What the viewer reads from MLflow: studies, trials, one run, artifacts, walk-forward analyses.

Plain functions without streamlit (``_data`` caches them), mostly over ``tradelab.tracking``'s
queries, whose searches are paged (1000 runs a request). An embedded SQLite store that does
not exist yet reads as empty and is never created: the viewer is read-only.
"""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from tradelab.errors import TrackingError, UnknownNameError
from tradelab.tracking import (
    DEFAULT_EXPERIMENT,
    STUDY_COLUMNS,
    TrackingConfig,
    _store,
    list_studies,
    study_trials,
)
from tradelab.tracking import walkforward_detail as tracking_walkforward_detail
from tradelab.tracking import walkforward_runs as tracking_walkforward_runs
from tradelab.tracking._values import mask_uri_passwords
from tradelab.tracking.walkforward import WALKFORWARD_COLUMNS

if TYPE_CHECKING:
    from mlflow import MlflowClient

__all__ = [
    "RunRecord",
    "StudyRecord",
    "artifact_bytes",
    "decode_param",
    "masked_uri",
    "resolved_uri",
    "run_record",
    "store_exists",
    "studies",
    "study_record",
    "trials",
    "walkforward_detail",
    "walkforward_runs",
]

_SQLITE = "sqlite:///"


def resolved_uri() -> str:
    """The tracking URI every tradelab command uses (``$MLFLOW_TRACKING_URI`` or the embedded
    ``<data_root>/mlflow.db``)."""
    return TrackingConfig().resolved_uri()


def masked_uri(uri: str) -> str:
    """``uri`` with any password replaced by ``***`` (safe to show)."""
    return mask_uri_passwords(uri)


def store_exists(uri: str) -> bool:
    """Whether there is a store to read: any non-SQLite URI, or an existing SQLite file."""
    if not uri.startswith(_SQLITE):
        return True
    raw = uri[len(_SQLITE) :].split("?", 1)[0]
    return bool(raw) and raw != ":memory:" and Path(raw).is_file()


def decode_param(text: Any) -> Any:
    """One MLflow param back to a Python value: ``None``, booleans, numbers, JSON, else text."""
    if not isinstance(text, str):
        return text
    if text == "None":
        return None
    if text in ("True", "False"):
        return text == "True"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    if text[:1] in "[{":
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text


# ---- studies and trials ---------------------------------------------------------------------


def studies(uri: str) -> pd.DataFrame:
    """Every study, newest first (columns of ``tradelab.tracking.STUDY_COLUMNS``)."""
    if not store_exists(uri):
        frame = pd.DataFrame({name: [] for name in STUDY_COLUMNS})
        frame["start_time"] = pd.to_datetime(frame["start_time"], utc=True)
        return frame
    return list_studies(tracking_uri=uri)


def trials(uri: str, study: str) -> pd.DataFrame:
    """Every trial of ``study`` by number (see ``tradelab.tracking.study_trials``)."""
    return study_trials(study, tracking_uri=uri)


@dataclass(frozen=True, kw_only=True, slots=True)
class StudyRecord:
    """A study's parent run: identity and the settings its trials ran with."""

    study: str
    run_id: str
    strategy: str
    family: str
    project: str
    asset_class: str
    status: str
    metric: str
    mode: str
    symbols: tuple[str, ...]
    start: str | None
    end: str | None
    bar_size: str
    costs: str
    cash: float
    folds: int
    fixed_params: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)


def study_record(uri: str, study: str) -> StudyRecord:
    """The parent run of ``study`` and its decoded settings.

    Raises:
        UnknownNameError: no such study (with the closest names). TrackingError: store down.
    """
    with _open(uri, f"read study '{study}'") as (client, experiment_id):
        runs = (
            []
            if experiment_id is None
            else _store.search_all(
                client,
                experiment_id,
                f"{_store.tag_is(_store.KIND_TAG, _store.STUDY_KIND)} AND "
                f"{_store.tag_is(_store.STUDY_TAG, study)}",
                order_by=["attributes.start_time ASC"],
            )
        )
    if not runs:
        names = [] if not store_exists(uri) else list(studies(uri)["study"])
        raise UnknownNameError("study", study, names)
    run = runs[0]
    params, tags = run.data.params, run.data.tags
    settings = {
        key: decode_param(tags.get(f"latest.{key}", value)) for key, value in params.items()
    }
    symbols = settings.get("symbols") or []
    fixed = settings.get("fixed_params") or {}
    return StudyRecord(
        study=study,
        run_id=run.info.run_id,
        strategy=str(settings.get("strategy") or tags.get(_store.STRATEGY_TAG, "")),
        family=tags.get(_store.FAMILY_TAG, ""),
        project=tags.get(_store.PROJECT_TAG, ""),
        asset_class=tags.get(_store.ASSET_CLASS_TAG, ""),
        status=run.info.status,
        metric=str(settings.get("metric") or "value").split(",")[0],
        mode=str(settings.get("mode") or "max"),
        symbols=tuple(str(s) for s in symbols) if isinstance(symbols, list) else (str(symbols),),
        start=None if settings.get("start") is None else str(settings["start"]),
        end=None if settings.get("end") is None else str(settings["end"]),
        bar_size=str(settings.get("bar_size") or "1d"),
        costs=str(settings.get("costs") or "ib-fixed"),
        cash=float(settings.get("cash") or 100_000.0),
        folds=int(settings.get("folds") or 1),
        fixed_params=dict(fixed) if isinstance(fixed, dict) else {},
        settings=settings,
    )


@dataclass(frozen=True, kw_only=True, slots=True)
class RunRecord:
    """One trial's child run: what it was, its params and metrics, its artifacts."""

    run_id: str
    study: str
    number: int
    state: str
    value: float
    strategy: str
    params: dict[str, Any]
    metrics: dict[str, float]
    artifacts: tuple[str, ...]
    error: str | None
    start_time: pd.Timestamp

    @property
    def label(self) -> str:
        """``study #n`` — how the pages name a run."""
        return f"{self.study} #{self.number}"


def run_record(uri: str, run_id: str) -> RunRecord:
    """The trial run ``run_id``.

    Raises:
        TrackingError: no such run, not a trial run, or the store cannot be reached.
    """
    with _open(uri, f"read run {run_id}") as (client, _):
        from mlflow.exceptions import MlflowException

        try:
            run = client.get_run(run_id)
        except MlflowException:
            raise TrackingError(
                f"no run {run_id!r} in the tracking store {masked_uri(uri)}; pick a trial on the "
                "Study page."
            ) from None
        artifacts = tuple(item.path for item in client.list_artifacts(run_id))
    tags, metrics = run.data.tags, run.data.metrics
    if tags.get(_store.KIND_TAG) != _store.TRIAL_KIND:
        raise TrackingError(
            f"run {run_id!r} is not a trial of an optimization study "
            f"(its kind is {tags.get(_store.KIND_TAG)!r}); pick a trial on the Study page."
        )
    from tradelab.tracking import RESERVED_METRICS

    return RunRecord(
        run_id=run_id,
        study=tags.get(_store.STUDY_TAG, ""),
        number=int(tags.get(_store.NUMBER_TAG) or -1),
        state=tags.get(_store.STATE_TAG, ""),
        value=float(metrics.get("value", math.nan)),
        strategy=tags.get(_store.STRATEGY_TAG, ""),
        params={key: decode_param(value) for key, value in sorted(run.data.params.items())},
        metrics={k: float(v) for k, v in metrics.items() if k not in RESERVED_METRICS},
        artifacts=artifacts,
        error=tags.get(_store.ERROR_TAG),
        start_time=pd.Timestamp(run.info.start_time, unit="ms", tz="UTC"),
    )


def artifact_bytes(uri: str, run_id: str, name: str) -> bytes | None:
    """The artifact ``name`` of run ``run_id``, or ``None`` when the run has none."""
    with _open(uri, f"read artifact {name} of run {run_id}") as (client, _):
        if name not in {item.path for item in client.list_artifacts(run_id)}:
            return None
        with tempfile.TemporaryDirectory(prefix="tradelab-viewer-") as tmp:
            path = client.download_artifacts(run_id, name, tmp)
            return Path(path).read_bytes()


# ---- walk-forward ---------------------------------------------------------------------------


def walkforward_runs(uri: str) -> pd.DataFrame:
    """Every walk-forward analysis, newest first (``tradelab.tracking.walkforward_runs``)."""
    if not store_exists(uri):
        frame = pd.DataFrame({name: [] for name in WALKFORWARD_COLUMNS})
        frame["start_time"] = pd.to_datetime(frame["start_time"], utc=True)
        return frame
    return tracking_walkforward_runs(tracking_uri=uri)


def walkforward_detail(uri: str, name: str) -> dict[str, Any]:
    """One analysis: params, metrics, windows, stitched OOS equity and its HTML report
    (``tradelab.tracking.walkforward_detail``).

    Raises:
        UnknownNameError: no such analysis. TrackingError: no store, or it is unreachable.
    """
    if not store_exists(uri):
        raise TrackingError(
            f"there is no tracking store at {masked_uri(uri)} yet; run `tradelab walkforward` "
            "first."
        )
    return tracking_walkforward_detail(name, tracking_uri=uri)


# ---- helpers --------------------------------------------------------------------------------


@contextmanager
def _open(uri: str, action: str) -> Iterator[tuple[MlflowClient, str | None]]:
    """``with _open(uri, action) as (client, id of the default experiment or None)``; a failing
    store raises :class:`TrackingError` naming ``action``."""
    if not store_exists(uri):
        raise TrackingError(
            f"could not {action}: there is no tracking store at {masked_uri(uri)} yet; run a "
            "study first (tradelab optimize ...)."
        )
    with _store.store_errors(action, uri):
        client = _store.mlflow_client(uri)
        yield client, _store.find_experiment_id(client, DEFAULT_EXPERIMENT)
