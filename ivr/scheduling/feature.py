"""Central scheduling as a feature of `ivr serve`.

The context opens the schedule store and runs two loops beside the calls:
- **history**: every `HISTORY_EVERY` seconds, the closed 15-minute intervals
  the metrics reducer holds (the last days, cut by group) are folded into the
  interval history the forecast reads; an interval without calls is not
  written (it keeps what history had);
- **floor watch**: every `WATCH_EVERY` seconds, the published schedule is set
  against the live seat states: agents out of adherence longer than the
  catalog's tolerance are raised (one warning line each, and one info line
  when they are back), and the floor figures per group (required, scheduled,
  logged in, in-seat rate and adherence today) are kept for `/metrics`.
Both read the reducer on the event loop (copies of the seat timelines) and do
their sums in a worker thread.

Needs the audit trail and the metrics feature started before it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from ivr.app import CATALOG, SETTINGS, Feature
from ivr.catalog.model import Catalog
from ivr.log import get_logger
from ivr.metrics.adapters.http import EXTRA_COLLECTORS, KPI_SCHEDULE, STATE
from ivr.metrics.reducer import KpiRow, SeatState
from ivr.settings import Settings
from ivr.web import Api

from . import planning
from .adherence import OutOfAdherence, agent_adherence, alerts, group_adherence, shifts_by_seat
from .floor import FloorGroup, floor_view, seat_groups
from .http import (
    ADHERENCE_ALERTS,
    DESK_LOCK,
    SCHEDULES,
    AccuracyQuery,
    AdherenceQuery,
    BuildRequest,
    ChartQuery,
    PlanQuery,
    ShiftEdit,
    WindowQuery,
    adherence,
    agent_calendar,
    build,
    chart,
    edit,
    floor,
    get_forecast,
    get_forecast_accuracy,
    get_staffing,
    kpi_scheduler,
    list_plans,
    publish,
    run_simulation,
    show_plan,
)
from .store import ScheduleStore

log = get_logger(__name__)

HISTORY_EVERY = 900.0
HISTORY_DAYS = 8
WATCH_EVERY = 30.0


class FloorWatch:
    """The latest floor figures and the agents out of adherence now."""

    def __init__(self) -> None:
        # Set by a publish or an edit: the next round runs at once.
        self.wake = asyncio.Event()
        self.current: dict[str, OutOfAdherence] = {}
        self.sampled_at: float | None = None
        self.groups: list[FloorGroup] = []
        self.today: dict[str, tuple[float | None, float | None]] = {}  # group -> (in-seat rate, adherence)

    def update(self, found: Iterable[OutOfAdherence]) -> None:
        now = {a.seat: a for a in found}
        for seat, alert in now.items():
            if seat not in self.current:
                log.warning("agent_out_of_adherence", seat=seat, group=alert.group, scheduled=alert.scheduled,
                            state=alert.state.value, minutes=round(alert.seconds / 60, 1))  # fmt: skip
        for seat, alert in self.current.items():
            if seat not in now:
                log.info("agent_back_in_adherence", seat=seat, group=alert.group)
        self.current = now


async def _fold_history(app: web.Application, now: float) -> int:
    state, store = app[STATE], app[SCHEDULES]
    lo = (now - HISTORY_DAYS * 86400) // 900 * 900
    rows: list[KpiRow] = []
    for step in state.kpi_steps(lo, now, "group", interval=900):
        if step is None:
            await asyncio.sleep(0)
        else:
            rows = step
    stats = [s for s in planning.history_from_kpis(rows, now) if s.offered > 0]
    return await asyncio.to_thread(store.put_history, stats, "events")


async def _watch_floor(app: web.Application, watch: FloorWatch, now: float) -> None:
    catalog, state, store = app[CATALOG], app[STATE], app[SCHEDULES]
    lo, hi = planning.day_bounds(catalog, planning.local_day(catalog, now), 1)
    shifts, needed = await asyncio.to_thread(store.in_force, lo - 86400, hi)
    by_seat = shifts_by_seat(shifts)
    timelines = {seat: state.seat_timeline(seat, now - 86400, now) for seat in by_seat}
    states = {a.agent: a.state for a in state.snapshot(now).agents}
    groups_of = seat_groups(catalog, by_seat)
    tolerance = catalog.scheduling.adherence_tolerance_minutes * 60.0

    def compute() -> tuple[list[FloorGroup], list[OutOfAdherence], dict[str, tuple[float | None, float | None]]]:
        groups = floor_view(catalog, needed, shifts, states, now, hi)
        found = alerts(by_seat, timelines, groups_of, now, tolerance)
        rows = ((groups_of[seat], agent_adherence(seat, by_seat[seat], timelines[seat], lo, now)) for seat in by_seat)
        today = {g.group: (g.in_seat_rate, g.adherence) for g in group_adherence(rows)}
        return groups, found, today

    watch.groups, found, watch.today = await asyncio.to_thread(compute)
    watch.update(found)
    await _sample_seat_time(app, watch, now)


async def _sample_seat_time(app: web.Application, watch: FloorWatch, now: float) -> None:
    """Logged-in and paused-by-reason seconds since the last round (the measured
    shrinkage of `ivr staffing`); a gap longer than two rounds (the service was
    down) is not counted."""
    last, watch.sampled_at = watch.sampled_at, now
    if last is None or not 0 < now - last <= 2 * WATCH_EVERY:
        return
    elapsed = now - last
    agents = app[STATE].snapshot(now).agents
    logged_in = sum(elapsed for a in agents if a.state is not SeatState.LOGGED_OUT)
    paused: dict[str, float] = {}
    for a in agents:
        if a.state is SeatState.PAUSED:
            reason = a.paused_reason or "unspecified"
            paused[reason] = paused.get(reason, 0.0) + elapsed
    day = planning.local_day(app[CATALOG], now).isoformat()
    await asyncio.to_thread(app[SCHEDULES].add_seat_time, day, logged_in, paused)


async def _every(seconds: float, name: str, job: Any, wake: asyncio.Event | None = None) -> None:
    while True:
        try:
            await job()
        except asyncio.CancelledError:
            raise
        except Exception:  # a failed round is logged; the next one runs
            log.exception("schedule_job_failed", job=name)
        if wake is None:
            await asyncio.sleep(seconds)
            continue
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), seconds)
        wake.clear()


class FloorCollector(Collector):
    """The floor figures per group for Prometheus (gauges: now, or today so far)."""

    def __init__(self, watch: FloorWatch) -> None:
        self._watch = watch

    def collect(self) -> Iterable[Any]:
        gauges = {
            "required": GaugeMetricFamily("ivr_schedule_required_agents",
                                          "Agents required on the phones now (published plan)", labels=["group"]),
            "scheduled": GaugeMetricFamily("ivr_schedule_scheduled_agents",
                                           "Agents whose published shift works now", labels=["group"]),
            "logged_in": GaugeMetricFamily("ivr_schedule_logged_in_agents",
                                           "Seats logged in now, by primary group", labels=["group"]),
            "in_seat": GaugeMetricFamily("ivr_schedule_in_seat_ratio",
                                         "In-seat rate today: in seat / scheduled work", labels=["group"]),
            "adherence": GaugeMetricFamily("ivr_schedule_adherence_ratio",
                                           "Adherence to the published schedule today", labels=["group"]),
            "out": GaugeMetricFamily("ivr_schedule_out_of_adherence_agents",
                                     "Agents out of adherence beyond the tolerance now", labels=["group"]),
        }  # fmt: skip
        out_by_group: dict[str, int] = {}
        for alert in self._watch.current.values():
            out_by_group[alert.group] = out_by_group.get(alert.group, 0) + 1
        for g in self._watch.groups:
            if g.required is not None:
                gauges["required"].add_metric([g.group], g.required)
            gauges["scheduled"].add_metric([g.group], g.scheduled)
            gauges["logged_in"].add_metric([g.group], g.logged_in)
            gauges["out"].add_metric([g.group], out_by_group.get(g.group, 0))
        for group, (in_seat, adherent) in sorted(self._watch.today.items()):
            if in_seat is not None:
                gauges["in_seat"].add_metric([group], in_seat)
            if adherent is not None:
                gauges["adherence"].add_metric([group], adherent)
        yield from gauges.values()


async def context(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    store = await asyncio.to_thread(ScheduleStore, settings.schedule_db)
    app[SCHEDULES], app[DESK_LOCK] = store, asyncio.Lock()
    watch = FloorWatch()
    app[ADHERENCE_ALERTS] = watch
    app[KPI_SCHEDULE] = kpi_scheduler(app)
    app[EXTRA_COLLECTORS].append(FloorCollector(watch))

    async def fold() -> None:
        written = await _fold_history(app, time.time())
        log.info("schedule_history_folded", intervals=written)

    async def watch_floor() -> None:
        await _watch_floor(app, watch, datetime.now(UTC).timestamp())

    tasks = [
        asyncio.create_task(_every(HISTORY_EVERY, "history", fold), name="schedule-history"),
        asyncio.create_task(_every(WATCH_EVERY, "floor", watch_floor, watch.wake), name="schedule-floor"),
    ]
    yield
    for task in tasks:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await asyncio.to_thread(store.close)


def routes(api: Api, settings: Settings, catalog: Catalog) -> None:
    tags = ("scheduling",)
    refused = (409,)
    api.route("GET", "/api/forecast", get_forecast, query=WindowQuery, tags=tags, errors=refused,
              summary="Forecast calls and handle time per group and 15 minutes")  # fmt: skip
    api.route("GET", "/api/forecast/accuracy", get_forecast_accuracy, query=AccuracyQuery, tags=tags, errors=refused,
              summary="WAPE of the seasonal baseline and the model on held-out days")  # fmt: skip
    api.route("GET", "/api/staffing", get_staffing, query=WindowQuery, tags=tags, errors=refused,
              summary="Agents required per group and 15 minutes (Erlang C/A, occupancy cap, shrinkage)")  # fmt: skip
    api.route("GET", "/api/schedule/plans", list_plans, tags=tags, summary="Shift plans, newest first")
    api.route("POST", "/api/schedule/plans", build, role="supervisor", request=BuildRequest, tags=tags,
              errors=refused, summary="Build a draft shift plan (forecast, staffing, CP-SAT)")  # fmt: skip
    api.route("GET", "/api/schedule/plans/{plan}", show_plan, query=PlanQuery, tags=tags, errors=(404,),
              summary="A plan: its shifts and requirements (JSON or CSV)")  # fmt: skip
    api.route("POST", "/api/schedule/plans/{plan}/publish", publish, role="admin", tags=tags, errors=(404, 409),
              summary="Publish a plan: it becomes the schedule in force for its days")  # fmt: skip
    api.route("POST", "/api/schedule/plans/{plan}/seats/{seat}", edit, role="supervisor", request=ShiftEdit,
              tags=tags, errors=(404, 409), summary="Move or remove an agent's shift on a day (audited)")  # fmt: skip
    api.route("POST", "/api/schedule/plans/{plan}/simulate", run_simulation, role="supervisor", tags=tags,
              errors=(404, 409), summary="Run the plan through the discrete-event simulation")  # fmt: skip
    api.route("GET", "/api/schedule/floor", floor, tags=tags,
              summary="Required, scheduled and logged-in agents per group, now and for the rest of today")  # fmt: skip
    api.route("GET", "/api/schedule/adherence", adherence, query=AdherenceQuery, tags=tags,
              summary="Adherence and in-seat rate per agent or group against the published schedule")  # fmt: skip
    api.route("GET", "/api/schedule/seats/{seat}/calendar", agent_calendar, tags=tags, errors=(404,),
              summary="An agent's published shifts as an iCalendar file")  # fmt: skip
    api.route("GET", "/api/schedule/chart", chart, query=ChartQuery, tags=tags, errors=(404,),
              summary="A picture of the day: required vs scheduled agents per group (SVG)")  # fmt: skip


FEATURE = Feature("scheduling", context=context, routes=routes)

__all__ = ["FEATURE", "SCHEDULES"]
