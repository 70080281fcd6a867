"""Append-only store of domain events, the durable input of every KPI.

Theory of operation: the service appends every domain event it receives, in
arrival order, and rebuilds KPIs after a restart by replaying `read()` into a
fresh `CenterState`. Events are stored as their class name plus a JSON object
of their fields (`events.to_record`), so the schema never changes when an
event gains a field; the `schema_version` table says how to read the rows.

Appends are idempotent: each row carries a hash of its canonical JSON under a
UNIQUE index, and a duplicate (an AMI resync or a queue_log re-import
delivering the same event twice) is skipped, so `read()` replays each event
once. `append` returns how many rows were new.

The interface is synchronous: SQLite calls are short, and the service calls
`append` from a worker thread (`asyncio.to_thread`) with a batch of events,
one transaction per batch. A PostgreSQL store implements the same `EventStore`
protocol with the same table shape (`seq bigserial`, `body jsonb`).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Protocol

from ivr.files import private_file

from ..events import DomainEvent, EventRecordError, from_record, to_record

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    type TEXT NOT NULL,
    uniqueid TEXT,
    body TEXT NOT NULL,
    digest BLOB NOT NULL UNIQUE
);
CREATE INDEX IF NOT EXISTS events_at ON events (at);
"""


class EventStoreError(Exception):
    """The store cannot be used: unknown schema version or an unreadable row."""


class EventStore(Protocol):
    """An append-only log of domain events, numbered by `seq` in append order."""

    def append(self, events: Iterable[DomainEvent]) -> int:
        """Store a batch atomically; returns how many events were new."""
        ...

    def read(self, since_seq: int = 0) -> Iterator[tuple[int, DomainEvent]]:
        """Events with seq > since_seq, in append order (the replay order)."""
        ...

    def read_range(self, from_ts: float, to_ts: float) -> Iterator[DomainEvent]:
        """Events with from_ts <= at < to_ts, ordered by time then seq."""
        ...

    def close(self) -> None: ...


def _encode(event: DomainEvent) -> tuple[str, str, bytes]:
    name, fields = to_record(event)
    body = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return name, body, hashlib.sha256(f"{name}\n{body}".encode()).digest()


def _decode(seq: int, name: str, body: str) -> DomainEvent:
    try:
        return from_record(name, json.loads(body))
    except (EventRecordError, json.JSONDecodeError) as exc:
        raise EventStoreError(f"events row {seq}: {exc}") from None


class SqliteEventStore:
    """`EventStore` on one SQLite file in WAL mode (readers do not block the writer).

    Safe to share between threads: a lock serialises use of the connection.
    """

    def __init__(self, path: str | Path) -> None:
        self._lock = threading.Lock()
        self._db = sqlite3.connect(private_file(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # NORMAL is durable across application crashes in WAL mode; only an OS
        # crash may lose the last batches, which queue_log reconciliation covers.
        self._db.execute("PRAGMA synchronous=NORMAL")
        with self._lock:
            self._db.executescript(_SCHEMA)
            row = self._db.execute("SELECT version FROM schema_version").fetchone()
            if row is None:
                self._db.execute("INSERT INTO schema_version VALUES (?)", (SCHEMA_VERSION,))
            elif row[0] != SCHEMA_VERSION:
                self._db.close()
                raise EventStoreError(f"{path}: schema version {row[0]}, this code reads {SCHEMA_VERSION}")

    def append(self, events: Iterable[DomainEvent]) -> int:
        rows = [
            (event.at, name, getattr(event, "uniqueid", None), body, digest)
            for event in events
            for name, body, digest in (_encode(event),)
        ]
        if not rows:
            return 0
        with self._lock:
            before = self._db.total_changes
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(
                    "INSERT OR IGNORE INTO events (at, type, uniqueid, body, digest) VALUES (?, ?, ?, ?, ?)",
                    rows,
                )
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
            return self._db.total_changes - before

    def read(self, since_seq: int = 0) -> Iterator[tuple[int, DomainEvent]]:
        # Fetched in pages so a replay of millions of rows holds neither the
        # lock nor all rows at once.
        last = since_seq
        while True:
            with self._lock:
                page = self._db.execute(
                    "SELECT seq, type, body FROM events WHERE seq > ? ORDER BY seq LIMIT 5000",
                    (last,),
                ).fetchall()
            if not page:
                return
            for seq, name, body in page:
                yield seq, _decode(seq, name, body)
            last = page[-1][0]

    def read_range(self, from_ts: float, to_ts: float) -> Iterator[DomainEvent]:
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, type, body FROM events WHERE at >= ? AND at < ? ORDER BY at, seq",
                (from_ts, to_ts),
            ).fetchall()
        for seq, name, body in rows:
            yield _decode(seq, name, body)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> SqliteEventStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
