"""The shift planner: shifts that cover the requirement, breaks inside their
windows, contracts kept (days off, patterns, hours, rest), and a supervisor's
edits checked against the same rules."""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest

from ivr.catalog.load import load_catalog
from ivr.catalog.model import Catalog
from ivr.hours.opening import zone
from ivr.scheduling.model import Activity, Plan, Requirement, Shift
from ivr.scheduling.shifts import (
    REST_SECONDS,
    ScheduleError,
    build_plan,
    coverage,
    edit_shift,
    group_of,
    paid_seconds,
    pause_rules,
    solve_plan,
)

ROOT = Path(__file__).resolve().parents[3]
DEMO = load_catalog(ROOT / "callcenter.yaml")
TZ = zone("Asia/Shanghai")
MONDAY = date(2026, 3, 2)
NINE_TO_FIVE = {"id": "office", "name": "Office day", "length_minutes": 540,
                "earliest_start": "08:00", "latest_start": "08:00"}  # fmt: skip


def catalog_with(
    seats: Sequence[dict[str, Any]], patterns: Sequence[dict[str, Any]], timezone: str = "Asia/Shanghai"
) -> Catalog:
    """The demo catalog with these seats and shift patterns (its groups, lines and menus kept)."""
    data = DEMO.model_dump(mode="json", exclude_defaults=True)
    data["seats"] = list(seats)
    data["center"]["timezone"] = timezone
    data["scheduling"] = {"default_contract": {"hours_per_week": 40, "days_per_week": 5}, "patterns": list(patterns)}
    return Catalog.model_validate(data)


def seats(count: int, group: str = "basic_zh", first: int = 3001, **contract: Any) -> list[dict[str, Any]]:
    extra = {"contract": contract} if contract else {}
    return [{"id": str(first + i), "name": f"Agent {first + i}", "skills": {group: 0}, **extra} for i in range(count)]


def at(day: date, hour: int, minute: int = 0, tz: Any = TZ) -> float:
    return datetime.combine(day, time(hour, minute), tz).timestamp()


def need(group: str, day: date, start: int, end: int, agents: int, tz: Any = TZ) -> list[Requirement]:
    """`agents` to schedule in every quarter hour from `start` to `end` o'clock (local) on `day`."""
    first = at(day, start, tz=tz)
    return [Requirement(group, first + q * 900, 10.0, 240.0, agents, agents, 0.8, 10.0, 0.8, None, "erlang_c")
            for q in range((end - start) * 4)]  # fmt: skip


def working(plan: Plan, group: str, day: date, start: int, end: int) -> list[int]:
    counts = coverage(plan, at(day, start), at(day, end))
    return [counts[group, at(day, start) + q * 900] for q in range((end - start) * 4)]


def local(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, TZ)


# -- covering the requirement ----------------------------------------------------------------------------------------


def test_three_agents_all_day_with_a_nine_hour_pattern_and_no_break_take_exactly_three_shifts():
    catalog = catalog_with(seats(5), [NINE_TO_FIVE])
    plan = build_plan(catalog, need("basic_zh", MONDAY, 8, 17, 3), MONDAY, 1, time_limit=5, workers=1)
    assert plan.status == "OPTIMAL"
    assert len(plan.shifts) == 3
    assert {(local(s.start).hour, local(s.end).hour) for s in plan.shifts} == {(8, 17)}
    assert plan.under_coverage == 0
    assert plan.cost == 27.0  # 3 x 9 paid hours at cost 1
    assert working(plan, "basic_zh", MONDAY, 8, 17) == [3] * 36


def test_breaks_are_staggered_so_that_a_fourth_agent_covers_them():
    office = {**NINE_TO_FIVE, "breaks": [{"minutes": 15, "earliest": 120, "latest": 360}]}
    catalog = catalog_with(seats(6), [office])
    plan = build_plan(catalog, need("basic_zh", MONDAY, 8, 17, 3), MONDAY, 1, time_limit=5, workers=1)
    assert len(plan.shifts) == 4
    assert plan.under_coverage == 0
    assert min(working(plan, "basic_zh", MONDAY, 8, 17)) == 3
    breaks = sorted(a.start for s in plan.shifts for a in s.activities)
    assert len(set(breaks)) == 4  # never two agents on a break at once


def test_with_only_three_seats_each_break_is_reported_as_under_coverage():
    office = {**NINE_TO_FIVE, "breaks": [{"minutes": 15, "earliest": 120, "latest": 360}]}
    catalog = catalog_with(seats(3), [office])
    plan = build_plan(catalog, need("basic_zh", MONDAY, 8, 17, 3), MONDAY, 1, time_limit=5, workers=1)
    assert len(plan.shifts) == 3
    assert plan.under_coverage == 3  # one quarter hour per break


def test_more_requirement_than_seats_is_under_coverage_not_an_error():
    catalog = catalog_with(seats(2), [NINE_TO_FIVE])
    plan = build_plan(catalog, need("basic_zh", MONDAY, 8, 17, 10), MONDAY, 1, time_limit=5, workers=1)
    assert plan.status in ("OPTIMAL", "FEASIBLE")
    assert len(plan.shifts) == 2
    assert plan.under_coverage == 8 * 36


def test_a_shift_that_passes_midnight_covers_the_next_morning():
    night = {"id": "night", "name": "Night", "length_minutes": 480, "earliest_start": "22:00", "latest_start": "22:00"}
    catalog = catalog_with(seats(1), [night])
    tuesday = MONDAY + timedelta(days=1)
    needed = need("basic_zh", MONDAY, 22, 24, 1) + need("basic_zh", tuesday, 0, 6, 1)
    plan = build_plan(catalog, needed, MONDAY, 2, time_limit=5, workers=1)
    assert plan.under_coverage == 0
    (shift,) = plan.shifts
    assert (local(shift.start), local(shift.end)) == (
        datetime(2026, 3, 2, 22, tzinfo=TZ),
        datetime(2026, 3, 3, 6, tzinfo=TZ),
    )
    assert working(plan, "basic_zh", tuesday, 0, 6) == [1] * 24


def test_a_shift_starts_at_its_local_wall_clock_time_on_a_daylight_saving_day():
    new_york = zone("America/New_York")
    sunday = date(2026, 3, 8)  # clocks go forward at 02:00
    catalog = catalog_with(seats(1), [NINE_TO_FIVE], timezone="America/New_York")
    plan = build_plan(catalog, need("basic_zh", sunday, 8, 17, 1, tz=new_york), sunday, 1, time_limit=5, workers=1)
    (shift,) = plan.shifts
    assert datetime.fromtimestamp(shift.start, new_york).time() == time(8)
    assert plan.under_coverage == 0


# -- the rules of the day --------------------------------------------------------------------------------------------


def test_breaks_and_meals_fall_inside_their_windows_in_order():
    catalog = catalog_with(seats(6), [p.model_dump(mode="json") for p in DEMO.scheduling.patterns])
    plan = build_plan(catalog, need("basic_zh", MONDAY, 7, 21, 3), MONDAY, 1, time_limit=10, workers=2)
    assert plan.shifts
    for shift in plan.shifts:
        rules = pause_rules(catalog.scheduling.pattern(shift.pattern))
        pauses = sorted(shift.activities, key=lambda a: a.start)
        assert [p.kind for p in pauses] == [r.kind for r in rules]
        for pause, rule in zip(pauses, rules, strict=True):
            assert rule.first <= (pause.start - shift.start) / 900 <= rule.last
            assert pause.end - pause.start == rule.quarters * 900
        assert all(a.end <= b.start for a, b in itertools.pairwise(pauses))


def test_a_late_shift_and_the_next_early_shift_are_never_worked_by_the_same_seat():
    late = {"id": "late", "name": "Late", "length_minutes": 480, "earliest_start": "16:00", "latest_start": "16:00"}
    early = {"id": "early", "name": "Early", "length_minutes": 480, "earliest_start": "06:00", "latest_start": "06:00"}
    catalog = catalog_with(seats(1), [late, early])
    tuesday = MONDAY + timedelta(days=1)
    needed = need("basic_zh", MONDAY, 16, 24, 1) + need("basic_zh", tuesday, 6, 14, 1)
    plan = build_plan(catalog, needed, MONDAY, 2, time_limit=5, workers=1)
    assert len(plan.shifts) == 1  # 00:00 to 06:00 is 6 h of rest, not 11
    assert plan.under_coverage == 32


def test_a_part_timer_is_given_at_least_the_bottom_of_the_hours_band_even_when_little_is_needed():
    part = {"id": "part", "name": "Part", "length_minutes": 240, "earliest_start": "09:00", "latest_start": "09:00"}
    catalog = catalog_with(seats(1, hours_per_week=20, days_per_week=5, patterns=["part"]), [NINE_TO_FIVE, part])
    plan = build_plan(catalog, need("basic_zh", MONDAY, 9, 13, 1), MONDAY, 7, time_limit=5, workers=1)
    paid = sum(paid_seconds(s) for s in plan.shifts) / 3600
    assert {s.pattern for s in plan.shifts} == {"part"}
    assert 16 <= paid <= 24  # 20 h plus or minus one shift (20 / 5 = 4 h)


# -- the demo catalog's week -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_week() -> Plan:
    """basic_zh (1005 has weekends off, 1006 is a part-timer) and english, a week of 08:00-22:00."""
    needed: list[Requirement] = []
    for offset in range(7):
        day = MONDAY + timedelta(days=offset)
        needed += need("basic_zh", day, 8, 22, 3) + need("english", day, 8, 20, 1)
    return build_plan(DEMO, needed, MONDAY, 7, time_limit=6, workers=2)


def test_the_demo_week_solves_and_every_seat_of_the_planned_groups_works(demo_week: Plan):
    assert demo_week.status in ("OPTIMAL", "FEASIBLE")
    planned = {s.id for s in DEMO.seats if group_of(s) in ("basic_zh", "english")}
    assert {s.seat for s in demo_week.shifts} == planned
    assert all(s.group in ("basic_zh", "english") for s in demo_week.shifts)


def test_no_seat_works_on_a_day_off(demo_week: Plan):
    days = {local(s.start).strftime("%a") for s in demo_week.shifts if s.seat == "1005"}
    assert days and not days & {"Sat", "Sun"}


def test_a_part_timer_gets_only_part_time_shifts(demo_week: Plan):
    assert {s.pattern for s in demo_week.shifts if s.seat == "1006"} == {"part_time"}


def test_every_seat_works_at_most_one_shift_a_day_and_rests_eleven_hours_between_shifts(demo_week: Plan):
    by_seat: dict[str, list[Shift]] = defaultdict(list)
    for shift in demo_week.shifts:
        by_seat[shift.seat].append(shift)
    for shifts in by_seat.values():
        shifts.sort(key=lambda s: s.start)
        assert len({local(s.start).date() for s in shifts}) == len(shifts)
        assert all(b.start - a.end >= REST_SECONDS for a, b in itertools.pairwise(shifts))


def test_contract_hours_are_kept_within_one_shift(demo_week: Plan):
    by_seat: dict[str, float] = defaultdict(float)
    for shift in demo_week.shifts:
        by_seat[shift.seat] += paid_seconds(shift) / 3600
    for seat in DEMO.seats:
        if seat.id in by_seat:
            contract = DEMO.contract(seat)
            slack = contract.hours_per_week / contract.days_per_week
            assert abs(by_seat[seat.id] - contract.hours_per_week) <= slack, seat.id
            assert sum(1 for s in demo_week.shifts if s.seat == seat.id) <= contract.days_per_week


def test_the_plan_reports_each_sub_solve():
    catalog = catalog_with(seats(2), [NINE_TO_FIVE])
    run = solve_plan(catalog, need("basic_zh", MONDAY, 8, 17, 1), MONDAY, 1, time_limit=5, workers=1)
    assert [(r.stage, r.group) for r in run.stages] == [("cover", "basic_zh"), ("assign", "basic_zh")]
    assert run.stages[0].shifts == run.stages[1].shifts == 1
    assert run.plan.solve_seconds > 0


# -- coverage --------------------------------------------------------------------------------------------------------


def test_coverage_counts_agents_working_and_not_on_a_break():
    start = at(MONDAY, 8)
    shift = Shift("1001", "basic_zh", "day", start, start + 3600, (Activity("break", start + 900, start + 1800),))
    plan = Plan(MONDAY.isoformat(), 1, (shift,), "OPTIMAL", 1.0, 0.0, 0.0)
    assert coverage(plan, start - 900, start + 3600 + 900) == {
        ("basic_zh", start - 900 + q * 900): n for q, n in enumerate([0, 1, 0, 1, 1, 0])
    }


# -- a supervisor's edit ---------------------------------------------------------------------------------------------


def demo_shift(seat: str, day: date, hour: int, pattern: str = "day", minute: int = 0) -> Shift:
    start = at(day, hour, minute)
    pauses = (
        Activity("break", start + 90 * 60, start + 105 * 60),
        Activity("meal", start + 240 * 60, start + 300 * 60),
        Activity("break", start + 420 * 60, start + 435 * 60),
    )
    return Shift(seat, "basic_zh", pattern, start, start + 540 * 60, pauses)


def demo_plan(*shifts: Shift) -> Plan:
    return Plan(MONDAY.isoformat(), 7, shifts, "OPTIMAL", 0.0, 0.0, 0.0)


def test_moving_a_shift_keeps_its_breaks_where_they_were_in_the_shift():
    old = demo_shift("1001", MONDAY, 8)
    new = edit_shift(DEMO, demo_plan(old), "1001", MONDAY, "10:30")
    assert (local(new.start).time(), local(new.end).time()) == (time(10, 30), time(19, 30))
    assert [a.start - new.start for a in new.activities] == [a.start - old.start for a in old.activities]
    assert new.pattern == "day" and new.group == "basic_zh"


def test_changing_the_pattern_moves_the_breaks_into_the_new_windows():
    old = demo_shift("1001", MONDAY, 8)
    new = edit_shift(DEMO, demo_plan(old), "1001", MONDAY, "12:00", "late")
    rules = pause_rules(DEMO.scheduling.pattern("late"))
    for pause, rule in zip(sorted(new.activities, key=lambda a: a.start), rules, strict=True):
        assert rule.first <= (pause.start - new.start) / 900 <= rule.last


def test_a_seat_without_a_shift_that_day_gets_a_new_one():
    new = edit_shift(DEMO, demo_plan(), "1002", MONDAY, "06:30")
    assert new.pattern == "early" and local(new.start).time() == time(6, 30)


@pytest.mark.parametrize(
    ("seat", "day", "start", "pattern", "reason"),
    [
        ("1001", MONDAY, "07:00", None, "starts between 08:00 and 11:00"),
        ("1001", MONDAY, "08:15", None, "every 30 minutes"),
        ("1001", MONDAY, "8am", None, "not HH:MM"),
        ("1001", MONDAY, "09:00", "lunch", "unknown shift pattern"),
        ("1006", MONDAY, "08:00", "day", "not in the seat's contract"),
        ("1005", MONDAY + timedelta(days=5), "08:00", "day", "day off"),
        ("1001", MONDAY + timedelta(days=7), "08:00", None, "outside the plan"),
        ("9999", MONDAY, "08:00", None, "unknown seat"),
    ],
)
def test_an_edit_that_breaks_a_rule_is_refused_with_the_reason(
    seat: str, day: date, start: str, pattern: str | None, reason: str
):
    plan = demo_plan(demo_shift("1001", MONDAY, 8), demo_shift("1005", MONDAY, 8))
    with pytest.raises(ScheduleError, match=reason):
        edit_shift(DEMO, plan, seat, day, start, pattern)


def test_an_edit_that_leaves_less_than_eleven_hours_of_rest_is_refused():
    tuesday = MONDAY + timedelta(days=1)
    plan = demo_plan(demo_shift("1001", MONDAY, 15, "late"), demo_shift("1001", tuesday, 10))
    with pytest.raises(ScheduleError, match="rest"):
        edit_shift(DEMO, plan, "1001", tuesday, "07:00", "early")


def test_an_edit_that_adds_a_sixth_day_is_refused():
    plan = demo_plan(*(demo_shift("1001", MONDAY + timedelta(days=d), 9) for d in range(5)))
    with pytest.raises(ScheduleError, match="more than 5 days"):
        edit_shift(DEMO, plan, "1001", MONDAY + timedelta(days=5), "09:00", "day")


def test_the_planner_never_uses_a_cover_pattern_that_is_not_plannable():
    # 03:00-05:00 on the plan's first day: only the flexible cover shift (placed by
    # supervisors) could start then; the night shift of the day before is not in the plan.
    assert not DEMO.scheduling.pattern("flex").plannable
    plan = build_plan(DEMO, need("basic_zh", MONDAY, 3, 5, 1), MONDAY, 1, time_limit=5, workers=1)
    assert all(shift.pattern != "flex" for shift in plan.shifts)
    assert plan.under_coverage == 8
