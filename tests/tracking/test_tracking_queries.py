"""Queries over a real MLflow SQLite store holding several studies, and exporting their frames."""

from __future__ import annotations

import json
import math
import time

import pandas as pd
import pytest
from mlflow import MlflowClient

from tests.tracking.tracking_helpers import make_trial, mixed_trials, sqlite_uri
from tradelab.errors import ConfigError, UnknownNameError
from tradelab.tracking import (
    COMPARE_COLUMNS,
    STUDY_COLUMNS,
    StudyTracker,
    TrackingConfig,
    compare_strategies,
    export_frame,
    list_studies,
    study_trials,
)

pytestmark = pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning")

# study, strategy, family, project, asset class, how it ends, trials
STUDIES = (
    ("trend-a", "sma_crossover", "trend", "alpha", "equity", "FINISHED", 12),
    ("trend-b", "macd_trend", "trend", "alpha", "equity", "FINISHED", 6),
    ("revert-a", "rsi_mean_reversion", "mean_reversion", "beta", "futures", "FAILED", 6),
    ("breakout-a", "donchian_breakout", "breakout", "beta", "equity", None, 6),
)
LEGACY_DAYS = 40


@pytest.fixture(scope="module")
def uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One store for the module (migrations are slow) with five studies in it."""
    uri = sqlite_uri(tmp_path_factory.mktemp("queries"))
    config = TrackingConfig(tracking_uri=uri)
    for offset, (study, strategy, family, project, asset, status, count) in enumerate(STUDIES):
        tracker = StudyTracker(config)
        tracker.start_study(
            study=study,
            strategy=strategy,
            strategy_family=family,
            project=project,
            asset_class=asset,
            settings={"metric": "sharpe", "mode": "max"},
        )
        # Shift each strategy's numbers so the best trial differs per strategy.
        trials = [_shifted(t, offset) for t in mixed_trials(count, prefix=f"{study}-")]
        if study == "trend-a":
            # A FAILED trial with a huge sharpe and a COMPLETE one without sharpe: neither wins.
            trials.append(make_trial(40, "FAILED", prefix=f"{study}-", metrics={"sharpe": 99.0}))
            trials.append(make_trial(41, prefix=f"{study}-", metrics={"calmar": 1.0}))
        tracker.log_trials(trials)
        if status:
            tracker.finish_study(status=status, summary={"efficiency": 0.5})
    _legacy_study(uri)
    return uri


def _shifted(trial, offset):
    data = trial.to_dict()
    data["metrics"]["sharpe"] = data["metrics"]["sharpe"] + offset
    if data["value"] is not None:
        data["value"] += offset
    return type(trial).from_dict(data)


def _legacy_study(uri: str) -> None:
    """A study started 40 days ago, written with MLflow directly (the tracker stamps now)."""
    client = MlflowClient(uri)
    experiment_id = client.get_experiment_by_name("tradelab-studies").experiment_id
    started = int((time.time() - LEGACY_DAYS * 86_400) * 1000)
    identity = {
        "project": "alpha",
        "asset_class": "equity",
        "strategy_family": "mean_reversion",
        "strategy": "bollinger_reversion",
        "study": "legacy",
    }
    parent = client.create_run(
        experiment_id,
        start_time=started,
        run_name="legacy",
        tags={**identity, "tradelab.kind": "study"},
    )
    client.set_terminated(parent.info.run_id, "FINISHED", end_time=started + 60_000)
    child = client.create_run(
        experiment_id,
        start_time=started,
        run_name="legacy-trial-0000",
        tags={
            **identity,
            "tradelab.kind": "trial",
            "state": "COMPLETE",
            "trial_id": "legacy-0",
            "trial_number": "0",
            "mlflow.parentRunId": parent.info.run_id,
        },
    )
    client.log_metric(child.info.run_id, "sharpe", 50.0)
    client.set_terminated(child.info.run_id, "FINISHED", end_time=started + 1000)


def _studies(frame: pd.DataFrame) -> set[str]:
    return set(frame["study"])


def test_list_studies_without_filters_returns_every_study_newest_first(uri):
    frame = list_studies(tracking_uri=uri)
    assert tuple(frame.columns) == STUDY_COLUMNS
    assert _studies(frame) == {s[0] for s in STUDIES} | {"legacy"}
    assert frame["start_time"].is_monotonic_decreasing
    assert frame["study"].iloc[-1] == "legacy"


def test_list_studies_reports_trials_best_value_metric_and_status(uri):
    row = list_studies(tracking_uri=uri).set_index("study").loc["trend-a"]
    assert row["strategy"] == "sma_crossover" and row["family"] == "trend"
    assert row["trials"] == 14 and row["best_value"] == pytest.approx(4.1)  # trial 41
    assert row["metric"] == "sharpe" and row["mode"] == "max" and row["status"] == "FINISHED"
    assert row["duration_s"] >= 0 and len(row["run_id"]) == 32


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"project": "alpha"}, {"trend-a", "trend-b", "legacy"}),
        ({"asset_class": "futures"}, {"revert-a"}),
        ({"strategy_family": "trend"}, {"trend-a", "trend-b"}),
        ({"strategy": "macd_trend"}, {"trend-b"}),
        ({"status": "FINISHED"}, {"trend-a", "trend-b", "legacy"}),
        ({"status": "running"}, {"breakout-a"}),
        ({"status": "FAILED"}, {"revert-a"}),
        ({"last_days": 7}, {"trend-a", "trend-b", "revert-a", "breakout-a"}),
        ({"last_days": LEGACY_DAYS + 1}, {s[0] for s in STUDIES} | {"legacy"}),
        ({"project": "alpha", "status": "FINISHED", "last_days": 7}, {"trend-a", "trend-b"}),
        ({"project": "gamma"}, set()),
    ],
)
def test_list_studies_with_filters_keeps_only_the_matching_studies(uri, filters, expected):
    assert _studies(list_studies(tracking_uri=uri, **filters)) == expected


def test_list_studies_with_an_unknown_status_raises_with_did_you_mean(uri):
    with pytest.raises(UnknownNameError, match="Did you mean 'FINISHED'"):
        list_studies(status="FINISHD", tracking_uri=uri)


def test_list_studies_with_a_non_positive_last_days_raises_config_error(uri):
    with pytest.raises(ConfigError, match="last_days"):
        list_studies(last_days=0, tracking_uri=uri)


def test_list_studies_in_a_missing_named_experiment_raises_unknown_name(uri):
    with pytest.raises(UnknownNameError, match="Did you mean 'tradelab-studies'"):
        list_studies(tracking_uri=uri, experiment="tradelab-studie")


def test_study_trials_returns_one_row_per_trial_with_params_and_metrics_columns(uri):
    frame = study_trials("trend-a", tracking_uri=uri)
    assert len(frame) == 14 and list(frame["number"]) == [*range(12), 40, 41]
    assert list(frame.columns[:4]) == ["number", "trial_id", "state", "value"]
    assert frame.columns[-1] == "run_id"
    assert {"param.fast", "param.slow", "param.sizing", "metric.sharpe"} <= set(frame.columns)
    assert frame["param.fast"].dtype.kind == "i" and frame["param.sizing"].iloc[0] == "percent"
    first = frame.iloc[1]
    assert first["trial_id"] == "trend-a-0001" and first["state"] == "COMPLETE"
    assert first["value"] == pytest.approx(0.1) and first["metric.sharpe"] == pytest.approx(0.1)
    assert first["param.fast"] == 6 and first["backtests"] == 4 and first["cpu_s"] == 2.0
    assert math.isnan(frame.iloc[2]["value"]) and frame.iloc[3]["error"].startswith("Traceback")


def test_study_trials_with_a_state_keeps_only_trials_in_that_state(uri):
    frame = study_trials("trend-a", state="error", tracking_uri=uri)
    assert set(frame["state"]) == {"ERROR"} and list(frame["number"]) == [3, 9]


def test_study_trials_of_an_unknown_study_raises_with_did_you_mean(uri):
    with pytest.raises(UnknownNameError, match="Did you mean 'trend-a'") as caught:
        study_trials("trnd-a", tracking_uri=uri)
    assert caught.value.kind == "study" and "breakout-a" in caught.value.choices


def test_study_trials_with_an_unknown_state_raises_with_did_you_mean(uri):
    with pytest.raises(UnknownNameError, match="Did you mean 'STOPPED'"):
        study_trials("trend-a", state="STOPED", tracking_uri=uri)


def test_compare_strategies_picks_the_best_complete_trial_per_strategy_highest_first(uri):
    frame = compare_strategies("sharpe", tracking_uri=uri)
    assert tuple(frame.columns) == COMPARE_COLUMNS
    best = dict(zip(frame["strategy"], frame["best"], strict=True))
    # Offsets 0..3 per study; COMPLETE numbers: trend-a up to 7, the others up to 1.
    assert best == pytest.approx(
        {
            "sma_crossover": 0.7,
            "macd_trend": 1.1,
            "rsi_mean_reversion": 2.1,
            "donchian_breakout": 3.1,
            "bollinger_reversion": 50.0,
        }
    )
    assert list(frame["best"]) == sorted(frame["best"], reverse=True)
    row = frame.set_index("strategy").loc["sma_crossover"]
    assert row["study"] == "trend-a" and row["trial_id"] == "trend-a-0007"
    assert json.loads(row["params"]) == {"fast": 12, "sizing": "percent", "slow": 47}


def test_compare_strategies_with_min_mode_picks_the_lowest_value_lowest_first(uri):
    frame = compare_strategies("max_drawdown", mode="min", tracking_uri=uri)
    best = dict(zip(frame["strategy"], frame["best"], strict=True))
    assert best["sma_crossover"] == pytest.approx(-0.07)  # trial 7, the deepest COMPLETE one
    assert best["macd_trend"] == pytest.approx(-0.01)
    assert "bollinger_reversion" not in best  # its only trial has no max_drawdown
    assert list(frame["best"]) == sorted(frame["best"])


def test_compare_strategies_with_project_and_last_days_filters_the_trials(uri):
    alpha = compare_strategies("sharpe", project="alpha", tracking_uri=uri)
    assert set(alpha["strategy"]) == {"sma_crossover", "macd_trend", "bollinger_reversion"}
    recent = compare_strategies("sharpe", project="alpha", last_days=7, tracking_uri=uri)
    assert set(recent["strategy"]) == {"sma_crossover", "macd_trend"}


def test_compare_strategies_with_an_unknown_metric_raises_with_did_you_mean(uri):
    with pytest.raises(UnknownNameError, match="Did you mean 'sharpe'") as caught:
        compare_strategies("sharpee", tracking_uri=uri)
    assert caught.value.kind == "metric" and "sortino" in caught.value.choices


def test_compare_strategies_with_a_bad_mode_raises_config_error(uri):
    with pytest.raises(ConfigError, match="mode"):
        compare_strategies("sharpe", mode="best", tracking_uri=uri)


# ---- export ---------------------------------------------------------------------------------


def test_export_frame_to_csv_round_trips(uri, tmp_path):
    frame = study_trials("trend-a", tracking_uri=uri)
    path = export_frame(frame, tmp_path / "out" / "trials.csv")
    assert path == (tmp_path / "out" / "trials.csv").resolve()
    back = pd.read_csv(path)
    assert list(back.columns) == list(frame.columns)
    pd.testing.assert_frame_equal(back, frame, check_dtype=False)


def test_export_frame_to_json_writes_records_with_null_for_nan(uri, tmp_path):
    frame = list_studies(tracking_uri=uri)
    path = export_frame(frame, tmp_path / "studies.json")
    records = json.loads(path.read_text())
    assert len(records) == len(frame) and list(records[0]) == list(STUDY_COLUMNS)
    by_study = {r["study"]: r for r in records}
    assert by_study["legacy"]["best_value"] is None
    assert (
        pd.Timestamp(by_study["trend-a"]["start_time"])
        == frame.set_index("study").loc["trend-a", "start_time"]
    )
    back = pd.DataFrame(records)
    assert back["trials"].tolist() == frame["trials"].tolist()
    assert back["run_id"].tolist() == frame["run_id"].tolist()


def test_export_frame_with_an_unknown_suffix_raises_config_error_and_writes_nothing(tmp_path):
    with pytest.raises(ConfigError, match=r"\.csv or \.json"):
        export_frame(pd.DataFrame({"a": [1]}), tmp_path / "frame.xlsx")
    assert list(tmp_path.iterdir()) == []


def test_export_frame_that_fails_midway_leaves_the_old_file_and_no_partial_file(tmp_path):
    path = tmp_path / "frame.json"
    export_frame(pd.DataFrame({"a": [1, 2]}), path)
    before = path.read_text()
    bad = pd.DataFrame({"a": [1, 2], "b": [object(), object()]})
    with pytest.raises(ConfigError, match="column 'b'"):
        export_frame(bad, path)
    assert path.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["frame.json"]
