"""Trade statistics from closed :class:`~tradelab.records.TradeRecord` round trips."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime

import numpy as np

from tradelab.errors import ConfigError
from tradelab.metrics._collect import Collector
from tradelab.metrics.registry import NO_TRADES
from tradelab.records import TradeRecord

PER_TRADE_METRICS = (
    "win_rate",
    "avg_trade",
    "avg_win",
    "avg_loss",
    "best_trade",
    "worst_trade",
    "payoff_ratio",
    "profit_factor",
    "expectancy",
    "sqn",
    "avg_bars_held",
)
NO_WINS = "no winning trades"
NO_LOSSES = "no losing trades"


def split_trades(trades: Sequence[TradeRecord]) -> tuple[list[TradeRecord], int]:
    """Closed trades sorted by exit time (stable), and the number of open ones.

    Raises:
        ConfigError: an item is not a TradeRecord, a closed trade has no exit time, or exit
            times cannot be compared (naive mixed with tz-aware).
    """
    closed: list[TradeRecord] = []
    n_open = 0
    for i, trade in enumerate(trades):
        if not isinstance(trade, TradeRecord):
            raise ConfigError(
                f"trades[{i}] is a {type(trade).__name__}, not a TradeRecord; pass the "
                "BacktestResult's trades (tradelab.records.TradeRecord)."
            )
        if trade.is_open:
            n_open += 1
        elif trade.exit_time is None:
            raise ConfigError(
                f"trades[{i}] ({trade.symbol}) is closed (is_open False) but has no exit_time; "
                "set exit_time or mark it is_open=True."
            )
        else:
            closed.append(trade)
    try:
        closed.sort(key=_exit_time)
    except TypeError as exc:
        raise ConfigError(
            f"trade exit times cannot be ordered ({exc}); use tz-aware UTC datetimes throughout."
        ) from None
    return closed, n_open


def _exit_time(trade: TradeRecord) -> datetime:
    return trade.exit_time  # type: ignore[return-value]  # closed trades have one


def longest_run(mask: np.ndarray) -> int:
    """Length of the longest run of True in a boolean array (0 if none)."""
    if not mask.any():
        return 0
    edges = np.diff(np.concatenate(([0], mask.view(np.int8), [0])))
    return int((np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)).max())


def trade_metrics(
    out: Collector,
    trades: Sequence[TradeRecord],
    *,
    exposure: float | None,
    commissions: float,
) -> None:
    """Counts, win rate, averages, payoff, profit factor, expectancy, SQN, streaks, holding."""
    closed, n_open = split_trades(trades)
    n = len(closed)
    out.put("num_trades", n)
    out.put("open_trades", n_open)
    out.put("commissions", commissions)
    if exposure is None:
        out.undefined("exposure_time", "exposure not given")
    else:
        out.put("exposure_time", exposure)
    if n == 0:
        out.put("max_consecutive_wins", 0.0)
        out.put("max_consecutive_losses", 0.0)
        out.undefined(PER_TRADE_METRICS, NO_TRADES)
        return

    table = np.array([(t.pnl, t.return_pct, t.bars_held) for t in closed], dtype=float)
    pnl, ret, bars = table[:, 0], table[:, 1], table[:, 2]
    won, lost = pnl > 0.0, pnl < 0.0
    n_won, n_lost = int(won.sum()), int(lost.sum())

    out.put("win_rate", n_won / n)
    out.put("avg_trade", ret.mean())
    out.put("best_trade", ret.max())
    out.put("worst_trade", ret.min())
    out.put("expectancy", pnl.mean())
    out.put("avg_bars_held", bars.mean())
    out.put("max_consecutive_wins", longest_run(won))
    out.put("max_consecutive_losses", longest_run(lost))

    avg_win = float(ret[won].mean()) if n_won else math.nan
    avg_loss = float(ret[lost].mean()) if n_lost else math.nan
    if n_won:
        out.put("avg_win", avg_win)
    else:
        out.undefined("avg_win", NO_WINS)
    if n_lost:
        out.put("avg_loss", avg_loss)
        out.put("profit_factor", float(pnl[won].sum()) / -float(pnl[lost].sum()), NO_LOSSES)
    else:
        out.undefined(("avg_loss", "profit_factor"), NO_LOSSES)
    if n_won and n_lost:
        out.put("payoff_ratio", avg_win / -avg_loss, "average loss is zero")
    else:
        missing = [reason for reason, count in ((NO_WINS, n_won), (NO_LOSSES, n_lost)) if not count]
        out.undefined("payoff_ratio", "; ".join(missing))

    if n < 2:
        out.undefined("sqn", "fewer than 2 closed trades")
    elif pnl.max() == pnl.min():
        out.undefined("sqn", "trade pnl has zero dispersion")
    else:
        out.put("sqn", math.sqrt(n) * float(pnl.mean()) / float(pnl.std(ddof=1)))
