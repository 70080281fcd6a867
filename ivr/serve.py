"""`ivr serve`: the composition root, the one asyncio process.

Start order (aiohttp cleanup_ctx; stopped in reverse):
1. metrics: the event store, the reducer, restart recovery (replay of the
   stored events), then the live pipeline;
2. AMI: the read-only metrics session; every event goes to the pipeline;
   after every (re)login the queue state is resynced with QueueStatus;
3. FastAGI: the `route` handler;
4. the HTTP site: /healthz, the JSON API, /metrics and the wallboard.
Collaborators are created here and passed in; nothing is a module-level
singleton.
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web
from pydantic import BaseModel, Field

from ivr import log as logging_setup
from ivr.agents import AgentControl, AgentError, AgentStateStore
from ivr.agi import AgiAuth, FastAgiServer
from ivr.ami import AmiClient
from ivr.app import CATALOG, SETTINGS
from ivr.callflow import CallFlow
from ivr.catalog.errors import CatalogError
from ivr.catalog.load import load_catalog
from ivr.catalog.model import Catalog
from ivr.directory import SqliteDirectory
from ivr.emergency import EmergencyError, EmergencyStore, EmergencySwitch, announcements_for, emergency_switch
from ivr.eventloop import run_event_loop
from ivr.log import get_logger
from ivr.metrics.feature import FEATURE as METRICS
from ivr.metrics.feature import METRICS_AMI
from ivr.render import ASTERISK_GID, ContainerPaths
from ivr.settings import Settings
from ivr.survey import SurveyFlow
from ivr.web import (
    PRINCIPAL,
    Api,
    AuditPage,
    AuditQuery,
    Conflict,
    PbxUnavailable,
    SqliteAuditTrail,
    TokenStore,
    audit_handler,
    read_json,
)
from ivr.web.site import GuardedSite, http_runner

log = get_logger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

AGI = web.AppKey("agi", FastAgiServer)


CONTROL = web.AppKey("control", AgentControl)
EMERGENCY = web.AppKey("emergency", EmergencyStore)


class Holder:
    """Collaborators created at startup, for handlers registered before it
    (aiohttp freezes the router before cleanup_ctx runs)."""

    def __init__(self) -> None:
        self.handlers: dict[str, Handler] = {}
        self.control: AgentControl | None = None
        self.control_ami: AmiClient | None = None
        self.audit: SqliteAuditTrail | None = None
        self.emergency: EmergencySwitch | None = None

    def delegate(self, name: str) -> Handler:
        async def handler(request: web.Request) -> web.StreamResponse:
            if name not in self.handlers:
                raise PbxUnavailable("metrics are starting", {})
            return await self.handlers[name](request)

        return handler


async def control_context(app: web.Application) -> AsyncIterator[None]:
    """The control AMI session, the audit trail and agent state control."""
    settings, catalog, holder = app[SETTINGS], app[CATALOG], app[HOLDER]
    audit = await asyncio.to_thread(SqliteAuditTrail, settings.audit_db)
    store = await asyncio.to_thread(AgentStateStore, settings.run_dir / "agents.sqlite3")
    control: AgentControl | None = None

    async def reapply(client: AmiClient) -> None:
        if control is not None:
            await control.reapply(client)

    client = AmiClient(
        "127.0.0.1", settings.ami_port, settings.ami_control_user, settings.ami_control_secret.get_secret_value(),
        name="control", events_off=True, on_connected=reapply,
    )  # fmt: skip
    control = AgentControl(catalog, store, audit, client)
    app[CONTROL] = control
    holder.control, holder.control_ami, holder.audit = control, client, audit
    emergency_store = await asyncio.to_thread(EmergencyStore, settings.emergency_db)
    holder.emergency = emergency_switch(settings, catalog, emergency_store, audit)
    app[EMERGENCY] = emergency_store
    holder.handlers["audit"] = audit_handler(audit)
    runner = asyncio.create_task(client.run(), name="ami-control")
    yield
    await client.close()
    runner.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await runner
    await asyncio.to_thread(store.close)
    await asyncio.to_thread(emergency_store.close)
    await asyncio.to_thread(audit.close)


def agent_feature_handler(control: AgentControl):  # type: ignore[no-untyped-def]
    """FastAGI `agent` route: feature codes from a seat (args: login|logout|pause|unpause, seat, reason code)."""
    from ivr.agi import AgiSession

    async def handle(session: AgiSession) -> None:
        args = session.request.args
        action, seat, reason = [*args, "", "", ""][:3]
        who = f"seat:{seat}"
        try:
            if action in ("login", "logout"):
                await control.set_login(seat, None if action == "login" else {}, who=who, role="agent")
            elif action in ("pause", "unpause"):
                await control.set_paused(seat, action == "pause", reason or "1", who=who, role="agent")
            else:
                raise AgentError(f"unknown feature {action!r}")
        except AgentError as exc:
            log.warning("agent_feature_refused", seat=seat, reason=str(exc))
            await session.set_variable("IVR_FEATURE", "refused")
            return
        await session.set_variable("IVR_FEATURE", "ok")

    return handle


async def agi_context(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    directory = await asyncio.to_thread(SqliteDirectory, settings.directory_db)
    emergency = app[EMERGENCY]
    flow = CallFlow(
        app[CATALOG], lambda: directory, ContainerPaths().sounds,
        announcements=lambda line: announcements_for(emergency.all(), line, time.time()),
    )  # fmt: skip
    survey = SurveyFlow(ContainerPaths().sounds, app[CATALOG].numbers[0].language)
    routes = {"route": flow.handle, "agent": agent_feature_handler(app[CONTROL]), "survey": survey.handle}
    # A command's answer can take as long as its prompt plays: 30 s per command.
    # Only calls carrying the token the dialplan computes from this key are served
    # (ivr/agi/auth.py); like the rendered configuration, root:asterisk 0640.
    auth = await asyncio.to_thread(AgiAuth.from_key_file, settings.agi_key_file, group=ASTERISK_GID)
    server = FastAgiServer(settings.agi_host, settings.agi_port, routes, command_timeout=30.0, auth=auth)
    await server.start()
    app[AGI] = server
    log.info("agi_listening", host=settings.agi_host, port=server.port)
    yield
    await server.close()
    await asyncio.to_thread(directory.close)


HOLDER = web.AppKey("holder", Holder)


async def healthz(request: web.Request) -> web.Response:
    client, control = request.app[METRICS_AMI], request.app[HOLDER].control_ami
    control_ok = control is not None and control.connected
    pbx_ok = client.connected and control_ok
    body = {
        "status": "ok" if pbx_ok else "degraded",
        "pbx": {
            "ami_connected": client.connected,
            "control_connected": control_ok,
            "reconnects": client.reconnects,
            "last_error": str(client.last_error) if client.last_error and not pbx_ok else None,
        },
        "agi": {"listening": True, "port": request.app[AGI].port, "active_sessions": request.app[AGI].active_sessions},
    }
    return web.json_response(body, status=200 if pbx_ok else 503)


class PauseRequest(BaseModel):
    model_config = {"extra": "forbid"}
    reason: str = Field(min_length=1, max_length=32, description="break, meal, training, meeting, outbound (or 1-5)")


class LoginRequest(BaseModel):
    model_config = {"extra": "forbid"}
    queues: dict[str, int] | None = Field(
        None, description="group -> penalty (0 strongest); default: the seat's catalog skills"
    )


class EmergencyRequest(BaseModel):
    model_config = {"extra": "forbid"}
    prompt: str = Field(min_length=1, max_length=64, description="a recorded prompt id, emergency_...")
    minutes: float = Field(gt=0, le=7 * 24 * 60, description="how long it stays on")


class ReloadRequest(BaseModel):
    model_config = {"extra": "forbid"}
    dry_run: bool = False


def build_api(settings: Settings, catalog: Catalog, holder: Holder) -> Api:
    tokens = TokenStore.load(
        spec=settings.api_tokens.get_secret_value(), file=settings.api_tokens_file, demo=settings.demo_tokens
    )
    api = Api(
        tokens, public_paths={"/healthz", "/wallboard"}, title="ivr", version="0.1.0",
    )  # fmt: skip

    async def pause(request: web.Request) -> web.Response:
        body = await read_json(request, PauseRequest)
        return await _set_paused(request, True, body.reason)

    async def unpause(request: web.Request) -> web.Response:
        return await _set_paused(request, False, "")

    async def _set_paused(request: web.Request, paused: bool, reason: str) -> web.Response:
        principal = request[PRINCIPAL]
        try:
            state = await _control().set_paused(
                request.match_info["seat"], paused, reason, who=principal.name, role=principal.role.value
            )
        except AgentError as exc:
            raise Conflict(str(exc), {"seat": request.match_info["seat"]}) from exc
        return web.json_response({"seat": state.seat, "paused": state.paused, "reason": state.reason})

    def _control() -> AgentControl:
        if holder.control is None:
            raise PbxUnavailable("agent control is starting", {})
        return holder.control

    async def login(request: web.Request) -> web.Response:
        body = await read_json(request, LoginRequest) if request.can_read_body else LoginRequest()
        return await _set_login(request, body.queues)

    async def logout(request: web.Request) -> web.Response:
        return await _set_login(request, {})

    async def _set_login(request: web.Request, queues: dict[str, int] | None) -> web.Response:
        principal = request[PRINCIPAL]
        try:
            login = await _control().set_login(
                request.match_info["seat"], queues, who=principal.name, role=principal.role.value
            )
        except AgentError as exc:
            raise Conflict(str(exc), {"seat": request.match_info["seat"]}) from exc
        return web.json_response({"seat": login.seat, "logged_in": login.logged_in, "queues": login.queues})

    def _emergency() -> EmergencySwitch:
        if holder.emergency is None:
            raise PbxUnavailable("the emergency switch is starting", {})
        return holder.emergency

    async def emergency_status(request: web.Request) -> web.Response:
        active = await asyncio.to_thread(_emergency().active)
        return web.json_response({"announcements": [a.public() for a in active]})

    async def emergency_on(request: web.Request) -> web.Response:
        body = await read_json(request, EmergencyRequest)
        principal, scope = request[PRINCIPAL], request.match_info["scope"]
        try:
            announcement = await asyncio.to_thread(
                _emergency().switch_on, scope, body.prompt, body.minutes * 60,
                who=principal.name, role=principal.role.value,
            )  # fmt: skip
        except EmergencyError as exc:
            raise Conflict(str(exc), {"scope": scope, "prompt": body.prompt}) from exc
        return web.json_response(announcement.public())

    async def emergency_off(request: web.Request) -> web.Response:
        principal, scope = request[PRINCIPAL], request.match_info["scope"]
        try:
            before = await asyncio.to_thread(
                _emergency().switch_off, scope, who=principal.name, role=principal.role.value
            )
        except EmergencyError as exc:
            raise Conflict(str(exc), {"scope": scope}) from exc
        return web.json_response({"scope": scope, "switched_off": before.public() if before else None})

    async def reload(request: web.Request) -> web.Response:
        from ivr.catalog.errors import CatalogError as _CatalogError
        from ivr.check import CheckFailed, check
        from ivr.reload import ReloadFailed, apply_reload, reload_session
        from ivr.render import TemplateError

        body = await read_json(request, ReloadRequest) if request.can_read_body else ReloadRequest()
        if holder.audit is None:
            raise PbxUnavailable("the audit trail is starting", {})
        try:
            files = await asyncio.to_thread(check, settings)
        except (_CatalogError, TemplateError, CheckFailed) as exc:
            raise Conflict("the check failed: nothing was applied", {"problems": str(exc).splitlines()}) from exc
        principal = request[PRINCIPAL]
        try:
            result = await apply_reload(
                files, settings.etc_dir, lambda: reload_session(settings), holder.audit,
                who=principal.name, role=principal.role.value, dry_run=body.dry_run,
            )  # fmt: skip
        except ReloadFailed as exc:
            raise Conflict(str(exc), {"rolled_back": exc.rolled_back}) from exc
        plan = result.plan
        return web.json_response({
            "applied": result.applied, "changed": list(plan.changed), "modules": list(plan.modules),
            "verified": result.verified, "diff": plan.diff,
        })  # fmt: skip

    api.route("POST", "/api/reload", reload, role="admin", request=ReloadRequest,
              summary="Check, diff, apply only what changed, verify, roll back on failure", tags=("ops",),
              errors=(409, 503))  # fmt: skip
    api.route("POST", "/api/agents/{seat}/pause", pause, role="supervisor", request=PauseRequest,
              summary="Pause a seat in all its groups, with a reason", tags=("agents",), errors=(409, 503))  # fmt: skip
    api.route("POST", "/api/agents/{seat}/unpause", unpause, role="supervisor", summary="Unpause a seat",
              tags=("agents",), errors=(409, 503))  # fmt: skip
    api.route("POST", "/api/agents/{seat}/login", login, role="supervisor", request=LoginRequest,
              summary="Log a seat in to its groups, or to given groups and penalties", tags=("agents",),
              errors=(409, 503))  # fmt: skip
    api.route("POST", "/api/agents/{seat}/logout", logout, role="supervisor", summary="Log a seat out of every group",
              tags=("agents",), errors=(409, 503))  # fmt: skip
    api.route("GET", "/api/emergency", emergency_status, summary="Emergency announcements in force",
              tags=("emergency",))  # fmt: skip
    api.route("POST", "/api/emergency/{scope}/on", emergency_on, role="supervisor", request=EmergencyRequest,
              summary="Play a recorded announcement before every menu", tags=("emergency",),
              errors=(409, 503))  # fmt: skip
    api.route("POST", "/api/emergency/{scope}/off", emergency_off, role="supervisor",
              summary="Switch a line's (or the global) announcement off", tags=("emergency",),
              errors=(409, 503))  # fmt: skip
    api.route("GET", "/api/audit", holder.delegate("audit"), role="supervisor", response=AuditPage, query=AuditQuery,
              summary="Audit trail of operational changes", tags=("audit",), errors=(503,))  # fmt: skip
    api.route(
        "GET", "/healthz", healthz, role=None, summary="PBX connectivity of the service", tags=("meta",), errors=(503,)
    )
    return api


def build_app(settings: Settings, catalog: Catalog) -> web.Application:
    holder = Holder()
    api = build_api(settings, catalog, holder)
    metrics_feature = METRICS
    app = web.Application(middlewares=api.middlewares())
    app[SETTINGS], app[CATALOG], app[HOLDER] = settings, catalog, holder
    metrics_feature.routes(api, settings, catalog)
    if metrics_feature.context is not None:
        app.cleanup_ctx.append(metrics_feature.context)
    app.cleanup_ctx.append(control_context)
    app.cleanup_ctx.append(agi_context)
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
    try:
        catalog = load_catalog(settings.catalog)
    except CatalogError as exc:
        log.error("catalog_invalid", problems=str(exc))
        return 1
    run_event_loop(run_service(settings, catalog), settings.event_loop)
    return 0
