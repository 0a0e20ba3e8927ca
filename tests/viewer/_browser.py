"""Headless Chromium (Debian's ``chromium``) driven over the DevTools protocol, for the viewer's
end-to-end test: open a page, wait until Streamlit has rendered it, read the DOM, screenshot.

The DevTools endpoint listens on 127.0.0.1 only (Chromium's default), on a port Chromium picks.
"""

from __future__ import annotations

import base64
import itertools
import json
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
)

# What the page shows once Streamlit has run the script: the page's h1, whether the script is
# still running, the exception blocks, and the text.
_STATE = """
(() => {
  const status = document.querySelector('[data-testid="stStatusWidget"]');
  return {
    titles: [...document.querySelectorAll('[data-testid="stMain"] h1')]
      .map(e => e.innerText.trim()),
    running: !!status && /running/i.test(status.innerText),
    skeletons: document.querySelectorAll('[data-testid="stSkeleton"]').length,
    spinners: document.querySelectorAll('[data-testid="stSpinner"]').length,
    exceptions: document.querySelectorAll('[data-testid="stException"]').length,
    charts: document.querySelectorAll('.js-plotly-plot .main-svg').length,
    text: document.body ? document.body.innerText : "",
  };
})()
"""


# How tall the page's content is (Streamlit's main area scrolls inside its own element).
_CONTENT_HEIGHT = """
Math.max(...[...document.querySelectorAll(
  '[data-testid="stMain"], [data-testid="stAppViewContainer"], [data-testid="stSidebarContent"]')]
  .map(e => e.scrollHeight), document.body.scrollHeight)
"""


def chromium_binary() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


class Chromium:
    """One headless Chromium with one tab.

    Example:
        with Chromium(tmp_path / "profile") as browser:
            state = browser.open("http://127.0.0.1:8501/studies", title="Studies")
            browser.screenshot(tmp_path / "studies.png")
    """

    def __init__(self, profile: Path, *, width: int = 1400, height: int = 1000) -> None:
        from websockets.sync.client import connect

        binary = chromium_binary()
        if binary is None:
            raise RuntimeError("chromium is not installed (make browser)")
        profile.mkdir(parents=True, exist_ok=True)
        self._log = (profile / "chromium.log").open("w")
        self.process = subprocess.Popen(
            [
                binary,
                *FLAGS,
                f"--window-size={width},{height}",
                "--remote-debugging-port=0",
                f"--user-data-dir={profile}",
                "about:blank",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (port_file.is_file() and port_file.read_text().strip()):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError(f"chromium did not start: {(profile / 'chromium.log')}")
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as reply:
            targets = json.loads(reply.read())
        page = next(t for t in targets if t.get("type") == "page")
        self._socket = connect(page["webSocketDebuggerUrl"], max_size=None, open_timeout=10)
        self._ids = itertools.count(1)
        self.width, self.height = width, height
        self.call("Page.enable")
        self.call("Runtime.enable")
        self._resize(height)

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def call(self, method: str, timeout: float = 30.0, **params: Any) -> dict[str, Any]:
        """Send one DevTools command and return its result (events in between are skipped)."""
        number = next(self._ids)
        self._socket.send(json.dumps({"id": number, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while True:
            message = json.loads(self._socket.recv(timeout=max(0.1, deadline - time.monotonic())))
            if message.get("id") == number:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result.get("result", {}).get("value")

    def open(
        self, url: str, *, title: str, timeout: float = 60.0, settle: float = 1.0
    ) -> dict[str, Any]:
        """Navigate to ``url`` and wait until the page shows ``title`` as its h1, the script
        has finished (no "Running" status, spinner or skeleton) and ``settle`` seconds passed
        with that state (charts drawn); returns the page's state (titles, exceptions, text)."""
        self.call("Page.navigate", url=url)
        deadline = time.monotonic() + timeout
        ready_since: float | None = None
        state: dict[str, Any] = {}
        while time.monotonic() < deadline:
            state = self.evaluate(_STATE) or {}
            ready = (
                title in state.get("titles", [])
                and not state.get("running")
                and not state.get("skeletons")
                and not state.get("spinners")
            )
            if ready:
                ready_since = ready_since or time.monotonic()
                if time.monotonic() - ready_since >= settle:
                    return state
            else:
                ready_since = None
            time.sleep(0.25)
        return state

    def html(self) -> str:
        return self.evaluate("document.documentElement.outerHTML") or ""

    def screenshot(self, path: Path, *, max_height: int = 5000) -> Path:
        """A PNG of the whole page: the window is made as tall as the page's content (Streamlit
        scrolls inside its own container, so a plain capture would show the first screen only),
        captured, and restored."""
        height = int(self.evaluate(_CONTENT_HEIGHT) or self.height)
        height = max(self.height, min(height, max_height))
        if height != self.height:
            self._resize(height)
            time.sleep(1.0)  # Streamlit and Plotly lay out again
        data = self.call("Page.captureScreenshot", format="png")["data"]
        if height != self.height:
            self._resize(self.height)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path

    def _resize(self, height: int) -> None:
        self.call(
            "Emulation.setDeviceMetricsOverride",
            width=self.width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )

    def close(self) -> None:
        socket = getattr(self, "_socket", None)
        if socket is not None:
            try:
                socket.close()
            except Exception:  # the browser may be gone already
                pass
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self._log.close()
