"""Fixtures of the viewer tests: a real stack (Ray with its dashboard, real studies and a real
walk-forward analysis in MLflow, a real LiveTrader) and the app's pages under AppTest."""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "tradelab" / "viewer" / "app.py"
SYMBOLS = ("AAA", "BBB")
STACK_SECONDS = 600  # the trader stops by itself after this, whatever happens to the tests


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def write_bars(home: Path) -> None:
    """Two symbols of synthetic daily bars (2016-2018), as the studies read them."""
    from tradelab.data import ParquetStore, generate_bars

    store = ParquetStore(home)
    for symbol in SYMBOLS:
        store.write(
            symbol,
            generate_bars(symbol, start="2016-01-01", end="2018-12-31", seed=7),
            bar_size="1d",
            source="synthetic",
            quality_score=1.0,
        )


@dataclass(frozen=True)
class Stack:
    """What the viewer reads in the populated tests."""

    home: Path
    uri: str
    live_url: str
    ray_url: str
    ray_token: str

    def env(self) -> dict[str, str]:
        return {
            "TRADELAB_HOME": str(self.home),
            "TRADELAB_LIVE_URL": self.live_url,
            "TRADELAB_RAY_DASHBOARD_URL": self.ray_url,
            "RAY_AUTH_TOKEN": self.ray_token,
        }


@pytest.fixture(scope="session")
def stack(tmp_path_factory) -> Iterator[Stack]:
    """Ray (127.0.0.1, dashboard with token authentication on a free port), two real studies
    (``viewer-sma``: sma_crossover on AAA+BBB, 8 trials; ``viewer-donchian``: 4 trials) and a
    real walk-forward analysis (``viewer-wfa``: 4 windows) in the SQLite MLflow store of a private
    data root, and a real LiveTrader running sma_crossover on a paper broker — one subprocess
    (tests/viewer/_stack.py), stopped at the end of the session (or after 10 minutes)."""
    home = tmp_path_factory.mktemp("viewer-home")
    write_bars(home)
    api_port, dashboard_port = free_port(), free_port()
    ray_token = secrets.token_hex(16)  # this test's own Ray token (token authentication on)
    env = {
        **os.environ,
        "TRADELAB_HOME": str(home),
        "TRADELAB_RESULTS": str(home / "results"),
        "PYTHONPATH": str(ROOT),
        "TRADELAB_API_TOKEN": secrets.token_hex(8),
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN": ray_token,
    }
    for name in ("RAY_ADDRESS", "MLFLOW_TRACKING_URI"):
        env.pop(name, None)
    log_path = home / "stack.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.viewer._stack",
                str(api_port),
                str(dashboard_port),
                str(STACK_SECONDS),
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    live_url = f"http://127.0.0.1:{api_port}"
    try:
        deadline = time.monotonic() + 240
        while "STACK READY" not in (text := log_path.read_text(errors="replace")):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the viewer's test stack did not come up:\n{text[-4000:]}")
            time.sleep(0.5)
        _wait_for_fills(live_url, deadline=time.monotonic() + 30)
        yield Stack(
            home=home,
            uri=f"sqlite:///{home / 'mlflow.db'}",
            live_url=live_url,
            ray_url=f"http://127.0.0.1:{dashboard_port}",
            ray_token=ray_token,
        )
    finally:
        if process.poll() is None:
            process.terminate()  # the trader is deleted cleanly; its local Ray goes with it
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


def _wait_for_fills(url: str, *, deadline: float) -> None:
    """Until the trader's strategy has traded (so the Live page has orders and fills)."""
    while True:
        with urllib.request.urlopen(f"{url}/fills", timeout=5) as response:
            if json.loads(response.read()):
                return
        if time.monotonic() > deadline:
            pytest.fail("the live trader's strategy made no fill within 30 s")
        time.sleep(0.5)


@pytest.fixture
def open_page(monkeypatch) -> Callable[..., object]:
    """``open_page("study", env={...}, query={...})``: the app run by Streamlit's AppTest on
    that page, with the viewer's environment set and every cached answer dropped first."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    def run(page: str, *, env: dict[str, str], query: dict[str, str] | None = None) -> AppTest:
        monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        st.cache_data.clear()
        app = AppTest.from_file(str(APP), default_timeout=120)
        app.run()
        app.switch_page(f"views/{page}.py")
        app.query_params.update(query or {})
        return app.run()

    return run


@pytest.fixture
def empty_env(tmp_path) -> dict[str, str]:
    """A data root that does not exist, and service URLs where nothing listens."""
    nobody = free_port()
    return {
        "TRADELAB_HOME": str(tmp_path / "no-home"),
        "TRADELAB_LIVE_URL": f"http://127.0.0.1:{nobody}",
        "TRADELAB_RAY_DASHBOARD_URL": f"http://127.0.0.1:{nobody}",
        "RAY_AUTH_TOKEN": "",
    }
