"""Agent state control as a feature of `ivr serve`.

The context opens the desired-state store and the control AMI session (the
`agent` class only, no events); after every (re)login of that session the
whole desired state is re-applied (`AgentControl.reapply`). Needs the audit
trail (`ivr.audit.feature`) started before it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from aiohttp import web

from ivr.ami import AmiClient
from ivr.app import CATALOG, SETTINGS, Feature
from ivr.audit.feature import AUDIT
from ivr.catalog.model import Catalog
from ivr.metrics.feature import AMI_SESSIONS
from ivr.settings import Settings
from ivr.web import Api

from .agi import agent_script
from .control import AgentControl
from .http import CONTROL, LoginRequest, PauseRequest, login, logout, pause, unpause
from .store import AgentStateStore

# The control AMI session (read by the health check).
CONTROL_AMI = web.AppKey("control_ami", AmiClient)

__all__ = ["CONTROL", "CONTROL_AMI", "FEATURE"]


async def context(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    store = await asyncio.to_thread(AgentStateStore, settings.run_dir / "agents.sqlite3")
    control: AgentControl | None = None

    async def reapply(client: AmiClient) -> None:
        if control is not None:
            await control.reapply(client)

    client = AmiClient(
        "127.0.0.1", settings.ami_port, settings.ami_control_user, settings.ami_control_secret.get_secret_value(),
        name="control", events_off=True, on_connected=reapply,
    )  # fmt: skip
    control = AgentControl(app[CATALOG], store, app[AUDIT], client)
    app[CONTROL], app[CONTROL_AMI] = control, client
    if (sessions := app.get(AMI_SESSIONS)) is not None:  # its logins and reconnects on /metrics
        sessions.watch(client)
    runner = asyncio.create_task(client.run(), name="ami-control")
    yield
    await client.close()
    runner.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await runner
    await asyncio.to_thread(store.close)


def routes(api: Api, settings: Settings, catalog: Catalog) -> None:
    api.route("POST", "/api/agents/{seat}/pause", pause, role="supervisor", request=PauseRequest,
              summary="Pause a seat in all its groups, with a reason", tags=("agents",), errors=(409, 503))  # fmt: skip
    api.route("POST", "/api/agents/{seat}/unpause", unpause, role="supervisor", summary="Unpause a seat",
              tags=("agents",), errors=(409, 503))  # fmt: skip
    api.route("POST", "/api/agents/{seat}/login", login, role="supervisor", request=LoginRequest,
              summary="Log a seat in to its groups, or to given groups and penalties", tags=("agents",),
              errors=(409, 503))  # fmt: skip
    api.route("POST", "/api/agents/{seat}/logout", logout, role="supervisor", summary="Log a seat out of every group",
              tags=("agents",), errors=(409, 503))  # fmt: skip


FEATURE = Feature("agents", context=context, routes=routes, agi={"agent": agent_script})
