"""Run: one trial — its metrics, equity curve over drawdown, monthly returns, trades and the
quantstats tear sheet (embedded and downloadable).

The trial's metrics are the study's (means over its backtests, from MLflow). The curve, trades
and per-backtest metrics come from the trial's backtest on one symbol of the study, re-run from
the data store (cached) or, when the bars are gone, from the artifacts the study logged.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from tradelab.errors import TradelabError
from tradelab.viewer import _analysis, _charts, _data, _ui
from tradelab.viewer._runs import RunCurve


def render(ctx: _ui.ViewerContext) -> None:
    frame = _data.studies(ctx.uri)
    if frame.empty:
        _ui.empty_state(
            f"No optimization studies yet in `{ctx.shown_uri}`, so no runs to show.",
            "Run `tradelab optimize --strategy sma_crossover --symbols AAA BBB --trials 20`.",
        )
        return
    cols = st.columns([1, 1, 1])
    with cols[0]:
        study = _ui.choose("Study", list(frame["study"]), key="study")
    record = _data.study_record(ctx.uri, study)
    trials = _data.trials(ctx.uri, study)
    if trials.empty:
        _ui.empty_state("This study has no trials logged yet.")
        return
    sign = 1.0 if record.mode == "max" else -1.0
    ranked = trials.assign(_key=pd.to_numeric(trials["value"], errors="coerce") * sign)
    ranked = ranked.sort_values("_key", ascending=False, na_position="last")
    labels = {
        row.run_id: f"trial {row.number} · {row.state} · "
        f"{_ui.format_value(row.value, _ui.metric_unit(record.metric))}"
        for row in ranked.itertuples()
    }
    with cols[1]:
        run_id = _ui.choose(
            "Trial (best first)", list(labels), key="run", format_func=lambda r: labels[r]
        )
    with cols[2]:
        symbol = _ui.choose("Symbol", list(record.symbols), key="symbol")
    run = _data.run_record(ctx.uri, run_id)
    params = ", ".join(f"{k}={v}" for k, v in run.params.items())
    st.subheader(f"{run.label} — {run.strategy} ({params})")
    unit = _ui.metric_unit(record.metric)
    backtests = int(trials.loc[trials["run_id"] == run_id, "backtests"].iloc[0])
    folds = f" × {record.folds} folds" if record.folds > 1 else ""
    st.caption(
        f"{run.state}; {record.metric} {_ui.format_value(run.value, unit)} ({record.mode}) "
        f"averaged over {backtests} backtest(s) of {', '.join(record.symbols)}{folds}"
    )
    if run.error:
        st.warning(f"This trial did not complete: {run.error.strip().splitlines()[-1][:500]}")

    curve: RunCurve | None = None
    problem = ""
    if symbol:
        try:
            curve = _data.trial_backtest(ctx.home, ctx.uri, run_id, symbol)
        except TradelabError as exc:
            problem = str(exc)
    if curve is not None and curve.synthetic:
        st.warning(
            f"{symbol} is SYNTHETIC demo data, not market history.", icon=":material/science:"
        )

    tabs = st.tabs(["Equity", "Metrics", "Monthly returns", "Trades", "Tear sheet"])
    with tabs[1]:
        columns = {"trial (mean)": run.metrics}
        if curve is not None and curve.metrics:
            columns[f"{symbol} backtest"] = curve.metrics
        table = _ui.metrics_table(columns, notes=curve.undefined if curve is not None else None)
        st.dataframe(table, hide_index=True, width="stretch", height=600)
    if curve is None:
        for tab in (tabs[0], *tabs[2:]):
            with tab:
                st.warning(
                    f"The backtest of trial {run.number} on {symbol} cannot be shown: {problem}"
                )
        return
    source = (
        "re-run now from the data store (deterministic: the same curve the study saw)"
        if curve.source == "re-run"
        else "logged by the study (the bars are no longer in the data store)"
    )
    with tabs[0]:
        title = (
            f"{run.label} on {symbol} — {record.start or 'first bar'} to {record.end or 'last bar'}"
        )
        st.plotly_chart(_charts.equity_and_drawdown(curve.equity, title=title))
        st.caption(f"Whole range of {symbol}, {source}.")
    with tabs[2]:
        grid = _analysis.monthly_returns(curve.equity, curve.cash)
        if grid.empty:
            _ui.empty_state("No equity curve, so no monthly returns.")
        else:
            st.plotly_chart(_charts.monthly_heatmap(grid))
    with tabs[3]:
        _trades(curve, run_id)
    with tabs[4]:
        _tearsheet(ctx, run_id, run.number, symbol, record.symbols[0], run.artifacts)


def _trades(curve: RunCurve, run_id: str) -> None:
    trades = curve.trades
    if trades.empty:
        _ui.empty_state("This backtest made no trades.")
        return
    closed = trades[~trades["is_open"].astype(bool)] if "is_open" in trades else trades
    cols = st.columns(4)
    cols[0].metric("Trades", len(trades))
    if "pnl" in trades:
        wins = (closed["pnl"] > 0).sum()
        cols[1].metric("Winners", f"{wins} of {len(closed)} closed")
        cols[2].metric("Net P&L", f"{trades['pnl'].sum():,.2f}")
    if "commission" in trades:
        cols[3].metric("Commissions", f"{trades['commission'].sum():,.2f}")
    st.dataframe(
        trades,
        hide_index=True,
        width="stretch",
        column_config={"return_pct": st.column_config.NumberColumn(format="percent")},
    )
    st.download_button(
        "Download trades CSV",
        trades.to_csv(index=False).encode(),
        file_name=f"trades-{run_id}-{curve.symbol}.csv",
        mime="text/csv",
        icon=":material/download:",
    )


def _tearsheet(
    ctx: _ui.ViewerContext,
    run_id: str,
    number: int,
    symbol: str,
    first: str,
    artifacts: tuple[str, ...],
) -> None:
    logged = symbol == first and "tearsheet.html" in artifacts
    key = f"tearsheet:{run_id}:{symbol}"
    if not logged and not st.session_state.get(key):
        st.info(
            f"The study logged no tear sheet for trial {number} on {symbol} (it logs one for its "
            "best trials on the first symbol). Build one from the re-run backtest — quantstats "
            "takes a few seconds.",
            icon=":material/info:",
        )
        if not st.button("Build the tear sheet", icon=":material/analytics:", key="build_sheet"):
            return
        st.session_state[key] = True
    sheet = _data.trial_tearsheet(ctx.home, ctx.uri, run_id, symbol)
    st.download_button(
        "Download the tear sheet (HTML)",
        sheet.html.encode("utf-8"),
        file_name=sheet.file_name,
        mime="text/html",
        icon=":material/download:",
    )
    st.caption("Logged by the study." if sheet.source == "logged" else "Built now from the re-run.")
    st.iframe(sheet.html, height=1100)  # our own quantstats HTML, in its own frame


_ui.run_page(
    "Run",
    render,
    caption="One trial: metrics, equity and drawdown, monthly returns, trades, tear sheet.",
)
