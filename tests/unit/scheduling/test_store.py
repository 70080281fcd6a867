"""The schedule store: history, plans, publishing, the schedule in force."""

from __future__ import annotations

import stat
from pathlib import Path

from ivr.scheduling.model import Activity, IntervalStat, Plan, Requirement, Shift
from ivr.scheduling.store import ScheduleStore

DAY = 86400.0
T0 = 1_790_000_000.0 // DAY * DAY


def _plan(first: float, seat: str = "1001") -> Plan:
    shift = Shift(seat, "basic_zh", "day", first + 3600, first + 3600 * 10,
                  (Activity("meal", first + 3600 * 5, first + 3600 * 6),))
    return Plan("2026-09-01", 1, (shift,), "OPTIMAL", 9.0, 0.0, 0.1)


def _req(start: float) -> Requirement:
    return Requirement("basic_zh", start, 10.0, 240.0, 4, 5, 0.8, 12.0, 0.7, None, "erlang_c")


def test_store_file_is_private(tmp_path: Path):
    ScheduleStore(tmp_path / "s.sqlite3").close()
    assert stat.S_IMODE((tmp_path / "s.sqlite3").stat().st_mode) == 0o600


def test_real_history_is_never_replaced_by_generated(tmp_path: Path):
    store = ScheduleStore(tmp_path / "s.sqlite3")
    real = IntervalStat("basic_zh", T0, 7, 6, 1, 1200.0, 6, 90.0)
    store.put_history([real], "events")
    store.put_history([IntervalStat("basic_zh", T0, 99, 99, 0, 1.0, 99)], "generated")
    assert store.history(T0, T0 + 900) == [real]
    newer = IntervalStat("basic_zh", T0, 8, 7, 1, 1300.0, 7, 95.0)
    store.put_history([newer], "events")
    assert store.history(T0, T0 + 900) == [newer]
    assert store.history_span() == (T0, T0, 1)


def test_a_plan_round_trips_and_is_a_draft_until_published(tmp_path: Path):
    store = ScheduleStore(tmp_path / "s.sqlite3")
    info = store.save_plan(_plan(T0), [_req(T0 + 3600)], window=(T0, T0 + DAY), by="sup", at=T0 - 10)
    assert store.shifts(info.id) == list(_plan(T0).shifts)
    assert store.requirements(info.id) == [_req(T0 + 3600)]
    assert store.in_force(T0, T0 + DAY) == ([], [])
    published = store.publish(info.id, by="admin", at=T0)
    assert published is not None and published.published_by == "admin"
    shifts, reqs = store.in_force(T0, T0 + DAY)
    assert [s.seat for s in shifts] == ["1001"] and len(reqs) == 1


def test_the_newest_published_plan_wins_where_plans_overlap(tmp_path: Path):
    store = ScheduleStore(tmp_path / "s.sqlite3")
    old = store.save_plan(_plan(T0, "1001"), [_req(T0)], window=(T0, T0 + 2 * DAY), by="a", at=1)
    new = store.save_plan(_plan(T0, "1002"), [_req(T0)], window=(T0, T0 + DAY), by="a", at=2)
    store.publish(old.id, by="a", at=3)
    store.publish(new.id, by="a", at=4)
    shifts, reqs = store.in_force(T0, T0 + DAY)
    assert [s.seat for s in shifts] == ["1002"] and len(reqs) == 1


def test_an_edit_replaces_one_shift(tmp_path: Path):
    store = ScheduleStore(tmp_path / "s.sqlite3")
    info = store.save_plan(_plan(T0), [], window=(T0, T0 + DAY), by="a", at=1)
    (old,) = store.shifts(info.id)
    moved = Shift("1001", "basic_zh", "day", old.start + 1800, old.end + 1800, ())
    store.replace_shift(info.id, old, moved)
    assert store.shifts(info.id) == [moved]
    store.replace_shift(info.id, moved, None)
    assert store.shifts(info.id) == []
