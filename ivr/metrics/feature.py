"""Live KPIs as a feature of `ivr serve`: the event store, the reducer, the AMI
metrics session, the live pipeline, and their HTTP routes.

Start order inside the context (stopped in reverse):
1. the event store and the reducer, then restart recovery (the stored events
   of the last `RECOVERY_DAYS` replayed), then the live pipeline;
2. the read-only AMI metrics session: every event goes to the pipeline, and
   after every (re)login the queue state is read afresh with QueueStatus (AMI
   has no replay). AMI's own refused logins and actions (class `security`)
   are logged and counted by `SecurityWatch`, never fed to the KPIs;
3. the queue_log follower (`adapters/follow.py`): from a little before the
   newest recovered event, what Asterisk logged that AMI did not deliver
   (while the service was down, the link cut, Asterisk restarting, or an
   event Asterisk never sent) is caught up into the state and the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections.abc import AsyncIterator

from aiohttp import web

from ivr.ami import AmiClient, AmiMessage, when_loaded
from ivr.ami.security import SecurityWatch
from ivr.app import CATALOG, SETTINGS, Feature
from ivr.catalog.model import Catalog
from ivr.log import get_logger
from ivr.settings import Settings
from ivr.web import Api

from .adapters.follow import START_MARGIN, QueueLogFollower
from .adapters.http import (
    COLLECTOR,
    EXTRA_COLLECTORS,
    LIVE,
    STATE,
    KpiQuery,
    agents,
    kpis_handler,
    metrics,
    queues,
    snapshot,
    stream_handler,
    wallboard_asset,
    wallboard_page,
)
from .adapters.live import LiveMetrics
from .adapters.store import SqliteEventStore
from .counters import CallCounters, LabelSets, Refusals
from .intake import CallerKeyer
from .prometheus import AmiSessionCollector, CallCounterCollector, CenterCollector, RefusalCollector
from .reducer import CenterState, group_configs
from .wallboard import Wallboard

log = get_logger(__name__)

METRICS_AMI = web.AppKey("metrics_ami", AmiClient)
# The AMI sessions on /metrics (`ivr_ami_*{session}`): features `watch` theirs.
AMI_SESSIONS = web.AppKey("metrics_ami_sessions", AmiSessionCollector)
QUEUE_LOG_FOLLOWER = web.AppKey("queue_log_follower", QueueLogFollower)
RECOVERY_DAYS = 8  # FCR looks back 7 days; one more for the local-day edge


async def context(app: web.Application) -> AsyncIterator[None]:
    settings, catalog = app[SETTINGS], app[CATALOG]
    settings.run_dir.mkdir(parents=True, exist_ok=True)
    store = await asyncio.to_thread(SqliteEventStore, settings.event_store)
    state = CenterState(group_configs(catalog), retention=RECOVERY_DAYS * 86400)  # what a restart recovers
    keyer = CallerKeyer(settings.caller_salt.get_secret_value().encode())
    live = LiveMetrics(store, state, keyer, render=Wallboard(catalog), publish_interval=0.1)
    replayed = await live.recover(since=time.time() - RECOVERY_DAYS * 86400)
    # What recovery built lives as long as the service: out of every later full
    # collection, which would otherwise walk it again (BENCHMARKS.md).
    gc.collect()
    gc.freeze()
    log.info("metrics_recovered", events=replayed, store=str(settings.event_store), frozen=gc.get_freeze_count())
    app[STATE], app[LIVE] = state, live
    app[COLLECTOR] = CenterCollector(state, catalog, clock=time.time, pipeline=live.stats)
    # Monotonic counters and histograms, counted as events are applied live.
    counters = CallCounters.of(catalog)
    live.listeners.append(lambda event: counters.observe(event, time.time()))
    app[AMI_SESSIONS] = AmiSessionCollector()
    app[EXTRA_COLLECTORS] = []
    refusals = Refusals(LabelSets.of(catalog))  # the dialplan's admission control
    app[EXTRA_COLLECTORS] += (
        CallCounterCollector(counters, clock=time.time),
        app[AMI_SESSIONS],
        RefusalCollector(refusals),
    )

    follower = QueueLogFollower(settings.queue_log, live, keyer)
    app[QUEUE_LOG_FOLLOWER] = follower
    horizon = state.horizon
    follow_from = horizon - START_MARGIN if horizon is not None else time.time() - RECOVERY_DAYS * 86400
    client = AmiClient(
        "127.0.0.1", settings.ami_port, settings.ami_metrics_user,
        settings.ami_metrics_secret.get_secret_value(), name="metrics", on_connected=_resync(live, follower),
    )  # fmt: skip
    app[METRICS_AMI] = client
    app[AMI_SESSIONS].watch(client)
    watch = SecurityWatch(frozenset({settings.ami_metrics_user, settings.ami_control_user, settings.ami_reload_user}))

    async def timed_events() -> AsyncIterator[tuple[AmiMessage, float]]:
        async for event in client.events():
            now = time.time()
            if watch.observe(event, now) is None and not refusals.observe(event):
                yield event, now

    runner = asyncio.create_task(client.run(), name="ami-metrics")
    consumer = asyncio.create_task(live.consume(timed_events()), name="metrics-pipeline")
    following = asyncio.create_task(follower.run(follow_from), name="queue-log-follower")
    yield
    following.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await following
    # Drain: closing the client ends its event stream once the queued events
    # are read, so the pipeline applies and stores everything received.
    await client.close()
    with contextlib.suppress(TimeoutError, asyncio.CancelledError, Exception):
        await asyncio.wait_for(asyncio.shield(consumer), timeout=10)
    for task in (runner, consumer):
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    await live.close()
    await asyncio.to_thread(store.close)


def _resync(live: LiveMetrics, follower: QueueLogFollower):  # type: ignore[no-untyped-def]
    async def resync(client: AmiClient) -> None:
        # AMI has no replay: after every (re)login, read the queue state afresh,
        # and let the follower catch up from queue_log what happened before it.
        logged_in = time.time()
        _, entries = await when_loaded(lambda: client.action_list("QueueStatus"))
        now = time.time()
        for entry in entries:
            live.feed(entry, now)
        follower.link_up(logged_in)
        log.info("ami_resynced", queue_status_entries=len(entries))

    return resync


def routes(api: Api, settings: Settings, catalog: Catalog) -> None:
    starting = (503,)
    api.route("GET", "/api/queues", queues, summary="Skill groups now and today", tags=("metrics",), errors=starting)
    api.route("GET", "/api/agents", agents, summary="Seats: state and time in state", tags=("metrics",),
              errors=starting)  # fmt: skip
    api.route("GET", "/api/kpis", kpis_handler(), query=KpiQuery,
              summary="KPIs by interval and cut (JSON or CSV); at most 31 days and 20,000 rows",
              tags=("metrics",), errors=starting)  # fmt: skip
    api.route("GET", "/metrics", metrics, summary="Prometheus exposition", tags=("metrics",), errors=starting)
    api.route("GET", "/wallboard", wallboard_page, role=None, summary="The live wallboard page", tags=("wallboard",))
    api.route("GET", "/wallboard/{file}", wallboard_asset, role=None, summary="The wallboard's script and style",
              tags=("wallboard",), errors=(404,))  # fmt: skip
    api.route("GET", "/api/wallboard/snapshot", snapshot, summary="Wallboard data now", tags=("wallboard",),
              errors=starting)  # fmt: skip
    api.route("GET", "/api/wallboard/stream", stream_handler(), summary="Wallboard updates (SSE)",
              tags=("wallboard",), errors=starting)  # fmt: skip


FEATURE = Feature("metrics", context=context, routes=routes)
