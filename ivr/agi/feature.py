"""The FastAGI server as the last feature of `ivr serve`: it starts after every
other feature (their scripts read what those started) and serves the `agi`
scripts of them all; it stops first, before what the calls use. Its series
(`ivr.agi.prometheus`) join /metrics through the metrics feature's
`EXTRA_COLLECTORS`, when that feature runs (it starts first)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable

from aiohttp import web

from ivr.app import SETTINGS, AgiFactory, CleanupContext, Feature
from ivr.log import get_logger
from ivr.metrics.adapters.http import EXTRA_COLLECTORS
from ivr.render import ASTERISK_GID

from .auth import AgiAuth
from .prometheus import AgiCollector
from .server import FastAgiServer

log = get_logger(__name__)

AGI = web.AppKey("agi", FastAgiServer)


def serving(features: Iterable[Feature]) -> Feature:
    """The FastAGI server feature for the scripts of `features`."""
    factories = {name: factory for feature in features for name, factory in feature.agi.items()}
    return Feature("agi", context=_context(factories))


def _context(factories: dict[str, AgiFactory]) -> CleanupContext:
    async def context(app: web.Application) -> AsyncIterator[None]:
        settings = app[SETTINGS]
        scripts = {name: factory(app) for name, factory in factories.items()}
        # A command's answer can take as long as its prompt plays: 30 s per command.
        # Only calls carrying the token the dialplan computes from this key are served
        # (ivr/agi/auth.py); like the rendered configuration, root:asterisk 0640.
        auth = await asyncio.to_thread(AgiAuth.from_key_file, settings.agi_key_file, group=ASTERISK_GID)
        server = FastAgiServer(settings.agi_host, settings.agi_port, scripts, command_timeout=30.0, auth=auth)
        await server.start()
        app[AGI] = server
        collectors = app.get(EXTRA_COLLECTORS)
        if collectors is not None:
            collectors.append(AgiCollector(server.stats))
        log.info("agi_listening", host=settings.agi_host, port=server.port)
        yield
        await server.close()

    return context
