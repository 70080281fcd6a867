"""GET /api/audit: the audit trail (`ivr.audit`) as a page of records, newest first.

The trail is read from the app (`AUDIT`, set by the audit feature's context,
`ivr.audit.feature`, which also declares the route, for supervisors).
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from aiohttp import web
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from ivr.audit import AuditEntry, AuditTrail

from .body import model_response, read_query

# The audit trail of the running service (opened by `ivr.audit.feature`).
AUDIT: web.AppKey[AuditTrail] = web.AppKey("audit")


class AuditQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    since: AwareDatetime | None = None
    action: str | None = Field(default=None, max_length=100)
    limit: int = Field(default=100, ge=1, le=1000)


class AuditRecord(BaseModel):
    at: datetime
    who: str
    role: str
    action: str
    target: str
    before: Any = None
    after: Any = None
    outcome: str


class AuditPage(BaseModel):
    """Newest first."""

    entries: list[AuditRecord]


def _record(entry: AuditEntry) -> AuditRecord:
    return AuditRecord(
        at=entry.at, who=entry.who, role=entry.role, action=entry.action, target=entry.target,
        before=entry.before, after=entry.after, outcome=entry.outcome,
    )  # fmt: skip


async def list_audit(request: web.Request) -> web.StreamResponse:
    """`GET /api/audit?since=<ISO 8601 with offset>&action=<id>&limit=<1..1000>`, from `request.app[AUDIT]`."""
    query = read_query(request, AuditQuery)
    trail = request.app[AUDIT]
    found = await asyncio.to_thread(trail.entries, since=query.since, action=query.action, limit=query.limit)
    return model_response(AuditPage(entries=[_record(e) for e in found]))
