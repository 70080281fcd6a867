"""Monotonic call counters and wait / talk distributions, counted as events happen.

Theory of operation
-------------------
`CallCounters.observe(event, now)` is called with every domain event the live
state applied (`LiveMetrics.listeners`: AMI-fed, or caught up from queue_log
after a fault; never a replay of the store at startup), with `now` the wall
clock at receipt. It keeps, per call visit `(queue, uniqueid)`, the few facts
already counted, so each is counted **once** however many sources report it
(AMI late after a queue_log catch-up, a QueueStatus resync re-announcing a
waiting caller): offered at the first join, one outcome (answered, abandoned,
exited), one talk time, one survey rating. Memory is bounded: a visit is
forgotten `window` seconds (event time) after it started, or when more than
`max_calls` are held, oldest first.

Counters never go down, so an outcome is counted only once it is settled.
The one outcome that can be revised is an abandon: app_queue reports a caller
the queue moved on (timeout, empty group) with QueueCallerAbandon, exactly
like one who hung up, and the dialplan's UserEvent (`CallerOverflowed`)
follows a few milliseconds later. So a `CallerAbandoned` is held **pending**
for `grace` seconds of wall time after it was received: a `CallerOverflowed`
(or a queue_log `CallerExited`) for the visit within that time makes it an
exit; otherwise it is counted abandoned, short or not (`kpi.is_short_abandon`,
as the API counts), by the first event or scrape (`settle(now)`) after its
grace. An abandon therefore shows up at most `grace` seconds late (plus a
scrape interval; `ivr_calls_abandons_pending` says how many wait), and an
overflow whose
UserEvent comes later than that (a lost AMI link between the two) stays an
abandon here, as the reducer's today figures would not. A pending abandon
that is forgotten (memory bound) is counted at once.

Labels are bounded by the catalog (`LabelSets`): a queue, line, tier or
language value it does not know is `other`, a missing tag `unknown`; ratings
outside 1..5 are `other`. A visit takes its line, tier and language from its
join (the first one seen: a later tagged join relabels a visit only while
nothing has been counted for it); one whose join was never seen counts under
`unknown`.

Pure: no I/O, no clock reads (time is passed in); not thread-safe (call it on
the event loop, where the state is mutated).
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal, NamedTuple, Protocol

from ivr.catalog.model import Catalog

from . import kpi
from .events import (
    AgentCompleted,
    AgentConnected,
    CallerAbandoned,
    CallerExited,
    CallerJoined,
    CallerOverflowed,
    DomainEvent,
    SurveyRated,
)
from .views import TIER_ORDER, UNKNOWN

__all__ = [
    "CALL_COUNTS",
    "OTHER",
    "OUTCOMES",
    "TALK_BUCKETS",
    "WAIT_BUCKETS",
    "CallCounters",
    "CallLabels",
    "Distribution",
    "LabelSets",
]

OTHER: Final = "other"
CallCount = Literal["offered", "answered", "answered_in_service_level", "abandoned", "short_abandoned", "exited"]
CALL_COUNTS: Final[tuple[CallCount, ...]] = (
    "offered", "answered", "answered_in_service_level", "abandoned", "short_abandoned", "exited",
)  # fmt: skip
Outcome = Literal["answered", "abandoned", "exited"]
OUTCOMES: Final[tuple[Outcome, ...]] = ("answered", "abandoned", "exited")
RATINGS: Final = frozenset(str(n) for n in range(1, 6))

# Upper bounds in seconds. The waits include the catalog's service-level
# thresholds (10, 15, 20 s) and the short-abandon threshold (5 s), so a bucket
# edge falls on each; talk times span a quick answer to an hour.
WAIT_BUCKETS: Final = (1.0, 2.0, 5.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0, 90.0, 120.0, 180.0, 300.0, 600.0)
TALK_BUCKETS: Final = (5.0, 10.0, 30.0, 60.0, 120.0, 180.0, 300.0, 600.0, 900.0, 1800.0, 3600.0)


class CallLabels(NamedTuple):
    """The bounded labels one call visit is counted under (a tuple: hashed in C)."""

    queue: str
    line: str = UNKNOWN
    tier: str = UNKNOWN
    language: str = UNKNOWN


@dataclass(frozen=True, slots=True)
class LabelSets:
    """The label values allowed per label (None: any value is kept as it is)."""

    queues: frozenset[str] | None = None
    lines: frozenset[str] | None = None
    tiers: frozenset[str] | None = None
    languages: frozenset[str] | None = None

    @classmethod
    def of(cls, catalog: Catalog) -> LabelSets:
        return cls(
            queues=frozenset(q.id for q in catalog.queues),
            lines=frozenset(n.id for n in catalog.numbers),
            tiers=frozenset(TIER_ORDER),
            languages=frozenset(lang.code for lang in catalog.languages),
        )

    def queue(self, value: str) -> str:
        return _bounded(value, self.queues)

    def labels(self, queue: str, line: str = "", tier: str = "", language: str = "") -> CallLabels:
        return CallLabels(
            self.queue(queue),
            _bounded(line, self.lines),
            _bounded(tier, self.tiers),
            _bounded(language, self.languages),
        )


def _bounded(value: str, known: frozenset[str] | None) -> str:
    if not value:
        return UNKNOWN
    if known is not None and value not in known:
        return OTHER
    return value


@dataclass(slots=True)
class Distribution:
    """A histogram: observations per bucket (`bounds` are the upper bounds, inclusive)."""

    bounds: tuple[float, ...]
    counts: list[int] = field(default_factory=list)
    """Per bucket, not cumulative; one more than `bounds` (the last is +Inf)."""
    total: float = 0.0
    """Sum of the observed values."""

    def __post_init__(self) -> None:
        if list(self.bounds) != sorted(set(self.bounds)):
            raise ValueError(f"bucket bounds must be strictly increasing: {self.bounds}")
        if not self.counts:
            self.counts = [0] * (len(self.bounds) + 1)

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.total += value

    @property
    def count(self) -> int:
        return sum(self.counts)

    def cumulative(self) -> Iterator[tuple[float, int]]:
        """(upper bound, observations at or below it), ending with (inf, count)."""
        running = 0
        for bound, n in zip((*self.bounds, float("inf")), self.counts, strict=True):
            running += n
            yield bound, running


@dataclass(slots=True)
class _Visit:
    """What has been counted of one call's visit to one queue."""

    started: float  # event time of the first event seen (for forgetting)
    labels: CallLabels
    tagged: bool = False  # labels from a join with tags
    counted: bool = False  # something counted under `labels`: they are fixed
    offered: bool = False
    outcome: Outcome | None = None
    pending_hold: float | None = None  # an abandon awaiting its grace
    overflowed: bool = False  # the queue moved the caller on (an abandon is an exit)
    talked: bool = False
    rated: bool = False


class CallCounters:
    """Counters and distributions since process start (see the module docstring)."""

    def __init__(
        self,
        labels: LabelSets | None = None,
        service_levels: Mapping[str, float] | None = None,
        *,
        grace: float = 5.0,
        window: float = 6 * 3600.0,
        max_calls: int = 100_000,
        wait_buckets: tuple[float, ...] = WAIT_BUCKETS,
        talk_buckets: tuple[float, ...] = TALK_BUCKETS,
        default_service_level: float = 20.0,
    ) -> None:
        if grace < 0 or window <= 0 or max_calls < 1:
            raise ValueError("grace >= 0, window > 0 and max_calls >= 1")
        self._sets = labels or LabelSets()
        self._service_levels = dict(service_levels or {})
        self._default_service_level = default_service_level
        self._grace = grace
        self._window = window
        self._max_calls = max_calls
        self._wait_buckets = wait_buckets
        self._talk_buckets = talk_buckets
        self._visits: dict[tuple[str, str], _Visit] = {}
        self._pending: dict[tuple[str, str], float] = {}  # visit -> settle at (wall time), in that order
        self._horizon = float("-inf")
        self.calls: dict[CallCount, Counter[CallLabels]] = {name: Counter() for name in CALL_COUNTS}
        self.waits: dict[tuple[str, Outcome], Distribution] = {}
        """Wait in queue per (queue label, outcome)."""
        self.talks: dict[str, Distribution] = {}
        """Talk time of handled calls per queue label."""
        self.ratings: Counter[tuple[str, str, str]] = Counter()
        """Survey ratings per (queue, line, rating)."""
        self._handlers: dict[type, Callable[[Any, float], None]] = {
            CallerJoined: self._joined,
            AgentConnected: self._on_connected,
            AgentCompleted: self._on_completed,
            CallerAbandoned: self._on_abandoned,
            CallerOverflowed: self._overflowed,
            CallerExited: self._on_exited,
            SurveyRated: self._rated,
        }
        if self._sets.queues is not None:  # every known group is exported from the start, at 0
            for queue in sorted(self._sets.queues):
                self._talk(queue)
                for outcome in OUTCOMES:
                    self._wait(queue, outcome)

    @classmethod
    def of(
        cls, catalog: Catalog, *, grace: float = 5.0, window: float = 6 * 3600.0, max_calls: int = 100_000
    ) -> CallCounters:
        """Counters labelled by the catalog, with its groups' service-level thresholds."""
        thresholds = {q.id: float(q.service_level_seconds) for q in catalog.queues}
        return cls(LabelSets.of(catalog), thresholds, grace=grace, window=window, max_calls=max_calls)

    @property
    def pending(self) -> int:
        """Abandons held back until their grace has passed."""
        return len(self._pending)

    @property
    def remembered(self) -> int:
        """Call visits remembered (bounded by `max_calls`)."""
        return len(self._visits)

    # -- feeding ---------------------------------------------------------------

    def observe(self, event: DomainEvent, now: float) -> None:
        """Count what `event` settles; `now` is the wall clock when it was received."""
        if self._pending:
            self.settle(now)
        handler = self._handlers.get(type(event))
        if handler is not None:  # most events (seat states, ringing) settle nothing
            handler(event, now)

    def observe_all(self, events: Iterable[DomainEvent], now: float) -> None:
        for event in events:
            self.observe(event, now)

    def settle(self, now: float) -> None:
        """Count the pending abandons whose grace has passed by `now` (wall time)."""
        pending = self._pending
        while pending:
            key, due = next(iter(pending.items()))
            if due > now:
                return
            self._settle_pending(key)

    # -- the facts ---------------------------------------------------------------

    def _on_connected(self, event: AgentConnected, now: float) -> None:
        self._answered(event.queue, event.uniqueid, event.at, event.hold_time)

    def _on_completed(self, event: AgentCompleted, now: float) -> None:
        # Its connect may have been missed (the link was down): it answers the call too.
        visit = self._answered(event.queue, event.uniqueid, event.at, event.hold_time)
        if not visit.talked:
            visit.talked = visit.counted = True
            self._talk(visit.labels.queue).observe(event.talk_time)

    def _on_abandoned(self, event: CallerAbandoned, now: float) -> None:
        visit = self._visit(event.queue, event.uniqueid, event.at)
        if visit.overflowed:
            self._settle_as(visit, "exited", event.hold_time)
        elif visit.outcome is None and visit.pending_hold is None:
            visit.pending_hold = event.hold_time
            self._pending[(event.queue, event.uniqueid)] = now + self._grace

    def _on_exited(self, event: CallerExited, now: float) -> None:
        visit = self._visit(event.queue, event.uniqueid, event.at)
        if visit.outcome is None:  # queue_log knows it left unanswered: a pending abandon was this exit
            self._pending.pop((event.queue, event.uniqueid), None)
            visit.pending_hold = None
        self._settle_as(visit, "exited", event.hold_time)

    def _joined(self, event: CallerJoined, now: float) -> None:
        key = (event.queue, event.uniqueid)
        visit = self._visits.get(key)
        tagged = bool(event.line or event.tier or event.language)
        if event.at > self._horizon:
            self._horizon = event.at
        if visit is None:
            labels = self._sets.labels(event.queue, event.line, event.tier, event.language)
            visit = self._visits[key] = _Visit(started=event.at, labels=labels, tagged=tagged)
            self._forget()
        elif tagged and not visit.tagged and not visit.counted:
            visit.labels = self._sets.labels(event.queue, event.line, event.tier, event.language)
            visit.tagged = True
        if not visit.offered:
            visit.offered = visit.counted = True
            self.calls["offered"][visit.labels] += 1

    def _answered(self, queue: str, uniqueid: str, at: float, hold_time: float) -> _Visit:
        visit = self._visit(queue, uniqueid, at)
        if visit.outcome is not None:
            return visit
        self._pending.pop((queue, uniqueid), None)
        visit.pending_hold = None
        self._settle_as(visit, "answered", hold_time)
        threshold = self._service_levels.get(queue, self._default_service_level)
        if kpi.answered_within(hold_time, threshold):
            self.calls["answered_in_service_level"][visit.labels] += 1
        return visit

    def _overflowed(self, event: CallerOverflowed, now: float) -> None:
        key = (event.queue, event.uniqueid)
        visit = self._visits.get(key)
        if visit is None or visit.outcome is not None:
            return  # refused on joining (no visit), or already settled
        if visit.pending_hold is not None:
            hold = visit.pending_hold
            self._pending.pop(key, None)
            self._settle_as(visit, "exited", hold)
        else:
            visit.overflowed = True  # its abandon, when it comes, is an exit

    def _rated(self, event: SurveyRated, now: float) -> None:
        visit = self._visit(event.queue, event.uniqueid, event.at)
        if visit.rated:
            return
        visit.rated = visit.counted = True
        line = self._sets.labels(event.queue, event.line).line if event.line else visit.labels.line
        rating = str(event.rating) if str(event.rating) in RATINGS else OTHER
        self.ratings[(visit.labels.queue, line, rating)] += 1

    def _settle_pending(self, key: tuple[str, str]) -> None:
        self._pending.pop(key, None)
        visit = self._visits.get(key)
        if visit is None or visit.pending_hold is None:
            return
        hold, visit.pending_hold = visit.pending_hold, None
        self._settle_as(visit, "abandoned", hold)

    def _settle_as(self, visit: _Visit, outcome: Outcome, hold: float) -> None:
        if visit.outcome is not None:
            return
        visit.outcome, visit.counted = outcome, True
        if outcome == "abandoned":
            self.calls["short_abandoned" if kpi.is_short_abandon(hold) else "abandoned"][visit.labels] += 1
        else:
            self.calls[outcome][visit.labels] += 1
        self._wait(visit.labels.queue, outcome).observe(hold)

    # -- bookkeeping ---------------------------------------------------------------

    def _visit(self, queue: str, uniqueid: str, at: float) -> _Visit:
        key = (queue, uniqueid)
        visit = self._visits.get(key)
        if at > self._horizon:
            self._horizon = at
        if visit is None:
            visit = self._visits[key] = _Visit(started=at, labels=self._sets.labels(queue))
            self._forget()
        return visit

    def _forget(self) -> None:
        visits = self._visits
        oldest_kept = self._horizon - self._window
        while visits:
            key, visit = next(iter(visits.items()))
            if len(visits) <= self._max_calls and visit.started >= oldest_kept:
                return
            if visit.pending_hold is not None:
                self._settle_pending(key)
            del visits[key]

    def _wait(self, queue: str, outcome: Outcome) -> Distribution:
        found = self.waits.get((queue, outcome))
        if found is None:
            found = self.waits[(queue, outcome)] = Distribution(self._wait_buckets)
        return found

    def _talk(self, queue: str) -> Distribution:
        found = self.talks.get(queue)
        if found is None:
            found = self.talks[queue] = Distribution(self._talk_buckets)
        return found


class HeaderLookup(Protocol):
    """An AMI event's headers (`ivr.ami.AmiMessage`, or a mapping)."""

    def get(self, name: str, default: str, /) -> str: ...


class Refusals:
    """Calls turned away at the door when the center was full (admission control,
    `center.max_concurrent_calls`): the dialplan's `UserEvent(IvrCenterFull,
    Line: ...)`, counted per line (bounded by the catalog's lines)."""

    EVENT: Final = "ivrcenterfull"

    def __init__(self, labels: LabelSets | None = None) -> None:
        self._labels = labels or LabelSets()
        self.by_line: Counter[str] = Counter()
        if self._labels.lines is not None:
            for line in self._labels.lines:
                self.by_line[line] = 0

    def observe(self, headers: HeaderLookup) -> bool:
        """Count the AMI event if it is a refusal (True); else leave it (False)."""
        if headers.get("Event", "").lower() != "userevent" or headers.get("UserEvent", "").lower() != self.EVENT:
            return False
        self.by_line[_bounded(headers.get("Line", ""), self._labels.lines)] += 1
        return True
