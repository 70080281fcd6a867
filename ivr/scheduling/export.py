"""A shift plan as files people open: CSV for a spreadsheet, iCalendar for an agent's calendar.

Pure: the plan and the center's time zone go in, text or bytes come out; all
times are local (the center's zone), ISO 8601 with their UTC offset in the
CSV, DTSTART/DTEND with a TZID and its VTIMEZONE in the iCalendar file
(RFC 5545).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event

from .model import Plan, Shift

CSV_COLUMNS = ("seat", "name", "group", "date", "pattern", "activity", "start", "end")
PRODID = "-//ivr//central scheduling//EN"
UID_DOMAIN = "scheduling.ivr"


def _local(epoch: float, tz: ZoneInfo) -> datetime:
    return datetime.fromtimestamp(epoch, tz)


def plan_csv(plan: Plan, tz: ZoneInfo, names: Mapping[str, str] | None = None) -> str:
    """One row per activity of every shift (work, break, meal), by seat then time.
    `date` is the local day the shift starts on; `names`: seat id -> agent name."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for shift in sorted(plan.shifts, key=lambda s: (s.seat, s.start)):
        day = _local(shift.start, tz).date().isoformat()
        name = (names or {}).get(shift.seat, "")
        for activity in shift.timeline():
            writer.writerow((shift.seat, name, shift.group, day, shift.pattern, activity.kind,
                             _local(activity.start, tz).isoformat(), _local(activity.end, tz).isoformat()))  # fmt: skip
    return out.getvalue()


def shift_uid(shift: Shift) -> str:
    """The same seat and start give the same UID, so a calendar that imports the
    file again updates its events instead of adding copies."""
    return f"shift-{shift.seat}-{round(shift.start)}@{UID_DOMAIN}"


def _pauses(shift: Shift, tz: ZoneInfo) -> str:
    lines = [
        f"{pause.kind.capitalize()} {_local(pause.start, tz):%H:%M}-{_local(pause.end, tz):%H:%M}"
        for pause in sorted(shift.activities, key=lambda a: a.start)
    ]
    return "\n".join(lines) if lines else "No break"


def agent_ical(
    plan: Plan,
    seat: str,
    tz: ZoneInfo,
    calendar_name: str,
    *,
    pattern_names: Mapping[str, str] | None = None,
    group_names: Mapping[str, str] | None = None,
    stamp: datetime | None = None,
) -> bytes:
    """The seat's shifts as an iCalendar file: one VEVENT per shift, SUMMARY the
    pattern and group (their names when given), DESCRIPTION the breaks and meal.

    DTSTAMP is `stamp` (when the file was made), by default midnight UTC of the
    plan's first day, so that the same plan always gives the same bytes."""
    first = date.fromisoformat(plan.first_day)
    when = (stamp or datetime.combine(first, datetime.min.time(), UTC)).astimezone(UTC)
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", calendar_name)
    calendar.add("x-wr-timezone", tz.key)
    for shift in sorted((s for s in plan.shifts if s.seat == seat), key=lambda s: s.start):
        pattern = (pattern_names or {}).get(shift.pattern, shift.pattern)
        group = (group_names or {}).get(shift.group, shift.group)
        event = Event()
        event.add("uid", shift_uid(shift))
        event.add("dtstamp", when)
        event.add("dtstart", _local(shift.start, tz))
        event.add("dtend", _local(shift.end, tz))
        event.add("summary", f"{pattern} ({group})")
        event.add("description", _pauses(shift, tz))
        event.add("categories", [group])
        event.add("transp", "OPAQUE")
        calendar.add_component(event)
    # The zone's rules over the plan's and the shifts' days (with a margin), not since 1970.
    days = [first, first + timedelta(days=plan.days)]
    days += [_local(s.start, tz).date() for s in plan.shifts if s.seat == seat]
    calendar.add_missing_timezones(min(days) - timedelta(days=7), max(days) + timedelta(days=7))
    data: bytes = calendar.to_ical()
    return data
