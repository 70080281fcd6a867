"""The emergency announcements in force, per scope, in SQLite beside the other
run-time state: the service and the CLI see the same switch."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from ivr.files import private_file

from .switch import Announcement


class EmergencyStore:
    """Announcements per scope. Synchronous: call through asyncio.to_thread."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(private_file(path), check_same_thread=False, timeout=5)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS announcement (scope TEXT PRIMARY KEY, prompt TEXT NOT NULL,"
            " expires_at REAL NOT NULL, set_by TEXT NOT NULL, set_at REAL NOT NULL)"
        )
        self._db.commit()

    def _get(self, scope: str) -> Announcement | None:
        row = self._db.execute("SELECT * FROM announcement WHERE scope=?", (scope,)).fetchone()
        return Announcement(*row) if row else None

    def put(self, announcement: Announcement) -> Announcement | None:
        with self._lock:
            before = self._get(announcement.scope)
            self._db.execute(
                "INSERT OR REPLACE INTO announcement VALUES (?, ?, ?, ?, ?)",
                (announcement.scope, announcement.prompt, announcement.expires_at, announcement.set_by,
                 announcement.set_at),
            )  # fmt: skip
            self._db.commit()
            return before

    def clear(self, scope: str) -> Announcement | None:
        with self._lock:
            before = self._get(scope)
            self._db.execute("DELETE FROM announcement WHERE scope=?", (scope,))
            self._db.commit()
            return before

    def all(self) -> list[Announcement]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM announcement ORDER BY scope").fetchall()
        return [Announcement(*row) for row in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()
