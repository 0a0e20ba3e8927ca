"""Walk-forward: each analysis's in-sample vs out-of-sample results per window, the parameters
chosen per window, the stitched out-of-sample equity and the analysis's HTML report.

Read from MLflow through ``tradelab.tracking.walkforward_runs`` / ``walkforward_detail`` (parent
run tagged ``tradelab.kind=walkforward``, one child per window, ``oos_equity.json``).
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from tradelab.viewer import _charts, _data, _ui

WINDOW_METRICS = ("sharpe", "cagr", "max_drawdown", "total_return", "num_trades")


def render(ctx: _ui.ViewerContext) -> None:
    analyses = _data.walkforward_runs(ctx.uri)
    if analyses.empty:
        _ui.empty_state(
            f"No walk-forward analyses yet in `{ctx.shown_uri}`.",
            "Run one with `tradelab walkforward --strategy sma_crossover --symbols AAA BBB "
            "--train 3y --test 6m` (each window optimized in sample, then tested on the next "
            "period), then press **Reload data**.",
        )
        return
    labels = {
        row.name: f"{row.name} · {row.strategy} · {row.start_time:%Y-%m-%d %H:%M}"
        for row in analyses.itertuples()
    }
    name = _ui.choose("Analysis", list(labels), key="wf", format_func=lambda n: labels[n])
    row = analyses[analyses["name"] == name].iloc[0]
    detail = _data.walkforward_detail(ctx.uri, name)
    symbols = row["symbols"] if isinstance(row["symbols"], list) else [row["symbols"]]
    st.caption(
        f"{row['strategy']} on {', '.join(str(s) for s in symbols)} · train {row['train']}, "
        f"test {row['test']}, step {row['step']}, "
        f"{'anchored' if row['anchored'] else 'rolling'} · {row['trials']} trials per window · "
        f"{row['status']}"
    )
    cols = st.columns(6)
    cols[0].metric("Windows", _ui.format_value(row["windows"], "count"))
    cols[1].metric(
        "WFE",
        _ui.format_value(row["wfe"], "ratio"),
        help="walk-forward efficiency: annualized out-of-sample return / in-sample return",
    )
    cols[2].metric("OOS Sharpe", _ui.format_value(row["oos_sharpe"], "ratio"))
    cols[3].metric("IS Sharpe", _ui.format_value(row["is_sharpe"], "ratio"))
    cols[4].metric("OOS CAGR", _ui.format_value(row["oos_cagr"], "fraction"))
    cols[5].metric("OOS max drawdown", _ui.format_value(row["oos_max_drawdown"], "fraction"))

    windows = detail["windows"]
    st.subheader("Windows")
    if windows.empty:
        _ui.empty_state("This analysis has no windows logged yet.")
    else:
        metric = st.selectbox("Metric", list(WINDOW_METRICS), key="wf_metric")
        st.plotly_chart(_charts.walkforward_bars(windows, metric=metric))
        st.dataframe(_window_table(windows), hide_index=True, width="stretch")
    st.subheader("Stitched out-of-sample equity")
    equity = detail["oos_equity"]
    if equity is None or equity.empty:
        _ui.empty_state("No out-of-sample equity yet (it is logged when the analysis finishes).")
    else:
        frame = pd.DataFrame({"timestamp": equity.index, "equity": equity.to_numpy()})
        st.plotly_chart(_charts.walkforward_equity(frame, windows))
    report = detail.get("report_html")
    if report:
        with st.expander("The analysis's HTML report"):
            st.download_button(
                "Download the report (HTML)",
                report.encode("utf-8"),
                file_name=f"walkforward-{name}.html",
                mime="text/html",
                icon=":material/download:",
            )
            st.iframe(report, height=900)  # tradelab's own report, in its own frame


def _window_table(windows: pd.DataFrame) -> pd.DataFrame:
    table = windows[["window", "train_start", "train_end", "test_start", "test_end"]].copy()
    table["best params"] = windows["best_params"].map(_params_text)
    for metric in WINDOW_METRICS:
        unit = _ui.metric_unit(metric)
        for side, label in (("is", "IS"), ("oos", "OOS")):
            column = f"{side}_{metric}"
            values = windows[column] if column in windows else pd.Series(index=windows.index)
            table[f"{label} {metric}"] = values.map(lambda v, u=unit: _ui.format_value(v, u))
    return table


def _params_text(params: Any) -> str:
    if isinstance(params, dict):
        if not params:
            return "none: no trial completed (the window stays in cash)"
        return ", ".join(f"{k}={v}" for k, v in sorted(params.items()))
    return "" if params is None else str(params)


_ui.run_page(
    "Walk-forward",
    render,
    caption="Out-of-sample honesty: each window optimized in sample, then tested on what follows.",
)
