"""Studies: every optimization study, filtered by project, asset class, strategy family,
strategy, status and start date, with its trial count, best objective and run time."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import streamlit as st

from tradelab.viewer import _data, _ui

_FILTERS = (
    ("project", "Project"),
    ("asset_class", "Asset class"),
    ("family", "Strategy family"),
    ("strategy", "Strategy"),
    ("status", "Status"),
)


def render(ctx: _ui.ViewerContext) -> None:
    frame = _data.studies(ctx.uri)
    if frame.empty:
        _ui.empty_state(
            f"No optimization studies yet in `{ctx.shown_uri}`.",
            "Run one with `tradelab optimize --strategy sma_crossover --symbols AAA BBB "
            "--trials 20` (or `make demo`), then press **Reload data**.",
        )
        return
    shown = _filtered(frame)
    cols = st.columns(4)
    cols[0].metric("Studies", f"{len(shown)} of {len(frame)}")
    cols[1].metric("Trials", f"{int(shown['trials'].sum()):,}")
    cols[2].metric("Strategies", shown["strategy"].nunique())
    cols[3].metric("Running", int((shown["status"] == "RUNNING").sum()))
    if shown.empty:
        _ui.empty_state("No study matches these filters.", "Clear a filter to see more.")
        return
    table = pd.DataFrame(
        {
            "study": shown["study"],
            "strategy": shown["strategy"],
            "family": shown["family"],
            "project": shown["project"],
            "asset class": shown["asset_class"],
            "status": shown["status"],
            "started": shown["start_time"].dt.tz_convert("UTC").dt.strftime("%Y-%m-%d %H:%M"),
            "trials": shown["trials"],
            "best": shown["best_value"],
            "objective": shown["metric"].fillna("") + " (" + shown["mode"].fillna("") + ")",
            "run time": shown["duration_s"].map(_ui.duration_text),
        }
    )
    st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        column_config={"best": st.column_config.NumberColumn(format="%.4f")},
    )
    st.download_button(
        "Download CSV",
        table.to_csv(index=False).encode(),
        file_name="studies.csv",
        mime="text/csv",
        icon=":material/download:",
    )
    st.subheader("Open a study")
    study = st.selectbox("Study", list(shown["study"]), key="open_study")
    if study:
        left, right = st.columns(2)
        left.page_link(
            _ui.PAGE_FILES["study"],
            label=f"Trials, importances and robustness of {study}",
            icon=":material/query_stats:",
            query_params={"study": study},
        )
        right.page_link(
            _ui.PAGE_FILES["run"],
            label=f"Best trial of {study}",
            icon=":material/show_chart:",
            query_params={"study": study},
        )


def _filtered(frame: pd.DataFrame) -> pd.DataFrame:
    """Filter widgets over the studies (empty selection = everything)."""
    mask = pd.Series(True, index=frame.index)
    columns = st.columns(len(_FILTERS) + 1)
    for column, (name, label) in zip(columns, _FILTERS, strict=False):
        options = sorted(str(v) for v in frame[name].dropna().unique())
        chosen = column.multiselect(label, options, key=f"filter_{name}", placeholder="all")
        if chosen:
            mask &= frame[name].astype(str).isin(chosen)
    started = frame["start_time"].dt.tz_convert("UTC").dt.date
    low, high = started.min(), started.max()
    picked = columns[-1].date_input(
        "Started", value=(low, high), min_value=low, max_value=high, key="filter_dates"
    )
    if isinstance(picked, tuple | list) and len(picked) == 2:
        first, last = picked
        mask &= (started >= first) & (started <= last)
    elif isinstance(picked, dt.date):
        mask &= started == picked
    return frame[mask]


_ui.run_page(
    "Studies",
    render,
    caption="Every optimization study in the tracking store; filter, then open one.",
)
