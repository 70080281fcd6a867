"""HTTP routes of central scheduling. Viewers read (forecast, staffing, plans,
floor, adherence, the picture of the day, an agent's calendar); supervisors
build plans, edit shifts and run simulations; admins publish. Every change is
in the audit trail.

Forecasts, staffing, solving and simulating are CPU work on values copied out
of the stores: they run in a worker thread, one at a time (`Desk.busy`), so a
plan being solved never holds the event loop that serves calls.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, Field

from ivr.app import CATALOG
from ivr.audit.feature import AUDIT
from ivr.audit.trail import AuditEntry
from ivr.catalog.model import Catalog
from ivr.hours.opening import zone
from ivr.metrics.adapters.http import STATE
from ivr.metrics.reducer import KpiRow
from ivr.web import PRINCIPAL, Conflict, InvalidRequest, NotFound, read_json, read_query

from . import planning
from .adherence import agent_adherence, alerts, group_adherence, shifts_by_seat, sums_by_interval
from .chart import day_chart
from .floor import floor_view, seat_groups
from .model import Demand, Plan, Requirement, Shift
from .planning import PlanningError
from .store import PlanInfo, ScheduleStore

SCHEDULES = web.AppKey("schedule_store", ScheduleStore)
DESK_LOCK = web.AppKey("schedule_desk_lock", asyncio.Lock)

Method = Literal["seasonal", "model", "best"]


class WindowQuery(BaseModel):
    """Days to plan: `first_day` (local date; default tomorrow) and `days` (1-14)."""

    model_config = {"extra": "forbid"}
    first_day: date | None = None
    days: int = Field(1, ge=1, le=planning.MAX_PLAN_DAYS)
    method: Method = "best"


class AccuracyQuery(BaseModel):
    model_config = {"extra": "forbid"}
    holdout_days: int = Field(7, ge=1, le=28)


class BuildRequest(BaseModel):
    model_config = {"extra": "forbid"}
    first_day: date
    days: int = Field(7, ge=1, le=planning.MAX_PLAN_DAYS)
    method: Method = "best"
    time_limit: float = Field(30, ge=1, le=300, description="solver seconds")
    simulation_rounds: int = Field(0, ge=0, le=3, description="check by simulation and solve again, this many times")


class PlanQuery(BaseModel):
    model_config = {"extra": "forbid"}
    format: Literal["json", "csv"] = "json"
    seat: str | None = Field(None, pattern=r"^[1-9][0-9]{2,5}$")


class ShiftEdit(BaseModel):
    """Move an agent's shift on a local day to another start (and pattern), or remove it."""

    model_config = {"extra": "forbid"}
    day: date
    start: str | None = Field(None, pattern=r"^([01][0-9]|2[0-3]):(00|15|30|45)$", description="HH:MM local")
    pattern: str | None = Field(None, pattern=r"^[a-z][a-z0-9_]{0,31}$")
    remove: bool = False


class AdherenceQuery(BaseModel):
    model_config = {"extra": "forbid", "populate_by_name": True}
    from_: float | None = Field(None, alias="from", ge=0, le=4102444800, allow_inf_nan=False)
    to: float | None = Field(None, ge=0, le=4102444800, allow_inf_nan=False)
    group_by: Literal["agent", "group"] = "agent"


class ChartQuery(BaseModel):
    model_config = {"extra": "forbid"}
    plan: int | None = Field(None, ge=1)
    day: date | None = None


# -- helpers -------------------------------------------------------------------


def _today(catalog: Catalog, now: float) -> date:
    return planning.local_day(catalog, now)


def _iso(at: float, catalog: Catalog) -> str:
    return datetime.fromtimestamp(at, zone(catalog.center.timezone)).isoformat()


def _requirement(r: Requirement, catalog: Catalog) -> dict[str, Any]:
    out = dataclasses.asdict(r)
    out["interval_start"] = _iso(r.start, catalog)
    return out


def _shift(s: Shift, catalog: Catalog) -> dict[str, Any]:
    return {
        "seat": s.seat, "group": s.group, "pattern": s.pattern,
        "start": _iso(s.start, catalog), "end": _iso(s.end, catalog),
        "activities": [{"kind": a.kind, "start": _iso(a.start, catalog), "end": _iso(a.end, catalog)}
                       for a in s.activities],
    }  # fmt: skip


async def _history(request: web.Request, first_day: date) -> list[Any]:
    catalog = request.app[CATALOG]
    hi, _ = planning.day_bounds(catalog, first_day, 1)
    return await asyncio.to_thread(request.app[SCHEDULES].history, hi - planning.HISTORY_DAYS * 86400, hi)


async def _work(request: web.Request, fn: Any, *args: Any, **kwargs: Any) -> Any:
    """CPU work in a thread, one job at a time; a planning error is a 409."""
    async with request.app[DESK_LOCK]:
        try:
            return await asyncio.to_thread(fn, *args, **kwargs)
        except PlanningError as exc:
            raise Conflict(str(exc)) from exc


def _window(request: web.Request, query: WindowQuery) -> tuple[date, int]:
    catalog = request.app[CATALOG]
    first = query.first_day or _today(catalog, datetime.now(UTC).timestamp()) + timedelta(days=1)
    return first, query.days


def _plan_or_404(info: PlanInfo | None, plan_id: int) -> PlanInfo:
    if info is None:
        raise NotFound(f"no plan {plan_id}", {"plan": plan_id})
    return info


def _wake(request: web.Request) -> None:
    watch = request.app.get(ADHERENCE_ALERTS)
    if watch is not None:
        watch.wake.set()


def _audit(request: web.Request, action: str, target: str, before: Any = None, after: Any = None) -> None:
    request.app[AUDIT].record(
        AuditEntry.by(
            request[PRINCIPAL], at=datetime.now(UTC), action=action, target=target, before=before, after=after
        )
    )


# -- forecast and staffing -------------------------------------------------------


async def get_forecast(request: web.Request) -> web.Response:
    query = read_query(request, WindowQuery)
    catalog = request.app[CATALOG]
    first, days = _window(request, query)
    history = await _history(request, first)
    demand: list[Demand] = await _work(request, planning.demand_for, catalog, history, first, days, query.method)
    return web.json_response({
        "first_day": first.isoformat(), "days": days, "method": query.method,
        "intervals": [{**dataclasses.asdict(d), "interval_start": _iso(d.start, catalog)} for d in demand],
    })  # fmt: skip


async def get_forecast_accuracy(request: web.Request) -> web.Response:
    query = read_query(request, AccuracyQuery)
    catalog = request.app[CATALOG]
    history = await _history(request, _today(catalog, datetime.now(UTC).timestamp()))
    report = await _work(request, planning.evaluate_forecast, catalog, history, query.holdout_days)
    return web.json_response(dataclasses.asdict(report))


async def get_staffing(request: web.Request) -> web.Response:
    query = read_query(request, WindowQuery)
    catalog = request.app[CATALOG]
    first, days = _window(request, query)
    history = await _history(request, first)
    parts = planning.shrinkage_parts(catalog, *await _seat_time(request))
    shrinkage = sum(p.used for p in parts)

    def staff() -> list[Requirement]:
        demand = planning.demand_for(catalog, history, first, days, query.method)
        return planning.requirements_for(catalog, history, demand, shrinkage)

    needed: list[Requirement] = await _work(request, staff)
    return web.json_response({
        "first_day": first.isoformat(), "days": days, "occupancy_cap": catalog.scheduling.occupancy_cap,
        "shrinkage": shrinkage, "shrinkage_parts": [dataclasses.asdict(p) for p in parts],
        "intervals": [_requirement(r, catalog) for r in needed],
    })  # fmt: skip


async def _seat_time(request: web.Request) -> tuple[float, dict[str, float]]:
    """Sampled logged-in and paused seconds of the last 28 days (measured shrinkage)."""
    catalog = request.app[CATALOG]
    since = _today(catalog, datetime.now(UTC).timestamp()) - timedelta(days=28)
    return await asyncio.to_thread(request.app[SCHEDULES].seat_time, since.isoformat())


# -- plans -------------------------------------------------------------------------


async def build(request: web.Request) -> web.Response:
    body = await read_json(request, BuildRequest)
    catalog, store = request.app[CATALOG], request.app[SCHEDULES]
    history = await _history(request, body.first_day)
    shrinkage = sum(p.used for p in planning.shrinkage_parts(catalog, *await _seat_time(request)))
    built = await _work(
        request, planning.build_schedule, catalog, history, body.first_day, body.days,
        method=body.method, time_limit=body.time_limit, workers=1, simulation_rounds=body.simulation_rounds,
        shrinkage=shrinkage,
    )  # fmt: skip
    principal = request[PRINCIPAL]
    info = await asyncio.to_thread(
        store.save_plan, built.plan, built.requirements, window=built.window, by=principal.name,
        at=datetime.now(UTC).timestamp(),
    )  # fmt: skip
    _audit(request, "schedule.build", f"plan/{info.id}", after=info.public())
    checks = [_jsonable(c) for c in built.checks]
    return web.json_response({**info.public(), "simulation_checks": checks}, status=201)


async def list_plans(request: web.Request) -> web.Response:
    plans = await asyncio.to_thread(request.app[SCHEDULES].plans)
    return web.json_response({"plans": [p.public() for p in plans]})


async def show_plan(request: web.Request) -> web.StreamResponse:
    query = read_query(request, PlanQuery)
    plan_id = _plan_id(request)
    catalog, store = request.app[CATALOG], request.app[SCHEDULES]
    info = _plan_or_404(await asyncio.to_thread(store.plan, plan_id), plan_id)
    shifts = await asyncio.to_thread(store.shifts, plan_id, query.seat)
    if query.format == "csv":
        from .export import plan_csv

        names = {seat.id: seat.name for seat in catalog.seats}
        text = plan_csv(_as_plan(info, shifts), zone(catalog.center.timezone), names)
        return web.Response(text=text, content_type="text/csv", charset="utf-8",
                            headers={"Content-Disposition": f'attachment; filename="plan-{plan_id}.csv"'})  # fmt: skip
    needed = await asyncio.to_thread(store.requirements, plan_id)
    return web.json_response({
        **info.public(), "shifts": [_shift(s, catalog) for s in shifts],
        "requirements": [_requirement(r, catalog) for r in needed],
    })  # fmt: skip


def _plan_id(request: web.Request) -> int:
    text = request.match_info["plan"]
    if not text.isdigit() or len(text) > 9:
        raise NotFound(f"no plan {text!r}")
    return int(text)


def _as_plan(info: PlanInfo, shifts: Sequence[Shift]) -> Plan:
    return Plan(info.first_day, info.days, tuple(shifts), info.status, info.cost, info.under_coverage,
                info.solve_seconds)  # fmt: skip


async def publish(request: web.Request) -> web.Response:
    plan_id = _plan_id(request)
    store = request.app[SCHEDULES]
    before = _plan_or_404(await asyncio.to_thread(store.plan, plan_id), plan_id)
    if before.published_at is not None:
        raise Conflict(f"plan {plan_id} is already published", {"plan": plan_id})
    principal = request[PRINCIPAL]
    after = await asyncio.to_thread(store.publish, plan_id, by=principal.name, at=datetime.now(UTC).timestamp())
    assert after is not None
    _audit(request, "schedule.publish", f"plan/{plan_id}", before.public(), after.public())
    _wake(request)
    return web.json_response(after.public())


async def edit(request: web.Request) -> web.Response:
    plan_id = _plan_id(request)
    seat = request.match_info["seat"]
    body = await read_json(request, ShiftEdit)
    catalog, store = request.app[CATALOG], request.app[SCHEDULES]
    info = _plan_or_404(await asyncio.to_thread(store.plan, plan_id), plan_id)
    if not any(s.id == seat for s in catalog.seats):
        raise NotFound(f"no seat {seat}", {"seat": seat})
    shifts = await asyncio.to_thread(store.shifts, plan_id, seat)
    tz = zone(catalog.center.timezone)
    old = next((s for s in shifts if datetime.fromtimestamp(s.start, tz).date() == body.day), None)
    if old is None and (body.remove or body.start is None):
        raise Conflict(f"seat {seat} has no shift on {body.day}", {"seat": seat, "day": body.day.isoformat()})
    from .shifts import ScheduleError, edit_shift

    if body.remove:
        new = None
    else:
        if body.start is None:
            raise InvalidRequest([{"field": "start", "loc": ["start"], "reason": "needed unless remove is true",
                                   "type": "missing"}])  # fmt: skip
        try:
            new = edit_shift(catalog, _as_plan(info, shifts), seat, body.day, body.start, body.pattern)
        except ScheduleError as exc:
            raise Conflict(str(exc), {"seat": seat, "day": body.day.isoformat()}) from exc
    if old is not None or new is not None:
        await asyncio.to_thread(store.replace_shift, plan_id, old or new, new)  # type: ignore[arg-type]
        await asyncio.to_thread(_refigure, store, catalog, plan_id)
    _wake(request)
    _audit(request, "schedule.edit", f"plan/{plan_id}/seat/{seat}",
           _shift(old, catalog) if old else None, _shift(new, catalog) if new else None)  # fmt: skip
    return web.json_response({"plan": plan_id, "seat": seat, "before": _shift(old, catalog) if old else None,
                              "after": _shift(new, catalog) if new else None})  # fmt: skip


def _refigure(store: ScheduleStore, catalog: Catalog, plan_id: int) -> None:
    """A plan's cost and under-coverage measured again on its shifts (after an edit)."""
    from .shifts import coverage, plan_cost

    info = store.plan(plan_id)
    if info is None:
        return
    shifts = store.shifts(plan_id)
    have = coverage(_as_plan(info, shifts), info.window_start, info.window_end)
    under = sum(max(0, r.scheduled - have.get((r.group, r.start), 0)) for r in store.requirements(plan_id))
    store.set_figures(plan_id, cost=plan_cost(shifts, catalog), under_coverage=float(under))


async def run_simulation(request: web.Request) -> web.Response:
    """The plan through the simulation (5 runs): per group, Erlang's prediction, the
    simulated service level and the verdict; the hours it finds short; and, for
    the first run, Erlang vs simulated per group and interval."""
    plan_id = _plan_id(request)
    catalog, store = request.app[CATALOG], request.app[SCHEDULES]
    _plan_or_404(await asyncio.to_thread(store.plan, plan_id), plan_id)
    shifts = await asyncio.to_thread(store.shifts, plan_id)
    needed = await asyncio.to_thread(store.requirements, plan_id)
    history = await asyncio.to_thread(store.history, 0, needed[0].start if needed else 0)
    patience = planning.patience_for(history)

    def check() -> Any:
        from .simulate import compare, simulate
        from .verdict import check_plan

        verdict = check_plan(catalog, needed, shifts, patience=patience)
        first = simulate(catalog, [Demand(r.group, r.start, r.calls, r.aht) for r in needed], shifts,
                         patience=patience)  # fmt: skip
        return verdict, compare(first, needed)

    verdict, diff = await _work(request, check)
    _audit(request, "schedule.simulate", f"plan/{plan_id}")
    return web.json_response({"plan": plan_id, "verdict": _jsonable(verdict), "comparison": _jsonable(diff)})


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k) if not isinstance(k, tuple) else "/".join(map(str, k)): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


# -- the floor, adherence, an agent's calendar, the picture ---------------------------


async def in_force(request: web.Request, lo: float, hi: float) -> tuple[list[Shift], list[Requirement]]:
    """The published schedule overlapping [lo, hi) (shifts that started up to a day before)."""
    return await asyncio.to_thread(request.app[SCHEDULES].in_force, lo - 86400, hi)


async def floor(request: web.Request) -> web.Response:
    catalog = request.app[CATALOG]
    now = datetime.now(UTC).timestamp()
    lo, hi = planning.day_bounds(catalog, _today(catalog, now), 1)
    shifts, needed = await in_force(request, lo, hi)
    snap = request.app[STATE].snapshot(now)
    states = {a.agent: a.state for a in snap.agents}
    groups = floor_view(catalog, needed, shifts, states, now, hi)
    by_seat = shifts_by_seat(shifts)
    timelines = {seat: request.app[STATE].seat_timeline(seat, now - 86400, now) for seat in by_seat}
    tolerance = catalog.scheduling.adherence_tolerance_minutes * 60.0
    found = await asyncio.to_thread(alerts, by_seat, timelines, seat_groups(catalog, by_seat), now, tolerance)
    return web.json_response({
        "at": now, "published": bool(shifts or needed),
        "groups": [_jsonable(g) for g in groups],
        "out_of_adherence": [_jsonable(a) for a in found],
    })  # fmt: skip


async def adherence(request: web.Request) -> web.Response:
    query = read_query(request, AdherenceQuery)
    catalog = request.app[CATALOG]
    now = datetime.now(UTC).timestamp()
    lo = query.from_ if query.from_ is not None else planning.day_bounds(catalog, _today(catalog, now), 1)[0]
    hi = min(query.to if query.to is not None else now, now)
    if not lo < hi or hi - lo > 31 * 86400:
        raise InvalidRequest([{"field": "to", "loc": ["to"], "reason": "from < to, at most 31 days, not in the future",
                               "type": "range"}])  # fmt: skip
    shifts, _ = await in_force(request, lo, hi)
    state = request.app[STATE]
    by_seat = shifts_by_seat(shifts)
    timelines = {seat: state.seat_timeline(seat, lo, hi) for seat in by_seat}
    groups = seat_groups(catalog, by_seat)

    def figures() -> list[Any]:
        rows = [agent_adherence(seat, by_seat[seat], timelines[seat], lo, hi) for seat in sorted(by_seat)]
        if query.group_by == "agent":
            return rows
        return group_adherence((groups[r.seat], r) for r in rows)

    rows = await asyncio.to_thread(figures)
    return web.json_response({"from": lo, "to": hi, "group_by": query.group_by, "rows": [_jsonable(r) for r in rows]})


async def agent_calendar(request: web.Request) -> web.Response:
    seat = request.match_info["seat"]
    catalog = request.app[CATALOG]
    if not any(s.id == seat for s in catalog.seats):
        raise NotFound(f"no seat {seat}", {"seat": seat})
    now = datetime.now(UTC).timestamp()
    shifts, _ = await in_force(request, now - 7 * 86400, now + 28 * 86400)
    # The published shifts of the last week and the next four, whichever plans they come from.
    mine = tuple(s for s in shifts if s.seat == seat)
    plan = Plan((_today(catalog, now) - timedelta(days=7)).isoformat(), 35, mine, "PUBLISHED", 0.0, 0.0, 0.0)
    from .export import agent_ical

    body = agent_ical(
        plan, seat, zone(catalog.center.timezone), f"{catalog.center.name}: seat {seat}",
        pattern_names={p.id: p.name for p in catalog.scheduling.patterns},
        group_names={q.id: q.name for q in catalog.queues}, stamp=datetime.now(UTC),
    )  # fmt: skip
    return web.Response(body=body, content_type="text/calendar", charset="utf-8",
                        headers={"Content-Disposition": f'attachment; filename="seat-{seat}.ics"'})  # fmt: skip


async def chart(request: web.Request) -> web.Response:
    query = read_query(request, ChartQuery)
    catalog, store = request.app[CATALOG], request.app[SCHEDULES]
    now = datetime.now(UTC).timestamp()
    day = query.day or _today(catalog, now)
    lo, hi = planning.day_bounds(catalog, day, 1)
    if query.plan is not None:
        _plan_or_404(await asyncio.to_thread(store.plan, query.plan), query.plan)
        shifts = await asyncio.to_thread(store.shifts, query.plan)
        needed = [r for r in await asyncio.to_thread(store.requirements, query.plan) if lo <= r.start < hi]
    else:
        shifts, needed = await in_force(request, lo, hi)
    tz = zone(catalog.center.timezone)
    groups = floor_view(catalog, needed, shifts, {}, lo, hi)
    series = {g.group: [(i.start, i.required, i.scheduled) for i in g.intervals] for g in groups
              if any(i.required or i.scheduled for i in g.intervals)}  # fmt: skip
    title = f"Agents required and scheduled, {day.isoformat()}" + (f" (plan {query.plan})" if query.plan else "")
    return web.Response(text=day_chart(series, lo, hi, tz, title), content_type="image/svg+xml",
                        headers={"Cache-Control": "no-store"})  # fmt: skip


# -- the schedule in the KPI rows -------------------------------------------------------


def kpi_scheduler(app: web.Application):  # type: ignore[no-untyped-def]
    """Fills scheduled seconds, in-seat rate and adherence into `/api/kpis` rows
    (cut by agent, group or none) from the published schedule."""

    async def fill(
        rows: list[KpiRow], lo: float, hi: float, group_by: str | None, interval: int | None
    ) -> list[KpiRow]:
        if group_by not in (None, "agent", "group") or not rows:
            return rows
        shifts, _ = await asyncio.to_thread(app[SCHEDULES].in_force, lo - 86400, hi)
        if not shifts:
            return rows
        catalog, state = app[CATALOG], app[STATE]
        by_seat = shifts_by_seat(shifts)
        timelines = {seat: state.seat_timeline(seat, lo, hi) for seat in by_seat}
        groups = seat_groups(catalog, by_seat)

        def compute() -> list[KpiRow]:
            totals: dict[tuple[float, str | None], list[float]] = {}
            for seat, mine in by_seat.items():
                key = {"agent": seat, "group": groups[seat], None: None}[group_by]
                if interval:
                    parts = sums_by_interval(mine, timelines[seat], lo, hi, interval)
                else:
                    a = agent_adherence(seat, mine, timelines[seat], lo, hi)
                    parts = {lo: (a.scheduled_seconds, a.work_seconds, a.adherent_seconds, a.in_seat_seconds)}
                for start, sums in parts.items():
                    bucket = totals.setdefault((start, key), [0.0, 0.0, 0.0, 0.0])
                    for i in range(4):
                        bucket[i] += sums[i]
            out = []
            for row in rows:
                s = totals.get((row.start, row.key))
                if s is None:
                    out.append(row)
                    continue
                scheduled, work, adherent, in_seat = s
                out.append(dataclasses.replace(
                    row, scheduled_seconds=work,
                    in_seat_rate=in_seat / work if work else None,
                    adherence=adherent / scheduled if scheduled else None,
                ))  # fmt: skip
            return out

        return await asyncio.to_thread(compute)

    return fill


# Set by the feature: the out-of-adherence watcher (see feature.py).
ADHERENCE_ALERTS: web.AppKey[Any] = web.AppKey("schedule_adherence_alerts")
