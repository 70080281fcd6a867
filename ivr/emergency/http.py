"""Supervisors' HTTP routes over the emergency switch: what is in force, on, off.
A refusal (unknown line or prompt, bad duration) is a 409."""

from __future__ import annotations

import asyncio

from aiohttp import web
from pydantic import BaseModel, Field

from ivr.web import PRINCIPAL, Conflict, read_json

from .switch import EmergencyError, EmergencySwitch

# The running switch (set by `ivr.emergency.feature`'s context).
SWITCH = web.AppKey("emergency_switch", EmergencySwitch)


class EmergencyRequest(BaseModel):
    model_config = {"extra": "forbid"}
    prompt: str = Field(min_length=1, max_length=64, description="a recorded prompt id, emergency_...")
    minutes: float = Field(gt=0, le=7 * 24 * 60, description="how long it stays on")


async def emergency_status(request: web.Request) -> web.Response:
    active = await asyncio.to_thread(request.app[SWITCH].active)
    return web.json_response({"announcements": [a.public() for a in active]})


async def emergency_on(request: web.Request) -> web.Response:
    body = await read_json(request, EmergencyRequest)
    principal, scope = request[PRINCIPAL], request.match_info["scope"]
    try:
        announcement = await asyncio.to_thread(
            request.app[SWITCH].switch_on, scope, body.prompt, body.minutes * 60,
            who=principal.name, role=principal.role.value,
        )  # fmt: skip
    except EmergencyError as exc:
        raise Conflict(str(exc), {"scope": scope, "prompt": body.prompt}) from exc
    return web.json_response(announcement.public())


async def emergency_off(request: web.Request) -> web.Response:
    principal, scope = request[PRINCIPAL], request.match_info["scope"]
    try:
        before = await asyncio.to_thread(
            request.app[SWITCH].switch_off, scope, who=principal.name, role=principal.role.value
        )
    except EmergencyError as exc:
        raise Conflict(str(exc), {"scope": scope}) from exc
    return web.json_response({"scope": scope, "switched_off": before.public() if before else None})
