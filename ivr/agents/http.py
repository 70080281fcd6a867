"""Supervisors' HTTP routes over agent control: pause with a reason, unpause,
log in (to the seat's skills or to given groups and penalties), log out.
A refusal (unknown seat or reason, PBX unreachable) is a 409."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, Field

from ivr.web import PRINCIPAL, Conflict, read_json

from .control import AgentControl, AgentError

# The running agent control (set by `ivr.agents.feature`'s context).
CONTROL = web.AppKey("control", AgentControl)


class PauseRequest(BaseModel):
    model_config = {"extra": "forbid"}
    reason: str = Field(min_length=1, max_length=32, description="break, meal, training, meeting, outbound (or 1-5)")


class LoginRequest(BaseModel):
    model_config = {"extra": "forbid"}
    queues: dict[str, int] | None = Field(
        None, description="group -> penalty (0 strongest); default: the seat's catalog skills"
    )


async def pause(request: web.Request) -> web.Response:
    body = await read_json(request, PauseRequest)
    return await _set_paused(request, True, body.reason)


async def unpause(request: web.Request) -> web.Response:
    return await _set_paused(request, False, "")


async def _set_paused(request: web.Request, paused: bool, reason: str) -> web.Response:
    principal, seat = request[PRINCIPAL], request.match_info["seat"]
    try:
        state = await request.app[CONTROL].set_paused(seat, paused, reason, who=principal.name,
                                                      role=principal.role.value)  # fmt: skip
    except AgentError as exc:
        raise Conflict(str(exc), {"seat": seat}) from exc
    return web.json_response({"seat": state.seat, "paused": state.paused, "reason": state.reason})


async def login(request: web.Request) -> web.Response:
    body = await read_json(request, LoginRequest) if request.can_read_body else LoginRequest()
    return await _set_login(request, body.queues)


async def logout(request: web.Request) -> web.Response:
    return await _set_login(request, {})


async def _set_login(request: web.Request, queues: dict[str, int] | None) -> web.Response:
    principal, seat = request[PRINCIPAL], request.match_info["seat"]
    try:
        login = await request.app[CONTROL].set_login(seat, queues, who=principal.name, role=principal.role.value)
    except AgentError as exc:
        raise Conflict(str(exc), {"seat": seat}) from exc
    return web.json_response({"seat": login.seat, "logged_in": login.logged_in, "queues": login.queues})
