"""The shift plan (集中排班): who works when, breaks and meal placed, solved with CP-SAT.

Theory of operation. Requirements say, per skill group and 15-minute
interval, how many agents should be working (`Requirement.scheduled`). Each
seat covers one group: its primary skill (penalty 0; else its lowest
penalty, the first listed on a tie); overflow between groups is left to the
simulation. Groups are independent, and inside a group the seats under one
contract (a crew, `ivr.scheduling.assign.Crew`) are interchangeable, so the
plan is solved in two stages:

1. Cover (one CP-SAT model per group). A slot is a pattern started at one of
   its starts (every `start_step_minutes` of its window) on a day whose
   weekday the pattern lists; a start late enough runs past midnight and
   covers the next day. Integer variables: n[c, s], how many shifts of slot s
   crew c works (only slots its contract allows, never on its days off), and
   b[s, r, o], how many of the slot's shifts take break (or meal) rule r at
   offset o of its window (sum over o = shifts of s). Agents working in
   interval i: shifts running at i minus pauses running at i; with
   under[i], over[i] >= 0, working[i] + under[i] - over[i] = required[i].
   Each crew's counts meet what its seats can work, summed
   (`assign.add_capacity`: a shift a day per seat, days and paid hours per
   week, 11 h rest), so the counts can be staffed. Minimise
   cost (paid quarter hours x cost_per_hour) + UNDER_WEIGHT x under
   + OVER_WEIGHT x over: under-coverage first, then cost, then over-coverage.
   When a pattern's pause windows may overlap, the model keeps the rules in
   order: for every offset y, the shifts whose later pause started by y are
   at most those whose earlier pause ended by y, so pairing the k-th earliest
   offsets of every rule gives each shift pauses in order, without overlap.
   GLOP solves the model's LP relaxation first: its optimum is a lower bound
   (reported beside the objective), and columns whose reduced cost shows they
   cannot be in a better solution are left out of CP-SAT's model (`_cover`).
2. Assign (`ivr.scheduling.assign`): the crew's shifts onto named seats with
   a CP-SAT model per team of at most `assign.TEAM_SEATS` seats.

The pauses of a slot's shifts are dealt out to its seats in order; if the
second stage had to drop shifts, the group's pauses are placed again for the
shifts kept (stage 1 with the counts fixed). The plan's under-coverage and
cost are measured on the final shifts.

The contract's hours are a band: paid hours a week within plus or minus one
shift (hours_per_week / days_per_week) of hours_per_week, prorated for a
block of fewer than 7 days. The weekly curve rarely fits every agent into
exactly their hours: one shift of slack lets the plan give an agent four
days instead of five, or a short shift, where the curve needs it, and hours
are balanced over the settlement period (综合计算工时). The upper end and
the days per week are hard; the lower end (clipped to what a seat can reach
with its patterns and days) is a penalty dearer than any paid hour: on the
crew's total in stage 1 (`OWED_HOURS_WEIGHT`), on each seat in stage 2. So a plan
always exists, and a seat below its band is one the plan could not fill.

Edges the plan does not see: the night shift of the day before the first day
(the first night's early hours are under-covered unless a pattern starts
then) and the rest since the previous plan's last shifts.
"""

from __future__ import annotations

import math
import time as clock
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from ivr.catalog.model import Catalog, Seat
from ivr.catalog.scheduling import ALL_WEEKDAYS, BreakRule, Contract, ShiftPattern, minutes_of
from ivr.hours.opening import zone

from .assign import (
    REST_SECONDS,
    Crew,
    Linear,
    NoSolution,
    Relaxation,
    Slot,
    Solution,
    Week,
    add_capacity,
    assign,
    worst,
)
from .model import INTERVAL_SECONDS, Activity, ActivityKind, Plan, Requirement, Shift

QUARTER_MINUTES = INTERVAL_SECONDS // 60
# Objective units: a paid quarter hour at cost_per_hour 1.0 is COST_SCALE (a paid hour 400).
COST_SCALE = 100
# An agent-interval short costs five paid hours: a shift is added wherever it
# removes two or more of them. Over-coverage breaks ties (where pauses go).
UNDER_WEIGHT = 20 * COST_SCALE
OVER_WEIGHT = COST_SCALE // 10
# A paid quarter hour a crew's contracts are owed but not given: dearer than any
# paid quarter (cost_per_hour is at most 10), so seats get their hours when they
# can; not a hard bound, so that a plan always exists.
OWED_HOURS_WEIGHT = 10 * COST_SCALE + 1
# Share of the time limit for stage 1; stage 2 has the rest.
COVER_SHARE = 0.85
# Columns whose reduced cost exceeds this share of the LP's optimum start out of CP-SAT's model.
PRUNE_SLACK = 0.02
# Stage 1 stops once CP-SAT's objective is within this share of its bound (at the
# case study's size, 0.1 % of the objective is a few dozen agent-intervals).
COVER_GAP = 0.001
# No sub-solve gets less than this (seconds), whatever is left of the budget.
MIN_SOLVE_SECONDS = 1.0


class ScheduleError(ValueError):
    """A plan that cannot be built or an edit that breaks a rule; the message says which."""


@dataclass(frozen=True, slots=True)
class StageRun:
    """One sub-solve: stage "cover", "assign" or "pauses" of one group."""

    stage: str
    group: str
    seconds: float
    status: str
    shifts: int = 0  # cover: shifts planned; assign: shifts given to a seat
    objective: float | None = None  # cover: the objective found, and the LP relaxation's optimum below it
    bound: float | None = None


@dataclass(frozen=True, slots=True)
class PlanRun:
    plan: Plan
    stages: tuple[StageRun, ...]


def build_plan(
    catalog: Catalog,
    requirements: Sequence[Requirement],
    first_day: date,
    days: int,
    *,
    time_limit: float = 30.0,
    workers: int = 2,
    seed: int = 0,
) -> Plan:
    """The shift plan of the groups in `requirements` for `days` local days from
    `first_day` (seats whose group has no requirement get no shift).

    `time_limit` (seconds) is shared by the sub-solves: `COVER_SHARE` of it for
    stage 1 (half evenly between groups, half by required agent-intervals, what
    a group leaves passed on), the rest for stage 2 by seats. No sub-solve gets
    less than `MIN_SOLVE_SECONDS`, so a very small limit is overrun. `workers`:
    CP-SAT threads; `seed`: its random seed (runs that hit their time limit
    still vary with the machine's load)."""
    return solve_plan(catalog, requirements, first_day, days, time_limit=time_limit, workers=workers, seed=seed).plan


def solve_plan(
    catalog: Catalog,
    requirements: Sequence[Requirement],
    first_day: date,
    days: int,
    *,
    time_limit: float = 30.0,
    workers: int = 2,
    seed: int = 0,
) -> PlanRun:
    """`build_plan` with the time and status of each sub-solve."""
    if days < 1:
        raise ScheduleError(f"days must be at least 1, got {days}")
    if not time_limit > 0 or workers < 1:
        raise ScheduleError("time_limit must be positive and workers at least 1")
    if not catalog.scheduling.patterns:
        raise ScheduleError("the catalog has no shift patterns (scheduling.patterns)")
    began = clock.monotonic()
    horizon = Horizon.of(catalog, first_day, days)
    need = _needs(requirements, horizon)
    patterns = {pattern.id: pattern for pattern in catalog.scheduling.patterns}
    pauses = {pattern_id: pause_rules(pattern) for pattern_id, pattern in patterns.items()}
    # A pattern that is not `plannable` (a cover shift) is placed by supervisors only.
    slots = _slots(horizon, [pattern for pattern in patterns.values() if pattern.plannable])
    crews = _crews(catalog, list(need), slots, horizon)
    runs: list[StageRun] = []

    # Stage 1. Half its budget evenly (a model's size does not depend on its group's), half by required
    # agent-intervals; what a group leaves goes to the next ones.
    covers: dict[str, _Cover] = {}
    cover_end = began + time_limit * COVER_SHARE
    volume = sum(sum(row) for row in need.values()) or 1
    weight = {group: 0.5 / len(need) + 0.5 * sum(need[group]) / volume for group in need}
    left = sum(weight.values())
    for group in need:
        limit = max(MIN_SOLVE_SECONDS, (cover_end - clock.monotonic()) * weight[group] / left)
        left -= weight[group]
        at = clock.monotonic()
        cover = covers[group] = _cover(group, need[group], crews[group], pauses, limit, workers, seed)
        planned = sum(sum(mine.values()) for mine in cover.counts)
        runs.append(
            StageRun("cover", group, clock.monotonic() - at, cover.status, planned, cover.objective, cover.bound)
        )

    # Stage 2: shares of what is left by seats.
    end = began + time_limit
    seats_left = sum(len(crew.seats) for group in need for crew in crews[group])
    shifts: list[Shift] = []
    for group in need:
        at = clock.monotonic()
        worked: dict[Slot, list[str]] = defaultdict(list)
        status = "OPTIMAL"
        for crew, counts in zip(crews[group], covers[group].counts, strict=True):
            share = max(MIN_SOLVE_SECONDS, (end - clock.monotonic()) * len(crew.seats) / max(seats_left, 1))
            seats_left -= len(crew.seats)
            try:
                done = assign(crew, counts, clock.monotonic() + share, workers=workers, seed=seed)
            except NoSolution as exc:
                raise ScheduleError(f"group {group}: no seat assignment within the time limit ({exc})") from exc
            status = worst(status, done.status)
            for seat, taken in done.shifts.items():
                for slot in taken:
                    worked[slot].append(seat)
        placed = covers[group].pauses
        kept = {slot: len(seats) for slot, seats in worked.items()}
        runs.append(StageRun("assign", group, clock.monotonic() - at, status, sum(kept.values())))
        if any(kept.get(slot, 0) != len(offsets[0]) for slot, offsets in placed.items() if offsets):
            at = clock.monotonic()
            again = _cover(group, need[group], crews[group], pauses, MIN_SOLVE_SECONDS * 2, workers, seed, fixed=kept)
            placed = again.pauses
            runs.append(StageRun("pauses", group, clock.monotonic() - at, again.status))
        shifts += _shifts(group, worked, placed, pauses)

    shifts.sort(key=lambda s: (s.start, s.seat))
    plan = Plan(
        first_day=first_day.isoformat(),
        days=days,
        shifts=tuple(shifts),
        status=worst(*(run.status for run in runs)),
        cost=plan_cost(shifts, catalog),
        under_coverage=float(_under(shifts, need, horizon)),
        solve_seconds=round(clock.monotonic() - began, 3),
    )
    return PlanRun(plan, tuple(runs))


# -- the time axis ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Horizon:
    """The plan's local days in the center's time zone, cut in quarter hours from the first midnight."""

    first_day: date
    days: int
    tz: ZoneInfo
    start: float  # epoch of the first day's local midnight
    intervals: int

    @classmethod
    def of(cls, catalog: Catalog, first_day: date, days: int) -> Horizon:
        tz = zone(catalog.center.timezone)
        start = datetime.combine(first_day, time(0), tz).timestamp()
        end = datetime.combine(first_day + timedelta(days=days), time(0), tz).timestamp()
        return cls(first_day, days, tz, start, round((end - start) / INTERVAL_SECONDS))

    def at(self, day: int, minute: int) -> float:
        """Epoch of a local wall-clock time (minutes after midnight) on day `day` of the plan."""
        return datetime.combine(
            self.first_day + timedelta(days=day), time(minute // 60, minute % 60), self.tz
        ).timestamp()

    def quarter(self, epoch: float) -> int:
        return math.floor((epoch - self.start) / INTERVAL_SECONDS)

    def weekday(self, day: int) -> str:
        return ALL_WEEKDAYS[(self.first_day + timedelta(days=day)).weekday()]


def _needs(requirements: Iterable[Requirement], horizon: Horizon) -> dict[str, list[int]]:
    """Agents to schedule per group and quarter hour of the plan (requirements outside it are ignored)."""
    need: dict[str, list[int]] = {}
    for req in requirements:
        row = need.setdefault(req.group, [0] * horizon.intervals)
        index = horizon.quarter(req.start)
        if 0 <= index < horizon.intervals:
            row[index] = max(row[index], max(0, int(req.scheduled)))
    return need


# -- patterns, slots, crews ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PauseRule:
    """A break or the meal of a pattern in quarter hours: `quarters` long, starting
    `first` to `last` quarters after the shift starts."""

    kind: ActivityKind
    quarters: int
    first: int
    last: int


def pause_rules(pattern: ShiftPattern) -> tuple[PauseRule, ...]:
    """The pattern's breaks and meal, in the order a shift takes them (by window)."""
    rules: list[tuple[ActivityKind, BreakRule]] = [("break", rule) for rule in pattern.breaks]
    if pattern.meal is not None:
        rules.append(("meal", pattern.meal))
    out = [PauseRule(kind, r.minutes // QUARTER_MINUTES, r.earliest // QUARTER_MINUTES, r.latest // QUARTER_MINUTES)
           for kind, r in rules]  # fmt: skip
    return tuple(sorted(out, key=lambda r: (r.first, r.last)))


def _starts(pattern: ShiftPattern) -> range:
    return range(minutes_of(pattern.earliest_start), minutes_of(pattern.latest_start) + 1, pattern.start_step_minutes)


def _slot(horizon: Horizon, day: int, pattern: ShiftPattern, minute: int) -> Slot:
    start = horizon.at(day, minute)
    paid = pattern.paid_minutes // QUARTER_MINUTES
    return Slot(
        day=day, pattern=pattern.id, start=start, end=start + pattern.length_minutes * 60,
        first=horizon.quarter(start), quarters=pattern.length_minutes // QUARTER_MINUTES,
        paid=paid, cost=paid * round(pattern.cost_per_hour * COST_SCALE),
    )  # fmt: skip


def _slots(horizon: Horizon, patterns: Iterable[ShiftPattern]) -> list[Slot]:
    return [
        _slot(horizon, day, pattern, minute)
        for day in range(horizon.days)
        for pattern in patterns
        if horizon.weekday(day) in pattern.days
        for minute in _starts(pattern)
    ]


def group_of(seat: Seat) -> str:
    """The group a seat's shifts cover: its strongest skill (lowest penalty, first listed on a tie)."""
    return min(seat.skills.items(), key=lambda item: item[1])[0]


def allows(contract: Contract, pattern_id: str) -> bool:
    return not contract.patterns or pattern_id in contract.patterns


def weeks(contract: Contract, horizon: Horizon, slots: Sequence[Slot]) -> tuple[Week, ...]:
    """The contract's limits per 7-day block of the plan (see the module's note on the band).
    The lower end is clipped to what a seat can reach with `slots` (its allowed slots)."""
    out = []
    per_shift = contract.hours_per_week / contract.days_per_week
    for first in range(0, horizon.days, 7):
        block = range(first, min(first + 7, horizon.days))
        target = contract.hours_per_week * len(block) / 7
        max_days = min(contract.days_per_week, len(block))
        longest = Counter[int]()
        for slot in slots:
            if slot.day in block:
                longest[slot.day] = max(longest[slot.day], slot.paid)
        reachable = sum(sorted(longest.values(), reverse=True)[:max_days])
        low = max(0, math.ceil((target - per_shift) * 4 - 1e-9))
        out.append(Week(block, max_days, min(low, reachable), math.floor((target + per_shift) * 4 + 1e-9)))
    return tuple(out)


def _crews(catalog: Catalog, groups: Sequence[str], slots: Sequence[Slot], horizon: Horizon) -> dict[str, list[Crew]]:
    by_contract: dict[str, dict[Contract, list[str]]] = {group: {} for group in groups}
    for seat in catalog.seats:
        group = group_of(seat)
        if group in by_contract:
            by_contract[group].setdefault(catalog.contract(seat), []).append(seat.id)
    crews: dict[str, list[Crew]] = {}
    for group, contracts in by_contract.items():
        crews[group] = []
        for contract, seats in contracts.items():
            allowed = tuple(
                s for s in slots if allows(contract, s.pattern) and horizon.weekday(s.day) not in contract.days_off
            )
            crews[group].append(Crew(group, contract, tuple(seats), allowed, weeks(contract, horizon, allowed)))
    return crews


# -- stage 1: cover --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Cover:
    counts: list[dict[Slot, int]]  # per crew: shifts of each slot (empty when the counts were given)
    pauses: dict[Slot, list[list[int]]]  # per slot and rule: the offsets (quarters) of its shifts' pauses, sorted
    status: str
    objective: int
    bound: float | None  # the LP relaxation's optimum


@dataclass(frozen=True, slots=True)
class _Columns:
    """Where a stage 1 model keeps its decisions (variable indexes of its `Linear`)."""

    counts: list[dict[Slot, int]]  # per crew: shifts of each slot
    offsets: dict[Slot, list[dict[int, int]]]  # per slot and pause rule: shifts pausing at each offset


def _cover_model(
    need: Sequence[int],
    crews: Sequence[Crew],
    pauses: Mapping[str, tuple[PauseRule, ...]],
    fixed: Mapping[Slot, int] | None,
) -> tuple[Linear, _Columns]:
    model = Linear()
    seats = sum(len(crew.seats) for crew in crews)
    counts: list[dict[Slot, int]] = []
    shifts: dict[Slot, list[int]] = defaultdict(list)
    if fixed is None:
        for crew in crews:
            mine = {slot: model.var(0, len(crew.seats), slot.cost) for slot in crew.slots}
            for gap in add_capacity(model, mine, len(crew.seats), crew.weeks, soft_min=True):
                model.costs[gap] = OWED_HOURS_WEIGHT
            counts.append(mine)
            for slot, var in mine.items():
                shifts[slot].append(var)
        taken = {slot: 0 for slot in shifts}
    else:
        taken = {slot: n for slot, n in fixed.items() if n > 0}
    # terms[i]: what adds to (shifts) or takes from (pauses) the agents working in quarter hour i;
    # given[i]: agents of the fixed shifts.
    terms: list[list[tuple[int, int]]] = [[] for _ in need]
    given = [0] * len(need)
    offsets: dict[Slot, list[dict[int, int]]] = {}
    for slot, n in taken.items():
        for i in range(slot.first, min(slot.first + slot.quarters, len(need))):
            terms[i] += [(var, 1) for var in shifts[slot]]
            given[i] += n
        bound = n or seats
        offsets[slot] = []
        rules = pauses[slot.pattern]
        for rule in rules:
            at = {o: model.var(0, bound) for o in range(rule.first, rule.last + 1)}
            model.add([*at.values(), *shifts[slot]], [1] * len(at) + [-1] * len(shifts[slot]), lo=n, hi=n)
            for o, var in at.items():
                for i in range(slot.first + o, min(slot.first + o + rule.quarters, len(need))):
                    terms[i].append((var, -1))
            offsets[slot].append(at)
        for (earlier, before), later in zip(zip(rules, offsets[slot], strict=True), offsets[slot][1:], strict=False):
            if earlier.last + earlier.quarters > min(later):
                # Shifts whose later pause starts by y <= those whose earlier one ended by y.
                for y in later:
                    ended = [v for o, v in before.items() if o + earlier.quarters <= y]
                    started = [v for o, v in later.items() if o <= y]
                    model.add([*started, *ended], [1] * len(started) + [-1] * len(ended), hi=0)
    for i, required in enumerate(need):
        if not terms[i] and not required and not given[i]:
            continue
        short = model.var(0, required, UNDER_WEIGHT)
        extra = model.var(0, seats, OVER_WEIGHT)
        variables = [var for var, _ in terms[i]]
        coefs = [coef for _, coef in terms[i]]
        model.add([*variables, short, extra], [*coefs, 1, -1], lo=required - given[i], hi=required - given[i])
    return model, _Columns(counts, offsets)


def _cover(
    group: str,
    need: Sequence[int],
    crews: Sequence[Crew],
    pauses: Mapping[str, tuple[PauseRule, ...]],
    limit: float,
    workers: int,
    seed: int,
    *,
    fixed: Mapping[Slot, int] | None = None,
) -> _Cover:
    """Stage 1 for one group (with `fixed` shift counts, only the pauses are placed).

    GLOP solves the LP relaxation first. A column (a slot's count, a pause
    offset's count) at 0 in the LP's optimum whose reduced cost d is large is
    left out of the CP-SAT model: any solution using it costs at least
    LP + d. If CP-SAT proves the smaller model optimal at z and every column
    left out has LP + d >= z, z is optimal for the whole model; otherwise the
    columns with LP + d < z go back in and CP-SAT starts again from z's
    solution (a plan then reported FEASIBLE unless that one is proven)."""
    began = clock.monotonic()
    model, columns = _cover_model(need, crews, pauses, fixed)
    prunable = [var for mine in columns.counts for var in mine.values()]
    prunable += [var for rules in columns.offsets.values() for at in rules for var in at.values()]
    relaxed = model.relax(limit / 4)
    left_out: set[int] = set()
    if relaxed is not None:
        slack = max(PRUNE_SLACK * abs(relaxed.objective), UNDER_WEIGHT)
        left_out = {v for v in prunable if relaxed.values[v] < 1e-6 and relaxed.reduced_costs[v] > slack}
    try:
        found = _solve_cover(model, limit - (clock.monotonic() - began), workers, seed, left_out, None)
        missed = _missed(relaxed, left_out, found.objective)
        if missed and found.status == "OPTIMAL" and clock.monotonic() - began < limit:
            # Optimal without the columns left out, which could still do better: put them back.
            left_out -= missed
            again = _solve_cover(model, limit - (clock.monotonic() - began), workers, seed, left_out, found.values)
            found = again if again.objective <= found.objective else found
            missed = _missed(relaxed, left_out, found.objective)
    except NoSolution as exc:
        raise ScheduleError(f"group {group}: no shift plan within the time limit ({exc})") from exc
    status = found.status if not missed else "FEASIBLE"
    values = found.values
    placed = {
        slot: [sorted(o for o, var in at.items() for _ in range(values[var])) for at in rules]
        for slot, rules in columns.offsets.items()
    }
    counts = [{slot: values[var] for slot, var in mine.items() if values[var]} for mine in columns.counts]
    return _Cover(counts, placed, status, found.objective, relaxed.objective if relaxed else None)


def _solve_cover(
    model: Linear, limit: float, workers: int, seed: int, left_out: set[int], hint: Sequence[int] | None
) -> Solution:
    """CP-SAT on a stage 1 model; if it is still in presolve when the time is up, once more with three times as long."""
    try:
        return model.solve(max(limit, MIN_SOLVE_SECONDS), workers, seed, zero=left_out, hint=hint, gap=COVER_GAP)
    except NoSolution:
        return model.solve(3 * max(limit, MIN_SOLVE_SECONDS), workers, seed, zero=left_out, hint=hint, gap=COVER_GAP)


def _missed(relaxed: Relaxation | None, left_out: set[int], objective: int) -> set[int]:
    """Columns left out that could be in a solution better than `objective`."""
    if relaxed is None or not left_out:
        return set()
    bar = objective - 1e-6 * max(1.0, abs(objective))
    return {v for v in left_out if relaxed.objective + relaxed.reduced_costs[v] < bar}


def _pause(rule: PauseRule, start: float, offset: int) -> Activity:
    """The rule's pause taken `offset` quarter hours after a shift's `start`."""
    return Activity(rule.kind, start + offset * INTERVAL_SECONDS, start + (offset + rule.quarters) * INTERVAL_SECONDS)


def _shifts(
    group: str, worked: Mapping[Slot, list[str]], placed: Mapping[Slot, list[list[int]]],
    pauses: Mapping[str, tuple[PauseRule, ...]],
) -> list[Shift]:  # fmt: skip
    """Shifts of the group: the k-th seat of a slot (by id) takes the k-th earliest offset of every pause rule."""
    out = []
    for slot, seats in worked.items():
        rules = pauses[slot.pattern]
        for k, seat in enumerate(sorted(seats)):
            activities = tuple(_pause(rule, slot.start, at[k]) for rule, at in zip(rules, placed[slot], strict=True))
            out.append(Shift(seat, group, slot.pattern, slot.start, slot.end, activities))
    return out


# -- measures --------------------------------------------------------------------------------------------------------


def coverage(plan: Plan, start: float, end: float) -> dict[tuple[str, float], int]:
    """Agents working (`Shift.working_at`) per group and interval start in [start, end),
    intervals every 15 minutes from `start`; every group of the plan, zeros included."""
    if end <= start:
        return {}
    count = math.ceil((end - start) / INTERVAL_SECONDS)
    out = {
        (group, start + i * INTERVAL_SECONDS): 0
        for group in sorted({s.group for s in plan.shifts})
        for i in range(count)
    }
    for shift in plan.shifts:
        first = max(0, math.ceil((shift.start - start) / INTERVAL_SECONDS))
        for i in range(first, count):
            at = start + i * INTERVAL_SECONDS
            if at >= shift.end:
                break
            if shift.working_at(at):
                out[shift.group, at] += 1
    return out


def _under(shifts: Sequence[Shift], need: Mapping[str, Sequence[int]], horizon: Horizon) -> int:
    plan = Plan(horizon.first_day.isoformat(), horizon.days, tuple(shifts), "", 0.0, 0.0, 0.0)
    working = coverage(plan, horizon.start, horizon.start + horizon.intervals * INTERVAL_SECONDS)
    return sum(
        max(0, required - working.get((group, horizon.start + i * INTERVAL_SECONDS), 0))
        for group, row in need.items()
        for i, required in enumerate(row)
    )


def paid_seconds(shift: Shift) -> float:
    """The shift's length without its meal (breaks are paid)."""
    return shift.end - shift.start - sum(a.end - a.start for a in shift.activities if a.kind == "meal")


def plan_cost(shifts: Iterable[Shift], catalog: Catalog) -> float:
    """Paid hours x the pattern's cost_per_hour, summed."""
    rate = {pattern.id: pattern.cost_per_hour for pattern in catalog.scheduling.patterns}
    return round(sum(paid_seconds(s) / 3600 * rate.get(s.pattern, 1.0) for s in shifts), 2)


# -- a supervisor's edit ---------------------------------------------------------------------------------------------


def edit_shift(
    catalog: Catalog, plan: Plan, seat: str, day: date, start: str | time, pattern: str | None = None
) -> Shift:
    """The seat's shift on local `day` moved to `start` ("HH:MM" local), on `pattern`
    (default: the shift's own), or a new shift if the seat has none that day (then
    `pattern` defaults to the first the contract allows whose window takes `start`).

    Pure check of the contract's rules against the seat's other shifts in `plan`;
    raises `ScheduleError` saying which rule the edit breaks. Pauses keep their
    offsets from the start when the pattern is unchanged; on another pattern each
    keeps its offset clamped into the new window (in order, without overlap)."""
    found = next((s for s in catalog.seats if s.id == seat), None)
    if found is None:
        raise ScheduleError(f"unknown seat {seat}")
    contract = catalog.contract(found)
    tz = zone(catalog.center.timezone)
    minute = start.hour * 60 + start.minute if isinstance(start, time) else _minute_of(start)
    mine = [s for s in plan.shifts if s.seat == seat]
    old = next((s for s in mine if datetime.fromtimestamp(s.start, tz).date() == day), None)
    first = date.fromisoformat(plan.first_day)
    if not 0 <= (day - first).days < plan.days:
        raise ScheduleError(f"{day} is outside the plan ({plan.first_day}, {plan.days} days)")
    chosen = _pattern_for(catalog, contract, old, pattern, minute)
    weekday = ALL_WEEKDAYS[day.weekday()]
    if weekday in contract.days_off:
        raise ScheduleError(f"{day} is a day off of seat {seat} ({weekday})")
    if weekday not in chosen.days:
        raise ScheduleError(f"pattern {chosen.id} is not worked on {weekday}s")
    _check_start(chosen, minute)
    begin = datetime.combine(day, time(minute // 60, minute % 60), tz).timestamp()
    shift = Shift(
        seat=seat, group=old.group if old else group_of(found), pattern=chosen.id, start=begin,
        end=begin + chosen.length_minutes * 60, activities=_moved_pauses(chosen, old, begin),
    )  # fmt: skip
    others = sorted((s for s in mine if s is not old), key=lambda s: s.start)
    _check_rest(shift, others, tz)
    _check_hours(catalog, contract, plan, seat, old, shift, others, tz)
    return shift


def _minute_of(text: str) -> int:
    try:
        minute = minutes_of(text)
    except ValueError:
        raise ScheduleError(f"start {text!r} is not HH:MM") from None
    if not 0 <= minute < 24 * 60:
        raise ScheduleError(f"start {text!r} is not a time of day")
    return minute


def _pattern_for(
    catalog: Catalog, contract: Contract, old: Shift | None, wanted: str | None, minute: int
) -> ShiftPattern:
    if wanted is None and old is not None:
        wanted = old.pattern
    if wanted is None:
        fits = [p for p in catalog.scheduling.patterns if allows(contract, p.id) and minute in _starts(p)]
        if not fits:
            raise ScheduleError(f"no shift pattern of the contract starts at {minute // 60:02d}:{minute % 60:02d}")
        return fits[0]
    try:
        chosen = catalog.scheduling.pattern(wanted)
    except KeyError:
        raise ScheduleError(f"unknown shift pattern {wanted!r}") from None
    if not allows(contract, chosen.id):
        raise ScheduleError(f"pattern {chosen.id} is not in the seat's contract ({', '.join(contract.patterns)})")
    return chosen


def _check_start(pattern: ShiftPattern, minute: int) -> None:
    if minute not in _starts(pattern):
        raise ScheduleError(
            f"pattern {pattern.id} starts between {pattern.earliest_start} and {pattern.latest_start}"
            f" every {pattern.start_step_minutes} minutes, not at {minute // 60:02d}:{minute % 60:02d}"
        )


def _moved_pauses(pattern: ShiftPattern, old: Shift | None, begin: float) -> tuple[Activity, ...]:
    previous: dict[str, list[int]] = defaultdict(list)
    if old is not None:
        for pause in sorted(old.activities, key=lambda a: a.start):
            previous[pause.kind].append(round((pause.start - old.start) / INTERVAL_SECONDS))
    out = []
    free = 0
    for rule in pause_rules(pattern):
        wanted = previous[rule.kind].pop(0) if previous[rule.kind] else rule.first
        offset = max(min(max(wanted, rule.first), rule.last), free)
        if offset > rule.last:
            raise ScheduleError(f"the pauses of pattern {pattern.id} do not fit in their windows")
        out.append(_pause(rule, begin, offset))
        free = offset + rule.quarters
    return tuple(out)


def _check_rest(shift: Shift, others: Sequence[Shift], tz: ZoneInfo) -> None:
    for other in others:
        gap = shift.start - other.end if other.start < shift.start else other.start - shift.end
        if gap < REST_SECONDS:
            when = datetime.fromtimestamp(other.start, tz).strftime("%Y-%m-%d %H:%M")
            raise ScheduleError(
                f"only {gap / 3600:g} h of rest beside the shift starting {when},"
                f" at least {REST_SECONDS // 3600} h needed"
            )


def _check_hours(
    catalog: Catalog, contract: Contract, plan: Plan, seat: str, old: Shift | None, new: Shift,
    others: Sequence[Shift], tz: ZoneInfo,
) -> None:  # fmt: skip
    """The seat's week (7-day block of the plan) stays within its days and under the
    top of its hours band; below the band is allowed only if not made worse."""
    first = date.fromisoformat(plan.first_day)

    def block(s: Shift) -> int:
        return (datetime.fromtimestamp(s.start, tz).date() - first).days // 7

    week = block(new)
    same = [s for s in others if block(s) == week]
    days_in = min(7, plan.days - week * 7) if plan.days > week * 7 else 7
    target = contract.hours_per_week * days_in / 7
    per_shift = contract.hours_per_week / contract.days_per_week
    hours = sum(paid_seconds(s) for s in [*same, new]) / 3600
    before = sum(paid_seconds(s) for s in [*same, *([old] if old and block(old) == week else [])]) / 3600
    if len(same) + 1 > min(contract.days_per_week, days_in):
        raise ScheduleError(f"seat {seat} would work more than {contract.days_per_week} days that week")
    if hours > target + per_shift + 1e-9:
        raise ScheduleError(f"seat {seat} would be paid {hours:g} h that week, over {target + per_shift:g} h")
    if hours < target - per_shift - 1e-9 and hours < before - 1e-9:
        raise ScheduleError(f"seat {seat} would be paid {hours:g} h that week, under {target - per_shift:g} h")
