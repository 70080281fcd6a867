"""Specs of the floor view: who is waiting, what every seat is doing, since when."""

from __future__ import annotations

from ivr.metrics.events import (
    AgentCalled,
    AgentCompleted,
    AgentConnected,
    CallerAbandoned,
    CallerJoined,
    MemberAdded,
    MemberPaused,
    MemberStatusChanged,
)
from ivr.metrics.reducer import CenterState, GroupConfig, SeatState

from .script import QUEUE, T0

GROUPS = {QUEUE: GroupConfig(service_level_seconds=20, wrapup_seconds=10)}


def seated(*agents: str) -> CenterState:
    state = CenterState(GROUPS)
    for agent in agents:
        state.apply(MemberAdded(at=T0, queue=QUEUE, agent=agent))
    return state


def join(uid: str, at: float) -> CallerJoined:
    return CallerJoined(at=T0 + at, queue=QUEUE, uniqueid=uid, caller_hash=None, position=1)


def test_waiting_callers_and_longest_wait_given_now() -> None:
    state = seated("1001")
    state.apply_all([join("c1", 10), join("c2", 40)])
    (group,) = state.snapshot(T0 + 100).groups
    assert (group.group, group.waiting, group.longest_wait) == (QUEUE, 2, 90)


def test_abandoned_caller_is_no_longer_waiting() -> None:
    state = seated("1001")
    state.apply_all(
        [
            join("c1", 10),
            CallerAbandoned(
                at=T0 + 20,
                queue=QUEUE,
                uniqueid="c1",
                position=1,
                original_position=1,
                hold_time=10,
            ),
        ]
    )
    assert state.snapshot(T0 + 30).groups[0].waiting == 0


def test_seat_goes_ringing_on_call_wrap_up_then_available_after_wrapup_seconds() -> None:
    state = seated("1001")
    state.apply_all(
        [
            join("c1", 10),
            AgentCalled(at=T0 + 12, queue=QUEUE, uniqueid="c1", agent="1001"),
        ]
    )
    assert state.snapshot(T0 + 13).agents[0].state is SeatState.RINGING
    state.apply(AgentConnected(at=T0 + 15, queue=QUEUE, uniqueid="c1", agent="1001", hold_time=5, ring_time=3))
    seat = state.snapshot(T0 + 45).agents[0]
    assert (seat.state, seat.time_in_state, seat.call_uniqueid) == (SeatState.ON_CALL, 30, "c1")
    state.apply(
        AgentCompleted(
            at=T0 + 75,
            queue=QUEUE,
            uniqueid="c1",
            agent="1001",
            hold_time=5,
            talk_time=60,
            reason="caller",
        )
    )
    assert state.snapshot(T0 + 80).agents[0].state is SeatState.WRAP_UP
    # No event ends wrap-up: it is over 10 s after the completion.
    seat = state.snapshot(T0 + 90).agents[0]
    assert (seat.state, seat.since, seat.time_in_state) == (SeatState.AVAILABLE, T0 + 85, 5)
    (group,) = state.snapshot(T0 + 90).groups
    assert (group.available, group.on_call, group.wrap_up) == (1, 0, 0)


def test_paused_seat_reports_its_reason_and_device_loss_logs_it_out() -> None:
    state = seated("1001", "1002")
    state.apply(MemberPaused(at=T0 + 5, queue=QUEUE, agent="1001", paused=True, reason="lunch"))
    state.apply(
        MemberStatusChanged(
            at=T0 + 6,
            queue=QUEUE,
            agent="1002",
            status=5,
            paused=False,
            paused_reason="",
            in_call=False,
        )
    )
    a1001, a1002 = state.snapshot(T0 + 65).agents
    assert (a1001.state, a1001.paused_reason, a1001.time_in_state) == (
        SeatState.PAUSED,
        "lunch",
        60,
    )
    assert a1002.state is SeatState.LOGGED_OUT
    (group,) = state.snapshot(T0 + 65).groups
    assert (group.paused, group.logged_out, group.available) == (1, 1, 0)


def test_pause_in_every_queue_applies_to_all_memberships() -> None:
    state = seated("1001")
    state.apply(MemberAdded(at=T0, queue="english", agent="1001"))
    state.apply(MemberPaused(at=T0 + 5, queue="", agent="1001", paused=True, reason="training"))
    (seat,) = state.snapshot(T0 + 10).agents
    assert (seat.state, seat.groups) == (SeatState.PAUSED, ("basic_zh", "english"))


def test_seat_paused_in_one_of_two_queues_still_takes_calls() -> None:
    state = seated("1001")
    state.apply(MemberAdded(at=T0, queue="english", agent="1001"))
    state.apply(MemberPaused(at=T0 + 5, queue=QUEUE, agent="1001", paused=True, reason="x"))
    assert state.snapshot(T0 + 10).agents[0].state is SeatState.AVAILABLE


def test_answer_by_one_seat_stops_the_others_ringing() -> None:
    state = seated("1001", "1002")
    state.apply_all(
        [
            join("c1", 0),
            AgentCalled(at=T0 + 1, queue=QUEUE, uniqueid="c1", agent="1001"),
            AgentCalled(at=T0 + 1, queue=QUEUE, uniqueid="c1", agent="1002"),
            AgentConnected(at=T0 + 4, queue=QUEUE, uniqueid="c1", agent="1002", hold_time=4, ring_time=3),
        ]
    )
    states = [a.state for a in state.snapshot(T0 + 5).agents]
    assert states == [SeatState.AVAILABLE, SeatState.ON_CALL]
