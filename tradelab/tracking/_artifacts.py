"""Artifact files of one trial's backtest: equity curve (PNG, CSV), trades CSV, tear sheet HTML."""

from __future__ import annotations

import html
import logging
import math
import textwrap
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from tradelab.backtest import BacktestResult

_log = logging.getLogger("tradelab.tracking")

EQUITY_PNG = "equity.png"
EQUITY_CSV = "equity.csv"
TRADES_CSV = "trades.csv"
TEARSHEET_HTML = "tearsheet.html"
ARTIFACT_FILES = (EQUITY_PNG, EQUITY_CSV, TRADES_CSV, TEARSHEET_HTML)


def is_synthetic(result: BacktestResult) -> bool:
    """Whether the result's notes say its data was generated."""
    return any("synthetic" in note.lower() for note in result.notes)


def write_trial_artifacts(directory: Path, result: BacktestResult, *, title: str) -> list[str]:
    """Write every artifact of ``result`` into ``directory``; return the files written.

    A file that cannot be rendered is skipped with a warning: artifacts never stop a study.
    The tear sheet falls back to a plain metrics table when quantstats fails.
    """
    frame = equity_frame(result)
    writers: dict[str, Callable[[Path], None]] = {
        EQUITY_CSV: lambda path: _iso_times(frame).to_csv(path, index=False),
        TRADES_CSV: lambda path: result.trades_frame().to_csv(path, index=False),
        EQUITY_PNG: lambda path: _equity_png(path, frame, title=title),
        TEARSHEET_HTML: lambda path: _tearsheet(path, result, title=title),
    }
    written = []
    for name, write in writers.items():
        try:
            write(directory / name)
            written.append(name)
        except Exception as exc:  # an artifact is never worth a failed study
            _log.warning("could not write the %s artifact (%s): %s", name, title, exc)
    return written


def equity_frame(result: BacktestResult) -> pd.DataFrame:
    """timestamp (UTC), equity, drawdown from the running peak (the starting cash is the first
    peak) and, when known, the benchmark's buy-and-hold value of the same starting cash."""
    equity = result.equity
    values = equity.to_numpy(dtype=float)
    peaks = np.maximum.accumulate(np.concatenate(([result.cash], values)))[1:]
    frame = pd.DataFrame(
        {
            "timestamp": equity.index,
            "equity": values,
            "drawdown": values / peaks - 1.0 if len(values) else values,
        }
    )
    bench = _benchmark_prices(result)
    if bench is not None:
        frame["benchmark"] = result.cash * bench / bench[np.isfinite(bench)][0]
    return frame


def _iso_times(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    out["timestamp"] = [stamp.isoformat() for stamp in frame["timestamp"]]
    return out


def daily_benchmark_returns(result: BacktestResult) -> pd.Series | None:
    """Benchmark returns on the index of ``result.returns`` (as the metrics compute them)."""
    bench = _benchmark_prices(result)
    if bench is None:
        return None
    returns = result.returns
    series = pd.Series(bench, index=result.equity.index)
    if len(series) != len(returns):
        series = series.groupby(series.index.normalize()).last()
    out = series.pct_change().fillna(0.0)
    out.index = returns.index
    return out.rename(f"{result.symbols[0]} buy & hold" if result.symbols else "benchmark")


def _benchmark_prices(result: BacktestResult) -> np.ndarray | None:
    values = result.benchmark_values
    if values is None or not len(values) or not np.isfinite(values).any():
        return None
    return np.asarray(values, dtype=float)


def _equity_png(path: Path, frame: pd.DataFrame, *, title: str) -> None:
    # Figure + FigureCanvasAgg: the Agg backend without touching pyplot's global state.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 6), layout="constrained")
    FigureCanvasAgg(figure)
    top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=(3, 1))
    stamps = pd.DatetimeIndex(frame["timestamp"]).tz_localize(None)
    top.plot(stamps, frame["equity"], color="tab:blue", linewidth=1.2, label="strategy")
    if "benchmark" in frame:
        top.plot(
            stamps,
            frame["benchmark"],
            color="tab:gray",
            linewidth=0.9,
            linestyle="--",
            label="benchmark (buy & hold)",
        )
    top.set_ylabel("equity")
    top.legend(loc="upper left")
    top.grid(alpha=0.3)
    top.set_title(textwrap.fill(title, width=120), fontsize=9)
    bottom.fill_between(stamps, frame["drawdown"] * 100.0, 0.0, color="tab:red", alpha=0.4)
    bottom.set_ylabel("drawdown %")
    bottom.grid(alpha=0.3)
    figure.savefig(path, dpi=100)


def _tearsheet(path: Path, result: BacktestResult, *, title: str) -> None:
    try:
        _quantstats_html(path, result, title=title)
        if path.is_file() and path.stat().st_size > 0:
            return
        raise RuntimeError("quantstats wrote no file")
    except Exception as exc:
        _log.warning(
            "quantstats could not build the tear sheet (%s: %s); writing a plain metrics table "
            "instead (%s)",
            type(exc).__name__,
            exc,
            title,
        )
        path.write_text(fallback_html(result, title=title, reason=str(exc)), encoding="utf-8")


def _quantstats_html(path: Path, result: BacktestResult, *, title: str) -> None:
    returns = result.returns
    if len(returns) < 2:
        raise ValueError(f"{len(returns)} daily return(s); a tear sheet needs at least 2")
    # quantstats 0.0.86 with pandas 3 breaks on tz-aware indexes: hand it naive UTC dates.
    returns = returns.copy()
    returns.index = returns.index.tz_localize(None)
    bench = daily_benchmark_returns(result)
    if bench is not None:
        bench.index = bench.index.tz_localize(None)
    font_log = logging.getLogger("matplotlib.font_manager")
    level = font_log.level
    with warnings.catch_warnings():
        # Deprecation chatter of quantstats and seaborn under pandas 3 / matplotlib 3.11;
        # errors are exceptions and still reach the caller.
        warnings.filterwarnings("ignore", module=r"(quantstats|seaborn)(\.|$)")
        font_log.setLevel(logging.ERROR)  # "findfont: Font family 'Arial' not found" per chart
        try:
            import quantstats

            quantstats.reports.html(
                returns,
                benchmark=bench,
                output=str(path),
                title=title,
                download_filename=path.name,
            )
        finally:
            font_log.setLevel(level)
            _close_pyplot_figures()


def _close_pyplot_figures() -> None:
    import sys

    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:
        pyplot.close("all")


def fallback_html(result: BacktestResult, *, title: str, reason: str) -> str:
    """A self-contained HTML page with the run's metrics table."""
    from tradelab.metrics import METRICS

    rows = []
    for name, value in result.metrics.values.items():
        info = METRICS.get(name)
        shown = f"{value:.6g}" if math.isfinite(value) else "undefined"
        note = result.metrics.undefined.get(name, "")
        rows.append(
            f"<tr><td>{html.escape(name)}</td><td>{html.escape(info.title if info else name)}"
            f"</td><td style='text-align:right'>{shown}</td><td>{html.escape(note)}</td></tr>"
        )
    notes = "".join(f"<p><b>{html.escape(note)}</b></p>" for note in result.notes)
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title></head><body>"
        f"<h1>{html.escape(title)}</h1>{notes}"
        f"<p>Final value {result.final_value:,.2f} from {result.cash:,.2f}; "
        f"{len(result.closed_trades)} closed trades.</p>"
        f"<p><i>The full tear sheet could not be built: {html.escape(reason)}</i></p>"
        "<table border='1' cellspacing='0' cellpadding='4'>"
        "<tr><th>metric</th><th>title</th><th>value</th><th>undefined because</th></tr>"
        f"{''.join(rows)}</table></body></html>"
    )
