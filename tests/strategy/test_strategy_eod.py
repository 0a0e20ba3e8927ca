"""End-of-day rules: which bar flattens, when entries stop, half days and days off the calendar."""

from __future__ import annotations

from datetime import datetime, time

import pytest

from tradelab.errors import ParameterError
from tradelab.strategy import EndOfDayClock, EndOfDayConfig
from tradelab.strategy.eod import NEW_YORK, parse_flatten_time


def at(day: str, hhmm: str) -> int:
    """Epoch seconds of a New York wall time."""
    return int(datetime.fromisoformat(f"{day}T{hhmm}").replace(tzinfo=NEW_YORK).timestamp())


def first_flattening_bar(clock: EndOfDayClock, day: str, starts: list[str]) -> str:
    return next(s for s in starts if clock.flattening(at(day, s)))


def bar_starts(step_minutes: int, close: str = "16:00") -> list[str]:
    end = int(close[:2]) * 60 + int(close[3:])
    return [f"{m // 60:02d}:{m % 60:02d}" for m in range(570, end, step_minutes)]


@pytest.mark.parametrize(
    ("minutes", "day", "close", "expected"),
    [
        (5, "2024-07-02", "16:00", "15:50"),  # orders fill at the 15:55 open
        (1, "2024-07-02", "16:00", "15:54"),  # fill at 15:55
        (15, "2024-07-02", "16:00", "15:30"),  # fill at 15:45, the last open before 15:55
        (60, "2024-07-02", "16:00", "14:30"),  # hourly bars 09:30 … 15:30: fill at 15:30
        (5, "2024-07-03", "13:00", "12:50"),  # half day: flat by 12:55
        (5, "2024-12-24", "13:00", "12:50"),
        (5, "2024-01-02", "16:00", "15:50"),  # winter (EST) as summer
    ],
)
def test_the_flattening_bar_is_the_last_whose_next_open_is_at_or_before_the_flatten_time(
    minutes, day, close, expected
):
    clock = EndOfDayClock(EndOfDayConfig(flatten="15:55"), bar_seconds=minutes * 60)
    starts = bar_starts(minutes, close)
    assert first_flattening_bar(clock, day, starts) == expected
    flat_by = clock.session(at(day, "10:00")).flatten_at
    fill = at(day, expected) + minutes * 60
    assert fill <= flat_by < fill + minutes * 60  # the fill is the last open at or before it
    assert fill < at(day, close)  # … and before the close
    later = starts[starts.index(expected) :]
    assert all(clock.flattening(at(day, s)) for s in later)  # to the end of the session


def test_flatten_time_keeps_its_distance_to_an_early_close():
    clock = EndOfDayClock(EndOfDayConfig(flatten="15:30"), bar_seconds=300)
    regular = clock.session(at("2024-11-27", "12:00"))
    half = clock.session(at("2024-11-29", "12:00"))  # the day after Thanksgiving
    assert (regular.local(regular.flatten_at), regular.early_close) == ("15:30", False)
    assert (half.local(half.flatten_at), half.local(half.close), half.early_close) == (
        "12:30",
        "13:00",
        True,
    )


def test_entries_stop_when_they_would_fill_less_than_n_minutes_before_the_close():
    clock = EndOfDayClock(EndOfDayConfig(no_entry_minutes=30), bar_seconds=300)
    assert clock.entry_denial(at("2024-07-02", "15:25")) is None  # fills 15:30: 30 min left
    reason = clock.entry_denial(at("2024-07-02", "15:30"))  # fills 15:35
    assert reason == (
        "end of day: no new entries within 30 minutes of the close (16:00 New York "
        "on 2024-07-02); the order would fill at 15:35"
    )
    assert clock.entry_denial(at("2024-07-03", "12:25")) is None  # half day: until 12:30
    assert "(half day)" in clock.entry_denial(at("2024-07-03", "12:30"))
    assert not clock.flattening(at("2024-07-02", "15:55"))  # no flatten time set


def test_entries_stop_from_the_flattening_bar_on_even_without_an_entry_window():
    clock = EndOfDayClock(EndOfDayConfig(flatten="15:55"), bar_seconds=300)
    assert clock.entry_denial(at("2024-07-02", "15:45")) is None
    reason = clock.entry_denial(at("2024-07-02", "15:50"))
    assert "no new entries from the flatten time on" in reason


def test_a_day_off_the_calendar_is_taken_as_a_regular_session():
    clock = EndOfDayClock(EndOfDayConfig(flatten="15:55"), bar_seconds=300)
    holiday = clock.session(at("2024-07-04", "12:00"))  # bars on Independence Day (no calendar)
    assert not holiday.scheduled and holiday.local(holiday.close) == "16:00"
    assert first_flattening_bar(clock, "2024-07-04", bar_starts(5)) == "15:50"
    no_calendar = EndOfDayClock(EndOfDayConfig(flatten="15:55", calendar=None), bar_seconds=300)
    half = no_calendar.session(at("2024-07-03", "12:00"))
    assert half.local(half.close) == "16:00" and not half.early_close


@pytest.mark.parametrize("value", [None, False, "off", "None", ""])
def test_flatten_can_be_turned_off(value):
    assert parse_flatten_time(value) is None
    assert not EndOfDayConfig(flatten=value).active


@pytest.mark.parametrize(
    ("settings", "fragment"),
    [
        ({"flatten": "16:30"}, "must be after 09:30 and before 16:00"),
        ({"flatten": "09:00"}, "must be after 09:30 and before 16:00"),
        ({"flatten": "quarter to four"}, "New York time HH:MM"),
        ({"flatten": 1555}, "New York time HH:MM"),
        ({"no_entry_minutes": -5}, "eod_no_entry_minutes must be a number of minutes"),
        ({"no_entry_minutes": 400}, "eod_no_entry_minutes must be a number of minutes"),
        ({"calendar": 7}, "calendar must be an exchange calendar name"),
    ],
)
def test_invalid_end_of_day_settings_raise_parameter_errors(settings, fragment):
    with pytest.raises(ParameterError, match=fragment):
        EndOfDayConfig(**settings)


def test_end_of_day_rules_refuse_daily_bars():
    with pytest.raises(ParameterError, match="need intraday bars"):
        EndOfDayClock(EndOfDayConfig(flatten="15:55"), bar_seconds=86_400)


def test_flatten_time_accepts_a_time_object():
    assert EndOfDayConfig(flatten=time(15, 45)).flatten == time(15, 45)
