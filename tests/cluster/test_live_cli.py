"""``tradelab live``: start a trader in its own process, drive it with the client commands."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tradelab.cli import main

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
TOKEN = "cli-test-" + os.urandom(6).hex()


@pytest.fixture(scope="module")
def trader_process(tmp_path_factory):
    """``tradelab live start`` on a free port for at most 120 s (it stops by itself)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    home = tmp_path_factory.mktemp("live-cli")
    env = {**os.environ, "TRADELAB_HOME": str(home), "TRADELAB_API_TOKEN": TOKEN,
           "PYTHONPATH": str(ROOT)}
    env.pop("RAY_ADDRESS", None)
    log = (home / "start.log").open("w")
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "tradelab"), "live", "--port", str(port), "start",
         "--name", "clitest", "--symbols", "AAA", "BBB", "--speed", "20",
         "--strategy", "sma_crossover", "--param", "fast=3", "--param", "slow=8",
         "--for", "120", "--status-every", "1"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while "started" not in (text := (home / "start.log").read_text()) or "state" not in text:
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"tradelab live start did not come up:\n{text[-3000:]}")
        if "trader clitest" in text:
            break
        time.sleep(0.5)
    yield port, home, process
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
    log.close()


def cli(capsys, port: int, *args: str) -> tuple[int, str]:
    code = main(["live", "--port", str(port), *args])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_status_orders_and_positions_print_tables(trader_process, capsys, monkeypatch) -> None:
    port, _, _ = trader_process
    code, out = cli(capsys, port, "status")
    assert code == 0 and "trading state" in out and "ACTIVE" in out and "paper" in out
    assert "sma_crossover (running)" in out
    deadline = time.monotonic() + 60
    while "0 orders" in (out := cli(capsys, port, "orders", "--all")[1]):
        assert time.monotonic() < deadline, "the strategy sent no order"
        time.sleep(1)
    assert "sma_crossover" in out and "status" in out
    code, out = cli(capsys, port, "positions")
    assert code == 0 and "avg cost" in out


def test_halt_needs_the_token_and_then_halts_and_resumes(trader_process, capsys,
                                                         monkeypatch) -> None:
    port, _, _ = trader_process
    monkeypatch.delenv("TRADELAB_API_TOKEN", raising=False)
    code, out = cli(capsys, port, "halt", "--reason", "cli test")
    assert code == 1 and "TRADELAB_API_TOKEN" in out
    monkeypatch.setenv("TRADELAB_API_TOKEN", "wrong")
    code, out = cli(capsys, port, "halt")
    assert code == 1 and "401" in out
    monkeypatch.setenv("TRADELAB_API_TOKEN", TOKEN)
    code, out = cli(capsys, port, "halt", "--reason", "cli test")
    assert code == 0 and "HALTED" in out and "cli test" in out
    code, out = cli(capsys, port, "resume")
    assert code == 0 and "ACTIVE" in out


def test_desk_commands_print_limits_stress_alerts_and_hours(trader_process, capsys,
                                                           monkeypatch) -> None:
    port, _, _ = trader_process
    monkeypatch.setenv("TRADELAB_API_TOKEN", TOKEN)
    code, out = cli(capsys, port, "limits", "--set", "max_open_positions=5")
    assert code == 2 and "--reason" in out
    code, out = cli(capsys, port, "limits", "--set", "max_open_positions=5", "--reason",
                    "cli test", "--operator", "carol")
    assert code == 0 and "max_open_positions" in out and "5" in out
    code, out = cli(capsys, port, "limits", "--set", "max_concentration=3", "--reason", "bad")
    assert code == 1 and "422" in out
    code, out = cli(capsys, port, "alerts")
    assert code == 0 and "carol" in out
    code, out = cli(capsys, port, "stress")
    assert code == 0 and "market-wide" in out and "-20%" in out
    code, out = cli(capsys, port, "hours")
    assert code == 0 and "XNYS" in out and "not enforced" in out
    code, out = cli(capsys, port, "orders", "--cancel-all")
    assert code == 0 and "cancelled" in out
    code, out = cli(capsys, port, "close", "ZZZ")
    assert code == 1 and "404" in out


def test_kill_flattens_and_stop_shuts_the_trader_down(trader_process, capsys,
                                                      monkeypatch) -> None:
    port, home, process = trader_process
    monkeypatch.setenv("TRADELAB_API_TOKEN", TOKEN)
    code, out = cli(capsys, port, "kill", "--yes", "--reason", "cli kill")
    assert code == 0 and "HALTED" in out and "none (flat)" in out
    code, out = cli(capsys, port, "status")
    assert "stopped" in out  # the kill switch stopped the strategy
    process.send_signal(signal.SIGINT)  # Ctrl-C: the trader deletes its app and exits
    assert process.wait(60) == 0
    text = (home / "start.log").read_text()
    assert "stopped; the audit log keeps every order and fill" in text
    assert (home / "live" / "clitest" / "audit.db").exists()
    code, out = cli(capsys, port, "status")
    assert code == 1 and "no live trader answers" in out


def test_a_client_command_without_a_trader_says_how_to_start_one(capsys) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    code, out = cli(capsys, free, "positions")
    assert code == 1 and "tradelab live start" in out
