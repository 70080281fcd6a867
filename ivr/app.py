"""What every feature of `ivr serve` plugs into: typed app keys and the `Feature` record.

Theory of operation: a feature is a package under `ivr/` (agents, emergency,
reload, survey, callflow, metrics, ...) with its domain core, its storage and
its adapters side by side; its `feature.py` exposes one `FEATURE`. The
composition root (`ivr/serve.py`) only strings the features together:

1. `routes(api, settings, catalog)` declares the feature's HTTP operations
   on the shared `Api` (route, role and OpenAPI entry in one declaration).
   Handlers look their collaborators up at request time with
   `request.app[KEY]`: requests arrive only after every context has started.
2. `context` is an aiohttp cleanup context: it opens what the feature owns
   (stores, AMI sessions, tasks), puts it on the app under the feature's own
   `web.AppKey`s, yields, and closes it. Contexts start in the order of the
   features and stop in reverse, so a feature may use the keys of those
   before it.
3. `agi` maps FastAGI script names to factories that build the script's
   handler from the started app; the FastAGI server starts after every
   feature and serves them all.

The keys of what the root itself provides are here; a feature's own keys are
declared in its package.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aiohttp import web

from ivr.catalog.model import Catalog
from ivr.settings import Settings

if TYPE_CHECKING:
    from ivr.agi import AgiSession
    from ivr.web import Api

SETTINGS = web.AppKey("settings", Settings)
CATALOG = web.AppKey("catalog", Catalog)

CleanupContext = Callable[[web.Application], AsyncIterator[None]]
AgiHandler = Callable[["AgiSession"], Awaitable[None]]
AgiFactory = Callable[[web.Application], AgiHandler]
Routes = Callable[["Api", Settings, Catalog], None]


def _no_routes(api: Api, settings: Settings, catalog: Catalog) -> None:
    return None


@dataclass(frozen=True)
class Feature:
    """One capability of the service, as the composition root sees it."""

    name: str
    context: CleanupContext | None = None
    routes: Routes = _no_routes
    agi: Mapping[str, AgiFactory] = field(default_factory=dict)
