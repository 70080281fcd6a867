"""Specs of reconciliation between the live event store and queue_log."""

from __future__ import annotations

from ivr.metrics.events import AgentConnected, CallerAbandoned, CallerExited, DomainEvent
from ivr.metrics.reconcile import KpiDifference, reconcile
from ivr.metrics.reducer import GroupConfig

from .script import QUEUE, T0, abandoned, answered, by_time

GROUPS = {QUEUE: GroupConfig(service_level_seconds=20, wrapup_seconds=10)}


def day_of_calls() -> list[DomainEvent]:
    return by_time(
        answered("c1", joined=0, hold=10, talk=60),
        answered("c2", joined=100, hold=30, talk=90, agent="1002"),
        abandoned("c3", joined=200, hold=40),
    )


def test_the_same_calls_from_both_sources_reconcile() -> None:
    events = day_of_calls()
    # queue_log has no AgentCalled/CallerLeft lines: the counts still agree.
    from_log = [e for e in events if type(e).__name__ not in ("AgentCalled", "CallerLeft")]
    result = reconcile(events, from_log, GROUPS)
    assert result.matches, result


def test_a_call_missing_from_the_store_is_found_with_the_figures_it_changes() -> None:
    events = day_of_calls()
    # The service was disconnected while c3 waited and abandoned: AMI lost it.
    store = [e for e in events if getattr(e, "uniqueid", None) != "c3"]
    result = reconcile(store, events, GROUPS)
    assert result.only_in_queue_log == ((QUEUE, "c3"),)
    assert result.only_in_store == ()
    day = T0 - T0 % 86400
    assert result.differences == (
        KpiDifference(day, QUEUE, "offered", 2, 3),
        KpiDifference(day, QUEUE, "unanswered", 0, 1),
    )


def test_a_timeout_seen_as_abandon_on_ami_and_exit_in_queue_log_reconciles() -> None:
    join = answered("c1", joined=0, hold=10, talk=60)[0]
    ami: list[DomainEvent] = [
        join,
        CallerAbandoned(
            at=T0 + 60,
            queue=QUEUE,
            uniqueid="c1",
            position=1,
            original_position=1,
            hold_time=60,
        ),
    ]
    log: list[DomainEvent] = [
        join,
        CallerExited(
            at=T0 + 60,
            queue=QUEUE,
            uniqueid="c1",
            reason="timeout",
            position=1,
            original_position=1,
            hold_time=60,
        ),
    ]
    assert reconcile(ami, log, GROUPS).matches


def test_a_different_hold_time_shows_as_a_service_level_difference() -> None:
    events = day_of_calls()
    # Inject: queue_log says c1 waited 25 s (outside 20 s), the store 10 s.
    altered = [
        AgentConnected(
            at=e.at,
            queue=e.queue,
            uniqueid=e.uniqueid,
            agent=e.agent,
            hold_time=25,
            ring_time=e.ring_time,
        )
        if isinstance(e, AgentConnected) and e.uniqueid == "c1"
        else e
        for e in events
    ]
    result = reconcile(events, altered, GROUPS)
    assert [(d.figure, d.store, d.queue_log) for d in result.differences] == [("answered_in_service_level", 1, 0)]
