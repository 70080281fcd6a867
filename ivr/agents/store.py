"""The desired state of every seat, in SQLite: where it is logged in (queue ->
penalty) and whether it is paused and why. `AgentControl` makes Asterisk match it."""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

from ivr.files import private_file


@dataclass(frozen=True, slots=True)
class AgentState:
    seat: str
    paused: bool
    reason: str
    since: float


@dataclass(frozen=True, slots=True)
class AgentLogin:
    """Where a seat is logged in: queue -> penalty; empty when logged out."""

    seat: str
    queues: dict[str, int]
    since: float

    @property
    def logged_in(self) -> bool:
        return bool(self.queues)


class AgentStateStore:
    """Desired login and pause state per seat. Synchronous: call through asyncio.to_thread."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(private_file(path), check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS agent_state (seat TEXT PRIMARY KEY, paused INTEGER NOT NULL,"
            " reason TEXT NOT NULL, since REAL NOT NULL)"
        )
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS agent_login (seat TEXT PRIMARY KEY, queues TEXT NOT NULL, since REAL NOT NULL)"
        )
        self._db.commit()

    def put_login(self, login: AgentLogin) -> AgentLogin | None:
        with self._lock:
            before = self._get_login(login.seat)
            self._db.execute(
                "INSERT INTO agent_login VALUES (?, ?, ?) ON CONFLICT(seat) DO UPDATE SET"
                " queues=excluded.queues, since=excluded.since",
                (login.seat, json.dumps(login.queues, sort_keys=True), login.since),
            )
            self._db.commit()
            return before

    def _get_login(self, seat: str) -> AgentLogin | None:
        row = self._db.execute("SELECT seat, queues, since FROM agent_login WHERE seat=?", (seat,)).fetchone()
        return AgentLogin(row[0], json.loads(row[1]), row[2]) if row else None

    def logins(self) -> dict[str, AgentLogin]:
        with self._lock:
            rows = self._db.execute("SELECT seat, queues, since FROM agent_login").fetchall()
        return {r[0]: AgentLogin(r[0], json.loads(r[1]), r[2]) for r in rows}

    def pauses(self) -> dict[str, AgentState]:
        return {state.seat: state for state in self.all()}

    def put(self, state: AgentState) -> AgentState | None:
        with self._lock:
            before = self._get(state.seat)
            self._db.execute(
                "INSERT INTO agent_state VALUES (?, ?, ?, ?) ON CONFLICT(seat) DO UPDATE SET"
                " paused=excluded.paused, reason=excluded.reason, since=excluded.since",
                (state.seat, int(state.paused), state.reason, state.since),
            )
            self._db.commit()
            return before

    def _get(self, seat: str) -> AgentState | None:
        row = self._db.execute("SELECT seat, paused, reason, since FROM agent_state WHERE seat=?", (seat,)).fetchone()
        return AgentState(row[0], bool(row[1]), row[2], row[3]) if row else None

    def all(self) -> list[AgentState]:
        with self._lock:
            rows = self._db.execute("SELECT seat, paused, reason, since FROM agent_state ORDER BY seat").fetchall()
        return [AgentState(r[0], bool(r[1]), r[2], r[3]) for r in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()
