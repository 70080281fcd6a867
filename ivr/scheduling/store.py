"""Schedules and interval history in SQLite beside the other run-time state
(`run/schedule.sqlite3`, 0600): the service and the CLI read the same plans.

Tables:
- `history`: per group and 15-minute interval, what the center saw (folded
  from the event store) or what the demo generator made (`source`); a real
  interval replaces a generated one.
- `plans`, `shifts`, `requirements`: every plan built, its shifts and the
  requirements it was built for. A plan is a draft until published; the
  schedule in force at an instant is the newest published plan covering it.
Synchronous: call through `asyncio.to_thread` from the event loop.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ivr.files import private_file

from .model import Activity, IntervalStat, Plan, Requirement, Shift

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS history (grp TEXT NOT NULL, start REAL NOT NULL, offered INTEGER NOT NULL,"
    " answered INTEGER NOT NULL, abandoned INTEGER NOT NULL, handle_seconds REAL NOT NULL,"
    " handled INTEGER NOT NULL, wait_seconds REAL NOT NULL, source TEXT NOT NULL, PRIMARY KEY (grp, start))",
    "CREATE TABLE IF NOT EXISTS plans (id INTEGER PRIMARY KEY, created_at REAL NOT NULL, created_by TEXT NOT NULL,"
    " first_day TEXT NOT NULL, days INTEGER NOT NULL, window_start REAL NOT NULL, window_end REAL NOT NULL,"
    " status TEXT NOT NULL, cost REAL NOT NULL, under_coverage REAL NOT NULL, solve_seconds REAL NOT NULL,"
    " published_at REAL, published_by TEXT)",
    "CREATE TABLE IF NOT EXISTS shifts (plan_id INTEGER NOT NULL REFERENCES plans(id), seat TEXT NOT NULL,"
    " grp TEXT NOT NULL, pattern TEXT NOT NULL, start REAL NOT NULL, end REAL NOT NULL, activities TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS shifts_by_plan ON shifts (plan_id, start)",
    # Seats' time sampled by the floor watch, per local day: reason '' is logged-in time.
    "CREATE TABLE IF NOT EXISTS seat_time (day TEXT NOT NULL, reason TEXT NOT NULL, seconds REAL NOT NULL,"
    " PRIMARY KEY (day, reason))",
    "CREATE TABLE IF NOT EXISTS requirements (plan_id INTEGER NOT NULL REFERENCES plans(id), grp TEXT NOT NULL,"
    " start REAL NOT NULL, calls REAL NOT NULL, aht REAL NOT NULL, agents INTEGER NOT NULL,"
    " scheduled INTEGER NOT NULL, service_level REAL NOT NULL, asa REAL NOT NULL, occupancy REAL NOT NULL,"
    " abandon_rate REAL, model TEXT NOT NULL, PRIMARY KEY (plan_id, grp, start))",
)


@dataclass(frozen=True, slots=True)
class PlanInfo:
    id: int
    created_at: float
    created_by: str
    first_day: str
    days: int
    window_start: float
    window_end: float
    status: str
    cost: float
    under_coverage: float
    solve_seconds: float
    published_at: float | None
    published_by: str | None

    def public(self) -> dict[str, object]:
        return {
            "id": self.id, "created_by": self.created_by, "created_at": self.created_at,
            "first_day": self.first_day, "days": self.days, "status": self.status, "cost": round(self.cost, 2),
            "under_coverage": self.under_coverage, "solve_seconds": round(self.solve_seconds, 3),
            "published": self.published_at is not None, "published_at": self.published_at,
            "published_by": self.published_by,
        }  # fmt: skip


def _activities(text: str) -> tuple[Activity, ...]:
    return tuple(Activity(kind, start, end) for kind, start, end in json.loads(text))


def _shift(row: Sequence[object]) -> Shift:
    seat, grp, pattern, start, end, activities = row
    return Shift(str(seat), str(grp), str(pattern), float(start), float(end), _activities(str(activities)))  # type: ignore[arg-type]


class ScheduleStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(private_file(path), check_same_thread=False, timeout=5)
        self._db.execute("PRAGMA journal_mode=WAL")
        for statement in _SCHEMA:
            self._db.execute(statement)
        self._db.commit()

    # -- history -----------------------------------------------------------------

    def put_history(self, stats: Iterable[IntervalStat], source: str) -> int:
        """Insert or replace intervals; a generated interval never replaces a real one."""
        rows = [
            (s.group, s.start, s.offered, s.answered, s.abandoned, s.handle_seconds, s.handled, s.wait_seconds, source)
            for s in stats
        ]
        keep_real = " WHERE excluded.source = 'events' OR history.source != 'events'"
        with self._lock:
            self._db.executemany(
                "INSERT INTO history VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (grp, start) DO UPDATE SET"
                " offered=excluded.offered, answered=excluded.answered, abandoned=excluded.abandoned,"
                " handle_seconds=excluded.handle_seconds, handled=excluded.handled,"
                " wait_seconds=excluded.wait_seconds, source=excluded.source" + keep_real,
                rows,
            )
            self._db.commit()
        return len(rows)

    def history(self, lo: float, hi: float) -> list[IntervalStat]:
        with self._lock:
            rows = self._db.execute(
                "SELECT grp, start, offered, answered, abandoned, handle_seconds, handled, wait_seconds"
                " FROM history WHERE start >= ? AND start < ? ORDER BY start, grp",
                (lo, hi),
            ).fetchall()
        return [IntervalStat(*row) for row in rows]

    def history_span(self) -> tuple[float, float, int] | None:
        """(first interval start, last interval start, intervals), or None when empty."""
        with self._lock:
            row = self._db.execute("SELECT min(start), max(start), count(*) FROM history").fetchone()
        return None if row[0] is None else (float(row[0]), float(row[1]), int(row[2]))

    # -- measured shrinkage ---------------------------------------------------------

    def add_seat_time(self, day: str, logged_in: float, paused: Mapping[str, float]) -> None:
        """Add sampled seconds: logged in, and paused by reason, on a local day."""
        rows = [(day, "", logged_in), *((day, reason, seconds) for reason, seconds in paused.items())]
        with self._lock:
            self._db.executemany(
                "INSERT INTO seat_time VALUES (?, ?, ?) ON CONFLICT (day, reason)"
                " DO UPDATE SET seconds = seconds + excluded.seconds",
                rows,
            )
            self._db.commit()

    def seat_time(self, first_day: str) -> tuple[float, dict[str, float]]:
        """(logged-in seconds, paused seconds by reason) from `first_day` (ISO) on."""
        with self._lock:
            rows = self._db.execute(
                "SELECT reason, sum(seconds) FROM seat_time WHERE day >= ? GROUP BY reason", (first_day,)
            ).fetchall()
        totals = {str(reason): float(seconds) for reason, seconds in rows}
        return totals.pop("", 0.0), totals

    # -- plans -------------------------------------------------------------------

    def save_plan(
        self, plan: Plan, requirements: Sequence[Requirement], *, window: tuple[float, float], by: str, at: float
    ) -> PlanInfo:
        with self._lock:
            cursor = self._db.execute(
                "INSERT INTO plans (created_at, created_by, first_day, days, window_start, window_end, status, cost,"
                " under_coverage, solve_seconds) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (at, by, plan.first_day, plan.days, window[0], window[1], plan.status, plan.cost,
                 plan.under_coverage, plan.solve_seconds),
            )  # fmt: skip
            plan_id = int(cursor.lastrowid or 0)
            self._db.executemany(
                "INSERT INTO shifts VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(plan_id, s.seat, s.group, s.pattern, s.start, s.end,
                  json.dumps([(a.kind, a.start, a.end) for a in s.activities])) for s in plan.shifts],
            )  # fmt: skip
            self._db.executemany(
                "INSERT INTO requirements VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(plan_id, r.group, r.start, r.calls, r.aht, r.agents, r.scheduled, r.service_level, r.asa,
                  r.occupancy, r.abandon_rate, r.model) for r in requirements],
            )  # fmt: skip
            self._db.commit()
        found = self.plan(plan_id)
        assert found is not None
        return found

    def plan(self, plan_id: int) -> PlanInfo | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM plans WHERE id = ?", (plan_id,)).fetchone()
        return PlanInfo(*row) if row else None

    def plans(self, limit: int = 50) -> list[PlanInfo]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM plans ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
        return [PlanInfo(*row) for row in rows]

    def shifts(self, plan_id: int, seat: str | None = None) -> list[Shift]:
        query = "SELECT seat, grp, pattern, start, end, activities FROM shifts WHERE plan_id = ?"
        args: tuple[object, ...] = (plan_id,)
        if seat is not None:
            query, args = query + " AND seat = ?", (plan_id, seat)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY start, seat", args).fetchall()
        return [_shift(row) for row in rows]

    def requirements(self, plan_id: int) -> list[Requirement]:
        with self._lock:
            rows = self._db.execute(
                "SELECT grp, start, calls, aht, agents, scheduled, service_level, asa, occupancy, abandon_rate, model"
                " FROM requirements WHERE plan_id = ? ORDER BY start, grp",
                (plan_id,),
            ).fetchall()
        return [Requirement(*row) for row in rows]

    def publish(self, plan_id: int, *, by: str, at: float) -> PlanInfo | None:
        with self._lock:
            self._db.execute(
                "UPDATE plans SET published_at = ?, published_by = ? WHERE id = ? AND published_at IS NULL",
                (at, by, plan_id),
            )
            self._db.commit()
        return self.plan(plan_id)

    def replace_shift(self, plan_id: int, old: Shift, new: Shift | None) -> None:
        """A supervisor's edit: `old` becomes `new` (None: the shift is removed)."""
        with self._lock:
            self._db.execute("DELETE FROM shifts WHERE plan_id = ? AND seat = ? AND start = ?",
                             (plan_id, old.seat, old.start))  # fmt: skip
            if new is not None:
                self._db.execute(
                    "INSERT INTO shifts VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (plan_id, new.seat, new.group, new.pattern, new.start, new.end,
                     json.dumps([(a.kind, a.start, a.end) for a in new.activities])),
                )  # fmt: skip
            self._db.commit()

    def set_figures(self, plan_id: int, *, cost: float, under_coverage: float) -> None:
        with self._lock:
            self._db.execute("UPDATE plans SET cost = ?, under_coverage = ? WHERE id = ?",
                             (cost, under_coverage, plan_id))  # fmt: skip
            self._db.commit()

    def in_force(self, lo: float, hi: float) -> tuple[list[Shift], list[Requirement]]:
        """The published schedule over [lo, hi): for every instant the newest
        published plan whose window covers it; its shifts and requirements."""
        with self._lock:
            plans = self._db.execute(
                "SELECT id, window_start, window_end FROM plans WHERE published_at IS NOT NULL"
                " AND window_start < ? AND window_end > ? ORDER BY published_at DESC, id DESC",
                (hi, lo),
            ).fetchall()
        shifts: list[Shift] = []
        requirements: list[Requirement] = []
        covered: list[tuple[float, float]] = []

        def owned(at: float, start: float, end: float) -> bool:
            return start <= at < end and not any(a <= at < b for a, b in covered)

        for plan_id, start, end in plans:
            shifts += [s for s in self.shifts(plan_id) if s.end > lo and s.start < hi and owned(s.start, start, end)]
            requirements += [r for r in self.requirements(plan_id) if lo <= r.start < hi and owned(r.start, start, end)]
            covered.append((start, end))
        return sorted(shifts, key=lambda s: (s.start, s.seat)), sorted(requirements, key=lambda r: (r.start, r.group))

    def close(self) -> None:
        with self._lock:
            self._db.close()
