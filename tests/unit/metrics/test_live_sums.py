"""Property: the reducer's live sums say what a recomputation from every call says.

`today_counts`, `today_intervals` and `floor` are kept up to date instead of
recomputed; whatever the events (in any order, with duplicates, late ones,
wrap-ups that end by the clock, surveys with or without their call) and
whenever they are asked, they must equal the same fields of `kpis()` and
the groups of a seat-by-seat count.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from fractions import Fraction

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ivr.metrics import kpi
from ivr.metrics.events import (
    AgentCalled,
    AgentCompleted,
    AgentConnected,
    AgentDumped,
    AgentRingNoAnswer,
    CallerAbandoned,
    CallerExited,
    CallerJoined,
    CallerLeft,
    DomainEvent,
    MemberAdded,
    MemberPaused,
    MemberRemoved,
    MemberStatusChanged,
    SurveyRated,
)
from ivr.metrics.reducer import CallCounts, CenterState, GroupConfig, SeatState

from .script import T0, abandoned, answered, by_time

GROUPS = {
    "basic_zh": GroupConfig(service_level_seconds=20, wrapup_seconds=10),
    "vip": GroupConfig(service_level_seconds=10, wrapup_seconds=0),
}
QUEUES = ["basic_zh", "vip", "other"]
SEATS = ["1001", "1002", "1003"]
CUTS = (None, "group", "line", "tier", "language")
FLOOR_ORDER = (
    SeatState.AVAILABLE,
    SeatState.RINGING,
    SeatState.ON_CALL,
    SeatState.WRAP_UP,
    SeatState.PAUSED,
    SeatState.LOGGED_OUT,
)


def expected_counts(state: CenterState, now: float, day: float, cut: object) -> list[CallCounts]:
    rows = [CallCounts.of(row) for row in state.kpis(day, now, cut, interval=None)]  # type: ignore[arg-type]
    if cut is None and not rows:  # no call, survey or seat time: the center total is all zeros
        counts = dict.fromkeys(("offered", "answered", "abandoned", "short_abandoned", "exited", "waiting"), 0)
        nothing = dict.fromkeys(("answer_rate", "abandon_rate", "service_level", "asa", "average_talk_time", "aht"))
        rows = [
            CallCounts(
                start=day,
                end=now,
                group_by=None,
                key=None,
                **counts,
                answered_in_service_level=0,
                handled=0,
                **nothing,
                talk_seconds=0.0,
                wrapup_seconds=0.0,
            )
        ]
    return rows


def expected_floor(state: CenterState, now: float) -> list[tuple[object, ...]]:
    snapshot = state.snapshot(now)
    out = []
    for group in snapshot.groups:
        members = [a for a in snapshot.agents if group.group in a.groups]
        counts = tuple(sum(1 for a in members if a.state is s) for s in FLOOR_ORDER)
        out.append((group.group, group.waiting, group.longest_wait, *counts))
    return out


def floor(state: CenterState, now: float) -> list[tuple[object, ...]]:
    return [
        (g.group, g.waiting, g.longest_wait, g.available, g.ringing, g.on_call, g.wrap_up, g.paused, g.logged_out)
        for g in state.floor(now)
    ]


def check(state: CenterState, now: float, day: float) -> None:
    for cut in CUTS:
        live = state.today_counts(now, day, cut)  # type: ignore[arg-type]
        assert live == expected_counts(state, now, day, cut), cut
    recomputed = [CallCounts.of(row) for row in state.kpis(day, now, None, interval=kpi.INTERVAL_SECONDS)]
    assert state.today_intervals(now, day) == recomputed
    assert floor(state, now) == expected_floor(state, now)


# --------------------------------------------------------------------------- random days

uid = st.integers(0, 7).map(lambda n: f"c{n}")
queue = st.sampled_from(QUEUES)
seat = st.sampled_from(SEATS)
at = st.floats(0, 3000, allow_nan=False).map(lambda s: T0 + round(s, 3))
seconds = st.one_of(st.integers(0, 60).map(float), st.floats(0, 60, allow_nan=False))
tag = st.sampled_from(["", "main", "vip"])

EVENTS = st.one_of(
    st.builds(
        CallerJoined, at=at, queue=queue, uniqueid=uid, caller_hash=st.sampled_from([None, "k1", "k2"]),
        position=st.integers(1, 3), line=tag, tier=tag, language=st.sampled_from(["", "zh", "en"]),
    ),
    st.builds(CallerAbandoned, at=at, queue=queue, uniqueid=uid, position=st.just(1), original_position=st.just(1),
              hold_time=seconds),
    st.builds(CallerExited, at=at, queue=queue, uniqueid=uid, reason=st.just("timeout"), position=st.just(1),
              original_position=st.just(1), hold_time=seconds),
    st.builds(CallerLeft, at=at, queue=queue, uniqueid=uid, position=st.just(1)),
    st.builds(AgentCalled, at=at, queue=queue, uniqueid=uid, agent=seat),
    st.builds(AgentRingNoAnswer, at=at, queue=queue, uniqueid=uid, agent=seat, ring_time=seconds),
    st.builds(AgentDumped, at=at, queue=queue, uniqueid=uid, agent=seat),
    st.builds(AgentConnected, at=at, queue=queue, uniqueid=uid, agent=seat, hold_time=seconds, ring_time=seconds),
    st.builds(AgentCompleted, at=at, queue=queue, uniqueid=uid, agent=seat, hold_time=seconds, talk_time=seconds,
              reason=st.just("caller")),
    st.builds(MemberAdded, at=at, queue=queue, agent=seat, paused=st.booleans()),
    st.builds(MemberRemoved, at=at, queue=queue, agent=seat),
    st.builds(MemberPaused, at=at, queue=st.sampled_from([*QUEUES, ""]), agent=seat, paused=st.booleans(),
              reason=st.sampled_from(["", "lunch"])),
    st.builds(MemberStatusChanged, at=at, queue=queue, agent=seat, status=st.sampled_from([1, 2, 5, 6]),
              paused=st.booleans(), paused_reason=st.sampled_from(["", "break"]), in_call=st.booleans(),
              wrapup=st.sampled_from([None, 0, 5])),
    st.builds(SurveyRated, at=at, uniqueid=st.sampled_from(["c1", "c9"]), queue=queue, agent=seat, line=tag,
              rating=st.integers(1, 5)),
)  # fmt: skip


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    events=st.lists(EVENTS, max_size=40),
    asks=st.lists(st.tuples(st.integers(0, 40), st.floats(0.001, 2000, allow_nan=False), st.integers(0, 3)),
                  max_size=6),
    in_order=st.booleans(),
)  # fmt: skip
def test_live_sums_equal_a_recomputation_whatever_the_events_and_whenever_asked(
    events: list[DomainEvent], asks: list[tuple[int, float, int]], in_order: bool
) -> None:
    if in_order:
        events = sorted(events, key=lambda e: e.at)
    state = CenterState(GROUPS)
    asked = sorted(asks)
    position = 0
    for index, event in enumerate(events):
        while position < len(asked) and asked[position][0] <= index:
            _, ahead, days = asked[position]
            now = (state.horizon or T0) + ahead
            check(state, now, kpi.interval_start(T0 - days * 900))
            position += 1
        state.apply(event)
    now = (state.horizon or T0) + 1
    check(state, now, kpi.interval_start(T0))
    check(state, now + 5000, kpi.interval_start(T0 + 900))  # a later day start: the window moves


def test_a_scripted_busy_hour_keeps_equal_sums_at_every_step() -> None:
    calls: list[Sequence[DomainEvent]] = []
    for n in range(40):
        agent = SEATS[n % 3]
        if n % 4 == 3:
            calls.append(abandoned(f"c{n}", joined=n * 45, hold=n % 9, queue=QUEUES[n % 2], caller=f"k{n % 5}"))
        else:
            line = ["main", "vip", ""][n % 3]
            call = answered(f"c{n}", joined=n * 45, hold=n % 25 + 0.25, talk=60 + n, agent=agent, queue=QUEUES[n % 2],
                            caller=f"k{n % 5}", line=line)  # fmt: skip
            calls.append(call)
    seats = [MemberAdded(at=T0 - 10, queue=q, agent=a) for q, a in itertools.product(QUEUES[:2], SEATS)]
    state = CenterState(GROUPS)
    for i, event in enumerate(by_time(seats, *[list(c) for c in calls])):
        state.apply(event)
        if i % 7 == 0:
            check(state, event.at + 3, kpi.interval_start(T0))
    check(state, T0 + 3 * 3600, kpi.interval_start(T0))


def test_sums_of_seconds_do_not_depend_on_the_order_of_the_calls() -> None:
    # 0.1 + 0.2 + 0.3 is not 0.3 + 0.2 + 0.1 in floats; summed exactly, it is.
    holds = [0.1, 0.2, 0.3, 1e-9, 12.345678]
    calls = [
        answered(f"c{n}", joined=n, hold=hold, talk=hold * 3, agent=f"20{n:02d}", queue="vip")
        for n, hold in enumerate(holds)
    ]
    forward, backward = CenterState(GROUPS), CenterState(GROUPS)
    for call in calls:
        forward.apply_all(call)
    for call in reversed(calls):
        backward.apply_all(call)
    now, day = T0 + 4000, kpi.interval_start(T0)
    assert forward.today_counts(now, day) == backward.today_counts(now, day)
    assert forward.kpis(day, now, None, interval=None) == backward.kpis(day, now, None, interval=None)
    (row,) = forward.kpis(day, now, None, interval=None)
    assert row.asa == float(sum(map(Fraction, holds))) / 5  # the exact sum, rounded once


def test_a_clock_behind_asterisk_is_answered_by_recomputing() -> None:
    state = CenterState(GROUPS)
    state.apply_all(answered("c1", joined=100, hold=5, talk=30))
    now = T0 + 50  # before the call joined, by our clock
    assert state.today_counts(now, kpi.interval_start(T0)) == expected_counts(state, now, kpi.interval_start(T0), None)


def test_forgetting_old_calls_rebuilds_the_sums() -> None:
    state = CenterState(GROUPS)
    state.apply_all(by_time(answered("c1", joined=0, hold=5, talk=30), answered("c2", joined=2000, hold=5, talk=30)))
    check(state, T0 + 5000, kpi.interval_start(T0))
    state.forget_before(T0 + 1000)
    check(state, T0 + 5000, kpi.interval_start(T0))


def test_a_seat_that_leaves_its_queue_in_wrap_up_is_counted_right_before_and_after_it_runs_out() -> None:
    """Found by the property above: the run-out correction outlived the seat's membership."""
    state = CenterState(GROUPS)
    state.apply(AgentCompleted(at=T0, queue=QUEUES[0], uniqueid="c0", agent=SEATS[0], hold_time=0.0, talk_time=0.0,
                               reason="caller"))  # fmt: skip
    for now in (T0 + 1, T0 + 5000):
        assert floor(state, now) == expected_floor(state, now)
    state.apply(MemberRemoved(at=T0 + 1, queue=QUEUES[0], agent=SEATS[0]))
    for now in (T0 + 2, T0 + 5000):
        assert floor(state, now) == expected_floor(state, now)
