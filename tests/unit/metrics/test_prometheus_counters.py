"""Specs of the `_total` counters, histograms and AMI session series on /metrics."""

from __future__ import annotations

import asyncio
import contextlib
import re
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

from ivr.ami import AmiClient
from ivr.metrics.adapters.live import LiveMetrics
from ivr.metrics.counters import CallCounters
from ivr.metrics.intake import CallerKeyer
from ivr.metrics.prometheus import AmiSessionCollector, CallCounterCollector, exposition
from ivr.metrics.reducer import CenterState, group_configs

from ..ami.fake_ami import DEADLINE, SECRET, USERNAME, FakeAmi
from .center import CATALOG, transcript_messages
from .day import morning
from .script import T0
from .test_live_pipeline import RecordingStore
from .test_prometheus import samples, value

KEY = CallerKeyer(b"test-salt-0123456789")
MAIN_ZH = {"queue": "basic_zh", "line": "main", "tier": "standard", "language": "zh"}


def morning_counters() -> CallCounters:
    counters = CallCounters.of(CATALOG)
    counters.observe_all(morning(), now=T0)
    return counters


def test_counters_are_total_series_per_queue_line_tier_and_language() -> None:
    found = samples(exposition(CallCounterCollector(morning_counters(), clock=lambda: T0 + 60)))

    assert value(found, "ivr_calls_offered_total", **MAIN_ZH) == 4
    assert value(found, "ivr_calls_answered_total", **MAIN_ZH) == 2
    assert value(found, "ivr_calls_answered_in_service_level_total", **MAIN_ZH) == 2
    assert value(found, "ivr_calls_abandoned_total", **MAIN_ZH) == 1
    assert value(found, "ivr_calls_short_abandoned_total", **MAIN_ZH) == 1
    assert value(found, "ivr_calls_abandons_pending") == 0


def test_a_scrape_settles_the_abandons_whose_grace_has_passed() -> None:
    counters = morning_counters()
    early = samples(exposition(CallCounterCollector(counters, clock=lambda: T0 + 1)))
    assert value(early, "ivr_calls_abandons_pending") == 2
    assert ("ivr_calls_abandoned_total", tuple(sorted(MAIN_ZH.items()))) not in early
    late = samples(exposition(CallCounterCollector(counters, clock=lambda: T0 + 6)))
    assert value(late, "ivr_calls_abandoned_total", **MAIN_ZH) == 1


def test_waits_and_talk_times_are_histograms_with_cumulative_buckets() -> None:
    found = samples(exposition(CallCounterCollector(morning_counters(), clock=lambda: T0 + 60)))

    answered = {"queue": "basic_zh", "outcome": "answered"}  # waits 10, 30, 15, 5
    assert value(found, "ivr_queue_wait_seconds_bucket", le="5.0", **answered) == 1
    assert value(found, "ivr_queue_wait_seconds_bucket", le="10.0", **answered) == 2
    assert value(found, "ivr_queue_wait_seconds_bucket", le="20.0", **answered) == 3
    assert value(found, "ivr_queue_wait_seconds_bucket", le="+Inf", **answered) == 4
    assert value(found, "ivr_queue_wait_seconds_count", **answered) == 4
    assert value(found, "ivr_queue_wait_seconds_sum", **answered) == 60
    assert value(found, "ivr_queue_wait_seconds_count", queue="basic_zh", outcome="abandoned") == 2
    assert value(found, "ivr_queue_talk_seconds_sum", queue="basic_zh") == 660
    assert value(found, "ivr_queue_talk_seconds_bucket", queue="basic_zh", le="120.0") == 2
    # A group without calls is there, at 0, so rate() and deltas have a series from the start.
    assert value(found, "ivr_queue_wait_seconds_count", queue="english", outcome="answered") == 0


def test_families_have_prometheus_types() -> None:
    text = exposition(CallCounterCollector(morning_counters(), clock=lambda: T0 + 60)).decode()
    types = {f.name: f.type for f in text_string_to_metric_families(text)}
    assert types["ivr_calls_offered"] == "counter"
    assert types["ivr_survey_ratings"] == "counter"
    assert types["ivr_queue_wait_seconds"] == "histogram"
    assert types["ivr_queue_talk_seconds"] == "histogram"


@dataclass
class FakeSession:
    name: str
    logins: int
    reconnects: int
    connected: bool = True
    dropped_events: int = 0


def test_ami_sessions_export_logins_and_reconnects_per_session() -> None:
    sessions = AmiSessionCollector([FakeSession("metrics", logins=3, reconnects=2)])
    sessions.watch(FakeSession("control", logins=1, reconnects=0, connected=False))
    found = samples(exposition(sessions))

    assert value(found, "ivr_ami_reconnects_total", session="metrics") == 2
    assert value(found, "ivr_ami_logins_total", session="control") == 1
    assert value(found, "ivr_ami_connected", session="control") == 0
    assert value(found, "ivr_ami_dropped_events_total", session="metrics") == 0


def test_live_pipeline_listener_counts_a_recorded_call_without_leaking_identifiers() -> None:
    state = CenterState(group_configs(CATALOG))
    live = LiveMetrics(RecordingStore(), state, KEY)
    counters = CallCounters.of(CATALOG)
    live.listeners.append(lambda event: counters.observe(event, 0.0))
    for message in transcript_messages():
        live.feed(message, 0.0)
    for message in transcript_messages():  # delivered twice: the state drops the copies
        live.feed(message, 0.0)
    text = exposition(CallCounterCollector(counters, clock=lambda: 0.0)).decode()

    assert sum(counters.calls["offered"].values()) == 1
    assert sum(counters.calls["answered"].values()) == 1
    for secret in ("13800000009", KEY("13800000009") or "", "1795884242.6", "1795884243.7"):
        assert secret not in text
    assert set(re.findall(r"[{,]([a-z_]+)=", text)) <= {"queue", "line", "tier", "language", "outcome", "le", "rating"}


async def test_a_real_ami_client_that_reconnects_shows_one_reconnect_and_two_logins() -> None:
    server = FakeAmi()
    await server.start()
    client = AmiClient("127.0.0.1", server.port, USERNAME, SECRET, name="metrics", backoff_initial=0.01,
                       backoff_max=0.05, ping_interval=60.0)  # fmt: skip
    runner = asyncio.create_task(client.run())
    sessions = AmiSessionCollector([client])
    try:
        assert await client.wait_connected(DEADLINE)
        assert value(samples(exposition(sessions)), "ivr_ami_reconnects_total", session="metrics") == 0
        server.connections[0].drop()
        await server.wait_until(lambda: len(server.connections) == 2, "the client to come back")
        assert await client.wait_connected(DEADLINE)
        found = samples(exposition(sessions))
        assert value(found, "ivr_ami_logins_total", session="metrics") == 2
        assert value(found, "ivr_ami_reconnects_total", session="metrics") == 1
    finally:
        await client.close()
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await runner
        await server.close()


def test_calls_turned_away_at_the_door_are_counted_per_known_line() -> None:
    from ivr.ami.protocol import AmiMessage
    from ivr.metrics.counters import LabelSets, Refusals
    from ivr.metrics.prometheus import RefusalCollector, exposition

    refusals = Refusals(LabelSets(lines=frozenset({"main", "vip"})))
    full = [("Event", "UserEvent"), ("UserEvent", "IvrCenterFull"), ("Limit", "200")]
    assert refusals.observe(AmiMessage([*full, ("Line", "main")]))
    assert refusals.observe(AmiMessage([*full, ("Line", "main")]))
    assert refusals.observe(AmiMessage([*full, ("Line", "made-up")]))
    assert not refusals.observe(AmiMessage([("Event", "UserEvent"), ("UserEvent", "IvrSurvey"), ("Line", "main")]))
    assert not refusals.observe(AmiMessage([("Event", "QueueCallerJoin"), ("Line", "main")]))
    text = exposition(RefusalCollector(refusals)).decode()
    assert 'ivr_calls_refused_total{line="main"} 2.0' in text
    assert 'ivr_calls_refused_total{line="vip"} 0.0' in text
    assert 'ivr_calls_refused_total{line="other"} 1.0' in text
