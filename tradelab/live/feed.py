"""A live Backtrader data feed fed by a broker's bar stream, in lockstep with the strategy.

The broker runs on an asyncio loop; ``Cerebro`` runs in its own thread. Bars cross between them
through a :class:`LiveBarQueue`, shared by every :class:`LiveFeed` of one run:

* The broker side calls :meth:`LiveBarQueue.put` with the bars of one time step (thread-safe);
  a step is queued atomically, so the feeds of a multi-symbol run see all its bars at once.
* ``Cerebro`` asks each feed for its next bar. The first feed of the run (the *leader*) waits
  briefly for a step to arrive; ``_load`` returns ``None`` when nothing has come yet (Backtrader
  keeps looping) and ``False`` once the queue is closed and drained (the run ends).
* **Lockstep.** When ``Cerebro`` starts a new iteration (it calls ``do_qcheck`` on the leader
  before asking for bars), the previous step has been fully processed: broker notifications,
  the strategy's ``next`` and the orders it placed. At that moment the queue calls its ``ack``
  callback once for the step, which for the paper broker is
  ``loop.call_soon_threadsafe(consumer.ack)``; the replay waits for that ack before the next time
  step, so it never runs ahead of the strategy. Without an ``ack`` (a real broker) nothing waits.
* **Backfill.** A feed may be given historical bars; they are delivered first, without waiting
  or acknowledging anything. The feed reports ``DELAYED`` while backfilling and ``LIVE`` when the
  backfill is used up (``notify_data`` in the strategy, as with Backtrader's IB feed), and
  :attr:`LiveFeed.backfilling` is ``True`` while its current bar is a backfill bar: the broker
  bridge rejects orders placed then. Live bars not newer than a feed's last bar are dropped.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import backtrader as bt

from tradelab.brokers.records import Bar
from tradelab.errors import ConfigError

__all__ = ["LiveBarQueue", "LiveFeed", "bar_time_to_bt_num"]

_log = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_ORDINAL = 719163.0  # backtrader's date2num(1970-01-01 00:00), as in the backtest feed
_NS_PER_DAY = 86_400_000_000_000.0
_MICROSECOND = timedelta(microseconds=1)


def bar_time_to_bt_num(timestamp: datetime) -> float:
    """A UTC datetime as Backtrader's float day number, computed as the backtest feed does.

    Naive datetimes are taken as UTC.

    Example:
        >>> bar_time_to_bt_num(datetime(1970, 1, 2, tzinfo=UTC))
        719164.0
    """
    if timestamp.tzinfo is None:
        timestamp = timestamp.replace(tzinfo=UTC)
    nanoseconds = ((timestamp - _EPOCH) // _MICROSECOND) * 1000
    return nanoseconds / _NS_PER_DAY + _EPOCH_ORDINAL


class LiveBarQueue:
    """Thread-safe hand-off of bars from the broker's loop to the feeds of one ``Cerebro`` run.

    Args:
        ack: Called (on the Cerebro thread, or on the caller's thread of :meth:`put` when a step
            brings nothing for these feeds) once per time step the strategy has finished with;
            ``None`` when the broker does not wait for its consumers.
        wait: Seconds the leading feed waits for bars per Cerebro iteration before answering
            "nothing yet"; bounds how long a stop or an idle loop takes to notice.

    Example:
        >>> queue = LiveBarQueue()
        >>> feed = LiveFeed(symbol="AAA", bars=queue)
        >>> queue.put([Bar(symbol="AAA", timestamp=datetime(2024, 1, 2, tzinfo=UTC), open=1.0,
        ...                high=1.0, low=1.0, close=1.0, volume=10.0)])
        1
    """

    def __init__(self, *, ack: Callable[[], None] | None = None, wait: float = 0.1) -> None:
        if not (isinstance(wait, int | float) and wait > 0):
            raise ConfigError(f"LiveBarQueue wait must be > 0 seconds, got {wait!r}")
        self._ack = ack
        self.wait = float(wait)
        self._cond = threading.Condition()
        self._feeds: list[LiveFeed] = []
        self._bars: dict[str, deque[Bar]] = {}
        self._closed = False
        self._unacked = False  # a step was taken and not yet acknowledged
        self._ticked = False  # a feed delivered a bar in the current Cerebro iteration
        self.received = 0  # bars queued for these feeds
        self.dropped = 0  # live bars dropped as not newer than the feed's last bar

    # ------------------------------------------------------------------ broker side
    def put(self, bars: Iterable[Bar]) -> int:
        """Queue one time step's bars (others' symbols are ignored); returns how many were queued.

        A step with nothing for these feeds is acknowledged at once, so a lockstep stream never
        waits on a strategy that has nothing to do with it.
        """
        queued = 0
        with self._cond:
            if not self._closed:
                for bar in bars:
                    pending = self._bars.get(bar.symbol)
                    if pending is not None:
                        pending.append(bar)
                        queued += 1
                if queued:
                    self.received += queued
                    self._cond.notify_all()
        if not queued:
            self._send_ack()
        return queued

    def close(self, *, drain: bool = True) -> None:
        """End the stream: feeds deliver what is queued (``drain``), then report the end."""
        with self._cond:
            self._closed = True
            if not drain:
                for pending in self._bars.values():
                    pending.clear()
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    @property
    def symbols(self) -> tuple[str, ...]:
        """Symbols of the registered feeds, in registration order."""
        return tuple(self._bars)

    def pending(self, symbol: str) -> int:
        """Bars queued for ``symbol`` and not yet taken by its feed."""
        with self._cond:
            return len(self._bars.get(symbol, ()))

    # ------------------------------------------------------------------ feed side
    def register(self, feed: LiveFeed) -> None:
        """Attach a feed; the first one registered leads (it waits and acknowledges)."""
        with self._cond:
            if feed.symbol in self._bars:
                raise ConfigError(
                    f"two live feeds for symbol {feed.symbol!r} on one bar queue; "
                    "give each symbol one feed"
                )
            self._bars[feed.symbol] = deque()
            self._feeds.append(feed)

    def take_tick(self) -> bool:
        """Whether a feed delivered a bar since the last call (the broker bridge asks once per
        Cerebro iteration, so it applies broker events only together with a bar)."""
        ticked, self._ticked = self._ticked, False
        return ticked

    def _begin_iteration(self, feed: LiveFeed) -> None:
        if not self._feeds or feed is not self._feeds[0]:
            return
        with self._cond:
            send, self._unacked = self._unacked, False
        if send:
            self._send_ack()

    def _take(self, feed: LiveFeed, *, wait: bool) -> Bar | bool | None:
        """The feed's next live bar, ``None`` for "nothing yet", ``False`` for "no more"."""
        with self._cond:
            pending = self._bars[feed.symbol]
            if wait and not pending and not self._closed and not self._anything_pending():
                self._cond.wait_for(
                    lambda: self._closed or self._anything_pending(), timeout=self.wait
                )
            while pending:
                bar = pending.popleft()
                self._unacked = True
                if feed._is_new(bar):
                    return bar
                self.dropped += 1
                _log.info(
                    "live feed %s: dropped bar at %s, not newer than its last bar",
                    feed.symbol,
                    bar.timestamp,
                )
            return False if self._closed else None

    def _anything_pending(self) -> bool:
        return any(self._bars.values()) or any(f._backfill_left for f in self._feeds)

    def _send_ack(self) -> None:
        if self._ack is None:
            return
        try:
            self._ack()
        except RuntimeError:  # the broker's loop is closed: nobody waits any more
            _log.debug("live bar queue: ack after the loop closed", exc_info=True)


class LiveFeed(bt.feed.DataBase):
    """A live Backtrader feed of one symbol, fed through a :class:`LiveBarQueue`.

    Params:
        symbol: The symbol whose bars the feed takes (default: the feed's ``name``).
        bars: The run's shared :class:`LiveBarQueue` (default: a queue of its own).
        backfill: Historical :class:`~tradelab.brokers.Bar` s delivered before live bars.

    Plus Backtrader's data params (``name``, ``timeframe``, ``compression``, ...).

    Example:
        >>> cerebro = bt.Cerebro()                                     # doctest: +SKIP
        >>> queue = LiveBarQueue(ack=lambda: None)                     # doctest: +SKIP
        >>> cerebro.adddata(LiveFeed(symbol="AAA", bars=queue), name="AAA")  # doctest: +SKIP
    """

    params = (("symbol", None), ("bars", None), ("backfill", ()))

    def __init__(self) -> None:
        symbol = self.p.symbol or self.p.name
        if not symbol or not isinstance(symbol, str):
            raise ConfigError(f"LiveFeed needs a symbol (or name), got {symbol!r}")
        self.symbol: str = symbol
        if not self._name:
            self._name = symbol
        queue = self.p.bars
        if queue is None:
            queue = LiveBarQueue()
        elif not isinstance(queue, LiveBarQueue):
            raise ConfigError(f"LiveFeed bars must be a LiveBarQueue, got {type(queue).__name__}")
        self.bar_queue: LiveBarQueue = queue
        backfill = sorted(self.p.backfill or (), key=lambda b: b.timestamp)
        strangers = sorted({b.symbol for b in backfill} - {symbol})
        if strangers:
            raise ConfigError(
                f"backfill for the {symbol} feed holds bars of "
                f"{', '.join(strangers)}; give each feed its own symbol's bars"
            )
        self._backfill: list[Bar] = backfill
        self._backfill_left = len(backfill)
        self._last_stamp: datetime | None = None
        self._lead = False
        self.backfilling = bool(backfill)
        self.live_bars = 0  # live bars delivered to the strategy
        queue.register(self)

    @property
    def backfill_size(self) -> int:
        """How many backfill bars the feed was given."""
        return len(self._backfill)

    # ------------------------------------------------------------------ Backtrader hooks
    def islive(self) -> bool:
        """Live: Cerebro turns preload and runonce off and runs bar by bar."""
        return True

    def haslivedata(self) -> bool:
        return bool(self._backfill_left or self.bar_queue.pending(self.symbol))

    def start(self) -> None:
        super().start()
        self._backfill_left = len(self._backfill)
        self.backfilling = bool(self._backfill)
        self.put_notification(self.DELAYED if self._backfill else self.LIVE)

    def stop(self) -> None:
        super().stop()
        self.put_notification(self.DISCONNECTED)

    def do_qcheck(self, onoff: bool, qlapse: float) -> None:
        """Called by Cerebro once per iteration before asking for bars: the previous iteration
        is complete, so the leading feed acknowledges the step it delivered."""
        super().do_qcheck(onoff, qlapse)
        self._lead = True
        self.bar_queue._begin_iteration(self)

    def next(self, datamaster: Any = None, ticks: bool = True) -> bool | None:
        ret = super().next(datamaster=datamaster, ticks=ticks)
        if ret:
            self.bar_queue._ticked = True
        return ret

    def _load(self) -> bool | None:
        lead, self._lead = self._lead, False
        if self._backfill_left:
            bar = self._backfill[len(self._backfill) - self._backfill_left]
            self._backfill_left -= 1
            self._fill(bar)
            return True
        if self.backfilling:
            self.backfilling = False
            self.put_notification(self.LIVE)
        queue = self.bar_queue
        leader = bool(queue._feeds) and queue._feeds[0] is self
        bar = queue._take(self, wait=lead and leader)
        if not isinstance(bar, Bar):
            return bar
        self.live_bars += 1
        self._fill(bar)
        return True

    # ------------------------------------------------------------------ helpers
    def _is_new(self, bar: Bar) -> bool:
        return self._last_stamp is None or bar.timestamp > self._last_stamp

    def _fill(self, bar: Bar) -> None:
        self._last_stamp = bar.timestamp
        lines = self.lines
        lines.datetime[0] = bar_time_to_bt_num(bar.timestamp)
        lines.open[0] = bar.open
        lines.high[0] = bar.high
        lines.low[0] = bar.low
        lines.close[0] = bar.close
        lines.volume[0] = bar.volume
        lines.openinterest[0] = 0.0
