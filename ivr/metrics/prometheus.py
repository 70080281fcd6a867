"""Prometheus exposition of the live floor and today's KPIs.

`CenterCollector` is a custom collector: on every scrape it reads the
`CenterState` (snapshot at `clock()`, today's call counts cut by group,
line, tier and language, from the reducer's live sums) and the pipeline
counters, and yields metric families. It is
registered in a registry of its own (`exposition`), never in
prometheus_client's global default registry. Call it on the event loop
thread, where the state is mutated, not from a worker thread.

Labels are bounded by configuration, never by traffic: `queue` (skill
groups), `line`, `tier`, `language`, `agent` (seat ids), `state` (the six
seat states) and `kpi` (the five target names). Caller numbers, caller keys
and uniqueids never appear. With a catalog, a line, tier or language value
the catalog does not know (a dialplan bug could set anything) is counted
under `other`, and a call with no tag under `unknown`.

"Today" gauges restart at local midnight (the catalog's time zone), so they
are gauges, not counters; the `_total` counters count since process start.

`CallCounterCollector` exports what `counters.CallCounters` counted as events
happened: monotonic `ivr_calls_*_total` per queue, line, tier and language,
survey ratings, and the wait and talk histograms (`ivr_queue_wait_seconds`
per queue and outcome, `ivr_queue_talk_seconds` per queue), the way
Prometheus wants them: rates, ratios and percentiles over any range come from
`rate()` and `histogram_quantile()`, and a restart is a counter reset
Prometheus handles. `AmiSessionCollector` exports the AMI sessions' logins
and reconnects (`session` is the client's name: `metrics`, `control`).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from typing import Protocol

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from ivr.catalog.model import Catalog

from .counters import CALL_COUNTS, CallCounters, Distribution, Refusals
from .reducer import CallCounts, CenterState, LiveCut, SeatState
from .stats import PipelineStats
from .views import TIER_ORDER, UNKNOWN, day_start_of

__all__ = ["CONTENT_TYPE", "AmiSession", "AmiSessionCollector", "CallCounterCollector", "CenterCollector", "exposition"]

CONTENT_TYPE = CONTENT_TYPE_LATEST
OTHER = "other"
_QUEUE_COUNTS = (
    ("offered", "Calls that joined the queue today."),
    ("answered", "Calls answered by an agent today."),
    ("abandoned", "Calls the caller hung up in queue today (short abandons excluded)."),
    ("short_abandoned", "Calls hung up within the short-abandon threshold today."),
    ("exited", "Calls the queue sent back to the dialplan today (timeout, empty)."),
    ("answered_in_service_level", "Calls answered within the group's threshold today."),
)
_CUT_COUNTS = ("offered", "answered", "abandoned")


class CenterCollector:
    """prometheus_client collector of one center's live state (see the module docstring)."""

    def __init__(
        self,
        state: CenterState,
        catalog: Catalog | None = None,
        *,
        clock: Callable[[], float],
        pipeline: PipelineStats | None = None,
        subscribers: Callable[[], int] | None = None,
        backlog: Callable[[], int] | None = None,
    ) -> None:
        self._state = state
        self._catalog = catalog
        self._clock = clock
        self._pipeline = pipeline
        self._subscribers = subscribers
        self._backlog = backlog
        known: dict[str, frozenset[str] | None] = {"line": None, "tier": None, "language": None}
        if catalog is not None:
            known["line"] = frozenset(n.id for n in catalog.numbers)
            known["tier"] = frozenset(TIER_ORDER)
            known["language"] = frozenset(lang.code for lang in catalog.languages)
        self._known = known

    def collect(self) -> Iterator[Metric]:
        now = self._clock()
        snapshot = self._state.snapshot(now)
        day = day_start_of(self._catalog, now)

        def today(group_by: LiveCut) -> list[CallCounts]:
            return self._state.today_counts(now, day, group_by)

        waiting = GaugeMetricFamily("ivr_queue_callers_waiting", "Callers waiting in the queue now.", labels=["queue"])
        longest = GaugeMetricFamily(
            "ivr_queue_longest_wait_seconds",
            "Wait so far of the longest-waiting caller now (0 when none).",
            labels=["queue"],
        )
        agents = GaugeMetricFamily(
            "ivr_queue_agents", "Member seats of the queue by state now.", labels=["queue", "state"]
        )
        for group in snapshot.groups:
            waiting.add_metric([group.group], group.waiting)
            longest.add_metric([group.group], group.longest_wait)
            for state in SeatState:
                agents.add_metric([group.group, state.value], getattr(group, state.value))
        yield from (waiting, longest, agents)

        yield from self._queue_today(today("group"))
        for cut in ("line", "tier", "language"):
            yield from self._cut_today(cut, today(cut))
        yield from self._targets()

        seat = GaugeMetricFamily(
            "ivr_agent_state", "1 for the seat's current state, 0 for the others.",
            labels=["agent", "state"],
        )  # fmt: skip
        in_state = GaugeMetricFamily(
            "ivr_agent_state_seconds", "Time the seat has been in its current state.",
            labels=["agent"],
        )  # fmt: skip
        for a in snapshot.agents:
            for state in SeatState:
                seat.add_metric([a.agent, state.value], 1.0 if a.state is state else 0.0)
            in_state.add_metric([a.agent], a.time_in_state)
        yield from (seat, in_state)
        yield from self._pipeline_metrics()

    def _queue_today(self, rows: Iterable[CallCounts]) -> Iterator[Metric]:
        by_queue = {row.key: row for row in rows if row.key is not None}
        counts = {
            name: GaugeMetricFamily(f"ivr_queue_{name}_today", doc, labels=["queue"]) for name, doc in _QUEUE_COUNTS
        }
        ratios = {
            "service_level": GaugeMetricFamily(
                "ivr_queue_service_level_today",
                "Answered within the threshold / (offered - short abandons), today.",
                labels=["queue"],
            ),
            "answer_rate": GaugeMetricFamily(
                "ivr_queue_answer_rate_today", "Answered / offered, today.", labels=["queue"]
            ),
            "abandon_rate": GaugeMetricFamily(
                "ivr_queue_abandon_rate_today",
                "Abandoned / (offered - short abandons), today.",
                labels=["queue"],
            ),
            "asa": GaugeMetricFamily(
                "ivr_queue_asa_seconds_today",
                "Average speed of answer (mean wait of answered calls), today.",
                labels=["queue"],
            ),
            "aht": GaugeMetricFamily(
                "ivr_queue_aht_seconds_today",
                "Average handle time (talk + wrap-up per handled call), today.",
                labels=["queue"],
            ),
        }
        known = {queue.id for queue in self._catalog.queues} if self._catalog else set()
        for queue in sorted(known - set(by_queue)):  # a group without calls today counts 0
            for name, _ in _QUEUE_COUNTS:
                counts[name].add_metric([queue], 0)
        for queue in sorted(by_queue):
            row = by_queue[queue]
            for name, _ in _QUEUE_COUNTS:
                counts[name].add_metric([queue], getattr(row, name))
            for name, family in ratios.items():
                value = getattr(row, name)
                if value is not None:  # no calls: no sample, rather than a made-up 0
                    family.add_metric([queue], value)
        yield from counts.values()
        yield from ratios.values()

    def _cut_today(self, cut: str, rows: Iterable[CallCounts]) -> Iterator[Metric]:
        known = self._known[cut]
        totals: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(_CUT_COUNTS, 0))
        for row in rows:
            key = row.key or UNKNOWN
            if known is not None and key != UNKNOWN and key not in known:
                key = OTHER
            for name in _CUT_COUNTS:
                totals[key][name] += getattr(row, name)
        for name in _CUT_COUNTS:
            family = GaugeMetricFamily(f"ivr_{cut}_{name}_today", f"Calls {name} today by {cut}.", labels=[cut])
            for key in sorted(totals):
                family.add_metric([key], totals[key][name])
            yield family

    def _targets(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "ivr_queue_target", "The group's KPI target from the catalog.", labels=["queue", "kpi"]
        )
        for queue in self._catalog.queues if self._catalog else ():
            t = queue.targets
            for name, value in (
                ("service_level", t.service_level),
                ("answer_rate", t.answer_rate),
                ("abandon_rate", t.abandon_rate),
                ("asa_seconds", t.asa_seconds),
                ("aht_seconds", t.aht_seconds),
            ):
                family.add_metric([queue.id, name], value)
        yield family

    def _pipeline_metrics(self) -> Iterator[Metric]:
        p = self._pipeline
        if p is not None:
            for name, value, doc in (
                ("ami_messages", p.messages, "AMI messages read by the metrics pipeline."),
                ("events", p.events, "Domain events applied to the live state."),
                ("rejected", p.rejected, "AMI events refused by intake (malformed)."),
                ("stored", p.stored, "Events newly written to the event store."),
                ("store_errors", p.store_errors, "Failed event store appends (retried)."),
                ("store_dropped", p.store_dropped, "Events dropped unstored (backlog full)."),
                ("published", p.published, "Snapshots published to live subscribers."),
                ("dropped", p.dropped, "Updates dropped for slow live subscribers."),
            ):
                yield CounterMetricFamily(f"ivr_pipeline_{name}", doc, value=value)
        if self._subscribers is not None:
            yield GaugeMetricFamily(
                "ivr_pipeline_subscribers", "Live subscribers (wallboards).",
                value=self._subscribers(),
            )  # fmt: skip
        if self._backlog is not None:
            yield GaugeMetricFamily(
                "ivr_pipeline_store_backlog", "Events applied but not yet stored.",
                value=self._backlog(),
            )  # fmt: skip
        yield CounterMetricFamily(
            "ivr_reducer_duplicates", "Duplicate events dropped by the reducer.",
            value=self._state.duplicates,
        )  # fmt: skip
        yield CounterMetricFamily(
            "ivr_reducer_late", "Events dropped as older than the dedupe window.",
            value=self._state.late,
        )  # fmt: skip


_CALL_DOCS = {
    "offered": "Calls that joined the queue (one per visit).",
    "answered": "Calls an agent answered.",
    "answered_in_service_level": "Calls answered within the group's service-level threshold.",
    "abandoned": "Calls the caller hung up in queue (short abandons excluded).",
    "short_abandoned": "Calls hung up in queue within the short-abandon threshold.",
    "exited": "Calls the queue moved on unanswered (timeout, empty group, overflow).",
}
_CALL_LABELS = ["queue", "line", "tier", "language"]


class CallCounterCollector:
    """prometheus_client collector of a `CallCounters` (see the module docstring)."""

    def __init__(self, counters: CallCounters, *, clock: Callable[[], float]) -> None:
        self._counters = counters
        self._clock = clock

    def collect(self) -> Iterator[Metric]:
        counters = self._counters
        counters.settle(self._clock())  # abandons whose grace has passed count now
        for name in CALL_COUNTS:
            family = CounterMetricFamily(f"ivr_calls_{name}", _CALL_DOCS[name], labels=_CALL_LABELS)
            rows = counters.calls[name]
            for labels in sorted(rows, key=lambda k: (k.queue, k.line, k.tier, k.language)):
                family.add_metric([labels.queue, labels.line, labels.tier, labels.language], rows[labels])
            yield family
        waits = HistogramMetricFamily(
            "ivr_queue_wait_seconds", "Wait in queue, by how the visit ended.", labels=["queue", "outcome"]
        )
        for (queue, outcome), distribution in sorted(counters.waits.items()):
            waits.add_metric([queue, outcome], _buckets(distribution), distribution.total)
        talks = HistogramMetricFamily("ivr_queue_talk_seconds", "Talk time of handled calls.", labels=["queue"])
        for queue, distribution in sorted(counters.talks.items()):
            talks.add_metric([queue], _buckets(distribution), distribution.total)
        ratings = CounterMetricFamily(
            "ivr_survey_ratings", "Post-call survey ratings (1-5).", labels=["queue", "line", "rating"]
        )
        for (queue, line, rating), n in sorted(counters.ratings.items()):
            ratings.add_metric([queue, line, rating], n)
        yield from (waits, talks, ratings)
        yield GaugeMetricFamily(
            "ivr_calls_abandons_pending", "Abandons held back until no overflow can follow.",
            value=counters.pending,
        )  # fmt: skip


def _buckets(distribution: Distribution) -> list[tuple[str, float]]:
    return [("+Inf" if math.isinf(bound) else repr(bound), float(n)) for bound, n in distribution.cumulative()]


class AmiSession(Protocol):
    """What `AmiSessionCollector` reads of an AMI client (`ivr.ami.AmiClient`)."""

    @property
    def name(self) -> str: ...
    @property
    def logins(self) -> int: ...
    @property
    def reconnects(self) -> int: ...
    @property
    def connected(self) -> bool: ...
    @property
    def dropped_events(self) -> int: ...


class AmiSessionCollector:
    """The AMI sessions' logins and reconnects; features add theirs with `watch`."""

    def __init__(self, sessions: Iterable[AmiSession] = ()) -> None:
        self._sessions = list(sessions)

    def watch(self, session: AmiSession) -> None:
        self._sessions.append(session)

    def collect(self) -> Iterator[Metric]:
        families = (
            (CounterMetricFamily, "logins", "Successful AMI logins, the first one included.", lambda s: s.logins),
            (CounterMetricFamily, "reconnects", "Successful AMI logins after the first one.", lambda s: s.reconnects),
            (CounterMetricFamily, "dropped_events", "AMI events dropped (consumer behind).",
             lambda s: s.dropped_events),
            (GaugeMetricFamily, "connected", "1 while the session is logged in.", lambda s: float(s.connected)),
        )  # fmt: skip
        for kind, name, doc, read in families:
            family = kind(f"ivr_ami_{name}", doc, labels=["session"])
            for session in sorted(self._sessions, key=lambda s: s.name):
                family.add_metric([session.name], read(session))
            yield family


class RefusalCollector:
    """`ivr_calls_refused_total{line}`: calls turned away because the center was full."""

    def __init__(self, refusals: Refusals) -> None:
        self._refusals = refusals

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "ivr_calls_refused", "Calls turned away at the door: the center was full (SIP 503).", labels=["line"]
        )
        for line, n in sorted(self._refusals.by_line.items()):
            family.add_metric([line], n)
        yield family


def exposition(*collectors: Collector) -> bytes:
    """The Prometheus text format of the collectors, from a registry of their own."""
    registry = CollectorRegistry(auto_describe=False)
    for collector in collectors:
        registry.register(collector)
    return generate_latest(registry)
