"""POST /api/reload: check, diff, apply only what changed, verify, roll back on
failure (admins). A failed check or a failed reload is a 409 and nothing
stays applied; every attempt is one audit-trail entry."""

from __future__ import annotations

import asyncio

from aiohttp import web
from pydantic import BaseModel

from ivr.app import SETTINGS
from ivr.catalog.errors import CatalogError
from ivr.check import CheckFailed, check
from ivr.render import TemplateError
from ivr.web import AUDIT, PRINCIPAL, Conflict, read_json

from .apply import ReloadFailed, apply_reload, reload_session


class ReloadRequest(BaseModel):
    model_config = {"extra": "forbid"}
    dry_run: bool = False


async def reload(request: web.Request) -> web.Response:
    body = await read_json(request, ReloadRequest) if request.can_read_body else ReloadRequest()
    settings, audit = request.app[SETTINGS], request.app[AUDIT]
    try:
        files = await asyncio.to_thread(check, settings)
    except (CatalogError, TemplateError, CheckFailed) as exc:
        raise Conflict("the check failed: nothing was applied", {"problems": str(exc).splitlines()}) from exc
    principal = request[PRINCIPAL]
    try:
        result = await apply_reload(
            files, settings.etc_dir, lambda: reload_session(settings), audit,
            who=principal.name, role=principal.role.value, dry_run=body.dry_run,
        )  # fmt: skip
    except ReloadFailed as exc:
        raise Conflict(str(exc), {"rolled_back": exc.rolled_back}) from exc
    plan = result.plan
    return web.json_response({
        "applied": result.applied, "changed": list(plan.changed), "modules": list(plan.modules),
        "verified": result.verified, "diff": plan.diff,
    })  # fmt: skip
