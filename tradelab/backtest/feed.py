"""A Backtrader data feed that reads numpy arrays.

Backtrader's ``PandasData`` reads one pandas row per bar through Python attribute look-ups; this
feed copies each column into the line buffers in one step at preload (a ``memcpy`` of the float64
bytes), which is where most of the engine's speed-up comes from. Arrays are the form market data
takes in the Ray object store, so trials feed Backtrader without going through pandas at all.
"""

from __future__ import annotations

from array import array
from collections.abc import Mapping

import backtrader as bt
import numpy as np

__all__ = ["NumpyFeed", "ns_to_bt_num", "timeframe_for"]

_EPOCH_ORDINAL = 719163.0  # backtrader's date2num(1970-01-01 00:00)
_NS_PER_DAY = 86_400_000_000_000.0
_LINES = ("close", "low", "high", "open", "volume", "openinterest", "datetime")


def ns_to_bt_num(timestamps_ns: np.ndarray) -> np.ndarray:
    """Convert int64 UTC nanoseconds since the epoch to backtrader's float day numbers."""
    return np.asarray(timestamps_ns, dtype=np.int64) / _NS_PER_DAY + _EPOCH_ORDINAL


def timeframe_for(seconds: float) -> tuple[int, int]:
    """Backtrader (timeframe, compression) for a bar of ``seconds`` length."""
    if seconds >= 7 * 86_400:
        return bt.TimeFrame.Weeks, max(1, int(seconds // (7 * 86_400)))
    if seconds >= 86_400:
        return bt.TimeFrame.Days, max(1, int(seconds // 86_400))
    return bt.TimeFrame.Minutes, max(1, int(seconds // 60))


class NumpyFeed(bt.feed.DataBase):
    """Feed from a mapping of numpy arrays: ``timestamp`` (int64 ns UTC) and OHLCV (float64).

    Example:
        >>> feed = NumpyFeed(arrays=arrays, name="AAA")  # doctest: +SKIP
        >>> cerebro.adddata(feed)                        # doctest: +SKIP
    """

    params = (("arrays", None),)

    def __init__(self) -> None:
        arrays: Mapping[str, np.ndarray] = self.p.arrays
        if arrays is None:
            raise ValueError("NumpyFeed needs arrays=")
        size = len(arrays["timestamp"])
        self._columns = {
            "datetime": ns_to_bt_num(arrays["timestamp"]),
            "open": np.ascontiguousarray(arrays["open"], dtype=np.float64),
            "high": np.ascontiguousarray(arrays["high"], dtype=np.float64),
            "low": np.ascontiguousarray(arrays["low"], dtype=np.float64),
            "close": np.ascontiguousarray(arrays["close"], dtype=np.float64),
            "volume": np.ascontiguousarray(arrays["volume"], dtype=np.float64),
            "openinterest": np.zeros(size, dtype=np.float64),
        }
        self._size = size
        self._cursor = 0
        self._preloaded_fast = False
        self._line_buffers: tuple = ()

    def start(self) -> None:
        super().start()
        self._cursor = 0

    def clone(self, **kwargs: object) -> bt.DataBase:
        """A clone for ``cerebro.resampledata``: it resamples start-stamped bars correctly
        (see :mod:`tradelab.backtest.timeframes`)."""
        from tradelab.backtest.timeframes import ResampleClone

        return ResampleClone(dataname=self, **kwargs)

    def preload(self) -> None:
        """Fill every line buffer from the arrays at once (filters force the per-bar path)."""
        if self._filters or self._ffilters or self._tzinput:
            self._preloaded_fast = False
            super().preload()
            return
        from_num, to_num = self.fromdate, self.todate
        dts = self._columns["datetime"]
        keep = slice(int(np.searchsorted(dts, from_num, side="left")),
                     int(np.searchsorted(dts, to_num, side="right")))
        for name in _LINES:
            buffer = getattr(self.lines, name)
            values = array("d")
            values.frombytes(self._columns[name][keep].tobytes())
            buffer.array = values
        self._last()
        self.home()
        self._line_buffers = tuple(self.lines)
        self._preloaded_fast = True

    def advance_peek(self) -> float:
        """The next bar's time (``inf`` when done): Backtrader's rule, without its len() chain."""
        dt_line = self.lines.datetime
        if self._preloaded_fast and dt_line.lencount < len(dt_line.array) - dt_line.extension:
            return dt_line.array[dt_line.idx + 1]
        return super().advance_peek()

    def advance(self, size: int = 1, datamaster: object = None, ticks: bool = True) -> None:
        """One bar forward in a preloaded buffer: Backtrader's ``DataBase.advance`` for the case
        of no data master, with the per-line loop and tick bookkeeping inlined."""
        if not self._preloaded_fast or datamaster is not None or not ticks:
            super().advance(size, datamaster=datamaster, ticks=ticks)
            return
        for line in self._line_buffers:
            line.idx += size
            line.lencount += size
        dt_line = self.lines.datetime
        if dt_line.lencount < len(dt_line.array) - dt_line.extension:
            self._tick_nullify()
            self._tick_fill()
        else:
            self._tick_nullify()

    # Backtrader's versions loop over line aliases with getattr/setattr on every bar; these set
    # the same attributes directly (same values, a fraction of the cost).
    def _tick_nullify(self) -> None:
        self.tick_close = self.tick_low = self.tick_high = self.tick_open = None
        self.tick_volume = self.tick_openinterest = self.tick_last = None

    def _tick_fill(self, force: bool = False) -> None:
        if force or self.tick_close is None:
            lines = self.lines
            self.tick_close = self.tick_last = lines.close[0]
            self.tick_low = lines.low[0]
            self.tick_high = lines.high[0]
            self.tick_open = lines.open[0]
            self.tick_volume = lines.volume[0]
            self.tick_openinterest = lines.openinterest[0]

    def _load(self) -> bool:
        if self._cursor >= self._size:
            return False
        i = self._cursor
        self._cursor += 1
        lines = self.lines
        columns = self._columns
        lines.datetime[0] = columns["datetime"][i]
        lines.open[0] = columns["open"][i]
        lines.high[0] = columns["high"][i]
        lines.low[0] = columns["low"][i]
        lines.close[0] = columns["close"][i]
        lines.volume[0] = columns["volume"][i]
        lines.openinterest[0] = 0.0
        return True
