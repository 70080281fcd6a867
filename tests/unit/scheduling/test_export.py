"""A plan as a CSV file (one row per activity) and as an agent's iCalendar file (one event per shift)."""

from __future__ import annotations

import csv
import io
import itertools
from datetime import datetime, timedelta

from icalendar import Calendar

from ivr.hours.opening import zone
from ivr.scheduling.export import CSV_COLUMNS, agent_ical, plan_csv
from ivr.scheduling.model import Activity, Plan, Shift

TZ = zone("Asia/Shanghai")


def at(day: int, hour: int, minute: int = 0) -> float:
    return datetime(2026, 3, 2 + day, hour, minute, tzinfo=TZ).timestamp()


def shift(seat: str, day: int, hour: int, pattern: str = "day", group: str = "basic_zh") -> Shift:
    start = at(day, hour)
    pauses = (
        Activity("break", start + 90 * 60, start + 105 * 60),
        Activity("meal", start + 240 * 60, start + 300 * 60),
        Activity("break", start + 420 * 60, start + 435 * 60),
    )
    return Shift(seat, group, pattern, start, start + 9 * 3600, pauses)


PLAN = Plan(
    first_day="2026-03-02", days=7, status="OPTIMAL", cost=24.0, under_coverage=0.0, solve_seconds=1.0,
    shifts=(shift("1001", 0, 8), shift("1001", 1, 23, "night"), shift("1002", 0, 9), shift("1001", 3, 10)),
)  # fmt: skip


def rows() -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(plan_csv(PLAN, TZ, {"1001": "Wang Fang"}))))


def test_the_csv_has_one_row_per_activity_with_the_documented_columns():
    text = plan_csv(PLAN, TZ)
    assert text.splitlines()[0].split(",") == list(CSV_COLUMNS)
    assert len(rows()) == sum(len(s.timeline()) for s in PLAN.shifts) == 4 * 7


def test_csv_times_are_local_iso_8601_and_a_night_shift_is_dated_by_its_start():
    night = [r for r in rows() if r["pattern"] == "night"]
    assert night[0] == {
        "seat": "1001", "name": "Wang Fang", "group": "basic_zh", "date": "2026-03-03", "pattern": "night",
        "activity": "work", "start": "2026-03-03T23:00:00+08:00", "end": "2026-03-04T00:30:00+08:00",
    }  # fmt: skip
    assert night[-1]["end"] == "2026-03-04T08:00:00+08:00" and {r["date"] for r in night} == {"2026-03-03"}


def test_csv_rows_go_by_seat_then_time_and_activities_follow_each_other():
    got = rows()
    assert [r["seat"] for r in got] == sorted(r["seat"] for r in got)
    for before, after in itertools.pairwise(got):
        if before["seat"] == after["seat"] and before["date"] == after["date"]:
            assert before["end"] == after["start"]
    assert [r["activity"] for r in got[:7]] == ["work", "break", "work", "meal", "work", "break", "work"]


def parsed(seat: str = "1001") -> Calendar:
    return Calendar.from_ical(agent_ical(PLAN, seat, TZ, "Seat 1001", pattern_names={"day": "Day shift"}))


def test_the_agent_calendar_parses_back_with_one_event_per_shift_in_asia_shanghai():
    calendar = parsed()
    events = calendar.walk("VEVENT")
    assert len(events) == 3
    assert str(calendar["version"]) == "2.0" and calendar["prodid"] and str(calendar["x-wr-calname"]) == "Seat 1001"
    first = events[0]
    start, end = first.decoded("dtstart"), first.decoded("dtend")
    assert start == datetime(2026, 3, 2, 8, tzinfo=TZ) and end - start == timedelta(hours=9)
    assert str(start.tzinfo) == "Asia/Shanghai" and first["dtstart"].params["TZID"] == "Asia/Shanghai"
    assert [tz["tzid"] for tz in calendar.walk("VTIMEZONE")] == ["Asia/Shanghai"]


def test_each_event_names_its_pattern_and_group_and_lists_its_breaks_and_meal():
    first = parsed().walk("VEVENT")[0]
    assert str(first["summary"]) == "Day shift (basic_zh)"
    assert str(first["description"]).splitlines() == ["Break 09:30-09:45", "Meal 12:00-13:00", "Break 15:00-15:15"]
    assert parsed().walk("VEVENT")[1]["summary"] == "night (basic_zh)"


def test_event_uids_are_unique_and_the_same_each_time_the_file_is_made():
    uids = [str(e["uid"]) for e in parsed().walk("VEVENT")]
    assert len(set(uids)) == 3
    assert uids == [str(e["uid"]) for e in parsed().walk("VEVENT")]
    assert all(e.decoded("dtstamp").tzinfo is not None for e in parsed().walk("VEVENT"))


def test_a_seat_without_shifts_gets_an_empty_calendar():
    assert parsed("1999").walk("VEVENT") == []
