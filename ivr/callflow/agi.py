"""FastAGI `route`: the call flow of a line, built from the started app (the
catalog, the customer directory, the emergency announcements in force).

Both are local SQLite files, read on the event loop (`CallFlow`'s
`lookups_inline`), and a step's channel variables are set in one exchange
(`variables_at_once`). `IVR_BENCH_BASELINE=1` in the environment does both
as before (worker threads, one SET VARIABLE each): `bench/service_cpu.py`'s
same-run baseline."""

from __future__ import annotations

import os
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
    baseline = os.environ.get("IVR_BENCH_BASELINE") == "1"
    directory, emergency = app[DIRECTORY], app[EMERGENCY]
    flow = CallFlow(
        app[CATALOG], lambda: directory, ContainerPaths().sounds,
        announcements=lambda line: announcements_for(emergency.all(), line, time.time()),
        lookups_inline=not baseline, variables_at_once=not baseline,
    )  # fmt: skip
    return flow.handle
