"""StudyTracker: one MLflow parent run per optimization study, one child run per trial."""

from __future__ import annotations

import logging
import tempfile
import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tradelab.errors import ConfigError, UnknownNameError
from tradelab.tracking import _bulk, _store
from tradelab.tracking._artifacts import is_synthetic, write_trial_artifacts
from tradelab.tracking._values import (
    MAX_TAG_VALUE,
    batches,
    finite,
    param_text,
    safe_key,
    settings_params,
    tag_text,
)
from tradelab.tracking.config import TrackingConfig
from tradelab.tracking.records import TRIAL_STATES, TrialRecord

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Run

    from tradelab.backtest import BacktestResult

__all__ = ["STUDY_STATUSES", "StudyTracker"]

STUDY_STATUSES: tuple[str, ...] = ("FINISHED", "FAILED", "KILLED")
"""How a study can end (MLflow run statuses)."""

_log = logging.getLogger("tradelab.tracking")

_IDENTITY_TAGS = (
    _store.PROJECT_TAG,
    _store.ASSET_CLASS_TAG,
    _store.FAMILY_TAG,
    _store.STRATEGY_TAG,
    _store.STUDY_TAG,
)
_RESERVED_TAGS = frozenset(_IDENTITY_TAGS) | {_store.KIND_TAG, _store.PARENT_TAG}
_ERROR_CHARS = 5000
_MAX_STUDY_NAME = 200
# Trial states whose child run ends FINISHED; ERROR (the strategy raised) ends FAILED.
_RUN_STATUS = {state: "FINISHED" for state in TRIAL_STATES} | {"ERROR": "FAILED"}


class StudyTracker:
    """Logs an optimization study to MLflow: a parent run for the study, a child per trial.

    The parent run (named after the study) carries the study's identity as tags (``project``,
    ``asset_class``, ``strategy_family``, ``strategy``, ``study``, ``tradelab.kind=study``), its
    settings as params and, as trials arrive, progress metrics (``trials``, ``trials_<state>``,
    ``best_value``). Each trial is a child run (tag ``mlflow.parentRunId``); the trials of one
    :meth:`log_trials` call go into an SQL store in one transaction (``_bulk``), or else
    through MLflow's client, one run at a time. Logging is idempotent: a study started again
    under the same name reuses its parent run, and trials already logged are skipped.

    One tracker follows one study at a time and opens the store once (a fresh SQLite store runs
    MLflow's migrations, several seconds). Methods are safe to call from several threads.

    Example:
        >>> tracker = StudyTracker(TrackingConfig(tracking_uri="sqlite:////tmp/tl-doc/mlflow.db"))
        >>> run_id = tracker.start_study(study="sma-demo", strategy="sma_crossover",
        ...     strategy_family="trend", settings={"metric": "sharpe", "mode": "max"})
        >>> tracker.log_trials([TrialRecord(trial_id="t0", number=0, params={"fast": 10},
        ...     state="COMPLETE", value=0.9, metrics={"sharpe": 0.9}, backtests=1)])
        1
        >>> tracker.finish_study(summary={"best_value": 0.9, "best_params": {"fast": 10}})
    """

    def __init__(self, config: TrackingConfig | None = None) -> None:
        if config is not None and not isinstance(config, TrackingConfig):
            raise ConfigError(f"config must be a TrackingConfig or None, got {config!r}.")
        self._config = config or TrackingConfig()
        self._uri = self._config.resolved_uri()
        self._client: MlflowClient | None = None
        self._bulk: _bulk.BulkRunWriter | bool | None = None  # False: the store has none
        self._lock = threading.RLock()
        self._reset()

    # ---- state ---------------------------------------------------------------------------

    def _reset(self) -> None:
        self._experiment_id: str | None = None
        self._run_id: str | None = None
        self._study: str | None = None
        self._identity: dict[str, str] = {}
        self._mode = "max"
        self._trials: dict[str, tuple[str, int]] = {}  # trial_id -> (run id, number)
        self._states: Counter[str] = Counter()
        self._best: float | None = None
        self._params: dict[str, str] = {}  # the parent's params as stored

    @property
    def config(self) -> TrackingConfig:
        return self._config

    @property
    def run_id(self) -> str | None:
        """The study's parent run id (``None`` before :meth:`start_study`)."""
        return self._run_id

    @property
    def experiment_id(self) -> str | None:
        return self._experiment_id

    @property
    def study(self) -> str | None:
        return self._study

    @property
    def logged_trial_ids(self) -> frozenset[str]:
        """Trial ids with a child run in this study (including those of earlier sessions)."""
        return frozenset(self._trials)

    def trial_run_id(self, trial_id: str) -> str:
        """The child run id of a logged trial.

        Raises:
            UnknownNameError: the trial has not been logged in this study.
        """
        try:
            return self._trials[trial_id][0]
        except (KeyError, TypeError):
            raise UnknownNameError("trial", str(trial_id), self._trials) from None

    def _mlflow(self) -> MlflowClient:
        if self._client is None:
            self._client = _store.mlflow_client(self._uri)
        return self._client

    def _require_study(self, action: str) -> str:
        if self._run_id is None:
            raise ConfigError(f"call start_study(...) before {action}.")
        return self._run_id

    # ---- study ---------------------------------------------------------------------------

    def start_study(
        self,
        *,
        study: str,
        strategy: str,
        strategy_family: str,
        project: str = "default",
        asset_class: str = "equity",
        settings: Mapping[str, Any],
        tags: Mapping[str, str] | None = None,
    ) -> str:
        """Open (or resume) the study's parent run and return its id.

        Args:
            study: the study name, unique in the experiment; a study of that name that already
                exists is resumed (its parent run set RUNNING again), not duplicated.
            strategy: the strategy's registry name; strategy_family: e.g. ``"trend"``.
            project: groups studies; asset_class: e.g. ``"equity"``.
            settings: the study's settings (symbols, start, end, metric, mode, search, trials,
                folds, seed, costs, cash, space ...): one param each, containers as JSON, values
                cut to MLflow's 6000 characters, secret-named keys masked. ``mode`` (``max`` or
                ``min``, default ``max``) orders ``best_value``.
            tags: extra tags; they cannot override the identity tags.

        Raises:
            ConfigError: a bad argument, or a study of that name exists for another strategy.
            TrackingError: the store cannot be reached.
        """
        identity = {
            _store.PROJECT_TAG: _name("project", project),
            _store.ASSET_CLASS_TAG: _name("asset_class", asset_class),
            _store.FAMILY_TAG: _name("strategy_family", strategy_family),
            _store.STRATEGY_TAG: _name("strategy", strategy),
            _store.STUDY_TAG: _name("study", study, limit=_MAX_STUDY_NAME),
        }
        if not isinstance(settings, Mapping):
            raise ConfigError(f"settings must be a mapping, got {settings!r}.")
        mode = str(settings.get("mode", "max")).lower()
        if mode not in ("max", "min"):
            raise ConfigError(f"settings['mode'] must be 'max' or 'min', got {mode!r}.")
        extra = _extra_tags(tags)
        params = settings_params(settings)
        client = self._mlflow()
        with self._lock:
            self._reset()
            with _store.store_errors(f"start study '{study}'", self._uri):
                experiment_id = _store.ensure_experiment(
                    client, self._config.experiment, self._config.resolved_artifact_location()
                )
                existing = self._find_study_run(client, experiment_id, study)
                run_tags = {**extra, **identity, _store.KIND_TAG: _store.STUDY_KIND}
                if existing is None:
                    run = client.create_run(experiment_id, tags=run_tags, run_name=study)
                    run_id = run.info.run_id
                    stored: dict[str, str] = {}
                else:
                    run_id = existing.info.run_id
                    _same_strategy(existing, study, strategy)
                    client.update_run(run_id, status="RUNNING")
                    stored = dict(existing.data.params)
                    if "mode" not in settings and stored.get("mode") in ("max", "min"):
                        mode = stored["mode"]
                self._experiment_id, self._run_id, self._study = experiment_id, run_id, study
                self._identity, self._mode, self._params = identity, mode, stored
                self._log_params_once(params, prefix="", tags=run_tags if existing else {})
                if existing is not None:
                    self._load_trials(client)
                    _log.info(
                        "resumed study '%s' (run %s, %d trials logged before)",
                        study,
                        run_id,
                        len(self._trials),
                    )
        return run_id

    def _find_study_run(self, client: MlflowClient, experiment_id: str, study: str) -> Run | None:
        runs = _store.search_all(
            client,
            experiment_id,
            f"{_store.tag_is(_store.KIND_TAG, _store.STUDY_KIND)} AND "
            f"{_store.tag_is(_store.STUDY_TAG, study)}",
            order_by=["attributes.start_time ASC"],
        )
        if len(runs) > 1:
            _log.warning(
                "study '%s' has %d parent runs; resuming the oldest (%s)",
                study,
                len(runs),
                runs[0].info.run_id,
            )
        return runs[0] if runs else None

    def _load_trials(self, client: MlflowClient) -> None:
        children = _store.search_all(
            client, self._experiment_id or "", _store.tag_is(_store.PARENT_TAG, self._run_id or "")
        )
        for run in children:
            tags = run.data.tags
            trial_id = tags.get(_store.TRIAL_ID_TAG)
            if not trial_id or trial_id in self._trials:
                continue
            number = int(tags.get(_store.NUMBER_TAG, "-1") or -1)
            self._trials[trial_id] = (run.info.run_id, number)
            self._count(tags.get(_store.STATE_TAG, ""), run.data.metrics.get("value"))

    def _count(self, state: str, value: float | None) -> None:
        self._states[state] += 1
        if state == "COMPLETE" and value is not None and finite(value) is not None:
            better = (
                self._best is None
                or (self._mode == "max" and value > self._best)
                or (self._mode == "min" and value < self._best)
            )
            if better:
                self._best = float(value)

    def _log_params_once(
        self, params: Mapping[str, str], *, prefix: str, tags: Mapping[str, str]
    ) -> None:
        """Log params the run does not have yet. MLflow params are immutable: a changed value
        (a resumed study with new settings) is kept as the tag ``latest.<name>`` instead."""
        from mlflow.entities import Param, RunTag

        new, latest = [], dict(tags)
        for key, value in params.items():
            name = f"{prefix}{key}"
            if name not in self._params:
                new.append(Param(name, value))
                self._params[name] = value
            elif self._params[name] != value:
                latest[f"latest.{name}"] = tag_text(value)
                _log.warning(
                    "study '%s': param %s was %r and is now %r; MLflow params cannot change, so "
                    "the new value is kept in the tag latest.%s",
                    self._study,
                    name,
                    self._params[name][:80],
                    value[:80],
                    name,
                )
        run_tags = [RunTag(key, value) for key, value in latest.items()]
        client = self._mlflow()
        for _, batch_params, batch_tags in batches([], new, run_tags):
            client.log_batch(
                self._run_id or "", params=batch_params, tags=batch_tags, synchronous=True
            )

    # ---- trials --------------------------------------------------------------------------

    def log_trials(self, trials: Sequence[TrialRecord]) -> int:
        """Log each trial not yet logged as a child run of the study; return how many were new.

        A child run is named ``<study>-trial-<number:04d>`` and carries the study's tags plus
        ``state``, ``trial_id``, ``trial_number`` and ``tradelab.kind=trial``; the trial's params;
        its finite metrics plus ``value``, ``value.<objective>``, ``backtests``, ``duration_s``
        and ``cpu_s``; and the error text (cut to 5000 characters, keeping the end) as the tag
        ``error``. It ends FINISHED, or FAILED for an ``ERROR`` trial.

        Raises:
            ConfigError: no study started, or an item is not a :class:`TrialRecord`.
            TrackingError: the store cannot be reached (trials logged before stay logged).
        """
        run_id = self._require_study("log_trials")
        trials = list(trials)
        for trial in trials:
            if not isinstance(trial, TrialRecord):
                raise ConfigError(f"log_trials takes TrialRecord items, got {trial!r}.")
        client = self._mlflow()
        logged = 0
        with self._lock:
            try:
                pending: dict[str, TrialRecord] = {}
                for trial in trials:
                    if trial.trial_id not in self._trials:
                        pending.setdefault(trial.trial_id, trial)
                logged += self._log_in_bulk(client, list(pending.values()))
                for trial in pending.values():
                    if trial.trial_id in self._trials:
                        continue
                    with _store.store_errors(f"log trial {trial.trial_id}", self._uri):
                        child = self._log_trial(client, self._finished_run(trial))
                    self._logged(trial, child)
                    logged += 1
            finally:
                if logged:
                    with _store.store_errors("update the study's progress", self._uri):
                        self._log_progress(client, run_id)
        return logged

    def _logged(self, trial: TrialRecord, child: str) -> None:
        self._trials[trial.trial_id] = (child, trial.number)
        self._count(trial.state, trial.value)

    def _log_in_bulk(self, client: MlflowClient, trials: Sequence[TrialRecord]) -> int:
        """Write ``trials`` in one transaction when the store allows it (see ``_bulk``); return
        how many were written. A batch the store refuses is left to the per-trial path, so one
        bad trial costs only itself."""
        if not trials:
            return 0
        if self._bulk is None:
            self._bulk = _bulk.BulkRunWriter.for_client(client) or False
        if not self._bulk:
            return 0
        from mlflow.exceptions import MlflowException

        try:
            children = self._bulk.write(self._experiment_id or "",
                                        [self._finished_run(t) for t in trials])
        except Exception as exc:  # noqa: BLE001 - each trial is tried again on its own
            _log.debug("bulk logging of %d trials failed; logging them one by one",
                       len(trials), exc_info=True)
            if not isinstance(exc, MlflowException):
                self._bulk = False  # not the store refusing a batch: this MLflow differs
            return 0
        for trial, child in zip(trials, children, strict=True):
            self._logged(trial, child)
        return len(trials)

    def _finished_run(self, trial: TrialRecord) -> _bulk.FinishedRun:
        """The child run of ``trial``, as either logging path writes it."""
        from mlflow.entities import Metric, Param

        now = _store.now_ms()
        tags = {
            **self._identity,
            _store.KIND_TAG: _store.TRIAL_KIND,
            _store.PARENT_TAG: self._run_id or "",
            _store.STATE_TAG: trial.state,
            _store.TRIAL_ID_TAG: trial.trial_id,
            _store.NUMBER_TAG: str(trial.number),
        }
        if trial.error:
            tags[_store.ERROR_TAG] = tag_text(trial.error, limit=_ERROR_CHARS, keep="tail")
        numbers: dict[str, float | None] = {
            safe_key(key): finite(value) for key, value in trial.metrics.items()
        }
        numbers.update({f"value.{safe_key(key)}": finite(v) for key, v in trial.values.items()})
        numbers.update(
            value=trial.value,
            backtests=float(trial.backtests),
            duration_s=trial.duration_s,
            cpu_s=trial.cpu_s,
        )
        return _bulk.FinishedRun(
            name=f"{self._study}-trial-{trial.number:04d}",
            # the run's start is set back by the trial's duration, so MLflow shows its length
            start_time=now - int(trial.duration_s * 1000),
            end_time=now,
            status=_RUN_STATUS[trial.state],
            tags=tags,
            params=[Param(safe_key(key), param_text(value)) for key, value in trial.params.items()],
            metrics=[Metric(key, v, now, 0) for key, v in numbers.items() if v is not None],
        )

    def _log_trial(self, client: MlflowClient, run: _bulk.FinishedRun) -> str:
        created = client.create_run(
            self._experiment_id or "", start_time=run.start_time, tags=dict(run.tags),
            run_name=run.name,
        )
        child = created.info.run_id
        try:
            for batch_metrics, batch_params, _ in batches(run.metrics, run.params, []):
                client.log_batch(
                    child, metrics=batch_metrics, params=batch_params, synchronous=True
                )
            client.set_terminated(child, status=run.status, end_time=run.end_time)
        except Exception:
            # Leave no half-written child behind: its trial_id tag would make a retry skip it.
            try:
                client.delete_run(child)
            except Exception:  # the store is already failing; report the first error
                _log.debug("could not delete the half-written run %s", child, exc_info=True)
            raise
        return child

    def _log_progress(self, client: MlflowClient, run_id: str) -> None:
        from mlflow.entities import Metric

        now, step = _store.now_ms(), len(self._trials)
        values = {"trials": float(len(self._trials))}
        values.update({f"trials_{s.lower()}": float(self._states[s]) for s in TRIAL_STATES})
        if self._best is not None:
            values["best_value"] = self._best
        client.log_batch(
            run_id, metrics=[Metric(k, v, now, step) for k, v in values.items()], synchronous=True
        )

    def log_trial_artifacts(self, trial_id: str, result: BacktestResult) -> None:
        """Attach a trial's backtest to its child run: ``equity.png`` (equity over drawdown),
        ``equity.csv``, ``trades.csv`` and ``tearsheet.html`` (quantstats, or a plain metrics
        table when quantstats fails). Meant for the best N trials; the caller picks them
        (:func:`tradelab.tracking.best_trials`). Titles say "SYNTHETIC" for generated data.

        Raises:
            UnknownNameError: the trial was not logged in this study.
            TrackingError: the artifacts cannot be uploaded.
        """
        from tradelab.backtest import BacktestResult

        self._require_study("log_trial_artifacts")
        if not isinstance(result, BacktestResult):
            raise ConfigError(f"result must be a BacktestResult, got {type(result).__name__}.")
        child = self.trial_run_id(trial_id)
        number = self._trials[trial_id][1]
        shown = ", ".join(f"{k}={v}" for k, v in sorted(result.params.items()))
        title = tag_text(f"{result.strategy} ({shown}) - {self._study} trial {number}", limit=300)
        if is_synthetic(result):
            title = f"SYNTHETIC data - {title}"
        with tempfile.TemporaryDirectory(prefix="tradelab-artifacts-") as tmp:
            written = write_trial_artifacts(Path(tmp), result, title=title)
            if written:
                with _store.store_errors(f"upload the artifacts of trial {trial_id}", self._uri):
                    self._mlflow().log_artifacts(child, tmp)

    def finish_study(self, *, status: str = "FINISHED", summary: Mapping[str, Any]) -> None:
        """Log the summary on the parent run and end it with ``status``.

        Args:
            status: one of :data:`STUDY_STATUSES`.
            summary: numbers (``best_value``, ``efficiency``, trial counts ...; nested mappings
                flattened as ``a.b``) become metrics; ``best_params`` (a mapping) becomes params
                ``best.<name>``; strings and other values become tags ``summary.<key>``.
                ``None`` and NaN are skipped.

        Raises:
            UnknownNameError: an unknown status. ConfigError: no study started.
            TrackingError: the store cannot be reached.
        """
        from mlflow.entities import Metric, RunTag

        run_id = self._require_study("finish_study")
        status_name = str(status).upper()
        if status_name not in STUDY_STATUSES:
            raise UnknownNameError("study status", str(status), STUDY_STATUSES)
        if not isinstance(summary, Mapping):
            raise ConfigError(f"summary must be a mapping, got {summary!r}.")
        best_params = summary.get("best_params") or {}
        if not isinstance(best_params, Mapping):
            raise ConfigError(f"summary['best_params'] must be a mapping, got {best_params!r}.")
        numbers, texts = _split_summary({k: v for k, v in summary.items() if k != "best_params"})
        client = self._mlflow()
        with self._lock, _store.store_errors(f"finish study '{self._study}'", self._uri):
            now, step = _store.now_ms(), len(self._trials) + 1
            metrics = [Metric(key, value, now, step) for key, value in numbers.items()]
            tags = [RunTag(key, value) for key, value in texts.items()]
            for batch_metrics, _, batch_tags in batches(metrics, [], tags):
                client.log_batch(run_id, metrics=batch_metrics, tags=batch_tags, synchronous=True)
            best = {safe_key(k): param_text(v) for k, v in best_params.items()}
            self._log_params_once(best, prefix="best.", tags={})
            client.set_terminated(run_id, status=status_name, end_time=now)


def _name(what: str, value: Any, *, limit: int = MAX_TAG_VALUE) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise ConfigError(
            f"{what} must be a non-empty string of at most {limit} characters, got {value!r}."
        )
    if any(ch in value for ch in "\r\n\t"):
        raise ConfigError(f"{what} must be one line without tabs, got {value!r}.")
    return value


def _extra_tags(tags: Mapping[str, str] | None) -> dict[str, str]:
    if tags is None:
        return {}
    if not isinstance(tags, Mapping):
        raise ConfigError(f"tags must be a mapping of strings, got {tags!r}.")
    clash = sorted(key for key in tags if key in _RESERVED_TAGS)
    if clash:
        raise ConfigError(
            f"tags {clash} are set by the tracker; pass them as start_study arguments instead."
        )
    return {safe_key(key): tag_text(value) for key, value in tags.items()}


def _same_strategy(run: Run, study: str, strategy: str) -> None:
    existing = run.data.tags.get(_store.STRATEGY_TAG)
    if existing and existing != strategy:
        raise ConfigError(
            f"study '{study}' already exists for strategy '{existing}', not '{strategy}'; "
            "choose another study name (a study of the same name is resumed)."
        )


def _split_summary(
    summary: Mapping[str, Any], prefix: str = ""
) -> tuple[dict[str, float], dict[str, str]]:
    numbers: dict[str, float] = {}
    texts: dict[str, str] = {}
    for key, value in summary.items():
        name = safe_key(f"{prefix}{key}")
        if value is None:
            continue
        if isinstance(value, Mapping):
            sub_numbers, sub_texts = _split_summary(value, prefix=f"{name}.")
            numbers.update(sub_numbers)
            texts.update(sub_texts)
            continue
        if isinstance(value, bool) or not isinstance(value, int | float | np.number):
            texts[f"summary.{name}"] = tag_text(value)
        elif (number := finite(value)) is not None:
            numbers[name] = number
    return numbers, texts
