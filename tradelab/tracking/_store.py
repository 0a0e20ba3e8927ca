"""The MLflow side: one client per store, errors as TrackingError, paged searches, tag names."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from typing import TYPE_CHECKING, Any

from tradelab.errors import ConfigError, TrackingError, TradelabError
from tradelab.tracking._values import mask_uri_passwords
from tradelab.tracking.config import sqlite_path

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Run

# Tags on every run the tracker writes.
KIND_TAG = "tradelab.kind"
STUDY_KIND = "study"
TRIAL_KIND = "trial"
PARENT_TAG = "mlflow.parentRunId"
STUDY_TAG = "study"
STRATEGY_TAG = "strategy"
FAMILY_TAG = "strategy_family"
PROJECT_TAG = "project"
ASSET_CLASS_TAG = "asset_class"
STATE_TAG = "state"
TRIAL_ID_TAG = "trial_id"
NUMBER_TAG = "trial_number"
ERROR_TAG = "error"

PAGE_SIZE = 1000
"""Runs per search_runs page (MLflow servers accept at most 1000 per request with data)."""

RUN_STATUSES: tuple[str, ...] = ("RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED")


def mlflow_client(uri: str) -> MlflowClient:
    """A client for ``uri``; opening a fresh SQLite store runs MLflow's migrations (seconds).

    MLflow 3 sends anonymous usage telemetry to its maintainers by default; tradelab turns it
    off unless ``MLFLOW_DISABLE_TELEMETRY`` is already set (``false`` re-enables it).
    """
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    with store_errors("open the tracking store", uri):
        from mlflow import MlflowClient

        # The client opens the store now (MLflow caches it per URI), so an unreachable store
        # fails here with a clear message rather than mid-study.
        client = MlflowClient(tracking_uri=uri)
    _use_wal(uri)
    return client


def _use_wal(uri: str) -> None:
    """Put a SQLite store in write-ahead-log mode (a property of the file, set once).

    A commit then appends to one log instead of creating, syncing and deleting a rollback
    journal — a study logs ~6 commits per trial, and this takes a tenth off the tracking
    writer's CPU and a fifth off its time — and the viewer reading the store never blocks the
    study writing it. The store must be on a local disk (as the embedded one is). If another
    connection holds the database just now, it stays as it is and this is tried next time.
    """
    path = sqlite_path(uri)
    if path is None or path in _WAL_STORES or not path.is_file():
        return
    import sqlite3

    try:
        with closing(sqlite3.connect(path, timeout=1.0)) as connection:
            mode = connection.execute("PRAGMA journal_mode=WAL").fetchone()[0]
    except sqlite3.Error:
        return
    if mode == "wal":
        _WAL_STORES.add(path)


_WAL_STORES: set[Any] = set()  # SQLite files this process has seen in write-ahead-log mode


@contextmanager
def store_errors(action: str, uri: str) -> Iterator[None]:
    """Turn any failure of MLflow (or its database / HTTP layers) into :class:`TrackingError`."""
    try:
        yield
    except TradelabError:
        raise
    except Exception as exc:
        message = mask_uri_passwords(str(exc)).strip().splitlines()
        detail = message[0] if message else type(exc).__name__
        raise TrackingError(
            f"could not {action}: {type(exc).__name__}: {detail[:500]}. Tracking store: "
            f"{mask_uri_passwords(uri)}; check that it is reachable and writable "
            "($MLFLOW_TRACKING_URI, or the SQLite file under $TRADELAB_HOME)."
        ) from exc


def find_experiment_id(client: MlflowClient, name: str) -> str | None:
    """The id of the active experiment ``name``, or ``None`` when there is none."""
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        return None
    if experiment.lifecycle_stage != "active":
        raise TrackingError(
            f"the MLflow experiment '{name}' is deleted; restore it (mlflow experiments restore "
            f"--experiment-id {experiment.experiment_id}) or choose another experiment name."
        )
    return experiment.experiment_id


def ensure_experiment(client: MlflowClient, name: str, artifact_location: str | None) -> str:
    """The id of experiment ``name``, created with ``artifact_location`` when missing."""
    found = find_experiment_id(client, name)
    if found is not None:
        return found
    from mlflow.exceptions import MlflowException

    try:
        return client.create_experiment(name, artifact_location=artifact_location)
    except MlflowException:
        # Another process created it between the lookup and the create.
        found = find_experiment_id(client, name)
        if found is None:
            raise
        return found


def search_all(
    client: MlflowClient,
    experiment_id: str,
    filter_string: str,
    *,
    order_by: Sequence[str] | None = None,
    limit: int | None = None,
) -> list[Run]:
    """Every active run matching ``filter_string``, page by page (1000 runs a request)."""
    runs: list[Run] = []
    token: str | None = None
    while True:
        size = PAGE_SIZE if limit is None else min(PAGE_SIZE, limit - len(runs))
        page = client.search_runs(
            [experiment_id],
            filter_string=filter_string,
            max_results=size,
            order_by=list(order_by) if order_by else None,
            page_token=token,
        )
        runs.extend(page)
        token = page.token
        if not token or (limit is not None and len(runs) >= limit):
            return runs


def quote(value: str) -> str:
    """A string literal for an MLflow filter."""
    if "'" not in value:
        return f"'{value}'"
    if '"' not in value:
        return f'"{value}"'
    raise ConfigError(f"cannot search for {value!r}: it holds both kinds of quote.")


def tag_is(key: str, value: str) -> str:
    """A filter clause ``tags.<key> = '<value>'`` (keys with dots in backticks)."""
    name = f"`{key}`" if "." in key or " " in key else key
    return f"tags.{name} = {quote(value)}"


def started_since(days: float) -> str:
    """A filter clause for runs started in the last ``days`` days."""
    return f"attributes.start_time >= {int((time.time() - days * 86_400) * 1000)}"


def check_days(last_days: Any) -> None:
    """Validate a ``last_days`` argument."""
    if last_days is None:
        return
    if isinstance(last_days, bool) or not isinstance(last_days, int | float) or last_days <= 0:
        raise ConfigError(f"last_days must be a positive number of days, got {last_days!r}.")


def now_ms() -> int:
    return int(time.time() * 1000)
