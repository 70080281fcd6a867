"""The audit trail: who did what to which target, from what to what, and how it ended.

Theory of operation: every state-changing API call (pausing an agent,
flipping the emergency switch, reloading the catalog) records one
`AuditEntry`, including refusals (`outcome="denied"`) and failures
(`outcome="failed"`), so the trail answers "who paused agent 1001 at 10:02?"
whatever happened. The trail is append-only: `AuditTrail` has no update or
delete, and `SqliteAuditTrail` backs that with triggers that abort any
UPDATE or DELETE on the table.

Nothing secret is stored: before a value is written, keys that name a secret
(a word of the key such as `pin`, `password`, `secret`, `token`, `card`, `pan`,
`cvv`: `ami_secret`, `card_number`) are blanked and every run of 12+ digits in
any string is masked to its last four (the rule of `ivr.log`), so a card
number passed in `before`/`after` by mistake never reaches disk.

The interface is synchronous (SQLite calls are short); async code calls it
through `asyncio.to_thread`. Times are passed in and must be timezone-aware;
they are stored as integer microseconds since the epoch, UTC.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from ivr.files import private_file
from ivr.log import REDACTED, SENSITIVE_KEYS, mask_digits

SECRET_KEY_WORDS = SENSITIVE_KEYS | {
    "token",
    "authorization",
    "bearer",
    "credential",
    "credentials",
}
_KEY_WORDS = re.compile(r"[^a-z0-9]+")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class _RoleName(Protocol):
    @property
    def value(self) -> str: ...


class Actor(Protocol):
    """Who acts: an API principal (`ivr.web.Principal`) or anything shaped like one."""

    @property
    def name(self) -> str: ...

    @property
    def role(self) -> _RoleName: ...


def _is_secret_key(key: object) -> bool:
    words = _KEY_WORDS.split(str(key).lower())
    return str(key).lower() in SECRET_KEY_WORDS or any(w in SECRET_KEY_WORDS for w in words)


def scrub(value: Any) -> Any:
    """`value` with secret-named keys blanked and long digit runs masked, recursively."""
    if isinstance(value, str):
        return mask_digits(value)
    if isinstance(value, dict):
        return {k: REDACTED if _is_secret_key(k) else scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(v) for v in value]
    return value


@dataclass(frozen=True)
class AuditEntry:
    """One recorded action. `before`/`after` are JSON-able values (or None)."""

    at: datetime
    who: str
    role: str
    action: str  # dotted verb phrase: "agent.pause", "emergency.switch", "catalog.reload"
    target: str  # what it acted on: "agent/1001", "queue/basic_zh"
    before: Any = None
    after: Any = None
    outcome: str = "ok"  # "ok" | "denied" | "failed"

    def __post_init__(self) -> None:
        if self.at.tzinfo is None:
            raise ValueError("AuditEntry.at must be timezone-aware")

    @classmethod
    def by(
        cls,
        principal: Actor,
        *,
        at: datetime,
        action: str,
        target: str,
        before: Any = None,
        after: Any = None,
        outcome: str = "ok",
    ) -> AuditEntry:
        return cls(at, principal.name, principal.role.value, action, target, before, after, outcome)

    def scrubbed(self) -> AuditEntry:
        return replace(
            self,
            who=mask_digits(self.who), action=mask_digits(self.action),
            target=mask_digits(self.target), before=scrub(self.before), after=scrub(self.after),
        )  # fmt: skip


class AuditTrail(Protocol):
    """Append-only record of API actions."""

    def record(self, entry: AuditEntry) -> None:
        """Append `entry`, secrets scrubbed."""
        ...

    def entries(
        self, *, since: datetime | None = None, action: str | None = None, limit: int = 100
    ) -> list[AuditEntry]:
        """Newest first; `since` inclusive; `action` exact."""
        ...

    def close(self) -> None: ...


class MemoryAuditTrail:
    """An `AuditTrail` in a list: for tests and for running without a state directory."""

    def __init__(self) -> None:
        self._entries: list[AuditEntry] = []

    def record(self, entry: AuditEntry) -> None:
        self._entries.append(entry.scrubbed())

    def entries(
        self, *, since: datetime | None = None, action: str | None = None, limit: int = 100
    ) -> list[AuditEntry]:
        found = [
            e for e in reversed(self._entries)
            if (since is None or e.at >= since) and (action is None or e.action == action)
        ]  # fmt: skip
        return found[:limit]

    def close(self) -> None:
        pass


_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at_us INTEGER NOT NULL,
    who TEXT NOT NULL,
    role TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    before TEXT NOT NULL,
    after TEXT NOT NULL,
    outcome TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_at ON audit (at_us);
CREATE INDEX IF NOT EXISTS audit_action_at ON audit (action, at_us);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
"""


def _to_us(at: datetime) -> int:
    delta = at - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _from_us(us: int) -> datetime:
    return datetime.fromtimestamp(us // 1_000_000, UTC).replace(microsecond=us % 1_000_000)


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


class SqliteAuditTrail:
    """`AuditTrail` in a SQLite file (WAL), safe to call from worker threads."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(private_file(self.path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)

    def record(self, entry: AuditEntry) -> None:
        e = entry.scrubbed()
        with self._lock:
            self._db.execute(
                "INSERT INTO audit (at_us, who, role, action, target, before, after, outcome)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (_to_us(e.at), e.who, e.role, e.action, e.target, _json(e.before), _json(e.after),
                 e.outcome),
            )  # fmt: skip

    def entries(
        self, *, since: datetime | None = None, action: str | None = None, limit: int = 100
    ) -> list[AuditEntry]:
        where: list[str] = []
        args: list[Any] = []
        if since is not None:
            where.append("at_us >= ?")
            args.append(_to_us(since))
        if action is not None:
            where.append("action = ?")
            args.append(action)
        sql = "SELECT at_us, who, role, action, target, before, after, outcome FROM audit"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY at_us DESC, seq DESC LIMIT ?"
        with self._lock:
            rows = self._db.execute(sql, [*args, max(0, limit)]).fetchall()
        return [
            AuditEntry(_from_us(at), who, role, act, target, json.loads(b), json.loads(a), outcome)
            for at, who, role, act, target, b, a, outcome in rows
        ]

    def close(self) -> None:
        with self._lock:
            self._db.close()


def record_all(trail: AuditTrail, entries: Iterable[AuditEntry]) -> None:
    """Record several entries in order (replays, imports)."""
    for entry in entries:
        trail.record(entry)
