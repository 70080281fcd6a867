"""Safe hot reload as a feature of `ivr serve`: POST /api/reload. No context of
its own: each reload logs in as the reload AMI user for its length only
(`reload_session`) and records into the audit trail (`ivr.audit.feature`)."""

from __future__ import annotations

from ivr.app import Feature
from ivr.catalog.model import Catalog
from ivr.settings import Settings
from ivr.web import Api

from .http import ReloadRequest, reload


def routes(api: Api, settings: Settings, catalog: Catalog) -> None:
    api.route("POST", "/api/reload", reload, role="admin", request=ReloadRequest,
              summary="Check, diff, apply only what changed, verify, roll back on failure", tags=("ops",),
              errors=(409, 503))  # fmt: skip


FEATURE = Feature("reload", routes=routes)
