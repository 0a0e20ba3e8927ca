"""Plotly figures of the viewer's pages (built from the frames of ``_analysis`` and the data
layer; no streamlit here)."""

from __future__ import annotations

import calendar
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

__all__ = [
    "comparison_bars",
    "equity_and_drawdown",
    "equity_overlay",
    "importance_bars",
    "live_pnl",
    "monthly_heatmap",
    "objective_heatmap",
    "objective_history",
    "parallel_coordinates",
    "resource_bars",
    "robustness_chart",
    "walkforward_bars",
    "walkforward_equity",
]

_LAYOUT = {"margin": {"l": 10, "r": 10, "t": 40, "b": 10}, "template": "plotly_white"}
_GL_POINTS = 2000  # above this many points a scatter uses WebGL


def _scatter(points: int) -> type[go.Scatter] | type[go.Scattergl]:
    return go.Scattergl if points > _GL_POINTS else go.Scatter


def objective_history(history: pd.DataFrame, *, metric: str, mode: str) -> go.Figure:
    """Each complete trial's objective by trial number, with the best-so-far line."""
    scatter = _scatter(len(history))
    figure = go.Figure()
    figure.add_trace(
        scatter(
            x=history["number"],
            y=history["value"],
            mode="markers",
            name="trial",
            marker={"size": 6, "opacity": 0.7},
        )
    )
    figure.add_trace(
        go.Scatter(
            x=history["number"],
            y=history["best"],
            mode="lines",
            line={"shape": "hv", "width": 2},
            name=f"best so far ({mode})",
        )
    )
    figure.update_layout(
        title=f"{metric} by trial", xaxis_title="trial number", yaxis_title=metric, **_LAYOUT
    )
    return figure


def importance_bars(importances: pd.Series) -> go.Figure:
    """Horizontal bars, most important on top."""
    ordered = importances.sort_values()
    figure = go.Figure(go.Bar(x=ordered.to_numpy(), y=list(ordered.index), orientation="h"))
    figure.update_layout(
        title="parameter importance (fANOVA)",
        xaxis_title="share of objective variance",
        **_LAYOUT,
    )
    return figure


def objective_heatmap(grid: pd.DataFrame, *, x: str, y: str, metric: str, how: str) -> go.Figure:
    """The objective over a 2-parameter grid (empty cells blank)."""
    figure = go.Figure(
        go.Heatmap(
            z=grid.to_numpy(dtype=float),
            x=[str(v) for v in grid.columns],
            y=[str(v) for v in grid.index],
            colorscale="Viridis",
            colorbar={"title": metric},
            hoverongaps=False,
        )
    )
    figure.update_layout(
        title=f"{how} {metric} by {x} and {y}", xaxis_title=x, yaxis_title=y, **_LAYOUT
    )
    figure.update_xaxes(type="category")
    figure.update_yaxes(type="category")
    return figure


def parallel_coordinates(done: pd.DataFrame, params: Sequence[str], *, metric: str) -> go.Figure:
    """One line per complete trial through its parameters and objective (colour = objective).
    Text parameters get one tick per category."""
    dimensions = []
    for column in params:
        values = done[column]
        label = column.removeprefix("param.")
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            dimensions.append({"label": label, "values": values.astype(float)})
        else:
            categories = sorted({str(v) for v in values})
            codes = [categories.index(str(v)) for v in values]
            dimensions.append(
                {
                    "label": label,
                    "values": codes,
                    "tickvals": list(range(len(categories))),
                    "ticktext": categories,
                }
            )
    value = done["value"].astype(float)
    dimensions.append({"label": metric, "values": value})
    figure = go.Figure(
        go.Parcoords(
            line={"color": value, "colorscale": "Viridis", "showscale": True},
            dimensions=dimensions,
        )
    )
    figure.update_layout(title="trials across parameters", **_LAYOUT)
    return figure


def robustness_chart(table: pd.DataFrame, *, metric: str) -> go.Figure:
    """Each top trial's objective beside its neighbours' mean (whiskers: min..max)."""
    labels = [f"#{n}" for n in table["number"]]
    figure = go.Figure()
    figure.add_trace(go.Bar(x=labels, y=table["value"], name="trial"))
    figure.add_trace(
        go.Bar(
            x=labels,
            y=table["neighbour_mean"],
            name="neighbours (mean, min–max)",
            error_y={
                "type": "data",
                "symmetric": False,
                "array": table["neighbour_max"] - table["neighbour_mean"],
                "arrayminus": table["neighbour_mean"] - table["neighbour_min"],
            },
        )
    )
    figure.update_layout(
        title=f"top trials vs their nearest neighbours ({metric})",
        barmode="group",
        yaxis_title=metric,
        **_LAYOUT,
    )
    return figure


def equity_and_drawdown(equity: pd.DataFrame, *, title: str) -> go.Figure:
    """Equity (and the buy-and-hold benchmark when known) over the drawdown, shared time axis."""
    figure = make_subplots(
        rows=2, cols=1, shared_xaxes=True, row_heights=[0.7, 0.3], vertical_spacing=0.04
    )
    scatter = _scatter(len(equity))
    figure.add_trace(
        scatter(x=equity["timestamp"], y=equity["equity"], name="strategy", mode="lines"),
        row=1,
        col=1,
    )
    if "benchmark" in equity and equity["benchmark"].notna().any():
        figure.add_trace(
            scatter(
                x=equity["timestamp"],
                y=equity["benchmark"],
                name="buy & hold",
                mode="lines",
                line={"dash": "dash", "color": "gray"},
            ),
            row=1,
            col=1,
        )
    figure.add_trace(
        scatter(
            x=equity["timestamp"],
            y=equity["drawdown"] * 100.0,
            name="drawdown %",
            mode="lines",
            fill="tozeroy",
            line={"color": "firebrick"},
        ),
        row=2,
        col=1,
    )
    figure.update_yaxes(title_text="equity", row=1, col=1)
    figure.update_yaxes(title_text="drawdown %", row=2, col=1)
    figure.update_layout(title=title, height=560, **_LAYOUT)
    return figure


def monthly_heatmap(grid: pd.DataFrame) -> go.Figure:
    """Monthly returns (%) by year and month, red to green around zero."""
    values = grid.to_numpy(dtype=float) * 100.0
    text = np.where(np.isnan(values), "", np.char.mod("%.1f", np.nan_to_num(values)))
    figure = go.Figure(
        go.Heatmap(
            z=values,
            x=[calendar.month_abbr[m] for m in grid.columns],
            y=[str(y) for y in grid.index],
            text=text,
            texttemplate="%{text}",
            colorscale="RdYlGn",
            zmid=0.0,
            colorbar={"title": "%"},
            hoverongaps=False,
        )
    )
    figure.update_layout(title="monthly returns (%)", **_LAYOUT)
    figure.update_yaxes(type="category", autorange="reversed")
    return figure


def equity_overlay(curves: Mapping[str, pd.DataFrame]) -> go.Figure:
    """Several equity curves as growth of 1 (each divided by its starting cash)."""
    figure = go.Figure()
    for label, frame in curves.items():
        figure.add_trace(
            _scatter(len(frame))(x=frame["timestamp"], y=frame["growth"], name=label, mode="lines")
        )
    figure.update_layout(title="equity (growth of 1)", yaxis_title="growth of 1", **_LAYOUT)
    return figure


def comparison_bars(table: pd.DataFrame, metrics: Sequence[tuple[str, str]]) -> go.Figure:
    """One bar panel per ``(metric, title)``, one bar per run (rows of ``table`` indexed by
    run label, columns metric names)."""
    figure = make_subplots(rows=1, cols=len(metrics), subplot_titles=[t for _, t in metrics])
    for col, (metric, _) in enumerate(metrics, start=1):
        values = table[metric] if metric in table else pd.Series(np.nan, index=table.index)
        figure.add_trace(
            go.Bar(x=list(table.index), y=values.to_numpy(dtype=float), showlegend=False),
            row=1,
            col=col,
        )
    figure.update_layout(height=380, **_LAYOUT)
    return figure


def walkforward_bars(windows: pd.DataFrame, *, metric: str) -> go.Figure:
    """In-sample vs out-of-sample ``metric`` per window."""
    labels = [f"window {int(w)}" if pd.notna(w) else "?" for w in windows["window"]]
    figure = go.Figure()
    figure.add_trace(go.Bar(x=labels, y=windows[f"is_{metric}"], name="in-sample"))
    figure.add_trace(go.Bar(x=labels, y=windows[f"oos_{metric}"], name="out-of-sample"))
    figure.update_layout(title=f"{metric}: in-sample vs out-of-sample", barmode="group", **_LAYOUT)
    return figure


def walkforward_equity(equity: pd.DataFrame, windows: pd.DataFrame | None = None) -> go.Figure:
    """The stitched out-of-sample equity, with each test window's start marked."""
    figure = go.Figure(
        _scatter(len(equity))(
            x=equity["timestamp"], y=equity["equity"], mode="lines", name="out-of-sample"
        )
    )
    if windows is not None and not windows.empty:
        for start in pd.to_datetime(windows["test_start"], errors="coerce", utc=True).dropna():
            figure.add_vline(x=start, line={"dash": "dot", "color": "gray", "width": 1})
    figure.update_layout(title="stitched out-of-sample equity", yaxis_title="equity", **_LAYOUT)
    return figure


def resource_bars(resources: pd.DataFrame) -> go.Figure:
    """Each cluster resource's use as a share of its total (labelled ``used / total``)."""
    total = resources["total"].astype(float)
    used = resources["used"].astype(float)
    share = np.where(total > 0, used / total.where(total > 0, 1.0) * 100.0, 0.0)
    figure = go.Figure(
        go.Bar(
            x=share,
            y=resources["resource"],
            orientation="h",
            text=[f"{u:,.1f} / {t:,.1f}" for u, t in zip(used, total, strict=True)],
            textposition="outside",
        )
    )
    figure.update_layout(
        title="cluster resources in use",
        xaxis={"title": "% of total", "range": [0, 110]},
        height=120 + 40 * len(resources),
        **_LAYOUT,
    )
    return figure


def live_pnl(days: pd.DataFrame) -> go.Figure:
    """The live account's equity at each day's close over its day P&L (from ``GET /pnl``)."""
    figure = make_subplots(
        rows=2, cols=1, shared_xaxes=True, row_heights=[0.65, 0.35], vertical_spacing=0.05
    )
    figure.add_trace(
        go.Scatter(x=days["day"], y=days["equity"], mode="lines", name="equity"), row=1, col=1
    )
    pnl = days["day_pnl"].astype(float).fillna(0.0)
    figure.add_trace(
        go.Bar(
            x=days["day"],
            y=pnl,
            name="day P&L",
            marker={"color": np.where(pnl >= 0, "seagreen", "firebrick")},
        ),
        row=2,
        col=1,
    )
    figure.update_yaxes(title_text="equity", row=1, col=1)
    figure.update_yaxes(title_text="day P&L", row=2, col=1)
    figure.update_layout(title="daily equity and P&L", height=480, showlegend=False, **_LAYOUT)
    return figure
