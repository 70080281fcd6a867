"""The values central scheduling passes between its steps.

history (IntervalStat) -> forecast (Demand) -> staffing (Requirement)
-> shift plan (Shift, Plan) -> simulation, adherence and in-seat rate.

Every time is epoch seconds (UTC); an interval is the 15 minutes starting at
`start` (aligned to the center's local quarter hours, which are the epoch's
for every whole-quarter-hour time zone). Local dates and weekdays are worked
out at the edges with the catalog's time zone (`ivr.hours.opening.zone`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

INTERVAL_SECONDS = 900
INTERVALS_PER_DAY = 96


@dataclass(frozen=True, slots=True)
class IntervalStat:
    """What one skill group saw in one 15-minute interval of the past (ACD interval data)."""

    group: str
    start: float
    offered: int
    answered: int
    abandoned: int
    # Talk + wrap-up seconds of the calls handled (ended) in the interval, and their count.
    handle_seconds: float
    handled: int
    # Seconds callers spent waiting in the queue (answered and abandoned):
    # abandoned / wait_seconds estimates the callers' patience rate (Erlang A).
    wait_seconds: float = 0.0

    @property
    def aht(self) -> float | None:
        return self.handle_seconds / self.handled if self.handled else None


@dataclass(frozen=True, slots=True)
class Demand:
    """Forecast calls and average handle time for one group and interval."""

    group: str
    start: float
    calls: float
    aht: float


StaffingModel = Literal["erlang_c", "erlang_a"]


@dataclass(frozen=True, slots=True)
class Requirement:
    """Agents one group needs in one interval to meet its service-level target."""

    group: str
    start: float
    calls: float
    aht: float
    # On the phones (Erlang C/A, then the occupancy cap).
    agents: int
    # To schedule: agents / (1 - shrinkage), rounded up.
    scheduled: int
    # Predicted with `agents` on the phones.
    service_level: float
    asa: float
    occupancy: float
    # Erlang A only: the share of callers who abandon.
    abandon_rate: float | None
    model: StaffingModel


ActivityKind = Literal["work", "break", "meal"]


@dataclass(frozen=True, slots=True)
class Activity:
    kind: ActivityKind
    start: float
    end: float


@dataclass(frozen=True, slots=True)
class Shift:
    """One agent's shift on one day: where they work and when they are off the phones."""

    seat: str
    # The skill group the shift covers (the agent's primary skill).
    group: str
    pattern: str
    start: float
    end: float
    # Breaks and the meal inside [start, end); the rest is work.
    activities: tuple[Activity, ...] = ()

    def timeline(self) -> list[Activity]:
        """The shift as consecutive activities, work included, in time order."""
        out: list[Activity] = []
        at = self.start
        for pause in sorted(self.activities, key=lambda a: a.start):
            if pause.start > at:
                out.append(Activity("work", at, pause.start))
            out.append(pause)
            at = pause.end
        if at < self.end:
            out.append(Activity("work", at, self.end))
        return out

    def working_at(self, at: float) -> bool:
        """On the phones at `at` (inside the shift and not on a break or meal)."""
        if not self.start <= at < self.end:
            return False
        return not any(a.start <= at < a.end for a in self.activities)

    def work_seconds_in(self, lo: float, hi: float) -> float:
        """Seconds of work (breaks and meal excluded) inside [lo, hi)."""
        total = max(0.0, min(hi, self.end) - max(lo, self.start))
        for a in self.activities:
            total -= max(0.0, min(hi, a.end) - max(lo, a.start))
        return total


@dataclass(frozen=True, slots=True)
class Plan:
    """A shift plan for a run of days: the shifts and how they cover the requirements."""

    first_day: str  # ISO date, local
    days: int
    shifts: tuple[Shift, ...]
    # Solver status ("OPTIMAL", "FEASIBLE"), objective and wall time, as the solver said.
    status: str
    cost: float
    under_coverage: float  # agent-intervals required but not scheduled
    solve_seconds: float
