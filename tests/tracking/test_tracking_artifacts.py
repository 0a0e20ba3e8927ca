"""Trial artifacts from real backtests, in the embedded default store under $TRADELAB_HOME."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pytest
from mlflow import MlflowClient

from tests.tracking.tracking_helpers import make_trial
from tradelab.backtest import run_backtest
from tradelab.data import generate_bars
from tradelab.errors import ConfigError, UnknownNameError
from tradelab.tracking import StudyTracker, TrackingConfig

pytestmark = pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning")

SYNTHETIC = "SYNTHETIC data (generated, not market history): AAA"
FILES = {"equity.png", "equity.csv", "trades.csv", "tearsheet.html"}


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory):
    """$TRADELAB_HOME in a temporary directory, no $MLFLOW_TRACKING_URI, and another CWD."""
    root = tmp_path_factory.mktemp("artifacts")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TRADELAB_HOME", str(root / "home"))
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        (root / "cwd").mkdir()
        patch.chdir(root / "cwd")
        yield root


@pytest.fixture(scope="module")
def bars():
    return generate_bars("AAA", start="2018-01-01", end="2019-12-31", seed=7)


@pytest.fixture(scope="module")
def result(bars):
    return run_backtest(bars, "sma_crossover", notes=(SYNTHETIC,))


@pytest.fixture(scope="module")
def tracker(home):
    """A study in the embedded default store with three logged trials."""
    tracker = StudyTracker()
    tracker.start_study(
        study="artifacts",
        strategy="sma_crossover",
        strategy_family="trend",
        settings={"metric": "sharpe", "mode": "max"},
    )
    tracker.log_trials([make_trial(0), make_trial(1), make_trial(2, "FAILED")])
    return tracker


def _artifact_dir(tracker: StudyTracker, trial_id: str) -> Path:
    client = MlflowClient(tracker.config.resolved_uri())
    uri = client.get_run(tracker.trial_run_id(trial_id)).info.artifact_uri
    assert uri.startswith("file://")
    return Path(uri.removeprefix("file://"))


def test_the_default_store_is_a_sqlite_file_under_tradelab_home_with_artifacts_beside_it(
    tracker, home
):
    assert (home / "home" / "mlflow.db").is_file()
    assert TrackingConfig().resolved_uri() == f"sqlite:///{home / 'home' / 'mlflow.db'}"
    client = MlflowClient(tracker.config.resolved_uri())
    experiment = client.get_experiment(tracker.experiment_id)
    assert experiment.name == "tradelab-studies"
    assert experiment.artifact_location == (home / "home" / "mlartifacts").as_uri()
    assert not (home / "cwd" / "mlruns").exists()


def test_log_trial_artifacts_writes_png_csv_and_html_into_the_trial_run(tracker, result, home):
    tracker.log_trial_artifacts("t0001", result)
    directory = _artifact_dir(tracker, "t0001")
    assert directory.is_relative_to(home / "home" / "mlartifacts")
    assert {p.name for p in directory.iterdir()} == FILES
    assert (directory / "equity.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    equity = pd.read_csv(directory / "equity.csv")
    assert list(equity.columns) == ["timestamp", "equity", "drawdown", "benchmark"]
    assert len(equity) == len(result.equity)
    assert equity["equity"].iloc[-1] == pytest.approx(result.final_value)
    assert equity["drawdown"].min() == pytest.approx(result.metrics["max_drawdown"])
    assert len(pd.read_csv(directory / "trades.csv")) == len(result.trades) > 0
    tearsheet = (directory / "tearsheet.html").read_text(encoding="utf-8")
    assert "SYNTHETIC data - sma_crossover" in tearsheet and "artifacts trial 1" in tearsheet
    # Only the chosen trial gets artifacts.
    assert list(_artifact_dir(tracker, "t0000").glob("*")) == []


def test_log_trial_artifacts_falls_back_to_a_metrics_table_when_quantstats_fails(
    tracker, bars, caplog
):
    # 31 bars and no trade: flat returns, on which quantstats' regression raises.
    flat = run_backtest(bars.iloc[:31], "sma_crossover")
    with caplog.at_level(logging.WARNING, logger="tradelab.tracking"):
        tracker.log_trial_artifacts("t0000", flat)
    directory = _artifact_dir(tracker, "t0000")
    assert {p.name for p in directory.iterdir()} == FILES
    page = (directory / "tearsheet.html").read_text(encoding="utf-8")
    assert "The full tear sheet could not be built" in page and "Sharpe ratio" in page
    assert "SYNTHETIC" not in page
    assert any("quantstats could not build the tear sheet" in r.message for r in caplog.records)


def test_log_trial_artifacts_for_an_unlogged_trial_raises_with_did_you_mean(tracker, result):
    with pytest.raises(UnknownNameError, match="Did you mean 't0001'"):
        tracker.log_trial_artifacts("t0011", result)


def test_log_trial_artifacts_with_something_other_than_a_result_raises_config_error(tracker):
    with pytest.raises(ConfigError, match="BacktestResult"):
        tracker.log_trial_artifacts("t0001", {"equity": [1, 2, 3]})
