from __future__ import annotations

import json

import pytest

COMMANDS = [[], ["data"], ["data", "generate"], ["data", "import"], ["data", "check"], ["optimize"],
            ["data", "list"], ["backtest"], ["strategies"], ["demo"]]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "tradelab")
def test_every_command_has_help(run_cli, command):
    proc = run_cli(*command, "--help")
    assert "Usage:" in proc.stdout and "--help" in proc.stdout


def test_generate_then_list_shows_synthetic_entries(run_cli):
    run_cli("data", "generate", "--symbols", "AAA", "BBB", "--start", "2018-01-01",
            "--end", "2019-12-31", "--seed", "7")
    listing = run_cli("data", "list").stdout
    assert "AAA" in listing and "BBB" in listing and "synthetic" in listing
    assert (run_cli.home / "catalog.json").is_file()


def test_check_reports_a_clean_score_for_generated_data(run_cli):
    run_cli("data", "generate", "--symbols", "AAA", "--start", "2019-01-01", "--end",
            "2019-12-31")
    out = run_cli("data", "check", "AAA").stdout
    assert "quality score 1.000" in out


def test_backtest_writes_json_trades_csv_and_report(run_cli):
    run_cli("data", "generate", "--symbols", "AAA", "--start", "2015-01-01", "--end",
            "2019-12-31", "--seed", "7")
    out_json = run_cli.cwd / "out.json"
    proc = run_cli("backtest", "--strategy", "sma_crossover", "--symbols", "AAA",
                   "--start", "2015-01-01", "--end", "2019-12-31", "--param", "fast=10",
                   "--param", "slow=30", "--cash", "100000", "--costs", "ib-fixed",
                   "--json", str(out_json))
    assert "sharpe" in proc.stdout and "SYNTHETIC" in proc.stdout
    data = json.loads(out_json.read_text())
    assert data["params"]["fast"] == 10 and data["params"]["slow"] == 30
    assert data["final_value"] > 0 and data["trades"]
    assert {"sharpe", "max_drawdown", "win_rate", "num_trades"} <= set(data["metrics"])
    runs = list(run_cli.results.glob("backtest-sma_crossover-*"))
    assert len(runs) == 1
    assert {p.name for p in runs[0].iterdir()} == {"result.json", "trades.csv", "report.txt"}
    assert len((runs[0] / "trades.csv").read_text().splitlines()) == len(data["trades"]) + 1


def test_unknown_strategy_fails_with_a_suggestion_and_writes_nothing(run_cli):
    run_cli("data", "generate", "--symbols", "AAA", "--start", "2019-01-01", "--end",
            "2019-12-31")
    proc = run_cli("backtest", "--strategy", "sma_crosover", "--symbols", "AAA", check=False)
    assert proc.returncode == 2
    assert "Did you mean 'sma_crossover'" in proc.stderr
    assert not run_cli.results.exists()


@pytest.mark.parametrize("args,message", [
    (["--param", "fast=40", "--param", "slow=20"], "fast < slow"),
    (["--param", "fast=-3"], "must be >= 1"),
    (["--cash", "0"], "cash must be positive"),
    (["--start", "2030-01-01"], "no AAA 1d bars between 2030-01-01"),
    (["--costs", "ib-fxed"], "Did you mean 'ib-fixed'"),
])
def test_bad_backtest_input_is_a_clear_error_and_writes_nothing(run_cli, args, message):
    run_cli("data", "generate", "--symbols", "AAA", "--start", "2019-01-01", "--end",
            "2019-12-31")
    proc = run_cli("backtest", "--strategy", "sma_crossover", "--symbols", "AAA", *args,
                   check=False)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr
    assert not run_cli.results.exists()


def test_backtest_of_a_symbol_not_in_the_store_suggests_what_is(run_cli):
    run_cli("data", "generate", "--symbols", "AAA", "--start", "2019-01-01", "--end",
            "2019-12-31")
    proc = run_cli("backtest", "--strategy", "sma_crossover", "--symbols", "AAB", check=False)
    assert proc.returncode == 2
    assert "AAA" in proc.stderr


def test_import_of_a_good_csv_stores_it(run_cli):
    csv = run_cli.cwd / "goog.csv"
    csv.write_text("Date,Open,High,Low,Close,Adj Close,Volume\n"
                   "2024-01-02,10,11,9,10.5,10.5,1000\n"
                   "2024-01-03,10.5,11.5,10,11,11,1200\n"
                   "2024-01-04,11,11.2,10.1,10.2,10.2,900\n")
    proc = run_cli("data", "import", str(csv), "--symbol", "GOOG")
    assert "GOOG" in proc.stdout and "csv" in proc.stdout
    assert "GOOG" in run_cli("data", "list").stdout


def test_import_of_bad_data_names_the_row_and_writes_nothing(run_cli):
    csv = run_cli.cwd / "bad.csv"
    csv.write_text("Date,Open,High,Low,Close,Volume\n"
                   "2024-01-02,10,11,9,10.5,1000\n"
                   "2024-01-03,10.5,9.0,10,11,1200\n")
    proc = run_cli("data", "import", str(csv), "--symbol", "BAD", check=False)
    assert proc.returncode == 2
    assert "bad.csv" in proc.stderr and "line 3" in proc.stderr
    assert not (run_cli.home / "bars").exists() or not list((run_cli.home / "bars").rglob("*"))
    repaired = run_cli("data", "import", str(csv), "--symbol", "BAD", "--repair")
    assert "repaired" in repaired.stdout


def test_import_of_an_empty_file_is_refused(run_cli):
    csv = run_cli.cwd / "empty.csv"
    csv.write_text("")
    proc = run_cli("data", "import", str(csv), "--symbol", "EMP", check=False)
    assert proc.returncode == 2 and "empty.csv" in proc.stderr


def test_strategies_lists_the_library(run_cli):
    out = run_cli("strategies").stdout
    for name in ("sma_crossover", "rsi_mean_reversion", "macd_trend", "bollinger_reversion",
                 "donchian_breakout", "momentum_rotation"):
        assert name in out


@pytest.mark.integration
def test_demo_on_two_symbols_runs_every_strategy_and_a_study(run_cli):
    proc = run_cli("demo", "--symbols", "AAA,BBB", "--trials", "4")
    assert "SYNTHETIC" in proc.stdout
    for name in ("sma_crossover", "macd_trend", "momentum_rotation"):
        assert name in proc.stdout
    assert "Top" in proc.stdout and "MLflow:" in proc.stdout
    studies = list((run_cli.results / "demo").glob("demo-sma_crossover-*.json"))
    assert len(studies) == 1
    data = json.loads(studies[0].read_text())
    assert data["best_params"] and len(data["trials"]) == 4
