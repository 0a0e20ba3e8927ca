"""A live intraday strategy that reads a resampled daily timeframe trades as in its backtest."""

from __future__ import annotations

from tests.live.test_live_runner import (
    CASH,
    COSTS,
    assert_same_fills,
    backtest_fill_rows,
    fill_rows,
    run,
    run_live,
)
from tradelab.backtest import run_backtest
from tradelab.brokers.replay import bars_from_frames
from tradelab.data import generate_universe
from tradelab.live import StrategyRunnerConfig

PARAMS = {"range_minutes": 30, "reward": 2.0, "trend_period": 3}


def test_opening_range_breakout_with_a_daily_trend_filter_matches_its_backtest_live() -> None:
    frames = generate_universe(["AAA"], start="2024-11-18", end="2024-12-06", bar_size="5m",
                               seed=3, calendar="XNYS")
    backtest = run_backtest(frames, "opening_range_breakout", params=PARAMS, cash=CASH,
                            costs=COSTS)
    runner, broker, _ = run(run_live(
        bars_from_frames(frames), "opening_range_breakout", symbols=["AAA"], params=PARAMS,
        config=StrategyRunnerConfig(bar_seconds=300)), timeout=60)
    status = runner.status()
    assert status["last_error"] is None, status["last_error"]
    live = fill_rows(run(broker.fills()))
    assert live, "the strategy traded nothing: the test would prove nothing"
    assert_same_fills(live, backtest_fill_rows(backtest))
    assert run(broker.positions()) == {}  # flat at the end of every session
