"""Study: one study's trials (sortable, filterable, CSV), the objective over the trials with the
best so far, Optuna parameter importances, a 2-parameter heatmap, parallel coordinates, and the
robustness of the top trials (each against its nearest neighbours in parameter space)."""

from __future__ import annotations

import math

import pandas as pd
import streamlit as st

from tradelab.viewer import _analysis, _charts, _data, _ui

_SHOWN_METRICS = ("sharpe", "cagr", "max_drawdown", "win_rate", "num_trades", "profit_factor")


def render(ctx: _ui.ViewerContext) -> None:
    frame = _data.studies(ctx.uri)
    if frame.empty:
        _ui.empty_state(
            f"No optimization studies yet in `{ctx.shown_uri}`.",
            "Run `tradelab optimize --strategy sma_crossover --symbols AAA BBB --trials 20`.",
        )
        return
    study = _ui.choose("Study", list(frame["study"]), key="study")
    summary = frame[frame["study"] == study].iloc[0]
    record = _data.study_record(ctx.uri, study)
    trials = _data.trials(ctx.uri, study)
    metric, mode = record.metric, record.mode
    done = _analysis.complete_trials(trials)

    cols = st.columns(5)
    cols[0].metric("Trials", f"{len(trials):,}")
    cols[1].metric("Complete", f"{len(done):,}")
    cols[2].metric(
        f"Best {metric} ({mode})", _ui.format_value(summary["best_value"], _ui.metric_unit(metric))
    )
    cols[3].metric("Status", summary["status"])
    cols[4].metric("Run time", _ui.duration_text(summary["duration_s"]))
    with st.expander("Settings"):
        st.write(
            f"**{record.strategy}** ({record.family}) on {', '.join(record.symbols)} · "
            f"{record.bar_size} · {record.start or 'all'} → {record.end or 'all'} · "
            f"{record.folds} fold(s) · costs {record.costs} · cash {record.cash:,.0f} · "
            f"search {record.settings.get('search', '?')} · project {record.project}"
        )
        if record.fixed_params:
            st.write("Fixed parameters:", record.fixed_params)
    if trials.empty:
        _ui.empty_state("This study has no trials logged yet.", "Reload in a moment.")
        return

    tabs = st.tabs(
        ["Trials", "History", "Importances", "Heatmap", "Parallel coordinates", "Robustness"]
    )
    with tabs[0]:
        _trials_table(trials, study, metric)
    with tabs[1]:
        history = _analysis.best_so_far(trials, mode)
        if history.empty:
            _ui.empty_state("No complete trial yet, so no objective to plot.")
        else:
            st.plotly_chart(_charts.objective_history(history, metric=metric, mode=mode))
    params = _analysis.param_columns(done)
    with tabs[2]:
        _importances(trials, mode)
    with tabs[3]:
        _heatmap(done, params, metric)
    with tabs[4]:
        if len(done) < 2 or not params:
            _ui.empty_state("Parallel coordinates need two complete trials that differ.")
        else:
            st.plotly_chart(_charts.parallel_coordinates(done, params, metric=metric))
    with tabs[5]:
        _robustness(trials, mode, metric)


def _trials_table(trials: pd.DataFrame, study: str, metric: str) -> None:
    left, right = st.columns([1, 2])
    states = sorted(trials["state"].dropna().unique())
    chosen = left.multiselect("States", states, default=states, key="trial_states")
    shown = trials[trials["state"].isin(chosen)]
    values = pd.to_numeric(shown["value"], errors="coerce")
    finite = values[values.map(math.isfinite)]
    if len(finite) >= 2 and finite.min() < finite.max():
        low, high = float(finite.min()), float(finite.max())
        picked = right.slider(f"{metric} between", low, high, (low, high), key="trial_range")
        if tuple(picked) != (low, high):  # untouched: keep trials without a value too
            shown = shown[(values >= picked[0]) & (values <= picked[1])]
    params = [c for c in shown.columns if c.startswith("param.")]
    metrics = [f"metric.{m}" for m in _SHOWN_METRICS if f"metric.{m}" in shown.columns]
    columns = ["number", "state", "value", *params, *metrics, "backtests", "duration_s", "error"]
    objective = f"objective ({metric})"
    view = shown[columns].rename(
        columns={c: c.split(".", 1)[1] for c in [*params, *metrics]} | {"value": objective}
    )
    st.dataframe(
        view,
        hide_index=True,
        width="stretch",
        column_config={objective: st.column_config.NumberColumn(format="%.4f")},
    )
    st.caption(f"{len(shown):,} of {len(trials):,} trials; click a column header to sort.")
    st.download_button(
        "Download CSV (every column)",
        shown.to_csv(index=False).encode(),
        file_name=f"{study}-trials.csv",
        mime="text/csv",
        icon=":material/download:",
    )
    ranked = _analysis.complete_trials(shown)
    if not ranked.empty:
        number = st.selectbox(
            "Open a trial",
            list(ranked.sort_values("value", ascending=False)["number"]),
            format_func=lambda n: f"trial {n}",
            key="open_trial",
        )
        run_id = ranked.loc[ranked["number"] == number, "run_id"].iloc[0]
        st.page_link(
            _ui.PAGE_FILES["run"],
            label=f"Equity, trades and tear sheet of trial {number}",
            icon=":material/show_chart:",
            query_params={"study": study, "run": run_id},
        )


def _importances(trials: pd.DataFrame, mode: str) -> None:
    importances = _data.importances(trials, mode)
    if importances.empty:
        _ui.empty_state(
            "Parameter importances need at least three complete trials and a parameter that varies."
        )
        return
    st.plotly_chart(_charts.importance_bars(importances))
    complete = len(_analysis.complete_trials(trials))
    used = (
        f"{complete} complete trials"
        if complete <= _analysis.IMPORTANCE_SAMPLE
        else f"a random sample of {_analysis.IMPORTANCE_SAMPLE} of the {complete:,} complete trials"
    )
    st.caption(
        f"Optuna's fANOVA over {used}: the share of the objective's variance each parameter "
        "explains."
    )


def _heatmap(done: pd.DataFrame, params: list[str], metric: str) -> None:
    if len(params) < 2:
        _ui.empty_state("The heatmap needs two parameters that vary over the complete trials.")
        return
    names = [p.removeprefix("param.") for p in params]
    cols = st.columns(3)
    x = cols[0].selectbox("x", names, index=0, key="heat_x")
    y = cols[1].selectbox("y", names, index=1, key="heat_y")
    how = cols[2].selectbox("Cell value", ["mean", "max", "min"], key="heat_how")
    if x == y:
        st.info("Pick two different parameters.")
        return
    grid = _analysis.heatmap_grid(done, f"param.{x}", f"param.{y}", how=how)
    st.plotly_chart(_charts.objective_heatmap(grid, x=x, y=y, metric=metric, how=how))


def _robustness(trials: pd.DataFrame, mode: str, metric: str) -> None:
    cols = st.columns(2)
    top = cols[0].slider("Top trials", 1, 10, 5, key="robust_top")
    neighbours = cols[1].slider("Neighbours each", 1, 10, 5, key="robust_k")
    table = _analysis.robustness(trials, mode, top=top, neighbours=neighbours)
    if table.empty:
        _ui.empty_state("Robustness needs at least two complete trials that differ.")
        return
    st.plotly_chart(_charts.robustness_chart(table, metric=metric))
    st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        column_config={
            "retained": st.column_config.NumberColumn(
                format="%.2f", help="neighbour mean / trial value: ~1 = plateau, << 1 = peak"
            ),
            "distance": st.column_config.NumberColumn(format="%.3f"),
        },
    )
    st.caption(
        "Neighbours are the nearest complete trials in parameter space (each numeric parameter "
        "scaled to its range in the study). A top trial whose neighbours score about as well sits "
        "on a plateau; one far above its neighbours is a lucky peak."
    )


_ui.run_page(
    "Study",
    render,
    caption="One study: its trials and what drives the objective.",
)
