"""The operator's controls: modify, cancel all, close, exposure, stress, limits, dry runs,
alerts, market hours and the daily summary — each through risk and the audit log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.live.test_engine import make_engine, make_stream, order, run
from tradelab.brokers import Bar, OrderStatus
from tradelab.errors import ConfigError, OrderError, OrderNotFoundError
from tradelab.live.desk import OrderConflictError
from tradelab.risk import RiskConfig


async def started(tmp_path, stream=None, **kw):
    engine, broker, audit = make_engine(tmp_path, stream, **kw)
    await engine.start()
    await broker.run_steps(1)
    return engine, broker, audit


def test_modify_is_risk_checked_and_logged_and_refuses_finished_orders(tmp_path) -> None:
    async def scenario():
        engine, broker, audit = await started(tmp_path, risk=RiskConfig(max_position_shares=100))
        await engine.submit(order("lim", quantity=50, order_type="limit", limit_price=80.0,
                                  time_in_force="GTC"))
        grown = await engine.modify("lim", quantity=60, limit_price=81.0)
        too_big = await engine.modify("lim", quantity=150)
        await engine.submit(order("mkt", quantity=10))
        await broker.run_steps(1)
        with pytest.raises(OrderConflictError, match="is Filled"):
            await engine.modify("mkt", quantity=20)
        with pytest.raises(OrderNotFoundError):
            await engine.modify("nope", quantity=1)
        with pytest.raises(OrderError, match="at least one"):
            await engine.modify("lim")
        current = {o.client_order_id: o for o in await broker.orders()}["lim"]
        return grown, too_big, current, audit

    grown, too_big, current, audit = run(scenario())
    assert grown.accepted and grown.order.request.quantity == 60
    assert not too_big.accepted and too_big.decision.rule == "max_position_shares"
    assert (current.request.quantity, current.request.limit_price) == (60.0, 81.0)
    modifies = [d for d in audit.decisions(client_order_id="lim") if d["action"] == "modify"]
    assert [d["approved"] for d in modifies] == [True, False]


def test_cancel_all_can_be_limited_to_one_symbol(tmp_path) -> None:
    async def scenario():
        engine, broker, _ = await started(tmp_path)
        for i, symbol in enumerate(("AAA", "AAA", "BBB")):
            await engine.submit(order(f"o{i}", symbol, order_type="limit", limit_price=80.0,
                                      time_in_force="GTC"))
        only_aaa = await engine.cancel_all("AAA")
        left = await broker.orders(open_only=True)
        rest = await engine.cancel_all()
        return only_aaa, left, rest

    only_aaa, left, rest = run(scenario())
    assert sorted(o.client_order_id for o in only_aaa) == ["o0", "o1"]
    assert [o.client_order_id for o in left] == ["o2"]
    assert [o.status for o in rest] == [OrderStatus.CANCELLED]


def test_order_history_lists_state_changes_fills_and_decisions(tmp_path) -> None:
    async def scenario():
        engine, broker, _ = await started(tmp_path)
        await engine.submit(order("h1", quantity=5))
        await broker.run_steps(1)
        return engine.order_history("h1")

    history = run(scenario())
    assert history["order"]["status"] == "Filled"
    assert [e["status"] for e in history["events"]][-1] == "Filled"
    assert len(history["fills"]) == 1 and len(history["decisions"]) == 1


def test_close_position_partially_then_close_all_leaves_the_book_flat(tmp_path) -> None:
    async def scenario():
        engine, broker, _ = await started(tmp_path)
        await engine.submit(order("long", "AAA", quantity=30))
        await engine.submit(order("short", "BBB", side="sell", quantity=20))
        await broker.run_steps(1)
        with pytest.raises(OrderError, match="at most the 30 shares"):
            await engine.close_position("AAA", 31)
        with pytest.raises(OrderNotFoundError, match="no position in 'CCC'"):
            await engine.close_position("CCC")
        partial = await engine.close_position("AAA", 10)
        await broker.run_steps(1)
        after_partial = {s: p.quantity for s, p in (await broker.positions()).items()}
        closes = await engine.close_all()
        await broker.run_steps(1)
        return partial, after_partial, closes, await broker.positions()

    partial, after_partial, closes, positions = run(scenario())
    assert partial.accepted and partial.request.side == "sell"
    assert after_partial == {"AAA": 20.0, "BBB": -20.0}
    assert {c.request.symbol: c.request.side for c in closes} == {"AAA": "sell", "BBB": "buy"}
    assert positions == {}


def test_stress_pnl_equals_position_value_times_shock_to_the_cent(tmp_path) -> None:
    async def scenario():
        engine, broker, _ = await started(tmp_path)
        await engine.submit(order("l", "AAA", quantity=40))
        await engine.submit(order("s", "BBB", side="sell", quantity=25))
        await broker.run_steps(25)
        return await engine.stress(), await engine.exposure(), await broker.positions()

    stress, exposure, positions = run(scenario())
    aaa, bbb = positions["AAA"].market_value, positions["BBB"].market_value
    assert stress["per_symbol"]["AAA"]["-10%"] == round(aaa * -0.10, 2)
    assert stress["per_symbol"]["BBB"]["-20%"] == round(bbb * -0.20, 2)
    assert stress["market_wide"]["-5%"] == round((aaa + bbb) * -0.05, 2)
    vol = stress["volatility"]
    assert vol["var_99_1d"] < 0 and vol["var_99_1d_vol_x2"] == pytest.approx(
        2 * vol["var_99_1d"], abs=0.011)
    assert exposure["total"]["gross"] == pytest.approx(abs(aaa) + abs(bbb))
    assert exposure["total"]["net"] == pytest.approx(aaa + bbb)


def test_limits_change_at_runtime_is_validated_audited_and_survives_a_restart(tmp_path) -> None:
    stream = make_stream()

    async def first():
        engine, _, audit = await started(tmp_path, stream)
        with pytest.raises(ConfigError, match="max_concentration"):
            engine.set_limits({"max_concentration": 1.5}, operator="ops", reason="typo")
        with pytest.raises(ConfigError, match="max_concentraton"):
            engine.set_limits({"max_concentraton": 0.1}, operator="ops", reason="typo")
        after = engine.set_limits({"max_position_shares": 7}, operator="alice",
                                  reason="new desk limit")
        await engine.close()
        return after, audit.limit_changes(), audit.alerts()

    after, changes, alerts = run(first())
    assert after["max_position_shares"] == 7
    assert [(c["operator"], c["before"]["max_position_shares"], c["after"][
        "max_position_shares"]) for c in changes] == [("alice", None, 7)]
    assert any(a["kind"] == "limits" for a in alerts)

    async def second():
        engine, _, _ = await started(tmp_path, stream)
        return engine.limits(), await engine.submit(order("big", quantity=8))

    limits, denied = run(second())
    assert limits["max_position_shares"] == 7 and denied.decision.rule == "max_position_shares"


def test_validate_is_a_dry_run_that_records_nothing(tmp_path) -> None:
    async def scenario():
        engine, broker, audit = await started(tmp_path, risk=RiskConfig(max_order_value=500.0))
        before = audit.counts()
        ok = await engine.validate(order("v1", quantity=2))
        no = await engine.validate(order("v2", quantity=50))
        with pytest.raises(OrderError, match="unknown symbol"):
            await engine.validate(order("v3", symbol="ZZZ"))
        return ok, no, before, audit.counts(), await broker.orders()

    ok, no, before, after, orders = run(scenario())
    assert ok.approved and (no.approved, no.rule) == (False, "max_order_value")
    assert before == after and orders == []


def test_alerts_fire_once_for_high_limit_usage_a_denial_and_a_halt(tmp_path) -> None:
    async def scenario():
        engine, broker, audit = await started(tmp_path, risk=RiskConfig(max_concentration=0.25))
        await engine.submit(order("big", quantity=230))  # ~23% of equity: 92% of the limit
        await broker.run_steps(3)
        await engine.submit(order("over", quantity=100))
        engine.halt("operator")
        return engine.alerts()

    alerts = run(scenario())
    kinds = [(a["level"], a["kind"]) for a in alerts]
    assert kinds.count(("warning", "limit_usage")) == 1  # once, though three bars were high
    assert ("warning", "order_denied") in kinds and ("critical", "halted") in kinds
    assert alerts[0]["id"] < alerts[-1]["id"]


def intraday_stream(day: str = "2024-07-02", bars: int = 6):
    """5-minute bars of AAA from 09:30 New York (13:30 UTC in summer)."""
    start = datetime.fromisoformat(day).replace(hour=13, minute=30, tzinfo=UTC)
    return [(start + timedelta(minutes=5 * i),
             [Bar(symbol=s, timestamp=start + timedelta(minutes=5 * i), open=100.0,
                  high=100.5, low=99.5, close=100.0, volume=10_000.0) for s in ("AAA", "BBB")])
            for i in range(bars)]


def test_orders_outside_the_session_are_denied_unless_extended_hours(tmp_path) -> None:
    before_open = intraday_stream()
    early = datetime(2024, 7, 2, 12, 0, tzinfo=UTC)  # 08:00 New York: pre-market
    before_open.insert(0, (early, [Bar(symbol=s, timestamp=early, open=100.0, high=100.0,
                                       low=100.0, close=100.0, volume=100.0)
                                   for s in ("AAA", "BBB")]))

    async def scenario():
        engine, broker, _ = await started(tmp_path, before_open)
        hours = engine.market_hours()
        closed = await engine.submit(order("pre", quantity=1))
        extended = await engine.submit(order("ext", quantity=1, extended_hours=True))
        await broker.run_steps(1)
        opened = await engine.submit(order("open", quantity=1))
        return hours, closed, extended, opened

    hours, closed, extended, opened = run(scenario())
    assert hours["enforced"] and not hours["is_open"] and hours["session"]["date"] == "2024-07-02"
    assert (closed.accepted, closed.decision.rule) == (False, "market_closed")
    assert "next open 2024-07-02 13:30" in closed.decision.reason
    assert extended.accepted and opened.accepted


def test_a_daily_replay_does_not_enforce_session_hours(tmp_path) -> None:
    async def scenario():
        engine, _, _ = await started(tmp_path)
        return engine.market_hours(), await engine.submit(order("d", quantity=1))

    hours, outcome = run(scenario())
    assert not hours["enforced"] and outcome.accepted


def test_the_daily_summary_counts_trades_wins_and_the_day_pnl(tmp_path) -> None:
    async def scenario():
        engine, broker, audit = await started(tmp_path)
        await engine.submit(order("in", quantity=20))
        await broker.run_steps(1)
        await engine.submit(order("out", side="sell", quantity=20))
        await broker.run_steps(3)
        return engine.pnl_history()

    days = run(scenario())
    trades = sum(d["trades"] for d in days)
    assert trades == 1 and all(d["win_rate"] in (None, 0.0, 1.0) for d in days)
    assert days[1]["day_pnl"] == pytest.approx(days[1]["equity"] - days[0]["equity"])


def test_closing_counts_closing_orders_already_open_so_it_never_overshoots(tmp_path) -> None:
    async def scenario():
        engine, broker, _ = await started(tmp_path)
        await engine.submit(order("long", quantity=40))
        await broker.run_steps(1)
        await engine.close_position("AAA", 15)  # not filled yet
        with pytest.raises(OrderError, match="at most the 25 shares"):
            await engine.close_position("AAA", 30)
        rest = await engine.close_all()
        with pytest.raises(OrderConflictError, match="already being closed"):
            await engine.close_position("AAA")
        await broker.run_steps(1)
        return rest, await broker.positions()

    rest, positions = run(scenario())
    assert [r.request.quantity for r in rest] == [25.0] and positions == {}
