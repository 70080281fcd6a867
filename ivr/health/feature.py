"""GET /healthz (public): 200 when both AMI sessions (metrics, control) are
logged in, else 503 `degraded`; with the FastAGI server's port and sessions.
Reads the metrics AMI client, the control AMI client and the FastAGI server
from the app: requests arrive only after every feature started."""

from __future__ import annotations

from aiohttp import web

from ivr.agents.feature import CONTROL_AMI
from ivr.agi.feature import AGI
from ivr.app import Feature
from ivr.catalog.model import Catalog
from ivr.metrics.feature import METRICS_AMI
from ivr.settings import Settings
from ivr.web import Api


async def healthz(request: web.Request) -> web.Response:
    client, control = request.app[METRICS_AMI], request.app[CONTROL_AMI]
    control_ok = control.connected
    pbx_ok = client.connected and control_ok
    agi = request.app[AGI]
    body = {
        "status": "ok" if pbx_ok else "degraded",
        "pbx": {
            "ami_connected": client.connected,
            "control_connected": control_ok,
            "reconnects": client.reconnects,
            "last_error": str(client.last_error) if client.last_error and not pbx_ok else None,
        },
        "agi": {"listening": True, "port": agi.port, "active_sessions": agi.active_sessions},
    }
    return web.json_response(body, status=200 if pbx_ok else 503)


def routes(api: Api, settings: Settings, catalog: Catalog) -> None:
    api.route(
        "GET", "/healthz", healthz, role=None, summary="PBX connectivity of the service", tags=("meta",), errors=(503,)
    )


FEATURE = Feature("health", routes=routes)
