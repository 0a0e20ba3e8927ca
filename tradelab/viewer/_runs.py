"""A trial's backtest for the Run and Compare pages: equity, drawdown, trades, tear sheet.

Studies log metrics for every trial but the equity curve, trades and tear sheet only for their
best few (on the first symbol). So the viewer re-runs the trial's backtest — the study's strategy
and settings (costs, cash, date range, fixed params) with the trial's params, over the whole range
of one symbol — from the data store: ~0.1 s for 10 years of daily bars, deterministic, and cached
by the pages. When the bars are no longer in the store, the logged ``equity.csv`` /
``trades.csv`` of the trial are used instead (first symbol only). The tear sheet is the logged
``tearsheet.html`` when there is one for that symbol, otherwise built on request (quantstats,
a few seconds). Nothing is written anywhere but a temporary directory.
"""

from __future__ import annotations

import io
import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from tradelab.errors import DataNotFoundError, TrackingError
from tradelab.viewer._tracking import RunRecord, StudyRecord, artifact_bytes

__all__ = ["RunCurve", "TearSheet", "trial_backtest", "trial_tearsheet"]

_EQUITY, _TRADES, _TEARSHEET = "equity.csv", "trades.csv", "tearsheet.html"


@dataclass(frozen=True, kw_only=True, slots=True)
class RunCurve:
    """One backtest of a trial, ready to plot.

    Attributes:
        symbol: The symbol it ran on.
        equity: ``timestamp`` (UTC), ``equity``, ``drawdown`` (from the running peak) and, when
            known, ``benchmark`` (buy and hold of the same cash).
        trades: One row per trade (entry/exit time and price, size, P&L, commission ...).
        metrics: This backtest's metrics (empty when read from logged artifacts).
        undefined: Why a metric is NaN, by name.
        source: ``"re-run"`` (from the data store now) or ``"logged"`` (the study's artifacts).
        cash: The starting cash.
        synthetic: Whether the bars are generated demo data.
    """

    symbol: str
    equity: pd.DataFrame
    trades: pd.DataFrame
    metrics: dict[str, float] = field(default_factory=dict)
    undefined: dict[str, str] = field(default_factory=dict)
    source: str = "re-run"
    cash: float = 100_000.0
    synthetic: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class TearSheet:
    """A quantstats tear sheet (self-contained HTML) and where it came from."""

    html: str
    source: str  # "logged" or "built"
    file_name: str


def trial_backtest(
    home: str, uri: str, study: StudyRecord, run: RunRecord, symbol: str
) -> RunCurve:
    """The backtest of trial ``run`` (of ``study``) on ``symbol``: re-run from the data store at
    ``home``, or the logged artifacts when the bars are gone.

    Raises:
        ParameterError: the trial's params are invalid (an infeasible trial).
        DataNotFoundError: no bars for ``symbol`` and no logged curve to fall back on.
        TrackingError: the store cannot be reached.
    """
    try:
        result = _rerun(home, study, run, symbol)
    except DataNotFoundError as exc:
        logged = _logged_curve(home, uri, study, run, symbol)
        if logged is None:
            raise DataNotFoundError(
                f"{exc} The study logged no equity curve for trial {run.number} on {symbol} "
                "either, so it cannot be shown."
            ) from None
        return logged
    from tradelab.tracking._artifacts import equity_frame

    values = result.metrics.values
    return RunCurve(
        symbol=symbol,
        equity=equity_frame(result),
        trades=result.trades_frame(),
        metrics={k: float(v) for k, v in values.items()},
        undefined=dict(result.metrics.undefined),
        source="re-run",
        cash=result.cash,
        synthetic=_is_synthetic(home, symbol, study.bar_size),
    )


def trial_tearsheet(
    home: str, uri: str, study: StudyRecord, run: RunRecord, symbol: str
) -> TearSheet:
    """The trial's tear sheet on ``symbol``: the logged one, else built now (seconds).

    Raises:
        as :func:`trial_backtest`.
    """
    name = f"tearsheet-{run.study}-trial-{run.number}-{symbol}.html"
    if _has_logged(study, run, symbol, _TEARSHEET):
        raw = artifact_bytes(uri, run.run_id, _TEARSHEET)
        if raw is not None:
            return TearSheet(html=raw.decode("utf-8", "replace"), source="logged", file_name=name)
    result = _rerun(home, study, run, symbol)
    from tradelab.tracking._artifacts import _tearsheet

    title = f"{study.strategy} ({_params_text(run.params)}) - {run.study} trial {run.number}"
    if _is_synthetic(home, symbol, study.bar_size):
        title = f"SYNTHETIC data - {title}"
    with tempfile.TemporaryDirectory(prefix="tradelab-viewer-") as tmp:
        path = Path(tmp) / "tearsheet.html"
        _tearsheet(path, result, title=title)
        return TearSheet(html=path.read_text(encoding="utf-8"), source="built", file_name=name)


# ---- helpers --------------------------------------------------------------------------------


def _rerun(home: str, study: StudyRecord, run: RunRecord, symbol: str) -> Any:
    from tradelab.backtest import run_backtest
    from tradelab.data import ParquetStore

    bars = ParquetStore(home).read(
        symbol, bar_size=study.bar_size, start=study.start, end=study.end
    )
    return run_backtest(
        {symbol: bars},
        study.strategy,
        params={**study.fixed_params, **run.params},
        cash=study.cash,
        costs=study.costs,
        bar_size=study.bar_size,
    )


def _has_logged(study: StudyRecord, run: RunRecord, symbol: str, name: str) -> bool:
    """The study logs artifacts of its best trials on its first symbol only."""
    return bool(study.symbols) and symbol == study.symbols[0] and name in run.artifacts


def _logged_curve(
    home: str, uri: str, study: StudyRecord, run: RunRecord, symbol: str
) -> RunCurve | None:
    if not _has_logged(study, run, symbol, _EQUITY):
        return None
    raw = artifact_bytes(uri, run.run_id, _EQUITY)
    if raw is None:
        return None
    try:
        equity = pd.read_csv(io.BytesIO(raw))
        equity["timestamp"] = pd.to_datetime(equity["timestamp"], utc=True)
        trades_raw = artifact_bytes(uri, run.run_id, _TRADES) if _TRADES in run.artifacts else None
        trades = pd.read_csv(io.BytesIO(trades_raw)) if trades_raw else pd.DataFrame()
    except (ValueError, KeyError) as exc:
        raise TrackingError(
            f"the logged equity curve of trial {run.number} could not be read: {exc}"
        ) from None
    return RunCurve(
        symbol=symbol,
        equity=equity,
        trades=trades,
        source="logged",
        cash=study.cash,
        synthetic=_is_synthetic(home, symbol, study.bar_size),
    )


def _is_synthetic(home: str, symbol: str, bar_size: str) -> bool:
    from tradelab.data import ParquetStore

    try:
        return ParquetStore(home).entry(symbol, bar_size=bar_size).source == "synthetic"
    except Exception:  # the label is a courtesy; a store problem shows elsewhere
        return False


def _params_text(params: dict[str, Any]) -> str:
    return ", ".join(
        f"{k}={v:.4g}" if isinstance(v, float) and math.isfinite(v) else f"{k}={v}"
        for k, v in sorted(params.items())
    )
