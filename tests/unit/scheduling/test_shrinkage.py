"""Shrinkage: the catalog's figures until the floor watch has measured enough pause time."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr.check import load_checked_catalog
from ivr.scheduling.planning import MIN_MEASURED_SECONDS, shrinkage_parts
from ivr.scheduling.store import ScheduleStore

ROOT = Path(__file__).resolve().parents[3]
CATALOG = load_checked_catalog(ROOT / "callcenter.yaml")  # training 3 %, meeting 2 %, absence 5 %


def test_too_little_measured_time_keeps_the_catalog_figures():
    parts = shrinkage_parts(CATALOG, MIN_MEASURED_SECONDS / 2, {"training": 9999.0})
    assert {p.reason: (p.measured, p.used) for p in parts} == {
        "absence": (None, 0.05), "meeting": (None, 0.02), "training": (None, 0.03),
    }


def test_measured_pause_shares_replace_the_catalog_but_absence_stays_planned():
    logged_in = 100 * 3600.0
    parts = {p.reason: p for p in shrinkage_parts(CATALOG, logged_in, {"training": 6 * 3600.0, "meal": 3600.0})}
    assert parts["training"].used == pytest.approx(0.06) and parts["training"].catalog == 0.03
    assert parts["meeting"].used == 0.0  # measured: nobody paused for a meeting
    assert parts["absence"].used == 0.05 and parts["absence"].measured is None
    assert "meal" not in parts  # placed by the planner, not shrinkage


def test_sampled_seat_time_adds_up_per_day_and_reason(tmp_path: Path):
    store = ScheduleStore(tmp_path / "s.sqlite3")
    store.add_seat_time("2026-12-01", 60.0, {"training": 30.0})
    store.add_seat_time("2026-12-01", 60.0, {"training": 30.0, "meeting": 5.0})
    store.add_seat_time("2026-11-01", 1000.0, {"training": 1000.0})
    assert store.seat_time("2026-11-15") == (120.0, {"training": 60.0, "meeting": 5.0})
