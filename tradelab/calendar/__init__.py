"""Market calendars: exchange sessions, holidays and half days, from ``exchange_calendars``.

One question answered everywhere (backtests, the paper broker, the live engine, the synthetic
intraday generator): when is the exchange open? NYSE (``"XNYS"``) by default.

Example:
    >>> calendar = market_calendar("XNYS")
    >>> session = calendar.session("2024-11-29")          # the day after Thanksgiving
    >>> session.close.isoformat(), session.early_close
    ('2024-11-29T18:00:00+00:00', True)
    >>> calendar.is_session("2024-12-25")
    False
"""

from __future__ import annotations

from tradelab.calendar.sessions import MarketCalendar, Session, market_calendar

__all__ = ["MarketCalendar", "Session", "market_calendar"]
