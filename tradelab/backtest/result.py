"""The immutable outcome of one backtest."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from tradelab.metrics import MetricsReport
from tradelab.records import OrderRecord, TradeRecord
from tradelab.risk import RiskEvent

__all__ = ["BacktestResult"]


def _frozen(values: np.ndarray, dtype: type) -> np.ndarray:
    out = np.array(values, dtype=dtype, copy=True)
    out.flags.writeable = False
    return out


@dataclass(frozen=True, kw_only=True, slots=True)
class BacktestResult:
    """Everything one run produced. Arrays are read-only; series are rebuilt on access.

    Attributes:
        strategy: registry name of the strategy.
        params: the parameters the strategy ran with (defaults filled in).
        symbols: the symbols traded, the first one is the benchmark's.
        timestamps: bar timestamps, int64 ns UTC (read-only).
        equity_values: portfolio value at the close of every bar (read-only).
        trades: closed trades, then trades still open at the end (``is_open``).
        orders: orders in their final state, including ``denied`` ones the risk manager stopped.
        risk_events: every risk decision and state change of the run.
        metrics: the metrics report (``result.metrics["sharpe"]``).
        bars: bars processed (all symbols); run_time: wall seconds of the Backtrader run.
    """

    strategy: str
    params: Mapping[str, Any]
    symbols: tuple[str, ...]
    bar_size: str
    cash: float
    costs: str
    timestamps: np.ndarray
    equity_values: np.ndarray
    trades: tuple[TradeRecord, ...]
    orders: tuple[OrderRecord, ...]
    risk_events: tuple[RiskEvent, ...]
    metrics: MetricsReport
    bars: int
    run_time: float
    benchmark_values: np.ndarray | None = None
    notes: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))
        object.__setattr__(self, "timestamps", _frozen(self.timestamps, np.int64))
        object.__setattr__(self, "equity_values", _frozen(self.equity_values, np.float64))
        if self.benchmark_values is not None:
            object.__setattr__(self, "benchmark_values",
                               _frozen(self.benchmark_values, np.float64))

    @property
    def final_value(self) -> float:
        return float(self.equity_values[-1]) if len(self.equity_values) else self.cash

    @property
    def equity(self) -> pd.Series:
        """Equity curve per bar (a new Series each call)."""
        index = pd.DatetimeIndex(pd.to_datetime(self.timestamps, utc=True), name="timestamp")
        return pd.Series(np.array(self.equity_values), index=index, name="equity")

    @property
    def daily_equity(self) -> pd.Series:
        """Equity at the last bar of each UTC day."""
        equity = self.equity
        if len(equity) < 2 or (equity.index[1:] - equity.index[:-1]).min() >= pd.Timedelta("1D"):
            return equity
        return equity.groupby(equity.index.normalize()).last()

    @property
    def returns(self) -> pd.Series:
        """Daily returns; the first day's is measured from the starting cash."""
        daily = self.daily_equity
        values = daily.to_numpy()
        previous = np.concatenate(([self.cash], values[:-1]))
        return pd.Series(values / previous - 1.0, index=daily.index, name="returns")

    @property
    def closed_trades(self) -> tuple[TradeRecord, ...]:
        return tuple(t for t in self.trades if not t.is_open)

    @property
    def bars_per_second(self) -> float:
        return self.bars / self.run_time if self.run_time > 0 else math.inf

    def trades_frame(self) -> pd.DataFrame:
        """Trades as a DataFrame (one row per trade)."""
        columns = ["symbol", "entry_time", "exit_time", "entry_price", "exit_price", "size",
                   "pnl_gross", "pnl", "commission", "bars_held", "is_open", "return_pct"]
        return pd.DataFrame([t.to_dict() for t in self.trades], columns=columns)

    def to_dict(self, *, include_equity: bool = False) -> dict[str, Any]:
        """A JSON-friendly dict: metrics (name → value, null when undefined), final value, trades,
        orders, params and the run's facts."""
        start = pd.Timestamp(int(self.timestamps[0]), tz="UTC") if len(self.timestamps) else None
        end = pd.Timestamp(int(self.timestamps[-1]), tz="UTC") if len(self.timestamps) else None
        data: dict[str, Any] = {
            "strategy": self.strategy,
            "params": dict(self.params),
            "symbols": list(self.symbols),
            "bar_size": self.bar_size,
            "start": start.isoformat() if start is not None else None,
            "end": end.isoformat() if end is not None else None,
            "cash": self.cash,
            "costs": self.costs,
            "final_value": self.final_value,
            "metrics": {k: (v if math.isfinite(v) else None)
                        for k, v in self.metrics.values.items()},
            "undefined_metrics": dict(self.metrics.undefined),
            "regimes": {k: dict(v) for k, v in self.metrics.regimes.items()},
            "trades": [t.to_dict() for t in self.trades],
            "orders": [o.to_dict() for o in self.orders],
            "risk_events": [e.to_dict() for e in self.risk_events if not e.approved
                            or e.kind != "order_check"],
            "bars": self.bars,
            "run_time_seconds": self.run_time,
            "notes": list(self.notes),
        }
        if include_equity:
            data["equity"] = {ts.isoformat(): v for ts, v in self.equity.items()}
        return data
