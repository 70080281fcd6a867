"""The scheduling steps put together: history -> forecast -> staffing -> shift plan.

Pure apart from the solver's wall clock: the CLI (`ivr forecast`, `ivr
staffing`, `ivr schedule build`) and the HTTP routes call these with what they
read from the stores, and store what comes back. The forecast (statsmodels)
and the planner (OR-Tools) are imported when first used, not when `ivr serve`
starts: together they take ~1.5 s and ~70 MiB, which a service that restarts
to serve calls should not pay before its first call; the first plan or
forecast asked of a service pays it once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING

from ivr.catalog.model import Catalog
from ivr.hours.opening import zone
from ivr.metrics.reducer import KpiRow

from .model import INTERVAL_SECONDS, Demand, IntervalStat, Plan, Requirement
from .staffing import StaffingError, measured_shrinkage, patience_from_history, requirements

if TYPE_CHECKING:
    from .forecast import ForecastReport
    from .verdict import SimulationCheck

# How much history a forecast reads (the seasonal baseline's weeks and the model's fit).
HISTORY_DAYS = 8 * 7
MAX_PLAN_DAYS = 14


class PlanningError(ValueError):
    """A request the planner cannot serve (no history, a bad window)."""


def day_bounds(catalog: Catalog, first_day: date, days: int) -> tuple[float, float]:
    """Epoch bounds of `days` local days from `first_day` in the center's time zone."""
    tz = zone(catalog.center.timezone)
    lo = datetime.combine(first_day, time(0), tz).timestamp()
    hi = datetime.combine(first_day + timedelta(days=days), time(0), tz).timestamp()
    return lo, hi


def local_day(catalog: Catalog, at: float) -> date:
    return datetime.fromtimestamp(at, zone(catalog.center.timezone)).date()


def history_from_kpis(rows: Iterable[KpiRow], now: float) -> list[IntervalStat]:
    """Interval history from the metrics reducer's rows cut by group per 15
    minutes; intervals not yet over at `now` are left out (still counting)."""
    out = []
    for row in rows:
        if row.key is None or row.end > now or row.end - row.start != INTERVAL_SECONDS:
            continue
        out.append(
            IntervalStat(
                group=row.key,
                start=row.start,
                offered=row.offered,
                answered=row.answered,
                abandoned=row.abandoned,
                handle_seconds=row.talk_seconds + row.wrapup_seconds,
                handled=row.handled,
                wait_seconds=row.wait_seconds,
            )
        )
    return out


def check_window(first_day: date, days: int) -> None:
    if not 1 <= days <= MAX_PLAN_DAYS:
        raise PlanningError(f"days must be 1..{MAX_PLAN_DAYS}, got {days}")


def demand_for(
    catalog: Catalog, history: Sequence[IntervalStat], first_day: date, days: int, method: str = "best"
) -> list[Demand]:
    check_window(first_day, days)
    if not history:
        raise PlanningError("no interval history: run `ivr history generate` (demo) or let the service record calls")
    from .forecast import ForecastError, forecast

    try:
        return forecast(history, catalog, first_day, days, method)  # type: ignore[arg-type]
    except ForecastError as exc:
        raise PlanningError(str(exc)) from exc


def evaluate_forecast(catalog: Catalog, history: Sequence[IntervalStat], holdout_days: int) -> ForecastReport:
    """WAPE of both forecast methods on the last `holdout_days` of `history`."""
    from .forecast import ForecastError, evaluate

    if not history:
        raise PlanningError("no interval history to evaluate")
    try:
        return evaluate(history, catalog, holdout_days)
    except ForecastError as exc:
        raise PlanningError(str(exc)) from exc



# Abandons a group needs in the history before its patience is estimated (and
# Erlang A used): one or two abandons would give a patience of days.
MIN_ABANDONS = 20


def patience_for(history: Sequence[IntervalStat]) -> dict[str, float]:
    """Mean patience per group (seconds) where the history has `MIN_ABANDONS` abandons or more."""
    abandons: dict[str, int] = {}
    for s in history:
        abandons[s.group] = abandons.get(s.group, 0) + s.abandoned
    return {g: p for g, p in patience_from_history(history).items() if abandons.get(g, 0) >= MIN_ABANDONS}


# Logged-in time the floor watch must have sampled before measured pause shares
# replace the catalog's shrinkage figures (one agent's working week).
MIN_MEASURED_SECONDS = 40 * 3600.0


@dataclass(frozen=True, slots=True)
class ShrinkagePart:
    reason: str
    catalog: float | None
    measured: float | None
    used: float


def shrinkage_parts(
    catalog: Catalog, logged_in_seconds: float, paused_seconds: dict[str, float]
) -> list[ShrinkagePart]:
    """Per reason the catalog plans for: the share of logged-in time measured in
    that pause reason (the floor watch's samples) where there is enough of it,
    else the catalog's figure. Absence cannot be measured from pauses."""
    enough = logged_in_seconds >= MIN_MEASURED_SECONDS
    measured = measured_shrinkage(paused_seconds, logged_in_seconds) if enough else {}
    parts = []
    for reason, planned in sorted(catalog.scheduling.shrinkage.items()):
        seen = measured.get(reason, 0.0) if enough and reason != "absence" else None
        parts.append(ShrinkagePart(reason, planned, seen, planned if seen is None else seen))
    return parts


def measured_shrinkage_total(catalog: Catalog, store_seat_time: tuple[float, dict[str, float]]) -> float:
    """The shrinkage staffing uses: the sum of `shrinkage_parts`' used shares."""
    return sum(part.used for part in shrinkage_parts(catalog, *store_seat_time))


def requirements_for(
    catalog: Catalog, history: Sequence[IntervalStat], demand: Iterable[Demand], shrinkage: float | None = None
) -> list[Requirement]:
    """Staffing for the demand; Erlang A for groups whose callers abandon (patience
    from history, where it has at least `MIN_ABANDONS`), Erlang C for the others;
    `shrinkage` (default: the catalog's total)."""
    try:
        return requirements(demand, catalog, patience=patience_for(history), shrinkage=shrinkage)
    except StaffingError as exc:
        raise PlanningError(str(exc)) from exc


@dataclass(frozen=True, slots=True)
class Built:
    demand: list[Demand]
    requirements: list[Requirement]
    plan: Plan
    window: tuple[float, float]
    # The simulation's verdicts when the plan was corrected by it (ivr.scheduling.verdict).
    checks: tuple[SimulationCheck, ...] = ()


def build_schedule(
    catalog: Catalog,
    history: Sequence[IntervalStat],
    first_day: date,
    days: int,
    *,
    method: str = "best",
    time_limit: float = 30.0,
    workers: int = 2,
    simulation_rounds: int = 0,
    shrinkage: float | None = None,
) -> Built:
    """Forecast, staffing, the CP-SAT plan; with `simulation_rounds`, then checked
    by the simulation and solved again with one more agent in every hour it
    finds short (`verdict.refine`), that many rounds at most."""
    from .shifts import ScheduleError, build_plan
    from .verdict import refine

    demand = demand_for(catalog, history, first_day, days, method)
    needed = requirements_for(catalog, history, demand, shrinkage)
    window = day_bounds(catalog, first_day, days)
    try:
        plan = build_plan(catalog, needed, first_day, days, time_limit=time_limit, workers=workers)
        if not simulation_rounds:
            return Built(demand, needed, plan, window)
        refined = refine(
            catalog, needed, plan.shifts, first_day, days, patience=patience_for(history),
            rounds=simulation_rounds, time_limit=time_limit, workers=workers,
        )  # fmt: skip
    except ScheduleError as exc:
        raise PlanningError(str(exc)) from exc
    return Built(demand, refined.requirements, refined.plan or plan, window, refined.checks)
