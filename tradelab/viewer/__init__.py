"""The results viewer: a read-only Streamlit app over MLflow, the data catalog, the Ray cluster
and the live trader.

Pages: **Studies** (every study, filtered), **Study** (trials, objective history, importances,
heatmap, parallel coordinates, robustness), **Run** (metrics, equity and drawdown, monthly
returns, trades, tear sheet), **Compare** (2-5 trials), **Walk-forward**, **Live** (the trader's
API, refreshing) and **Health** (MLflow, live API, Ray, data catalog).

Only this package imports streamlit, and only its app modules do: importing ``tradelab.viewer``
(what the CLI does) does not.

Example:
    >>> from tradelab.viewer import ViewerConfig
    >>> config = ViewerConfig(port=8501)
    >>> config.command()[1:4], config.url
    (['-m', 'streamlit', 'run'], 'http://127.0.0.1:8501')

Run it with ``tradelab view [--port 8501] [--home PATH]``.
"""

from __future__ import annotations

from tradelab.viewer.launch import (
    APP_PATH,
    DEFAULT_LIVE_URL,
    DEFAULT_PORT,
    DEFAULT_RAY_DASHBOARD_URL,
    LIVE_URL_ENV,
    RAY_DASHBOARD_ENV,
    ViewerConfig,
)

__all__ = [
    "APP_PATH",
    "DEFAULT_LIVE_URL",
    "DEFAULT_PORT",
    "DEFAULT_RAY_DASHBOARD_URL",
    "LIVE_URL_ENV",
    "RAY_DASHBOARD_ENV",
    "ViewerConfig",
]
