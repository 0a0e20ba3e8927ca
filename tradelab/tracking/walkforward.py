"""MLflow logging and queries of walk-forward analyses — the contract the viewer reads.

One **parent run** per analysis and one **child run** per window, in the studies' experiment:

* parent: tag ``tradelab.kind = "walkforward"``, tag ``tradelab.walkforward = <name>`` (plus
  ``strategy``, ``project``, ``asset_class``); params :data:`PARENT_PARAMS` (``strategy``,
  ``symbols``, ``train``, ``test``, ``step``, ``anchored``, ``trials``) and a few more settings;
  metrics :data:`PARENT_METRICS` (``wfe``, ``oos_sharpe``, ``oos_cagr``, ``oos_max_drawdown``,
  ``is_sharpe``, ``windows`` — always present, NaN when undefined); artifacts
  :data:`OOS_EQUITY_ARTIFACT` (``{"timestamps": [ISO …], "equity": [float …]}``, the stitched
  OOS equity), :data:`WINDOWS_ARTIFACT` (the per-window rows) and :data:`REPORT_ARTIFACT`.
* child: tag ``tradelab.kind = "walkforward_window"``, tag ``mlflow.parentRunId``; params
  :data:`WINDOW_PARAMS` (``window`` int, ``train_start``, ``train_end``, ``test_start``,
  ``test_end`` ISO dates, ``best_params`` JSON); metrics :data:`WINDOW_RUN_METRICS`
  (``is_<m>`` and ``oos_<m>`` for ``sharpe``, ``cagr``, ``max_drawdown``, ``total_return``,
  ``num_trades``).

The viewer calls only :func:`walkforward_runs` and :func:`walkforward_detail`.

Example:
    >>> walkforward_runs(strategy="sma_crossover")            # doctest: +SKIP
    >>> walkforward_detail("sma-wfa")["oos_equity"].tail()    # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from tradelab.errors import ConfigError, UnknownNameError
from tradelab.tracking import _store
from tradelab.tracking._values import batches, param_text, safe_key, tag_text
from tradelab.tracking.config import DEFAULT_EXPERIMENT, TrackingConfig

__all__ = [
    "ANALYSIS_TAG",
    "OOS_EQUITY_ARTIFACT",
    "PARENT_METRICS",
    "PARENT_PARAMS",
    "REPORT_ARTIFACT",
    "WALKFORWARD_COLUMNS",
    "WALKFORWARD_KIND",
    "WINDOWS_ARTIFACT",
    "WINDOW_COLUMNS",
    "WINDOW_KIND",
    "WINDOW_METRIC_NAMES",
    "WINDOW_PARAMS",
    "WINDOW_RUN_METRICS",
    "WalkForwardTracker",
    "walkforward_detail",
    "walkforward_runs",
]

KIND_TAG = _store.KIND_TAG
WALKFORWARD_KIND = "walkforward"
WINDOW_KIND = "walkforward_window"
ANALYSIS_TAG = "tradelab.walkforward"
PARENT_TAG = _store.PARENT_TAG

PARENT_PARAMS = ("strategy", "symbols", "train", "test", "step", "anchored", "trials")
PARENT_METRICS = ("wfe", "oos_sharpe", "oos_cagr", "oos_max_drawdown", "is_sharpe", "windows")
WINDOW_PARAMS = ("window", "train_start", "train_end", "test_start", "test_end", "best_params")
WINDOW_METRIC_NAMES = ("sharpe", "cagr", "max_drawdown", "total_return", "num_trades")
WINDOW_RUN_METRICS = tuple(
    f"{side}_{name}" for side in ("is", "oos") for name in WINDOW_METRIC_NAMES
)

OOS_EQUITY_ARTIFACT = "oos_equity.json"
WINDOWS_ARTIFACT = "windows.json"
REPORT_ARTIFACT = "report.html"

WALKFORWARD_COLUMNS = (
    "name",
    "strategy",
    "symbols",
    "train",
    "test",
    "step",
    "anchored",
    "trials",
    "status",
    "start_time",
    "duration_s",
    *PARENT_METRICS,
    "run_id",
)
"""Columns of :func:`walkforward_runs`."""

WINDOW_COLUMNS = (
    "window",
    "train_start",
    "train_end",
    "test_start",
    "test_end",
    "best_params",
    *WINDOW_RUN_METRICS,
    "status",
    "run_id",
)
"""Columns of the ``windows`` frame of :func:`walkforward_detail`."""


class WalkForwardTracker:
    """Logs one walk-forward analysis: the parent run, a child per window, then the summary.

    Example:
        >>> tracker = WalkForwardTracker(TrackingConfig(
        ...     tracking_uri="sqlite:////tmp/tl-wfa-doc/mlflow.db"))          # doctest: +SKIP
        >>> tracker.start(name="wfa-1", params={"strategy": "sma_crossover", "symbols": ["AAA"],
        ...     "train": "1y", "test": "6m", "step": "6m", "anchored": False, "trials": 20})
        ...                                                                  # doctest: +SKIP
    """

    def __init__(self, config: TrackingConfig | None = None) -> None:
        if config is not None and not isinstance(config, TrackingConfig):
            raise ConfigError(f"config must be a TrackingConfig or None, got {config!r}.")
        self._config = config or TrackingConfig()
        self._uri = self._config.resolved_uri()
        self._client: Any = None
        self._experiment_id: str | None = None
        self._run_id: str | None = None
        self._name: str | None = None
        self._tags: dict[str, str] = {}

    @property
    def config(self) -> TrackingConfig:
        return self._config

    @property
    def run_id(self) -> str | None:
        return self._run_id

    def _mlflow(self) -> Any:
        if self._client is None:
            self._client = _store.mlflow_client(self._uri)
        return self._client

    def start(
        self, *, name: str, params: Mapping[str, Any], tags: Mapping[str, str] | None = None
    ) -> str:
        """Create the parent run (status RUNNING) and return its id.

        Args:
            name: the analysis name (unique: an existing one is refused).
            params: must hold :data:`PARENT_PARAMS`; other settings are logged too (lists and
                mappings as JSON).
            tags: extra identity tags (``strategy``, ``project``, ``asset_class`` …).

        Raises:
            ConfigError: a missing contract param or a name already used.
            TrackingError: the store cannot be reached.
        """
        from mlflow.entities import Param

        missing = [key for key in PARENT_PARAMS if key not in params]
        if missing:
            raise ConfigError(
                f"walk-forward params miss {missing}; the viewer needs {list(PARENT_PARAMS)}."
            )
        client = self._mlflow()
        with _store.store_errors(f"start walk-forward '{name}'", self._uri):
            experiment_id = _store.ensure_experiment(
                client, self._config.experiment, self._config.resolved_artifact_location()
            )
            if _analysis_run(client, experiment_id, name) is not None:
                raise ConfigError(
                    f"a walk-forward analysis named '{name}' exists already; "
                    "choose another name (--name)."
                )
            self._tags = {safe_key(k): tag_text(v) for k, v in (tags or {}).items()}
            run = client.create_run(
                experiment_id,
                run_name=name,
                tags={**self._tags, KIND_TAG: WALKFORWARD_KIND, ANALYSIS_TAG: name},
            )
            run_id = run.info.run_id
            entries = [Param(safe_key(k), param_text(v)) for k, v in params.items()]
            for _, batch_params, _ in batches([], entries, []):
                client.log_batch(run_id, params=batch_params, synchronous=True)
        self._experiment_id, self._run_id, self._name = experiment_id, run_id, name
        return run_id

    def log_window(
        self,
        *,
        window: Mapping[str, Any],
        best_params: Mapping[str, Any],
        metrics: Mapping[str, float],
    ) -> str:
        """Log one window as a child run (FINISHED); returns its id.

        Args:
            window: ``window`` (int) and the ISO dates ``train_start`` … ``test_end``.
            best_params: the parameters chosen in sample (logged as JSON).
            metrics: :data:`WINDOW_RUN_METRICS` (missing or None ones are logged as NaN).
        """
        from mlflow.entities import Metric, Param

        parent = self._require("log_window")
        client = self._mlflow()
        index = int(window["window"])
        now = _store.now_ms()
        params = {key: window[key] for key in WINDOW_PARAMS if key != "best_params"}
        params["best_params"] = json.dumps(dict(best_params), sort_keys=True, default=str)
        values = [Metric(key, _metric(metrics.get(key)), now, 0) for key in WINDOW_RUN_METRICS]
        values += [
            Metric(safe_key(key), _metric(value), now, 0)
            for key, value in metrics.items()
            if key not in WINDOW_RUN_METRICS
        ]
        with _store.store_errors(f"log walk-forward window {index}", self._uri):
            run = client.create_run(
                self._experiment_id or "",
                run_name=f"{self._name}-window-{index:02d}",
                tags={
                    **self._tags,
                    KIND_TAG: WINDOW_KIND,
                    PARENT_TAG: parent,
                    ANALYSIS_TAG: self._name or "",
                },
            )
            child = run.info.run_id
            entries = [Param(key, param_text(value)) for key, value in params.items()]
            for batch_metrics, batch_params, _ in batches(values, entries, []):
                client.log_batch(
                    child, metrics=batch_metrics, params=batch_params, synchronous=True
                )
            client.set_terminated(child, status="FINISHED", end_time=now)
        return child

    def finish(
        self,
        *,
        metrics: Mapping[str, float] | None = None,
        oos_equity: pd.Series | None = None,
        windows: Sequence[Mapping[str, Any]] | None = None,
        report_html: str | None = None,
        status: str = "FINISHED",
    ) -> None:
        """Log the summary metrics and the artifacts on the parent run and end it.

        Args:
            metrics: :data:`PARENT_METRICS` (NaN where undefined) and any others.
            oos_equity: the stitched OOS equity (written as :data:`OOS_EQUITY_ARTIFACT`).
            windows: the per-window rows (:data:`WINDOWS_ARTIFACT`).
            report_html: the HTML report (:data:`REPORT_ARTIFACT`).
            status: ``FINISHED``, ``FAILED`` or ``KILLED``.
        """
        from mlflow.entities import Metric

        run_id = self._require("finish")
        if status not in ("FINISHED", "FAILED", "KILLED"):
            raise UnknownNameError("run status", str(status), ("FINISHED", "FAILED", "KILLED"))
        client = self._mlflow()
        now = _store.now_ms()
        numbers = dict(metrics or {})
        values = [
            Metric(key, _metric(numbers.get(key)), now, 0)
            for key in PARENT_METRICS
            if metrics is not None
        ]
        values += [
            Metric(safe_key(key), _metric(value), now, 0)
            for key, value in numbers.items()
            if key not in PARENT_METRICS
        ]
        with _store.store_errors(f"finish walk-forward '{self._name}'", self._uri):
            for batch_metrics, _, _ in batches(values, [], []):
                client.log_batch(run_id, metrics=batch_metrics, synchronous=True)
            with tempfile.TemporaryDirectory(prefix="tradelab-wfa-") as tmp:
                folder = Path(tmp)
                if oos_equity is not None:
                    (folder / OOS_EQUITY_ARTIFACT).write_text(
                        json.dumps(equity_payload(oos_equity)), encoding="utf-8"
                    )
                if windows is not None:
                    (folder / WINDOWS_ARTIFACT).write_text(
                        json.dumps([dict(w) for w in windows], default=str), encoding="utf-8"
                    )
                if report_html is not None:
                    (folder / REPORT_ARTIFACT).write_text(report_html, encoding="utf-8")
                if any(folder.iterdir()):
                    client.log_artifacts(run_id, tmp)
            client.set_terminated(run_id, status=status, end_time=now)

    def _require(self, action: str) -> str:
        if self._run_id is None:
            raise ConfigError(f"call start(...) before {action}.")
        return self._run_id


def equity_payload(equity: pd.Series) -> dict[str, list[Any]]:
    """``{"timestamps": [ISO …], "equity": [float …]}`` of an equity series."""
    return {
        "timestamps": [pd.Timestamp(t).isoformat() for t in equity.index],
        "equity": [float(v) for v in equity.to_numpy()],
    }


def walkforward_runs(
    *,
    strategy: str | None = None,
    tracking_uri: str | None = None,
    experiment: str = DEFAULT_EXPERIMENT,
) -> pd.DataFrame:
    """One row per walk-forward analysis, newest first (columns :data:`WALKFORWARD_COLUMNS`).

    ``symbols`` is a list; ``anchored`` a bool; ``trials`` an int; metrics are floats (NaN when
    undefined or the analysis has not finished).

    Example:
        >>> walkforward_runs(strategy="sma_crossover")[["name", "wfe", "oos_sharpe"]]
        ...                                                                  # doctest: +SKIP
    """
    clauses = [_store.tag_is(KIND_TAG, WALKFORWARD_KIND)]
    if strategy is not None:
        clauses.append(f"params.strategy = {_store.quote(strategy)}")
    with _experiment(tracking_uri, experiment) as (client, eid):
        runs = (
            []
            if eid is None
            else _store.search_all(
                client, eid, " AND ".join(clauses), order_by=["attributes.start_time DESC"]
            )
        )
    now = _store.now_ms()
    frame = pd.DataFrame([_parent_row(run, now) for run in runs], columns=list(WALKFORWARD_COLUMNS))
    frame["start_time"] = pd.to_datetime(frame["start_time"], unit="ms", utc=True)
    for column in (*PARENT_METRICS, "duration_s"):
        frame[column] = frame[column].astype("float64")
    return frame


def walkforward_detail(
    name: str, *, tracking_uri: str | None = None, experiment: str = DEFAULT_EXPERIMENT
) -> dict[str, Any]:
    """Everything about one analysis, for the viewer's walk-forward page.

    Returns:
        ``{"name", "run_id", "status", "params" (dict, decoded), "metrics" (dict),
        "windows" (DataFrame, columns :data:`WINDOW_COLUMNS`, by window; ``best_params`` as a
        dict), "oos_equity" (Series on a UTC DatetimeIndex; empty until finished),
        "window_rows" (list of dicts from the windows artifact; [] until finished),
        "report_html" (str or None)}``.

    Raises:
        UnknownNameError: no analysis of that name (with the closest known names).
        TrackingError: the store cannot be reached.
    """
    if not isinstance(name, str) or not name:
        raise ConfigError(f"name must be a non-empty string, got {name!r}.")
    with _experiment(tracking_uri, experiment) as (client, eid):
        parent = None if eid is None else _analysis_run(client, eid, name)
        if parent is None:
            known = (
                []
                if eid is None
                else sorted(
                    {
                        r.data.tags.get(ANALYSIS_TAG, "")
                        for r in _store.search_all(
                            client, eid, _store.tag_is(KIND_TAG, WALKFORWARD_KIND)
                        )
                    }
                    - {""}
                )
            )
            raise UnknownNameError("walk-forward analysis", name, known)
        run_id = parent.info.run_id
        children = _store.search_all(
            client,
            eid,
            f"{_store.tag_is(PARENT_TAG, run_id)} AND {_store.tag_is(KIND_TAG, WINDOW_KIND)}",
        )
        artifacts = _read_artifacts(client, run_id)
    rows = sorted((_window_row(run) for run in children), key=lambda r: r["window"])
    windows = pd.DataFrame(rows, columns=list(WINDOW_COLUMNS))
    equity = artifacts.get(OOS_EQUITY_ARTIFACT) or {"timestamps": [], "equity": []}
    series = pd.Series(
        [float(v) for v in equity["equity"]],
        index=pd.DatetimeIndex(pd.to_datetime(equity["timestamps"], utc=True), name="timestamp"),
        name="equity",
        dtype=float,
    )
    return {
        "name": name,
        "run_id": run_id,
        "status": parent.info.status,
        "params": {k: _decode(v) for k, v in parent.data.params.items()},
        "metrics": dict(parent.data.metrics),
        "windows": windows,
        "oos_equity": series,
        "window_rows": artifacts.get(WINDOWS_ARTIFACT) or [],
        "report_html": artifacts.get(REPORT_ARTIFACT),
    }


# ---- helpers ---------------------------------------------------------------------------------


@contextmanager
def _experiment(tracking_uri: str | None, experiment: str) -> Iterator[tuple[Any, str | None]]:
    """The client and the experiment's id (None when nothing was tracked yet)."""
    config = TrackingConfig(tracking_uri=tracking_uri, experiment=experiment)
    uri = config.resolved_uri()
    client = _store.mlflow_client(uri)
    with _store.store_errors("read walk-forward analyses", uri):
        yield client, _store.find_experiment_id(client, config.experiment)


def _analysis_run(client: Any, experiment_id: str, name: str) -> Any:
    runs = _store.search_all(
        client,
        experiment_id,
        f"{_store.tag_is(KIND_TAG, WALKFORWARD_KIND)} AND {_store.tag_is(ANALYSIS_TAG, name)}",
        order_by=["attributes.start_time DESC"],
    )
    return runs[0] if runs else None


def _read_artifacts(client: Any, run_id: str) -> dict[str, Any]:
    import os

    # MLflow draws a progress bar per downloaded file; a query answering the viewer must not
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    out: dict[str, Any] = {}
    try:
        names = {item.path for item in client.list_artifacts(run_id)}
    except Exception:  # noqa: BLE001 - a run without an artifact store has no artifacts
        return out
    with tempfile.TemporaryDirectory(prefix="tradelab-wfa-read-") as tmp:
        for name in (OOS_EQUITY_ARTIFACT, WINDOWS_ARTIFACT, REPORT_ARTIFACT):
            if name in names:
                path = Path(client.download_artifacts(run_id, name, tmp))
                text = path.read_text(encoding="utf-8")
                out[name] = text if name == REPORT_ARTIFACT else json.loads(text)
    return out


def _parent_row(run: Any, now: int) -> dict[str, Any]:
    params, metrics, info = run.data.params, run.data.metrics, run.info
    running = info.status in ("RUNNING", "SCHEDULED") or not info.end_time
    end = now if running else info.end_time
    row: dict[str, Any] = {
        "name": run.data.tags.get(ANALYSIS_TAG),
        "strategy": params.get("strategy"),
        "symbols": _decode(params.get("symbols", "[]")),
        "train": params.get("train"),
        "test": params.get("test"),
        "step": params.get("step"),
        "anchored": _decode(params.get("anchored", "False")),
        "trials": _decode(params.get("trials", "0")),
        "status": info.status,
        "start_time": info.start_time,
        "duration_s": max(end - info.start_time, 0) / 1000.0,
        "run_id": info.run_id,
    }
    row.update({key: metrics.get(key, math.nan) for key in PARENT_METRICS})
    return row


def _window_row(run: Any) -> dict[str, Any]:
    params, metrics = run.data.params, run.data.metrics
    row: dict[str, Any] = {
        "window": int(params.get("window", -1)),
        **{key: params.get(key) for key in ("train_start", "train_end", "test_start", "test_end")},
        "best_params": json.loads(params.get("best_params") or "{}"),
        "status": run.info.status,
        "run_id": run.info.run_id,
    }
    row.update({key: metrics.get(key, math.nan) for key in WINDOW_RUN_METRICS})
    return row


def _decode(text: Any) -> Any:
    if not isinstance(text, str):
        return text
    if text in ("True", "False"):
        return text == "True"
    if text == "None":
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def _metric(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return math.nan
    return number if math.isfinite(number) else math.nan
