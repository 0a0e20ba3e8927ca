from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.integration


def test_optimize_writes_a_study_json_with_best_params_trials_and_efficiency(run_cli):
    run_cli("data", "generate", "--symbols", "AAA", "BBB", "--start", "2017-01-01", "--end",
            "2018-12-31", "--seed", "7")
    out = run_cli.cwd / "study.json"
    proc = run_cli("optimize", "--strategy", "sma_crossover", "--symbols", "AAA", "BBB",
                   "--trials", "4", "--folds", "2", "--seed", "1", "--study", "cli-study",
                   "--json", str(out))
    assert "Top" in proc.stdout and "efficiency" in proc.stdout
    assert "[   4/4]" in proc.stdout  # progress lines
    data = json.loads(out.read_text())
    assert data["metric"] == "sharpe"
    assert set(data["best_params"]) == {"fast", "slow"}
    assert isinstance(data["best_value"], float)
    assert len(data["trials"]) == 4
    assert {"params", "value", "state"} <= set(data["trials"][0])
    assert 0 < data["efficiency"] <= 1.5
    again = run_cli("optimize", "--resume", "cli-study")
    assert "cli-study" in again.stdout


@pytest.mark.parametrize("args,message", [
    (["--metric", "sharpee"], "Did you mean 'sharpe'"),
    (["--symbols", "NOPE"], "no 1d data for NOPE"),
    (["--resume", "never-ran"], "unknown study 'never-ran'"),
])
def test_optimize_bad_input_fails_before_any_trial(run_cli, args, message):
    run_cli("data", "generate", "--symbols", "AAA", "--start", "2018-01-01", "--end",
            "2018-12-31")
    base = ["optimize", "--strategy", "sma_crossover", "--trials", "2"]
    if "--symbols" not in args:
        base += ["--symbols", "AAA"]
    proc = run_cli(*base, *args, check=False)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert message in proc.stderr
    assert not (run_cli.home / "studies").exists() or not any((run_cli.home / "studies").iterdir())
