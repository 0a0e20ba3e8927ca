"""Walk-forward analysis and study diagnostics end to end on the session's local Ray.

Data: AAA, BBB synthetic daily bars 2016-2018 (tests/cluster/conftest.py)."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from tradelab.cli.main import main

pytestmark = pytest.mark.integration

TEST_WINDOWS = [
    ("2017-01-01", "2017-06-30"),
    ("2017-07-01", "2017-12-31"),
    ("2018-01-01", "2018-06-30"),
    ("2018-07-01", "2018-12-31"),
]


@pytest.fixture(scope="module")
def space_file(tmp_path_factory):
    """A narrow space, so that most trials on one year of data trade and complete."""
    path = tmp_path_factory.mktemp("wfa-space") / "space.json"
    path.write_text(
        json.dumps(
            {
                "params": {
                    "fast": {"type": "int", "low": 5, "high": 20},
                    "slow": {"type": "int", "low": 25, "high": 60, "step": 5},
                }
            }
        )
    )
    return str(path)


@pytest.fixture(scope="module")
def analysis(ray_session, space_file, tmp_path_factory):
    """`tradelab walkforward` on AAA, BBB: rolling, train 1y, test 6m → 4 windows; returns the
    results directory and what the command printed."""
    import contextlib
    import io
    import os

    results = tmp_path_factory.mktemp("wfa-results")
    previous = os.environ.get("TRADELAB_RESULTS")
    os.environ["TRADELAB_RESULTS"] = str(results)
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            code = main(
                [
                    "walkforward",
                    "--strategy",
                    "sma_crossover",
                    "--symbols",
                    "AAA",
                    "BBB",
                    "--train",
                    "1y",
                    "--test",
                    "6m",
                    "--trials",
                    "4",
                    "--search",
                    "random",
                    "--seed",
                    "3",
                    "--space-file",
                    space_file,
                    "--name",
                    "wfa-e2e",
                ]
            )
    finally:
        if previous is None:
            os.environ.pop("TRADELAB_RESULTS", None)
        else:
            os.environ["TRADELAB_RESULTS"] = previous
    assert code == 0, printed.getvalue()
    return results, printed.getvalue()


def test_walkforward_prints_the_tables_and_writes_the_report(analysis):
    results, printed = analysis
    for heading in (
        "walk-forward wfa-e2e: 4 windows x 4 trials x 2 symbols",
        "trials] windows",
        "window 3: test 2018-07-01",
        "Out-of-sample summary",
        "walk-forward efficiency",
        "Windows — optimized in sample",
        "Parameter drift across windows",
        "Regimes — the stitched OOS returns",
        "SYNTHETIC data",
        "MLflow:",
    ):
        assert heading in printed, heading
    assert (results / "walkforward" / "wfa-e2e" / "report.html").is_file()
    saved = json.loads((results / "walkforward" / "wfa-e2e" / "result.json").read_text())
    assert [(w["test_start"], w["test_end"]) for w in saved["windows"]] == TEST_WINDOWS


def test_mlflow_holds_the_parent_and_a_child_per_window_with_the_contract_fields(analysis):
    from tradelab.tracking import walkforward_detail, walkforward_runs
    from tradelab.tracking.walkforward import PARENT_METRICS, WINDOW_RUN_METRICS

    runs = walkforward_runs(strategy="sma_crossover")
    row = runs[runs["name"] == "wfa-e2e"].iloc[0]
    assert row["status"] == "FINISHED" and row["windows"] == 4.0
    assert (row["train"], row["test"], row["step"], row["trials"]) == ("1y", "6m", "6m", 4)
    assert math.isfinite(row["oos_sharpe"]) and math.isfinite(row["is_sharpe"])
    detail = walkforward_detail("wfa-e2e")
    assert detail["params"]["symbols"] == ["AAA", "BBB"] and detail["params"]["anchored"] is False
    assert set(PARENT_METRICS) <= set(detail["metrics"])
    windows = detail["windows"]
    assert windows["window"].tolist() == [0, 1, 2, 3]
    assert list(zip(windows["test_start"], windows["test_end"], strict=True)) == TEST_WINDOWS
    assert windows["train_start"].tolist() == [
        "2016-01-01",
        "2016-07-01",
        "2017-01-01",
        "2017-07-01",
    ]
    assert (pd.to_datetime(windows["train_end"]) < pd.to_datetime(windows["test_start"])).all()
    assert set(WINDOW_RUN_METRICS) <= set(windows.columns)
    assert all(set(p) == {"fast", "slow"} for p in windows["best_params"])
    assert (windows["status"] == "FINISHED").all()
    assert len(detail["window_rows"]) == 4 and "<html" in detail["report_html"]


def test_the_stitched_oos_equity_is_continuous_and_covers_exactly_the_test_windows(
    analysis, tradelab_home
):
    from tradelab.data import ParquetStore
    from tradelab.tracking import walkforward_detail

    detail = walkforward_detail("wfa-e2e")
    equity = detail["oos_equity"]
    store = ParquetStore(tradelab_home)
    days = set()
    for symbol in ("AAA", "BBB"):
        stamps = store.read_arrays(symbol, start="2017-01-01", end="2018-12-31")["timestamp"]
        days |= set(pd.to_datetime(stamps, utc=True).normalize())
    assert list(equity.index) == sorted(days)  # every test bar once, no train bar, in order
    steps = equity.to_numpy()[1:] / equity.to_numpy()[:-1] - 1.0
    assert np.abs(steps).max() < 0.05  # no jump where windows meet (no reset to the cash)
    windows = detail["windows"]
    previous = 100_000.0
    for _, window in windows.iterrows():  # each window's OOS return compounds the curve
        inside = equity[
            (equity.index >= pd.Timestamp(window["test_start"], tz="UTC"))
            & (equity.index <= pd.Timestamp(window["test_end"], tz="UTC"))
        ]
        assert inside.iloc[-1] / previous - 1.0 == pytest.approx(
            window["oos_total_return"], rel=1e-9, abs=1e-12
        )
        previous = inside.iloc[-1]


def test_data_after_a_window_cannot_change_it(analysis, ray_session, space_file):
    """No look-ahead: cutting the last test period off leaves every earlier window's choice
    and its IS and OOS results identical."""
    from cluster.walkforward import WalkForwardConfig, walk_forward
    from tradelab.tracking import walkforward_detail

    shorter = walk_forward(
        WalkForwardConfig(
            strategy="sma_crossover",
            symbols=("AAA", "BBB"),
            train="1y",
            test="6m",
            trials=4,
            search="random",
            seed=3,
            space_file=space_file,
            end="2018-06-30",
            name="wfa-e2e-short",
        ),
        verbose=False,
    )
    full = walkforward_detail("wfa-e2e")["windows"]
    assert len(shorter.windows) == 3
    for window in shorter.windows:
        other = full.iloc[window.window.index]
        assert dict(window.best_params) == other["best_params"]
        for name in ("sharpe", "total_return", "num_trades"):
            assert window.is_metrics[name] == pytest.approx(other[f"is_{name}"])
            assert window.oos_metrics[name] == pytest.approx(other[f"oos_{name}"])


def test_report_on_a_finished_study_prints_the_tables_and_writes_html(
    ray_session, tmp_path, capsys
):
    from cluster import OptimizeConfig, optimize, study_dir

    optimize(
        OptimizeConfig(
            strategy="sma_crossover",
            symbols=("AAA", "BBB"),
            trials=6,
            seed=4,
            folds=2,
            study="report-e2e",
            best_n_artifacts=0,
        ),
        verbose=False,
    )
    capsys.readouterr()
    html, out = tmp_path / "report.html", tmp_path / "diag.json"
    assert main(["report", "report-e2e", "--html", str(html), "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    for heading in (
        "Probability of backtest overfitting",
        "PBO",
        "DSR",
        "PSR (SR > 0)",
        "Robustness",
        "Per-parameter sensitivity",
        "Regimes",
    ):
        assert heading in printed, heading
    assert "Probability of backtest overfitting" in html.read_text()
    data = json.loads(out.read_text())
    assert 0.0 <= data["pbo"]["pbo"] <= 1.0 and data["trials_in_matrix"] >= 2
    assert data["observations"] > 700  # 2016-2018, two folds back to back
    assert (study_dir("report-e2e") / "diagnostics" / "returns.parquet").is_file()
    assert main(["report", "report-e2e", "--html", str(html)]) == 0
    assert "(cached in" in capsys.readouterr().out


def test_report_on_an_unknown_study_fails_with_a_clear_message(ray_session, capsys):
    assert main(["report", "report-e2f"]) == 2
    assert "unknown finished study 'report-e2f'" in capsys.readouterr().err
