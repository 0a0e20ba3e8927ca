"""Fast Backtrader backtests fed from numpy arrays, returning immutable results."""

from __future__ import annotations

from tradelab.backtest.context import RunContext
from tradelab.backtest.engine import run_backtest
from tradelab.backtest.feed import NumpyFeed
from tradelab.backtest.report import render_report, write_json, write_outputs
from tradelab.backtest.result import BacktestResult

__all__ = [
    "BacktestResult",
    "NumpyFeed",
    "RunContext",
    "render_report",
    "run_backtest",
    "write_json",
    "write_outputs",
]
