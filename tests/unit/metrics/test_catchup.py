"""Specs of the catch-up from queue_log: what the live feed missed is added, once."""

from __future__ import annotations

import dataclasses

from ivr.metrics.catchup import CatchUp
from ivr.metrics.events import (
    AgentCalled,
    AgentCompleted,
    AgentRingNoAnswer,
    CallerAbandoned,
    CallerExited,
    CallerJoined,
    CallerLeft,
    CallerOverflowed,
    DomainEvent,
    SurveyRated,
)
from ivr.metrics.reconcile import reconcile
from ivr.metrics.reducer import CenterState, GroupConfig, SeatState

from .script import QUEUE, T0, abandoned, answered, by_time

GROUPS = {QUEUE: GroupConfig(service_level_seconds=20, wrapup_seconds=10)}
QUEUE_LOG_ONLY = (AgentCalled, CallerLeft)


def as_queue_log(events: list[DomainEvent]) -> list[DomainEvent]:
    """The same calls as queue_log tells them: whole seconds, no ring or leave lines."""
    return [dataclasses.replace(e, at=float(int(e.at))) for e in events if not isinstance(e, QUEUE_LOG_ONLY)]


def as_ami(events: list[DomainEvent]) -> list[DomainEvent]:
    """As AMI tells them: received a little after they happened."""
    return [dataclasses.replace(e, at=e.at + 0.37) for e in events]


def live_state(events: list[DomainEvent]) -> CenterState:
    state = CenterState(GROUPS)
    state.apply_all(events)
    return state


def seat_state(state: CenterState, now: float, agent: str = "1001") -> SeatState:
    (seat,) = (a for a in state.snapshot(now).agents if a.agent == agent)
    return seat.state


def catch_up(state: CenterState, logged: list[DomainEvent], catchup: CatchUp | None = None) -> list[DomainEvent]:
    added = (catchup or CatchUp()).missing(logged, state.call_facts)
    for event in added:
        state.backfill(event)
    return added


def day() -> list[DomainEvent]:
    return by_time(
        answered("c1", joined=0, hold=10, talk=60),
        answered("c2", joined=100, hold=30, talk=90, agent="1002"),
        abandoned("c3", joined=200, hold=40),
    )


def test_nothing_is_added_when_the_live_feed_saw_everything() -> None:
    state = live_state(as_ami(day()))
    assert catch_up(state, as_queue_log(day())) == []


def test_what_happened_while_the_service_was_away_is_added_and_then_both_sources_agree() -> None:
    ami = as_ami(day())
    # The link dropped after c2 was answered: c2's end and all of c3 went unheard.
    heard = [e for e in ami if e.at < T0 + 131]
    state = live_state(heard)
    added = catch_up(state, as_queue_log(day()))
    assert [(type(e).__name__, e.uniqueid) for e in added] == [  # type: ignore[attr-defined]
        ("CallerJoined", "c3"),
        ("AgentCompleted", "c2"),
        ("CallerAbandoned", "c3"),
    ]
    # The store holds what was heard plus what was added: it reconciles.
    assert reconcile([*heard, *added], as_queue_log(day()), GROUPS).matches


def test_an_agent_complete_asterisk_never_sent_is_added_and_frees_the_seat() -> None:
    events = as_ami(answered("c1", joined=0, hold=10, talk=60))
    state = live_state(events[:-1])  # no AgentComplete on AMI
    assert seat_state(state, T0 + 100) is SeatState.ON_CALL
    added = catch_up(state, as_queue_log(answered("c1", joined=0, hold=10, talk=60)))
    assert [type(e) for e in added] == [AgentCompleted]
    assert seat_state(state, T0 + 200) is SeatState.AVAILABLE  # wrap-up (10 s) is over


def test_a_late_answer_never_takes_over_a_seat_that_has_moved_on() -> None:
    first = answered("c1", joined=0, hold=10, talk=60)
    second = as_ami(answered("c2", joined=200, hold=5, talk=100))
    # c1 went unheard (link down); c2 is on the phone with the same agent now.
    state = live_state(second[:-1])
    catch_up(state, as_queue_log(first))
    assert seat_state(state, T0 + 250) is SeatState.ON_CALL
    row = state.kpis(T0, T0 + 900, "group", interval=None)[0]
    assert (row.offered, row.answered, row.handled) == (2, 2, 1)


def test_a_call_learned_from_a_resync_gets_its_line_from_queue_log() -> None:
    logged = as_queue_log(answered("c1", joined=0, hold=10, talk=60, line="vip", tier="vip", language="en"))
    join = logged[0]
    assert isinstance(join, CallerJoined)
    # After a restart, QueueStatus told of c1 waiting, without channel variables.
    resync = dataclasses.replace(join, at=join.at + 3, line="", tier="", language="")
    state = live_state([resync])
    added = catch_up(state, logged)
    assert added[0] == join
    (row,) = state.kpis(T0, T0 + 900, "line", interval=None)
    assert row.key == "vip" and row.offered == 1


def test_a_timeout_heard_as_abandon_and_overflow_is_not_added_again_as_an_exit() -> None:
    join = answered("c1", joined=0, hold=60, talk=1)[0]
    ami: list[DomainEvent] = [
        join,
        CallerAbandoned(at=T0 + 60.2, queue=QUEUE, uniqueid="c1", position=1, original_position=1, hold_time=60),
        CallerOverflowed(at=T0 + 60.3, queue=QUEUE, uniqueid="c1", next_queue="vip", reason="timeout"),
    ]
    logged: list[DomainEvent] = [
        join,
        CallerExited(
            at=T0 + 60, queue=QUEUE, uniqueid="c1", reason="timeout", position=1, original_position=1, hold_time=60
        ),
    ]
    assert catch_up(live_state(ami), as_queue_log(logged)) == []


def test_ring_no_answers_are_tallied_per_call_across_passes() -> None:
    join = answered("c1", joined=0, hold=30, talk=10)[0]
    rna1 = AgentRingNoAnswer(at=T0 + 15, queue=QUEUE, uniqueid="c1", agent="1001", ring_time=15)
    rna2 = AgentRingNoAnswer(at=T0 + 30, queue=QUEUE, uniqueid="c1", agent="1001", ring_time=15)
    state = live_state([join, dataclasses.replace(rna1, at=rna1.at + 0.4)])  # AMI heard the first only
    catchup = CatchUp()
    assert catch_up(state, [join, rna1], catchup) == []
    assert catch_up(state, [rna2], catchup) == [rna2]
    assert catch_up(state, [], catchup) == []
    row = state.kpis(T0, T0 + 900, "group", interval=None)[0]
    assert row.ring_no_answer == 2


def test_a_rating_heard_on_ami_and_read_in_queue_log_counts_once() -> None:
    events = answered("c1", joined=0, hold=10, talk=60)
    rating = SurveyRated(at=T0 + 75, uniqueid="c1", queue=QUEUE, agent="1001", line="main", rating=5)
    state = live_state([*as_ami(events), dataclasses.replace(rating, at=rating.at + 0.5)])
    assert catch_up(state, as_queue_log([*events, rating])) == []
    # ... and if the queue_log line was caught up first, AMI's late copy is the same rating.
    state = live_state(as_ami(events))
    assert catch_up(state, as_queue_log([*events, rating])) == [rating]
    state.apply(dataclasses.replace(rating, at=rating.at + 40))
    assert state.kpis(T0, T0 + 900, "group", interval=None)[0].surveys == 1


def test_a_caught_up_event_is_applied_once_however_often_it_is_offered() -> None:
    logged = as_queue_log(abandoned("c3", joined=200, hold=40))
    state = live_state([])
    assert len(catch_up(state, logged)) == 2
    assert catch_up(state, logged) == []
    assert not state.backfill(logged[0])  # the very same event: a duplicate
