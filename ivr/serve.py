"""`ivr serve`: the composition root, the one asyncio process.

Every capability is a feature package (`ivr.app.Feature`): its routes are
declared on the shared `Api`, its context started in this order (aiohttp
cleanup_ctx; stopped in reverse):
1. metrics: the event store, the reducer, restart recovery, the live
   pipeline, and the read-only metrics AMI session;
2. audit: the audit trail the features after it record into;
3. agents: the desired seat state and the control AMI session, which
   re-applies it after every (re)login;
4. emergency: the announcement store and the audited switch;
5. reload: POST /api/reload (no context: its AMI session lives per reload);
6. callflow: the customer directory for the FastAGI `route` script;
7. survey: the FastAGI `survey` script (no context);
8. health: GET /healthz (no context);
9. FastAGI: the server, serving every feature's scripts (`ivr.agi.feature`);
then the guarded HTTP site. Collaborators are created in the contexts and
put on the app under typed keys; nothing is a module-level singleton.

Memory (`ivr.memory`): large blocks go back to the system when freed
(`hand_large_blocks_back`, at start); `IVR_TRACEMALLOC` turns on the opt-in
SIGUSR2 memory snapshot.
"""

from __future__ import annotations

import asyncio
import resource
import signal

from aiohttp import web

from ivr import log as logging_setup
from ivr.agents.feature import FEATURE as AGENTS
from ivr.agi.feature import serving
from ivr.app import CATALOG, SETTINGS, Feature
from ivr.audit.feature import FEATURE as AUDIT
from ivr.callflow.feature import FEATURE as CALLFLOW
from ivr.catalog.errors import CatalogError
from ivr.catalog.model import Catalog
from ivr.check import load_checked_catalog
from ivr.emergency.feature import FEATURE as EMERGENCY
from ivr.eventloop import run_event_loop
from ivr.health.feature import FEATURE as HEALTH
from ivr.log import get_logger
from ivr.memory import hand_large_blocks_back, snapshot_on_signal
from ivr.metrics.feature import FEATURE as METRICS
from ivr.reload.feature import FEATURE as RELOAD
from ivr.scheduling.feature import FEATURE as SCHEDULING
from ivr.settings import Settings
from ivr.survey.feature import FEATURE as SURVEY
from ivr.web import Api, TokenStore
from ivr.web.site import GuardedSite, http_runner

log = get_logger(__name__)

FEATURES: tuple[Feature, ...] = (METRICS, AUDIT, AGENTS, EMERGENCY, RELOAD, CALLFLOW, SURVEY, SCHEDULING, HEALTH)


def build_api(settings: Settings) -> Api:
    tokens = TokenStore.load(
        spec=settings.api_tokens.get_secret_value(), file=settings.api_tokens_file, demo=settings.demo_tokens
    )
    return Api(tokens, public_paths={"/healthz", "/wallboard"}, title="ivr", version="0.1.0")


def build_app(settings: Settings, catalog: Catalog, features: tuple[Feature, ...] = FEATURES) -> web.Application:
    api = build_api(settings)
    app = web.Application(middlewares=api.middlewares())
    app[SETTINGS], app[CATALOG] = settings, catalog
    for feature in (*features, serving(features)):
        feature.routes(api, settings, catalog)
        if feature.context is not None:
            app.cleanup_ctx.append(feature.context)
    api.setup(app, install_middlewares=False)
    return app


async def run_service(settings: Settings, catalog: Catalog) -> None:
    app = build_app(settings, catalog)
    raise_file_limit()
    runner = http_runner(app, header_timeout=settings.http_header_timeout)
    await runner.setup()
    site = GuardedSite(runner, settings.http_host, settings.http_port, max_connections=settings.http_max_connections)
    await site.start()
    log.info("serve_ready", http=f"http://{settings.http_host}:{settings.http_port}", catalog=str(settings.catalog))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    snapshot_on_signal(loop, settings.run_dir)
    try:
        await stop.wait()
    finally:
        log.info("serve_stopping")
        await runner.cleanup()


def raise_file_limit() -> None:
    """Raise the soft open-files limit to the hard one: calls, AMI and HTTP share it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    log.info("file_limit", open_files=max(soft, hard))


def serve(settings: Settings) -> int:
    logging_setup.configure(settings.log_level, json=settings.log_json)
    hand_large_blocks_back()
    try:
        catalog = load_checked_catalog(settings.catalog)
    except CatalogError as exc:
        log.error("catalog_invalid", problems=str(exc))
        return 1
    run_event_loop(run_service(settings, catalog), settings.event_loop)
    return 0
