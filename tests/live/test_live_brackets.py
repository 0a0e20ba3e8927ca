"""Brackets, trailing stops and OCO orders of Backtrader strategies: in backtests (through
BaseStrategy's risk check) and live through the broker bridge and the trading engine, with the
same fills on replayed bars."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.live.bracket_strategy import BracketEveryFewBars, OcoBreakout, TrailsAfterEntry
from tests.live.test_live_runner import (
    CASH,
    COSTS,
    assert_same_fills,
    backtest_fill_rows,
    fill_rows,
    paper,
    run,
    run_live,
    universe,
)
from tradelab.audit import AuditConfig, AuditLog
from tradelab.backtest import run_backtest
from tradelab.brokers.replay import bars_from_frames
from tradelab.live import StrategyRunner, TradingEngine
from tradelab.risk import RiskManager


async def run_on_engine(stream: Any, strategy: Any, tmp_path: Path, *,
                        params: dict[str, Any]) -> tuple[Any, Any, AuditLog]:
    """The strategy live behind the real trading engine (risk manager, audit log, groups)."""
    broker = paper(stream)
    audit = AuditLog(AuditConfig(url=f"sqlite:///{tmp_path / 'audit.db'}"))
    engine = TradingEngine(broker, risk=RiskManager(), audit=audit)
    await engine.start()
    runner = StrategyRunner(strategy, symbols=["AAA"], broker=broker,
                            submit=engine.submitter("strategy:test"), cancel=engine.cancel,
                            params=params)
    await runner.start()
    broker.start_stream()
    await asyncio.wait_for(broker.finished.wait(), 30)
    assert await runner.stop(), "the strategy thread did not end"
    return runner, broker, audit


def backtest(frames: Any, strategy: Any, params: dict[str, Any]) -> Any:
    return run_backtest(frames, strategy, params=params, cash=CASH, costs=COSTS, metrics=False)


@pytest.mark.parametrize("params", [
    {"every": 5, "take": 0.02, "stop": 0.02},
    {"every": 4, "take": 0.03, "stop": 0.015, "sell": True},
    {"every": 5, "take": 0.04, "trail": 0.01},
], ids=["buy-bracket", "sell-bracket", "trailing-stop-exit"])
def test_a_bracket_strategy_live_through_the_engine_makes_the_same_fills_as_its_backtest(
        params: dict[str, Any], tmp_path: Path) -> None:
    frames = universe(["AAA"], end="2022-09-30")
    result = backtest(frames, BracketEveryFewBars, params)
    fills = backtest_fill_rows(result)
    assert len(fills) >= 10 and not [e for e in result.risk_events if not e.approved]

    runner, broker, audit = run(run_on_engine(bars_from_frames(frames), BracketEveryFewBars,
                                              tmp_path, params=params), timeout=40)

    assert_same_fills(fill_rows(run(broker.fills())), fills)
    assert abs(broker.account_now().equity - result.final_value) < 0.005  # to the cent
    strategy = runner.strategy
    assert ("stop", "Canceled") in strategy.notes or ("take", "Canceled") in strategy.notes
    assert not [n for n in strategy.notes if n[1] == "Rejected"]
    children = [o for o in audit.orders() if o.request.parent_id is not None]
    assert children and all(o.request.oco_group == o.request.parent_id for o in children)
    assert len(audit.decisions()) == len(audit.orders())  # every order with its decision
    exits = [d for d in audit.decisions() if d["parent_id"] is not None]
    assert exits and all(d["reason"].startswith("exit of") for d in exits)  # one decision each
    kinds = {o.request.order_type for o in audit.orders() if o.filled_quantity}
    assert {"market", "limit"} <= kinds and kinds & {"stop", "trailing_stop"}
    audit.close()


def test_a_trailing_stop_live_follows_the_same_stops_and_fills_as_its_backtest() -> None:
    frames = universe(["AAA"], end="2022-06-30")
    params = {"size": 100, "percent": 0.02}
    result = backtest(frames, TrailsAfterEntry, params)
    assert len(backtest_fill_rows(result)) == 2  # the entry and the trailed exit

    runner, broker, _ = run(run_live(bars_from_frames(frames), TrailsAfterEntry,
                                     symbols=["AAA"], params=params))

    assert_same_fills(fill_rows(run(broker.fills())), backtest_fill_rows(result))
    live_stops = runner.strategy.stops
    assert len(live_stops) > 3 and live_stops == sorted(live_stops)  # only ever up
    order = next(o for o in run(broker.orders()) if o.request.order_type == "trailing_stop")
    assert order.request.trail_percent == 2.0


def test_brackets_through_a_submit_without_groups_go_one_by_one_with_the_same_fills() -> None:
    frames = universe(["AAA"], end="2022-09-30")
    params = {"every": 5, "take": 0.02, "stop": 0.02}
    result = backtest(frames, BracketEveryFewBars, params)

    runner, broker, requests = run(run_live(bars_from_frames(frames), BracketEveryFewBars,
                                            symbols=["AAA"], params=params))

    assert_same_fills(fill_rows(run(broker.fills())), backtest_fill_rows(result))
    kinds = [(r.order_type, r.parent_id is not None) for r in requests[:3]]
    assert kinds == [("market", False), ("stop", True), ("limit", True)]


def test_a_backtest_bracket_passes_base_strategy_risk_and_its_exits_cancel_each_other() -> None:
    frames = universe(["AAA"], end="2022-06-30")
    result = backtest(frames, BracketEveryFewBars, {"every": 5})
    statuses = {(o.side, o.order_type, o.status) for o in result.orders}
    assert {("sell", "limit", "completed"), ("sell", "stop", "completed"),
            ("sell", "limit", "canceled"), ("sell", "stop", "canceled")} <= statuses
    exits = [o for o in result.orders if o.side == "sell"]
    entries = [o for o in result.orders if o.side == "buy"]
    # every entry filled, and of its two exits one completed and one was cancelled (or both
    # still waiting at the end)
    assert sum(o.status == "completed" for o in exits) >= len(entries) - 1
    assert sum(o.status == "canceled" for o in exits) >= len(entries) - 1
    assert not [e for e in result.risk_events if not e.approved]


def test_backtrader_oco_orders_live_cancel_each_other_like_the_backtest() -> None:
    frames = universe(["AAA"], end="2022-04-29")
    params = {"size": 100, "band": 0.02}
    result = backtest(frames, OcoBreakout, params)
    assert len(backtest_fill_rows(result)) == 2  # one side of the OCO, then the close

    runner, broker, requests = run(run_live(bars_from_frames(frames), OcoBreakout,
                                            symbols=["AAA"], params=params))

    assert_same_fills(fill_rows(run(broker.fills())), backtest_fill_rows(result))
    ended = sorted(n for n in runner.strategy.notes
                   if n[1] in ("Completed", "Canceled") and n[0] != "close")
    assert ended in ([("high", "Canceled"), ("low", "Completed")],
                     [("high", "Completed"), ("low", "Canceled")])
    assert requests[0].oco_group is None  # sent before anything named it: the bridge links it
    leader = requests[0].client_order_id.rsplit("-", 1)[1]  # the first order's Backtrader ref
    assert requests[1].oco_group == f"{runner.runner_id}-oco-{leader}"


def test_backtest_bracket_exits_are_not_new_risk_and_a_denied_entry_sends_nothing() -> None:
    from tradelab.risk import RiskConfig

    frames = universe(["AAA"], end="2022-06-30")
    # one order a minute would deny both exits of every bracket if they were checked as orders
    tight = run_backtest(frames, BracketEveryFewBars, params={"every": 5}, cash=CASH,
                         costs=COSTS, metrics=False,
                         risk=RiskConfig(max_orders_per_minute=1_000_000, max_order_value=1.0))
    assert [o for o in tight.orders if o.status != "denied"] == []  # entries denied: no exits
    assert {o.side for o in tight.orders} == {"buy"}  # one denial per bracket, for its entry
    normal = backtest(frames, BracketEveryFewBars, {"every": 5})
    checks = [e for e in normal.risk_events if e.kind == "order_check"]
    entries = [o for o in normal.orders if o.side == "buy"]
    assert len(checks) == len(entries)  # the exits were not checked as new orders
