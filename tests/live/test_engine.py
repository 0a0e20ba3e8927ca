"""TradingEngine: one order path through risk, audit log and broker; kill switch; restart."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta

import pytest

from tradelab.audit import AuditConfig, AuditLog
from tradelab.brokers import Bar, OrderRequest, OrderStatus, PaperBroker, PaperBrokerConfig
from tradelab.errors import BrokerError, DuplicateOrderError, OrderError
from tradelab.live.engine import EngineConfig, TradingEngine
from tradelab.risk import RiskConfig, RiskManager, TradingState

DAY0 = datetime(2024, 1, 2, 21, 0, tzinfo=UTC)
SYMBOLS = ("AAA", "BBB")


def make_stream(days: int = 30, *, crash_on: int | None = None, seed: int = 3):
    """Daily bars for AAA and BBB around 100 (a 30% gap down on ``crash_on``)."""
    rng = random.Random(seed)
    groups, price = [], {s: 100.0 for s in SYMBOLS}
    for day in range(days):
        stamp = DAY0 + timedelta(days=day)
        bars = []
        for symbol in SYMBOLS:
            move = 0.7 if day == crash_on else 1 + rng.uniform(-0.01, 0.01)
            open_ = price[symbol] * move
            close = open_ * (1 + rng.uniform(-0.005, 0.005))
            bars.append(Bar(symbol=symbol, timestamp=stamp, open=open_,
                            high=max(open_, close) * 1.002, low=min(open_, close) * 0.998,
                            close=close, volume=50_000.0))
            price[symbol] = close
        groups.append((stamp, bars))
    return groups


def make_engine(tmp_path, stream=None, *, risk: RiskConfig | None = None, **broker_config):
    settings = {"speed": 0, "autostart": False, "volume_participation": None, **broker_config}
    broker = PaperBroker(stream or make_stream(), PaperBrokerConfig(**settings))
    audit = AuditLog(AuditConfig(url=f"sqlite:///{tmp_path / 'audit.db'}"))
    engine = TradingEngine(broker, risk=RiskManager(risk or RiskConfig()), audit=audit,
                           config=EngineConfig(kill_wait=5))
    return engine, broker, audit


def order(cid: str, symbol: str = "AAA", side: str = "buy", quantity: float = 10, **kw):
    return OrderRequest(client_order_id=cid, symbol=symbol, side=side, quantity=quantity, **kw)


def run(coro, timeout: float = 30):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def test_an_approved_order_is_logged_before_it_reaches_the_broker_and_answers_accepted(
        tmp_path) -> None:
    async def scenario():
        engine, broker, audit = make_engine(tmp_path)
        seen_in_log_first = []
        broker.add_listener(lambda kind, o: seen_in_log_first.append(
            audit.has_order(o.client_order_id)) if kind == "order" else None)
        await engine.start()
        await broker.run_steps(1)
        outcome = await engine.submit(order("o1"))
        await broker.run_steps(1)
        return outcome, audit, seen_in_log_first

    outcome, audit, seen = run(scenario())
    assert outcome.accepted and outcome.decision.approved
    assert seen and all(seen)  # the broker's first word on the order found it logged
    logged = audit.order("o1")
    assert logged.status is OrderStatus.FILLED and logged.filled_quantity == 10
    assert len(audit.fills()) == 1
    assert [d["client_order_id"] for d in audit.decisions()] == ["o1"]


def test_a_denied_order_is_logged_as_a_decision_and_never_sent(tmp_path) -> None:
    async def scenario():
        engine, broker, audit = make_engine(tmp_path, risk=RiskConfig(max_order_value=500.0))
        await engine.start()
        await broker.run_steps(1)
        outcome = await engine.submit(order("big", quantity=10))
        return outcome, await broker.orders(), audit

    outcome, broker_orders, audit = run(scenario())
    assert not outcome.accepted and outcome.decision.rule == "max_order_value"
    assert broker_orders == [] and not audit.has_order("big")
    assert audit.decisions(approved=False)[0]["rule"] == "max_order_value"


def test_bad_input_raises_and_records_nothing(tmp_path) -> None:
    async def scenario():
        engine, broker, audit = make_engine(tmp_path)
        await engine.start()
        await broker.run_steps(1)
        await engine.submit(order("dup"))
        before = audit.counts()
        with pytest.raises(DuplicateOrderError, match="'dup' was used already"):
            await engine.submit(order("dup", quantity=99))
        with pytest.raises(OrderError, match="unknown symbol 'ZZZ'"):
            await engine.submit(order("z", symbol="ZZZ"))
        with pytest.raises(OrderError, match="outside the ±50% price band"):
            await engine.submit(order("fat", order_type="limit", limit_price=1_000.0))
        return before, audit.counts(), await broker.orders()

    before, after, broker_orders = run(scenario())
    assert before == after
    assert [o.client_order_id for o in broker_orders] == ["dup"]


def test_a_market_order_before_any_price_is_denied_with_no_price(tmp_path) -> None:
    async def scenario():
        engine, _, _ = make_engine(tmp_path)
        await engine.start()
        return await engine.submit(order("early"))

    outcome = run(scenario())
    assert (outcome.accepted, outcome.decision.rule) == (False, "no_price")


def test_open_orders_count_against_limits_so_many_small_orders_cannot_add_up(tmp_path) -> None:
    async def scenario():
        engine, broker, _ = make_engine(tmp_path, risk=RiskConfig(max_position_shares=100))
        await engine.start()
        await broker.run_steps(1)
        outcomes = await asyncio.gather(*(engine.submit(order(f"s{i}", quantity=30))
                                          for i in range(10)))
        await broker.run_steps(1)
        return outcomes, await broker.positions()

    outcomes, positions = run(scenario())
    assert sum(o.accepted for o in outcomes) == 3  # 90 shares; a fourth would make 120
    assert {o.decision.rule for o in outcomes if not o.accepted} == {"max_position_shares"}
    assert positions["AAA"].quantity == 90


def test_randomized_concurrent_orders_never_breach_a_limit_and_log_each_accepted_once(
        tmp_path) -> None:
    limits = RiskConfig(max_position_shares=400, max_concentration=0.3, max_gross_leverage=0.5,
                        max_order_value=20_000.0, max_orders_per_minute=10_000)
    rng = random.Random(11)

    def random_order(i: int) -> OrderRequest:
        kind = rng.choice(["market", "market", "limit"])
        extra = {"order_type": "limit", "limit_price": round(rng.uniform(95, 105), 2)} \
            if kind == "limit" else {}
        return order(f"r{i}", symbol=rng.choice(SYMBOLS), side=rng.choice(["buy", "sell"]),
                     quantity=rng.randint(1, 250), time_in_force="GTC", **extra)

    async def scenario():
        engine, broker, audit = make_engine(tmp_path, make_stream(days=60), risk=limits)
        await engine.start()
        await broker.run_steps(1)
        outcomes, worst = [], 0.0
        for batch in range(10):
            outcomes += await asyncio.gather(*(engine.submit(random_order(batch * 100 + i))
                                               for i in range(100)))
            await broker.run_steps(1)
            for position in (await broker.positions()).values():
                worst = max(worst, abs(position.quantity))
        return outcomes, worst, audit

    outcomes, worst, audit = run(scenario(), timeout=120)
    accepted = [o for o in outcomes if o.accepted]
    assert 50 < len(accepted) < 1000  # the limits bite, and not everything is denied
    assert worst <= limits.max_position_shares
    for outcome in accepted:
        request = outcome.request
        assert request.quantity * (request.limit_price or 80.0) <= limits.max_order_value * 1.3
    logged = audit.orders()
    ids = [o.client_order_id for o in logged]
    assert len(ids) == len(set(ids)) == len(accepted)
    assert set(ids) == {o.request.client_order_id for o in accepted}
    assert audit.counts()["risk_decisions"] == 1000


def test_kill_switch_cancels_every_order_flattens_and_halts(tmp_path) -> None:
    async def scenario():
        engine, broker, audit = make_engine(tmp_path, speed=50)
        await engine.start()
        broker.start_stream()
        await asyncio.sleep(0.1)
        await engine.submit(order("long", "AAA", quantity=50))
        await engine.submit(order("short", "BBB", side="sell", quantity=40))
        await engine.submit(order("resting", "AAA", order_type="limit", limit_price=60.0,
                                  time_in_force="GTC"))
        await asyncio.sleep(0.2)
        held = {s: p.quantity for s, p in (await broker.positions()).items()}
        report = await engine.kill("test kill")
        after = await engine.submit(order("after-kill", quantity=1))
        return held, report, after, await broker.orders(open_only=True), audit

    held, report, after, open_orders, audit = run(scenario())
    assert held == {"AAA": 50.0, "BBB": -40.0}
    assert report["flat"] and report["state"] == "HALTED" and report["open_orders"] == []
    assert report["cancelled"] == ["resting"] and open_orders == []
    assert {o["request"]["symbol"] for o in report["flatten_orders"] if o["accepted"]} == \
        {"AAA", "BBB"}
    assert (after.accepted, after.decision.rule) == (False, "halted")
    assert [o.status for o in audit.orders() if o.client_order_id.startswith("kill-")] == \
        [OrderStatus.FILLED, OrderStatus.FILLED]
    assert audit.get_value("risk")["state"] == "HALTED"


def test_a_restarted_engine_restores_positions_orders_and_a_halt_from_the_log(tmp_path) -> None:
    stream = make_stream()

    async def first_life():
        engine, broker, _ = make_engine(tmp_path, stream)
        await engine.start()
        await broker.run_steps(1)
        await engine.submit(order("b1", quantity=20))
        await engine.submit(order("rest", order_type="limit", limit_price=70.0,
                                  time_in_force="GTC"))
        await broker.run_steps(2)
        engine.halt("operator halted before the restart")
        account = await broker.account()
        await engine.close()
        return account

    account = run(first_life())

    async def second_life():
        engine, broker, audit = make_engine(tmp_path, stream)
        restored = await engine.start()
        return restored, await broker.account(), await broker.orders(open_only=True), engine

    restored, again, open_orders, engine = run(second_life())
    assert restored == {"orders": 1, "fills": 1}
    assert again.cash == pytest.approx(account.cash)
    assert again.positions["AAA"].quantity == 20
    assert [o.client_order_id for o in open_orders] == ["rest"]
    assert engine.risk.state is TradingState.HALTED


def test_a_gap_down_past_the_daily_loss_limit_halts_for_the_day_and_is_logged(tmp_path) -> None:
    async def scenario():
        limits = RiskConfig(max_concentration=1.0, daily_loss_limit=0.05, max_drawdown=0.5)
        engine, broker, audit = make_engine(tmp_path, make_stream(crash_on=3), risk=limits)
        await engine.start()
        await broker.run_steps(1)
        await engine.submit(order("all-in", quantity=900))
        await broker.run_steps(3)  # the third is the gap down
        halted = engine.risk.state
        await broker.run_steps(1)
        return halted, engine.risk.state, audit.state_changes(), audit.daily_summaries()

    halted, next_day, changes, summaries = run(scenario())
    assert halted is TradingState.HALTED
    assert next_day is TradingState.ACTIVE  # a daily-loss halt lasts the day
    assert any(c["rule"] == "daily_loss_limit" and c["state"] == "HALTED" for c in changes)
    assert len(summaries) >= 3


def test_a_broker_refusal_is_logged_as_rejected_and_raised(tmp_path) -> None:
    async def scenario():
        engine, broker, audit = make_engine(tmp_path)
        await engine.start()
        await broker.run_steps(1)
        await broker.disconnect()
        with pytest.raises(BrokerError, match="not connected"):
            await engine.submit(order("offline"))
        return audit.order("offline")

    logged = run(scenario())
    assert logged.status is OrderStatus.REJECTED and "not connected" in logged.reason
