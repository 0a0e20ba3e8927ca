"""MarketCalendar: sessions (open/close in UTC, early closes) of one exchange."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pandas as pd

from tradelab.errors import ConfigError, UnknownNameError

__all__ = ["MarketCalendar", "Session", "market_calendar"]

_FIRST = "1990-01-02"


@dataclass(frozen=True, kw_only=True, slots=True)
class Session:
    """One trading session: its date, open and close (UTC), and whether it closes early."""

    day: date
    open: datetime
    close: datetime
    early_close: bool

    def contains(self, moment: datetime) -> bool:
        """Whether ``moment`` is within ``[open, close)``."""
        return self.open <= moment < self.close

    def minutes_to_close(self, moment: datetime) -> float:
        """Minutes from ``moment`` to the close (negative after it)."""
        return (self.close - moment).total_seconds() / 60.0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict."""
        return {"date": self.day.isoformat(), "open": self.open.isoformat(),
                "close": self.close.isoformat(), "early_close": self.early_close}


def _day(value: Any) -> pd.Timestamp:
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"not a date: {value!r}; give e.g. '2024-11-29'") from exc
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("America/New_York").tz_localize(None)
    return stamp.normalize()


def _utc(moment: Any) -> datetime:
    stamp = pd.Timestamp(moment)
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize(UTC)
    return stamp.tz_convert(UTC).to_pydatetime()


class MarketCalendar:
    """Sessions of one exchange. Build with :func:`market_calendar` (cached per exchange).

    Args:
        exchange: An ``exchange_calendars`` code: ``"XNYS"`` (NYSE), ``"XNAS"`` (Nasdaq), ...
    """

    def __init__(self, exchange: str = "XNYS") -> None:
        import exchange_calendars as xc

        names = xc.get_calendar_names(include_aliases=True)
        if exchange not in names:
            raise UnknownNameError("exchange calendar", exchange, names)
        self.exchange = exchange
        end = (pd.Timestamp.now(tz=UTC).tz_localize(None) + pd.DateOffset(years=2)).normalize()
        self._calendar = xc.get_calendar(exchange, start=_FIRST, end=end)
        early = self._calendar.early_closes
        self._early = set(early[(early >= pd.Timestamp(_FIRST))]) if len(early) else set()

    @property
    def first_day(self) -> date:
        """The first session this calendar knows."""
        return self._calendar.first_session.date()

    @property
    def last_day(self) -> date:
        """The last session this calendar knows (about two years ahead)."""
        return self._calendar.last_session.date()

    def _check(self, day: pd.Timestamp) -> None:
        if not self._calendar.first_session <= day <= self._calendar.last_session:
            raise ConfigError(f"{day.date()} is outside the {self.exchange} calendar "
                              f"({self.first_day} to {self.last_day})")

    def is_session(self, day: Any) -> bool:
        """Whether the exchange trades on ``day`` (a holiday or weekend → False)."""
        stamp = _day(day)
        self._check(stamp)
        return bool(self._calendar.is_session(stamp))

    def session(self, day: Any) -> Session | None:
        """The session on ``day``, or ``None`` if the exchange is closed that day."""
        stamp = _day(day)
        if not self.is_session(stamp):
            return None
        return self._session(stamp)

    @functools.lru_cache(maxsize=8192)  # noqa: B019 - calendars are long-lived and few
    def _session(self, stamp: pd.Timestamp) -> Session:
        return Session(day=stamp.date(), open=_utc(self._calendar.session_open(stamp)),
                       close=_utc(self._calendar.session_close(stamp)),
                       early_close=stamp in self._early)

    def sessions(self, start: Any, end: Any) -> list[Session]:
        """Every session from ``start`` to ``end`` (dates, inclusive)."""
        first, last = _day(start), _day(end)
        self._check(first)
        self._check(last)
        return [self._session(s) for s in self._calendar.sessions_in_range(first, last)]

    def is_open(self, moment: Any) -> bool:
        """Whether the exchange is in its regular session at ``moment``."""
        when = _utc(moment)
        session = self.session(when)
        return session is not None and session.contains(when)

    def next_open(self, moment: Any) -> datetime:
        """The next regular-session open at or after ``moment``."""
        when = _utc(moment)
        day = _day(when)
        for _ in range(15):
            session = self.session(day)
            if session is not None and session.open >= when:
                return session.open
            day += timedelta(days=1)
        raise ConfigError(f"no {self.exchange} session within 15 days after {when}")

    def hours(self, moment: Any) -> dict[str, Any]:
        """Today's session (or ``None``), whether open now, and the next open — for the API."""
        when = _utc(moment)
        session = self.session(when)
        return {
            "exchange": self.exchange,
            "now": when.isoformat(),
            "is_open": session is not None and session.contains(when),
            "session": None if session is None else session.to_dict(),
            "next_open": self.next_open(when if session is None or when < session.open
                                        else when + timedelta(minutes=1)).isoformat(),
        }


@functools.cache
def market_calendar(exchange: str = "XNYS") -> MarketCalendar:
    """The (cached) calendar of ``exchange``."""
    return MarketCalendar(exchange)
