"""PaperBroker linked orders: brackets (children wait for the parent, exits cancel each other),
OCO groups, trailing stops, and restore keeping the links."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest

from tests.brokers.test_paper_broker import DAY0, FLAT, broker_for, order, run, stream
from tradelab.brokers import OrderRequest, OrderStatus, PaperBroker, bracket
from tradelab.costs import cost_model, slipped_price
from tradelab.errors import OrderError

COSTS = cost_model("ib-fixed")


def entry_bracket(entry: OrderRequest | None = None, take_profit: float = 110.0,
                  stop_loss: float = 95.0) -> list[OrderRequest]:
    """Entry, stop-loss, take-profit: the order the engine places a bracket in."""
    entry = entry or order("e1", time_in_force="GTC")
    parent, profit, loss = bracket(entry, take_profit=take_profit, stop_loss=stop_loss)
    return [parent, loss, profit]


def by_id(orders) -> dict:
    return {o.client_order_id: o for o in orders}


async def started(bars, **config) -> PaperBroker:
    broker = broker_for(bars, **config)
    await broker.connect()
    await broker.run_steps(1)
    return broker


def test_bracket_take_profit_fills_and_cancels_the_stop_loss_and_waits_for_the_entry() -> None:
    async def scenario():
        broker = await started(stream(FLAT, (100.0, 112.0, 99.0, 111.0, 10_000.0),
                                      (111.0, 113.0, 110.5, 112.0, 10_000.0)))
        placed = await broker.place_group(entry_bracket())
        await broker.run_steps(1)  # the entry fills; the take-profit's 110 is reached too
        after_entry = by_id(await broker.orders())
        await broker.run_steps(1)
        return placed, after_entry, by_id(await broker.orders()), await broker.fills()

    placed, after_entry, final, fills = run(scenario())
    assert [o.status for o in placed] == [OrderStatus.SUBMITTED] * 3
    assert after_entry["e1"].status is OrderStatus.FILLED
    assert after_entry["e1.tp"].status is OrderStatus.SUBMITTED  # inactive on the entry's bar
    assert after_entry["e1.tp"].filled_quantity == 0
    assert final["e1.tp"].status is OrderStatus.FILLED
    assert final["e1.tp"].average_fill_price == 111.0  # a limit at the better open
    assert final["e1.sl"].status is OrderStatus.CANCELLED
    assert final["e1.sl"].reason == "OCO group e1: e1.tp filled"
    assert [(f.client_order_id, f.side, f.quantity) for f in fills] == [
        ("e1", "buy", 100), ("e1.tp", "sell", 100)]


def test_bracket_stop_loss_fills_at_the_stop_and_cancels_the_take_profit() -> None:
    async def scenario():
        broker = await started(stream(FLAT, FLAT, (96.0, 97.0, 90.0, 91.0, 10_000.0)))
        await broker.place_group(entry_bracket())
        await broker.run_steps(2)
        return by_id(await broker.orders()), await broker.positions()

    final, positions = run(scenario())
    assert final["e1.sl"].status is OrderStatus.FILLED
    expected = slipped_price(95.0, side="sell", order_type="stop", config=COSTS)
    assert math.isclose(final["e1.sl"].average_fill_price, expected)
    assert final["e1.tp"].status is OrderStatus.CANCELLED
    assert "e1.sl filled" in final["e1.tp"].reason
    assert positions == {}


def test_cancelled_or_expired_parent_cancels_its_children() -> None:
    async def scenario():
        broker = await started(stream(FLAT, FLAT, FLAT, FLAT))
        resting = order("e1", order_type="limit", limit_price=90.0, time_in_force="GTC")
        await broker.place_group(entry_bracket(resting, take_profit=100.0, stop_loss=85.0))
        await broker.run_steps(1)
        await broker.cancel_order("e1")
        day = order("e2", order_type="limit", limit_price=90.0)  # DAY: expires next session
        await broker.place_group(entry_bracket(day, take_profit=100.0, stop_loss=85.0))
        await broker.run_steps(2)
        return by_id(await broker.orders())

    final = run(scenario())
    for parent in ("e1", "e2"):
        assert final[parent].status is OrderStatus.CANCELLED
        for child in (f"{parent}.tp", f"{parent}.sl"):
            assert final[child].status is OrderStatus.CANCELLED
            assert final[child].reason == f"parent {parent} was cancelled before it filled"


def test_parent_expiring_part_filled_leaves_its_exits_working_for_the_filled_shares() -> None:
    async def scenario():
        thin = (100.0, 100.5, 98.0, 99.0, 1_000.0)  # 10% of 1,000: 100 shares per bar
        broker = await started(stream(FLAT, thin, thin, (99.0, 99.5, 90.0, 91.0, 1_000.0)),
                               volume_participation=0.1)
        day = order("e1", quantity=300, order_type="limit", limit_price=99.0)
        await broker.place_group(entry_bracket(day, take_profit=105.0, stop_loss=95.0))
        await broker.run_steps(3)  # 100 filled, DAY expiry on the next session, then the stop
        return by_id(await broker.orders()), await broker.positions()

    final, positions = run(scenario())
    assert final["e1"].status is OrderStatus.CANCELLED and final["e1"].filled_quantity == 100
    assert final["e1.sl"].request.quantity == 100
    assert final["e1.sl"].status is OrderStatus.FILLED
    assert final["e1.tp"].status is OrderStatus.CANCELLED
    assert positions == {}


def test_trailing_stop_follows_the_price_up_and_triggers_on_the_pullback() -> None:
    async def scenario():
        bars = stream(FLAT, (100.0, 102.5, 99.5, 102.0, 10_000.0),
                      (102.0, 105.5, 101.5, 105.0, 10_000.0),
                      (104.5, 105.0, 103.5, 104.0, 10_000.0),  # low 103.5 > stop 103: holds
                      (103.8, 104.0, 101.0, 101.5, 10_000.0))  # trades through 103
        broker = await started(bars)
        broker.restore([], [])  # nothing: keeps the test honest about a fresh book
        await broker.place_order(order("long", time_in_force="GTC"))
        stops = []
        broker.add_listener(lambda kind, o: stops.append(o.request.stop_price)
                            if kind == "order" and o.client_order_id == "trail" else None)
        await broker.place_order(order("trail", side="sell", order_type="trailing_stop",
                                       trail_amount=2.0, time_in_force="GTC"))
        await broker.run_steps(4)
        return stops, by_id(await broker.orders())["trail"]

    stops, trail = run(scenario())
    assert stops[0] == 98.0  # the last close (100) minus 2, at placement
    assert [s for s in dict.fromkeys(stops)] == [98.0, 100.0, 103.0]  # never back down
    assert trail.status is OrderStatus.FILLED
    expected = slipped_price(103.0, side="sell", order_type="stop", config=COSTS)
    assert math.isclose(trail.average_fill_price, expected)


def test_trailing_stop_in_percent_and_a_buy_trail_above_the_price() -> None:
    async def scenario():
        bars = stream(FLAT, (100.0, 100.5, 94.0, 95.0, 10_000.0),
                      (95.0, 99.5, 94.5, 99.0, 10_000.0))
        broker = await started(bars, allow_negative_cash=True)
        await broker.place_order(order("short", side="sell", time_in_force="GTC"))
        await broker.place_order(order("cover", order_type="trailing_stop", trail_percent=2.0,
                                       time_in_force="GTC"))
        await broker.run_steps(1)
        after_drop = by_id(await broker.orders())["cover"]
        await broker.run_steps(1)
        return after_drop, by_id(await broker.orders())["cover"]

    after_drop, cover = run(scenario())
    assert after_drop.request.stop_price == pytest.approx(95.0 * 1.02)  # 96.9, down from 102
    assert cover.status is OrderStatus.FILLED
    expected = slipped_price(95.0 * 1.02, side="buy", order_type="stop", config=COSTS)
    assert math.isclose(cover.average_fill_price, expected)


def test_oco_pair_partial_fill_reduces_the_other_and_a_full_fill_cancels_it() -> None:
    async def scenario():
        thin = (110.0, 111.0, 109.0, 110.0, 1_000.0)
        broker = await started(stream(FLAT, FLAT, thin, thin), volume_participation=0.1)
        await broker.place_order(order("long", quantity=200, time_in_force="GTC"))
        await broker.run_steps(1)
        await broker.place_order(order("tp", side="sell", quantity=200, order_type="limit",
                                       limit_price=108.0, oco_group="exit", time_in_force="GTC"))
        await broker.place_order(order("sl", side="sell", quantity=200, order_type="stop",
                                       stop_price=90.0, oco_group="exit", time_in_force="GTC"))
        await broker.run_steps(1)
        half = by_id(await broker.orders())
        await broker.run_steps(1)
        return half, by_id(await broker.orders())

    half, final = run(scenario())
    assert half["tp"].filled_quantity == 100 and half["tp"].status is OrderStatus.PARTIALLY_FILLED
    assert half["sl"].request.quantity == 100 and half["sl"].is_open
    assert final["tp"].status is OrderStatus.FILLED
    assert final["sl"].status is OrderStatus.CANCELLED
    assert final["sl"].reason == "OCO group exit: tp filled"


def test_restore_keeps_children_waiting_oco_links_and_the_trailed_stop() -> None:
    bars = stream(FLAT, (100.0, 101.0, 99.8, 100.0, 10_000.0),
                  (100.0, 104.5, 99.5, 104.0, 10_000.0), (104.0, 112.0, 103.5, 111.0, 10_000.0),
                  (111.0, 111.5, 109.0, 110.0, 10_000.0))

    async def first_life():
        broker = await started(bars)
        resting = order("e1", order_type="limit", limit_price=99.6, time_in_force="GTC")
        await broker.place_group(entry_bracket(resting, take_profit=110.0, stop_loss=95.0))
        await broker.place_order(order("long", quantity=50, time_in_force="GTC"))
        await broker.run_steps(1)  # the market buy fills, the entry at 99.6 not (low 99.8)
        await broker.place_order(order("trail", side="sell", quantity=50,
                                       order_type="trailing_stop", trail_amount=3.0,
                                       time_in_force="GTC"))
        return await broker.orders(), await broker.fills(), broker.now

    orders, fills, now = run(first_life())
    assert by_id(orders)["e1"].status is OrderStatus.SUBMITTED

    async def second_life():
        broker = broker_for(bars)
        broker.restore(orders, fills, resume_after=now)
        await broker.connect()
        await broker.run_steps(1)  # the entry fills at 99.6 (low 99.5); its exits wait
        entry_bar = by_id(await broker.orders())
        await broker.run_steps(1)  # the take-profit at 110 fills, the stop-loss is cancelled
        return entry_bar, by_id(await broker.orders())

    entry_bar, final = run(second_life())
    assert entry_bar["e1"].status is OrderStatus.FILLED
    assert entry_bar["e1.tp"].filled_quantity == 0
    assert entry_bar["trail"].request.stop_price == 101.0  # 104 - 3, moved up from 97
    assert final["e1.tp"].status is OrderStatus.FILLED
    assert final["e1.sl"].status is OrderStatus.CANCELLED
    assert final["trail"].request.stop_price == 108.0  # 111 - 3
    assert final["trail"].is_open


@pytest.mark.parametrize(("take_profit", "stop_loss", "message"), [
    (95.0, 90.0, "'take_profit': got 95"),
    (110.0, 101.0, "'stop_loss': got 101"),
    (float("nan"), 90.0, "give a finite price"),
])
def test_bracket_with_exits_on_the_wrong_side_is_refused(take_profit, stop_loss,
                                                         message) -> None:
    entry = order("e1", order_type="limit", limit_price=100.0)
    with pytest.raises(OrderError, match=message):
        bracket(entry, take_profit=take_profit, stop_loss=stop_loss)


def test_a_sell_bracket_has_buy_exits_with_the_take_profit_below_the_entry() -> None:
    entry = order("s1", side="sell", order_type="stop", stop_price=100.0)
    _, profit, loss = bracket(entry, take_profit=90.0, stop_loss=105.0, take_profit_id="p",
                              stop_loss_id="l", oco_group="g")
    assert (profit.side, profit.limit_price, loss.side, loss.stop_price) == (
        "buy", 90.0, "buy", 105.0)
    assert (profit.client_order_id, loss.oco_group, loss.time_in_force) == ("p", "g", "GTC")
    with pytest.raises(OrderError, match="for a sell entry at 100"):
        bracket(entry, take_profit=105.0, stop_loss=110.0)
    with pytest.raises(OrderError, match="above the stop-loss"):
        bracket(order("m1"), take_profit=90.0, stop_loss=95.0)  # market: no reference


def test_bad_links_are_refused_and_nothing_of_a_group_is_placed() -> None:
    async def scenario():
        broker = await started(stream(FLAT, FLAT))
        orphan = order("x", side="sell", parent_id="nope", order_type="stop", stop_price=90.0)
        with pytest.raises(OrderError, match="no order 'nope'"):
            await broker.place_order(orphan)
        group = entry_bracket()
        too_big = [group[0], group[1], order("big", side="sell", quantity=50, parent_id="e1",
                                             order_type="limit", limit_price=120.0)]
        with pytest.raises(OrderError, match="could close 150 shares"):
            await broker.place_group(too_big)
        same_side = [group[0], order("same", parent_id="e1", order_type="limit",
                                     limit_price=90.0)]
        with pytest.raises(OrderError, match="opposite side"):
            await broker.place_group(same_side)
        return await broker.orders()

    assert run(scenario()) == []


@pytest.mark.parametrize(("changes", "message"), [
    ({"order_type": "trailing_stop"}, "exactly one of trail_amount and trail_percent"),
    ({"order_type": "trailing_stop", "trail_amount": 1.0, "trail_percent": 2.0},
     "exactly one"),
    ({"order_type": "trailing_stop", "trail_percent": 100.0}, "in \\(0, 100\\)"),
    ({"order_type": "trailing_stop", "trail_amount": -1.0}, "'trail_amount'"),
    ({"order_type": "limit", "limit_price": 1.0, "trail_amount": 1.0}, "takes no trail_amount"),
    ({"order_type": "trailing_stop", "trail_amount": 1.0, "limit_price": 1.0},
     "takes no limit_price"),
    ({"parent_id": "bad id"}, "'parent_id'"),
    ({"oco_group": ""}, "'oco_group'"),
    ({"parent_id": "o"}, "its own parent"),
])
def test_invalid_linked_and_trailing_fields_raise_order_error(changes, message) -> None:
    with pytest.raises(OrderError, match=message):
        order("o", **changes)


def test_a_child_placed_after_its_parent_filled_works_from_the_next_bar() -> None:
    async def scenario():
        broker = await started(stream(FLAT, FLAT, (100.0, 111.0, 99.0, 110.0, 10_000.0)))
        await broker.place_order(order("e1", time_in_force="GTC"))
        await broker.run_steps(1)
        await broker.place_order(order("tp", side="sell", parent_id="e1", order_type="limit",
                                       limit_price=110.0, time_in_force="GTC"))
        await broker.run_steps(1)
        return by_id(await broker.orders())["tp"], broker.now

    child, now = run(scenario())
    assert child.status is OrderStatus.FILLED and now == DAY0 + timedelta(days=2)
