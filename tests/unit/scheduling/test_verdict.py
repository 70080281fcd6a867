"""The simulation's verdict on a plan: per group, Erlang vs simulated, and the short hours."""

from __future__ import annotations

from pathlib import Path

from ivr.check import load_checked_catalog
from ivr.scheduling.model import Requirement, Shift
from ivr.scheduling.verdict import HOUR, ShortHour, check_plan, raise_short_hours

ROOT = Path(__file__).resolve().parents[3]
CATALOG = load_checked_catalog(ROOT / "callcenter.yaml")
T0 = 1_790_006_400.0 // HOUR * HOUR


def _need(group: str, start: float, calls: float, agents: int, sl: float = 0.9) -> Requirement:
    return Requirement(group, start, calls, 240.0, agents, agents, sl, 5.0, 0.5, None, "erlang_c")


def test_a_group_with_nobody_on_shift_is_short_whatever_erlang_predicted():
    needs = [_need("platinum", T0 + i * 900, 6, 3) for i in range(4)]
    check = check_plan(CATALOG, needs, [], runs=3)
    (platinum,) = [g for g in check.groups if g.group == "platinum"]
    assert platinum.erlang_service_level == 0.9
    assert platinum.meets_target is False and platinum.difference is not None and platinum.difference < -0.5
    assert [(h.group, h.start) for h in check.short_hours] == [("platinum", T0)]
    assert check.runs == 3 and check.calls_simulated > 0


def test_a_well_staffed_group_meets_its_target():
    shifts = [Shift(seat, "basic_zh", "day", T0 - HOUR, T0 + 3 * HOUR) for seat in ("1001", "1002", "1003", "1004")]
    needs = [_need("basic_zh", T0 + i * 900, 2, 2) for i in range(4)]
    check = check_plan(CATALOG, needs, shifts, runs=3)
    (basic,) = check.groups
    assert basic.meets_target is True and check.short_hours == ()
    assert basic.half_width is not None


def test_short_hours_get_one_more_agent_in_each_of_their_intervals():
    needs = [_need("vip", T0 + i * 900, 5, 2) for i in range(8)]
    raised = raise_short_hours(needs, [ShortHour("vip", T0 + HOUR, 0.5, 0.9)])
    assert [r.scheduled for r in raised] == [2, 2, 2, 2, 3, 3, 3, 3]
