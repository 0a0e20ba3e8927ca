"""Every page of the viewer under Streamlit's AppTest: on an empty store (friendly states), and
on a real store filled by real studies, with a real LiveTrader and a real Ray dashboard."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from tests.viewer.conftest import Stack

PAGES = ("studies", "study", "run", "compare", "walkforward", "live", "health")
TITLES = {
    "studies": "Studies",
    "study": "Study",
    "run": "Run",
    "compare": "Compare",
    "walkforward": "Walk-forward",
    "live": "Live",
    "health": "Health",
}


def texts(app, kind: str) -> list[str]:
    return [element.value for element in getattr(app, kind)]


def charts(app) -> list[dict]:
    """The Plotly figures on the page (their JSON specs)."""
    return [json.loads(chart.proto.spec) for chart in app.get("plotly_chart")]


def array(value) -> list:
    """A trace's data array (Plotly 6 sends numeric arrays base64-encoded as ``bdata``)."""
    if isinstance(value, dict) and "bdata" in value:
        import base64

        import numpy as np

        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"]).tolist()
    return list(value)


def chart_titles(app) -> list[str]:
    return [(spec.get("layout", {}).get("title") or {}).get("text", "") for spec in charts(app)]


def assert_clean(app, page: str) -> None:
    """The page's title, and neither an exception block nor an error message."""
    assert texts(app, "title") == [TITLES[page]]
    assert not app.exception, [e.value for e in app.exception]
    assert not app.error, texts(app, "error")


# ---- empty store ----------------------------------------------------------------------------

EMPTY_STATES = {
    "studies": "No optimization studies yet",
    "study": "No optimization studies yet",
    "run": "No optimization studies yet",
    "compare": "No optimization studies yet",
    "walkforward": "No walk-forward analyses yet",
    "live": "No live trader running",
    "health": "No market data in",
}


@pytest.mark.parametrize("page", PAGES)
def test_every_page_on_an_empty_store_shows_a_friendly_state_without_a_traceback(
    page, open_page, empty_env, tmp_path
):
    app = open_page(page, env=empty_env)
    assert_clean(app, page)
    assert any(EMPTY_STATES[page] in text for text in texts(app, "info")), texts(app, "info")
    assert not (tmp_path / "no-home").exists(), "the viewer created the data root"


def test_health_on_an_empty_store_says_which_services_are_missing(open_page, empty_env):
    app = open_page("health", env=empty_env)
    infos = " ".join(texts(app, "info"))
    assert "no live trader running" in infos and "no Ray cluster answering" in infos
    assert any("no tracking store yet" in text for text in texts(app, "info"))


# ---- a real store -----------------------------------------------------------------------------


@pytest.mark.integration
def test_studies_lists_every_study_and_filters_by_strategy_and_project(open_page, stack: Stack):
    app = open_page("studies", env=stack.env())
    assert_clean(app, "studies")
    table = app.dataframe[0].value
    assert set(table["study"]) == {"viewer-sma", "viewer-donchian"}
    sma = table.set_index("study").loc["viewer-sma"]
    assert sma["trials"] == 8 and sma["strategy"] == "sma_crossover"
    assert sma["objective"] == "sharpe (max)" and sma["status"] == "FINISHED"
    assert pd.notna(sma["best"])
    assert [m.value for m in app.metric][:2] == ["2 of 2", "12"]
    app.multiselect(key="filter_strategy").set_value(["donchian_breakout"]).run()
    assert list(app.dataframe[0].value["study"]) == ["viewer-donchian"]
    app.multiselect(key="filter_strategy").set_value([]).run()
    app.multiselect(key="filter_project").set_value(["viewer"]).run()
    assert list(app.dataframe[0].value["study"]) == ["viewer-sma"]
    assert [b.label for b in app.get("download_button")] == ["Download CSV"]


@pytest.mark.integration
def test_study_shows_trials_history_importances_heatmap_parallel_and_robustness(
    open_page, stack: Stack
):
    app = open_page("study", env=stack.env(), query={"study": "viewer-sma"})
    assert_clean(app, "study")
    trials = app.dataframe[0].value
    assert len(trials) == 8 and set(trials.columns) >= {
        "number",
        "state",
        "fast",
        "slow",
        "objective (sharpe)",
        "cagr",
    }
    assert "INFEASIBLE" in set(trials["state"])  # the point tried first breaks fast < slow
    titles = chart_titles(app)
    assert titles[:2] == ["sharpe by trial", "parameter importance (fANOVA)"]
    assert titles[2].startswith("mean sharpe by fast and slow")
    assert titles[3] == "trials across parameters"
    assert titles[4].startswith("top trials vs their nearest neighbours")
    history = charts(app)[0]["data"]
    best = array(history[1]["y"])
    assert best == sorted(best)  # best so far never falls (max)
    importance = charts(app)[1]["data"][0]
    assert sorted(array(importance["y"])) == ["fast", "slow"]
    assert sum(array(importance["x"])) == pytest.approx(1.0)
    robust = app.dataframe[1].value
    assert list(robust.columns[:3]) == ["number", "value", "neighbours"]
    assert robust["value"].is_monotonic_decreasing
    app.multiselect(key="trial_states").set_value(["COMPLETE"]).run()
    assert set(app.dataframe[0].value["state"]) == {"COMPLETE"}
    assert [b.label for b in app.get("download_button")] == ["Download CSV (every column)"]


@pytest.mark.integration
def test_run_shows_metrics_equity_monthly_trades_and_the_logged_tear_sheet(open_page, stack: Stack):
    app = open_page("run", env=stack.env(), query={"study": "viewer-sma"})
    assert_clean(app, "run")
    assert [t.label for t in app.tabs] == [
        "Equity",
        "Metrics",
        "Monthly returns",
        "Trades",
        "Tear sheet",
    ]
    metrics = app.dataframe[0].value.set_index("name")
    assert list(metrics.columns[:3]) == ["metric", "trial (mean)", "AAA backtest"]
    assert metrics.loc["sharpe", "metric"] == "Sharpe ratio"
    assert metrics.loc["max_drawdown", "AAA backtest"].endswith("%")
    titles = chart_titles(app)
    assert titles[0].startswith("viewer-sma #") and "on AAA" in titles[0]
    assert titles[1] == "monthly returns (%)"
    equity = charts(app)[0]["data"]
    assert [trace["name"] for trace in equity] == ["strategy", "buy & hold", "drawdown %"]
    trades = app.dataframe[1].value
    assert len(trades) >= 1 and {"entry_time", "exit_time", "pnl"} <= set(trades.columns)
    frames = app.get("iframe")  # the best trial's tear sheet, logged by the study
    assert len(frames) == 1 and "QuantStats" in frames[0].proto.srcdoc
    assert [b.label for b in app.get("download_button")] == [
        "Download trades CSV",
        "Download the tear sheet (HTML)",
    ]
    assert any("SYNTHETIC" in text for text in texts(app, "warning"))


@pytest.mark.integration
def test_run_builds_a_tear_sheet_on_request_for_a_trial_without_one(open_page, stack: Stack):
    from tradelab.tracking import study_trials

    trials = study_trials("viewer-sma", tracking_uri=stack.uri)
    done = trials[trials["state"] == "COMPLETE"].sort_values("value")
    worst = done.iloc[0]["run_id"]  # not among the best 3: no artifacts logged
    app = open_page(
        "run", env=stack.env(), query={"study": "viewer-sma", "run": worst, "symbol": "BBB"}
    )
    assert_clean(app, "run")
    metrics = app.dataframe[0].value
    assert list(metrics.columns[:4]) == ["metric", "name", "trial (mean)", "BBB backtest"]
    assert not app.get("iframe")
    app.button(key="build_sheet").click().run()
    assert_clean(app, "run")
    frames = app.get("iframe")
    assert len(frames) == 1 and "QuantStats" in frames[0].proto.srcdoc
    assert "Built now from the re-run." in texts(app, "caption")


@pytest.mark.integration
def test_run_of_an_infeasible_trial_explains_why_there_is_no_curve(open_page, stack: Stack):
    from tradelab.tracking import study_trials

    trials = study_trials("viewer-sma", tracking_uri=stack.uri)
    infeasible = trials[trials["state"] == "INFEASIBLE"].iloc[0]["run_id"]
    app = open_page("run", env=stack.env(), query={"study": "viewer-sma", "run": infeasible})
    assert_clean(app, "run")
    warnings = " ".join(texts(app, "warning"))
    assert "cannot be shown" in warnings and "slow" in warnings
    assert not app.get("plotly_chart")


@pytest.mark.integration
def test_the_rerun_curve_is_the_one_the_study_logged(stack: Stack):
    """The Run page re-runs backtests instead of reading artifacts: for a trial with logged
    artifacts, the two agree (same timestamps, equity and trades)."""
    import io

    from tradelab.tracking import study_trials
    from tradelab.viewer import _runs, _tracking

    trials = study_trials("viewer-sma", tracking_uri=stack.uri)
    best = trials[trials["state"] == "COMPLETE"].sort_values("value").iloc[-1]["run_id"]
    run = _tracking.run_record(stack.uri, best)
    assert "equity.csv" in run.artifacts
    study = _tracking.study_record(stack.uri, "viewer-sma")
    curve = _runs.trial_backtest(str(stack.home), stack.uri, study, run, "AAA")
    logged = pd.read_csv(io.BytesIO(_tracking.artifact_bytes(stack.uri, best, "equity.csv")))
    assert len(logged) == len(curve.equity)
    assert (
        pd.to_datetime(logged["timestamp"], utc=True).to_numpy()
        == curve.equity["timestamp"].to_numpy()
    ).all()
    assert logged["equity"].to_numpy() == pytest.approx(curve.equity["equity"].to_numpy())
    trades = pd.read_csv(io.BytesIO(_tracking.artifact_bytes(stack.uri, best, "trades.csv")))
    assert trades["pnl"].to_numpy() == pytest.approx(curve.trades["pnl"].to_numpy())
    assert curve.source == "re-run" and "sharpe" in curve.metrics


@pytest.mark.integration
def test_without_the_bars_the_run_falls_back_to_the_logged_curve_or_says_why(
    stack: Stack, tmp_path
):
    """A data root without the study's bars (say the viewer runs elsewhere): the best trial's
    logged curve is shown; a trial that logged none gets a message, not a traceback."""
    from tradelab.errors import DataNotFoundError
    from tradelab.tracking import study_trials
    from tradelab.viewer import _runs, _tracking

    trials = study_trials("viewer-sma", tracking_uri=stack.uri, state="COMPLETE")
    ranked = trials.sort_values("value")
    study = _tracking.study_record(stack.uri, "viewer-sma")
    best = _tracking.run_record(stack.uri, ranked["run_id"].iloc[-1])
    curve = _runs.trial_backtest(str(tmp_path), stack.uri, study, best, "AAA")
    assert curve.source == "logged" and len(curve.equity) > 700 and not curve.trades.empty
    worst = _tracking.run_record(stack.uri, ranked["run_id"].iloc[0])
    with pytest.raises(DataNotFoundError, match="logged no equity curve for trial"):
        _runs.trial_backtest(str(tmp_path), stack.uri, study, worst, "AAA")


@pytest.mark.integration
def test_compare_shows_metrics_equity_and_bars_of_two_to_five_runs(open_page, stack: Stack):
    from tradelab.tracking import study_trials

    newest = study_trials("viewer-donchian", tracking_uri=stack.uri, state="COMPLETE")
    best = newest.sort_values("value", ascending=False)["run_id"].iloc[:3].tolist()
    assert len(best) >= 2
    app = open_page("compare", env=stack.env())
    assert_clean(app, "compare")
    chosen = app.multiselect(key="compare_runs").value
    assert chosen == best  # the newest study's top three by default
    table = app.dataframe[0].value
    assert len(table.columns) == 2 + len(best) and table["name"].iloc[0] == "total_return"
    titles = chart_titles(app)
    assert titles[0] == "equity (growth of 1)" and len(charts(app)[0]["data"]) == len(best)
    bars = charts(app)[1]
    names = [a["text"] for a in bars["layout"]["annotations"]]
    assert names == ["Sharpe", "CAGR", "max drawdown", "annual volatility"]
    app.multiselect(key="compare_runs").set_value(chosen[:1]).run()
    assert any("at least two" in text for text in texts(app, "info"))
    assert not app.get("plotly_chart")


@pytest.mark.integration
def test_compare_takes_runs_of_two_studies_from_the_url(open_page, stack: Stack):
    from tradelab.tracking import study_trials

    runs = [
        study_trials(study, tracking_uri=stack.uri, state="COMPLETE")["run_id"].iloc[0]
        for study in ("viewer-sma", "viewer-donchian")
    ]
    app = open_page("compare", env=stack.env(), query={"runs": ",".join(runs)})
    assert_clean(app, "compare")
    assert app.multiselect(key="compare_runs").value == runs
    assert sorted(app.multiselect(key="compare_studies").value) == ["viewer-donchian", "viewer-sma"]
    assert len(charts(app)[0]["data"]) == 2


@pytest.mark.integration
def test_walkforward_shows_windows_stitched_equity_and_report_of_a_real_analysis(
    open_page, stack: Stack
):
    app = open_page("walkforward", env=stack.env())
    assert_clean(app, "walkforward")
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Windows"] == "4" and metrics["OOS Sharpe"] != "n/a"
    windows = app.dataframe[0].value
    assert list(windows["window"]) == [0, 1, 2, 3]
    assert list(windows["test_start"]) == ["2017-01-01", "2017-07-01", "2018-01-01", "2018-07-01"]
    chosen = [text for text in windows["best params"] if not text.startswith("none: ")]
    assert chosen and all(text.startswith("fast=") and ", slow=" in text for text in chosen)
    assert {"IS sharpe", "OOS sharpe", "OOS max_drawdown"} <= set(windows.columns)
    assert chart_titles(app) == [
        "sharpe: in-sample vs out-of-sample",
        "stitched out-of-sample equity",
    ]
    equity = charts(app)[1]["data"][0]
    assert len(array(equity["y"])) > 400  # four half-year test windows of daily bars
    assert [b.label for b in app.get("download_button")] == ["Download the report (HTML)"]
    app.selectbox(key="wf_metric").set_value("cagr").run()
    assert chart_titles(app)[0] == "cagr: in-sample vs out-of-sample"


@pytest.mark.integration
def test_live_shows_the_running_traders_state_positions_orders_and_fills(open_page, stack: Stack):
    app = open_page("live", env=stack.env())
    assert_clean(app, "live")
    banner = " ".join(texts(app, "success"))
    assert "Trader **viewer**" in banner and "ACTIVE" in banner
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Equity"] != "n/a" and metrics["Cash"] != "n/a"
    assert [t.label for t in app.tabs] == [
        "P&L",
        "Positions",
        "Orders",
        "Fills",
        "Risk",
        "Alerts",
        "Strategies",
    ]
    assert chart_titles(app) == ["daily equity and P&L"]
    assert {"Drawdown from peak", "Today"} <= set(metrics)
    frames = [frame.value for frame in app.dataframe]
    orders = next(
        f for f in frames if "client_order_id" in f and "broker_order_id" in f and "status" in f
    )
    fills = next(f for f in frames if "fill_id" in f)
    assert len(orders) >= 1 and len(fills) >= 1
    strategies = next(f for f in frames if "bars_processed" in f)
    assert strategies["name"].iloc[0] == "sma_crossover"
    # no order, halt or kill buttons: the only button is the sidebar's "Reload data"
    assert [button.label for button in app.button] == ["Reload data"]


@pytest.mark.integration
def test_health_shows_mlflow_live_ray_nodes_and_the_catalog(open_page, stack: Stack):
    app = open_page("health", env=stack.env())
    assert_clean(app, "health")
    ok = " ".join(texts(app, "success"))
    assert "2 studies" in ok and "trader viewer" in ok and "1 node(s) alive" in ok
    nodes = app.dataframe[0].value
    assert list(nodes["ip"]) == ["127.0.0.1"] and nodes["head"].iloc[0]
    assert nodes["cpus"].iloc[0] == 2
    catalog = app.dataframe[1].value
    assert list(catalog["symbol"]) == ["AAA", "BBB"]
    assert list(catalog["quality_score"]) == [1.0, 1.0]
    assert chart_titles(app) == ["cluster resources in use"]


@pytest.mark.integration
def test_health_without_the_ray_token_says_how_to_set_it(open_page, stack: Stack):
    app = open_page("health", env={**stack.env(), "RAY_AUTH_TOKEN": ""})
    assert_clean(app, "health")
    assert any("RAY_AUTH_TOKEN" in text and "401" in text for text in texts(app, "caption"))
