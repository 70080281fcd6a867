"""Opening hours: weekly hours in the center's time zone, public holidays
closed, make-up working days (调休) open, ranges include their start only."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ivr.catalog.model import Calendar
from ivr.hours import HoursError, hours_on, is_open, next_opening, zone

SHANGHAI = zone("Asia/Shanghai")
WEEKDAYS = {day: ["08:30-20:00"] for day in ("mon", "tue", "wed", "thu", "fri")}
OFFICE = Calendar.model_validate({
    "open": WEEKDAYS | {"sat": ["09:00-12:00", "13:00-17:00"]},
    "holidays": ["2026-10-01"],
    "workdays": {"2026-09-27": ["08:30-20:00"]},
})  # fmt: skip


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        ("2026-11-27T08:29", False),  # Friday, before opening
        ("2026-11-27T08:30", True),  # the start is included
        ("2026-11-27T19:59", True),
        ("2026-11-27T20:00", False),  # the end is not
        ("2026-11-28T12:30", False),  # Saturday lunch break between two ranges
        ("2026-11-28T13:00", True),
        ("2026-11-29T10:00", False),  # Sunday: not listed, closed
        ("2026-10-01T10:00", False),  # National Day, a Thursday: holiday
        ("2026-09-27T10:00", True),  # a Sunday made a working day
    ],
)
def test_line_is_open_by_weekday_holiday_and_make_up_day(when: str, expected: bool) -> None:
    assert is_open(OFFICE, local(when), SHANGHAI) is expected


def test_hours_are_judged_in_the_center_time_zone_not_utc() -> None:
    # 01:00 UTC on Friday is 09:00 in Shanghai: open; 13:00 UTC is 21:00: closed.
    assert is_open(OFFICE, datetime(2026, 11, 27, 1, 0, tzinfo=UTC), SHANGHAI)
    assert not is_open(OFFICE, datetime(2026, 11, 27, 13, 0, tzinfo=UTC), SHANGHAI)


def test_a_whole_day_range_ends_at_midnight() -> None:
    always = Calendar.model_validate({"open": {"sun": ["00:00-24:00"]}})
    assert is_open(always, local("2026-11-29T23:59"), SHANGHAI)
    assert not is_open(always, local("2026-11-30T00:00"), SHANGHAI)


def test_naive_times_and_unknown_zones_are_refused() -> None:
    with pytest.raises(HoursError):
        is_open(OFFICE, datetime(2026, 11, 27, 10, 0), SHANGHAI)
    with pytest.raises(HoursError):
        zone("Mars/Olympus_Mons")


def test_next_opening_skips_the_holiday_and_the_weekend() -> None:
    # Wednesday 30 Sept 21:00 -> Thursday 1 Oct is a holiday -> Friday 2 Oct 08:30.
    assert next_opening(OFFICE, local("2026-09-30T21:00"), SHANGHAI) == local("2026-10-02T08:30")
    assert next_opening(OFFICE, local("2026-11-27T10:00"), SHANGHAI) == local("2026-11-27T10:00")


@given(st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 1, 1)))
def test_open_exactly_when_the_local_minute_is_inside_a_range_of_that_day(naive: datetime) -> None:
    when = naive.replace(tzinfo=SHANGHAI)
    minute = when.hour * 60 + when.minute
    expected = any(start <= minute < end for start, end in hours_on(OFFICE, when.date()))
    assert is_open(OFFICE, when, SHANGHAI) is expected
    assert is_open(OFFICE, when.astimezone(UTC), SHANGHAI) is expected


def test_bad_ranges_are_refused_by_the_catalog() -> None:
    with pytest.raises(ValueError):
        Calendar.model_validate({"open": {"mon": ["8:30-20:00"]}})
    with pytest.raises(ValueError):
        Calendar.model_validate({"open": {"monday": ["08:30-20:00"]}})
    assert hours_on(OFFICE, date(2026, 11, 30) + timedelta(days=5)) == [(540, 720), (780, 1020)]  # a Saturday
