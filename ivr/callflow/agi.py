"""FastAGI `route`: the call flow of a line, built from the started app (the
catalog, the customer directory, the emergency announcements in force).

Both are local SQLite files, read on the event loop (`CallFlow`'s
`lookups_inline`), and a step's channel variables are set in one exchange
(`variables_at_once`)."""

from __future__ import annotations

import time

from aiohttp import web

from ivr.agi import Handler
from ivr.app import CATALOG
from ivr.directory import SqliteDirectory
from ivr.emergency import announcements_for
from ivr.emergency.feature import EMERGENCY
from ivr.render import ContainerPaths

from .flow import CallFlow

# The customer directory (opened by `ivr.callflow.feature`'s context).
DIRECTORY = web.AppKey("directory", SqliteDirectory)


def route_script(app: web.Application) -> Handler:
    directory, emergency = app[DIRECTORY], app[EMERGENCY]
    flow = CallFlow(
        app[CATALOG], lambda: directory, ContainerPaths().sounds,
        announcements=lambda line: announcements_for(emergency.all(), line, time.time()),
        lookups_inline=True, variables_at_once=True,
    )  # fmt: skip
    return flow.handle
