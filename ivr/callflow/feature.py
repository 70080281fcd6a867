"""The call flow as a feature of `ivr serve`: its context opens the customer
directory (SQLite); its FastAGI `route` script reads the emergency
announcements in force (`ivr.emergency.feature`, started before it) when
each call starts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from aiohttp import web

from ivr.app import SETTINGS, Feature
from ivr.directory import SqliteDirectory

from .agi import DIRECTORY, route_script


async def context(app: web.Application) -> AsyncIterator[None]:
    directory = await asyncio.to_thread(SqliteDirectory, app[SETTINGS].directory_db)
    app[DIRECTORY] = directory
    yield
    await asyncio.to_thread(directory.close)


FEATURE = Feature("callflow", context=context, agi={"route": route_script})
