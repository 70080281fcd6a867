"""Property: the KPIs depend on the events, not on how they were delivered.

AMI delivers events in TCP chunks, a reconnect resyncs and a replay may send
some events twice; whatever the chunking and wherever duplicates land, the
reducer must report the same numbers.
"""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from ivr.metrics.events import DomainEvent, MemberAdded, MemberPaused, SurveyRated
from ivr.metrics.reducer import CenterState, GroupConfig, KpiRow

from .script import QUEUE, T0, abandoned, answered, by_time

GROUPS = {QUEUE: GroupConfig(service_level_seconds=20, wrapup_seconds=10)}

EVENTS: list[DomainEvent] = [
    MemberAdded(at=T0 - 100, queue=QUEUE, agent="1001"),
    MemberAdded(at=T0 - 100, queue=QUEUE, agent="1002"),
    *by_time(
        answered("c1", joined=0, hold=10, talk=60, caller="k1", agent="1001"),
        answered("c2", joined=30, hold=25, talk=300, caller="k2", agent="1002", line="vip"),
        abandoned("c3", joined=40, hold=3, caller="k3"),
        abandoned("c4", joined=880, hold=45, caller="k1", tier="vip"),
        answered("c5", joined=890, hold=40, talk=100, caller="k1", agent="1001", language="en"),
    ),
    MemberPaused(at=T0 + 1200, queue=QUEUE, agent="1002", paused=True, reason="lunch"),
    SurveyRated(at=T0 + 1300, uniqueid="c5", queue=QUEUE, agent="1001", line="main", rating=4),
]


def report(state: CenterState) -> list[list[KpiRow]]:
    cuts = (None, "group", "agent", "line", "tier", "language")
    return [state.kpis(T0 - 900, T0 + 2700, cut) for cut in cuts]  # type: ignore[arg-type]


def reference() -> list[list[KpiRow]]:
    state = CenterState(GROUPS)
    state.apply_all(EVENTS)
    return report(state)


REFERENCE = reference()


@settings(max_examples=60, deadline=None)
@given(
    cuts=st.lists(st.integers(0, len(EVENTS)), max_size=8),
    duplicates=st.lists(st.tuples(st.integers(0, len(EVENTS) - 1), st.integers(0, len(EVENTS))), max_size=10),
)
def test_any_chunking_with_injected_duplicates_gives_the_same_kpis(
    cuts: list[int], duplicates: list[tuple[int, int]]
) -> None:
    # Re-deliver event i again after position j (a replay), then feed the
    # stream in the chunks the cut points make.
    delivered = list(EVENTS)
    for source, after in sorted(duplicates, key=lambda d: -d[1]):
        if after > source:  # a replay only repeats what was already sent
            delivered.insert(after, EVENTS[source])
    bounds = sorted({0, len(delivered), *(min(c, len(delivered)) for c in cuts)})
    state = CenterState(GROUPS)
    for lo, hi in itertools.pairwise(bounds):
        state.apply_all(delivered[lo:hi])
    assert report(state) == REFERENCE
