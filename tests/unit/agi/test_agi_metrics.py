"""The FastAGI series for Prometheus: sessions, faults and hang-ups per script, command latency per
command verb, with labels bounded by code (scripts served, known verbs), read through a real
prometheus_client registry as /metrics renders it."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from ivr.agi.prometheus import AgiCollector
from ivr.agi.stats import BUCKETS, COMMANDS, OTHER, AgiStats


def scrape(stats: AgiStats) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    registry = CollectorRegistry()
    registry.register(AgiCollector(stats))
    text = generate_latest(registry).decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_sessions_failures_and_hangups_are_counted_per_script_served() -> None:
    stats = AgiStats(["route", "survey", "agent"])
    route, survey = stats.script_index("route"), stats.script_index("survey")
    for _ in range(3):
        stats.session_started(route)
    stats.hung_up(route)
    stats.failed(route)
    stats.session_started(survey)

    samples = scrape(stats)

    assert samples[("ivr_agi_sessions_total", (("script", "route"),))] == 3
    assert samples[("ivr_agi_hangups_total", (("script", "route"),))] == 1
    assert samples[("ivr_agi_failures_total", (("script", "route"),))] == 1
    assert samples[("ivr_agi_sessions_total", (("script", "survey"),))] == 1
    assert samples[("ivr_agi_sessions_total", (("script", "agent"),))] == 0
    assert samples[("ivr_agi_sessions_total", (("script", "other"),))] == 0


def test_a_script_the_server_does_not_serve_is_counted_as_other_whatever_its_name() -> None:
    stats = AgiStats(["route"])
    for name in ("nope", "route2", "x" * 500):
        stats.session_started(stats.script_index(name))

    samples = scrape(stats)

    assert samples[("ivr_agi_sessions_total", (("script", OTHER),))] == 3
    assert {labels for name, labels in samples if name == "ivr_agi_sessions_total"} == {
        (("script", "route"),),
        (("script", OTHER),),
    }


def test_command_latency_is_a_histogram_per_verb_with_cumulative_buckets() -> None:
    stats = AgiStats(["route"])
    stream = stats.command_index("STREAM FILE")
    for seconds in (0.0004, 0.003, 2.0, 120.0):
        stats.observe(stream, seconds)

    samples = scrape(stats)

    def bucket(le: str) -> float:
        return samples[("ivr_agi_command_seconds_bucket", (("command", "STREAM FILE"), ("le", le)))]

    assert bucket("0.001") == 1
    assert bucket("0.005") == 2
    assert bucket("2.5") == 3
    assert bucket("60.0") == 3
    assert bucket("+Inf") == 4
    assert samples[("ivr_agi_command_seconds_count", (("command", "STREAM FILE"),))] == 4
    assert samples[("ivr_agi_command_seconds_sum", (("command", "STREAM FILE"),))] == pytest.approx(122.0034)
    assert samples[("ivr_agi_command_seconds_count", (("command", "GET DATA"),))] == 0


def test_a_bound_lands_in_its_own_bucket_as_prometheus_le_means() -> None:
    stats = AgiStats()
    stats.observe(stats.command_index("EXEC"), BUCKETS[0])
    samples = scrape(stats)
    assert samples[("ivr_agi_command_seconds_bucket", (("command", "EXEC"), ("le", "0.001")))] == 1


@pytest.mark.parametrize(
    ("name", "label"),
    [("STREAM FILE", "STREAM FILE"), ("stream file", "STREAM FILE"), ("Wait For Digit", "WAIT FOR DIGIT"),
     ("SET VARIABLE", "SET VARIABLE"), ("DATABASE PUT", OTHER), ("X" * 300, OTHER)],
)  # fmt: skip
def test_command_names_map_to_a_bounded_set_of_verbs(name: str, label: str) -> None:
    stats = AgiStats()
    stats.observe(stats.command_index(name), 0.01)
    samples = scrape(stats)
    assert samples[("ivr_agi_command_seconds_count", (("command", label),))] == 1


def test_the_command_labels_are_the_known_verbs_and_other_however_many_names_are_seen() -> None:
    stats = AgiStats()
    for n in range(1000):
        stats.observe(stats.command_index(f"MADE UP {n}"), 0.01)
    labels = {dict(labels)["command"] for name, labels in scrape(stats) if name == "ivr_agi_command_seconds_count"}
    assert labels == {*COMMANDS, OTHER}
    assert scrape(stats)[("ivr_agi_command_seconds_count", (("command", OTHER),))] == 1000


async def test_the_server_counts_each_call_and_times_each_command() -> None:
    import asyncio

    from ivr.agi import AgiSession, FastAgiServer
    from tests.unit.agi.test_agi_server import Peers, header

    async def handler(session: AgiSession) -> None:
        await session.answer()
        await session.set_variable("IVR_LANG", "zh")

    server = FastAgiServer("127.0.0.1", 0, {"route": handler})
    await server.start()
    peers = Peers()
    try:
        pbx = await peers.call(server.port, header())
        await pbx.exchange("ANSWER", "200 result=0")
        await pbx.exchange("SET VARIABLE IVR_LANG zh", "200 result=1")
        assert await pbx.expect_closed() == b""
        await asyncio.sleep(0)
    finally:
        await peers.aclose()
        await server.close()

    samples = scrape(server.stats)
    assert samples[("ivr_agi_sessions_total", (("script", "route"),))] == 1
    assert samples[("ivr_agi_failures_total", (("script", "route"),))] == 0
    assert samples[("ivr_agi_command_seconds_count", (("command", "ANSWER"),))] == 1
    assert samples[("ivr_agi_command_seconds_count", (("command", "SET VARIABLE"),))] == 1
