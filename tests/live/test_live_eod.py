"""End-of-day rules live: a strategy's own late-entry denials reach the audit log as decisions."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.live.test_live_runner import paper, run
from tests.strategies.test_strategies_end_of_day import LateTrader
from tradelab.audit import AuditConfig, AuditLog
from tradelab.brokers.replay import bars_from_frames
from tradelab.data import generate_universe
from tradelab.live import StrategyRunner, StrategyRunnerConfig, TradingEngine
from tradelab.live.engine import EngineConfig
from tradelab.risk import RiskManager


def test_late_entries_denied_by_the_strategy_live_are_logged_and_alerted(tmp_path: Path) -> None:
    frames = generate_universe(["AAA"], start="2024-07-01", end="2024-07-02", bar_size="5m",
                               seed=5, calendar="XNYS")

    async def scenario():
        broker = paper(bars_from_frames(frames))
        audit = AuditLog(AuditConfig(url=f"sqlite:///{tmp_path / 'audit.db'}"))
        engine = TradingEngine(broker, risk=RiskManager(), audit=audit,
                               config=EngineConfig(sessions="off"))
        await engine.start()
        source = "strategy:late"
        runner = StrategyRunner(
            LateTrader, symbols=["AAA"], broker=broker, submit=engine.submitter(source),
            cancel=engine.cancel, config=StrategyRunnerConfig(bar_seconds=300),
            on_denied=lambda record: engine.record_strategy_denial(record, source=source))
        await runner.start()
        broker.start_stream()
        await asyncio.wait_for(broker.finished.wait(), 30)
        assert await runner.stop()
        await asyncio.sleep(0.05)  # the last denial's report runs on this loop
        return runner.strategy.context.denied_orders, audit.decisions(approved=False), \
            engine.alerts()

    denied, logged, alerts = run(scenario(), timeout=60)
    assert len(denied) == 6  # 3 scripted denials a day, 2 days
    assert len(logged) == 6 and {d["rule"] for d in logged} == {"strategy"}
    assert all(d["source"] == "strategy:late" and "close" in d["reason"] for d in logged)
    assert sum(a["kind"] == "order_denied" for a in alerts) == 6
