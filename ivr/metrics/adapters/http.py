"""aiohttp handlers of the live metrics: wallboard page, snapshot, SSE stream, /metrics.

Handlers that read their collaborators from the app (`STATE`, `LIVE`,
`COLLECTOR`, set by `ivr.metrics.feature`); the feature declares them on the
API behind its auth (`viewer` for all of them; every token
comes in the `Authorization` header: the page reads the stream with
`fetch`, not EventSource, which cannot set one):

| route | handler |
| --- | --- |
| GET /wallboard | `wallboard_page` (static HTML; its token comes from the URL fragment) |
| GET /wallboard/{file} | `wallboard_asset` (its script and style sheet) |
| GET /api/queues, /api/agents | `queues`, `agents` |
| GET /api/wallboard/snapshot | `snapshot` |
| GET /api/wallboard/stream | `stream_handler()` (text/event-stream) |
| GET /api/kpis | `kpis_handler()` (JSON or CSV, streamed in parts) |
| GET /metrics | `metrics` |

A KPI report is bounded before it is built (`query.py`: a range of at most
31 days, at most 20,000 rows), built in slices that return to the event loop
between them (`CenterState.kpi_steps`), and written in parts of
`KPI_WRITE_ROWS` rows, so neither building nor encoding it holds the loop
that serves calls for long.

A stream ends after `max_seconds` (the browser reconnects after `retry`,
re-presenting its token), when a write to a stalled client takes longer than
`write_timeout`, or when the pipeline stops. A slow client never slows the
pipeline: its subscription drops the oldest updates.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Final, Literal

from aiohttp import web
from prometheus_client.registry import Collector
from pydantic import BaseModel, Field

from ivr.app import CATALOG
from ivr.web import InvalidRequest, NotFound, read_query

from ..prometheus import CONTENT_TYPE, exposition
from ..query import CutSizes, RangeRefused, kpi_window
from ..reducer import CenterState, KpiRow
from ..views import (
    SSE_KEEPALIVE,
    agents_view,
    day_start_of,
    kpis_csv,
    kpis_view,
    queues_view,
    sse_event,
    timezone_of,
)
from .live import LiveMetrics

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# How the app holds the metrics collaborators (set by `ivr.metrics.feature`'s
# context before the first request; the handlers read them per request).
STATE = web.AppKey("metrics_state", CenterState)
LIVE = web.AppKey("metrics_live", LiveMetrics)
COLLECTOR = web.AppKey("metrics_collector", Collector)
# Other features' Prometheus collectors, exposed on the same /metrics (the
# metrics context creates the list; scheduling adds its floor gauges).
EXTRA_COLLECTORS = web.AppKey("metrics_extra_collectors", list[Collector])
# Fills the schedule's figures (scheduled seconds, in-seat rate, adherence) into
# KPI rows: set by the scheduling feature; without it those fields stay null.
KpiScheduler = Callable[[list[KpiRow], float, float, str | None, int | None], Awaitable[list[KpiRow]]]
KPI_SCHEDULE: web.AppKey[KpiScheduler] = web.AppKey("metrics_kpi_schedule")

STATIC = Path(__file__).resolve().parents[2] / "web" / "static"
WALLBOARD_HTML = STATIC / "wallboard.html"
WALLBOARD_ASSETS: Final = {"wallboard.js": "text/javascript", "wallboard.css": "text/css"}
KPI_WRITE_ROWS: Final = 500


async def wallboard_page(request: web.Request) -> web.StreamResponse:
    """The wallboard page itself (no data in it: it fetches the routes below)."""
    return web.FileResponse(WALLBOARD_HTML, headers={"Cache-Control": "no-cache"})


async def wallboard_asset(request: web.Request) -> web.StreamResponse:
    """The page's script and style sheet (same origin: the page's CSP allows nothing inline)."""
    name = request.match_info["file"]
    if name not in WALLBOARD_ASSETS:
        raise NotFound(f"no route for {request.path}")
    return web.FileResponse(
        STATIC / name, headers={"Cache-Control": "no-cache", "Content-Type": WALLBOARD_ASSETS[name]}
    )


class KpiQuery(BaseModel):
    """`/api/kpis` query: a time range (epoch seconds; default: today so far), an
    interval (seconds, a multiple of 900; 0 = one row per key) and a cut."""

    model_config = {"extra": "forbid", "populate_by_name": True}
    from_: float | None = Field(
        None, alias="from", allow_inf_nan=False, description="epoch seconds, 1970-2100; default: local midnight"
    )
    to: float | None = Field(None, allow_inf_nan=False, description="epoch seconds, after from, at most 31 days later")
    interval: int = Field(900, ge=0, le=86400, description="seconds, a multiple of 900; 0 = one row per key")
    group_by: Literal["group", "agent", "line", "tier", "language", "none"] = "group"
    format: Literal["json", "csv"] = "json"


def kpis_handler(*, clock: Callable[[], float] = time.time) -> Handler:
    """GET /api/kpis over the app's reducer (`STATE`) and catalog (`ivr.app.CATALOG`)."""

    async def kpis(request: web.Request) -> web.StreamResponse:
        query = read_query(request, KpiQuery)
        catalog = request.app[CATALOG]
        tz, sizes = timezone_of(catalog), CutSizes.of(catalog)
        now = clock()
        try:
            window = kpi_window(
                query.from_, query.to, query.interval, query.group_by,
                now=now, day_start=day_start_of(catalog, now), sizes=sizes,
            )  # fmt: skip
        except RangeRefused as exc:
            raise InvalidRequest(
                [{"field": exc.field, "loc": [exc.field], "reason": exc.reason, "type": "range", "limit": exc.limit}]
            ) from None
        center = request.app[STATE]
        group_by = None if query.group_by == "none" else query.group_by
        rows: list[KpiRow] = []
        for step in center.kpi_steps(window.start, window.end, group_by, interval=window.interval or None):
            if step is None:
                await asyncio.sleep(0)  # let calls and events through between slices
            else:
                rows = step
        scheduler = request.app.get(KPI_SCHEDULE)
        if scheduler is not None:
            rows = await scheduler(rows, window.start, window.end, group_by, window.interval or None)
        if query.format == "csv":
            response = web.StreamResponse(
                headers={"Content-Type": "text/csv; charset=utf-8",
                         "Content-Disposition": 'attachment; filename="kpis.csv"'}
            )  # fmt: skip
            await response.prepare(request)
            await response.write(kpis_csv((), tz).encode())
            for part in _parts(rows):
                await response.write(kpis_csv(part, tz, header=False).encode())
        else:
            response = web.StreamResponse(headers={"Content-Type": "application/json; charset=utf-8"})
            await response.prepare(request)
            head = {"from": window.start, "to": window.end}
            await response.write(json.dumps(head)[:-1].encode() + b', "rows": [')
            for n, part in enumerate(_parts(rows)):
                await response.write((", " if n else "").encode() + json.dumps(kpis_view(part, tz))[1:-1].encode())
        await response.write(b"]}" if query.format == "json" else b"")
        await response.write_eof()
        return response

    return kpis


def _parts(rows: Sequence[KpiRow]) -> list[Sequence[KpiRow]]:
    return [rows[i : i + KPI_WRITE_ROWS] for i in range(0, len(rows), KPI_WRITE_ROWS)]


async def snapshot(request: web.Request) -> web.StreamResponse:
    """The whole wallboard payload now."""
    return web.json_response(request.app[LIVE].latest(), headers={"Cache-Control": "no-store"})


async def queues(request: web.Request) -> web.StreamResponse:
    """Skill groups now and today (the live sums: no pass over the day's calls)."""
    state, catalog, now = request.app[STATE], request.app[CATALOG], time.time()
    today = state.today_counts(now, day_start_of(catalog, now), "group")
    return web.json_response({"at": now, "queues": queues_view(state.snapshot(now), today, catalog)})


async def agents(request: web.Request) -> web.StreamResponse:
    """Seats: state and time in state."""
    state, now = request.app[STATE], time.time()
    return web.json_response({"at": now, "agents": agents_view(state.snapshot(now), request.app[CATALOG])})


def stream_handler(
    *,
    keepalive: float = 15.0,
    max_seconds: float = 3600.0,
    write_timeout: float = 10.0,
    retry_ms: int = 3000,
) -> Handler:
    async def stream(request: web.Request) -> web.StreamResponse:
        live = request.app[LIVE]
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream; charset=utf-8",
                "Cache-Control": "no-store",
                "X-Accel-Buffering": "no",  # nginx: do not buffer the stream
            }
        )
        await response.prepare(request)
        deadline = time.monotonic() + max_seconds
        with live.subscribe() as updates:
            try:
                async with asyncio.timeout(write_timeout):
                    await response.write(f"retry: {retry_ms}\n\n".encode())
                while (left := deadline - time.monotonic()) > 0:
                    try:
                        update = await updates.next_update(min(keepalive, left))
                    except StopAsyncIteration:
                        break
                    chunk = SSE_KEEPALIVE if update is None else sse_event(update)
                    async with asyncio.timeout(write_timeout):
                        await response.write(chunk)
            except (TimeoutError, ConnectionResetError):
                return response  # stalled or gone: the browser reconnects
        return response

    return stream


async def metrics(request: web.Request) -> web.StreamResponse:
    """The Prometheus exposition. Runs on the loop thread on purpose: the state is not locked."""
    collectors = (request.app[COLLECTOR], *request.app.get(EXTRA_COLLECTORS, ()))
    return web.Response(body=exposition(*collectors), headers={"Content-Type": CONTENT_TYPE})
