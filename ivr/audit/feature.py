"""The audit trail as a feature of `ivr serve`: its context opens the SQLite
trail (`settings.audit_db`) for the features after it (agents, emergency,
reload record into `app[AUDIT]`); its route is GET /api/audit."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from aiohttp import web

from ivr.app import SETTINGS, Feature
from ivr.catalog.model import Catalog
from ivr.settings import Settings
from ivr.web import Api
from ivr.web.audit import AUDIT, AuditPage, AuditQuery, list_audit

from .trail import SqliteAuditTrail

__all__ = ["AUDIT", "FEATURE"]


async def context(app: web.Application) -> AsyncIterator[None]:
    trail = await asyncio.to_thread(SqliteAuditTrail, app[SETTINGS].audit_db)
    app[AUDIT] = trail
    yield
    await asyncio.to_thread(trail.close)


def routes(api: Api, settings: Settings, catalog: Catalog) -> None:
    api.route("GET", "/api/audit", list_audit, role="supervisor", response=AuditPage, query=AuditQuery,
              summary="Audit trail of operational changes", tags=("audit",), errors=(503,))  # fmt: skip


FEATURE = Feature("audit", context=context, routes=routes)
