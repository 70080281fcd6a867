"""Opening hours of a line: weekly hours, public holidays, make-up working days.

Pure: `is_open(calendar, when)` takes an aware datetime and the catalog's
calendar and answers in the center's time zone (Asia/Shanghai by default).
The order of rules, most specific first:
1. a make-up working day (调休, `workdays`): open during its own hours, even
   on a weekend;
2. a public holiday (`holidays`): closed all day;
3. the weekday's hours (`open`); a weekday not listed is closed.
A range "HH:MM-HH:MM" includes its start and excludes its end; "24:00" ends
at midnight. Ranges do not cross midnight: write two.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ivr.catalog.model import Calendar, Catalog, ServiceNumber

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class HoursError(ValueError):
    """A time zone that does not exist, or a naive datetime."""


def _minutes(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def _ranges(ranges: Iterable[str]) -> list[tuple[int, int]]:
    out = []
    for text in ranges:
        start, end = text.split("-")
        out.append((_minutes(start), _minutes(end)))
    return out


def hours_on(calendar: Calendar, day: date) -> list[tuple[int, int]]:
    """Open ranges on `day`, as (start, end) minutes after local midnight."""
    if day in calendar.workdays:
        return _ranges(calendar.workdays[day])
    if day in calendar.holidays:
        return []
    return _ranges(calendar.open.get(WEEKDAYS[day.weekday()], ()))  # type: ignore[call-overload]


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise HoursError(f"unknown time zone {name!r}") from exc


def is_open(calendar: Calendar, when: datetime, tz: ZoneInfo) -> bool:
    if when.tzinfo is None:
        raise HoursError("is_open needs an aware datetime")
    local = when.astimezone(tz)
    minute = local.hour * 60 + local.minute
    return any(start <= minute < end for start, end in hours_on(calendar, local.date()))


def next_opening(calendar: Calendar, when: datetime, tz: ZoneInfo, horizon_days: int = 31) -> datetime | None:
    """When the line opens next (now if open), within `horizon_days`; None if never."""
    local = when.astimezone(tz)
    for offset in range(horizon_days + 1):
        day = local.date() + timedelta(days=offset)
        for start, end in sorted(hours_on(calendar, day)):
            begin = datetime.combine(day, time(start // 60, start % 60), tz) if start < 1440 else None
            if begin is None:
                continue
            if offset == 0 and local.hour * 60 + local.minute >= end:
                continue
            return max(begin, local)
    return None


def line_is_open(catalog: Catalog, line: ServiceNumber, when: datetime) -> bool:
    """Whether `line` takes calls for agents at `when`; a line without hours always does."""
    if line.hours is None:
        return True
    return is_open(catalog.calendars[line.hours], when, zone(catalog.center.timezone))
