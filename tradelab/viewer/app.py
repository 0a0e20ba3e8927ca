"""The tradelab results viewer: a read-only Streamlit app over MLflow, the data catalog, the Ray
cluster and the live trader.

Start it with ``tradelab view [--port 8501] [--home PATH]`` (``streamlit run`` on 127.0.0.1).
Pages: Studies, Study, Run, Compare, Walk-forward (research); Live, Health (operations).
"""

from __future__ import annotations

import os

# An MLflow server that does not answer must not hang a page for minutes of retries.
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

import streamlit as st  # noqa: E402

from tradelab.viewer import _ui  # noqa: E402

st.set_page_config(page_title="tradelab viewer", page_icon=":material/monitoring:", layout="wide")

_PAGES = {
    "Research": [
        st.Page(
            _ui.PAGE_FILES["studies"],
            title="Studies",
            icon=":material/table_rows:",
            url_path="studies",
            default=True,
        ),
        st.Page(
            _ui.PAGE_FILES["study"], title="Study", icon=":material/query_stats:", url_path="study"
        ),
        st.Page(_ui.PAGE_FILES["run"], title="Run", icon=":material/show_chart:", url_path="run"),
        st.Page(
            _ui.PAGE_FILES["compare"],
            title="Compare",
            icon=":material/compare_arrows:",
            url_path="compare",
        ),
        st.Page(
            _ui.PAGE_FILES["walkforward"],
            title="Walk-forward",
            icon=":material/timeline:",
            url_path="walkforward",
        ),
    ],
    "Operations": [
        st.Page(_ui.PAGE_FILES["live"], title="Live", icon=":material/sensors:", url_path="live"),
        st.Page(
            _ui.PAGE_FILES["health"],
            title="Health",
            icon=":material/monitor_heart:",
            url_path="health",
        ),
    ],
}

navigation = st.navigation(_PAGES)
_ui.sidebar(_ui.context())
navigation.run()
