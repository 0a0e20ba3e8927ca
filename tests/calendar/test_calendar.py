"""Market calendar: NYSE sessions, holidays and half days from exchange_calendars."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tradelab.calendar import market_calendar
from tradelab.errors import ConfigError, UnknownNameError


def test_nyse_2024_has_252_sessions_and_three_early_closes() -> None:
    sessions = market_calendar("XNYS").sessions("2024-01-01", "2024-12-31")
    assert len(sessions) == 252
    assert [s.day.isoformat() for s in sessions if s.early_close] == \
        ["2024-07-03", "2024-11-29", "2024-12-24"]


def test_a_holiday_and_a_weekend_have_no_session() -> None:
    calendar = market_calendar()
    assert calendar.session("2024-12-25") is None  # Christmas
    assert calendar.session("2024-07-04") is None  # Independence Day
    assert calendar.session("2024-11-30") is None  # a Saturday


def test_sessions_open_at_0930_and_close_at_1600_new_york_or_1300_on_half_days() -> None:
    calendar = market_calendar()
    summer = calendar.session("2024-07-02")
    assert (summer.open, summer.close) == (datetime(2024, 7, 2, 13, 30, tzinfo=UTC),
                                           datetime(2024, 7, 2, 20, 0, tzinfo=UTC))
    half = calendar.session("2024-07-03")
    assert half.close == datetime(2024, 7, 3, 17, 0, tzinfo=UTC) and half.early_close
    winter = calendar.session("2024-12-02")
    assert winter.open == datetime(2024, 12, 2, 14, 30, tzinfo=UTC)  # EST: UTC-5


def test_is_open_and_next_open_around_a_long_weekend() -> None:
    calendar = market_calendar()
    friday_after_close = datetime(2024, 8, 30, 20, 30, tzinfo=UTC)  # Labor Day weekend
    assert not calendar.is_open(friday_after_close)
    assert calendar.next_open(friday_after_close) == datetime(2024, 9, 3, 13, 30, tzinfo=UTC)
    hours = calendar.hours(datetime(2024, 9, 3, 15, 0, tzinfo=UTC))
    assert hours["is_open"] and hours["session"]["date"] == "2024-09-03"
    assert hours["next_open"] == "2024-09-04T13:30:00+00:00"


def test_unknown_exchange_and_out_of_range_dates_raise_clear_errors() -> None:
    with pytest.raises(UnknownNameError, match="XNYZ"):
        market_calendar("XNYZ")
    with pytest.raises(ConfigError, match="outside the XNYS calendar"):
        market_calendar().session("1970-01-02")
    with pytest.raises(ConfigError, match="not a date"):
        market_calendar().session("someday")
