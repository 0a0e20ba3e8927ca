"""BaseStrategy's end-of-day procedures: flat before every close (half days too), no entries near
the close, a no-op on daily bars, the same in a bar-by-bar (live-style) Cerebro and live."""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from datetime import datetime
from typing import Any

import backtrader as bt
import pandas as pd
import pytest

from strategies.base import BaseStrategy
from tests.strategies.conftest import HALF_DAYS
from tradelab.backtest import NumpyFeed, run_backtest
from tradelab.backtest._recorder import trade_records
from tradelab.brokers import OrderRequest, PaperBroker, PaperBrokerConfig
from tradelab.brokers.replay import bars_from_frames
from tradelab.calendar import market_calendar
from tradelab.data import bars_to_arrays, generate_bars
from tradelab.errors import ParameterError
from tradelab.live import StrategyRunner, StrategyRunnerConfig, SubmitOutcome
from tradelab.risk import RiskDecision

NEW_YORK = "America/New_York"


def local(moment: datetime | pd.Timestamp) -> pd.Timestamp:
    return pd.Timestamp(moment).tz_convert(NEW_YORK)


def hhmm(moment: datetime | pd.Timestamp) -> str:
    return local(moment).strftime("%H:%M")


class HoldAllDay(BaseStrategy):
    """At each session's first bar: buy 10 shares and place a limit buy far below the market.
    Never sells: only the end of day can make it flat."""

    params = (("eod_flatten", "15:55"),)

    def __init__(self) -> None:
        super().__init__()
        self.day: Any = None

    def next(self) -> None:
        day = self.current_session().day
        if day != self.day:
            self.day = day
            self.buy(size=10)
            self.buy(size=10, price=round(self.data.close[0] * 0.5, 2), exectype=bt.Order.Limit)


class LateTrader(BaseStrategy):
    """A script of orders late in the session (times are bar starts, New York)."""

    params = (("eod_no_entry_minutes", 30),)
    SCRIPT = {
        "15:00": ("buy", 20),  # fills 15:05: allowed
        "15:25": ("buy", 5),  # fills 15:30, exactly 30 minutes before the close: allowed
        "15:30": ("buy", 5),  # fills 15:35: grows the position inside the window: denied
        "15:40": ("sell", 10),  # reduces: allowed
        "15:45": ("buy", 5),  # grows: denied
        "15:50": ("sell", 15),  # closes: allowed
        "15:55": ("sell", 5),  # would open a short: denied
    }

    def next(self) -> None:
        step = self.SCRIPT.get(hhmm(pd.Timestamp(self.datetime.datetime(0), tz="UTC")))
        if step is not None:
            side, size = step
            (self.buy if side == "buy" else self.sell)(size=size)


@pytest.fixture(scope="module")
def hold_all_day(five_minute_bars):
    return run_backtest(five_minute_bars, HoldAllDay, bar_size="5m", symbol="AAA")


def test_positions_are_flat_at_every_session_close_half_days_included(
    five_minute_bars, hold_all_day
):
    sessions = market_calendar().sessions("2024-06-01", "2024-12-31")
    assert len(sessions) == 147 and sum(s.early_close for s in sessions) == 3
    trades = hold_all_day.trades
    assert len(trades) == len(sessions) and not any(t.is_open for t in trades)
    by_day = {local(t.entry_time).date(): t for t in trades}
    for session in sessions:
        trade = by_day[session.day]  # one trade per session, opened and closed that session
        assert local(trade.exit_time).date() == session.day
        assert hhmm(trade.entry_time) == "09:35"
        flat_at = "12:55" if session.early_close else "15:55"
        assert hhmm(trade.exit_time) == flat_at  # the flatten order filled at that bar's open
        assert trade.exit_time < session.close
    assert sorted(d.isoformat() for d, t in by_day.items() if hhmm(t.exit_time) == "12:55") == list(
        HALF_DAYS
    )
    # the same from the orders: at each session's last bar the filled quantities net to zero
    net: defaultdict[Any, float] = defaultdict(float)
    for order in hold_all_day.orders:
        if order.filled_quantity:
            sign = 1 if order.side == "buy" else -1
            net[local(order.executed).date()] += sign * order.filled_quantity
    assert len(net) == 147 and set(net.values()) == {0.0}


def test_flatten_cancels_open_orders_and_skips_the_strategy_until_the_next_session(hold_all_day):
    limits = [o for o in hold_all_day.orders if o.order_type == "limit"]
    assert len(limits) == 147
    assert Counter(o.status for o in limits) == {"canceled": 147}
    assert not [o for o in hold_all_day.orders if o.status == "denied"]  # no entry attempted
    # orders are only placed at the open (entries) and on the flattening bar (exits)
    created = Counter(hhmm(o.created) for o in hold_all_day.orders)
    assert set(created) == {"09:30", "15:50", "12:50"}
    assert created["12:50"] == 3  # the flattening bar of the three half days


def test_entries_within_n_minutes_of_the_close_are_denied_and_reductions_allowed():
    bars = generate_bars(
        "AAA", start="2024-07-01", end="2024-07-02", bar_size="5m", seed=3, calendar="XNYS"
    )
    result = run_backtest(bars, LateTrader, bar_size="5m", symbol="AAA", costs="none")
    denied = [o for o in result.orders if o.status == "denied"]
    filled = [o for o in result.orders if o.status == "completed"]
    assert [(hhmm(o.created), o.side, o.quantity) for o in denied] == 2 * [
        ("15:30", "buy", 5.0),
        ("15:45", "buy", 5.0),
        ("15:55", "sell", 5.0),
    ]
    assert denied[0].reason == (
        "end of day: no new entries within 30 minutes of the close (16:00 New York on "
        "2024-07-01); the order would fill at 15:35"
    )
    assert [(hhmm(o.executed), o.side, o.filled_quantity) for o in filled] == 2 * [
        ("15:05", "buy", 20.0),
        ("15:30", "buy", 5.0),
        ("15:45", "sell", 10.0),
        ("15:55", "sell", 15.0),
    ]
    assert not any(t.is_open for t in result.trades)
    # without the rule, the same script trades every order
    free = run_backtest(
        bars,
        LateTrader,
        bar_size="5m",
        symbol="AAA",
        costs="none",
        params={"eod_no_entry_minutes": 0},
    )
    assert not [o for o in free.orders if o.status == "denied"]


def test_end_of_day_rules_are_a_no_op_on_daily_bars():
    bars = generate_bars("AAA", start="2015-01-01", end="2019-12-31", seed=7)
    plain = run_backtest(bars, "sma_crossover")
    with_rules = run_backtest(
        bars, "sma_crossover", params={"eod_flatten": "15:55", "eod_no_entry_minutes": 60}
    )
    assert with_rules.equity_values.tolist() == plain.equity_values.tolist()
    assert with_rules.trades == plain.trades
    assert [o.status for o in with_rules.orders] == [o.status for o in plain.orders]
    assert len(plain.trades) > 10  # positions held overnight for days, as before
    assert max(t.bars_held for t in plain.trades) > 1


def test_flatten_works_the_same_in_a_bar_by_bar_cerebro_as_the_live_runner_builds(
    five_minute_bars, hold_all_day
):
    bars = five_minute_bars.loc["2024-11-25":"2024-12-03"]
    cerebro = bt.Cerebro(stdstats=False, preload=False, runonce=False, tradehistory=True)
    cerebro.broker.setcash(100_000.0)
    cerebro.adddata(
        NumpyFeed(
            arrays=bars_to_arrays(bars), name="AAA", timeframe=bt.TimeFrame.Minutes, compression=5
        )
    )
    cerebro.addstrategy(HoldAllDay)
    strategy = cerebro.run()[0]
    got = [(t.entry_time, t.exit_time) for t in trade_records(strategy)]
    start, end = bars.index[0], bars.index[-1]
    want = [
        (t.entry_time, t.exit_time)
        for t in hold_all_day.trades
        if start <= pd.Timestamp(t.entry_time) <= end
    ]
    assert got == want and len(got) == 6  # Thanksgiving week: 6 sessions, a half day


def test_live_runner_flattens_like_the_backtest_on_replayed_five_minute_bars(five_minute_bars):
    frame = five_minute_bars.loc["2024-11-27":"2024-12-02"]  # Wed, half-day Fri, Mon

    async def scenario() -> list[tuple[Any, ...]]:
        broker = PaperBroker(
            bars_from_frames({"AAA": frame}),
            PaperBrokerConfig(
                cash=100_000.0,
                costs="ib-fixed",
                speed=0,
                autostart=False,
                volume_participation=None,
            ),
        )
        await broker.connect()

        async def submit(request: OrderRequest) -> SubmitOutcome:
            order = await broker.place_order(request)
            return SubmitOutcome(
                request=request,
                order=order,
                source="strategy:test",
                decision=RiskDecision(approved=True, reason="test", rule=""),
            )

        runner = StrategyRunner(
            HoldAllDay,
            symbols=["AAA"],
            broker=broker,
            submit=submit,
            cancel=broker.cancel_order,
            config=StrategyRunnerConfig(bar_seconds=300),
        )
        await runner.start()
        broker.start_stream()
        await asyncio.wait_for(broker.finished.wait(), 30)
        assert await runner.stop()
        assert runner.status()["last_error"] is None
        limits = [o for o in await broker.orders() if o.request.order_type == "limit"]
        assert [str(o.status) for o in limits] == 3 * ["Cancelled"]  # at each flatten
        return sorted((f.timestamp, f.side, f.quantity) for f in await broker.fills())

    live = asyncio.run(asyncio.wait_for(scenario(), 60))
    backtest = run_backtest(frame, HoldAllDay, bar_size="5m", symbol="AAA")
    expected = sorted(
        (o.executed, o.side, o.filled_quantity) for o in backtest.orders if o.filled_quantity
    )
    assert [(pd.Timestamp(t), s, q) for t, s, q in live] == [
        (pd.Timestamp(t), s, q) for t, s, q in expected
    ]
    assert [hhmm(t) for t, side, _ in live if side == "sell"] == ["15:55", "12:55", "15:55"]


def test_an_invalid_flatten_time_stops_the_run_with_a_parameter_error(five_minute_bars):
    with pytest.raises(ParameterError, match="eod_flatten 16:30 must be after 09:30"):
        run_backtest(five_minute_bars.iloc[:200], HoldAllDay, params={"eod_flatten": "16:30"})
