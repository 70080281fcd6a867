"""The emergency switch as a feature of `ivr serve`: the context opens the
announcement store (`EMERGENCY`, read by the call flow) and builds the
audited switch (`SWITCH`, for the routes). Needs the audit trail
(`ivr.audit.feature`) started before it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from aiohttp import web

from ivr.app import CATALOG, SETTINGS, Feature
from ivr.audit.feature import AUDIT
from ivr.catalog.model import Catalog
from ivr.settings import Settings
from ivr.web import Api

from .http import SWITCH, EmergencyRequest, emergency_off, emergency_on, emergency_status
from .store import EmergencyStore
from .switch import emergency_switch

EMERGENCY = web.AppKey("emergency", EmergencyStore)

__all__ = ["EMERGENCY", "FEATURE", "SWITCH"]


async def context(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    store = await asyncio.to_thread(EmergencyStore, settings.emergency_db)
    app[EMERGENCY] = store
    app[SWITCH] = emergency_switch(settings, app[CATALOG], store, app[AUDIT])
    yield
    await asyncio.to_thread(store.close)


def routes(api: Api, settings: Settings, catalog: Catalog) -> None:
    api.route("GET", "/api/emergency", emergency_status, summary="Emergency announcements in force",
              tags=("emergency",))  # fmt: skip
    api.route("POST", "/api/emergency/{scope}/on", emergency_on, role="supervisor", request=EmergencyRequest,
              summary="Play a recorded announcement before every menu", tags=("emergency",),
              errors=(409, 503))  # fmt: skip
    api.route("POST", "/api/emergency/{scope}/off", emergency_off, role="supervisor",
              summary="Switch a line's (or the global) announcement off", tags=("emergency",),
              errors=(409, 503))  # fmt: skip


FEATURE = Feature("emergency", context=context, routes=routes)
