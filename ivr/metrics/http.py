"""aiohttp handlers of the live metrics: wallboard page, snapshot, SSE stream, /metrics.

Factories that close over their collaborators; the composition root adds
them to the router behind its auth (`viewer` for all of them; the stream is
the one route whose token may come as `?token=`, since EventSource cannot
set headers):

| route | handler |
| --- | --- |
| GET /wallboard | `wallboard_page` (static HTML, reads `?token=` itself) |
| GET /api/wallboard/snapshot | `snapshot_handler(live)` |
| GET /api/wallboard/stream | `stream_handler(live)` (text/event-stream) |
| GET /metrics | `metrics_handler(collector)` |

A stream ends after `max_seconds` (the browser reconnects after `retry`,
re-presenting its token), when a write to a stalled client takes longer than
`write_timeout`, or when the pipeline stops. A slow client never slows the
pipeline: its subscription drops the oldest updates.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web
from prometheus_client.registry import Collector

from .live import LiveMetrics
from .prometheus import CONTENT_TYPE, exposition
from .views import SSE_KEEPALIVE, sse_event

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

WALLBOARD_HTML = Path(__file__).resolve().parent.parent / "web" / "static" / "wallboard.html"


async def wallboard_page(request: web.Request) -> web.StreamResponse:
    """The wallboard page itself (no data in it: it fetches the routes below)."""
    return web.FileResponse(WALLBOARD_HTML, headers={"Cache-Control": "no-cache"})


def snapshot_handler(live: LiveMetrics) -> Handler:
    async def snapshot(request: web.Request) -> web.StreamResponse:
        return web.json_response(live.latest(), headers={"Cache-Control": "no-store"})

    return snapshot


def stream_handler(
    live: LiveMetrics,
    *,
    keepalive: float = 15.0,
    max_seconds: float = 3600.0,
    write_timeout: float = 10.0,
    retry_ms: int = 3000,
) -> Handler:
    async def stream(request: web.Request) -> web.StreamResponse:
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


def metrics_handler(collector: Collector) -> Handler:
    async def metrics(request: web.Request) -> web.StreamResponse:
        # Runs on the loop thread on purpose: the state is not locked.
        return web.Response(body=exposition(collector), headers={"Content-Type": CONTENT_TYPE})

    return metrics
