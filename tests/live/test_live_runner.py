"""StrategyRunner: the backtested strategy classes trading live through the broker bridge.

The key property: a strategy started live on replayed bars (paper broker, lockstep) makes the
same trades as its backtest over those bars — same fill times, sides, quantities and prices, and
the same final equity. Everything here is real: Backtrader, the paper broker, the risk manager.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from typing import Any

import backtrader as bt
import pytest

from strategies.base import BaseStrategy
from strategies.sma_crossover import SmaCrossover
from tradelab.backtest import run_backtest
from tradelab.backtest._recorder import order_records, trade_records
from tradelab.brokers import OrderRequest, PaperBroker, PaperBrokerConfig
from tradelab.brokers.replay import bars_from_frames
from tradelab.data import generate_universe
from tradelab.errors import ConfigError, ParameterError, StrategyError
from tradelab.live import StrategyRunner, StrategyRunnerConfig, SubmitOutcome
from tradelab.risk import OrderIntent, RiskConfig, RiskDecision, RiskManager

CASH = 100_000.0
COSTS = "ib-fixed"
SMA = {"fast": 10, "slow": 30}
MOMENTUM = {"lookback": 60, "rebalance": 10, "top_n": 2}
DEFAULT_RISK = RiskConfig()  # the limits run_backtest applies by default


# ---------------------------------------------------------------------------- helpers
def run(coro: Any, timeout: float = 20.0) -> Any:
    """Run one scenario in a fresh loop, bounded."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


def universe(symbols: list[str], *, end: str = "2023-03-31", seed: int = 11):
    return generate_universe(symbols, start="2022-01-03", end=end, seed=seed)


def paper(stream: Any) -> PaperBroker:
    return PaperBroker(
        stream,
        PaperBrokerConfig(
            cash=CASH, costs=COSTS, speed=0, autostart=False, volume_participation=None
        ),
    )


def live_trader(broker: PaperBroker, manager: RiskManager | None, requests: list[OrderRequest]):
    """The live trader's submit: the risk manager against the account, then the broker.

    The manager is marked to market once per time step (new day), as backtests mark theirs in
    ``notify_cashvalue``, so loss limits act on the same numbers.
    """
    last_step: list[Any] = [None]

    def mark(kind: str, payload: Any) -> None:
        if manager is not None and kind == "bar" and payload.timestamp != last_step[0]:
            last_step[0] = payload.timestamp
            manager.mark(broker.account_now().equity, new_day=True)

    broker.add_listener(mark)

    async def submit(request: OrderRequest) -> SubmitOutcome:
        requests.append(request)
        if manager is None:
            decision = RiskDecision(approved=True, reason="test: no risk manager", rule="")
        else:
            intent = OrderIntent(
                symbol=request.symbol,
                side=request.side,
                quantity=request.quantity,
                price=broker.last_price(request.symbol),
                order_type=request.order_type,
            )
            decision = manager.check(intent, broker.account_now().to_portfolio())
        order = await broker.place_order(request) if decision.approved else None
        return SubmitOutcome(
            request=request, decision=decision, order=order, source="strategy:test"
        )

    return submit


async def run_live(
    stream: Any,
    strategy: Any,
    *,
    symbols: list[str],
    params: Any = None,
    risk: RiskConfig | None = DEFAULT_RISK,
    backfill: Any = None,
    config: StrategyRunnerConfig | None = None,
):
    """Start a runner on a paper broker replaying ``stream``, replay it all, stop the runner."""
    broker = paper(stream)
    await broker.connect()
    requests: list[OrderRequest] = []
    manager = None if risk is None else RiskManager(risk)
    runner = StrategyRunner(
        strategy,
        symbols=symbols,
        broker=broker,
        submit=live_trader(broker, manager, requests),
        cancel=broker.cancel_order,
        params=params,
        backfill=backfill,
        config=config,
    )
    await runner.start()
    broker.start_stream()
    await asyncio.wait_for(broker.finished.wait(), 15)
    assert await runner.stop(), "the strategy thread did not end"
    return runner, broker, requests


def fill_rows(fills: Any) -> list[tuple[Any, ...]]:
    return sorted((f.timestamp, f.symbol, f.side, f.quantity, f.price, f.commission) for f in fills)


def backtest_fill_rows(result: Any) -> list[tuple[Any, ...]]:
    return sorted(
        (o.executed, o.symbol, o.side, o.filled_quantity, o.fill_price, o.commission)
        for o in result.orders
        if o.filled_quantity
    )


def assert_same_fills(live: list[tuple[Any, ...]], backtest: list[tuple[Any, ...]]) -> None:
    assert len(live) == len(backtest)
    for got, want in zip(live, backtest, strict=True):
        assert got[:4] == want[:4]  # time, symbol, side, quantity: exact
        assert math.isclose(got[4], want[4], rel_tol=0, abs_tol=1e-9), (got, want)
        assert math.isclose(got[5], want[5], rel_tol=0, abs_tol=1e-9), (got, want)


def assert_same_trades(live: Any, backtest: Any) -> None:
    assert len(live) == len(backtest)
    for got, want in zip(live, backtest, strict=True):
        assert (
            got.symbol,
            got.entry_time,
            got.exit_time,
            got.size,
            got.bars_held,
            got.is_open,
        ) == (want.symbol, want.entry_time, want.exit_time, want.size, want.bars_held, want.is_open)
        assert got.pnl == pytest.approx(want.pnl, abs=1e-6)
        assert got.commission == pytest.approx(want.commission, abs=1e-9)


def no_runner_thread(runner: StrategyRunner) -> bool:
    return not any(t.name == f"strategy-{runner.runner_id}" for t in threading.enumerate())


# ---------------------------------------------------------------------------- test strategies
class RecordingSma(SmaCrossover):
    """The SMA crossover, recording its order notifications."""

    def __init__(self) -> None:
        super().__init__()
        self.notes: list[tuple[str, str, str]] = []

    def notify_order(self, order: bt.Order) -> None:
        self.notes.append(
            (
                "buy" if order.isbuy() else "sell",
                order.getstatusname(),
                order.info.get("reason", ""),
            )
        )


class RaisesOnTenthBar(BaseStrategy):
    """A strategy with a bug: raises in ``next`` on its tenth bar."""

    name = "raises_on_tenth_bar"

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def next(self) -> None:
        self.count += 1
        if self.count == 10:
            raise RuntimeError("strategy bug on bar 10")


class BuysEveryBar(BaseStrategy):
    """Buys one share on every bar; records data and order notifications."""

    name = "buys_every_bar"

    def __init__(self) -> None:
        super().__init__()
        self.data_states: list[str] = []
        self.outcomes: list[tuple[str, str]] = []

    def notify_data(self, data: Any, status: int, *args: Any, **kwargs: Any) -> None:
        self.data_states.append(data._getstatusname(status))

    def notify_order(self, order: bt.Order) -> None:
        if not order.alive():
            self.outcomes.append((order.getstatusname(), order.info.get("reason", "")))

    def next(self) -> None:
        self.buy(size=1)


class LimitOrdersScript(BaseStrategy):
    """On bar 5: a GTC and a DAY limit buy far below the market; on bar 8: cancel the GTC one."""

    name = "limit_orders_script"

    def __init__(self) -> None:
        super().__init__()
        self.count = 0
        self.gtc: bt.Order | None = None
        self.notes: list[tuple[str, str]] = []

    def notify_order(self, order: bt.Order) -> None:
        self.notes.append((order.info.get("tag"), order.getstatusname()))

    def next(self) -> None:
        self.count += 1
        price = self.data.close[0] * 0.5
        if self.count == 5:
            self.gtc = self.buy(size=10, price=price, exectype=bt.Order.Limit, tag="gtc")
            self.buy(size=10, price=price, exectype=bt.Order.Limit, valid=bt.Order.DAY, tag="day")
        elif self.count == 8 and self.gtc is not None:
            self.cancel(self.gtc)


# ---------------------------------------------------------------------------- equality
def test_sma_crossover_live_on_replayed_bars_makes_the_same_trades_as_its_backtest() -> None:
    frames = universe(["AAA"])
    result = run_backtest(
        frames, "sma_crossover", params=SMA, cash=CASH, costs=COSTS, metrics=False
    )
    assert len(backtest_fill_rows(result)) >= 6, "the comparison needs trades"

    runner, broker, requests = run(
        run_live(bars_from_frames(frames), "sma_crossover", symbols=["AAA"], params=SMA)
    )

    assert_same_fills(fill_rows(run(broker.fills())), backtest_fill_rows(result))
    account = broker.account_now()
    assert abs(account.equity - result.final_value) < 0.005  # to the cent
    assert runner.bridge.getvalue() == pytest.approx(result.final_value, abs=1e-9)
    assert_same_trades(tuple(trade_records(runner.strategy)), result.trades)
    live_orders = [
        (o.symbol, o.side, o.quantity, o.created, o.status, o.executed)
        for o in order_records(runner.bridge)
    ]
    assert live_orders == [
        (o.symbol, o.side, o.quantity, o.created, o.status, o.executed) for o in result.orders
    ]
    assert {r.time_in_force for r in requests} == {"GTC"}  # valid=None: good till cancelled
    status = runner.status()
    assert status["lockstep"] and not status["running"] and status["last_error"] is None
    assert status["bars_processed"] == len(frames["AAA"]) == status["bars_received"]
    assert status["fills"] == len(result.orders) and status["orders_denied"] == 0
    assert no_runner_thread(runner)


def test_momentum_rotation_on_three_symbols_live_makes_the_same_trades_as_its_backtest() -> None:
    frames = universe(["AAA", "BBB", "CCC"], seed=5)
    result = run_backtest(
        frames, "momentum_rotation", params=MOMENTUM, cash=CASH, costs=COSTS, metrics=False
    )
    assert len(backtest_fill_rows(result)) >= 5
    assert not [e for e in result.risk_events if not e.approved]

    runner, broker, _ = run(
        run_live(
            bars_from_frames(frames),
            "momentum_rotation",
            symbols=["AAA", "BBB", "CCC"],
            params=MOMENTUM,
        )
    )

    # Fills compared as sets per time step: the strategy iterates a set of feeds, so orders of
    # one rebalance are placed (and numbered) in a different order from run to run.
    assert_same_fills(fill_rows(run(broker.fills())), backtest_fill_rows(result))
    assert abs(broker.account_now().equity - result.final_value) < 0.005
    assert runner.bridge.getvalue() == pytest.approx(result.final_value, abs=1e-9)
    assert_same_trades(tuple(trade_records(runner.strategy)), result.trades)
    assert runner.status()["bars_processed"] == 3 * len(frames["AAA"])


def test_runner_on_a_stream_with_other_symbols_trades_its_own_like_the_backtest() -> None:
    frames = universe(["AAA", "ZZZ"], seed=3)
    result = run_backtest(
        {"AAA": frames["AAA"]}, "sma_crossover", params=SMA, cash=CASH, costs=COSTS, metrics=False
    )
    assert backtest_fill_rows(result)

    # every time step also carries ZZZ, which the runner does not trade: its share of the
    # lockstep is acknowledged at once, so the replay is never held up
    runner, broker, _ = run(
        run_live(bars_from_frames(frames), "sma_crossover", symbols=["AAA"], params=SMA)
    )

    assert_same_fills(fill_rows(run(broker.fills())), backtest_fill_rows(result))
    assert abs(broker.account_now().equity - result.final_value) < 0.005
    assert runner.status()["bars_received"] == len(frames["AAA"])


# ---------------------------------------------------------------------------- the risk gate
def test_order_denied_by_the_live_risk_manager_is_rejected_to_the_strategy_and_never_sent() -> None:
    frames = universe(["AAA"])
    runner, broker, requests = run(
        run_live(
            bars_from_frames(frames),
            RecordingSma,
            symbols=["AAA"],
            params=SMA,
            risk=RiskConfig(max_position_value=1_000.0),
        )
    )

    assert run(broker.orders()) == [] and run(broker.fills()) == []
    assert requests, "the strategy tried to buy"
    rejected = [n for n in runner.strategy.notes if n[1] == "Rejected"]
    assert len(rejected) == len(requests) == runner.status()["orders_denied"]
    side, _, reason = rejected[0]
    assert side == "buy" and "max_position_value" in reason
    assert runner.status()["orders_submitted"] == 0
    assert broker.account_now().equity == CASH


def test_orders_placed_during_backfill_are_rejected_and_live_ones_trade() -> None:
    stream = bars_from_frames(universe(["AAA"], end="2022-03-01"))
    history = [bars[0] for _, bars in stream[:20]]
    runner, broker, requests = run(
        run_live(stream[20:], BuysEveryBar, symbols=["AAA"], backfill={"AAA": history}, risk=None)
    )

    strategy = runner.strategy
    assert strategy.data_states[:2] == ["DELAYED", "LIVE"]
    rejected = [o for o in strategy.outcomes if o[0] == "Rejected"]
    assert len(rejected) == 20 and all("backfill" in reason for _, reason in rejected)
    live_bars = len(stream) - 20
    assert len(requests) == live_bars  # only orders placed on live bars reach the trader
    assert [o[0] for o in strategy.outcomes].count("Completed") == live_bars - 1
    assert len(run(broker.fills())) == live_bars - 1
    assert runner.status()["backfill_bars"] == 20 and not runner.status()["backfilling"]


def test_limit_orders_map_valid_to_time_in_force_and_cancel_and_expiry_reach_the_strategy() -> None:
    stream = bars_from_frames(universe(["AAA"], end="2022-02-15"))
    runner, broker, requests = run(run_live(stream, LimitOrdersScript, symbols=["AAA"], risk=None))

    assert [(r.order_type, r.time_in_force) for r in requests] == [
        ("limit", "GTC"),
        ("limit", "DAY"),
    ]
    notes = runner.strategy.notes
    assert [s for tag, s in notes if tag == "gtc"] == ["Submitted", "Accepted", "Canceled"]
    assert [s for tag, s in notes if tag == "day"] == ["Submitted", "Accepted", "Expired"]
    assert {o.status.value for o in run(broker.orders())} == {"Cancelled"}


# ---------------------------------------------------------------------------- failure, stop
def test_strategy_raising_in_next_stops_its_runner_with_traceback_and_the_loop_goes_on() -> None:
    async def scenario():
        broker = paper(bars_from_frames(universe(["AAA"], end="2022-03-31")))
        await broker.connect()
        runner = StrategyRunner(
            RaisesOnTenthBar,
            symbols=["AAA"],
            broker=broker,
            submit=live_trader(broker, None, []),
            cancel=broker.cancel_order,
        )
        await runner.start()
        broker.start_stream()
        # the runner detaches itself: the replay goes on to the end without waiting for it
        await asyncio.wait_for(broker.finished.wait(), 10)
        for _ in range(200):
            if not runner.running:
                break
            await asyncio.sleep(0.01)
        account = await broker.account()  # the loop and the broker still work
        stopped = await runner.stop()
        return runner, account, stopped

    runner, account, stopped = run(scenario())
    status = runner.status()
    assert stopped and not status["running"]
    error = status["last_error"]
    assert error["type"] == "RuntimeError" and error["message"] == "strategy bug on bar 10"
    assert "in next" in error["traceback"] and "strategy bug on bar 10" in error["traceback"]
    assert status["bars_processed"] == 10
    assert account.equity == CASH
    assert no_runner_thread(runner)


def test_stop_while_idle_is_bounded_and_detaches_from_the_broker() -> None:
    async def scenario():
        broker = paper(bars_from_frames(universe(["AAA"], end="2022-03-31")))
        await broker.connect()
        runner = StrategyRunner(
            "sma_crossover",
            symbols=["AAA"],
            broker=broker,
            submit=live_trader(broker, None, []),
            cancel=broker.cancel_order,
            config=StrategyRunnerConfig(stop_timeout=2.0),
        )
        await runner.start()
        await asyncio.sleep(0.2)  # Cerebro waits for bars
        began = time.monotonic()
        stopped = await runner.stop()
        took = time.monotonic() - began
        broker.start_stream()  # nobody in lockstep any more: the replay runs straight through
        await asyncio.wait_for(broker.finished.wait(), 5)
        return runner, stopped, took

    runner, stopped, took = run(scenario())
    assert stopped and took < 1.0
    assert not runner.running and no_runner_thread(runner)
    assert runner.status()["bars_received"] == 0


def test_stop_mid_stream_without_drain_ends_the_thread_and_releases_the_replay() -> None:
    async def scenario():
        broker = paper(bars_from_frames(universe(["AAA"])))
        await broker.connect()
        runner = StrategyRunner(
            "sma_crossover",
            symbols=["AAA"],
            broker=broker,
            submit=live_trader(broker, None, []),
            cancel=broker.cancel_order,
            params=SMA,
            config=StrategyRunnerConfig(stop_timeout=2.0),
        )
        await runner.start()
        halfway = asyncio.Event()
        broker.add_listener(
            lambda kind, bar: kind == "bar" and broker.remaining_steps < 150 and halfway.set()
        )
        broker.start_stream()
        await asyncio.wait_for(halfway.wait(), 10)
        began = time.monotonic()
        stopped = await runner.stop(drain=False)
        took = time.monotonic() - began
        await asyncio.wait_for(broker.finished.wait(), 5)
        return runner, stopped, took

    runner, stopped, took = run(scenario())
    assert stopped and took < 2.5 and no_runner_thread(runner)
    status = runner.status()
    assert 0 < status["bars_processed"] <= status["bars_received"] < 325
    assert not status["running"] and status["last_error"] is None


# ---------------------------------------------------------------------------- validation
def test_runner_refuses_bad_params_too_few_symbols_and_bad_symbols_before_starting() -> None:
    async def scenario():
        broker = paper(bars_from_frames(universe(["AAA"], end="2022-02-01")))
        submit = live_trader(broker, None, [])
        common = {"broker": broker, "submit": submit, "cancel": broker.cancel_order}
        with pytest.raises(ParameterError, match="fast"):
            StrategyRunner(
                "sma_crossover", symbols=["AAA"], params={"fast": 40, "slow": 30}, **common
            )
        with pytest.raises(StrategyError, match="at least 2 symbols"):
            StrategyRunner("momentum_rotation", symbols=["AAA"], **common)
        with pytest.raises(ConfigError, match="upper-case ticker"):
            StrategyRunner("sma_crossover", symbols=["aaa"], **common)
        runner = StrategyRunner("sma_crossover", symbols=["AAA"], **common)
        await runner.start()
        with pytest.raises(StrategyError, match="already started"):
            await runner.start()
        assert await runner.stop()

    run(scenario())
