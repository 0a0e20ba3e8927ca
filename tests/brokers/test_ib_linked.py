"""IBBroker linked and trailing orders against the wire-level fake TWS: brackets with parentId
and transmit flags, OCA groups, TRAIL orders, and all-or-nothing groups."""

from __future__ import annotations

from typing import Any

import pytest

from tests.brokers.test_ib_broker import Recorder, order, run, settings, until
from tests.fake_tws import FakeTWS, IBDecodeGuard
from tests.fake_tws._requests import read_place_order
from tradelab.brokers import OrderStatus, bracket
from tradelab.brokers.ib import IBBroker
from tradelab.errors import OrderError

pytestmark = pytest.mark.integration

PLACE_ORDER = 3


def sent_orders(fake: FakeTWS) -> dict[str, Any]:
    """Every placeOrder the fake received, read back, by orderRef (the last one wins)."""
    return {
        request.order_ref: request
        for request in (
            read_place_order(list(m.fields), fake.server_version)
            for m in fake.messages(PLACE_ORDER)
        )
    }


def by_id(orders) -> dict:
    """Broker orders by client order id (or the fake's orders by orderRef)."""
    return {getattr(o, "client_order_id", None) or o.order_ref: o for o in orders}


def a_bracket(cid: str = "e1", limit: float = 95.0):
    entry = order(cid, quantity=10, order_type="limit", limit_price=limit, time_in_force="GTC")
    parent, profit, loss = bracket(entry, take_profit=110.0, stop_loss=90.0)
    return [parent, loss, profit]


def test_bracket_goes_to_ib_as_parent_and_children_and_its_exits_cancel_each_other(
    fake_tws: FakeTWS, ib_decode_guard: IBDecodeGuard
) -> None:
    async def body() -> tuple[Any, ...]:
        broker = IBBroker(settings(fake_tws))
        events = Recorder()
        broker.add_listener(events)
        await broker.connect()
        placed = await broker.place_group(a_bracket())
        waiting = by_id(fake_tws.orders())
        fake_tws.set_price("AAA", 94.0)  # the entry fills; its exits start working
        await until(ib_decode_guard, lambda: len(events.of("fill")) == 1, "the entry fill")
        fake_tws.set_price("AAA", 111.0)  # the take-profit fills, IB cancels the stop-loss
        await until(
            ib_decode_guard,
            lambda: by_id(broker._book.orders())["e1.sl"].status is OrderStatus.CANCELLED,
            "the stop-loss cancel",
        )
        final = by_id(await broker.orders())
        await broker.disconnect()
        return placed, waiting, final

    placed, waiting, final = run(body())
    assert [o.status for o in placed] == [OrderStatus.SUBMITTED] * 3
    sent = sent_orders(fake_tws)
    entry, loss, profit = sent["e1"], sent["e1.sl"], sent["e1.tp"]
    assert [entry.transmit, loss.transmit, profit.transmit] == [False, False, True]
    assert entry.parent_id == 0 and loss.parent_id == profit.parent_id == entry.order_id
    assert (loss.order_type, loss.aux_price, profit.order_type, profit.limit_price) == (
        "STP", 90.0, "LMT", 110.0)
    assert (loss.oca_group, loss.oca_type, profit.oca_group, profit.oca_type) == ("e1", 2) * 2
    assert (loss.action, profit.action, loss.tif) == ("SELL", "SELL", "GTC")
    assert waiting["e1.sl"].status == waiting["e1.tp"].status == "PreSubmitted"
    assert fake_tws.held_orders() == []
    assert final["e1"].status is OrderStatus.FILLED
    assert final["e1.tp"].status is OrderStatus.FILLED
    assert final["e1.sl"].status is OrderStatus.CANCELLED
    assert final["e1.tp"].request.parent_id == "e1" and final["e1.sl"].request.oco_group == "e1"
    assert fake_tws.positions() == []


def test_cancelling_the_entry_cancels_its_exits_and_a_refused_exit_cancels_the_group(
    fake_tws: FakeTWS, ib_decode_guard: IBDecodeGuard
) -> None:
    async def body() -> tuple[Any, ...]:
        broker = IBBroker(settings(fake_tws))
        await broker.connect()
        await broker.place_group(a_bracket("e1"))
        await broker.cancel_order("e1")
        await until(
            ib_decode_guard,
            lambda: all(not o.is_open for o in broker._book.orders()),
            "the exits cancelled with the entry",
        )
        first = by_id(await broker.orders())
        fake_tws.reject_order("e2.tp", "Invalid price")
        second = by_id(await broker.place_group(a_bracket("e2")))
        with pytest.raises(OrderError, match="place the parent first"):
            await broker.place_order(order("x", side="sell", parent_id="nope", quantity=10))
        await broker.disconnect()
        return first, second

    first, second = run(body())
    assert [first[i].status for i in ("e1", "e1.sl", "e1.tp")] == [OrderStatus.CANCELLED] * 3
    assert second["e2.tp"].status is OrderStatus.REJECTED
    assert "Invalid price" in second["e2.tp"].reason
    assert second["e2"].status is OrderStatus.CANCELLED
    assert second["e2.sl"].status is OrderStatus.CANCELLED
    assert "x" not in sent_orders(fake_tws)


def test_oca_group_partial_fill_reduces_the_other_member_and_a_full_fill_cancels_it(
    fake_tws: FakeTWS, ib_decode_guard: IBDecodeGuard
) -> None:
    fake_tws.set_position("AAA", 10, 100.0)

    async def body() -> tuple[Any, ...]:
        broker = IBBroker(settings(fake_tws))
        await broker.connect()
        profit = await broker.place_order(order(
            "tp", side="sell", quantity=10, order_type="limit", limit_price=110.0,
            oco_group="exit", time_in_force="GTC"))
        await broker.place_order(order(
            "sl", side="sell", quantity=10, order_type="stop", stop_price=90.0,
            oco_group="exit", time_in_force="GTC"))
        fake_tws.fill_order(int(profit.broker_order_id), 4, 110.0)
        await until(
            ib_decode_guard,
            lambda: by_id(broker._book.orders())["sl"].request.quantity == 6,
            "the stop-loss reduced",
        )
        fake_tws.fill_order(int(profit.broker_order_id), 6, 110.0)
        await until(
            ib_decode_guard,
            lambda: by_id(broker._book.orders())["sl"].status is OrderStatus.CANCELLED,
            "the stop-loss cancelled",
        )
        final = by_id(await broker.orders())
        await broker.disconnect()
        return final

    final = run(body())
    assert final["tp"].status is OrderStatus.FILLED
    assert (final["sl"].status, final["sl"].request.quantity) == (OrderStatus.CANCELLED, 6)
    assert fake_tws.positions() == []


def test_trailing_stop_is_a_trail_order_that_follows_the_price_and_survives_a_reconnect(
    fake_tws: FakeTWS, ib_decode_guard: IBDecodeGuard
) -> None:
    fake_tws.set_position("AAA", 20, 100.0)

    async def body() -> tuple[Any, ...]:
        broker = IBBroker(settings(fake_tws))
        events = Recorder()
        broker.add_listener(events)
        await broker.connect()
        await broker.place_order(order(
            "amount", side="sell", order_type="trailing_stop", trail_amount=2.0,
            stop_price=97.0, time_in_force="GTC"))
        await broker.place_order(order(
            "percent", side="sell", order_type="trailing_stop", trail_percent=5.0,
            time_in_force="GTC"))
        await broker.disconnect()
        again = IBBroker(settings(fake_tws))
        await again.connect()
        reconciled = by_id(await again.orders(open_only=True))
        fake_tws.set_price("AAA", 105.0)  # amount: stop 103; percent: 99.75
        fake_tws.set_price("AAA", 103.0)  # the amount trail triggers
        await until(ib_decode_guard, lambda: len(await_fills(again)) == 1, "the trail fill")
        final = by_id(await again.orders())
        await again.disconnect()
        return reconciled, final

    reconciled, final = run(body())
    sent = sent_orders(fake_tws)
    assert (sent["amount"].order_type, sent["amount"].aux_price) == ("TRAIL", 2.0)
    assert sent["amount"].trail_stop_price == 97.0 and sent["amount"].trailing_percent is None
    assert (sent["percent"].trailing_percent, sent["percent"].aux_price) == (5.0, None)
    amount, percent = reconciled["amount"].request, reconciled["percent"].request
    assert (amount.order_type, amount.trail_amount, amount.trail_percent) == (
        "trailing_stop", 2.0, None)
    assert amount.stop_price == 98.0  # the fake moved it from 97 to 100 - 2 on placement
    assert (percent.trail_percent, percent.trail_amount) == (5.0, None)
    assert final["amount"].status is OrderStatus.FILLED
    assert final["amount"].average_fill_price == 103.0
    assert final["percent"].is_open
    assert fake_tws.order(int(final["percent"].broker_order_id)).trail_stop_price == 99.75


def await_fills(broker: IBBroker) -> list[Any]:
    return broker._book.fills()
