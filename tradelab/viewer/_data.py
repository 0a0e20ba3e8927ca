"""The pages' data, cached with ``st.cache_data`` (per argument values, in memory).

Time to live: lists that grow while a study runs (studies, trials, walk-forward) 30 s; run and
study records 60 s; re-run backtests and tear sheets 1 h (deterministic); service probes 5 s;
the live trader is never cached (its page refreshes). A failed call is not cached, so a store
that comes back is read at the next rerun. The sidebar's "Reload data" clears everything.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from tradelab.viewer import _analysis, _runs, _services, _tracking

__all__ = [
    "catalog",
    "importances",
    "mlflow_status",
    "ray_status",
    "run_record",
    "studies",
    "study_record",
    "trial_backtest",
    "trial_tearsheet",
    "trials",
    "walkforward_detail",
    "walkforward_runs",
]

LIST_TTL = 30
RECORD_TTL = 60
BACKTEST_TTL = 3600
PROBE_TTL = 5


@st.cache_data(ttl=LIST_TTL, show_spinner="Reading the studies …")
def studies(uri: str) -> pd.DataFrame:
    return _tracking.studies(uri)


@st.cache_data(ttl=LIST_TTL, show_spinner="Reading the trials …", max_entries=32)
def trials(uri: str, study: str) -> pd.DataFrame:
    return _tracking.trials(uri, study)


@st.cache_data(ttl=RECORD_TTL, show_spinner=False, max_entries=64)
def study_record(uri: str, study: str) -> _tracking.StudyRecord:
    return _tracking.study_record(uri, study)


@st.cache_data(ttl=RECORD_TTL, show_spinner=False, max_entries=256)
def run_record(uri: str, run_id: str) -> _tracking.RunRecord:
    return _tracking.run_record(uri, run_id)


@st.cache_data(ttl=BACKTEST_TTL, show_spinner="Running the trial's backtest …", max_entries=64)
def trial_backtest(home: str, uri: str, run_id: str, symbol: str) -> _runs.RunCurve:
    run = run_record(uri, run_id)
    return _runs.trial_backtest(home, uri, study_record(uri, run.study), run, symbol)


@st.cache_data(ttl=BACKTEST_TTL, show_spinner="Building the tear sheet …", max_entries=8)
def trial_tearsheet(home: str, uri: str, run_id: str, symbol: str) -> _runs.TearSheet:
    run = run_record(uri, run_id)
    return _runs.trial_tearsheet(home, uri, study_record(uri, run.study), run, symbol)


@st.cache_data(ttl=RECORD_TTL, show_spinner="Computing parameter importances …", max_entries=16)
def importances(trials_frame: pd.DataFrame, mode: str) -> pd.Series:
    return _analysis.param_importances(trials_frame, mode)


@st.cache_data(ttl=LIST_TTL, show_spinner=False)
def walkforward_runs(uri: str) -> pd.DataFrame:
    return _tracking.walkforward_runs(uri)


@st.cache_data(ttl=LIST_TTL, show_spinner=False, max_entries=32)
def walkforward_detail(uri: str, name: str) -> dict:
    return _tracking.walkforward_detail(uri, name)


@st.cache_data(ttl=RECORD_TTL, show_spinner=False)
def catalog(home: str) -> pd.DataFrame:
    return _services.catalog_frame(home)


@st.cache_data(ttl=PROBE_TTL, show_spinner=False)
def mlflow_status(uri: str) -> _services.StoreStatus:
    return _services.mlflow_status(uri)


@st.cache_data(ttl=PROBE_TTL, show_spinner=False)
def ray_status(url: str, token: str | None) -> _services.RayStatus:
    return _services.ray_status(url, token=token or "")
