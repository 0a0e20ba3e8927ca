"""Child runs written in one transaction (tradelab.tracking._bulk) read back exactly as runs
logged through MLflow's client, and a batch the store refuses loses nothing."""

from __future__ import annotations

import pytest
from mlflow import MlflowClient

from tests.tracking.tracking_helpers import children, make_trial, mixed_trials, sqlite_uri
from tradelab.tracking import StudyTracker, TrackingConfig, _bulk

pytestmark = pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning")

SETTINGS = {"metric": "sharpe", "mode": "max", "trials": 12}


@pytest.fixture(scope="module")
def uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    return sqlite_uri(tmp_path_factory.mktemp("bulk"))


def _study(uri: str, experiment: str, *, bulk: bool = True) -> StudyTracker:
    tracker = StudyTracker(TrackingConfig(tracking_uri=uri, experiment=experiment))
    if not bulk:
        tracker._bulk = False  # the client path, as for a tracking server
    tracker.start_study(study="same", strategy="sma_crossover", strategy_family="trend",
                        project="alpha", settings=SETTINGS)
    return tracker


def _by_number(client: MlflowClient, tracker: StudyTracker) -> dict[str, object]:
    runs = children(client, tracker.experiment_id or "", tracker.run_id or "")
    return {run.data.tags["trial_number"]: run for run in runs}


def test_the_store_of_the_embedded_sqlite_uri_gets_a_bulk_writer(uri):
    assert _bulk.BulkRunWriter.for_client(MlflowClient(uri)) is not None


def test_bulk_written_children_read_back_as_client_written_ones(uri):
    trials = mixed_trials(12)
    bulk, slow = _study(uri, "bulk-a"), _study(uri, "bulk-b", bulk=False)
    assert bulk.log_trials(trials) == slow.log_trials(trials) == 12
    assert isinstance(bulk._bulk, _bulk.BulkRunWriter) and slow._bulk is False
    client = MlflowClient(uri)
    fast_runs, slow_runs = _by_number(client, bulk), _by_number(client, slow)
    assert sorted(fast_runs) == sorted(slow_runs) and len(fast_runs) == 12
    for number, fast in fast_runs.items():
        other = slow_runs[number]
        assert fast.data.params == other.data.params
        assert fast.data.metrics == other.data.metrics
        ignore = {"mlflow.parentRunId"}
        assert {k: v for k, v in fast.data.tags.items() if k not in ignore} == \
            {k: v for k, v in other.data.tags.items() if k not in ignore}
        assert fast.data.tags["mlflow.parentRunId"] == bulk.run_id
        for field in ("status", "lifecycle_stage", "run_name", "user_id"):
            assert getattr(fast.info, field) == getattr(other.info, field), field
        assert fast.info.end_time - fast.info.start_time == \
            other.info.end_time - other.info.start_time == 2500
        assert fast.info.artifact_uri.endswith(f"/{fast.info.run_id}/artifacts")
        history = client.get_metric_history(fast.info.run_id, "sharpe")
        assert [(m.value, m.step) for m in history] == \
            [(m.value, m.step) for m in client.get_metric_history(other.info.run_id, "sharpe")]
    statuses = {run.data.tags["state"]: run.info.status for run in fast_runs.values()}
    assert statuses["ERROR"] == "FAILED" and statuses["COMPLETE"] == "FINISHED"
    # MLflow's own search reads the rows: by metric, by tag, by run name
    found = client.search_runs([bulk.experiment_id], "metrics.sharpe > 0.5 AND tags.state = "
                               "'COMPLETE' AND attributes.run_name LIKE 'same-trial-%'")
    assert sorted(r.data.tags["trial_number"] for r in found) == ["6", "7"]
    # the study's progress on the parent counts them
    assert client.get_run(bulk.run_id).data.metrics["trials"] == 12


def test_a_batch_the_writer_fails_is_logged_trial_by_trial(uri, monkeypatch):
    def refuse(self, experiment_id, runs):
        raise RuntimeError("the store refused the batch")

    monkeypatch.setattr(_bulk.BulkRunWriter, "write", refuse)
    tracker = _study(uri, "bulk-refused")
    assert tracker.log_trials(mixed_trials(5)) == 5
    runs = children(MlflowClient(uri), tracker.experiment_id or "", tracker.run_id or "")
    assert sorted(r.data.tags["trial_id"] for r in runs) == [f"t{i:04d}" for i in range(5)]
    assert tracker._bulk is False  # not MLflow refusing: the writer is not tried again


def test_a_batch_mlflow_refuses_is_logged_trial_by_trial_and_the_writer_kept(uri, monkeypatch):
    from mlflow.exceptions import MlflowException

    calls = []

    def refuse(self, experiment_id, runs):
        calls.append(len(runs))
        raise MlflowException("database is locked")

    monkeypatch.setattr(_bulk.BulkRunWriter, "write", refuse)
    tracker = _study(uri, "bulk-locked")
    assert tracker.log_trials(mixed_trials(3)) == 3
    assert tracker.log_trials(mixed_trials(5)) == 2  # 3 logged before
    assert calls == [3, 2] and isinstance(tracker._bulk, _bulk.BulkRunWriter)
    runs = children(MlflowClient(uri), tracker.experiment_id or "", tracker.run_id or "")
    assert sorted(r.data.tags["trial_id"] for r in runs) == [f"t{i:04d}" for i in range(5)]


def test_a_batch_whose_insert_fails_midway_writes_nothing(uri):
    from sqlalchemy import Column, MetaData, String, Table

    tracker = _study(uri, "bulk-atomic")
    client = MlflowClient(uri)
    writer = _bulk.BulkRunWriter.for_client(client)
    # runs, tags, params and metrics go in; the last table does not exist
    writer._tables["latest_metrics"] = Table("no_such_table", MetaData(),
                                             Column("key", String(250)))
    runs = [tracker._finished_run(make_trial(i)) for i in range(3)]
    with pytest.raises(Exception, match="no_such_table"):
        writer.write(tracker.experiment_id or "", runs)
    assert client.search_runs([tracker.experiment_id], "tags.`tradelab.kind` = 'trial'") == []


def test_a_value_mlflow_refuses_fails_the_batch_before_writing(uri):
    from mlflow.entities import Param
    from mlflow.exceptions import MlflowException

    tracker = _study(uri, "bulk-invalid")
    good = tracker._finished_run(make_trial(0))
    bad = tracker._finished_run(make_trial(1))
    bad = _bulk.FinishedRun(**{**{f: getattr(bad, f) for f in bad.__slots__},
                               "params": [Param("fast", "1"), Param("fast", "2")]})
    writer = _bulk.BulkRunWriter.for_client(MlflowClient(uri))
    with pytest.raises(MlflowException, match="[Dd]uplicate"):
        writer.write(tracker.experiment_id or "", [good, bad])
    assert MlflowClient(uri).search_runs([tracker.experiment_id],
                                         "tags.`tradelab.kind` = 'trial'") == []


def test_a_store_whose_tables_differ_gets_no_bulk_writer(uri, monkeypatch):
    monkeypatch.setitem(_bulk._COLUMNS, "metrics", _bulk._COLUMNS["metrics"] | {"dataset"})
    assert _bulk.BulkRunWriter.for_client(MlflowClient(uri)) is None
    tracker = _study(uri, "bulk-schema")
    assert tracker.log_trials(mixed_trials(3)) == 3 and tracker._bulk is False
