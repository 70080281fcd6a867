"""Specs of the wallboard routes and page: snapshot, SSE stream, /metrics, static HTML."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient, TestServer

from ivr.metrics.adapters.http import (
    COLLECTOR,
    LIVE,
    STATIC,
    WALLBOARD_HTML,
    metrics,
    snapshot,
    stream_handler,
    wallboard_asset,
    wallboard_page,
)
from ivr.metrics.adapters.live import LiveMetrics
from ivr.metrics.intake import CallerKeyer
from ivr.metrics.prometheus import CenterCollector
from ivr.metrics.views import render_wallboard
from ivr.web import error_middleware

from .center import CATALOG
from .day import NOW, morning_state
from .test_live_pipeline import RecordingStore

KEY = CallerKeyer(b"test-salt-0123456789")
DEADLINE = 5.0


Served = tuple[TestClient[web.Request, web.Application], LiveMetrics]


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    state = morning_state()
    live = LiveMetrics(
        RecordingStore(), state, KEY, clock=lambda: NOW,
        render=lambda s, now: render_wallboard(s, CATALOG, now),
    )  # fmt: skip
    app = web.Application()
    app[LIVE], app[COLLECTOR] = live, CenterCollector(state, CATALOG, clock=lambda: NOW)
    app.router.add_get("/wallboard", wallboard_page)
    app.router.add_get("/api/wallboard/snapshot", snapshot)
    app.router.add_get("/api/wallboard/stream", stream_handler(keepalive=0.05))
    app.router.add_get("/metrics", metrics)
    async with TestClient(TestServer(app)) as client:
        yield client, live


async def read_event(response: ClientResponse) -> tuple[list[str], bytes]:
    """Read SSE lines up to the next blank line: (non-data lines, data payload)."""
    content = response.content
    others: list[str] = []
    data = b""
    while True:
        line = await content.readline()
        if line in (b"\n", b""):
            if data or line == b"":
                return others, data
            continue
        if line.startswith(b"data: "):
            data += line[6:].rstrip(b"\n")
        else:
            others.append(line.decode().rstrip("\n"))


async def test_snapshot_route_returns_the_wallboard_payload(served: Served) -> None:
    client, _ = served
    response = await client.get("/api/wallboard/snapshot")
    assert response.status == 200
    payload = await response.json()
    assert payload["queues"][0]["kpis"]["aht"]["status"] == "amber"
    assert payload == json.loads(json.dumps(render_wallboard(morning_state(), CATALOG, NOW)))


async def test_stream_sends_the_current_snapshot_then_each_update_and_keepalives(served: Served) -> None:
    client, live = served
    async with asyncio.timeout(DEADLINE):
        response = await client.get("/api/wallboard/stream")
        assert response.headers["Content-Type"].startswith("text/event-stream")
        others, first = await read_event(response)
        assert "retry: 3000" in others
        assert json.loads(first)["totals"]["offered"] == 7

        live.feed(
            {
                "Event": "QueueCallerJoin", "Timestamp": str(NOW - 5), "Queue": "basic_zh",
                "Uniqueid": "n1", "Position": "1", "CallerIDNum": "13800000009",
                "ChanVariable": ["IVR_LINE=main", "IVR_TIER=standard"],
            },
            NOW,
        )  # fmt: skip
        live.publish()
        _, update = await read_event(response)  # keepalives in between are skipped
        payload = json.loads(update)
        assert payload["totals"]["offered"] == 8
        assert payload["queues"][0]["waiting"] == 1
        assert "13800000009" not in update.decode()

        # Nothing new: the stream carries comments that keep proxies from closing it.
        line = b""
        while not line.startswith(b": keepalive"):
            line = await response.content.readline()
        response.close()


async def test_metrics_route_serves_the_text_exposition(served: Served) -> None:
    client, _ = served
    response = await client.get("/metrics")
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    assert 'ivr_queue_offered_today{queue="basic_zh"} 6.0' in await response.text()


async def test_wallboard_page_is_served_with_its_test_hooks(served: Served) -> None:
    client, _ = served
    response = await client.get("/wallboard")
    html = await response.text()
    assert response.status == 200 and html.startswith("<!doctype html>")
    html += (STATIC / "wallboard.js").read_text()
    for hook in ('id="queues"', 'id="agents"', 'id="lines"', 'id="tiers"', 'id="interval-chart"',
                 'id="stream-status"', '"data-kpi"', '"data-queue"', '"data-agent"'):  # fmt: skip
        assert hook in html


def test_wallboard_page_loads_nothing_from_elsewhere_and_nothing_inline() -> None:
    html = WALLBOARD_HTML.read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert not re.search(r"""@import|url\(\s*["']?https?:""", (STATIC / "wallboard.css").read_text())
    # The CSP allows no inline script or style: both are files of the same origin.
    assert "<script>" not in html and "<style>" not in html and "style=" not in html
    assert '<script src="/wallboard/wallboard.js">' in html
    assert '<link rel="stylesheet" href="/wallboard/wallboard.css">' in html


def test_the_wallboard_token_never_travels_in_a_url() -> None:
    script = (STATIC / "wallboard.js").read_text()
    assert '"/api/wallboard/snapshot"' in script and '"/api/wallboard/stream"' in script
    # Read from the fragment (never sent), sent only as a header, never as a query.
    assert "window.location.hash" in script and "history.replaceState" in script
    assert 'Authorization: "Bearer " + token' in script
    assert "?token=" not in script and "EventSource(" not in script


async def test_the_wallboard_script_and_style_are_served_and_nothing_else_from_static(tmp_path: Path) -> None:
    app = web.Application(middlewares=[error_middleware])
    app.router.add_get("/wallboard/{file}", wallboard_asset)
    async with TestClient(TestServer(app)) as client:
        script = await client.get("/wallboard/wallboard.js")
        assert script.status == 200 and script.headers["Content-Type"].startswith("text/javascript")
        style = await client.get("/wallboard/wallboard.css")
        assert style.status == 200 and style.headers["Content-Type"].startswith("text/css")
        for name in ("wallboard.html", "..%2fhttp.py", "%2e%2e", "secrets.env"):
            assert (await client.get(f"/wallboard/{name}")).status == 404


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_wallboard_script_is_valid_javascript() -> None:
    path = STATIC / "wallboard.js"
    result = subprocess.run(["node", "--check", str(path)], capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 0, result.stderr
