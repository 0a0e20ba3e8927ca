"""IBBroker against the wire-level fake TWS: orders, fills, reconnects, reconciliation, pacing,
and the trading engine's kill switch and restart on top of it.

Every test runs the real ib_async client and the real IBBroker inside ``asyncio.run``; the
``ib_decode_guard`` fixture fails a test whenever ib_async could not decode a message, and the
fake's factory fails it when the fake could not read a request.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from ib_async import IB, LimitOrder, Stock

from tests.fake_tws import FakeTWS, IBDecodeGuard
from tradelab.audit import AuditConfig, AuditLog
from tradelab.brokers import Bar, BrokerOrder, Fill, IBConfig, OrderRequest, OrderStatus
from tradelab.brokers._ib_connection import HANDLER_FAILED
from tradelab.brokers.ib import IBBroker
from tradelab.errors import BrokerError, DuplicateOrderError, OrderError
from tradelab.live.engine import EngineConfig, TradingEngine
from tradelab.risk import RiskConfig, RiskManager

pytestmark = pytest.mark.integration

PLACE_ORDER, CANCEL_ORDER, OPEN_ORDERS, EXECUTIONS, HISTORICAL = 3, 4, 5, 7, 20


@pytest.fixture(autouse=True)
def handler_failures() -> Iterator[list[str]]:
    """Fail a test whose broker raised in an ib_async event handler (eventkit would swallow
    it; the broker logs it)."""
    failures: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if HANDLER_FAILED in record.getMessage():
                failures.append(self.format(record))

    handler = Collect(logging.ERROR)
    logger = logging.getLogger("tradelab.brokers")
    logger.addHandler(handler)
    try:
        yield failures
    finally:
        logger.removeHandler(handler)
    if failures:
        pytest.fail("the broker failed on ib_async event(s):\n" + "\n".join(failures))


def run(coroutine: Coroutine[Any, Any, Any], timeout: float = 20.0) -> Any:
    """Run one test body in a fresh event loop, bounded in time; collect its garbage at once
    (see tests/brokers/test_fake_tws.py: CPython 3.11.7 can crash pytest otherwise)."""
    try:
        return asyncio.run(asyncio.wait_for(coroutine, timeout))
    finally:
        gc.collect()


def settings(fake: FakeTWS, **overrides: Any) -> IBConfig:
    """Fast timeouts and backoff for tests."""
    values: dict[str, Any] = {
        "port": fake.port,
        "client_id": 1,
        "connect_timeout": 2.0,
        "backoff_initial": 0.1,
        "backoff_max": 0.4,
        "health_interval": 1.0,
        "request_timeout": 5.0,
    }
    return IBConfig(**{**values, **overrides})


class Recorder:
    """A broker listener that keeps every event."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    def __call__(self, kind: str, payload: Any) -> None:
        self.events.append((kind, payload))

    def of(self, kind: str) -> list[Any]:
        return [payload for k, payload in self.events if k == kind]

    def connected(self) -> list[bool]:
        return [event["connected"] for event in self.of("connection")]


async def until(
    guard: IBDecodeGuard, predicate: Callable[[], bool], what: str, timeout: float = 5.0
) -> None:
    """Wait for a condition, failing fast on a decode error."""
    deadline = time.monotonic() + timeout
    while not predicate():
        guard.check()
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.01)


def order(
    cid: str, symbol: str = "AAA", side: str = "buy", quantity: float = 10, **fields: Any
) -> OrderRequest:
    return OrderRequest(client_order_id=cid, symbol=symbol, side=side, quantity=quantity, **fields)


def resting(cid: str, limit: float = 90.0, **fields: Any) -> OrderRequest:
    """A buy limit below the fake's price of 100: it rests until filled by hand."""
    return order(cid, order_type="limit", limit_price=limit, **fields)


def most_in_one_second(times: list[float]) -> int:
    """The most arrival times inside any one-second window."""
    times = sorted(times)
    most, start = 0, 0
    for end, moment in enumerate(times):
        while moment - times[start] >= 1.0:
            start += 1
        most = max(most, end - start + 1)
    return most


def make_engine(broker: IBBroker, tmp_path: Path) -> tuple[TradingEngine, AuditLog]:
    audit = AuditLog(AuditConfig(url=f"sqlite:///{tmp_path / 'audit.db'}"))
    engine = TradingEngine(
        broker,
        risk=RiskManager(RiskConfig()),
        audit=audit,
        config=EngineConfig(kill_wait=5, sessions="off"),
    )  # the fake: no hours
    return engine, audit


# --- connect and views -----------------------------------------------------------------------


def test_connect_reflects_the_gateways_account_positions_and_earlier_open_orders(
    fake_tws: FakeTWS, ib_decode_guard: IBDecodeGuard
) -> None:
    fake_tws.set_position("BBB", -50, 20.0)

    async def body() -> tuple[Any, ...]:
        earlier = IB()  # an earlier process left an order with our client id
        await earlier.connectAsync("127.0.0.1", fake_tws.port, clientId=1, timeout=5)
        trade = earlier.placeOrder(
            Stock("AAA", "SMART", "USD"),
            LimitOrder("BUY", 10, 90.0, orderRef="earlier-1", tif="GTC"),
        )
        await until(ib_decode_guard, lambda: trade.orderStatus.status == "Submitted", "ack")
        earlier.disconnect()

        broker = IBBroker(settings(fake_tws))
        events = Recorder()
        broker.add_listener(events)
        await broker.connect()
        account = await broker.account()
        open_orders = await broker.orders(open_only=True)
        known, unknown = await broker.has_symbol("AAA"), await broker.has_symbol("ZZZ")
        await broker.disconnect()
        return account, open_orders, known, unknown, events, trade.order.orderId

    account, open_orders, known, unknown, events, order_id = run(body())
    values = fake_tws.account_values()
    assert account.cash == pytest.approx(values["TotalCashValue"])
    assert account.equity == pytest.approx(values["NetLiquidation"])
    position = account.positions["BBB"]
    assert (position.quantity, position.average_cost, position.market_price) == (-50, 20, 100)
    assert account.account_id == "DU…567"
    (earlier,) = open_orders
    assert (earlier.client_order_id, earlier.status, earlier.broker_order_id) == (
        "earlier-1",
        OrderStatus.SUBMITTED,
        str(order_id),
    )
    assert (earlier.request.limit_price, earlier.request.time_in_force) == (90.0, "GTC")
    assert (known, unknown) == (True, False)
    assert events.connected() == [True, False]


# --- orders ----------------------------------------------------------------------------------


def test_market_order_fills_with_commission_and_a_limit_order_fills_partly_then_cancels(
    fake_tws: FakeTWS, ib_decode_guard: IBDecodeGuard
) -> None:
    async def body() -> tuple[Any, ...]:
        broker = IBBroker(settings(fake_tws))
        events = Recorder()
        broker.add_listener(events)
        await broker.connect()
        market = await broker.place_order(order("m1", quantity=100))
        await until(ib_decode_guard, lambda: len(events.of("fill")) == 1, "the market fill")
        positions = await broker.positions()
        limit = await broker.place_order(resting("l1", limit=95.0, quantity=100))
        fake_tws.fill_order(int(limit.broker_order_id), 40, 95.0)
        await until(ib_decode_guard, lambda: len(events.of("fill")) == 2, "the partial fill")
        partial = (await broker.orders(open_only=True))[0]
        cancelled = await broker.cancel_order("l1")
        again = await broker.cancel_order("l1")  # terminal: returned unchanged
        filled = (await broker.orders())[0]
        fills = await broker.fills()
        await broker.disconnect()
        return market, positions, limit, partial, cancelled, again, filled, fills, events

    market, positions, limit, partial, cancelled, again, filled, fills, events = run(body())
    assert market.client_order_id == "m1" and market.broker_order_id
    assert filled.status is OrderStatus.FILLED and filled.average_fill_price == 100.0
    assert positions["AAA"].quantity == 100
    assert limit.status is OrderStatus.SUBMITTED
    assert (partial.status, partial.filled_quantity) == (OrderStatus.PARTIALLY_FILLED, 40)
    assert (cancelled.status, cancelled.filled_quantity) == (OrderStatus.CANCELLED, 40)
    assert again == cancelled
    executions = fake_tws.executions()
    assert [f.fill_id for f in fills] == [e.exec_id for e in executions]
    assert [(f.client_order_id, f.quantity, f.price, f.commission) for f in fills] == [
        ("m1", 100, 100.0, 1.0),
        ("l1", 40, 95.0, 1.0),
    ]
    assert events.of("fill") == fills
    statuses = [(o.client_order_id, o.status) for o in events.of("order")]
    assert statuses[0] == ("m1", OrderStatus.PENDING) and ("m1", OrderStatus.FILLED) in statuses
    assert statuses[-1] == ("l1", OrderStatus.CANCELLED)
    assert all(isinstance(o, BrokerOrder) for o in events.of("order"))
    assert [o.status for o in fake_tws.orders()] == ["Filled", "Cancelled"]
    assert fake_tws.positions()[0].quantity == 140


def test_stop_and_stop_limit_orders_reach_ib_with_their_prices_and_time_in_force(
    fake_tws: FakeTWS, ib_decode_guard: IBDecodeGuard
) -> None:
    async def body() -> tuple[BrokerOrder, ...]:
        broker = IBBroker(settings(fake_tws))
        events = Recorder()
        broker.add_listener(events)
        await broker.connect()
        stop = await broker.place_order(
            order("s1", side="sell", order_type="stop", stop_price=90.0, time_in_force="GTC")
        )
        stop_limit = await broker.place_order(
            order("sl1", order_type="stop_limit", stop_price=110.0, limit_price=111.0)
        )
        fake_tws.set_price("AAA", 89.0)
        await until(
            ib_decode_guard,
            lambda: any(o.client_order_id == "s1" and not o.is_open for o in events.of("order")),
            "the stop fill",
        )
        done = await broker.orders()
        await broker.disconnect()
        return stop, stop_limit, *done

    stop, stop_limit, stop_done, stop_limit_open = run(body())
    assert stop.status is stop_limit.status is OrderStatus.SUBMITTED
    assert (stop_done.status, stop_done.average_fill_price) == (OrderStatus.FILLED, 89.0)
    assert stop_limit_open.status is OrderStatus.SUBMITTED
    at_ib = {o.order_ref: o for o in fake_tws.orders()}
    assert (at_ib["s1"].order_type, at_ib["s1"].aux_price, at_ib["s1"].tif) == ("STP", 90, "GTC")
    assert (
        at_ib["sl1"].order_type,
        at_ib["sl1"].aux_price,
        at_ib["sl1"].limit_price,
        at_ib["sl1"].tif,
    ) == ("STP LMT", 110.0, 111.0, "DAY")


def test_a_rejected_order_comes_back_rejected_and_an_unknown_symbol_sends_nothing(
    fake_tws: FakeTWS, ib_decode_guard: IBDecodeGuard
) -> None:
    fake_tws.reject_next_order("Not enough buying power")

    async def body() -> BrokerOrder:
        broker = IBBroker(settings(fake_tws))
        await broker.connect()
        rejected = await broker.place_order(order("big", quantity=1_000_000))
        with pytest.raises(OrderError, match="unknown symbol 'ZZZ'"):
            await broker.place_order(order("z1", symbol="ZZZ"))
        await broker.disconnect()
        return rejected

    rejected = run(body())
    assert rejected.status is OrderStatus.REJECTED and "buying power" in rejected.reason
    assert fake_tws.place_order_count == 1


def test_placing_a_client_order_id_twice_sends_one_order_and_returns_the_same_order(
    fake_tws: FakeTWS, ib_decode_guard: IBDecodeGuard
) -> None:
    async def body() -> tuple[Any, ...]:
        broker = IBBroker(settings(fake_tws))
        await broker.connect()
        first = await broker.place_order(resting("dup-1"))
        second = await broker.place_order(resting("dup-1"))
        together = await asyncio.gather(*(broker.place_order(resting("dup-2")) for _ in range(5)))
        await broker.disconnect()
        return first, second, together

    first, second, together = run(body())
    assert second == first and first.status is OrderStatus.SUBMITTED
    assert len({o.broker_order_id for o in together}) == 1
    assert fake_tws.place_order_count == 2 and len(fake_tws.orders()) == 2


def test_modify_order_re_places_the_same_order_id_with_the_new_terms(
    fake_tws: FakeTWS, ib_decode_guard: IBDecodeGuard
) -> None:
    async def body() -> tuple[BrokerOrder, BrokerOrder]:
        broker = IBBroker(settings(fake_tws))
        await broker.connect()
        placed = await broker.place_order(resting("mod-1", limit=95.0))
        modified = await broker.modify_order("mod-1", quantity=20, limit_price=96.0)
        await broker.cancel_order("mod-1")
        with pytest.raises(OrderError, match="only open orders"):
            await broker.modify_order("mod-1", limit_price=97.0)
        await broker.disconnect()
        return placed, modified

    placed, modified = run(body())
    assert modified.broker_order_id == placed.broker_order_id
    assert (modified.request.quantity, modified.request.limit_price) == (20, 96.0)
    assert modified.status is OrderStatus.SUBMITTED
    (at_ib,) = fake_tws.orders()
    assert (at_ib.order_id, at_ib.quantity, at_ib.limit_price) == (
        int(placed.broker_order_id),
        20,
        96.0,
    )
    assert fake_tws.place_order_count == 2


def test_the_broker_trades_under_uvloop_on_a_thread_of_its_own(
    fake_tws: FakeTWS, ib_decode_guard: IBDecodeGuard
) -> None:
    uvloop = pytest.importorskip("uvloop")
    outcome: list[Any] = []

    async def body() -> None:
        broker = IBBroker(settings(fake_tws))
        events = Recorder()
        broker.add_listener(events)
        await broker.connect()
        await broker.place_order(order("uv-1"))
        await until(ib_decode_guard, lambda: len(events.of("fill")) == 1, "the fill")
        outcome.append((await broker.orders())[0].status)
        await broker.disconnect()

    def serve_like() -> None:  # like a Ray Serve replica: uvloop, on a thread of its own
        try:
            uvloop.run(asyncio.wait_for(body(), 20))
        except BaseException as exc:  # handed to the test thread
            outcome.append(exc)

    thread = threading.Thread(target=serve_like)
    thread.start()
    thread.join(30)
    gc.collect()
    assert not thread.is_alive() and outcome == [OrderStatus.FILLED]


# --- reconnect and reconcile -----------------------------------------------------------------


def test_a_connection_dropped_mid_order_reconnects_with_backoff_and_reconciles_without_duplicates(
    fake_tws: FakeTWS, ib_decode_guard: IBDecodeGuard
) -> None:
    config = settings(fake_tws)

    async def body() -> tuple[Any, ...]:
        broker = IBBroker(config)
        events = Recorder()
        broker.add_listener(events)
        await broker.connect()
        await broker.subscribe_bars(["AAA"])
        placed = await broker.place_order(resting("drop-1", limit=95.0))
        before = broker.account_now()
        fake_tws.refuse_connections(True)  # the gateway goes down ...
        assert fake_tws.drop_connections() == 1
        await until(ib_decode_guard, lambda: events.connected() == [True, False], "the drop")
        with pytest.raises(BrokerError, match="not connected to IB"):
            await broker.place_order(resting("drop-2"))
        while_down = broker.account_now()
        await until(
            ib_decode_guard,
            lambda: len(broker.connection_attempts) >= 4,
            "three failed reconnection attempts",
        )
        execution = fake_tws.fill_order(int(placed.broker_order_id), price=95.0)  # ... fills
        fake_tws.refuse_connections(False)  # ... and comes back
        await until(ib_decode_guard, lambda: broker.connected, "the reconnect", timeout=10)
        reconciled = (await broker.orders())[0]
        fills = await broker.fills()
        resent = await broker.place_order(resting("drop-1", limit=95.0))
        await until(ib_decode_guard, lambda: fake_tws.realtime_subscribers("AAA") == 1, "bars")
        await broker.disconnect()
        return (
            placed,
            before,
            while_down,
            execution,
            reconciled,
            fills,
            resent,
            events,
            broker.connection_attempts,
        )

    (placed, before, while_down, execution, reconciled, fills, resent, events, attempts) = run(
        body()
    )
    assert while_down == before  # the last snapshot while IB is away
    assert (reconciled.status, reconciled.filled_quantity) == (OrderStatus.FILLED, 10)
    assert reconciled.broker_order_id == placed.broker_order_id
    (fill,) = fills
    assert (fill.fill_id, fill.client_order_id, fill.commission) == (
        execution.exec_id,
        "drop-1",
        execution.commission,
    )
    assert events.of("fill") == fills
    assert resent == reconciled
    assert fake_tws.place_order_count == 1 and len(fake_tws.orders()) == 1
    assert events.connected() == [True, False, True, False]
    assert fake_tws.connection_count == 2
    assert [m.connection for m in fake_tws.messages(EXECUTIONS)] == [1, 2]
    # the reconnect run: attempts 1..n failed, n+1 succeeded, each after its backoff
    run_attempts = list(attempts)[1:]
    assert [a.number for a in run_attempts] == list(range(1, len(run_attempts) + 1))
    assert all(a.error for a in run_attempts[:-1]) and not run_attempts[-1].error
    assert len(run_attempts) >= 4
    for previous, attempt in zip(run_attempts, run_attempts[1:], strict=False):
        assert attempt.started - previous.started >= config.backoff(attempt.number) - 0.01


def test_an_order_ib_never_received_is_closed_as_rejected_by_the_reconcile_after_a_drop(
    fake_tws: FakeTWS, ib_decode_guard: IBDecodeGuard
) -> None:
    async def body() -> tuple[BrokerOrder, BrokerOrder, BrokerOrder]:
        broker = IBBroker(settings(fake_tws, request_timeout=0.3))
        events = Recorder()
        broker.add_listener(events)
        await broker.connect()
        fake_tws.ignore_requests(PLACE_ORDER)  # the order is lost on the way
        pending = await broker.place_order(resting("lost-1"))
        fake_tws.ignore_requests()
        fake_tws.drop_connections()
        await until(ib_decode_guard, lambda: events.connected() == [True, False, True], "reconnect")
        closed = (await broker.orders())[0]
        resent = await broker.place_order(resting("lost-1"))
        await broker.disconnect()
        return pending, closed, resent

    pending, closed, resent = run(body())
    assert pending.status is OrderStatus.PENDING
    assert closed.status is OrderStatus.REJECTED and "never received" in closed.reason
    assert resent == closed and fake_tws.orders() == []


def test_ib_error_1100_refuses_orders_until_1102_and_a_reconcile(
    fake_tws: FakeTWS, ib_decode_guard: IBDecodeGuard
) -> None:
    async def body() -> tuple[Any, ...]:
        broker = IBBroker(settings(fake_tws))
        events = Recorder()
        broker.add_listener(events)
        await broker.connect()
        placed = await broker.place_order(resting("c1"))
        fake_tws.send_error(1100, "Connectivity between IB and Trader Workstation has been lost.")
        await until(ib_decode_guard, lambda: broker.state == "lost", "error 1100")
        with pytest.raises(BrokerError, match="lost connectivity"):
            await broker.place_order(resting("c2"))
        fake_tws.fill_order(int(placed.broker_order_id), price=90.0)
        requests_before = fake_tws.received(EXECUTIONS), fake_tws.received(OPEN_ORDERS)
        fake_tws.send_error(1102, "Connectivity between IB and TWS has been restored.")
        await until(ib_decode_guard, lambda: broker.connected, "the reconcile after 1102")
        requests_after = fake_tws.received(EXECUTIONS), fake_tws.received(OPEN_ORDERS)
        second = await broker.place_order(resting("c2"))
        first = (await broker.orders())[0]
        await broker.disconnect()
        return events, requests_before, requests_after, first, second

    events, before, after, first, second = run(body())
    assert events.connected() == [True, False, True, False]
    reasons = [event["reason"] for event in events.of("connection")]
    assert "1100" in reasons[1] and "1102" in reasons[2]
    assert after == (before[0] + 1, before[1] + 1)
    assert first.status is OrderStatus.FILLED
    assert len(events.of("fill")) == 1  # re-sent by reqExecutions, reported once
    assert second.status is OrderStatus.SUBMITTED


def test_an_unanswered_health_check_drops_the_connection_and_reconnects(
    fake_tws: FakeTWS, ib_decode_guard: IBDecodeGuard
) -> None:
    async def body() -> Recorder:
        broker = IBBroker(settings(fake_tws, health_interval=0.2, request_timeout=0.5))
        events = Recorder()
        broker.add_listener(events)
        await broker.connect()
        fake_tws.ignore_requests(49)  # reqCurrentTime: a stalled gateway
        await until(ib_decode_guard, lambda: False in events.connected(), "the health check")
        fake_tws.ignore_requests()
        await until(ib_decode_guard, lambda: broker.connected, "the reconnect")
        await broker.disconnect()
        return events

    events = run(body())
    assert "health check" in events.of("connection")[1]["reason"]
    assert events.connected()[:3] == [True, False, True]
    assert fake_tws.connection_count >= 2


# --- the trading engine on IB ----------------------------------------------------------------


def test_the_kill_switch_leaves_no_open_orders_and_flat_positions_at_the_gateway(
    fake_tws: FakeTWS, ib_decode_guard: IBDecodeGuard, tmp_path: Path
) -> None:
    async def body() -> tuple[Any, ...]:
        broker = IBBroker(settings(fake_tws))
        engine, audit = make_engine(broker, tmp_path)
        bars = Recorder()
        broker.add_listener(bars)
        await engine.start()
        await broker.subscribe_bars(["AAA", "BBB"])
        await until(ib_decode_guard, lambda: fake_tws.realtime_subscribers() == 2, "bars")
        start = datetime.now(UTC).replace(microsecond=0)
        for symbol in ("AAA", "BBB"):
            fake_tws.push_realtime_bar(symbol, start, 99.5, 100.5, 99.0, 100.0, 1_000)
        await until(ib_decode_guard, lambda: len(bars.of("bar")) == 2, "two bars")
        outcomes = [
            await engine.submit(order("long", "AAA", quantity=50)),
            await engine.submit(order("short", "BBB", side="sell", quantity=40)),
            await engine.submit(resting("rest", time_in_force="GTC")),
        ]
        await until(
            ib_decode_guard,
            lambda: {p.symbol: p.quantity for p in fake_tws.positions()} == {"AAA": 50, "BBB": -40},
            "positions at the gateway",
        )
        held = {s: p.quantity for s, p in (await broker.positions()).items()}
        report = await engine.kill("test")
        await engine.close()
        return outcomes, held, report, audit, bars.of("bar")

    outcomes, held, report, audit, bars = run(body())
    assert all(outcome.accepted for outcome in outcomes)
    assert bars[0] == Bar(
        symbol="AAA",
        timestamp=bars[0].timestamp,
        open=99.5,
        high=100.5,
        low=99.0,
        close=100.0,
        volume=1_000.0,
    )
    assert held == {"AAA": 50, "BBB": -40}
    assert report["flat"] and report["state"] == "HALTED"
    assert report["open_orders"] == [] and report["cancelled"] == ["rest"]
    assert {o.status for o in fake_tws.orders()} <= {"Filled", "Cancelled"}
    assert fake_tws.positions() == []
    assert audit.order("rest").status is OrderStatus.CANCELLED
    kills = [o for o in audit.orders() if o.client_order_id.startswith("kill-")]
    assert sorted((o.symbol, o.request.side, o.status) for o in kills) == [
        ("AAA", "sell", OrderStatus.FILLED),
        ("BBB", "buy", OrderStatus.FILLED),
    ]
    assert audit.orders(open_only=True) == []


def test_a_restarted_broker_and_engine_find_the_earlier_orders_by_order_ref(
    fake_tws: FakeTWS, ib_decode_guard: IBDecodeGuard, tmp_path: Path
) -> None:
    async def first_life() -> dict[str, BrokerOrder]:
        broker = IBBroker(settings(fake_tws))
        engine, _ = make_engine(broker, tmp_path)
        events = Recorder()
        broker.add_listener(events)
        await engine.start()
        await engine.submit(resting("keep", time_in_force="GTC"))
        await engine.submit(resting("later", limit=80.0, time_in_force="GTC"))
        await engine.submit(resting("done", limit=101.0))  # marketable: fills at 100
        await until(
            ib_decode_guard,
            lambda: any(f.client_order_id == "done" for f in events.of("fill")),
            "the fill",
        )
        orders = {o.client_order_id: o for o in await broker.orders()}
        await engine.close()
        return orders

    first = run(first_life())
    later = fake_tws.fill_order(int(first["later"].broker_order_id), price=80.0)  # while down
    sent = fake_tws.place_order_count

    async def second_life() -> tuple[Any, ...]:
        broker = IBBroker(settings(fake_tws))
        engine, audit = make_engine(broker, tmp_path)
        await engine.start()
        orders = {o.client_order_id: o for o in await broker.orders()}
        again = await broker.place_order(resting("keep", time_in_force="GTC"))
        with pytest.raises(DuplicateOrderError):
            await engine.submit(resting("keep", time_in_force="GTC"))
        await engine.close()
        return orders, again, audit

    orders, again, audit = run(second_life())
    assert {cid: o.broker_order_id for cid, o in orders.items()} == {
        cid: o.broker_order_id for cid, o in first.items()
    }
    assert {cid: o.status for cid, o in orders.items()} == {
        "keep": OrderStatus.SUBMITTED,
        "later": OrderStatus.FILLED,
        "done": OrderStatus.FILLED,
    }
    assert again == orders["keep"] and fake_tws.place_order_count == sent
    open_at_ib = {o.order_ref for o in fake_tws.orders() if o.status == "Submitted"}
    assert {o.client_order_id for o in audit.orders(open_only=True)} == open_at_ib == {"keep"}
    assert audit.order("later").status is OrderStatus.FILLED
    assert later.exec_id in {f.fill_id for f in audit.fills()}
    assert all(isinstance(f, Fill) for f in audit.fills())


# --- pacing and history ----------------------------------------------------------------------


def test_a_burst_of_orders_and_cancels_is_paced_to_the_message_rate_at_the_gateway(
    fake_tws: FakeTWS, ib_decode_guard: IBDecodeGuard
) -> None:
    async def body() -> list[BrokerOrder]:
        broker = IBBroker(settings(fake_tws, messages_per_second=20, health_interval=60))
        await broker.connect()
        ids = [f"burst-{n}" for n in range(40)]
        await asyncio.gather(*(broker.place_order(resting(cid, quantity=1)) for cid in ids))
        cancelled = await asyncio.gather(*(broker.cancel_order(cid) for cid in ids))
        await broker.disconnect()
        return list(cancelled)

    cancelled = run(body(), timeout=30)
    assert {o.status for o in cancelled} == {OrderStatus.CANCELLED}
    assert fake_tws.received(PLACE_ORDER) == fake_tws.received(CANCEL_ORDER) == 40
    assert most_in_one_second(fake_tws.request_times(PLACE_ORDER)) <= 21
    assert most_in_one_second(fake_tws.request_times(CANCEL_ORDER)) <= 21
    assert most_in_one_second([m.time for m in fake_tws.messages()]) <= 21


def _daily_bars() -> pd.DataFrame:
    index = pd.bdate_range(end=pd.Timestamp.now(tz="UTC").normalize(), periods=40, tz="UTC")
    close = pd.Series(range(len(index)), index=index, dtype=float) + 100.0
    return pd.DataFrame(
        {
            "open": close - 0.5,
            "high": close + 1.0,
            "low": close - 1.0,
            "close": close,
            "volume": 1_000.0,
        }
    )


def test_history_returns_daily_bars_and_stays_within_the_historical_pacing_limit(
    fake_tws_factory: Callable[..., FakeTWS], ib_decode_guard: IBDecodeGuard
) -> None:
    frame = _daily_bars()
    fake = fake_tws_factory(historical_bars={"AAA": frame}, historical_request_limit=(2, 1.0))

    async def body() -> tuple[list[list[Bar]], float | None]:
        broker = IBBroker(settings(fake, historical_requests=2, historical_window=1.0))
        await broker.connect()
        histories = [await broker.history("AAA", 5) for _ in range(3)]
        price = broker.last_price("AAA")
        await broker.disconnect()
        return histories, price

    histories, price = run(body())
    expected = [ts.to_pydatetime() for ts in frame.index[-5:]]
    for bars in histories:  # a pacing violation (error 162) would leave one empty
        assert [b.timestamp for b in bars] == expected
        assert [b.close for b in bars] == list(frame["close"].iloc[-5:])
    assert price == frame["close"].iloc[-1]
    assert fake.received(HISTORICAL) == 3
