"""Specs of the SQLite event store: durable, append-only, idempotent, replayable."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from ivr.metrics.adapters.store import EventStore, EventStoreError, SqliteEventStore
from ivr.metrics.events import (
    EVENT_TYPES,
    AgentDumped,
    AgentRingNoAnswer,
    CallerExited,
    CallerOverflowed,
    DomainEvent,
    MemberAdded,
    MemberPaused,
    MemberRemoved,
    MemberStatusChanged,
    SurveyRated,
    from_record,
    to_record,
)
from ivr.metrics.reducer import CenterState, GroupConfig

from .script import QUEUE, T0, abandoned, answered, by_time

EVENTS: list[DomainEvent] = by_time(
    answered("c1", joined=0, hold=10, talk=60, caller="k1", line="vip"),
    answered("c2", joined=100, hold=25, talk=30, agent="1002"),
    abandoned("c3", joined=200, hold=12),
)
OTHERS: list[DomainEvent] = [
    CallerExited(
        at=T0 + 300,
        queue=QUEUE,
        uniqueid="c4",
        reason="timeout",
        position=1,
        original_position=1,
        hold_time=60,
    ),
    AgentDumped(at=T0 + 301, queue=QUEUE, uniqueid="c5", agent="1001"),
    MemberAdded(at=T0 + 302, queue=QUEUE, agent="1003", paused=True),
    MemberStatusChanged(
        at=T0 + 303,
        queue=QUEUE,
        agent="1003",
        status=1,
        paused=True,
        paused_reason="后台",
        in_call=False,
        wrapup=None,
    ),
    SurveyRated(at=T0 + 304, uniqueid="c1", queue=QUEUE, agent="1001", line="vip", rating=5),
    AgentRingNoAnswer(at=T0 + 305, queue=QUEUE, uniqueid="c6", agent="1003", ring_time=15.0),
    MemberPaused(at=T0 + 306, queue="", agent="1003", paused=False, reason=""),
    MemberRemoved(at=T0 + 307, queue=QUEUE, agent="1003"),
    CallerOverflowed(at=T0 + 308, queue=QUEUE, uniqueid="c7", reason="empty", next_queue="basic_zh"),
]


def test_every_event_type_round_trips_through_its_record() -> None:
    samples = EVENTS + OTHERS
    assert {type(e).__name__ for e in samples} == set(EVENT_TYPES)
    for event in samples:
        assert from_record(*to_record(event)) == event


def test_events_read_back_in_append_order(tmp_path: Path) -> None:
    with SqliteEventStore(tmp_path / "events.db") as store:
        assert store.append(EVENTS[:5]) == 5
        assert store.append(EVENTS[5:] + OTHERS) == len(EVENTS) - 5 + len(OTHERS)
        read = list(store.read())
    assert [e for _, e in read] == EVENTS + OTHERS
    assert [seq for seq, _ in read] == list(range(1, len(read) + 1))


def test_appending_the_same_events_again_stores_nothing_new(tmp_path: Path) -> None:
    with SqliteEventStore(tmp_path / "events.db") as store:
        store.append(EVENTS)
        assert store.append(EVENTS[3:8]) == 0
        assert len(list(store.read())) == len(EVENTS)


def test_read_since_seq_continues_where_a_reader_stopped(tmp_path: Path) -> None:
    with SqliteEventStore(tmp_path / "events.db") as store:
        store.append(EVENTS)
        assert [e for _, e in store.read(since_seq=10)] == EVENTS[10:]


def test_read_range_selects_by_event_time(tmp_path: Path) -> None:
    with SqliteEventStore(tmp_path / "events.db") as store:
        store.append(EVENTS)
        in_range = list(store.read_range(T0 + 100, T0 + 200))
    assert in_range == [e for e in EVENTS if T0 + 100 <= e.at < T0 + 200]


def test_replay_from_a_reopened_store_gives_identical_kpis(tmp_path: Path) -> None:
    groups = {QUEUE: GroupConfig(service_level_seconds=20, wrapup_seconds=10)}
    live = CenterState(groups)
    path = tmp_path / "events.db"
    store: EventStore = SqliteEventStore(path)
    for i in range(0, len(EVENTS), 4):  # the service appends in small batches
        batch = EVENTS[i : i + 4]
        live.apply_all(batch)
        store.append(batch)
    store.close()

    replayed = CenterState(groups)
    with SqliteEventStore(path) as reopened:
        replayed.apply_all(e for _, e in reopened.read())
    for cut in (None, "group", "agent", "line"):
        assert replayed.kpis(T0, T0 + 3600, cut) == live.kpis(T0, T0 + 3600, cut)


def test_a_store_of_another_schema_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    SqliteEventStore(path).close()
    db = sqlite3.connect(path)
    db.execute("UPDATE schema_version SET version = 99")
    db.commit()
    db.close()
    with pytest.raises(EventStoreError, match="schema version 99"):
        SqliteEventStore(path)


def test_store_runs_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    SqliteEventStore(path).close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()
