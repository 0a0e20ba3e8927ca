"""Compare: two to five trials side by side — their metrics, their equity curves overlaid (each
re-run on its study's first symbol, as growth of 1), and Sharpe / return / risk bars."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from tradelab.errors import TradelabError
from tradelab.viewer import _analysis, _charts, _data, _ui

MAX_RUNS = 5
_BARS = (
    ("sharpe", "Sharpe"),
    ("cagr", "CAGR"),
    ("max_drawdown", "max drawdown"),
    ("annual_volatility", "annual volatility"),
)


def render(ctx: _ui.ViewerContext) -> None:
    frame = _data.studies(ctx.uri)
    if frame.empty:
        _ui.empty_state(
            f"No optimization studies yet in `{ctx.shown_uri}`, so nothing to compare.",
            "Run `tradelab optimize --strategy sma_crossover --symbols AAA BBB --trials 20`.",
        )
        return
    wanted = [r for r in st.query_params.get("runs", "").split(",") if r]
    options, labels = _options(ctx, frame, wanted)
    if not options:
        _ui.empty_state("The chosen studies have no complete trial yet.")
        return
    default = [r for r in wanted if r in labels][:MAX_RUNS] or _default(options)
    chosen = st.multiselect(
        f"Runs (2 to {MAX_RUNS})",
        list(labels),
        default=default,
        format_func=lambda r: labels[r],
        max_selections=MAX_RUNS,
        key="compare_runs",
    )
    if ",".join(chosen) != st.query_params.get("runs", ""):
        st.query_params["runs"] = ",".join(chosen)
    if len(chosen) < 2:
        _ui.empty_state("Pick at least two runs to compare.")
        return
    runs = [_data.run_record(ctx.uri, run_id) for run_id in chosen]
    names = {run.run_id: _unique(labels[run.run_id], run.run_id) for run in runs}

    st.subheader("Metrics (trial means over their backtests)")
    table = _ui.metrics_table({names[run.run_id]: run.metrics for run in runs})
    st.dataframe(table, hide_index=True, width="stretch", height=420)

    st.subheader("Equity")
    curves = {}
    for run in runs:
        record = _data.study_record(ctx.uri, run.study)
        symbol = record.symbols[0] if record.symbols else ""
        try:
            curve = _data.trial_backtest(ctx.home, ctx.uri, run.run_id, symbol)
        except TradelabError as exc:
            st.warning(f"{names[run.run_id]}: no equity curve ({exc})")
            continue
        growth = curve.equity[["timestamp"]].assign(growth=curve.equity["equity"] / curve.cash)
        curves[f"{names[run.run_id]} on {symbol}"] = growth
    if curves:
        st.plotly_chart(_charts.equity_overlay(curves))
        st.caption("Each trial re-run over its study's whole range on the study's first symbol.")

    st.subheader("Sharpe, return and risk")
    values = pd.DataFrame(
        [{metric: run.metrics.get(metric) for metric, _ in _BARS} for run in runs],
        index=[names[run.run_id] for run in runs],
    )
    st.plotly_chart(_charts.comparison_bars(values, _BARS))


def _options(
    ctx: _ui.ViewerContext, frame: pd.DataFrame, wanted: list[str]
) -> tuple[list[str], dict[str, str]]:
    """Complete trials of the chosen studies, best first (run id -> label)."""
    names = list(frame["study"])
    preset = []
    if wanted:
        preset = sorted({_data.run_record(ctx.uri, r).study for r in wanted if _known(ctx, r)})
    studies = st.multiselect(
        "Studies",
        names,
        default=[s for s in preset if s in names] or names[:1],
        key="compare_studies",
    )
    labels: dict[str, str] = {}
    options: list[str] = []
    for study in studies:
        record = _data.study_record(ctx.uri, study)
        done = _analysis.complete_trials(_data.trials(ctx.uri, study))
        done = done.sort_values("value", ascending=record.mode != "max")
        for row in done.itertuples():
            labels[row.run_id] = (
                f"{study} #{row.number} ({record.metric} "
                f"{_ui.format_value(row.value, _ui.metric_unit(record.metric))})"
            )
            options.append(row.run_id)
    return options, labels


def _default(options: list[str]) -> list[str]:
    return options[: min(3, len(options))]


def _known(ctx: _ui.ViewerContext, run_id: str) -> bool:
    try:
        _data.run_record(ctx.uri, run_id)
    except TradelabError:
        return False
    return True


def _unique(label: str, run_id: str) -> str:
    return label.split(" (")[0] if label else run_id[:8]


_ui.run_page(
    "Compare",
    render,
    caption="Two to five trials, from one study or several, side by side.",
)
