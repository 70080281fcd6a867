"""The floor view: per skill group, agents required, scheduled and logged in,
now and for each 15-minute interval of the rest of the day.

Pure: the published requirements and shifts and the live seat states go in.
`required` is agents on the phones (Erlang, occupancy cap); `to_schedule` adds
shrinkage; `scheduled` counts shifts working (not on a break) in the interval;
`logged_in` and `on_the_phones` count seats by their primary group (the group
of their penalty-0 skill, the one their shifts cover).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from ivr.catalog.model import Catalog, Seat
from ivr.metrics.reducer import SeatState

from .adherence import ON_THE_PHONES
from .model import INTERVAL_SECONDS, Requirement, Shift


def primary_group(seat: Seat) -> str:
    """The group of a seat's strongest skill (lowest penalty, first listed on a tie)."""
    return min(seat.skills.items(), key=lambda item: item[1])[0]


def seat_groups(catalog: Catalog, by_seat: Mapping[str, Sequence[Shift]]) -> dict[str, str]:
    """The group each scheduled seat's figures count in: its primary group, or
    the group of its first shift for a seat the catalog no longer has."""
    seats = {seat.id: seat for seat in catalog.seats}
    return {
        seat: primary_group(seats[seat]) if seat in seats and seats[seat].skills else shifts[0].group
        for seat, shifts in by_seat.items()
    }


@dataclass(frozen=True, slots=True)
class FloorInterval:
    start: float
    required: int
    to_schedule: int
    scheduled: int


@dataclass(frozen=True, slots=True)
class FloorGroup:
    group: str
    required: int | None
    to_schedule: int | None
    scheduled: int
    logged_in: int
    on_the_phones: int
    intervals: tuple[FloorInterval, ...]


def working(shifts: Iterable[Shift], at: float) -> Counter[str]:
    return Counter(shift.group for shift in shifts if shift.working_at(at))


def floor_view(
    catalog: Catalog,
    requirements: Sequence[Requirement],
    shifts: Sequence[Shift],
    states: Mapping[str, SeatState],
    now: float,
    day_end: float,
) -> list[FloorGroup]:
    """One entry per catalog group, intervals from the current one to `day_end`."""
    current = now // INTERVAL_SECONDS * INTERVAL_SECONDS
    need = {(r.group, r.start): r for r in requirements}
    primary = {seat.id: primary_group(seat) for seat in catalog.seats if seat.skills}
    logged_in = Counter(primary[s] for s, st in states.items() if s in primary and st is not SeatState.LOGGED_OUT)
    phones = Counter(primary[s] for s, st in states.items() if s in primary and st in ON_THE_PHONES)
    starts = []
    at = current
    while at < day_end:
        starts.append(at)
        at += INTERVAL_SECONDS
    # Count a shift in an interval if it works at the interval's midpoint.
    by_interval = {start: working(shifts, start + INTERVAL_SECONDS / 2) for start in starts}
    now_working = working(shifts, now)
    out = []
    for queue in catalog.queues:
        now_need = need.get((queue.id, current))
        intervals = tuple(
            FloorInterval(
                start,
                need[(queue.id, start)].agents if (queue.id, start) in need else 0,
                need[(queue.id, start)].scheduled if (queue.id, start) in need else 0,
                by_interval[start][queue.id],
            )
            for start in starts
        )
        out.append(
            FloorGroup(
                queue.id,
                now_need.agents if now_need else None,
                now_need.scheduled if now_need else None,
                now_working[queue.id],
                logged_in[queue.id],
                phones[queue.id],
                intervals,
            )
        )
    return out
