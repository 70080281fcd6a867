"""The FastAGI series for Prometheus, read from the server's :class:`~ivr.agi.stats.AgiStats` when scraped.

| series | type | labels |
| --- | --- | --- |
| ``ivr_agi_sessions_total`` | counter | ``script`` |
| ``ivr_agi_failures_total`` | counter: calls a fault ended (not hang-ups) | ``script`` |
| ``ivr_agi_hangups_total`` | counter: calls the caller hung up during | ``script`` |
| ``ivr_agi_command_seconds`` | histogram: command sent -> answer read | ``command`` |

Counters count since the process started. Call :meth:`AgiCollector.collect`
on the event loop's thread (aiohttp's handler of /metrics does).
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric

from .stats import AgiStats

__all__ = ["AgiCollector"]


class AgiCollector:
    """prometheus_client collector of one FastAGI server's counters."""

    def __init__(self, stats: AgiStats) -> None:
        self._stats = stats

    def collect(self) -> Iterator[Metric]:
        sessions = CounterMetricFamily("ivr_agi_sessions", "FastAGI calls served, per script.", labels=["script"])
        failures = CounterMetricFamily(
            "ivr_agi_failures", "FastAGI calls ended by a fault (bug, timeout, protocol error), per script.",
            labels=["script"],
        )  # fmt: skip
        hangups = CounterMetricFamily(
            "ivr_agi_hangups", "FastAGI calls the caller hung up during (not errors), per script.", labels=["script"]
        )
        for counts in self._stats.scripts():
            sessions.add_metric([counts.script], counts.sessions)
            failures.add_metric([counts.script], counts.failures)
            hangups.add_metric([counts.script], counts.hangups)
        latency = HistogramMetricFamily(
            "ivr_agi_command_seconds", "FastAGI command latency: command written to answer read, per command.",
            labels=["command"],
        )  # fmt: skip
        for command in self._stats.commands():
            buckets = [(_bound(bound), count) for bound, count in command.cumulative]
            latency.add_metric([command.command], buckets, sum_value=command.sum)
        yield sessions
        yield failures
        yield hangups
        yield latency


def _bound(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(bound)
