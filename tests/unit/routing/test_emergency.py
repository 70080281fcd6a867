"""The emergency switch: on for all lines or one, with a recorded prompt and an
expiry; off; the call flow hears global then line announcements; every
change is audited with before and after; bad requests are refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr.audit import SqliteAuditTrail
from ivr.emergency import Announcement, EmergencyError, EmergencyStore, EmergencySwitch, announcements_for

LINES = {"main": ("zh", "en", "ja"), "vip": ("zh", "en")}
RECORDED = {("zh", "emergency_outage"), ("en", "emergency_outage"), ("ja", "emergency_outage"),
            ("zh", "emergency_fraud"), ("en", "emergency_fraud")}  # fmt: skip


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def audit(tmp_path: Path) -> SqliteAuditTrail:
    return SqliteAuditTrail(tmp_path / "audit.sqlite3")


@pytest.fixture
def switch(tmp_path: Path, audit: SqliteAuditTrail, clock: Clock) -> EmergencySwitch:
    store = EmergencyStore(tmp_path / "emergency.sqlite3")
    return EmergencySwitch(store, audit, LINES, lambda lang, prompt: (lang, prompt) in RECORDED, clock)


def test_switched_on_for_all_lines_every_line_hears_it_first(switch: EmergencySwitch, clock: Clock) -> None:
    switch.switch_on("all", "emergency_outage", 3600, who="alice", role="supervisor")

    active = switch.active()
    assert announcements_for(active, "main", clock.now) == ("emergency_outage",)
    assert announcements_for(active, "vip", clock.now) == ("emergency_outage",)


def test_a_line_announcement_reaches_only_that_line_after_the_global_one(switch: EmergencySwitch, clock: Clock) -> None:
    switch.switch_on("vip", "emergency_fraud", 600, who="bob", role="supervisor")
    clock.now += 1
    switch.switch_on("all", "emergency_outage", 600, who="alice", role="supervisor")

    active = switch.active()
    assert announcements_for(active, "vip", clock.now) == ("emergency_outage", "emergency_fraud")
    assert announcements_for(active, "main", clock.now) == ("emergency_outage",)


def test_an_announcement_past_its_expiry_is_no_longer_played(switch: EmergencySwitch, clock: Clock) -> None:
    switch.switch_on("main", "emergency_outage", 60, who="alice", role="supervisor")
    clock.now += 59.9
    assert announcements_for(switch.active(), "main", clock.now) == ("emergency_outage",)
    clock.now += 0.1
    assert switch.active() == []


def test_switched_off_it_is_gone_and_both_changes_are_audited(
    switch: EmergencySwitch, audit: SqliteAuditTrail, clock: Clock
) -> None:
    on = switch.switch_on("main", "emergency_outage", 600, who="alice", role="supervisor")
    before = switch.switch_off("main", who="carol", role="admin")

    assert before == on and switch.active() == []
    entries = audit.entries(action=None)
    assert sorted((e.action, e.who, e.target) for e in entries) == [
        ("emergency.off", "carol", "emergency/main"), ("emergency.on", "alice", "emergency/main"),
    ]  # fmt: skip
    off = next(e for e in entries if e.action == "emergency.off")
    assert off.before is not None and off.before["prompt"] == "emergency_outage" and off.after is None
    turned_on = next(e for e in entries if e.action == "emergency.on")
    assert turned_on.before is None and turned_on.after is not None and turned_on.after["expires_at"] == clock.now + 600


@pytest.mark.parametrize(
    ("scope", "prompt", "duration", "message"),
    [
        ("nosuch", "emergency_outage", 60, "unknown line 'nosuch'"),
        ("main", "welcome", 60, "not an emergency prompt id"),
        ("main", "emergency_fraud", 60, "not recorded in ja"),  # main offers Japanese
        ("all", "emergency_fraud", 60, "not recorded in ja"),
        ("main", "emergency_outage", 0, "duration must be"),
        ("main", "emergency_outage", 8 * 24 * 3600, "duration must be"),
    ],
)
def test_bad_requests_are_refused_and_change_nothing(
    switch: EmergencySwitch, audit: SqliteAuditTrail, scope: str, prompt: str, duration: float, message: str
) -> None:
    with pytest.raises(EmergencyError, match=message):
        switch.switch_on(scope, prompt, duration, who="alice", role="supervisor")

    assert switch.active() == [] and audit.entries(action=None) == []


def test_the_store_is_shared_between_processes_through_its_file(tmp_path: Path) -> None:
    path = tmp_path / "emergency.sqlite3"
    EmergencyStore(path).put(Announcement("all", "emergency_outage", 2e9, "cli:ops", 1.8e9))

    assert [a.prompt for a in EmergencyStore(path).all()] == ["emergency_outage"]
