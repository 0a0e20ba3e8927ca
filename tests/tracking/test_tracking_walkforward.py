"""The walk-forward MLflow contract the viewer reads, on a real SQLite MLflow store."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from tradelab.errors import ConfigError, UnknownNameError
from tradelab.tracking import (
    TrackingConfig,
    WalkForwardTracker,
    walkforward_detail,
    walkforward_runs,
)
from tradelab.tracking.walkforward import (
    ANALYSIS_TAG,
    OOS_EQUITY_ARTIFACT,
    PARENT_METRICS,
    WINDOW_RUN_METRICS,
    WINDOWS_ARTIFACT,
)

PARAMS = {
    "strategy": "sma_crossover",
    "symbols": ["AAA", "BBB"],
    "train": "1y",
    "test": "6m",
    "step": "6m",
    "anchored": False,
    "trials": 8,
    "metric": "sharpe",
}


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """One SQLite store (a fresh store runs MLflow's migrations: seconds) with one analysis."""
    uri = f"sqlite:///{tmp_path_factory.mktemp('wfa-mlflow') / 'mlflow.db'}"
    tracker = WalkForwardTracker(TrackingConfig(tracking_uri=uri))
    tracker.start(name="wfa-one", params=PARAMS, tags={"strategy": "sma_crossover"})
    for index in range(2):
        tracker.log_window(
            window={
                "window": index,
                "train_start": f"201{6 + index}-01-01",
                "train_end": f"201{6 + index}-12-31",
                "test_start": f"201{7 + index}-01-01",
                "test_end": f"201{7 + index}-06-30",
            },
            best_params={"fast": 10 + index, "slow": 40},
            metrics={
                "is_sharpe": 1.0 + index,
                "oos_sharpe": 0.5,
                "oos_cagr": None,
                "is_objective": 1.2,
            },
        )
    equity = pd.Series(
        [100.0, 101.0, 100.5], index=pd.date_range("2017-01-02", periods=3, freq="B", tz="UTC")
    )
    tracker.finish(
        metrics={
            "wfe": float("nan"),
            "oos_sharpe": 0.4,
            "oos_cagr": 0.02,
            "oos_max_drawdown": -0.05,
            "is_sharpe": 1.5,
            "windows": 2,
            "oos_psr": 0.7,
        },
        oos_equity=equity,
        windows=[{"window": 0}, {"window": 1}],
        report_html="<html>r</html>",
    )
    return uri


def test_runs_list_the_analysis_with_every_contract_column(store):
    runs = walkforward_runs(tracking_uri=store)
    assert runs["name"].tolist() == ["wfa-one"]
    row = runs.iloc[0]
    assert row["symbols"] == ["AAA", "BBB"] and row["trials"] == 8
    assert runs["anchored"].tolist() == [False]
    assert (row["train"], row["test"], row["step"]) == ("1y", "6m", "6m")
    assert row["status"] == "FINISHED"
    assert math.isnan(row["wfe"]) and row["oos_sharpe"] == 0.4 and row["windows"] == 2.0
    assert walkforward_runs(strategy="macd_trend", tracking_uri=store).empty


def test_detail_has_the_windows_the_equity_and_the_artifacts(store):
    detail = walkforward_detail("wfa-one", tracking_uri=store)
    windows = detail["windows"]
    assert windows["window"].tolist() == [0, 1]
    assert windows.loc[1, "best_params"] == {"fast": 11, "slow": 40}
    assert windows.loc[0, "test_start"] == "2017-01-01"
    assert set(WINDOW_RUN_METRICS) <= set(windows.columns)
    assert windows.loc[1, "is_sharpe"] == 2.0 and math.isnan(windows.loc[0, "oos_cagr"])
    assert detail["oos_equity"].tolist() == [100.0, 101.0, 100.5]
    assert str(detail["oos_equity"].index.tz) == "UTC"
    assert detail["window_rows"] == [{"window": 0}, {"window": 1}]
    assert detail["report_html"] == "<html>r</html>"
    assert set(PARENT_METRICS) <= set(detail["metrics"])
    assert detail["params"]["symbols"] == ["AAA", "BBB"] and detail["params"]["trials"] == 8


def test_the_raw_runs_carry_the_contract_tags_and_artifact_names(store):
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=store)
    runs = client.search_runs([client.get_experiment_by_name("tradelab-studies").experiment_id])
    parent = next(r for r in runs if r.data.tags.get("tradelab.kind") == "walkforward")
    children = [r for r in runs if r.data.tags.get("tradelab.kind") == "walkforward_window"]
    assert parent.data.tags[ANALYSIS_TAG] == "wfa-one" and len(children) == 2
    assert all(c.data.tags["mlflow.parentRunId"] == parent.info.run_id for c in children)
    assert {"window", "train_start", "train_end", "test_start", "test_end", "best_params"} <= set(
        children[0].data.params
    )
    assert json.loads(children[0].data.params["best_params"])["slow"] == 40
    names = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {OOS_EQUITY_ARTIFACT, WINDOWS_ARTIFACT, "report.html"} <= names


def test_a_second_analysis_of_the_same_name_and_unknown_names_are_refused(store):
    tracker = WalkForwardTracker(TrackingConfig(tracking_uri=store))
    with pytest.raises(ConfigError, match="exists already"):
        tracker.start(name="wfa-one", params=PARAMS)
    with pytest.raises(ConfigError, match="miss"):
        tracker.start(name="wfa-two", params={"strategy": "x"})
    with pytest.raises(UnknownNameError, match="Did you mean 'wfa-one'"):
        walkforward_detail("wfa-on", tracking_uri=store)
