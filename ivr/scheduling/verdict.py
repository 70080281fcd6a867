"""The simulation's verdict on a plan, and plans corrected by it.

Erlang C/A sizes each group alone; the center is not alone: callers overflow
between groups, backup skills answer after `widen`, VIPs go first, breaks
fall where the planner put them, a group with nobody on shift sends callers
elsewhere. `check_plan` runs the plan through the discrete-event simulation
(`simulate.py`) several times with different seeds and reports, per group,
the service level Erlang predicted, the one simulated (pooled over the runs,
with a 95 % half-width across them), the difference, and whether the group
meets its target: **the simulation decides**. It also lists the hours
(group, hour) where the simulation finds the service level below target.

`refine` acts on that verdict: every short hour gets one more agent to
schedule in each of its intervals, the plan is solved again, and checked
again, for a few rounds; each round's verdict is kept so the change shows.
Pure apart from the solver's and the simulation's wall clocks.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TypeVar

from ivr.catalog.model import Catalog
from ivr.metrics import kpi

from .model import Demand, Plan, Requirement, Shift

K = TypeVar("K", bound=Hashable)

HOUR = 3600.0
# A short hour must miss the target by this much in the pooled simulation
# (one interval of a quiet group is a handful of calls: noise, not a verdict).
MARGIN = 0.02
# Student's t for a two-sided 95 % interval, by degrees of freedom (runs - 1).
_T95 = {1: 12.71, 2: 4.30, 3: 3.18, 4: 2.78, 5: 2.57, 6: 2.45, 7: 2.36, 8: 2.31, 9: 2.26}


@dataclass(frozen=True, slots=True)
class GroupVerdict:
    group: str
    target: float
    offered: float  # per run, on average
    erlang_service_level: float | None  # calls-weighted mean of the requirements' prediction
    simulated_service_level: float | None  # pooled over the runs
    half_width: float | None  # 95 % across the runs
    difference: float | None  # simulated - Erlang
    meets_target: bool | None  # the simulation's answer


@dataclass(frozen=True, slots=True)
class ShortHour:
    group: str
    start: float
    simulated_service_level: float
    erlang_service_level: float | None


@dataclass(frozen=True, slots=True)
class SimulationCheck:
    runs: int
    calls_simulated: int
    seconds: float
    groups: tuple[GroupVerdict, ...]
    short_hours: tuple[ShortHour, ...]


def _erlang_by(requirements: Iterable[Requirement], key: Callable[[Requirement], K]) -> dict[K, float]:
    """Erlang's predicted service level, weighted by forecast calls, per `key`."""
    weighted: dict[K, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for r in requirements:
        weighted[key(r)][0] += r.service_level * r.calls
        weighted[key(r)][1] += r.calls
    return {k: s / c for k, (s, c) in weighted.items() if c > 0}


def check_plan(
    catalog: Catalog,
    requirements: Sequence[Requirement],
    shifts: Sequence[Shift],
    *,
    patience: Mapping[str, float] | None = None,
    runs: int = 5,
    seed: int = 0,
) -> SimulationCheck:
    """The plan under the real routing rules, `runs` times (seeds seed..seed+runs-1)."""
    from .simulate import simulate

    if not 1 <= runs <= 10:
        raise ValueError("runs must be 1..10")
    demand = [Demand(r.group, r.start, r.calls, r.aht) for r in requirements if r.calls > 0]
    # (group) -> [within, offered, short] pooled; per run service levels; (group, hour) pooled.
    pooled: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    per_run: dict[str, list[float]] = defaultdict(list)
    hours: dict[tuple[str, float], list[int]] = defaultdict(lambda: [0, 0, 0])
    calls, seconds = 0, 0.0
    for n in range(runs):
        report = simulate(catalog, demand, shifts, patience=patience, seed=seed + n)
        calls += report.calls
        seconds += report.wall_seconds
        for group, total in report.totals.items():
            p = pooled[group]
            p[0], p[1], p[2] = p[0] + total.answered_within, p[1] + total.offered, p[2] + total.short_abandoned
            level = total.service_level
            if level is not None:
                per_run[group].append(level)
        for row in report.intervals:
            h = hours[(row.group, row.start // HOUR * HOUR)]
            h[0], h[1], h[2] = h[0] + row.answered_within, h[1] + row.offered, h[2] + row.short_abandoned
    erlang = _erlang_by(requirements, lambda r: r.group)
    erlang_hours = _erlang_by(requirements, lambda r: (r.group, r.start // HOUR * HOUR))
    verdicts = []
    for queue in catalog.queues:
        if queue.id not in pooled:
            continue
        within, offered, shorts = pooled[queue.id]
        simulated = kpi.service_level(within, offered, shorts)
        levels = per_run[queue.id]
        half = (
            _T95.get(len(levels) - 1, 2.0) * statistics.stdev(levels) / math.sqrt(len(levels))
            if len(levels) > 1 else None
        )  # fmt: skip
        predicted = erlang.get(queue.id)
        target = queue.targets.service_level
        verdicts.append(GroupVerdict(
            queue.id, target, offered / runs, predicted, simulated, half,
            None if simulated is None or predicted is None else simulated - predicted,
            None if simulated is None else simulated >= target,
        ))  # fmt: skip
    targets = {q.id: q.targets.service_level for q in catalog.queues}
    short: list[ShortHour] = []
    for (group, start), (within, offered, shorts) in sorted(hours.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        level = kpi.service_level(within, offered, shorts)
        if level is not None and level < targets.get(group, 0.0) - MARGIN:
            short.append(ShortHour(group, start, level, erlang_hours.get((group, start))))
    return SimulationCheck(runs, calls, seconds, tuple(verdicts), tuple(short))


def raise_short_hours(requirements: Sequence[Requirement], short: Iterable[ShortHour]) -> list[Requirement]:
    """One more agent to schedule in every interval of each short hour."""
    more = {(s.group, s.start) for s in short}
    return [
        dataclasses.replace(r, scheduled=r.scheduled + 1) if (r.group, r.start // HOUR * HOUR) in more else r
        for r in requirements
    ]


@dataclass(frozen=True, slots=True)
class Refined:
    requirements: list[Requirement]
    plan: Plan | None  # the last plan solved, None if the first check found nothing short
    checks: tuple[SimulationCheck, ...]  # one per round, the first before any change


def refine(
    catalog: Catalog,
    requirements: Sequence[Requirement],
    shifts: Sequence[Shift],
    first_day: date,
    days: int,
    *,
    patience: Mapping[str, float] | None = None,
    rounds: int = 1,
    runs: int = 5,
    time_limit: float = 30.0,
    workers: int = 2,
) -> Refined:
    """Check, raise the short hours, solve again: `rounds` times at most, fewer
    when a check finds no short hour."""
    from .shifts import build_plan

    current, planned, plan = list(requirements), tuple(shifts), None
    checks = [check_plan(catalog, current, planned, patience=patience, runs=runs)]
    for _ in range(rounds):
        if not checks[-1].short_hours:
            break
        current = raise_short_hours(current, checks[-1].short_hours)
        plan = build_plan(catalog, current, first_day, days, time_limit=time_limit, workers=workers)
        planned = plan.shifts
        checks.append(check_plan(catalog, current, planned, patience=patience, runs=runs))
    return Refined(current, plan, tuple(checks))
