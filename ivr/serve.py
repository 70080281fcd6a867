"""`ivr serve`: the composition root, the one asyncio process.

It builds the aiohttp application and starts, in this order, the AMI client,
the FastAGI server and the HTTP site; it stops them in reverse (aiohttp's
cleanup_ctx). Collaborators are created here and passed in; nothing is a
module-level singleton.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator

from aiohttp import web

from ivr import log as logging_setup
from ivr.agi import FastAgiServer
from ivr.ami import AmiClient
from ivr.catalog.errors import CatalogError
from ivr.catalog.load import load_catalog
from ivr.catalog.model import Catalog
from ivr.log import get_logger
from ivr.routing import route_handler
from ivr.settings import Settings

log = get_logger(__name__)

SETTINGS = web.AppKey("settings", Settings)
CATALOG = web.AppKey("catalog", Catalog)
AMI = web.AppKey("ami", AmiClient)
AGI = web.AppKey("agi", FastAgiServer)


async def ami_context(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]

    async def resync(client: AmiClient) -> None:
        # AMI has no replay: after every (re)login, read the state afresh.
        _, entries = await client.action_list("QueueStatus")
        log.info("ami_resynced", queue_status_entries=len(entries))

    client = AmiClient(
        "127.0.0.1", settings.ami_port, settings.ami_metrics_user,
        settings.ami_metrics_secret.get_secret_value(), name="metrics", on_connected=resync,
    )  # fmt: skip
    app[AMI] = client
    runner = asyncio.create_task(client.run(), name="ami-client")
    yield
    await client.close()
    runner.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await runner


async def agi_context(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    server = FastAgiServer(settings.agi_host, settings.agi_port, {"route": route_handler(app[CATALOG])})
    await server.start()
    app[AGI] = server
    log.info("agi_listening", host=settings.agi_host, port=server.port)
    yield
    await server.close()


async def healthz(request: web.Request) -> web.Response:
    client = request.app[AMI]
    pbx_ok = client.connected
    body = {
        "status": "ok" if pbx_ok else "degraded",
        "pbx": {
            "ami_connected": pbx_ok,
            "reconnects": client.reconnects,
            "last_error": str(client.last_error) if client.last_error and not pbx_ok else None,
        },
        "agi": {"listening": True, "port": request.app[AGI].port},
    }
    return web.json_response(body, status=200 if pbx_ok else 503)


def build_app(settings: Settings, catalog: Catalog) -> web.Application:
    app = web.Application()
    app[SETTINGS] = settings
    app[CATALOG] = catalog
    app.cleanup_ctx.append(ami_context)
    app.cleanup_ctx.append(agi_context)
    app.router.add_get("/healthz", healthz)
    return app


async def run_service(settings: Settings, catalog: Catalog) -> None:
    app = build_app(settings, catalog)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings.http_host, settings.http_port)
    await site.start()
    log.info("serve_ready", http=f"http://{settings.http_host}:{settings.http_port}", catalog=str(settings.catalog))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        log.info("serve_stopping")
        await runner.cleanup()


def serve(settings: Settings) -> int:
    logging_setup.configure(settings.log_level, json=settings.log_json)
    try:
        catalog = load_catalog(settings.catalog)
    except CatalogError as exc:
        log.error("catalog_invalid", problems=str(exc))
        return 1
    asyncio.run(run_service(settings, catalog))
    return 0
