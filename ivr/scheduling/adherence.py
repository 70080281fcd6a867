"""Adherence and in-seat rate (在位率): each agent's schedule against what their seat did.

Pure: the schedule (`Shift`s) and a seat's state timeline (from the metrics
reducer, `CenterState.seat_timeline`) go in, figures come out; time is passed in.

What the schedule says at an instant, per agent: `work` (inside a shift, not on
a break or meal), `break`, `meal`, or `off` (no shift). What counts as keeping
to it (adherent):
- `work`: logged in and not paused (available, ringing, on a call, wrap-up);
- `break`, `meal`, `off`: paused or logged out;
- on a call or in wrap-up is always adherent: a call is never cut because a
  break or the end of a shift comes (the planner's breaks move; calls do not).

Adherence = adherent seconds / scheduled seconds (the shifts' whole length,
breaks included, inside the window). In-seat rate = logged-in, not-paused
seconds / scheduled work seconds (breaks and meal excluded): the case study's
在位率, `ivr.metrics.kpi.in_seat_rate`. An agent is *out of adherence* once the
current non-adherent run has lasted longer than the catalog's tolerance
(`scheduling.adherence_tolerance_minutes`): a short slip (a call's last
minute, a break taken two minutes late) raises nothing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from ivr.metrics.reducer import SeatState

from .model import INTERVAL_SECONDS, Shift

Scheduled = Literal["work", "break", "meal", "off"]
Timeline = Sequence[tuple[float, float, SeatState]]

ON_THE_PHONES = frozenset({SeatState.AVAILABLE, SeatState.RINGING, SeatState.ON_CALL, SeatState.WRAP_UP})
BUSY = frozenset({SeatState.ON_CALL, SeatState.WRAP_UP})


def scheduled_at(shifts: Iterable[Shift], at: float) -> Scheduled:
    """What an agent's shifts say they do at `at`."""
    for shift in shifts:
        if shift.start <= at < shift.end:
            for activity in shift.activities:
                if activity.start <= at < activity.end:
                    return "meal" if activity.kind == "meal" else "break"
            return "work"
    return "off"


def is_adherent(scheduled: Scheduled, state: SeatState) -> bool:
    if state in BUSY:
        return True
    if scheduled == "work":
        return state in ON_THE_PHONES
    return state in (SeatState.PAUSED, SeatState.LOGGED_OUT)


def _edges(shifts: Iterable[Shift], lo: float, hi: float) -> list[float]:
    points = {lo, hi}
    for shift in shifts:
        for t in (shift.start, shift.end, *(x for a in shift.activities for x in (a.start, a.end))):
            if lo < t < hi:
                points.add(t)
    return sorted(points)


def _pieces(
    shifts: Sequence[Shift], timeline: Timeline, lo: float, hi: float, step: float | None = None
) -> Iterable[tuple[float, float, Scheduled, SeatState]]:
    """(start, seconds, scheduled, state) over [lo, hi), split wherever either changes
    (and at every multiple of `step`). Time the timeline does not cover counts
    as logged out."""
    cuts = _edges(shifts, lo, hi)
    if step:
        at = (lo // step + 1) * step
        cuts = sorted({*cuts, *(at + i * step for i in range(int((hi - at) // step) + 1) if at + i * step < hi)})
    states = sorted((max(s, lo), min(e, hi), st) for s, e, st in timeline if e > lo and s < hi)
    at, i = lo, 0
    while at < hi:
        while i < len(states) and states[i][1] <= at:
            i += 1
        if i < len(states) and states[i][0] <= at:
            state, state_end = states[i][2], states[i][1]
        else:
            state, state_end = SeatState.LOGGED_OUT, states[i][0] if i < len(states) else hi
        nxt = min(state_end, next((c for c in cuts if c > at), hi))
        yield at, nxt - at, scheduled_at(shifts, at), state
        at = nxt


@dataclass(frozen=True, slots=True)
class AgentAdherence:
    """One agent over a window."""

    seat: str
    scheduled_seconds: float  # shift time, breaks included
    work_seconds: float  # scheduled work: shift time minus breaks and meal
    adherent_seconds: float  # of scheduled_seconds
    in_seat_seconds: float  # logged in and not paused, whenever
    adherence: float | None
    in_seat_rate: float | None


def agent_adherence(seat: str, shifts: Sequence[Shift], timeline: Timeline, lo: float, hi: float) -> AgentAdherence:
    scheduled = work = adherent = in_seat = 0.0
    for _, seconds, planned, state in _pieces(shifts, timeline, lo, hi):
        if state in ON_THE_PHONES:
            in_seat += seconds
        if planned == "off":
            continue
        scheduled += seconds
        work += seconds if planned == "work" else 0.0
        adherent += seconds if is_adherent(planned, state) else 0.0
    return AgentAdherence(
        seat, scheduled, work, adherent, in_seat,
        adherence=adherent / scheduled if scheduled else None,
        in_seat_rate=in_seat / work if work else None,
    )  # fmt: skip


Sums = tuple[float, float, float, float]  # scheduled, work, adherent, in-seat seconds


def sums_by_interval(
    shifts: Sequence[Shift], timeline: Timeline, lo: float, hi: float, interval: float = INTERVAL_SECONDS
) -> dict[float, Sums]:
    """`agent_adherence`'s sums per interval of [lo, hi), in one pass (KPI rows)."""
    out: dict[float, list[float]] = {}
    for at, seconds, planned, state in _pieces(shifts, timeline, lo, hi, interval):
        bucket = out.setdefault(at // interval * interval, [0.0, 0.0, 0.0, 0.0])
        if state in ON_THE_PHONES:
            bucket[3] += seconds
        if planned != "off":
            bucket[0] += seconds
            bucket[1] += seconds if planned == "work" else 0.0
            bucket[2] += seconds if is_adherent(planned, state) else 0.0
    return {start: (s[0], s[1], s[2], s[3]) for start, s in out.items()}


@dataclass(frozen=True, slots=True)
class GroupAdherence:
    group: str
    agents: int  # agents with a shift for the group in the window
    scheduled_seconds: float
    work_seconds: float
    adherent_seconds: float
    in_seat_seconds: float
    adherence: float | None
    in_seat_rate: float | None


def group_adherence(rows: Iterable[tuple[str, AgentAdherence]]) -> list[GroupAdherence]:
    """(group, agent figures) pairs summed per group: ratios of sums, not means of ratios."""
    sums: dict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0.0, 0.0, 0.0])
    for group, a in rows:
        s = sums[group]
        s[0] += 1
        s[1] += a.scheduled_seconds
        s[2] += a.work_seconds
        s[3] += a.adherent_seconds
        s[4] += a.in_seat_seconds
    return [
        GroupAdherence(
            group,
            int(n),
            scheduled,
            work,
            adherent,
            in_seat,
            adherence=adherent / scheduled if scheduled else None,
            in_seat_rate=in_seat / work if work else None,
        )
        for group, (n, scheduled, work, adherent, in_seat) in sorted(sums.items())
    ]


@dataclass(frozen=True, slots=True)
class OutOfAdherence:
    """An agent whose seat has not matched the schedule for longer than the tolerance."""

    seat: str
    group: str
    scheduled: Scheduled
    state: SeatState
    since: float
    seconds: float


def out_of_adherence(
    seat: str, group: str, shifts: Sequence[Shift], timeline: Timeline, now: float, tolerance: float
) -> OutOfAdherence | None:
    """The current non-adherent run ending at `now`, if longer than `tolerance` seconds."""
    lo = now - 86400.0
    run_start: float | None = None
    last: tuple[Scheduled, SeatState] | None = None
    for at, _, planned, state in _pieces(shifts, timeline, lo, now):
        if is_adherent(planned, state):
            run_start = None
        elif run_start is None:
            run_start = at
        last = (planned, state)
    if run_start is None or last is None or now - run_start <= tolerance:
        return None
    return OutOfAdherence(seat, group, last[0], last[1], run_start, now - run_start)


def alerts(
    by_seat: Mapping[str, Sequence[Shift]],
    timelines: Mapping[str, Timeline],
    groups: Mapping[str, str],
    now: float,
    tolerance: float,
) -> list[OutOfAdherence]:
    """`out_of_adherence` of every scheduled seat, in seat order."""
    found = (
        out_of_adherence(seat, groups[seat], by_seat[seat], timelines[seat], now, tolerance) for seat in sorted(by_seat)
    )
    return [a for a in found if a is not None]


def scheduled_seconds_by_interval(shifts: Iterable[Shift], lo: float, hi: float) -> dict[str, dict[float, float]]:
    """Scheduled work seconds per seat and 15-minute interval in [lo, hi): the
    `Schedule` the metrics reducer takes for the in-seat rate of its KPI rows."""
    out: dict[str, dict[float, float]] = defaultdict(dict)
    for shift in shifts:
        start = max(lo, shift.start // INTERVAL_SECONDS * INTERVAL_SECONDS)
        while start < min(hi, shift.end):
            seconds = shift.work_seconds_in(start, start + INTERVAL_SECONDS)
            if seconds > 0:
                per = out[shift.seat]
                per[start] = per.get(start, 0.0) + seconds
            start += INTERVAL_SECONDS
    return dict(out)


def shifts_by_seat(shifts: Iterable[Shift]) -> Mapping[str, list[Shift]]:
    by: dict[str, list[Shift]] = defaultdict(list)
    for shift in shifts:
        by[shift.seat].append(shift)
    return by
