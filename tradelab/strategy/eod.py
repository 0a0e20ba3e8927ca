"""End of day: when an intraday strategy must be flat, and when it may no longer open positions.

The same rules in backtests and live (``strategies.base.BaseStrategy`` applies them to its bars):

* **Sessions** come from an exchange calendar (:mod:`tradelab.calendar`, NYSE ``"XNYS"`` by
  default): the close is 16:00 New York, or 13:00 on a half day. A day the calendar has no
  session for (a holiday in data that has bars on it) or no calendar (``calendar=None``) is taken
  as a regular 09:30–16:00 New York session.
* **Flatten time.** ``flatten="15:55"`` (New York) means flat at 15:55 on a regular day; the time
  moves with an early close, keeping its distance to the close: 12:55 on a 13:00 half day
  (``close − (16:00 − 15:55)``).
* **Which bar flattens.** Bars are stamped at their *start*; a strategy sees a bar when it is
  complete, and a market order placed then fills at the *next* bar's open. So the bar starting at
  ``t`` (length ``L``) places orders that fill at ``t + L``. The flattening bar is the first bar
  whose fill time is the last bar open at or before the flatten time — the first bar with
  ``t + 2L > flatten``: for 5-minute bars and 15:55, the bar starting 15:50 (its orders fill at
  the 15:55 open); for 1-minute bars the 15:54 bar; for hourly bars (09:30, …, 15:30) the 14:30
  bar (fill at 15:30). From that bar to the end of the session the strategy's own ``next`` is not
  called, open orders are cancelled and positions closed.
* **No new entries** within ``no_entry_minutes`` of the close: an order that opens or grows a
  position is denied when it would fill (at ``t + L``) less than that many minutes before the
  close (``close − (t + L) < N minutes``), and at or after the flattening bar whatever ``N``.
  Orders that reduce a position are always allowed.

Example:
    >>> from datetime import datetime, timezone
    >>> clock = EndOfDayClock(EndOfDayConfig(flatten="15:55", no_entry_minutes=30),
    ...                       bar_seconds=300)
    >>> def at(text):  # New York wall time of a bar's start, in 2024 (EDT: UTC-4)
    ...     return int(datetime.fromisoformat(text + "-04:00").timestamp())
    >>> clock.flattening(at("2024-07-02T15:45")), clock.flattening(at("2024-07-02T15:50"))
    (False, True)
    >>> clock.flattening(at("2024-07-03T12:50"))  # half day: close 13:00, flat at 12:55
    True
    >>> clock.entry_denial(at("2024-07-02T15:25")) is None  # fills 15:30, 30 min before 16:00
    True
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from tradelab.errors import ParameterError

__all__ = ["EndOfDayClock", "EndOfDayConfig", "SessionTimes", "parse_flatten_time"]

NEW_YORK = ZoneInfo("America/New_York")
_REGULAR_OPEN = dt.time(9, 30)
_REGULAR_CLOSE = dt.time(16, 0)
_OFF = {"", "off", "none", "false", "no", "0"}


def parse_flatten_time(value: Any) -> dt.time | None:
    """``"15:55"`` → ``time(15, 55)``; ``None``, ``False`` or ``"off"`` → ``None`` (no flatten).

    Raises:
        ParameterError: not ``HH:MM``, or not after 09:30 and before 16:00 New York.

    Example:
        >>> parse_flatten_time("15:55"), parse_flatten_time("off")
        (datetime.time(15, 55), None)
    """
    if value is None or value is False:
        return None
    if isinstance(value, dt.time):
        moment = value
    elif isinstance(value, str):
        text = value.strip().lower()
        if text in _OFF:
            return None
        try:
            moment = dt.time.fromisoformat(text)
        except ValueError:
            raise ParameterError(
                f"eod_flatten must be a New York time HH:MM such as '15:55', or None/'off'; "
                f"got {value!r}."
            ) from None
    else:
        raise ParameterError(
            f"eod_flatten must be a New York time HH:MM such as '15:55', or None/'off'; "
            f"got {value!r}."
        )
    if not _REGULAR_OPEN < moment < _REGULAR_CLOSE:
        raise ParameterError(
            f"eod_flatten {moment.strftime('%H:%M')} must be after 09:30 and before 16:00 New "
            "York (the regular session); e.g. '15:55'."
        )
    return moment


@dataclass(frozen=True, kw_only=True, slots=True)
class EndOfDayConfig:
    """End-of-day settings of an intraday strategy.

    Attributes:
        flatten: Flat by this New York time on a regular day (``"15:55"``), moved earlier by an
            early close; ``None`` for no flatten. Normalized to a :class:`datetime.time`.
        no_entry_minutes: No new entries within this many minutes of the close (0 = no window).
        calendar: Exchange calendar of the sessions (``"XNYS"``), or ``None`` for regular
            09:30–16:00 New York sessions every day.
    """

    flatten: Any = None
    no_entry_minutes: float = 0.0
    calendar: str | None = "XNYS"

    def __post_init__(self) -> None:
        object.__setattr__(self, "flatten", parse_flatten_time(self.flatten))
        minutes = self.no_entry_minutes
        if (
            isinstance(minutes, bool)
            or not isinstance(minutes, int | float)
            or not math.isfinite(minutes)
            or not 0 <= minutes < 390
        ):
            raise ParameterError(
                f"eod_no_entry_minutes must be a number of minutes from 0 (off) to 389; "
                f"got {minutes!r}."
            )
        object.__setattr__(self, "no_entry_minutes", float(minutes))
        calendar = self.calendar
        if isinstance(calendar, str) and calendar.strip().lower() in _OFF:
            calendar = None
        if calendar is not None and not isinstance(calendar, str):
            raise ParameterError(
                f"calendar must be an exchange calendar name such as 'XNYS', or None; "
                f"got {calendar!r}."
            )
        object.__setattr__(self, "calendar", calendar.strip() if calendar else None)

    @property
    def active(self) -> bool:
        """Whether any end-of-day rule is on."""
        return self.flatten is not None or self.no_entry_minutes > 0


@dataclass(frozen=True, kw_only=True, slots=True)
class SessionTimes:
    """One session as the end-of-day rules see it; times are UTC epoch seconds.

    Attributes:
        day: The session date (New York).
        open: The open.
        close: The close (16:00 New York, 13:00 on a half day).
        early_close: Whether the session closes early.
        scheduled: False when the calendar has no session that day (or there is no calendar)
            and regular hours were assumed.
        flatten_at: When positions must be flat, or ``None`` without a flatten time.
    """

    day: dt.date
    open: int
    close: int
    early_close: bool
    scheduled: bool
    flatten_at: int | None

    def local(self, seconds: int) -> str:
        """``HH:MM`` New York of an epoch-seconds time."""
        return dt.datetime.fromtimestamp(seconds, NEW_YORK).strftime("%H:%M")


class EndOfDayClock:
    """Applies an :class:`EndOfDayConfig` to bars of ``bar_seconds`` (see the module docstring).

    Args:
        config: The settings.
        bar_seconds: Length of the strategy's (base) bars, under a day.
    """

    def __init__(self, config: EndOfDayConfig, *, bar_seconds: float) -> None:
        if not 0 < bar_seconds < 86_400:
            raise ParameterError(
                f"end-of-day rules need intraday bars; got bars of {bar_seconds} s."
            )
        self.config = config
        self.bar_seconds = int(bar_seconds)
        self._calendar: Any = None
        self._lo = 0  # [lo, hi): the New York day of the cached session, epoch seconds
        self._hi = 0
        self._session: SessionTimes | None = None
        flatten = config.flatten
        self._flatten_offset = (
            None
            if flatten is None
            else (
                _REGULAR_CLOSE.hour * 60
                + _REGULAR_CLOSE.minute
                - flatten.hour * 60
                - flatten.minute
            )
            * 60
        )

    def session(self, now: int) -> SessionTimes:
        """The session of the New York date of ``now`` (epoch seconds), cached per day."""
        if self._lo <= now < self._hi and self._session is not None:
            return self._session
        day = dt.datetime.fromtimestamp(now, NEW_YORK).date()
        self._lo = _epoch(day, dt.time(0))
        self._hi = _epoch(day + dt.timedelta(days=1), dt.time(0))
        self._session = self._load(day)
        return self._session

    def _load(self, day: dt.date) -> SessionTimes:
        found = None
        if self._calendar is None and self.config.calendar is not None:
            from tradelab.calendar import market_calendar  # loaded on first use (~0.5 s)

            self._calendar = market_calendar(self.config.calendar)
        if self._calendar is not None:
            first, last = self._calendar.first_day, self._calendar.last_day
            if first <= day <= last:
                found = self._calendar.session(day)
        if found is not None:
            opens, close = int(found.open.timestamp()), int(found.close.timestamp())
            early = bool(found.early_close)
        else:
            opens, close = _epoch(day, _REGULAR_OPEN), _epoch(day, _REGULAR_CLOSE)
            early = False
        offset = self._flatten_offset
        return SessionTimes(
            day=day,
            open=opens,
            close=close,
            early_close=early,
            scheduled=found is not None,
            flatten_at=None if offset is None else close - offset,
        )

    def flattening(self, now: int) -> bool:
        """Whether the bar starting at ``now`` is the flattening bar or later in its session
        (``now + 2 × bar > flatten time``)."""
        flatten_at = self.session(now).flatten_at
        return flatten_at is not None and now + 2 * self.bar_seconds > flatten_at

    def entry_denial(self, now: int) -> str | None:
        """Why an order opening or growing a position may not be placed on the bar starting at
        ``now``, or ``None`` when it may."""
        session = self.session(now)
        fill = now + self.bar_seconds
        where = f"{session.day.isoformat()}"
        if session.early_close:
            where += " (half day)"
        if session.flatten_at is not None and now + 2 * self.bar_seconds > session.flatten_at:
            return (
                f"end of day: no new entries from the flatten time on (flat by "
                f"{session.local(session.flatten_at)} New York on {where}, close "
                f"{session.local(session.close)}); the order would fill at {session.local(fill)}"
            )
        minutes = self.config.no_entry_minutes
        if minutes > 0 and session.close - fill < minutes * 60:
            return (
                f"end of day: no new entries within {minutes:g} minutes of the close "
                f"({session.local(session.close)} New York on {where}); the order would fill at "
                f"{session.local(fill)}"
            )
        return None


def _epoch(day: dt.date, moment: dt.time) -> int:
    return int(dt.datetime.combine(day, moment, NEW_YORK).timestamp())
