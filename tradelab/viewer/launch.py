"""How the viewer is started: ``ViewerConfig`` and the ``streamlit run`` command it becomes.

This module does not import streamlit: the CLI builds the command here and runs Streamlit in a
child process, so ``tradelab --help`` stays fast.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from tradelab.errors import ConfigError

__all__ = [
    "APP_PATH",
    "DEFAULT_LIVE_URL",
    "DEFAULT_PORT",
    "DEFAULT_RAY_DASHBOARD_URL",
    "LIVE_URL_ENV",
    "RAY_DASHBOARD_ENV",
    "RAY_TOKEN_ENV",
    "ViewerConfig",
]

APP_PATH = Path(__file__).resolve().parent / "app.py"
"""The Streamlit entry script (``streamlit run`` takes a file)."""

DEFAULT_PORT = 8501
LIVE_URL_ENV = "TRADELAB_LIVE_URL"
"""Environment variable with the live trader's API base URL."""
DEFAULT_LIVE_URL = "http://127.0.0.1:8000"
RAY_DASHBOARD_ENV = "TRADELAB_RAY_DASHBOARD_URL"
"""Environment variable with the Ray dashboard's URL (the Health page reads the cluster there)."""
DEFAULT_RAY_DASHBOARD_URL = "http://127.0.0.1:8265"
RAY_TOKEN_ENV = "RAY_AUTH_TOKEN"
"""Ray's own variable for its token (Ray >= 2.60 clusters need it): sent to the dashboard."""

_HOST = "127.0.0.1"


@dataclass(frozen=True, kw_only=True, slots=True)
class ViewerConfig:
    """Where the viewer listens and what it reads.

    Attributes:
        port: The HTTP port on 127.0.0.1 (the viewer never binds another interface).
        home: The data root to read (``$TRADELAB_HOME``); ``None`` keeps the environment's.
        live_url: The live trader's API base URL; ``None`` keeps ``$TRADELAB_LIVE_URL`` or
            ``http://127.0.0.1:8000``.
        ray_dashboard_url: The Ray dashboard; ``None`` keeps ``$TRADELAB_RAY_DASHBOARD_URL``
            or ``http://127.0.0.1:8265``.

    The MLflow store is the one every command uses: ``$MLFLOW_TRACKING_URI`` when set, else
    ``<home>/mlflow.db``.

    Example:
        >>> config = ViewerConfig(port=8502, home=Path("/srv/tradelab"))
        >>> config.url, config.environment({})["TRADELAB_HOME"]
        ('http://127.0.0.1:8502', '/srv/tradelab')
    """

    port: int = DEFAULT_PORT
    home: Path | None = None
    live_url: str | None = None
    ray_dashboard_url: str | None = None

    def __post_init__(self) -> None:
        if (
            isinstance(self.port, bool)
            or not isinstance(self.port, int)
            or not (1 <= self.port <= 65535)
        ):
            raise ConfigError(f"port must be an integer from 1 to 65535, got {self.port!r}.")
        if self.home is not None:
            object.__setattr__(self, "home", Path(self.home).expanduser().resolve())
        for name in ("live_url", "ray_dashboard_url"):
            value = getattr(self, name)
            if value is not None and not str(value).startswith(("http://", "https://")):
                raise ConfigError(
                    f"{name} must be an http:// or https:// URL, got {value!r} "
                    "(e.g. http://127.0.0.1:8000)."
                )

    @property
    def url(self) -> str:
        """Where to open the viewer."""
        return f"http://{_HOST}:{self.port}"

    def command(self) -> list[str]:
        """``python -m streamlit run app.py`` bound to 127.0.0.1, headless, without telemetry,
        with error details hidden (the pages show friendly messages instead)."""
        return [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(APP_PATH),
            "--server.address",
            _HOST,
            "--server.port",
            str(self.port),
            "--server.headless",
            "true",
            "--server.fileWatcherType",
            "none",
            "--browser.gatherUsageStats",
            "false",
            "--client.showErrorDetails",
            "none",
            "--client.toolbarMode",
            "viewer",
        ]

    def environment(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """The child process's environment: ``base`` (default ``os.environ``) with this
        config's home and URLs set."""
        env = dict(os.environ if base is None else base)
        if self.home is not None:
            env["TRADELAB_HOME"] = str(self.home)
        if self.live_url is not None:
            env[LIVE_URL_ENV] = self.live_url
        if self.ray_dashboard_url is not None:
            env[RAY_DASHBOARD_ENV] = self.ray_dashboard_url
        env.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
        return env
