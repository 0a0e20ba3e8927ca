"""The fake TWS speaks the real TWS socket protocol to the real ib_async client.

Every test runs ib_async's async API against ``FakeTWS`` inside ``asyncio.run``; the
``ib_decode_guard`` fixture fails a test whenever ib_async logs a message it could not decode,
and ``fake_tws_factory`` fails it when the fake could not read a client request.
"""

from __future__ import annotations

import asyncio
import gc
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from ib_async import IB, LimitOrder, MarketOrder, Stock, StopOrder

from tests.fake_tws import FakeTWS, HistoricalQuery, IBDecodeError, IBDecodeGuard

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def run(coroutine: Coroutine[Any, Any, Any], timeout: float = 20.0) -> Any:
    """Run one test body in a fresh event loop, bounded in time.

    Garbage from a failed body (ib_async futures holding exceptions) is collected here, so
    its finalizers cannot run while pytest parses source for the report: on CPython 3.11.7 a
    finalizer that formats a traceback inside ``ast.parse`` crashes pytest (gh-106905).
    """
    try:
        return asyncio.run(asyncio.wait_for(coroutine, timeout))
    finally:
        gc.collect()


async def connect(fake: FakeTWS, client_id: int = 1, timeout: float = 5.0) -> IB:
    """Connect the real ib_async client; a startup request left unanswered raises."""
    ib = IB()
    await ib.connectAsync(
        "127.0.0.1", fake.port, clientId=client_id, timeout=timeout, raiseSyncErrors=True
    )
    return ib


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


def aaa() -> Stock:
    return Stock("AAA", "SMART", "USD")


# --- session ---------------------------------------------------------------------------------


def test_connect_completes_with_managed_accounts_next_valid_id_and_startup_requests(
    fake_tws: FakeTWS,
) -> None:
    async def body() -> None:
        ib = await connect(fake_tws, client_id=7)
        assert ib.isConnected()
        assert ib.managedAccounts() == ["DU1234567"]
        assert ib.client.getReqId() >= 1
        assert ib.client.serverVersion() == 176
        assert fake_tws.client_ids == [7]
        ib.disconnect()

    run(body())
    assert fake_tws.connection_count == 1
    start_api = fake_tws.messages(71)[0]
    assert start_api.fields[2] == "7"
    # positions, open orders, completed orders, account updates (+ multi), executions
    for msg_id in (61, 5, 99, 6, 76, 7):
        assert fake_tws.received(msg_id) == 1, msg_id


def test_qualify_fills_con_id_and_unknown_symbol_gets_error_200(fake_tws: FakeTWS) -> None:
    async def body() -> None:
        ib = await connect(fake_tws)
        errors: list[tuple[int, int]] = []
        ib.errorEvent += lambda req_id, code, text, contract: errors.append((req_id, code))
        known, unknown = aaa(), Stock("ZZZ", "SMART", "USD")
        result = await ib.qualifyContractsAsync(known, unknown)
        assert result[0] is known and known.conId == 100001
        assert known.primaryExchange == "NASDAQ" and known.exchange == "SMART"
        assert result[1] is None and unknown.conId == 0
        assert [code for _, code in errors] == [200]
        ib.disconnect()

    run(body())


# --- orders ----------------------------------------------------------------------------------


def test_market_order_fills_with_one_execution_commission_and_position_update(
    fake_tws: FakeTWS, ib_decode_guard: IBDecodeGuard
) -> None:
    async def body() -> None:
        ib = await connect(fake_tws)
        contract = aaa()
        await ib.qualifyContractsAsync(contract)
        trade = ib.placeOrder(contract, MarketOrder("BUY", 100, orderRef="cid-mkt-1"))
        await ib_decode_guard.within(trade.filledEvent, 5)
        await until(ib_decode_guard, lambda: trade.fills[-1].commissionReport.execId != "", "cr")
        assert trade.orderStatus.status == "Filled"
        assert trade.orderStatus.avgFillPrice == 100.0 and trade.orderStatus.filled == 100
        assert trade.order.permId > 0
        assert len(trade.fills) == 1
        fill = trade.fills[0]
        assert fill.execution.orderRef == "cid-mkt-1" and fill.execution.side == "BOT"
        assert fill.commissionReport.commission == pytest.approx(1.0)  # 100 × 0.005 → min 1
        await until(ib_decode_guard, lambda: bool(ib.positions()), "position update")
        (position,) = ib.positions()
        assert position.contract.conId == 100001
        assert (position.position, position.avgCost) == (100.0, 100.0)
        await until(ib_decode_guard, lambda: bool(ib.portfolio()), "portfolio update")
        cash = {v.tag: v.value for v in ib.accountValues() if not v.modelCode}
        assert float(cash["TotalCashValue"]) == pytest.approx(1_000_000 - 10_000 - 1.0)
        ib.disconnect()

    run(body())
    (order,) = fake_tws.orders()
    assert (order.status, order.filled, order.order_ref) == ("Filled", 100.0, "cid-mkt-1")
    assert fake_tws.positions()[0].quantity == 100.0
    assert fake_tws.place_order_count == 1
    assert len(fake_tws.executions()) == 1


def test_limit_order_rests_partially_fills_by_hand_then_cancels(
    fake_tws: FakeTWS, ib_decode_guard: IBDecodeGuard
) -> None:
    async def body() -> None:
        ib = await connect(fake_tws)
        trade = ib.placeOrder(aaa(), LimitOrder("BUY", 100, 95.0, orderRef="cid-lmt-1"))
        await until(ib_decode_guard, lambda: trade.orderStatus.status == "Submitted", "ack")
        order_id = trade.order.orderId
        assert fake_tws.order(order_id).status == "Submitted"

        execution = fake_tws.fill_order(order_id, 40, 95.0)
        assert execution.cum_qty == 40
        await until(ib_decode_guard, lambda: trade.orderStatus.filled == 40, "partial fill")
        assert trade.orderStatus.remaining == 60 and trade.orderStatus.status == "Submitted"
        assert [f.execution.shares for f in trade.fills] == [40.0]

        ib.cancelOrder(trade.order)
        await ib_decode_guard.within(trade.cancelledEvent, 5)
        assert trade.orderStatus.status == "Cancelled"
        ib.disconnect()

    run(body())
    order = fake_tws.orders()[0]
    assert (order.status, order.filled, order.remaining) == ("Cancelled", 40.0, 60.0)
    assert fake_tws.positions()[0].quantity == 40.0


def test_resting_limit_and_stop_orders_fill_when_the_price_crosses(
    fake_tws: FakeTWS, ib_decode_guard: IBDecodeGuard
) -> None:
    async def body() -> None:
        ib = await connect(fake_tws)
        limit = ib.placeOrder(aaa(), LimitOrder("BUY", 10, 95.0))
        stop = ib.placeOrder(aaa(), StopOrder("SELL", 10, 90.0))
        await until(ib_decode_guard, lambda: stop.orderStatus.status == "Submitted", "ack")
        fake_tws.set_price("AAA", 94.0)
        await ib_decode_guard.within(limit.filledEvent, 5)
        assert limit.orderStatus.avgFillPrice == 94.0
        assert stop.orderStatus.status == "Submitted"
        fake_tws.set_price("AAA", 89.5)
        await ib_decode_guard.within(stop.filledEvent, 5)
        assert stop.orderStatus.avgFillPrice == 89.5
        ib.disconnect()

    run(body())
    assert fake_tws.positions() == []


def test_modified_order_and_server_side_cancel_and_rejection_reach_the_client(
    fake_tws: FakeTWS, ib_decode_guard: IBDecodeGuard
) -> None:
    async def body() -> None:
        ib = await connect(fake_tws)
        trade = ib.placeOrder(aaa(), LimitOrder("BUY", 10, 90.0))
        await until(ib_decode_guard, lambda: trade.orderStatus.status == "Submitted", "ack")
        trade.order.lmtPrice = 91.0
        ib.placeOrder(trade.contract, trade.order)
        await until(
            ib_decode_guard, lambda: fake_tws.order(trade.order.orderId).limit_price == 91.0, "mod"
        )
        fake_tws.cancel_order(trade.order.orderId, reason="expired")
        await ib_decode_guard.within(trade.cancelledEvent, 5)

        fake_tws.reject_next_order("Not enough buying power")
        rejected = ib.placeOrder(aaa(), MarketOrder("BUY", 1_000_000))
        await ib_decode_guard.within(rejected.cancelledEvent, 5)
        assert rejected.log[-1].errorCode == 201
        ib.disconnect()

    run(body())
    assert [o.status for o in fake_tws.orders()] == ["Cancelled", "Inactive"]
    assert fake_tws.place_order_count == 3


@pytest.mark.parametrize("server_version", [170, 176, 177, 178])
def test_order_ref_round_trips_through_open_orders_and_executions_after_a_dropped_connection(
    fake_tws_factory: Callable[..., FakeTWS], ib_decode_guard: IBDecodeGuard, server_version: int
) -> None:
    fake = fake_tws_factory(server_version=server_version)

    async def body() -> None:
        ib = await connect(fake, client_id=5)
        resting = ib.placeOrder(aaa(), LimitOrder("BUY", 20, 80.0, orderRef="cid-open"))
        filled = ib.placeOrder(aaa(), MarketOrder("BUY", 30, orderRef="cid-filled"))
        await ib_decode_guard.within(filled.filledEvent, 5)
        await until(ib_decode_guard, lambda: resting.order.permId > 0, "permId")
        dropped = asyncio.Event()
        ib.disconnectedEvent += dropped.set
        assert fake.drop_connections() == 1
        await ib_decode_guard.within(dropped.wait(), 5)

        again = await connect(fake, client_id=5)
        open_refs = {t.order.orderRef: t for t in again.openTrades()}
        assert list(open_refs) == ["cid-open"]
        reloaded = open_refs["cid-open"]
        assert reloaded.order.orderId == resting.order.orderId
        assert reloaded.order.permId == resting.order.permId
        assert reloaded.order.lmtPrice == 80.0 and reloaded.order.totalQuantity == 20
        assert reloaded.orderStatus.status == "Submitted"
        assert again.client.getReqId() > max(resting.order.orderId, filled.order.orderId)

        completed = {t.order.orderRef: t.orderStatus.status for t in again.trades()}
        assert completed == {"cid-open": "Submitted", "cid-filled": "Filled"}
        assert [f.execution.orderRef for f in again.fills()] == ["cid-filled"]

        # commission reports follow the executions; ib_async files them on its own fills
        assert again.fills()[0].commissionReport.commission == pytest.approx(1.0)
        fills = await ib_decode_guard.within(again.reqExecutionsAsync(), 5)
        assert [(f.execution.orderRef, f.execution.shares) for f in fills] == [("cid-filled", 30)]
        trades = await ib_decode_guard.within(again.reqOpenOrdersAsync(), 5)
        assert [t.order.orderRef for t in trades] == ["cid-open"]
        positions = await ib_decode_guard.within(again.reqPositionsAsync(), 5)
        assert [(p.contract.symbol, p.position) for p in positions] == [("AAA", 30.0)]
        again.disconnect()

    run(body())
    assert fake.connection_count == 2


# --- account ---------------------------------------------------------------------------------


def test_account_summary_and_set_position_reach_the_client(
    fake_tws: FakeTWS, ib_decode_guard: IBDecodeGuard
) -> None:
    async def body() -> None:
        ib = await connect(fake_tws)
        summary = await ib_decode_guard.within(ib.accountSummaryAsync(), 5)
        tags = {v.tag: v.value for v in summary}
        assert tags["NetLiquidation"] == "1000000.00" and tags["AccountType"] == "INDIVIDUAL"
        fake_tws.set_position("BBB", -50, 20.0)
        await until(ib_decode_guard, lambda: bool(ib.positions()), "pushed position")
        assert [(p.contract.symbol, p.position, p.avgCost) for p in ib.positions()] == [
            ("BBB", -50.0, 20.0)
        ]
        ib.disconnect()

    run(body())


def test_error_notices_reach_the_client_and_1102_triggers_a_resubscription(
    fake_tws: FakeTWS, ib_decode_guard: IBDecodeGuard
) -> None:
    async def body() -> None:
        ib = await connect(fake_tws)
        codes: list[int] = []
        ib.errorEvent += lambda req_id, code, text, contract: codes.append(code)
        assert fake_tws.send_error(1100, "Connectivity between IB and TWS has been lost.") == 1
        assert fake_tws.send_error(1102, "Connectivity restored - data maintained.") == 1
        await until(ib_decode_guard, lambda: codes == [1100, 1102], "error events")
        await fake_tws.wait_for_message_async(62)  # ib_async re-requests the account summary
        ib.disconnect()

    run(body())


# --- market data -----------------------------------------------------------------------------


def _daily_bars() -> pd.DataFrame:
    index = pd.bdate_range("2020-01-01", "2020-03-31", tz="UTC", name="timestamp")
    close = pd.Series(range(len(index)), index=index, dtype=float) + 100.0
    return pd.DataFrame(
        {
            "open": close - 0.5,
            "high": close + 1.0,
            "low": close - 1.0,
            "close": close,
            "volume": 1000.0 + close,
        }
    )


def test_historical_daily_bars_honour_end_duration_and_values(
    fake_tws_factory: Callable[..., FakeTWS], ib_decode_guard: IBDecodeGuard
) -> None:
    frame = _daily_bars()
    fake = fake_tws_factory(historical_bars={"AAA": frame})
    end = datetime(2020, 1, 31, 23, 59, 59, tzinfo=UTC)
    expected = frame[(frame.index > end - timedelta(days=10)) & (frame.index <= end)]

    async def body() -> None:
        ib = await connect(fake)
        bars = await ib_decode_guard.within(
            ib.reqHistoricalDataAsync(aaa(), end, "10 D", "1 day", "TRADES", True, 1), 10
        )
        assert len(bars) == len(expected) == 8
        assert [b.date for b in bars] == [ts.date() for ts in expected.index]
        assert bars[0].date == date(2020, 1, 22)
        for bar, (_, row) in zip(bars, expected.iterrows(), strict=True):
            assert (bar.open, bar.high, bar.low, bar.close, bar.volume) == (
                row.open,
                row.high,
                row.low,
                row.close,
                row.volume,
            )
        month = await ib_decode_guard.within(
            ib.reqHistoricalDataAsync(aaa(), "20200331 23:59:59 UTC", "1 M", "1 day", "TRADES", 1),
            10,
        )
        assert month[0].date == date(2020, 3, 2) and month[-1].date == date(2020, 3, 31)
        ib.disconnect()

    run(body())


@pytest.mark.parametrize("format_date", [1, 2])
def test_historical_intraday_bars_are_resampled_and_dated_in_utc(
    fake_tws_factory: Callable[..., FakeTWS], ib_decode_guard: IBDecodeGuard, format_date: int
) -> None:
    index = pd.date_range("2020-01-02 14:30", periods=120, freq="1min", tz="UTC")
    minutes = pd.DataFrame(
        {"open": 1.0, "high": 2.0, "low": 0.5, "close": 1.5, "volume": 10.0}, index=index
    )
    fake = fake_tws_factory(historical_bars={"AAA": minutes})

    async def body() -> None:
        ib = await connect(fake)
        bars = await ib_decode_guard.within(
            ib.reqHistoricalDataAsync(
                aaa(), "20200102 16:30:00 UTC", "3600 S", "30 mins", "TRADES", False, format_date
            ),
            10,
        )
        # the window (15:30, 16:30] holds 59 one-minute bars: 15:31-15:59 and 16:00-16:29
        assert [b.date for b in bars] == [
            datetime(2020, 1, 2, 15, 30, tzinfo=UTC),
            datetime(2020, 1, 2, 16, 0, tzinfo=UTC),
        ]
        assert [b.volume for b in bars] == [290.0, 300.0]
        ib.disconnect()

    run(body())


def test_historical_provider_callable_no_data_and_pacing_errors(
    fake_tws_factory: Callable[..., FakeTWS], ib_decode_guard: IBDecodeGuard
) -> None:
    queries: list[HistoricalQuery] = []

    def provider(query: HistoricalQuery) -> pd.DataFrame:
        queries.append(query)
        return _daily_bars().head(3) if query.symbol == "AAA" else pd.DataFrame()

    fake = fake_tws_factory(historical_bars=provider, historical_request_limit=(2, 60.0))

    async def body() -> None:
        ib = await connect(fake)
        codes: list[int] = []
        ib.errorEvent += lambda req_id, code, text, contract: codes.append(code)
        requests = [
            ib.reqHistoricalDataAsync(Stock(s, "SMART", "USD"), "", "1 Y", "1 day", "TRADES", 1)
            for s in ("AAA", "BBB", "AAA")
        ]
        results = [await ib_decode_guard.within(r, 10) for r in requests]
        assert [len(r) for r in results] == [3, 0, 0]
        assert codes == [162, 162]  # no data for BBB, then the pacing violation
        ib.disconnect()

    run(body())
    assert [q.symbol for q in queries] == ["AAA", "BBB"]
    assert queries[0].duration == "1 Y" and queries[0].bar_size == "1 day"
    times = fake.request_times(20)
    assert len(times) == 3 and times == sorted(times)


def test_realtime_bars_arrive_for_subscribers_only(
    fake_tws: FakeTWS, ib_decode_guard: IBDecodeGuard
) -> None:
    async def body() -> None:
        ib = await connect(fake_tws)
        bars = ib.reqRealTimeBars(aaa(), 5, "TRADES", False)
        await fake_tws.wait_for_message_async(50)
        assert fake_tws.realtime_subscribers("AAA") == 1
        start = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)
        assert fake_tws.push_realtime_bar("AAA", start, 100, 101, 99, 100.5, 1200) == 1
        assert fake_tws.push_realtime_bar("BBB", start, 50, 51, 49, 50.5, 10) == 0
        fake_tws.push_realtime_bar("AAA", start + timedelta(seconds=5), 100.5, 102, 100, 101, 800)
        await until(ib_decode_guard, lambda: len(bars) == 2, "two real-time bars")
        assert bars[0].time == start and bars[1].time == start + timedelta(seconds=5)
        assert (bars[0].open_, bars[0].high, bars[0].low, bars[0].close) == (100, 101, 99, 100.5)
        assert bars[0].volume == 1200 and bars[1].close == 101
        ib.cancelRealTimeBars(bars)
        await fake_tws.wait_for_message_async(51)
        assert fake_tws.realtime_subscribers() == 0
        ib.disconnect()

    run(body())


def test_market_data_snapshot_returns_the_current_price(
    fake_tws: FakeTWS, ib_decode_guard: IBDecodeGuard
) -> None:
    fake_tws.set_price("AAA", 123.25)

    async def body() -> None:
        ib = await connect(fake_tws)
        contract = aaa()
        await ib.qualifyContractsAsync(contract)
        (ticker,) = await ib_decode_guard.within(ib.reqTickersAsync(contract), 5)
        assert (ticker.last, ticker.bid, ticker.ask) == (123.25, 123.24, 123.26)
        ib.disconnect()

    run(body())


# --- connection faults -----------------------------------------------------------------------


def test_dropped_connections_fire_the_disconnected_event(
    fake_tws: FakeTWS, ib_decode_guard: IBDecodeGuard
) -> None:
    async def body() -> None:
        ib = await connect(fake_tws)
        dropped = asyncio.Event()
        ib.disconnectedEvent += dropped.set
        assert fake_tws.drop_connections() == 1
        await ib_decode_guard.within(dropped.wait(), 5)
        assert not ib.isConnected()

    run(body())
    assert fake_tws.active_connections == 0


def test_refused_connections_fail_to_connect_until_allowed_again(fake_tws: FakeTWS) -> None:
    async def body() -> None:
        ib = IB()
        fake_tws.refuse_connections(True)
        with pytest.raises(ConnectionRefusedError):
            await ib.connectAsync("127.0.0.1", fake_tws.port, clientId=1, timeout=2)
        fake_tws.refuse_connections(True, mode="close")
        with pytest.raises(TimeoutError):
            await ib.connectAsync("127.0.0.1", fake_tws.port, clientId=1, timeout=0.3)
        fake_tws.refuse_connections(False)
        await ib.connectAsync("127.0.0.1", fake_tws.port, clientId=1, timeout=5)
        assert ib.isConnected()
        ib.disconnect()

    run(body())
    assert fake_tws.connection_count == 1


def test_second_connection_with_a_client_id_in_use_is_rejected_with_error_326(
    fake_tws: FakeTWS,
) -> None:
    async def body() -> None:
        first = await connect(fake_tws, client_id=3)
        second = IB()
        codes: list[int] = []
        second.errorEvent += lambda req_id, code, text, contract: codes.append(code)
        with pytest.raises(TimeoutError):
            await second.connectAsync("127.0.0.1", fake_tws.port, clientId=3, timeout=1)
        assert codes == [326]
        assert first.isConnected()
        first.disconnect()

    run(body())


# --- the decode-error guard ------------------------------------------------------------------


def test_decode_guard_fails_fast_on_a_malformed_message(
    fake_tws: FakeTWS, ib_decode_guard: IBDecodeGuard
) -> None:
    async def body() -> None:
        ib = await connect(fake_tws)
        started = time.monotonic()
        # a position message three fields short: ib_async logs "Error handling fields"
        fake_tws.send_raw_message([61, 3, "DU1234567", 100001, "AAA"])
        with pytest.raises(IBDecodeError, match="Error handling fields"):
            await ib_decode_guard.within(asyncio.sleep(30), timeout=10)
        assert time.monotonic() - started < 2
        ib.disconnect()

    run(body())
    assert len(ib_decode_guard.clear()) == 1  # provoked on purpose: do not fail at teardown


def test_guard_within_never_misses_an_order_event_under_uvloop_on_another_thread(
    fake_tws: FakeTWS, ib_decode_guard: IBDecodeGuard
) -> None:
    uvloop = pytest.importorskip("uvloop")
    missed: list[int] = []

    async def body() -> None:
        ib = await connect(fake_tws)
        for attempt in range(15):
            trade = ib.placeOrder(aaa(), MarketOrder("BUY", 1))
            try:
                await ib_decode_guard.within(trade.filledEvent, 2)
            except TimeoutError:
                missed.append(attempt)
        ib.disconnect()

    # like a Ray Serve replica: the client's loop is uvloop, on a thread of its own
    thread = threading.Thread(target=lambda: uvloop.run(asyncio.wait_for(body(), 30)))
    thread.start()
    thread.join(40)
    assert not thread.is_alive() and missed == []
    assert len(fake_tws.executions()) == 15


def test_decode_guard_fixture_fails_a_test_whose_client_got_a_malformed_message(
    tmp_path: Path,
) -> None:
    (tmp_path / "conftest.py").write_text(
        "from tests.fake_tws.fixtures import fake_tws, fake_tws_factory, ib_decode_guard\n"
    )
    (tmp_path / "test_inner.py").write_text(
        textwrap.dedent(
            """
            import asyncio
            from ib_async import IB

            def test_inner(fake_tws):
                async def body():
                    ib = IB()
                    await ib.connectAsync("127.0.0.1", fake_tws.port, clientId=1, timeout=5)
                    fake_tws.send_raw_message([61, 3, "DU1234567", 100001, "AAA"])
                    await asyncio.sleep(0.3)
                    ib.disconnect()
                asyncio.run(body())
            """
        )
    )
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "could not decode" in result.stdout and "Error handling fields" in result.stdout
    assert "1 error" in result.stdout
