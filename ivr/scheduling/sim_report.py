"""What a simulated day says: per group and interval, the KPIs of `ivr.metrics.kpi`.

Two kinds of figures share a row, and they are attributed differently:

- Call figures (offered, answered, abandons, moves between groups) belong to
  the caller's *first* group (the group of its `Demand`) and the interval it
  *arrived* in, whatever happened later, as `ivr.metrics.kpi` attributes a
  live call to the moment it joined. A caller that overflows is offered once,
  in its first group; its wait runs on in the next group and it is judged
  against its first group's `service_level_seconds`. The group it left counts
  it in `overflowed_out`, the group it entered in `overflowed_in` (same
  arrival interval), so `offered` summed over groups is the number of calls.
  `empty_out` / `empty_in` count the same for `when_empty` moves.
- Agent figures (talk, wrap-up and ready seconds) belong to the group of the
  shift the agent works (`Shift.group`, its primary skill) and the interval
  the seconds fall in, whichever group the call came from: occupancy says how
  busy the people planned for a group were.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from ivr.metrics import kpi
from ivr.scheduling.model import INTERVAL_SECONDS, Requirement

# Indexes of `_Row.seconds`: what an agent's time was spent on.
TALK, WRAPUP, READY = 0, 1, 2


@dataclass(frozen=True, slots=True)
class GroupStats:
    """One group over one interval (or, in `SimulationReport.totals`, over the whole run)."""

    group: str
    start: float
    end: float
    offered: int = 0
    answered: int = 0
    # Answered with a wait <= the group's service_level_seconds (inclusive, as app_queue counts).
    answered_within: int = 0
    # Answered with no wait at all (a free seat at once): 1 - this / offered is Erlang C's P(wait).
    answered_immediately: int = 0
    # Abandons after `kpi.SHORT_ABANDON_SECONDS`; the short ones are counted apart.
    abandoned: int = 0
    short_abandoned: int = 0
    overflowed_out: int = 0
    overflowed_in: int = 0
    empty_out: int = 0
    empty_in: int = 0
    # Sent away by an empty group without `when_empty` (the dialplan's no-agent message).
    exited: int = 0
    # Still waiting when the run ended (no agent left on shift who could take them).
    unserved: int = 0
    answered_wait_seconds: float = 0.0
    # Agents whose shift is for this group: seconds talking, in wrap-up, and ready (idle).
    talk_seconds: float = 0.0
    wrapup_seconds: float = 0.0
    ready_seconds: float = 0.0

    @property
    def service_level(self) -> float | None:
        return kpi.service_level(self.answered_within, self.offered, self.short_abandoned)

    @property
    def asa(self) -> float | None:
        return kpi.average_speed_of_answer(self.answered_wait_seconds, self.answered)

    @property
    def answer_rate(self) -> float | None:
        return kpi.answer_rate(self.answered, self.offered)

    @property
    def abandon_rate(self) -> float | None:
        return kpi.abandon_rate(self.abandoned, self.offered, self.short_abandoned)

    @property
    def occupancy(self) -> float | None:
        return kpi.occupancy(self.talk_seconds, self.wrapup_seconds, self.ready_seconds, 0.0)

    @property
    def staffed(self) -> float:
        """Agents of the group on the phones (ready or busy), on average over the span."""
        span = self.end - self.start
        return (self.talk_seconds + self.wrapup_seconds + self.ready_seconds) / span if span > 0 else 0.0


@dataclass(frozen=True, slots=True)
class SeatStats:
    """One seat over the whole run: how much of the work its strategy and skills gave it."""

    seat: str
    calls: int
    talk_seconds: float
    wrapup_seconds: float
    ready_seconds: float

    @property
    def occupancy(self) -> float | None:
        return kpi.occupancy(self.talk_seconds, self.wrapup_seconds, self.ready_seconds, 0.0)


@dataclass(frozen=True)
class SimulationReport:
    """A simulated run: rows per group and interval, per-group totals, and what it cost."""

    # Ordered by group, then interval start.
    intervals: tuple[GroupStats, ...]
    totals: Mapping[str, GroupStats]
    seats: Mapping[str, SeatStats]
    calls: int
    seed: int
    # The one figure that is not a function of the inputs: left out of equality.
    wall_seconds: float = field(compare=False)
    _index: dict[tuple[str, float], GroupStats] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", {(row.group, row.start): row for row in self.intervals})

    def interval(self, group: str, start: float) -> GroupStats | None:
        return self._index.get((group, start))

    def totals_by_day(self, timezone: str) -> dict[str, dict[str, GroupStats]]:
        """Per local day (ISO date in `timezone`, an IANA name) and group, the day's totals."""
        zone = ZoneInfo(timezone)
        days: dict[str, dict[str, list[GroupStats]]] = {}
        for row in self.intervals:
            day = datetime.fromtimestamp(row.start, zone).date().isoformat()
            days.setdefault(day, {}).setdefault(row.group, []).append(row)
        return {day: {group: _total(group, rows) for group, rows in groups.items()} for day, groups in days.items()}

    @property
    def calls_per_second(self) -> float:
        return self.calls / self.wall_seconds if self.wall_seconds > 0 else 0.0


@dataclass(frozen=True, slots=True)
class Comparison:
    """Erlang's prediction for one group and interval beside the simulated day.

    The simulation runs the shift plan, not `required_agents`: a gap comes from
    the model (multi-skill routing, overflow, priorities, breaks, the randomness
    of one day) or from the plan covering the interval with more or fewer
    agents than required (`staffed_agents`).
    """

    group: str
    start: float
    forecast_calls: float
    offered: int
    required_agents: int
    staffed_agents: float
    predicted_service_level: float
    simulated_service_level: float | None
    # simulated - predicted; None when nobody was offered in the interval.
    difference: float | None
    predicted_asa: float
    simulated_asa: float | None


def compare(report: SimulationReport, requirements: Sequence[Requirement]) -> list[Comparison]:
    """Per requirement (group and interval), predicted vs simulated service level and ASA."""
    out: list[Comparison] = []
    for need in requirements:
        row = report.interval(need.group, need.start) or GroupStats(
            need.group, need.start, need.start + INTERVAL_SECONDS
        )
        simulated = row.service_level
        out.append(
            Comparison(
                group=need.group,
                start=need.start,
                forecast_calls=need.calls,
                offered=row.offered,
                required_agents=need.agents,
                staffed_agents=row.staffed,
                predicted_service_level=need.service_level,
                simulated_service_level=simulated,
                difference=None if simulated is None else simulated - need.service_level,
                predicted_asa=need.asa,
                simulated_asa=row.asa,
            )
        )
    return out


class Row:
    """The mutable counters behind one `GroupStats` while the simulation runs."""

    __slots__ = (
        "abandoned", "answered", "answered_immediately", "answered_wait_seconds", "answered_within", "empty_in",
        "empty_out", "exited", "offered", "overflowed_in", "overflowed_out", "seconds", "short_abandoned", "unserved",
    )  # fmt: skip

    def __init__(self) -> None:
        self.offered = self.answered = self.answered_within = self.answered_immediately = 0
        self.abandoned = self.short_abandoned = self.exited = self.unserved = 0
        self.overflowed_out = self.overflowed_in = self.empty_out = self.empty_in = 0
        self.answered_wait_seconds = 0.0
        self.seconds = [0.0, 0.0, 0.0]  # TALK, WRAPUP, READY


class Tally:
    """Rows keyed by (group, interval number), filled by the engine."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, int], Row] = {}

    def row(self, group: str, at: float) -> Row:
        key = (group, int(at // INTERVAL_SECONDS))
        row = self.rows.get(key)
        if row is None:
            row = self.rows[key] = Row()
        return row

    def spend(self, group: str, begin: float, end: float, kind: int) -> None:
        """Add an agent's seconds in [begin, end) to `kind`, split at interval boundaries."""
        while begin < end:
            number = int(begin // INTERVAL_SECONDS)
            upto = min(end, (number + 1) * INTERVAL_SECONDS)
            key = (group, number)
            row = self.rows.get(key)
            if row is None:
                row = self.rows[key] = Row()
            row.seconds[kind] += upto - begin
            begin = upto

    def report(self, seats: Mapping[str, SeatStats], calls: int, seed: int, wall_seconds: float) -> SimulationReport:
        intervals = tuple(_stats(group, number, row) for (group, number), row in sorted(self.rows.items()))
        by_group: dict[str, list[GroupStats]] = {}
        for stats in intervals:
            by_group.setdefault(stats.group, []).append(stats)
        totals = {group: _total(group, rows) for group, rows in by_group.items()}
        return SimulationReport(intervals, totals, seats, calls, seed, wall_seconds)


def _stats(group: str, number: int, row: Row) -> GroupStats:
    start = float(number * INTERVAL_SECONDS)
    return GroupStats(
        group=group,
        start=start,
        end=start + INTERVAL_SECONDS,
        offered=row.offered,
        answered=row.answered,
        answered_within=row.answered_within,
        answered_immediately=row.answered_immediately,
        abandoned=row.abandoned,
        short_abandoned=row.short_abandoned,
        overflowed_out=row.overflowed_out,
        overflowed_in=row.overflowed_in,
        empty_out=row.empty_out,
        empty_in=row.empty_in,
        exited=row.exited,
        unserved=row.unserved,
        answered_wait_seconds=row.answered_wait_seconds,
        talk_seconds=row.seconds[TALK],
        wrapup_seconds=row.seconds[WRAPUP],
        ready_seconds=row.seconds[READY],
    )


def _total(group: str, rows: Iterable[GroupStats]) -> GroupStats:
    rows = list(rows)
    return GroupStats(
        group=group,
        start=min(row.start for row in rows),
        end=max(row.end for row in rows),
        offered=sum(row.offered for row in rows),
        answered=sum(row.answered for row in rows),
        answered_within=sum(row.answered_within for row in rows),
        answered_immediately=sum(row.answered_immediately for row in rows),
        abandoned=sum(row.abandoned for row in rows),
        short_abandoned=sum(row.short_abandoned for row in rows),
        overflowed_out=sum(row.overflowed_out for row in rows),
        overflowed_in=sum(row.overflowed_in for row in rows),
        empty_out=sum(row.empty_out for row in rows),
        empty_in=sum(row.empty_in for row in rows),
        exited=sum(row.exited for row in rows),
        unserved=sum(row.unserved for row in rows),
        answered_wait_seconds=sum(row.answered_wait_seconds for row in rows),
        talk_seconds=sum(row.talk_seconds for row in rows),
        wrapup_seconds=sum(row.wrapup_seconds for row in rows),
        ready_seconds=sum(row.ready_seconds for row in rows),
    )
