"""GET /healthz (public): 200 when both AMI sessions (metrics, control) are
logged in and the event store takes appends, else 503 `degraded`; with the
FastAGI server's port and sessions, the event store (failing or not, events
waiting to be stored) and the queue_log follower (readable, events caught
up). Calls are served in every case: a degraded service still answers FastAGI.
Reads the clients, the pipeline, the follower and the FastAGI server from the
app: requests arrive only after every feature started."""

from __future__ import annotations

from aiohttp import web

from ivr.agents.feature import CONTROL_AMI
from ivr.agi.feature import AGI
from ivr.app import Feature
from ivr.catalog.model import Catalog
from ivr.metrics.adapters.http import LIVE
from ivr.metrics.feature import METRICS_AMI, QUEUE_LOG_FOLLOWER
from ivr.settings import Settings
from ivr.web import Api


async def healthz(request: web.Request) -> web.Response:
    client, control = request.app[METRICS_AMI], request.app[CONTROL_AMI]
    control_ok = control.connected
    pbx_ok = client.connected and control_ok
    agi = request.app[AGI]
    live, follower = request.app[LIVE], request.app[QUEUE_LOG_FOLLOWER].status
    store_ok = live.store_error is None
    body = {
        "status": "ok" if pbx_ok and store_ok else "degraded",
        "pbx": {
            "ami_connected": client.connected,
            "control_connected": control_ok,
            "reconnects": client.reconnects,
            "last_error": str(client.last_error) if client.last_error and not pbx_ok else None,
        },
        "agi": {"listening": True, "port": agi.port, "active_sessions": agi.active_sessions},
        "store": {
            "ok": store_ok,
            "error": live.store_error,
            "unstored_events": live.backlog,
            "failed_appends": live.stats.store_errors,
            "dropped_events": live.stats.store_dropped,
        },
        "queue_log": {
            "readable": follower.readable,
            "error": follower.error,
            "caught_up_events": live.stats.caught_up,
            "caught_up_by_type": follower.caught_up,
            "last_caught_up_at": follower.last_caught_up_at,
            "unreadable_lines": follower.problems,
        },
    }
    return web.json_response(body, status=200 if pbx_ok and store_ok else 503)


def routes(api: Api, settings: Settings, catalog: Catalog) -> None:
    api.route(
        "GET", "/healthz", healthz, role=None, summary="PBX connectivity of the service", tags=("meta",), errors=(503,)
    )


FEATURE = Feature("health", routes=routes)
