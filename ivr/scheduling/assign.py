"""Named seats onto planned shifts: the second stage of the shift planner.

The first stage (`ivr.scheduling.shifts`) decides how many shifts of each
kind a crew works: a crew is the seats of one skill group under one contract,
so its seats are interchangeable. This stage gives every one of those shifts
to a seat, with CP-SAT, under the contract's rules, each of them a hard
constraint on one seat:

- at most one shift a local day, none on a day off, only allowed patterns
  (the crew's slots are filtered before);
- per week of the plan (7-day blocks from the first day): at most
  `days_per_week` days (fewer in a shorter block) and at most the upper end of
  the hours band (`Week`);
- at least `REST_SECONDS` between the end of one shift and the start of the
  next. Only consecutive days can clash: a shift starts before midnight and
  lasts at most 12 hours, so the one after a day off starts at least 12 h 15
  after it ended.

What cannot be met is not infeasible: a shift no seat can take is dropped
(the plan's under-coverage shows it) and a seat below the lower end of its
hours band is penalised, not forbidden. The objective drops as few paid hours
as it can, then leaves as few paid hours short as it can, if need be with an
extra shift like those planned for its crew (`_seat_model`).

The same counting rules, summed over a crew of `size` seats, are necessary
conditions on the shift counts (`add_capacity`): the first stage adds them so
that what it plans can be staffed, and a crew larger than `TEAM_SEATS` is cut
into teams whose counts another small model deals out (`split`) before the
seat-level model runs on each team, which keeps every model small.

Both stages write their models as a `Linear`: integer variables, linear rows
and a linear objective, which CP-SAT solves; the first stage also has GLOP
solve its LP relaxation (`Linear.relax`), to leave out of CP-SAT the columns
that cannot be in a better solution (see `ivr.scheduling.shifts`).
"""

from __future__ import annotations

import itertools
import math
import time
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

from ortools.linear_solver.python import model_builder as mb
from ortools.sat.python import cp_model as cp

from ivr.catalog.scheduling import Contract

# Between the end of a shift and the start of the next (labour rule: 11 hours).
REST_SECONDS = 11 * 3600
# The largest crew solved seat by seat in one model; larger crews are cut into teams.
TEAM_SEATS = 20
# Objective weights of this stage, per paid quarter hour: a planned shift left
# without a seat is far worse than a seat short of its contract's hours, which
# is worse than an extra shift that fills the gap.
DROP_WEIGHT = 1000
SHORT_WEIGHT = 100
EXTRA_WEIGHT = 10
# Solver statuses from best to worst; a plan reports the worst of its sub-solves.
STATUS_RANK = {"OPTIMAL": 0, "FEASIBLE": 1}


def worst(*statuses: str) -> str:
    return max(statuses, key=lambda s: STATUS_RANK.get(s, len(STATUS_RANK)), default="OPTIMAL")


class NoSolution(RuntimeError):
    """CP-SAT found no solution within its time (the caller says where)."""


# -- the models ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Solution:
    values: list[int]
    status: str  # "OPTIMAL" or "FEASIBLE"
    objective: int


@dataclass(frozen=True, slots=True)
class Relaxation:
    values: list[float]
    reduced_costs: list[float]
    objective: float


@dataclass
class Linear:
    """An integer linear model: variables are indexes, rows are lo <= sum(coef x var) <= hi."""

    bounds: list[tuple[int, int]] = field(default_factory=list)
    costs: dict[int, int] = field(default_factory=dict)
    rows: list[tuple[tuple[int, ...], tuple[int, ...], float, float]] = field(default_factory=list)

    def var(self, lo: int, hi: int, cost: int = 0) -> int:
        self.bounds.append((lo, hi))
        if cost:
            self.costs[len(self.bounds) - 1] = cost
        return len(self.bounds) - 1

    def add(
        self, variables: Sequence[int], coefs: Sequence[int] | None = None, *, lo: float = -math.inf,
        hi: float = math.inf,
    ) -> None:  # fmt: skip
        if variables:
            self.rows.append((tuple(variables), tuple(coefs) if coefs is not None else (1,) * len(variables), lo, hi))

    def objective(self, values: Sequence[float]) -> float:
        return sum(cost * values[var] for var, cost in self.costs.items())

    def solve(
        self,
        limit: float,
        workers: int,
        seed: int,
        *,
        zero: Collection[int] = (),
        hint: Sequence[int] | None = None,
        gap: float = 0.0,
    ) -> Solution:
        """CP-SAT's best solution within `limit` seconds; the variables in `zero` are
        fixed at 0. CP-SAT stops early once its objective is within `gap` (relative)
        of its bound; the status is "OPTIMAL" only when the two meet."""
        model = cp.CpModel()
        xs = [model.new_int_var(lo, 0 if var in zero else hi, "") for var, (lo, hi) in enumerate(self.bounds)]
        for variables, coefs, lo, hi in self.rows:
            model.add_linear_constraint(
                cp.LinearExpr.weighted_sum([xs[v] for v in variables], list(coefs)),
                cp.INT_MIN if lo == -math.inf else int(lo),
                cp.INT_MAX if hi == math.inf else int(hi),
            )
        model.minimize(cp.LinearExpr.weighted_sum([xs[v] for v in self.costs], list(self.costs.values())))
        if hint is not None:
            for x, value in zip(xs, hint, strict=True):
                model.add_hint(x, value)
        solver = cp.CpSolver()
        solver.parameters.max_time_in_seconds = max(limit, 0.05)
        solver.parameters.num_workers = workers
        solver.parameters.random_seed = seed
        # The models are LP-like and CP-SAT's best solutions come from diving on the LP:
        # get there early (the whole LP from the start, a light presolve, no cuts).
        solver.parameters.add_lp_constraints_lazily = False
        solver.parameters.cp_model_probing_level = 0
        solver.parameters.symmetry_level = 0
        solver.parameters.max_presolve_iterations = 1
        solver.parameters.max_num_cuts = 0
        solver.parameters.relative_gap_limit = gap
        status = solver.status_name(solver.solve(model))
        if status not in STATUS_RANK:
            raise NoSolution(status)
        objective = round(solver.objective_value)
        if status == "OPTIMAL" and solver.best_objective_bound < objective - 0.5:
            status = "FEASIBLE"  # stopped by the gap limit, not proven
        return Solution([int(v) for v in solver.values(xs)], status, objective)

    def relax(self, limit: float) -> Relaxation | None:
        """The LP relaxation's optimum (GLOP), with reduced costs; None if GLOP did not reach it."""
        model = mb.Model()  # type: ignore[no-untyped-call]  # ortools 9.15: __init__ has no annotations
        xs = [model.new_num_var(lo, hi, None) for lo, hi in self.bounds]
        for variables, coefs, lo, hi in self.rows:
            model.add_linear_constraint(mb.LinearExpr.weighted_sum([xs[v] for v in variables], list(coefs)), lo, hi)
        model.minimize(mb.LinearExpr.weighted_sum([xs[v] for v in self.costs], list(self.costs.values())))
        solver = mb.Solver("glop")
        solver.set_time_limit_in_seconds(max(limit, 0.05))
        if solver.solve(model) != mb.SolveStatus.OPTIMAL:
            return None
        return Relaxation([solver.value(x) for x in xs], [solver.reduced_cost(x) for x in xs], solver.objective_value)


# -- shifts, crews and what they can work ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Slot:
    """A shift that may be worked: one pattern started at one time on one day of the plan."""

    day: int  # local date, as days after the plan's first day
    pattern: str
    start: float  # epoch seconds
    end: float
    first: int  # the start as a quarter hour of the plan (0 = the first day's local midnight)
    quarters: int  # length, breaks and meal included
    paid: int  # quarters paid: the length without the meal
    cost: int  # objective units: paid quarters x cost_per_hour x 100


@dataclass(frozen=True, slots=True)
class Week:
    """A block of at most 7 plan days and what one seat may work in it."""

    days: range
    max_days: int
    min_paid: int  # quarters; the lower end of the hours band, 0 when none
    max_paid: int


@dataclass(frozen=True, slots=True)
class Crew:
    """Seats of one skill group under one contract: interchangeable for the planner."""

    group: str
    contract: Contract
    seats: tuple[str, ...]
    slots: tuple[Slot, ...]  # what the contract allows them to work
    weeks: tuple[Week, ...]


def add_capacity(
    model: Linear, counts: Mapping[Slot, int], size: int, weeks: Sequence[Week], *, soft_min: bool
) -> list[int]:
    """What `size` seats can work, as rows on how many of each slot they work
    (`counts`: variables; one seat's 0/1 variables when size is 1). Returns the
    paid quarters short of the weeks' lower bound when `soft_min`, else makes
    the bound hard."""
    by_day: dict[int, list[Slot]] = defaultdict(list)
    for slot in counts:
        by_day[slot.day].append(slot)
    for day, slots in by_day.items():
        model.add([counts[s] for s in slots], hi=size)
        _add_rest(model, counts, size, slots, by_day.get(day + 1, []))
    short: list[int] = []
    for week in weeks:
        inside = [s for s in counts if s.day in week.days]
        if not inside:
            continue
        model.add([counts[s] for s in inside], hi=week.max_days * size)
        paid = [s.paid for s in inside]
        if week.min_paid and soft_min:
            gap = model.var(0, week.min_paid * size)
            model.add([*(counts[s] for s in inside), gap], [*paid, 1], lo=week.min_paid * size)
            model.add([counts[s] for s in inside], paid, hi=week.max_paid * size)
            short.append(gap)
        else:
            model.add([counts[s] for s in inside], paid, lo=week.min_paid * size, hi=week.max_paid * size)
        if size > 1:
            short += _floor_cuts(model, counts, size, week, inside, soft_min=soft_min)
    return short


def _floor_cuts(
    model: Linear, counts: Mapping[Slot, int], size: int, week: Week, inside: list[Slot], *, soft_min: bool
) -> list[int]:
    """Each seat's floor, carried to the crew's totals. A seat paid p_j for the
    shifts it works, at most D of them and at least L in all, also has
    sum (p_j - q) >= L - q D for any q >= 0; summed over the crew, with q each
    shorter paid length, this keeps a crew from reaching its total on short
    shifts that no single seat could reach its floor with (five 4-hour shifts
    are 20 hours, not 32)."""
    short = []
    for q in sorted({s.paid for s in inside})[:-1]:
        floor = (week.min_paid - q * week.max_days) * size
        if floor <= 0:
            continue
        variables, coefs = [counts[s] for s in inside], [s.paid - q for s in inside]
        if soft_min:
            gap = model.var(0, floor)
            model.add([*variables, gap], [*coefs, 1], lo=floor)
            short.append(gap)
        else:
            model.add(variables, coefs, lo=floor)
    return short


def _add_rest(model: Linear, counts: Mapping[Slot, int], size: int, today: list[Slot], tomorrow: list[Slot]) -> None:
    """Shifts of one day and the next that leave less than the rest between them
    never share a seat. For a bound v, every shift of today ending at v - rest or
    later clashes with every shift of tomorrow starting before v, so together
    they need distinct seats; the bounds v = end + rest cover every clash. Of
    the bounds giving the same tomorrow's set, the smallest is the tightest.

    One seat: each bound is an at-most-one. A crew: the two sides are running
    sums over the bounds (a variable each), so a bound costs three terms, not
    one per slot of the two days."""
    if not tomorrow:
        return
    bounds: list[float] = []
    seen = 0
    for bound in sorted({s.end + REST_SECONDS for s in today}):
        later = sum(1 for t in tomorrow if t.start < bound)
        if later and later != seen:
            bounds.append(bound)
            seen = later
    if size == 1:
        for bound in bounds:
            clash = [counts[s] for s in today if s.end + REST_SECONDS >= bound]
            model.add(clash + [counts[t] for t in tomorrow if t.start < bound], hi=1)
        return
    edges = [*bounds, math.inf]
    # ending[k]: today's shifts with end + rest >= bounds[k]; starting[k]: tomorrow's before bounds[k].
    ending: list[int | None] = [None] * len(bounds)
    for k in reversed(range(len(bounds))):
        step = [counts[s] for s in today if edges[k] <= s.end + REST_SECONDS < edges[k + 1]]
        ending[k] = _running(model, size, ending[k + 1] if k + 1 < len(bounds) else None, step)
    starting: list[int | None] = []
    for k, bound in enumerate(bounds):
        low = bounds[k - 1] if k else -math.inf
        step = [counts[t] for t in tomorrow if low <= t.start < bound]
        starting.append(_running(model, size, starting[-1] if starting else None, step))
    for sides in zip(ending, starting, strict=True):
        model.add([side for side in sides if side is not None], hi=size)


def _running(model: Linear, size: int, before: int | None, step: list[int]) -> int | None:
    """A running sum as a variable: `before` plus `step`."""
    if not step:
        return before
    total = model.var(0, size)
    parts = [*step, *([before] if before is not None else [])]
    model.add([total, *parts], [1, *[-1] * len(parts)], lo=0, hi=0)
    return total


# -- stage 2 ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Assignment:
    shifts: dict[str, list[Slot]]  # seat -> the slots it works
    status: str


def assign(crew: Crew, counts: Mapping[Slot, int], deadline: float, *, workers: int, seed: int) -> Assignment:
    """Seats of `crew` onto `counts` shifts of each slot, by teams of at most
    `TEAM_SEATS`; the time left until `deadline` (time.monotonic) is shared in
    proportion to the seats."""
    counts = {slot: n for slot, n in counts.items() if n > 0}
    teams = _teams(crew.seats)
    status = "OPTIMAL"
    if len(teams) > 1:
        limit = max(0.2, (deadline - time.monotonic()) / 4)
        shares, status = split(crew, counts, teams, limit, workers=workers, seed=seed)
    else:
        shares = [counts]
    out: dict[str, list[Slot]] = {}
    left = len(crew.seats)
    for team, share in zip(teams, shares, strict=True):
        limit = max(0.2, (deadline - time.monotonic()) * len(team) / left)
        left -= len(team)
        shifts, team_status = _seat_model(crew, team, share, limit, workers=workers, seed=seed, spare=list(counts))
        out.update(shifts)
        status = worst(status, team_status)
    return Assignment(out, status)


def _teams(seats: Sequence[str]) -> list[tuple[str, ...]]:
    count = -(-len(seats) // TEAM_SEATS) or 1
    size, extra = divmod(len(seats), count)
    teams, at = [], 0
    for index in range(count):
        end = at + size + (1 if index < extra else 0)
        teams.append(tuple(seats[at:end]))
        at = end
    return teams


def split(
    crew: Crew, counts: Mapping[Slot, int], teams: Sequence[tuple[str, ...]], limit: float, *, workers: int, seed: int
) -> tuple[list[dict[Slot, int]], str]:
    """Deal a crew's shift counts out to its teams so that each team's share meets
    the counting rules for its size (same objective as the seat-level model)."""
    model = Linear()
    shares = [
        {slot: model.var(0, min(n, len(team)), -DROP_WEIGHT * slot.paid) for slot, n in counts.items()}
        for team in teams
    ]
    for team, share in zip(teams, shares, strict=True):
        for gap in add_capacity(model, share, len(team), crew.weeks, soft_min=True):
            model.costs[gap] = SHORT_WEIGHT
    for slot, n in counts.items():
        model.add([share[slot] for share in shares], hi=n)
    found = _solve(model, limit, workers, seed, crew)
    return [{slot: found.values[var] for slot, var in share.items()} for share in shares], found.status


def _seat_model(
    crew: Crew,
    seats: Sequence[str],
    counts: Mapping[Slot, int],
    limit: float,
    *,
    workers: int,
    seed: int,
    spare: Collection[Slot] = (),
) -> tuple[dict[str, list[Slot]], str]:
    """One team's seats onto its `counts`. A seat that would stay below its
    hours band may take an extra shift of a `spare` slot (the crew's planned
    ones): more agents never add under-coverage, and a contract's hours are
    paid whether worked or not."""
    slots = list(dict.fromkeys([*(slot for slot, n in counts.items() if n > 0), *spare]))
    if not slots or not seats:
        return {}, "OPTIMAL"
    model = Linear()
    works = {seat: {slot: model.var(0, 1) for slot in slots} for seat in seats}
    for seat in seats:
        for gap in add_capacity(model, works[seat], 1, crew.weeks, soft_min=True):
            model.costs[gap] = SHORT_WEIGHT
    for slot in slots:
        # worked + dropped - extra = planned
        planned = counts.get(slot, 0)
        dropped = model.var(0, planned, DROP_WEIGHT * slot.paid)
        extra = model.var(0, len(seats), EXTRA_WEIGHT * slot.paid)
        model.add([*(works[seat][slot] for seat in seats), dropped, extra], [1] * len(seats) + [1, -1],
                  lo=planned, hi=planned)  # fmt: skip
    # The seats are interchangeable: order them by paid time to cut symmetric search.
    paid = [s.paid for s in slots]
    for before, after in itertools.pairwise(seats):
        model.add([*works[before].values(), *works[after].values()], [*paid, *(-p for p in paid)], lo=0)
    found = _solve(model, limit, workers, seed, crew)
    return {seat: [slot for slot, var in works[seat].items() if found.values[var]] for seat in seats}, found.status


def _solve(model: Linear, limit: float, workers: int, seed: int, crew: Crew) -> Solution:
    """Leaving every shift unstaffed is a solution, so CP-SAT only fails when its
    time ran out in presolve: then once more with three times as long."""
    try:
        return model.solve(limit, workers, seed)
    except NoSolution:
        try:
            return model.solve(3 * limit, workers, seed)
        except NoSolution as exc:
            raise NoSolution(f"{crew.group}, seats {crew.seats[0]}..: {exc}") from exc
