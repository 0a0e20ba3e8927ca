"""StrategyRunner: one Backtrader strategy class, unchanged from its backtests, trading live.

The runner builds a live ``Cerebro`` (no preload, no runonce, no standard observers) with one
:class:`~tradelab.live.LiveFeed` per symbol, a :class:`~tradelab.live.BridgeBroker` in front of the
trader's ``submit``/``cancel`` coroutines, and a :class:`~tradelab.backtest.context.RunContext`
whose risk manager is a pass-through: the strategy's own pre-order check approves with the reason
"checked by the live trader at submission", because the one gate live is the trader's ``submit``
(the live risk manager and the audit log). A denial there makes the Backtrader order ``Rejected``
and the strategy hears of it in ``notify_order``.

``Cerebro`` runs in a daemon thread. A broker listener (called on the broker's loop) routes bars
to the feeds, one time step at a time, and order updates and fills to the bridge. With a broker
that has lockstep consumers (the paper broker), the runner registers one, and the feeds
acknowledge each time step once the strategy has processed it, so the replay never runs ahead
of the strategy and a replayed run trades exactly as its backtest.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import secrets
import threading
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import backtrader as bt

from tradelab.backtest.context import CONTEXT_ATTRIBUTE, RunContext
from tradelab.backtest.feed import timeframe_for
from tradelab.backtest.timeframes import add_timeframes
from tradelab.brokers.base import Broker, EventKind
from tradelab.brokers.records import Bar
from tradelab.data import parse_bar_size
from tradelab.errors import ConfigError, StrategyError
from tradelab.live.bridge import BridgeBroker, CancelFunction, SubmitFunction
from tradelab.live.feed import LiveBarQueue, LiveFeed
from tradelab.records import OrderRecord
from tradelab.risk import OrderIntent, PortfolioSnapshot, RiskDecision, TradingState
from tradelab.strategy import load_strategy, strategy_name, validate_params

__all__ = ["StrategyRunner", "StrategyRunnerConfig"]

_log = logging.getLogger(__name__)

_SYMBOL = re.compile(r"^[A-Z0-9][A-Z0-9.\-]{0,19}$")
_RUNNER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,47}$")
LIVE_RISK_REASON = "checked by the live trader at submission"


@dataclass(frozen=True, kw_only=True, slots=True)
class StrategyRunnerConfig:
    """Timing settings of a :class:`StrategyRunner`.

    Attributes:
        bar_seconds: Length of the stream's bars (sets the feeds' Backtrader timeframe, as in
            backtests); 86,400 for daily bars.
        submit_timeout: Seconds an order submission or cancel may take on the broker's loop.
        stop_timeout: Seconds :meth:`StrategyRunner.stop` waits for the strategy to finish the
            bars already received before stopping it outright.
        poll_interval: Seconds the feeds wait for a bar per Cerebro iteration when idle.
    """

    bar_seconds: float = 86_400.0
    submit_timeout: float = 10.0
    stop_timeout: float = 5.0
    poll_interval: float = 0.1

    def __post_init__(self) -> None:
        for name in ("bar_seconds", "submit_timeout", "stop_timeout", "poll_interval"):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
                or value <= 0
            ):
                raise ConfigError(
                    f"StrategyRunnerConfig.{name} must be a number of seconds > 0, got {value!r}"
                )


class _PassThroughRisk:
    """The strategy-side risk manager of a live run: approves, and leaves the real check to the
    trader's submission (one gate, one audit trail)."""

    events: tuple[Any, ...] = ()
    state = TradingState.ACTIVE

    def check(
        self, order: OrderIntent, portfolio: PortfolioSnapshot, *, now: float | None = None
    ) -> RiskDecision:
        return RiskDecision(approved=True, reason=LIVE_RISK_REASON, rule="")

    def mark(self, equity: float, *, new_day: bool = False, clock: Any = None) -> TradingState:
        return TradingState.ACTIVE


class StrategyRunner:
    """Run a Backtrader strategy live on a broker's bar stream, every order through ``submit``.

    Args:
        strategy: A strategy name (``"sma_crossover"``), a ``"module:Class"`` path, or a class.
        symbols: The symbols to trade; one live feed each, named by the symbol, in this order.
        broker: The broker whose bars feed the strategy and whose events report on its orders.
        submit: The trader's submission coroutine function (risk manager + audit + broker).
        cancel: The trader's cancel coroutine function, by ``client_order_id``.
        params: Strategy parameters, validated against the strategy's space as in backtests.
        loop: The broker's event loop (default: the loop running :meth:`start`).
        backfill: Historical bars delivered before live ones: ``{symbol: bars}``, or a count of
            bars to read from ``broker.history`` (brokers that have it). Orders placed while a
            feed is still on backfill bars are rejected.
        runner_id: Prefix of the run's ``client_order_id`` s (default: the strategy's name and a
            random suffix, so a restarted runner never reuses an id the broker already holds).
        config: Timing settings.

    Raises:
        UnknownNameError: No strategy of that name.
        ParameterError: ``params`` do not fit the strategy.
        ConfigError: Bad symbols, runner id or settings.
        StrategyError: Fewer symbols than the strategy needs.

    Example:
        >>> import asyncio
        >>> from tradelab.brokers import PaperBroker, PaperBrokerConfig
        >>> from tradelab.brokers.replay import synthetic_bars
        >>> from tradelab.live import StrategyRunner, SubmitOutcome
        >>> from tradelab.risk import RiskDecision
        >>> async def demo():
        ...     broker = PaperBroker(synthetic_bars(["AAA"], end="2024-06-28"),
        ...                          PaperBrokerConfig(speed=0, autostart=False))
        ...     await broker.connect()
        ...     async def submit(request):
        ...         order = await broker.place_order(request)
        ...         return SubmitOutcome(request=request, order=order, decision=RiskDecision(
        ...             approved=True, reason="ok", rule=""))
        ...     runner = StrategyRunner("sma_crossover", symbols=["AAA"], broker=broker,
        ...                             submit=submit, cancel=broker.cancel_order,
        ...                             params={"fast": 5, "slow": 20})
        ...     await runner.start()
        ...     broker.start_stream()
        ...     await asyncio.wait_for(broker.finished.wait(), 30)
        ...     await runner.stop()
        ...     status = runner.status()
        ...     return status["bars_processed"], status["last_error"]
        >>> asyncio.run(demo())
        (129, None)
    """

    def __init__(
        self,
        strategy: str | type[bt.Strategy],
        *,
        symbols: Sequence[str],
        broker: Broker,
        submit: SubmitFunction,
        cancel: CancelFunction,
        params: Mapping[str, Any] | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
        backfill: Mapping[str, Sequence[Bar]] | int | None = None,
        runner_id: str | None = None,
        config: StrategyRunnerConfig | None = None,
        on_denied: Callable[[OrderRecord], None] | None = None,
    ) -> None:
        self._strategy_cls = load_strategy(strategy)
        self.name = strategy_name(self._strategy_cls)
        self._params = validate_params(self._strategy_cls, params)
        self.symbols = _check_symbols(symbols)
        minimum = int(getattr(self._strategy_cls, "min_symbols", 1))
        if len(self.symbols) < minimum:
            raise StrategyError(
                f"strategy '{self.name}' needs at least {minimum} symbols; got "
                f"{len(self.symbols)}: {', '.join(self.symbols)}."
            )
        if runner_id is None:
            runner_id = f"{self.name}.{secrets.token_hex(3)}"
        if not isinstance(runner_id, str) or not _RUNNER_ID.match(runner_id):
            raise ConfigError(
                f"runner_id {runner_id!r}: give 1-48 letters, digits, '.', '_', ':' "
                "or '-', starting with a letter or digit"
            )
        if isinstance(backfill, bool) or not (
            backfill is None
            or isinstance(backfill, Mapping)
            or (isinstance(backfill, int) and backfill >= 0)
        ):
            raise ConfigError(
                f"backfill must be {{symbol: bars}} or a bar count >= 0, got {backfill!r}"
            )
        if isinstance(backfill, Mapping):
            unknown = sorted(set(backfill) - set(self.symbols))
            if unknown:
                raise ConfigError(
                    f"backfill for {', '.join(unknown)}, which the runner does not "
                    f"trade; its symbols are {', '.join(self.symbols)}"
                )
        self.runner_id = runner_id
        self.config = config or StrategyRunnerConfig()
        self._broker = broker
        self._submit = submit
        self._cancel = cancel
        self._on_denied = on_denied
        self._loop = loop
        self._backfill = backfill
        self._symbol_set = frozenset(self.symbols)
        self._thread: threading.Thread | None = None
        self._cerebro: bt.Cerebro | None = None
        self._bridge: BridgeBroker | None = None
        self._queue: LiveBarQueue | None = None
        self._feeds: list[LiveFeed] = []
        self._consumer: Any = None
        self._lockstep = False
        self._listening = False
        self._pending: list[Bar] = []
        self._flush_scheduled = False
        self._bars_received = 0
        self._connected: bool | None = None
        self._error: dict[str, str] | None = None
        self._started_at: datetime | None = None

    # ------------------------------------------------------------------ views
    @property
    def params(self) -> dict[str, Any]:
        """The strategy's parameters, defaults filled in."""
        return {**dict(self._strategy_cls.params._getitems()), **self._params}

    @property
    def running(self) -> bool:
        """Whether the strategy's thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def bridge(self) -> BridgeBroker | None:
        """The run's broker bridge (``None`` before :meth:`start`)."""
        return self._bridge

    @property
    def strategy(self) -> bt.Strategy | None:
        """The running strategy instance, once ``Cerebro`` has built it."""
        strategies = getattr(self._cerebro, "runningstrats", None)
        return strategies[0] if strategies else None

    def status(self) -> dict[str, Any]:
        """A JSON-friendly snapshot: what runs, what it has done, and the last error if any.

        ``last_error`` is ``None`` or ``{"type", "message", "traceback"}`` of the exception that
        stopped the strategy.
        """
        bridge = self._bridge
        book = bridge.book() if bridge is not None else {}
        return {
            "runner_id": self.runner_id,
            "name": self.name,
            "params": self.params,
            "symbols": list(self.symbols),
            "running": self.running,
            "started_at": None if self._started_at is None else self._started_at.isoformat(),
            "lockstep": self._lockstep,
            "broker_connected": self._connected,
            "bars_received": self._bars_received,
            "bars_processed": sum(feed.live_bars for feed in self._feeds),
            "backfill_bars": sum(feed.backfill_size for feed in self._feeds),
            "backfilling": any(feed.backfilling for feed in self._feeds),
            "orders_submitted": bridge.submitted if bridge else 0,
            "orders_denied": bridge.denied if bridge else 0,
            "orders_failed": bridge.failed if bridge else 0,
            "fills": bridge.fills if bridge else 0,
            "cash": _number(book.get("cash")),
            "value": _number(book.get("value")),
            "positions": {s: float(q) for s, q in book.get("positions", {}).items()},
            "bridge_error": (bridge.last_error or None) if bridge else None,
            "last_error": None if self._error is None else dict(self._error),
        }

    # ------------------------------------------------------------------ life cycle
    async def start(self) -> None:
        """Subscribe the symbols, build the live ``Cerebro`` and start its thread.

        Raises:
            StrategyError: The runner was already started.
            ConfigError: ``backfill`` is a count but the broker has no ``history``.
        """
        if self._thread is not None:
            raise StrategyError(f"runner {self.runner_id} was already started; make a new one")
        loop = self._loop or asyncio.get_running_loop()
        self._loop = loop
        broker = self._broker
        await broker.subscribe_bars(self.symbols)
        backfill = await self._backfill_bars()
        account = await broker.account()
        seed = {
            s: (p.quantity, p.average_cost)
            for s, p in account.positions.items()
            if s in self._symbol_set and p.quantity
        }
        outside = sum(
            p.market_value for s, p in account.positions.items() if s not in self._symbol_set
        )

        def ack() -> None:  # on the Cerebro thread: release the lockstep stream's next step
            consumer = self._consumer
            if consumer is not None:
                loop.call_soon_threadsafe(consumer.ack)

        self._queue = LiveBarQueue(ack=ack, wait=self.config.poll_interval)
        timeframe, compression = timeframe_for(self.config.bar_seconds)
        self._feeds = [
            LiveFeed(
                symbol=s,
                name=s,
                bars=self._queue,
                backfill=backfill.get(s, ()),
                timeframe=timeframe,
                compression=compression,
            )
            for s in self.symbols
        ]
        bridge = BridgeBroker(
            submit=self._submit,
            cancel=self._cancel,
            loop=loop,
            client_prefix=self.runner_id,
            cash=account.cash,
            positions=seed,
            outside_value=outside,
            submit_timeout=self.config.submit_timeout,
        )
        bridge.set_feeds(self._feeds)
        self._bridge = bridge

        cerebro = bt.Cerebro(
            stdstats=False,
            preload=False,
            runonce=False,
            live=True,
            maxcpus=1,
            tradehistory=True,
            quicknotify=False,
            exactbars=False,
        )
        cerebro.setbroker(bridge)
        denied = _DeniedOrders(self._on_denied, loop)  # the strategy's own denials (end of day)
        setattr(cerebro, CONTEXT_ATTRIBUTE, RunContext(risk=_PassThroughRisk(),  # type: ignore[arg-type]
                                                       denied_orders=denied))
        for feed in self._feeds:
            cerebro.adddata(feed, name=feed.symbol)
        full = {**dict(self._strategy_cls.params._getitems()), **self._params}
        timeframes = _higher_timeframes(self._strategy_cls, full, self.config.bar_seconds)
        if timeframes:  # e.g. a daily trend filter: resampled by Backtrader, as in backtests
            for feed in self._feeds:
                add_timeframes(cerebro, feed, timeframes, symbol=feed.symbol)
        cerebro.addstrategy(self._strategy_cls, **self._params)
        self._cerebro = cerebro

        if callable(getattr(broker, "add_consumer", None)):  # a lockstep (paper) stream
            self._consumer = broker.add_consumer(f"strategy:{self.runner_id}")
            self._lockstep = True
        broker.add_listener(self._on_event)
        self._listening = True
        self._started_at = datetime.now(UTC)
        self._thread = threading.Thread(
            target=self._run, name=f"strategy-{self.runner_id}", daemon=True
        )
        self._thread.start()

    async def stop(self, *, drain: bool = True) -> bool:
        """Stop the strategy: end the feeds, wait for its thread, detach from the broker.

        Args:
            drain: Let the strategy process the bars already received first (default), or
                stop after the bar in progress.

        Returns:
            Whether the thread ended; it is given ``stop_timeout`` (+0.5 s after an outright
            stop), and a thread stuck in strategy code is left behind as a daemon.
        """
        thread = self._thread
        if thread is None:
            return True
        if self._flush_scheduled:
            self._flush()
        if self._queue is not None:
            self._queue.close(drain=drain)
        if not drain and self._cerebro is not None:
            self._cerebro.runstop()
        ended = await _join(thread, self.config.stop_timeout)
        if not ended:
            if self._cerebro is not None:
                self._cerebro.runstop()
            if self._queue is not None:
                self._queue.close(drain=False)
            ended = await _join(thread, 0.5)
            if not ended:
                _log.error(
                    "runner %s: the strategy thread did not stop within %.1f s",
                    self.runner_id,
                    self.config.stop_timeout + 0.5,
                )
        self._detach()
        return ended

    # ------------------------------------------------------------------ the Cerebro thread
    def _run(self) -> None:
        cerebro = self._cerebro
        try:
            if cerebro is not None:
                cerebro.run()
        except BaseException as exc:  # the strategy's bug stops this runner, nothing else
            self._error = {
                "type": type(exc).__name__,
                "message": str(exc),
                "traceback": traceback.format_exc(),
            }
            _log.exception(
                "runner %s: strategy %s raised; the runner stopped", self.runner_id, self.name
            )
        finally:
            if self._queue is not None:
                self._queue.close(drain=False)
            loop = self._loop
            if loop is not None and not loop.is_closed():
                try:
                    loop.call_soon_threadsafe(self._detach)
                except RuntimeError:  # the loop closed meanwhile
                    pass

    # ------------------------------------------------------------------ broker events (loop)
    def _on_event(self, kind: EventKind, payload: Any) -> None:
        bridge = self._bridge
        if kind == "bar":
            if payload.symbol in self._symbol_set:
                self._bars_received += 1
                self._pending.append(payload)
            if not self._flush_scheduled and self._loop is not None:
                # a time step's bars are emitted together; hand them over as one step
                self._flush_scheduled = True
                self._loop.call_soon(self._flush)
        elif kind in ("order", "fill") and bridge is not None:
            if bridge.owns(payload.client_order_id):
                if kind == "order":
                    bridge.on_order(payload)
                else:
                    bridge.on_fill(payload)
        elif kind == "connection":
            self._connected = bool(payload.get("connected"))

    def _flush(self) -> None:
        self._flush_scheduled = False
        batch, self._pending = self._pending, []
        if self._queue is not None:
            self._queue.put(batch)

    def _detach(self) -> None:
        """Stop listening and release the lockstep stream (on the loop; idempotent)."""
        if self._listening:
            self._broker.remove_listener(self._on_event)
            self._listening = False
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            remove = getattr(self._broker, "remove_consumer", None)
            if callable(remove):
                remove(consumer)
            consumer.ack()

    async def _backfill_bars(self) -> dict[str, list[Bar]]:
        backfill = self._backfill
        if not backfill:
            return {}
        if isinstance(backfill, Mapping):
            return {s: list(bars) for s, bars in backfill.items()}
        history = getattr(self._broker, "history", None)
        if not callable(history):
            raise ConfigError(
                f"backfill={backfill} needs a broker with history(); "
                f"{type(self._broker).__name__} has none. Pass "
                "{symbol: bars} instead"
            )
        return {s: list(await history(s, backfill)) for s in self.symbols}


async def _join(thread: threading.Thread, timeout: float) -> bool:
    """Wait for ``thread`` without blocking the loop; whether it ended within ``timeout``."""
    deadline = time.monotonic() + timeout
    while thread.is_alive() and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    return not thread.is_alive()


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def _check_symbols(symbols: Sequence[str]) -> tuple[str, ...]:
    if isinstance(symbols, str) or not isinstance(symbols, Sequence) or not symbols:
        raise ConfigError(f"symbols must be a non-empty list of tickers, got {symbols!r}")
    seen: list[str] = []
    for symbol in symbols:
        if not isinstance(symbol, str) or not _SYMBOL.match(symbol):
            raise ConfigError(f"symbol {symbol!r}: give an upper-case ticker such as 'AAPL'")
        if symbol in seen:
            raise ConfigError(f"symbol {symbol!r} is listed twice; give each symbol once")
        seen.append(symbol)
    return tuple(seen)


def _higher_timeframes(strategy_cls: type, params: Mapping[str, Any],
                       bar_seconds: float) -> list[str]:
    """The timeframes the strategy declares that are longer than the stream's bars."""
    hook = getattr(strategy_cls, "timeframes_for", None)
    wanted = hook(params) if callable(hook) else getattr(strategy_cls, "timeframes", ())
    return [t for t in wanted if parse_bar_size(t).timedelta.total_seconds() > bar_seconds]


class _DeniedOrders(list):  # type: ignore[type-arg]
    """The run's list of orders the strategy itself denied (e.g. an entry too close to the
    close): each append is also handed to ``report`` on the trader's loop, for the audit log."""

    def __init__(self, report: Callable[[OrderRecord], None] | None,
                 loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._report = report
        self._loop = loop

    def append(self, record: OrderRecord) -> None:
        super().append(record)
        if self._report is not None:
            self._loop.call_soon_threadsafe(self._report, record)
