"""Agent state control: pause with a reason, unpause.

Theory of operation: the ivr service keeps the *desired* pause state of every
seat (SQLite, `AgentStateStore`) and makes Asterisk match it: each change is
sent with the control AMI user (`QueuePause`, with the reason, in every queue
the seat serves), and after every (re)login of that user the whole desired
state is re-applied. A restart of Asterisk (which forgets pauses of static
members) or of the service (which reads its store) therefore loses nothing.
Supervisors act through the HTTP API, agents through feature codes dialled
from their softphone (`*72N` pause with reason N, `*73` unpause), which reach
the same code over FastAGI. Every change is one audit-trail entry.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ivr.ami import AmiClient, AmiError, when_loaded
from ivr.catalog.model import Catalog
from ivr.log import get_logger
from ivr.web.audit import AuditEntry, AuditTrail

log = get_logger(__name__)

# Reason codes agents dial after *72 (also accepted by name in the API).
PAUSE_REASONS = {"1": "break", "2": "meal", "3": "training", "4": "meeting", "5": "outbound"}


class AgentError(Exception):
    """A request the control plane refuses (unknown seat or reason, PBX unreachable)."""


@dataclass(frozen=True, slots=True)
class AgentState:
    seat: str
    paused: bool
    reason: str
    since: float


class AgentStateStore:
    """Desired pause state per seat. Synchronous: call through asyncio.to_thread."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS agent_state (seat TEXT PRIMARY KEY, paused INTEGER NOT NULL,"
            " reason TEXT NOT NULL, since REAL NOT NULL)"
        )
        self._db.commit()

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


def resolve_reason(reason: str) -> str:
    """A reason code ("2") or name ("meal") -> the name; AgentError otherwise."""
    reason = reason.strip().lower()
    if reason in PAUSE_REASONS:
        return PAUSE_REASONS[reason]
    if reason in PAUSE_REASONS.values():
        return reason
    raise AgentError(f"unknown pause reason {reason!r}; use one of {', '.join(PAUSE_REASONS.values())}")


class AgentControl:
    def __init__(self, catalog: Catalog, store: AgentStateStore, audit: AuditTrail, ami: AmiClient) -> None:
        self._seats = {seat.id for seat in catalog.seats}
        self._store = store
        self._audit = audit
        self._ami = ami

    def _check_seat(self, seat: str) -> None:
        if seat not in self._seats:
            raise AgentError(f"unknown seat {seat!r}")

    async def _send(self, state: AgentState) -> None:
        headers = {"Interface": f"PJSIP/{state.seat}", "Paused": "true" if state.paused else "false"}
        if state.paused:
            headers["Reason"] = state.reason
        await self._ami.action("QueuePause", **headers)

    async def set_paused(self, seat: str, paused: bool, reason: str, *, who: str, role: str) -> AgentState:
        self._check_seat(seat)
        name = resolve_reason(reason) if paused else ""
        state = AgentState(seat, paused, name, time.time())
        before = await asyncio.to_thread(self._store.put, state)  # desired state first: re-applied if the PBX is away
        outcome = "ok"
        try:
            await self._send(state)
        except AmiError as exc:
            outcome = "deferred"
            log.warning("agent_pause_deferred", seat=seat, error=str(exc))
        entry = AuditEntry(
            at=datetime.now(UTC), who=who, role=role, action="agent.pause" if paused else "agent.unpause",
            target=f"seat/{seat}", before=_public(before), after=_public(state), outcome=outcome,
        )  # fmt: skip
        await asyncio.to_thread(self._audit.record, entry)
        log.info("agent_state_set", seat=seat, paused=paused, reason=name, by=who, outcome=outcome)
        return state

    async def reapply(self, client: AmiClient) -> int:
        """Make Asterisk match the desired state (after every control login)."""
        applied = 0
        for state in await asyncio.to_thread(self._store.all):
            if state.seat in self._seats:
                try:
                    await when_loaded(lambda s=state: self._send(s))  # type: ignore[misc]
                    applied += 1
                except AmiError as exc:
                    log.warning("agent_reapply_failed", seat=state.seat, error=str(exc))
        log.info("agent_state_reapplied", seats=applied)
        return applied


def _public(state: AgentState | None) -> dict[str, object] | None:
    return None if state is None else {"paused": state.paused, "reason": state.reason}
