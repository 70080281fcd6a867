"""Adherence and in-seat rate: a schedule against what the seat did."""

from __future__ import annotations

from ivr.metrics.reducer import SeatState
from ivr.scheduling.adherence import (
    agent_adherence,
    group_adherence,
    is_adherent,
    out_of_adherence,
    scheduled_at,
    scheduled_seconds_by_interval,
    sums_by_interval,
)
from ivr.scheduling.model import Activity, Shift

H = 3600.0
T0 = 1_790_000_100.0 // 900 * 900  # an interval boundary
# 09:00-18:00 with a 15-minute break at +2 h and a meal at +4 h.
SHIFT = Shift("1001", "basic_zh", "day", T0, T0 + 9 * H,
              (Activity("break", T0 + 2 * H, T0 + 2.25 * H), Activity("meal", T0 + 4 * H, T0 + 5 * H)))
A, P, C, L = SeatState.AVAILABLE, SeatState.PAUSED, SeatState.ON_CALL, SeatState.LOGGED_OUT


def test_what_the_schedule_says_at_each_instant():
    assert scheduled_at([SHIFT], T0 - 1) == "off"
    assert scheduled_at([SHIFT], T0) == "work"
    assert scheduled_at([SHIFT], T0 + 2 * H + 60) == "break"
    assert scheduled_at([SHIFT], T0 + 4.5 * H) == "meal"
    assert scheduled_at([SHIFT], T0 + 9 * H) == "off"


def test_a_call_is_never_out_of_adherence():
    assert is_adherent("break", SeatState.ON_CALL)
    assert is_adherent("off", SeatState.WRAP_UP)
    assert not is_adherent("work", SeatState.PAUSED)
    assert is_adherent("meal", SeatState.LOGGED_OUT)
    assert not is_adherent("off", SeatState.AVAILABLE)


def test_agent_who_follows_the_plan_has_full_adherence_and_in_seat_rate():
    timeline = [
        (T0, T0 + 2 * H, A), (T0 + 2 * H, T0 + 2.25 * H, P), (T0 + 2.25 * H, T0 + 4 * H, C),
        (T0 + 4 * H, T0 + 5 * H, P), (T0 + 5 * H, T0 + 9 * H, A), (T0 + 9 * H, T0 + 10 * H, L),
    ]
    a = agent_adherence("1001", [SHIFT], timeline, T0 - H, T0 + 10 * H)
    assert a.scheduled_seconds == 9 * H
    assert a.work_seconds == 7.75 * H
    assert a.adherence == 1.0
    assert a.in_seat_rate == 1.0


def test_late_login_and_a_long_pause_lower_both_figures():
    # Logs in 30 minutes late, and pauses for 45 minutes in work time.
    timeline = [(T0 + 0.5 * H, T0 + 6 * H, A), (T0 + 6 * H, T0 + 6.75 * H, P), (T0 + 6.75 * H, T0 + 9 * H, A)]
    a = agent_adherence("1001", [SHIFT], timeline, T0, T0 + 9 * H)
    # Out: first 30 min (logged out in work), break and meal while available (1.25 h), the pause (45 min).
    assert a.adherent_seconds == 9 * H - 0.5 * H - 1.25 * H - 0.75 * H
    # In seat: available time 5.5 h + 2.25 h = 7.75 h over 7.75 h scheduled work; breaks worked count as in seat.
    assert a.in_seat_seconds == 7.75 * H
    assert a.in_seat_rate == 1.0


def test_time_the_timeline_does_not_cover_counts_as_logged_out():
    a = agent_adherence("1001", [SHIFT], [], T0, T0 + 9 * H)
    assert a.in_seat_rate == 0.0
    assert a.adherent_seconds == 1.25 * H  # break and meal: logged out is adherent


def test_out_of_adherence_only_after_the_tolerance():
    timeline = [(T0, T0 + H, A), (T0 + H, T0 + 3 * H, P)]
    five = 300.0
    assert out_of_adherence("1001", "basic_zh", [SHIFT], timeline, T0 + H + 240, five) is None
    alert = out_of_adherence("1001", "basic_zh", [SHIFT], timeline, T0 + H + 360, five)
    assert alert is not None
    assert (alert.scheduled, alert.state, alert.since, alert.seconds) == ("work", P, T0 + H, 360.0)
    # During the break the same pause is adherent: the run ends.
    assert out_of_adherence("1001", "basic_zh", [SHIFT], timeline, T0 + 2 * H + 600, five) is None


def test_sums_by_interval_add_up_to_the_whole_window():
    timeline = [(T0 + 0.2 * H, T0 + 6 * H, A), (T0 + 6 * H, T0 + 9 * H, P)]
    parts = sums_by_interval([SHIFT], timeline, T0, T0 + 9 * H, 900)
    assert len(parts) == 36 and min(parts) == T0
    whole = agent_adherence("1001", [SHIFT], timeline, T0, T0 + 9 * H)
    for i, total in enumerate((whole.scheduled_seconds, whole.work_seconds, whole.adherent_seconds,
                               whole.in_seat_seconds)):
        assert abs(sum(p[i] for p in parts.values()) - total) < 1e-6


def test_group_figures_are_ratios_of_sums():
    a = agent_adherence("1001", [SHIFT], [(T0, T0 + 9 * H, A)], T0, T0 + 9 * H)
    b = agent_adherence("1002", [Shift("1002", "basic_zh", "part_time", T0, T0 + 4 * H)], [], T0, T0 + 9 * H)
    (g,) = group_adherence([("basic_zh", a), ("basic_zh", b)])
    assert g.agents == 2
    assert g.in_seat_rate == 9 * H / (7.75 * H + 4 * H)


def test_scheduled_seconds_per_interval_leave_out_breaks():
    schedule = scheduled_seconds_by_interval([SHIFT], T0, T0 + 9 * H)
    per = schedule["1001"]
    assert sum(per.values()) == 7.75 * H
    assert T0 + 2 * H not in per  # the break's quarter hour
