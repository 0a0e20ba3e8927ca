"""End to end: ``tradelab view`` on 127.0.0.1 over the real stack, every page opened in headless
Chromium; each must render its title and no Streamlit exception block. The screenshots are saved
as test artifacts under ``test-artifacts/viewer-screenshots/`` (``$TRADELAB_TEST_ARTIFACTS``
to put them elsewhere)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.viewer._browser import Chromium, chromium_binary
from tests.viewer.conftest import ROOT, Stack, free_port

pytestmark = pytest.mark.integration

ARTIFACTS = Path(os.environ.get("TRADELAB_TEST_ARTIFACTS", ROOT / "test-artifacts"))
SCREENSHOTS = ARTIFACTS / "viewer-screenshots"
ENTRY_POINT = Path(sys.executable).parent / "tradelab"

# url path (the default page is the root), title, query, a text the page shows once its data
# is there, charts expected
PAGES = [
    ("", "Studies", "", "2 of 2", 0),
    ("study", "Study", "?study=viewer-sma", "Best sharpe (max)", 1),
    ("run", "Run", "?study=viewer-sma", "SYNTHETIC demo data", 1),
    ("compare", "Compare", "", "Metrics (trial means", 2),
    ("walkforward", "Walk-forward", "", "OOS Sharpe", 2),
    ("live", "Live", "", "trading state ACTIVE", 0),
    ("health", "Health", "", "1 node(s) alive", 1),
]


@pytest.fixture(scope="module")
def viewer_url(stack: Stack, tmp_path_factory) -> Iterator[str]:
    """``tradelab view --port PORT --home HOME`` over the stack, for this module."""
    port = free_port()
    env = {**os.environ, **stack.env()}
    env.pop("MLFLOW_TRACKING_URI", None)
    log_path = tmp_path_factory.mktemp("viewer") / "view.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [str(ENTRY_POINT), "view", "--port", str(port), "--home", str(stack.home)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as reply:
                    if reply.read().strip() == b"ok":
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"tradelab view did not come up:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.3)
        yield url
    finally:
        process.terminate()  # forwarded to Streamlit by tradelab view
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # the session this fixture started
            process.wait(5)


@pytest.fixture(scope="module")
def browser(viewer_url: str, tmp_path_factory) -> Iterator[Chromium]:
    if chromium_binary() is None:
        pytest.skip("chromium is not installed: run `make browser` (apt-get install chromium)")
    with Chromium(tmp_path_factory.mktemp("chromium-profile")) as chromium:
        yield chromium


@pytest.mark.parametrize("path,title,query,shows,charts", PAGES, ids=[p[1].lower() for p in PAGES])
def test_page_renders_its_title_and_no_exception_in_chromium(
    browser: Chromium, viewer_url: str, path: str, title: str, query: str, shows: str, charts: int
):
    state = browser.open(f"{viewer_url}/{path}{query}", title=title)
    shot = browser.screenshot(SCREENSHOTS / f"{title.lower()}.png")
    html = browser.html()
    print(f"screenshot: {shot}")
    assert state.get("titles") == [title], state.get("text", "")[:2000]
    assert state.get("exceptions") == 0 and 'data-testid="stException"' not in html
    assert "Traceback" not in state.get("text", "")
    assert "Page not found" not in state.get("text", "")
    assert shows in state.get("text", ""), state.get("text", "")[:3000]
    assert state.get("charts", 0) >= charts
    assert shot.stat().st_size > 10_000
