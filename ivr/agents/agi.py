"""FastAGI `agent`: the feature codes an agent dials from a seat (`*70` log in,
`*71` log out, `*72N` pause with reason N, `*73` unpause). Arguments:
login|logout|pause|unpause, seat, reason code; the answer is the channel
variable IVR_FEATURE (ok or refused)."""

from __future__ import annotations

from aiohttp import web

from ivr.agi import AgiSession, Handler
from ivr.log import get_logger

from .control import AgentControl, AgentError
from .http import CONTROL

log = get_logger(__name__)


def feature_code_handler(control: AgentControl) -> Handler:
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


def agent_script(app: web.Application) -> Handler:
    return feature_code_handler(app[CONTROL])
