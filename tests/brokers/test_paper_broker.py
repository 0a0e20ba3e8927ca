"""PaperBroker: Backtrader's fill rules on a replayed stream, costs, partial fills, restore."""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime, timedelta

import pytest

from tradelab.brokers import (
    Bar,
    OrderRequest,
    OrderStatus,
    PaperBroker,
    PaperBrokerConfig,
)
from tradelab.costs import cost_model, trade_cost
from tradelab.errors import BrokerError, OrderError

DAY0 = datetime(2024, 1, 2, 14, 30, tzinfo=UTC)


def stream(*bars: tuple[float, float, float, float, float], symbol: str = "AAA"):
    """One symbol's bars (open, high, low, close, volume) on consecutive days."""
    return [(DAY0 + timedelta(days=i),
             [Bar(symbol=symbol, timestamp=DAY0 + timedelta(days=i), open=o, high=h, low=lo,
                  close=c, volume=v)])
            for i, (o, h, lo, c, v) in enumerate(bars)]


FLAT = (100.0, 101.0, 99.0, 100.0, 10_000.0)


def broker_for(bars, **config) -> PaperBroker:
    settings = {"speed": 0, "autostart": False, "costs": "ib-fixed", **config}
    return PaperBroker(bars, PaperBrokerConfig(**settings))


def order(cid: str, side: str = "buy", quantity: float = 100, **kw) -> OrderRequest:
    return OrderRequest(client_order_id=cid, symbol="AAA", side=side, quantity=quantity, **kw)


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 10))


def test_market_order_fills_at_next_open_slipped_and_pays_commission() -> None:
    async def scenario():
        broker = broker_for(stream(FLAT, (102.0, 103.0, 101.0, 102.5, 10_000.0)))
        await broker.connect()
        await broker.run_steps(1)
        await broker.place_order(order("m1"))
        assert (await broker.positions()) == {}
        await broker.run_steps(1)
        return broker, await broker.fills(), await broker.account()

    broker, fills, account = run(scenario())
    price = 102.0 * (1 + 5 / 10_000)
    fee = trade_cost(100, price, side="buy", config=cost_model("ib-fixed"))
    assert len(fills) == 1 and math.isclose(fills[0].price, price)
    assert fills[0].commission == fee and fills[0].timestamp == DAY0 + timedelta(days=1)
    assert math.isclose(account.cash, 100_000 - 100 * price - fee)
    assert math.isclose(account.equity, account.cash + 100 * 102.5)
    assert account.positions["AAA"].average_cost == pytest.approx(price)


def test_limit_order_fills_partially_against_bar_volume_then_completes() -> None:
    async def scenario():
        broker = broker_for(stream(FLAT, (100.0, 100.5, 98.0, 99.0, 1_000.0),
                                   (98.0, 99.5, 97.0, 98.0, 1_000.0)),
                            volume_participation=0.1)
        await broker.connect()
        await broker.run_steps(1)
        await broker.place_order(order("l1", quantity=150, order_type="limit",
                                       limit_price=98.5, time_in_force="GTC"))
        await broker.run_steps(1)
        first = (await broker.orders())[0]
        await broker.run_steps(1)
        return first, (await broker.orders())[0], await broker.fills()

    first, final, fills = run(scenario())
    assert (first.status, first.filled_quantity) == (OrderStatus.PARTIALLY_FILLED, 100.0)
    assert fills[0].price == 98.5  # the bar reached the limit; it opened above it
    assert fills[1].price == 98.0  # opened below the limit: fills at the open
    assert (final.status, final.filled_quantity) == (OrderStatus.FILLED, 150.0)
    assert final.average_fill_price == pytest.approx((100 * 98.5 + 50 * 98.0) / 150)


def test_day_limit_order_expires_after_its_session_and_gtc_stays() -> None:
    async def scenario():
        broker = broker_for(stream(FLAT, FLAT, FLAT))
        await broker.connect()
        await broker.run_steps(1)
        await broker.place_order(order("day", order_type="limit", limit_price=90.0))
        await broker.place_order(order("gtc", order_type="limit", limit_price=90.0,
                                       time_in_force="GTC"))
        await broker.run_steps(2)
        return {o.client_order_id: o for o in await broker.orders()}

    orders = run(scenario())
    assert orders["day"].status is OrderStatus.CANCELLED and "expired" in orders["day"].reason
    assert orders["gtc"].status is OrderStatus.SUBMITTED


def test_stop_order_triggers_when_the_bar_trades_through_it() -> None:
    async def scenario():
        broker = broker_for(stream(FLAT, FLAT, (100.0, 106.0, 99.0, 105.0, 10_000.0)))
        await broker.connect()
        await broker.run_steps(1)
        await broker.place_order(order("s1", order_type="stop", stop_price=105.0,
                                       time_in_force="GTC"))
        await broker.run_steps(1)
        untouched = (await broker.orders())[0].status
        await broker.run_steps(1)
        return untouched, await broker.fills()

    untouched, fills = run(scenario())
    assert untouched is OrderStatus.SUBMITTED
    assert fills[0].price == pytest.approx(105.0 * (1 + 5 / 10_000))


def test_placing_the_same_client_order_id_twice_makes_one_order() -> None:
    async def scenario():
        broker = broker_for(stream(FLAT, FLAT))
        await broker.connect()
        first = await broker.place_order(order("same"))
        again = await broker.place_order(order("same", quantity=999))
        await broker.run_steps(2)
        return first, again, await broker.orders(), await broker.fills()

    first, again, orders, fills = run(scenario())
    assert again.broker_order_id == first.broker_order_id and again.request.quantity == 100
    assert len(orders) == 1 and sum(f.quantity for f in fills) == 100


def test_cancel_and_modify_apply_to_open_orders_only() -> None:
    async def scenario():
        broker = broker_for(stream(FLAT, FLAT))
        await broker.connect()
        await broker.place_order(order("c1", order_type="limit", limit_price=95.0))
        modified = await broker.modify_order("c1", quantity=50, limit_price=96.0)
        cancelled = await broker.cancel_order("c1")
        with pytest.raises(OrderError, match="only open orders"):
            await broker.modify_order("c1", quantity=10)
        with pytest.raises(OrderError, match="no order"):
            await broker.cancel_order("nope")
        return modified, cancelled

    modified, cancelled = run(scenario())
    assert (modified.request.quantity, modified.request.limit_price) == (50.0, 96.0)
    assert cancelled.status is OrderStatus.CANCELLED


def test_unknown_symbol_and_disconnected_broker_are_refused() -> None:
    async def scenario():
        broker = broker_for(stream(FLAT))
        with pytest.raises(BrokerError, match="not connected"):
            await broker.place_order(order("x"))
        await broker.connect()
        with pytest.raises(OrderError, match="unknown symbol 'ZZZ'"):
            await broker.place_order(OrderRequest(client_order_id="z", symbol="ZZZ",
                                                  side="buy", quantity=1))

    run(scenario())


def test_restore_rebuilds_cash_positions_and_open_orders_and_continues_the_stream() -> None:
    bars = stream(FLAT, (101.0, 102.0, 100.0, 101.0, 10_000.0), FLAT, FLAT)

    async def first_life():
        broker = broker_for(bars)
        await broker.connect()
        await broker.run_steps(1)
        await broker.place_order(order("b1"))
        await broker.place_order(order("rest", order_type="limit", limit_price=90.0,
                                       time_in_force="GTC"))
        await broker.run_steps(1)
        return await broker.orders(), await broker.fills(), await broker.account(), broker.now

    orders, fills, account, now = run(first_life())

    async def second_life():
        broker = broker_for(bars)
        broker.restore(orders, fills, resume_after=now)
        await broker.connect()
        assert broker.remaining_steps == 2
        restored = await broker.account()
        await broker.place_order(order("b2", quantity=10))
        await broker.run_steps(1)
        return restored, await broker.orders(open_only=True), await broker.positions()

    restored, open_orders, positions = run(second_life())
    assert restored.cash == pytest.approx(account.cash)
    assert restored.positions["AAA"].quantity == 100
    assert [o.client_order_id for o in open_orders] == ["rest"]
    assert positions["AAA"].quantity == 110


def test_a_lockstep_consumer_holds_the_stream_until_it_acknowledges() -> None:
    async def scenario():
        broker = broker_for(stream(FLAT, FLAT, FLAT), lockstep_timeout=5)
        consumer = broker.add_consumer("strategy")
        seen: list[datetime] = []
        broker.add_listener(lambda kind, bar: seen.append(bar.timestamp) if kind == "bar"
                            else None)
        await broker.connect()
        broker.start_stream()
        await asyncio.sleep(0.2)
        held = len(seen)
        consumer.ack()
        await asyncio.sleep(0.2)
        after_one_ack = len(seen)
        broker.remove_consumer(consumer)
        await asyncio.wait_for(broker.finished.wait(), 5)
        return held, after_one_ack, len(seen)

    assert run(scenario()) == (1, 2, 3)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"quantity": 0}, "quantity"),
        ({"quantity": -5}, "quantity"),
        ({"quantity": float("nan")}, "quantity"),
        ({"quantity": 1e9}, "at most 10,000,000"),
        ({"order_type": "limit"}, "limit_price"),
        ({"order_type": "limit", "limit_price": float("nan")}, "limit_price"),
        ({"order_type": "market", "limit_price": 10.0}, "takes no limit_price"),
        ({"symbol": "aapl"}, "symbol"),
        ({"client_order_id": "has space"}, "client_order_id"),
        ({"side": "short"}, "side"),
        ({"time_in_force": "IOC"}, "time_in_force"),
    ],
)
def test_invalid_order_requests_raise_order_error_naming_the_field(changes, message) -> None:
    fields = {"client_order_id": "ok", "symbol": "AAA", "side": "buy", "quantity": 1, **changes}
    with pytest.raises(OrderError, match=message):
        OrderRequest(**fields)


def test_slippage_never_moves_a_market_fill_outside_the_bar() -> None:
    async def scenario():
        broker = broker_for(stream(FLAT, (100.0, 100.01, 99.0, 100.0, 10_000.0)))
        await broker.connect()
        await broker.run_steps(1)
        await broker.place_order(order("capped"))
        await broker.run_steps(1)
        return await broker.fills()

    assert run(scenario())[0].price == 100.01  # 100 * 1.0005 = 100.05 is above the high


def test_a_cash_account_rejects_a_buy_it_cannot_pay_for() -> None:
    async def scenario():
        broker = broker_for(stream(FLAT, FLAT), cash=5_000.0)
        await broker.connect()
        await broker.run_steps(1)
        await broker.place_order(order("too-big", quantity=100))
        await broker.run_steps(1)
        return (await broker.orders())[0], await broker.account()

    rejected, account = run(scenario())
    assert rejected.status is OrderStatus.REJECTED and "insufficient cash" in rejected.reason
    assert account.cash == 5_000.0 and not account.positions
