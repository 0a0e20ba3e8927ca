"""StudyTracker against a real MLflow SQLite store: parent and child runs, idempotence, resume."""

from __future__ import annotations

import pickle

import pytest
from mlflow import MlflowClient

from tests.tracking.tracking_helpers import children, make_trial, mixed_trials, sqlite_uri
from tradelab.errors import ConfigError, TrackingError, UnknownNameError
from tradelab.tracking import (
    StudyTracker,
    TrackingConfig,
    TrialRecord,
    best_trials,
    embedded_tracking_uri,
    list_studies,
)

# MLflow's own SQLAlchemy models trigger this deprecation on first use; it is not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning")

EXPERIMENT = "logging-tests"
SETTINGS = {
    "symbols": ["AAA", "BBB"],
    "start": "2018-01-01",
    "end": "2019-12-31",
    "metric": "sharpe",
    "mode": "max",
    "search": "optuna",
    "trials": 30,
    "folds": 3,
    "seed": 7,
    "costs": "ib-fixed",
    "cash": 100_000.0,
    "space": {"fast": {"low": 5, "high": 50}, "slow": {"low": 20, "high": 200}},
}


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> TrackingConfig:
    """One store for the module: a fresh SQLite store runs MLflow's migrations (seconds)."""
    return TrackingConfig(
        tracking_uri=sqlite_uri(tmp_path_factory.mktemp("logging")), experiment=EXPERIMENT
    )


@pytest.fixture(scope="module")
def client(config: TrackingConfig) -> MlflowClient:
    return MlflowClient(config.resolved_uri())


@pytest.fixture(scope="module")
def study(config: TrackingConfig):
    """A study of 30 trials in every state, logged once."""
    tracker = StudyTracker(config)
    run_id = tracker.start_study(
        study="sma-30",
        strategy="sma_crossover",
        strategy_family="trend",
        project="alpha",
        asset_class="equity",
        settings=SETTINGS,
        tags={"owner": "research"},
    )
    trials = mixed_trials(30)
    logged = tracker.log_trials(trials)
    return tracker, run_id, trials, logged


def test_start_study_creates_a_parent_run_with_identity_tags_and_settings_params(study, client):
    tracker, run_id, _, _ = study
    run = client.get_run(run_id)
    tags, params = run.data.tags, run.data.params
    assert run.info.run_name == "sma-30"
    assert {k: tags[k] for k in ("project", "asset_class", "strategy_family", "strategy")} == {
        "project": "alpha",
        "asset_class": "equity",
        "strategy_family": "trend",
        "strategy": "sma_crossover",
    }
    assert tags["study"] == "sma-30" and tags["tradelab.kind"] == "study"
    assert tags["owner"] == "research"
    assert params["symbols"] == '["AAA","BBB"]'
    assert params["space"] == '{"fast":{"low":5,"high":50},"slow":{"low":20,"high":200}}'
    assert params["trials"] == "30" and params["cash"] == "100000.0" and params["mode"] == "max"
    assert tracker.run_id == run_id and tracker.study == "sma-30"


def test_log_trials_writes_one_child_run_per_trial_with_tags_params_and_metrics(study, client):
    tracker, run_id, trials, logged = study
    runs = {
        run.data.tags["trial_id"]: run for run in children(client, tracker.experiment_id, run_id)
    }
    assert logged == 30 and len(runs) == 30 and tracker.logged_trial_ids == set(runs)
    complete = runs["t0006"]
    assert complete.info.run_name == "sma-30-trial-0006"
    assert complete.info.status == "FINISHED"
    tags = complete.data.tags
    assert tags["state"] == "COMPLETE" and tags["tradelab.kind"] == "trial"
    assert tags["mlflow.parentRunId"] == run_id and tags["trial_number"] == "6"
    assert {k: tags[k] for k in ("project", "asset_class", "strategy_family", "strategy")} == {
        "project": "alpha",
        "asset_class": "equity",
        "strategy_family": "trend",
        "strategy": "sma_crossover",
    }
    assert tags["study"] == "sma-30"
    assert complete.data.params == {"fast": "11", "slow": "46", "sizing": "percent"}
    metrics = complete.data.metrics
    assert metrics["value"] == pytest.approx(0.6) and metrics["sharpe"] == pytest.approx(0.6)
    assert metrics["backtests"] == 4 and metrics["duration_s"] == 2.5 and metrics["cpu_s"] == 2.0
    assert "win_rate" not in metrics  # NaN metrics are not logged
    # The run spans the trial's duration.
    assert complete.info.end_time - complete.info.start_time == 2500


def test_log_trials_ends_error_trials_failed_and_keeps_their_error_text(study, client):
    tracker, run_id, trials, _ = study
    runs = children(client, tracker.experiment_id, run_id)
    by_state: dict[str, set[str]] = {}
    for run in runs:
        by_state.setdefault(run.data.tags["state"], set()).add(run.info.status)
    assert by_state == {
        "COMPLETE": {"FINISHED"},
        "FAILED": {"FINISHED"},
        "STOPPED": {"FINISHED"},
        "INFEASIBLE": {"FINISHED"},
        "ERROR": {"FAILED"},
    }
    error = next(r for r in runs if r.data.tags["state"] == "ERROR")
    assert error.data.tags["error"] == "Traceback: ValueError: boom"
    assert "value" not in error.data.metrics
    failed = next(r for r in runs if r.data.tags["state"] == "FAILED")
    assert failed.data.tags["error"] == "fewer than 5 trades"


def test_log_trials_keeps_progress_metrics_on_the_parent(study, client):
    _, run_id, trials, _ = study
    metrics = client.get_run(run_id).data.metrics
    complete = [t.value for t in trials if t.state == "COMPLETE"]
    assert metrics["trials"] == 30 and metrics["trials_complete"] == len(complete)
    assert metrics["trials_error"] == 5 and metrics["trials_infeasible"] == 5
    assert metrics["best_value"] == pytest.approx(max(complete))


def test_log_trials_with_the_same_trials_again_logs_nothing(study, client):
    tracker, run_id, trials, _ = study
    assert tracker.log_trials(trials) == 0
    assert tracker.log_trials([trials[0], trials[0]]) == 0
    assert len(children(client, tracker.experiment_id, run_id)) == 30


def test_start_study_twice_with_the_same_name_reuses_the_parent_and_skips_logged_trials(
    study, config, client
):
    tracker, run_id, trials, _ = study
    resumed = StudyTracker(config)
    again = resumed.start_study(
        study="sma-30",
        strategy="sma_crossover",
        strategy_family="trend",
        project="alpha",
        settings=SETTINGS,
    )
    assert again == run_id
    assert client.get_run(run_id).info.status == "RUNNING"
    assert resumed.logged_trial_ids == {t.trial_id for t in trials}
    # A resumed optimizer re-reports every trial; only the new ones are logged.
    extra = [make_trial(30), make_trial(31, "STOPPED")]
    assert resumed.log_trials([*trials, *extra]) == 2
    assert len(children(client, resumed.experiment_id, run_id)) == 32
    parents = client.search_runs(
        [resumed.experiment_id], "tags.study = 'sma-30' AND tags.`tradelab.kind` = 'study'"
    )
    assert len(parents) == 1
    metrics = client.get_run(run_id).data.metrics
    assert metrics["trials"] == 32 and metrics["best_value"] == pytest.approx(3.0)


def test_start_study_resumed_with_a_changed_setting_keeps_the_param_and_tags_the_new_value(
    config, client
):
    first = StudyTracker(config)
    run_id = first.start_study(
        study="changes",
        strategy="macd_trend",
        strategy_family="trend",
        settings={"trials": 10, "metric": "sharpe"},
    )
    second = StudyTracker(config)
    second.start_study(
        study="changes",
        strategy="macd_trend",
        strategy_family="trend",
        settings={"trials": 20, "metric": "sharpe"},
    )
    run = client.get_run(run_id)
    assert run.data.params["trials"] == "10"
    assert run.data.tags["latest.trials"] == "20"


def test_start_study_with_an_existing_name_for_another_strategy_raises_config_error(study, config):
    with pytest.raises(ConfigError, match="already exists for strategy 'sma_crossover'"):
        StudyTracker(config).start_study(
            study="sma-30", strategy="macd_trend", strategy_family="trend", settings={}
        )


def test_finish_study_sets_the_status_and_logs_summary_metrics_and_best_params(config, client):
    tracker = StudyTracker(config)
    run_id = tracker.start_study(
        study="finished", strategy="sma_crossover", strategy_family="trend", settings=SETTINGS
    )
    tracker.log_trials(mixed_trials(6, prefix="f"))
    tracker.finish_study(
        summary={
            "best_value": 0.42,
            "efficiency": 0.8,
            "trials": 6,
            "states": {"complete": 2, "failed": 1},
            "best_params": {"fast": 10, "slow": 30},
            "best_trial_id": "f0001",
            "wall_s": float("nan"),
            "note": None,
        }
    )
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.info.end_time is not None
    metrics = run.data.metrics
    assert metrics["best_value"] == 0.42 and metrics["efficiency"] == 0.8
    assert metrics["states.complete"] == 2 and metrics["trials"] == 6
    assert "wall_s" not in metrics
    assert run.data.params["best.fast"] == "10" and run.data.params["best.slow"] == "30"
    assert run.data.tags["summary.best_trial_id"] == "f0001"
    row = (
        list_studies(tracking_uri=config.resolved_uri(), experiment=EXPERIMENT)
        .set_index("study")
        .loc["finished"]
    )
    assert row["status"] == "FINISHED" and row["best_value"] == 0.42 and row["trials"] == 6


def test_finish_study_with_killed_status_ends_the_parent_killed(config, client):
    tracker = StudyTracker(config)
    run_id = tracker.start_study(
        study="killed", strategy="sma_crossover", strategy_family="trend", settings={}
    )
    tracker.finish_study(status="killed", summary={})
    assert client.get_run(run_id).info.status == "KILLED"


def test_finish_study_with_an_unknown_status_raises_with_did_you_mean(study):
    tracker = study[0]
    with pytest.raises(UnknownNameError, match="Did you mean 'FINISHED'"):
        tracker.finish_study(status="FINSHED", summary={})


def test_log_trials_before_start_study_raises_config_error(config):
    with pytest.raises(ConfigError, match="start_study"):
        StudyTracker(config).log_trials([make_trial(0)])


def test_settings_with_secret_names_or_uri_passwords_are_masked_and_long_values_truncated(
    config, client
):
    run_id = StudyTracker(config).start_study(
        study="secrets",
        strategy="sma_crossover",
        strategy_family="trend",
        settings={
            "ib_password": "hunter2",
            "api_token": "abc",
            "database": "postgresql://trader:s3cret@db:5432/audit",
            "notes": "x" * 10_000,
        },
    )
    params = client.get_run(run_id).data.params
    assert params["ib_password"] == "***" and params["api_token"] == "***"
    assert params["database"] == "postgresql://trader:***@db:5432/audit"
    assert 5990 <= len(params["notes"]) <= 6000 and "chars truncated" in params["notes"]
    assert "hunter2" not in str(params) and "s3cret" not in str(params)


def test_a_trial_with_more_entities_than_one_batch_allows_is_logged_completely(config, client):
    tracker = StudyTracker(config)
    tracker.start_study(
        study="wide",
        strategy="sma_crossover",
        strategy_family="trend",
        settings={f"s{i}": i for i in range(150)},
    )
    trial = make_trial(
        0,
        params={f"p{i}": i for i in range(150)},
        metrics={f"m{i}": float(i) for i in range(1500)},
    )
    assert tracker.log_trials([trial]) == 1
    run = client.get_run(tracker.trial_run_id("t0000"))
    assert len(run.data.params) == 150
    assert len(run.data.metrics) == 1500 + 4  # + value, backtests, duration_s, cpu_s
    assert len(client.get_run(tracker.run_id).data.params) == 150


def test_trial_error_text_longer_than_the_limit_keeps_its_end(config, client):
    tracker = StudyTracker(config)
    tracker.start_study(
        study="long-error", strategy="sma_crossover", strategy_family="trend", settings={}
    )
    error = "frame\n" * 3000 + "ValueError: the real cause"
    tracker.log_trials([make_trial(0, "ERROR", error=error)])
    text = client.get_run(tracker.trial_run_id("t0000")).data.tags["error"]
    assert len(text) <= 5000 and text.endswith("ValueError: the real cause")


def test_an_unreachable_store_raises_tracking_error_naming_the_store(tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the store's directory should be")
    uri = sqlite_uri(blocker)
    with pytest.raises(TrackingError, match="could not open the tracking store.*not-a-directory"):
        StudyTracker(TrackingConfig(tracking_uri=uri)).start_study(
            study="x", strategy="sma_crossover", strategy_family="trend", settings={}
        )


def test_queries_on_a_store_without_the_default_experiment_return_empty_frames(config):
    frame = list_studies(tracking_uri=config.resolved_uri())
    assert frame.empty and "study" in frame.columns


# ---- records and config (no store) ---------------------------------------------------------


def test_trial_record_to_dict_turns_nan_into_none_and_round_trips():
    record = make_trial(3, values={"sharpe": 0.3, "calmar": float("nan")})
    data = record.to_dict()
    assert data["metrics"]["win_rate"] is None and data["values"]["calmar"] is None
    again = TrialRecord.from_dict(data)
    assert again.to_dict() == data
    assert pickle.loads(pickle.dumps(record)).to_dict() == data


@pytest.mark.parametrize(
    ("fields", "error", "match"),
    [
        ({"state": "COMPLETE", "value": None}, ConfigError, "needs a finite value"),
        ({"state": "COMPLETE", "value": float("nan")}, ConfigError, "needs a finite value"),
        ({"state": "FAILED", "value": 1.0}, ConfigError, "must be None for state FAILED"),
        ({"state": "COMPLET"}, UnknownNameError, "Did you mean 'COMPLETE'"),
        ({"metrics": {"value": 1.0}}, ConfigError, "clash"),
        ({"duration_s": -1.0}, ConfigError, "duration_s"),
        ({"number": -1}, ConfigError, "number"),
        ({"trial_id": ""}, ConfigError, "trial_id"),
    ],
)
def test_trial_record_with_invalid_fields_raises(fields, error, match):
    base = {"trial_id": "x", "number": 0, "params": {}, "state": "COMPLETE", "value": 1.0}
    with pytest.raises(error, match=match):
        TrialRecord(**{**base, **fields})


def test_trial_record_from_dict_with_unknown_keys_raises_config_error():
    with pytest.raises(ConfigError, match="unknown TrialRecord keys"):
        TrialRecord.from_dict({**make_trial(0).to_dict(), "colour": "red"})


def test_best_trials_returns_the_best_complete_trials_for_max_and_min():
    trials = mixed_trials(12)
    assert [t.number for t in best_trials(trials, n=3)] == [7, 6, 1]
    assert [t.number for t in best_trials(trials, n=3, mode="min")] == [0, 1, 6]
    assert best_trials(trials, n=0) == ()


def test_tracking_config_prefers_the_given_uri_then_the_environment_then_the_embedded_store(
    monkeypatch, tmp_path
):
    monkeypatch.setenv("TRADELAB_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    embedded = f"sqlite:///{(tmp_path / 'home' / 'mlflow.db').as_posix()}"
    assert TrackingConfig().resolved_uri() == embedded == embedded_tracking_uri()
    assert embedded.startswith("sqlite:////")
    assert (
        TrackingConfig().resolved_artifact_location()
        == (tmp_path / "home" / "mlartifacts").as_uri()
    )
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.internal:5000")
    assert TrackingConfig().resolved_uri() == "http://mlflow.internal:5000"
    assert TrackingConfig().resolved_artifact_location() is None
    assert TrackingConfig(tracking_uri="sqlite:////x/y.db").resolved_uri() == "sqlite:////x/y.db"


def test_tracking_config_makes_a_relative_sqlite_path_absolute(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    uri = TrackingConfig(tracking_uri="sqlite:///runs/mlflow.db").resolved_uri()
    assert uri == f"sqlite:///{(tmp_path / 'runs' / 'mlflow.db').as_posix()}"


def test_tracking_config_repr_masks_a_password_in_the_uri():
    config = TrackingConfig(tracking_uri="postgresql://trader:s3cret@db/mlflow")
    assert "s3cret" not in repr(config) and "trader:***@db" in repr(config)


@pytest.mark.parametrize(
    "fields",
    [
        {"experiment": ""},
        {"best_n_artifacts": -1},
        {"best_n_artifacts": True},
        {"tracking_uri": " "},
    ],
)
def test_tracking_config_with_invalid_values_raises_config_error(fields):
    with pytest.raises(ConfigError):
        TrackingConfig(**fields)


def test_finish_study_of_a_resumed_study_with_new_best_params_tags_the_latest_values(
    config, client
):
    first = StudyTracker(config)
    run_id = first.start_study(
        study="o'brien", strategy="sma_crossover", strategy_family="trend", settings={}
    )
    first.finish_study(status="KILLED", summary={"best_params": {"fast": 10}})
    second = StudyTracker(config)
    assert (
        second.start_study(
            study="o'brien", strategy="sma_crossover", strategy_family="trend", settings={}
        )
        == run_id
    )
    second.finish_study(summary={"best_params": {"fast": 12}})
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["best.fast"] == "10" and run.data.tags["latest.best.fast"] == "12"


def test_the_sqlite_store_is_in_write_ahead_log_mode_once_a_study_has_logged(study, config):
    import sqlite3
    from contextlib import closing

    from tradelab.tracking.config import sqlite_path

    path = sqlite_path(config.resolved_uri())
    with closing(sqlite3.connect(path)) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
