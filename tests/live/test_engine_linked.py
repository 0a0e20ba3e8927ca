"""TradingEngine and linked orders: a bracket is one risk decision on its entry, logged with its
links, all or nothing; exits waiting for their entry and OCO groups in the worst case."""

from __future__ import annotations

import pytest

from tests.live.test_engine import make_engine, order, run
from tradelab.brokers import OrderStatus
from tradelab.errors import DuplicateOrderError, OrderError
from tradelab.live.desk import OrderConflictError
from tradelab.risk import RiskConfig


async def started(tmp_path, **kw):
    engine, broker, audit = make_engine(tmp_path, **kw)
    await engine.start()
    await broker.run_steps(1)
    return engine, broker, audit


def resting_entry(cid: str = "e1", quantity: float = 10):
    """A buy limit far enough below the market (~100) not to fill."""
    return order(cid, quantity=quantity, order_type="limit", limit_price=80.0,
                 time_in_force="GTC")


def test_bracket_is_risk_checked_once_on_its_entry_and_logged_with_its_links(tmp_path) -> None:
    async def scenario():
        engine, broker, audit = await started(tmp_path,
                                              risk=RiskConfig(max_orders_per_minute=2))
        outcomes = await engine.submit_bracket(resting_entry(), take_profit=120.0,
                                               stop_loss=70.0)
        second = await engine.submit(order("o2", quantity=1))
        third = await engine.submit(order("o3", quantity=1))
        return outcomes, second, third, await broker.orders(), audit

    outcomes, second, third, at_broker, audit = run(scenario())
    assert [o.request.client_order_id for o in outcomes] == ["e1", "e1.tp", "e1.sl"]
    assert all(o.accepted for o in outcomes)
    assert outcomes[1].decision.reason.startswith("exit of e1, sent with it")
    # one check for the bracket, one for o2: the rate limit of 2 denies o3
    assert second.accepted and third.decision.rule == "max_orders_per_minute"
    assert [o.client_order_id for o in at_broker][:3] == ["e1", "e1.sl", "e1.tp"]
    logged = {cid: audit.order(cid) for cid in ("e1", "e1.tp", "e1.sl")}
    assert logged["e1"].request.parent_id is None
    for child in ("e1.tp", "e1.sl"):
        assert logged[child].request.parent_id == "e1"
        assert logged[child].request.oco_group == "e1"
        assert logged[child].status is OrderStatus.SUBMITTED
    decisions = {d["client_order_id"]: d for d in audit.decisions()}
    assert decisions["e1.sl"]["parent_id"] == "e1" and decisions["e1.sl"]["approved"]
    assert decisions["e1.tp"]["oco_group"] == "e1"


def test_a_denied_entry_sends_nothing_and_logs_all_three_decisions(tmp_path) -> None:
    async def scenario():
        engine, broker, audit = await started(tmp_path, risk=RiskConfig(max_order_value=500.0))
        outcomes = await engine.submit_bracket(resting_entry(), take_profit=120.0,
                                               stop_loss=70.0)
        return outcomes, await broker.orders(), audit

    outcomes, at_broker, audit = run(scenario())
    assert not any(o.accepted for o in outcomes)
    assert {o.decision.rule for o in outcomes} == {"max_order_value"}
    assert "its entry e1 was denied" in outcomes[2].decision.reason
    assert at_broker == [] and not any(audit.has_order(c) for c in ("e1", "e1.tp", "e1.sl"))
    assert len(audit.decisions(approved=False)) == 3


def test_bad_bracket_input_is_refused_before_anything_is_recorded(tmp_path) -> None:
    async def scenario():
        engine, broker, audit = await started(tmp_path)
        with pytest.raises(OrderError, match="'take_profit': got 75"):
            await engine.submit_bracket(resting_entry(), take_profit=75.0, stop_loss=70.0)
        last = broker.last_price("AAA")
        with pytest.raises(OrderError, match="'take_profit'"):  # a market entry: vs the last
            await engine.submit_bracket(order("m1"), take_profit=last - 1, stop_loss=last - 5)
        with pytest.raises(OrderError, match="price band"):
            await engine.submit_bracket(resting_entry(), take_profit=400.0, stop_loss=70.0)
        await engine.submit(order("used"))
        with pytest.raises(DuplicateOrderError, match="'used'"):
            await engine.submit_bracket(resting_entry(), take_profit=120.0, stop_loss=70.0,
                                        stop_loss_id="used")
        return await broker.orders(), audit

    at_broker, audit = run(scenario())
    assert [o.client_order_id for o in at_broker] == ["used"]
    assert [d["client_order_id"] for d in audit.decisions()] == ["used"]


def test_exits_waiting_for_their_entry_and_oco_members_are_not_counted_as_new_shorts(
        tmp_path) -> None:
    async def scenario():
        engine, broker, audit = await started(tmp_path, risk=RiskConfig(max_position_shares=15))
        await engine.submit_bracket(resting_entry(quantity=10), take_profit=120.0,
                                    stop_loss=70.0)
        waiting = await engine.validate(order("short", side="sell", quantity=15))
        await engine.cancel("e1")  # its exits go with it
        await engine.submit_bracket(order("e2", quantity=10, time_in_force="GTC"),
                                    take_profit=120.0, stop_loss=70.0)
        await broker.run_steps(2)  # e2 fills; its exits work from the next bar
        held = (await broker.positions())["AAA"].quantity
        oco = await engine.validate(order("flip", side="sell", quantity=15))
        with pytest.raises(OrderConflictError, match="already being closed"):
            await engine.close_position("AAA")
        return waiting, held, oco

    waiting, held, oco = run(scenario())
    assert waiting.approved  # e1's exits (20 shares of sells) wait for e1: not counted
    assert held == 10
    assert oco.approved  # e2's two exits count once: 10 - 10 - 15 = -15, within 15


def test_an_exit_attached_to_an_open_entry_is_approved_even_when_reducing(tmp_path) -> None:
    async def scenario():
        engine, broker, audit = await started(tmp_path)
        await engine.submit(resting_entry())
        engine.reduce("only exits")
        exit_ = await engine.submit(order("x1", side="sell", parent_id="e1", order_type="stop",
                                          stop_price=70.0, time_in_force="GTC"))
        new_short = await engine.submit(order("s1", side="sell"))
        with pytest.raises(OrderError, match="could close 20 shares"):
            await engine.submit(order("x2", side="sell", parent_id="e1", order_type="limit",
                                      limit_price=120.0, time_in_force="GTC"))
        with pytest.raises(OrderError, match="no order 'nope'"):
            await engine.submit(order("x3", side="sell", parent_id="nope"))
        return exit_, new_short, audit

    exit_, new_short, audit = run(scenario())
    assert exit_.accepted and exit_.decision.reason.startswith("exit of e1")
    assert not new_short.accepted and new_short.decision.rule == "reducing"
    assert not audit.has_order("x2") and not audit.has_order("x3")


def test_a_restarted_engine_keeps_the_bracket_links_and_its_exits_still_cancel_each_other(
        tmp_path) -> None:
    async def first_life():
        engine, broker, audit = await started(tmp_path)
        entry = order("e1", order_type="limit", limit_price=broker.last_price("AAA") * 0.995,
                      time_in_force="GTC")
        await engine.submit_bracket(entry, take_profit=broker.last_price("AAA") * 1.004,
                                    stop_loss=80.0)
        await engine.close()
        audit.close()

    run(first_life())

    async def second_life():
        engine, broker, audit = make_engine(tmp_path)
        await engine.start()
        restored = {o.client_order_id: o for o in await broker.orders()}
        for _ in range(29):
            await broker.run_steps(1)
            if not audit.order("e1.tp").is_open:
                break
        return restored, {c: audit.order(c) for c in ("e1", "e1.tp", "e1.sl")}

    restored, final = run(second_life())
    assert restored["e1.tp"].request.parent_id == "e1"
    assert restored["e1.sl"].request.oco_group == "e1"
    assert final["e1"].status is OrderStatus.FILLED
    assert final["e1.tp"].status is OrderStatus.FILLED
    assert final["e1.sl"].status is OrderStatus.CANCELLED
    assert final["e1.tp"].updated_at > final["e1"].updated_at
