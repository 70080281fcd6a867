"""Specs of the Prometheus exposition: live floor and today's KPIs, bounded labels only."""

from __future__ import annotations

import re

import prometheus_client
from prometheus_client.parser import text_string_to_metric_families

from ivr.metrics.adapters.live import LiveMetrics
from ivr.metrics.events import CallerJoined
from ivr.metrics.intake import CallerKeyer
from ivr.metrics.prometheus import CenterCollector, exposition
from ivr.metrics.reducer import CenterState, group_configs

from .center import CATALOG, transcript_messages
from .day import NOW, morning_state
from .test_live_pipeline import LAST_EVENT_AT, RecordingStore

KEY = CallerKeyer(b"test-salt-0123456789")


def samples(text: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text.decode())
        for s in family.samples
    }


def value(found: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return found[(name, tuple(sorted(labels.items())))]


def test_scripted_morning_is_exposed_per_queue_line_tier_and_seat() -> None:
    found = samples(exposition(CenterCollector(morning_state(), CATALOG, clock=lambda: NOW)))

    assert value(found, "ivr_queue_callers_waiting", queue="english") == 1
    assert value(found, "ivr_queue_longest_wait_seconds", queue="english") == 90
    assert value(found, "ivr_queue_agents", queue="basic_zh", state="available") == 2
    assert value(found, "ivr_queue_agents", queue="english", state="paused") == 1
    assert value(found, "ivr_queue_offered_today", queue="basic_zh") == 6
    assert value(found, "ivr_queue_answered_today", queue="basic_zh") == 4
    assert value(found, "ivr_queue_abandoned_today", queue="basic_zh") == 1
    assert value(found, "ivr_queue_short_abandoned_today", queue="basic_zh") == 1
    assert value(found, "ivr_queue_service_level_today", queue="basic_zh") == 0.6
    assert value(found, "ivr_queue_asa_seconds_today", queue="basic_zh") == 15
    assert value(found, "ivr_queue_aht_seconds_today", queue="basic_zh") == 165
    assert ("ivr_queue_asa_seconds_today", (("queue", "english"),)) not in found  # none answered
    assert value(found, "ivr_line_offered_today", line="main") == 5
    assert value(found, "ivr_line_answered_today", line="vip") == 1
    assert value(found, "ivr_tier_offered_today", tier="standard") == 5
    assert value(found, "ivr_language_offered_today", language="zh") == 6
    assert value(found, "ivr_queue_target", queue="basic_zh", kpi="aht_seconds") == 160
    assert value(found, "ivr_agent_state", agent="1003", state="paused") == 1
    assert value(found, "ivr_agent_state", agent="1003", state="available") == 0
    assert value(found, "ivr_agent_state_seconds", agent="1001") == 475


def test_tag_values_the_catalog_does_not_know_are_counted_as_other() -> None:
    state = morning_state()
    for n, line in enumerate(("rogue-1", "rogue-2")):
        state.apply(
            CallerJoined(
                at=NOW - 10, queue="basic_zh", uniqueid=f"r{n}", caller_hash=None, position=1,
                line=line, tier="diamond", language="xx",
            )
        )  # fmt: skip
    found = samples(exposition(CenterCollector(state, CATALOG, clock=lambda: NOW)))
    assert value(found, "ivr_line_offered_today", line="other") == 2
    assert value(found, "ivr_tier_offered_today", tier="other") == 2
    assert value(found, "ivr_language_offered_today", language="other") == 2
    assert not any(dict(labels).get("line", "").startswith("rogue") for _, labels in found)


async def test_recorded_call_exposes_no_caller_number_caller_key_or_uniqueid() -> None:
    state = CenterState(group_configs(CATALOG))
    live = LiveMetrics(RecordingStore(), state, KEY, clock=lambda: LAST_EVENT_AT + 1)
    for message in transcript_messages():
        live.feed(message, 0.0)
    collector = CenterCollector(
        state, CATALOG, clock=lambda: LAST_EVENT_AT + 1, pipeline=live.stats,
        subscribers=lambda: live.subscribers, backlog=lambda: live.backlog,
    )  # fmt: skip
    text = exposition(collector).decode()

    assert 'ivr_queue_answered_today{queue="basic_zh"} 1.0' in text
    assert "ivr_pipeline_events_total 8.0" in text
    assert "ivr_pipeline_dropped_total 0.0" in text
    assert "ivr_pipeline_store_backlog 8.0" in text
    secrets = ["13800000009", KEY("13800000009") or "", "1795884242.6", "1795884243.7"]
    for secret in secrets:
        assert secret not in text
    label_names = set(re.findall(r"[{,]([a-z_]+)=", text))
    assert label_names <= {"queue", "state", "line", "tier", "language", "agent", "kpi"}


def test_collector_stays_out_of_the_global_default_registry() -> None:
    before = set(prometheus_client.REGISTRY._names_to_collectors)
    exposition(CenterCollector(morning_state(), CATALOG, clock=lambda: NOW))
    exposition(CenterCollector(morning_state(), CATALOG, clock=lambda: NOW))  # twice: no clash
    assert set(prometheus_client.REGISTRY._names_to_collectors) == before
    assert not any(name.startswith("ivr_") for name in before)
