"""Higher timeframes resampled by Backtrader from a feed of bars stamped at their start.

A strategy over 5-minute bars may also read hourly or daily bars of the same symbol. They are
built by Backtrader's own resampler (``cerebro.resampledata``) from the base feed, as feeds named
``"<SYMBOL>@<bar size>"`` (``"AAA@1h"``, ``"AAA@1d"``), added after every base feed:
``self.datas == [AAA, BBB, AAA@1h, AAA@1d, BBB@1h, BBB@1d]`` for two symbols and
``timeframes = ("1h", "1d")``.

Backtrader's resampler assumes bars stamped at their *end*; tradelab's are stamped at their
*start* (:mod:`tradelab.data.bars`). :class:`StartStampedResampler` adapts it, and
:class:`ResampleClone` (what :meth:`NumpyFeed.clone <tradelab.backtest.NumpyFeed>` returns, so
``cerebro.resampledata(numpy_feed, ...)`` uses it) follows the base feed bar by bar:

* **Which bars.** A higher-timeframe bar holds the base bars that *start* inside its period:
  the 1h bar 10:00–11:00 holds the 5-minute bars 10:00 … 10:55. Hours are aligned to the clock
  (Backtrader's ``bar2edge``), so a 09:30 New York session's first hour is 09:30–10:00. A daily
  bar holds one UTC date's bars (= one New York session), a weekly bar one ISO week's.
* **Stamps.** A resampled bar carries Backtrader's stamp: the *end* of its period, the moment it
  is complete (10:00 for the bar 09:30–10:00, 16:00 for 15:00–16:00). Daily bars carry the end
  of their UTC day (23:59:59.999989 UTC), weekly bars the end of their last day.
* **When a strategy sees it.** With the first base bar that starts at or after its end: the
  hour 09:30–10:00 with the 10:00 bar, a session's daily bar with the next session's first bar
  (so ``daily.close[0]`` is always the last *complete* session), never earlier. Delivery
  depends on bar times only, never on the wall clock, so a live replay resamples exactly as a
  backtest.

Example:
    >>> cerebro = bt.Cerebro()                                   # doctest: +SKIP
    >>> feed = NumpyFeed(arrays=arrays, name="AAA", timeframe=bt.TimeFrame.Minutes,
    ...                  compression=5)                          # doctest: +SKIP
    >>> cerebro.adddata(feed)                                    # doctest: +SKIP
    >>> add_timeframes(cerebro, feed, ["1h", "1d"])              # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import backtrader as bt

from tradelab.data.bars import BarSize, parse_bar_size
from tradelab.errors import ConfigError

__all__ = [
    "TIMEFRAME_SEPARATOR",
    "ResampleClone",
    "StartStampedResampler",
    "add_timeframes",
    "backtrader_timeframe",
    "feed_seconds",
    "parse_timeframes",
    "timeframe_name",
]

TIMEFRAME_SEPARATOR = "@"
"""Separates the symbol from the bar size in a resampled feed's name (``"AAA@1h"``)."""

_UNIT_SECONDS = {
    bt.TimeFrame.Seconds: 1,
    bt.TimeFrame.Minutes: 60,
    bt.TimeFrame.Days: 86_400,
    bt.TimeFrame.Weeks: 7 * 86_400,
}


def timeframe_name(symbol: str, bar_size: str | BarSize) -> str:
    """The feed name of ``symbol`` resampled to ``bar_size``.

    Example:
        >>> timeframe_name("AAA", "60min")
        'AAA@1h'
    """
    return f"{symbol}{TIMEFRAME_SEPARATOR}{parse_bar_size(bar_size).text}"


def backtrader_timeframe(bar_size: str | BarSize) -> tuple[int, int]:
    """Backtrader's ``(timeframe, compression)`` for a bar size.

    Example:
        >>> backtrader_timeframe("1h") == (bt.TimeFrame.Minutes, 60)
        True
    """
    size = parse_bar_size(bar_size)
    if size.text == "1w":
        return bt.TimeFrame.Weeks, 1
    if size.text == "1d":
        return bt.TimeFrame.Days, 1
    return bt.TimeFrame.Minutes, int(size.minutes)


def feed_seconds(data: Any) -> float | None:
    """The bar length of a Backtrader feed in seconds, from its timeframe and compression
    (``None`` for ticks, months or years)."""
    unit = _UNIT_SECONDS.get(getattr(data, "_timeframe", None))
    if unit is None:
        return None
    return float(unit * max(1, int(getattr(data, "_compression", 1) or 1)))


def parse_timeframes(timeframes: Iterable[str], *, base_seconds: float) -> tuple[BarSize, ...]:
    """Validate higher timeframes over base bars of ``base_seconds``; shortest first, unique.

    Raises:
        UnknownNameError: an unknown bar size (with a "did you mean").
        ConfigError: a bar size not longer than the base bars, or not a whole multiple of them.
    """
    if isinstance(timeframes, str):
        raise ConfigError(
            f"timeframes must be a list of bar sizes such as ('1h', '1d'), not the string "
            f"{timeframes!r}."
        )
    sizes: dict[str, BarSize] = {}
    for item in timeframes:
        size = parse_bar_size(item)
        seconds = size.timedelta.total_seconds()
        base = _seconds_text(base_seconds)
        if seconds <= base_seconds:
            raise ConfigError(
                f"timeframe {size.text} is not longer than the base bars ({base}); resample "
                "only to longer bars (e.g. 5m → 1h, 1d)."
            )
        if size.is_intraday and seconds % base_seconds:
            raise ConfigError(
                f"timeframe {size.text} is not a whole number of base bars ({base}); pick a "
                "multiple of the base bar size."
            )
        sizes[size.text] = size
    return tuple(sorted(sizes.values(), key=lambda s: s.timedelta))


def _seconds_text(seconds: float) -> str:
    if seconds % 86_400 == 0:
        return f"{int(seconds // 86_400)}d"
    if seconds % 3_600 == 0:
        return f"{int(seconds // 3_600)}h"
    return f"{seconds / 60:g}m"


class StartStampedResampler(bt.resamplerfilter.Resampler):
    """Backtrader's :class:`~backtrader.resamplerfilter.Resampler` for bars stamped at their start.

    Backtrader takes a bar stamped exactly on a period boundary (10:00) as the *last* bar of the
    period ending there; stamped at its start, it is the *first* bar of the next period. So no
    intraday bar is "on the edge": the period closes when the first bar of the next one arrives.
    Wall-clock checks (Backtrader delivers a live bar when the clock passes its end) are off:
    bars are delivered by data time only.
    """

    def _dataonedge(self, data: Any) -> tuple[bool, bool]:
        if self.subdays:
            return False, True
        return super()._dataonedge(data)

    def _calcadjtime(self, greater: bool = False) -> float:
        # Backtrader stamps an intraday bar closed by the end of the (UTC) day with that day's
        # end; stamp it with the end of its own period like every other intraday bar.
        if self.subdays and self._nexteos is None:
            self._nexteos = True  # read only for daily bars
            try:
                return super()._calcadjtime(greater)
            finally:
                self._nexteos = None
        return super()._calcadjtime(greater)

    def check(self, data: Any, _forcedata: Any = None) -> Any:
        if _forcedata is None:  # the wall clock: a replay's clock is not the bars' clock
            return None
        return super().check(data, _forcedata)


class ResampleClone(bt.feed.DataClone):
    """A clone of a feed that follows it bar by bar and resamples with
    :class:`StartStampedResampler` (``resample``) — the feed ``cerebro.resampledata`` builds.

    Attributes:
        holds_warmup: Whether the strategy waits for this feed (and indicators on it) before its
            ``next`` runs, as Backtrader does for every feed. True for timeframes a strategy
            declares; False for extra timeframes given only to ``run_backtest(resample=...)``,
            which must not change what the strategy does.
    """

    holds_warmup: bool = True

    def resample(self, **kwargs: Any) -> None:
        self.addfilter(StartStampedResampler, **kwargs)


def add_timeframes(
    cerebro: bt.Cerebro,
    feed: bt.DataBase,
    timeframes: Sequence[str | BarSize],
    *,
    symbol: str | None = None,
    holds_warmup: bool = True,
) -> list[bt.DataBase]:
    """Add ``feed`` resampled to each of ``timeframes`` (named ``"<symbol>@<bar size>"``).

    Works for any feed of start-stamped bars: the backtest's ``NumpyFeed`` and the live feed.
    Call it after adding every base feed, so that the base feeds come first in ``self.datas``.
    Resampling turns off Backtrader's preload and vectorized (``runonce``) mode for the run.

    Args:
        cerebro: The Cerebro the feed was added to.
        feed: The base feed.
        timeframes: Longer bar sizes (``"1h"``, ``"1d"``, ``"1w"``).
        symbol: The name prefix (default: the feed's name).
        holds_warmup: See :attr:`ResampleClone.holds_warmup`.

    Returns:
        The resampled feeds, in the order of ``timeframes``.
    """
    name = symbol or feed._name
    added = []
    for bar_size in timeframes:
        timeframe, compression = backtrader_timeframe(bar_size)
        clone = ResampleClone(dataname=feed)
        clone.holds_warmup = holds_warmup
        added.append(
            cerebro.resampledata(
                clone,
                name=timeframe_name(name, bar_size),
                timeframe=timeframe,
                compression=compression,
            )
        )
    return added
