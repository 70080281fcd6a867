"""The shift-plan simulation: the center's routing rules, checked call by call,
and Erlang C recovered where Erlang C's assumptions hold."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from ivr.catalog.load import load_catalog
from ivr.catalog.model import Catalog
from ivr.scheduling.model import Activity, Demand, Requirement, Shift
from ivr.scheduling.simulate import (
    Call,
    GroupStats,
    HandleTime,
    SimulationReport,
    compare,
    draw_calls,
    group_priorities,
    simulate,
    simulate_calls,
)

REPO = Path(__file__).resolve().parents[3]
HOUR = 3600.0


def _catalog(seats: dict[str, dict[str, int]], **queue_changes: dict[str, Any]) -> Catalog:
    """The routing of callcenter.yaml for a few groups, with the given seats."""
    minor = {"service_level_seconds": 30, "overflow": {"after": 30, "queue": "english"}, "when_empty": "english",
             "join_empty": ["paused", "unavailable", "invalid"],
             "leave_when_empty": ["paused", "unavailable", "invalid"]}  # fmt: skip
    queues: dict[str, dict[str, Any]] = {
        "basic_zh": {"language": "zh", "strategy": "rrmemory", "wrapup": 10, "service_level_seconds": 20,
                     "max_penalty": 3, "widen": [{"after": 20, "max_penalty": 5}]},
        "english": {"language": "en", "wrapup": 10, "service_level_seconds": 20, "max_penalty": 1,
                    "widen": [{"after": 20, "max_penalty": 3}]},
        "japanese": {"language": "ja", **minor},
        "vip": {"language": "zh", "strategy": "leastrecent", "wrapup": 15, "service_level_seconds": 10,
                "when_empty": "basic_zh", "join_empty": ["paused", "unavailable", "invalid"],
                "leave_when_empty": ["paused", "unavailable", "invalid"]},
    }  # fmt: skip
    for queue_id, changes in queue_changes.items():
        queues[queue_id] = {**queues[queue_id], **changes}
    return Catalog.model_validate(
        {
            "center": {"name": "Test center"},
            "languages": [{"code": code, "name": code, "voice": code} for code in ("zh", "en", "ja")],
            "queues": [{"id": queue_id, "name": queue_id, **spec} for queue_id, spec in queues.items()],
            "numbers": [{"number": "95588", "id": "main", "name": "Main", "language": "zh", "languages": ["zh"],
                         "fallback_queue": "basic_zh"}],
            "tiers": {"standard": {"priority": 0}, "vip": {"queue": "vip", "priority": 8}},
            "seats": [{"id": seat, "name": f"Agent {seat}", "skills": skills} for seat, skills in seats.items()],
        }
    )  # fmt: skip


def _on_shift(*seats: str, start: float = 0.0, end: float = 8 * HOUR, breaks: Sequence[Activity] = ()) -> list[Shift]:
    return [Shift(seat, "basic_zh", "test", start, end, tuple(breaks)) for seat in seats]


def _row(report: SimulationReport, group: str, start: float = 0.0) -> GroupStats:
    row = report.interval(group, start)
    assert row is not None, f"no row for {group} at {start}"
    return row


def test_single_agent_answers_deterministic_callers_in_arrival_order() -> None:
    catalog = _catalog({"1001": {"basic_zh": 0}})
    calls = [Call("basic_zh", 0.0, talk=60.0), Call("basic_zh", 30.0, talk=60.0), Call("basic_zh", 40.0, talk=60.0)]

    report = simulate_calls(catalog, calls, _on_shift("1001", end=HOUR))

    # Talk 60 s + wrap-up 10 s: the agent is free at 70 s and 140 s; waits are 0, 40 and 100 s.
    row = _row(report, "basic_zh")
    assert (row.offered, row.answered, row.answered_immediately, row.answered_within) == (3, 3, 1, 1)
    assert row.asa == pytest.approx(140 / 3)
    assert row.service_level == pytest.approx(1 / 3)
    assert (row.talk_seconds, row.wrapup_seconds) == (180.0, 30.0)
    assert row.ready_seconds == pytest.approx(900 - 210)
    assert report.seats["1001"].calls == 3


def test_long_run_of_one_group_matches_erlang_c() -> None:
    """M/M/N: Poisson arrivals, exponential handle times, no abandons, no wrap-up."""
    agents, load, aht, target = 10, 7.0, 180.0, 20
    catalog = _catalog({str(1001 + i): {"basic_zh": 0} for i in range(agents)},
                       basic_zh={"wrapup": 0, "service_level_seconds": target})  # fmt: skip
    intervals = 1_000  # ~35,000 calls
    demand = [Demand("basic_zh", i * 900.0, load / aht * 900, aht) for i in range(intervals)]
    shifts = _on_shift(*(seat.id for seat in catalog.seats), end=intervals * 900.0 + HOUR)

    day = simulate(catalog, demand, shifts, seed=0).totals["basic_zh"]

    b = 1.0  # Erlang B by recursion, then Erlang C (docs/domain.md)
    for n in range(1, agents + 1):
        b = load * b / (n + load * b)
    p_wait = agents * b / (agents - load * (1 - b))
    service_level = 1 - p_wait * math.exp(-(agents - load) * target / aht)
    asa = p_wait * aht / (agents - load)
    assert day.offered > 30_000 and day.abandoned == day.unserved == 0
    assert 1 - day.answered_immediately / day.offered == pytest.approx(p_wait, abs=0.02)
    assert day.service_level == pytest.approx(service_level, abs=0.02)
    assert day.asa == pytest.approx(asa, rel=0.15)


def test_vip_caller_is_answered_before_an_earlier_standard_caller() -> None:
    # No VIP agent: the VIP goes to basic_zh, keeping the VIP tier's priority 8.
    catalog = _catalog({"1001": {"basic_zh": 0}})
    calls = [
        Call("basic_zh", 0.0, talk=100.0),  # keeps the only agent busy until 110 s
        Call("basic_zh", 10.0, talk=50.0),  # standard, waiting first
        Call("vip", 20.0, talk=50.0),
    ]

    report = simulate_calls(catalog, calls, _on_shift("1001", end=HOUR))

    assert group_priorities(catalog) == {"vip": 8}
    assert _row(report, "vip").asa == 110 - 20  # answered when the agent is free
    # The standard caller waits for the VIP's call too: 110 + 50 + 10 (wrap-up) - 10.
    assert _row(report, "basic_zh").answered_wait_seconds == 0 + 160


def test_widen_lets_a_penalty_3_backup_agent_answer_only_after_20_seconds() -> None:
    # english takes penalty <= 1 at once and <= 3 after 20 s; Sato Yuki has english at 3.
    catalog = _catalog({"1012": {"japanese": 0, "english": 3}})

    report = simulate_calls(catalog, [Call("english", 5.0, talk=60.0)], _on_shift("1012"))

    row = _row(report, "english")
    assert row.answered == 1
    assert row.asa == 20.0
    assert row.answered_immediately == 0


def test_overflow_moves_a_japanese_caller_to_english_after_30_seconds_and_counts_it_once() -> None:
    catalog = _catalog({"1009": {"english": 0, "basic_zh": 3}, "1012": {"japanese": 0, "english": 3}})
    calls = [Call("japanese", 0.0, talk=300.0), Call("japanese", 10.0, talk=60.0)]

    report = simulate_calls(catalog, calls, _on_shift("1009", "1012"))

    japanese, english = _row(report, "japanese"), _row(report, "english")
    # Offered once, in the first group, which owns its outcome and its whole wait.
    assert (japanese.offered, japanese.answered, japanese.overflowed_out) == (2, 2, 1)
    assert japanese.answered_wait_seconds == 30.0
    assert japanese.answered_within == 2  # japanese's target is 30 s, inclusive
    assert (english.offered, english.answered, english.overflowed_in) == (0, 0, 1)
    assert sum(total.offered for total in report.totals.values()) == 2
    # The English agent talked: seconds count for the group of its shift.
    assert report.seats["1009"].calls == 1


def test_when_empty_sends_vip_callers_to_basic_zh_when_no_vip_agent_is_on_shift() -> None:
    catalog = _catalog({"1001": {"basic_zh": 0}, "1016": {"vip": 0}})
    call = [Call("vip", 60.0, talk=60.0)]

    without_vip_team = simulate_calls(catalog, call, _on_shift("1001"))
    with_vip_team = simulate_calls(catalog, call, _on_shift("1001", "1016"))

    vip, basic = _row(without_vip_team, "vip"), _row(without_vip_team, "basic_zh")
    assert (vip.offered, vip.answered, vip.empty_out, basic.empty_in, basic.offered) == (1, 1, 1, 1, 0)
    assert without_vip_team.seats["1001"].calls == 1
    assert _row(with_vip_team, "vip").empty_out == 0
    assert with_vip_team.seats["1016"].calls == 1


def test_a_vip_team_on_break_counts_as_empty_and_waiting_vips_move_to_basic_zh() -> None:
    catalog = _catalog({"1001": {"basic_zh": 0}, "1016": {"vip": 0}})
    vip_team_break = [Activity("break", 100.0, 1000.0)]
    shifts = _on_shift("1001") + _on_shift("1016", breaks=vip_team_break)
    calls = [Call("vip", 0.0, talk=300.0), Call("vip", 50.0, talk=60.0)]

    report = simulate_calls(catalog, calls, shifts)

    # At 100 s the VIP agent (still on the first call) is paused: the group is
    # empty (leave_when_empty: paused) and the waiting VIP goes to basic_zh.
    vip = _row(report, "vip")
    assert (vip.answered, vip.empty_out, vip.answered_wait_seconds) == (2, 1, 50.0)
    assert report.seats["1016"].calls == report.seats["1001"].calls == 1


def test_an_agent_on_break_finishes_the_call_but_takes_no_other() -> None:
    catalog = _catalog({"1001": {"basic_zh": 0}})
    shifts = _on_shift("1001", end=HOUR, breaks=[Activity("break", 100.0, 1000.0)])
    calls = [Call("basic_zh", 50.0, talk=100.0), Call("basic_zh", 120.0, talk=60.0)]

    report = simulate_calls(catalog, calls, shifts)

    # The first call runs into the break (ends at 160 s); the second waits for the break's end.
    assert _row(report, "basic_zh").answered_wait_seconds == 1000.0 - 120.0
    assert report.seats["1001"].talk_seconds == 160.0
    assert report.seats["1001"].ready_seconds == pytest.approx(50.0 + (HOUR - 1000.0 - 70.0))


@pytest.mark.parametrize(
    ("strategy", "calls_per_seat"),
    [("linear", [6, 0, 0]), ("rrmemory", [2, 2, 2]), ("leastrecent", [2, 2, 2]), ("fewestcalls", [2, 2, 2])],
)
def test_strategy_decides_which_ready_agent_takes_each_call(strategy: str, calls_per_seat: list[int]) -> None:
    catalog = _catalog({seat: {"basic_zh": 0} for seat in ("1001", "1002", "1003")}, basic_zh={"strategy": strategy})
    calls = [Call("basic_zh", 100.0 * i, talk=30.0) for i in range(6)]  # one at a time, all agents ready

    report = simulate_calls(catalog, calls, _on_shift("1001", "1002", "1003"))

    assert [report.seats[seat].calls for seat in ("1001", "1002", "1003")] == calls_per_seat


def test_lowest_penalty_answers_first_whatever_the_strategy() -> None:
    catalog = _catalog({"1001": {"basic_zh": 2}, "1002": {"basic_zh": 0}}, basic_zh={"strategy": "linear"})

    report = simulate_calls(catalog, [Call("basic_zh", 0.0, talk=30.0)], _on_shift("1001", "1002"))

    assert (report.seats["1001"].calls, report.seats["1002"].calls) == (0, 1)


def test_callers_abandon_only_when_given_patience() -> None:
    catalog = _catalog({"1001": {"basic_zh": 0}})
    overloaded = [Demand("basic_zh", i * 900.0, 20.0, 300.0) for i in range(4)]
    shifts = _on_shift("1001", end=24 * HOUR)

    patient = simulate(catalog, overloaded, shifts, seed=3).totals["basic_zh"]
    impatient = simulate(catalog, overloaded, shifts, patience={"basic_zh": 60.0}, seed=3).totals["basic_zh"]

    assert patient.abandoned == patient.short_abandoned == 0
    assert patient.answered == patient.offered  # they all wait, however long
    assert impatient.abandoned > 0
    assert impatient.answered + impatient.abandoned + impatient.short_abandoned == impatient.offered


def test_same_seed_gives_the_same_report_and_another_seed_another() -> None:
    catalog = _catalog({"1001": {"basic_zh": 0}, "1009": {"english": 0, "basic_zh": 3}})
    demand = [Demand(group, i * 900.0, 8.0, 200.0) for group in ("basic_zh", "english") for i in range(8)]
    shifts = _on_shift("1001", "1009")

    first = simulate(catalog, demand, shifts, patience={"basic_zh": 90.0}, seed=7, handle_time="lognormal")
    again = simulate(catalog, demand, shifts, patience={"basic_zh": 90.0}, seed=7, handle_time="lognormal")
    other = simulate(catalog, demand, shifts, patience={"basic_zh": 90.0}, seed=8, handle_time="lognormal")

    assert first == again
    assert first != other


def test_talk_time_is_aht_less_the_groups_wrapup() -> None:
    catalog = _catalog({})
    demand = [Demand("basic_zh", i * 900.0, 100.0, 250.0) for i in range(40)]

    kinds: tuple[HandleTime, ...] = ("exponential", "lognormal")
    for kind in kinds:
        calls = draw_calls(catalog, demand, seed=1, handle_time=kind)
        assert len(calls) == pytest.approx(4_000, rel=0.05)
        assert sum(call.talk for call in calls) / len(calls) == pytest.approx(250 - 10, rel=0.05)
        assert all(call.patience == math.inf for call in calls)


def test_every_offered_call_is_accounted_for_on_the_real_catalog() -> None:
    catalog = load_catalog(REPO / "callcenter.yaml")
    groups = [queue.id for queue in catalog.queues if queue.id not in ("collections", "care")]
    demand = [Demand(group, i * 900.0, 6.0, 240.0) for group in groups for i in range(8)]
    shifts = [Shift(seat.id, min(seat.skills, key=seat.skills.__getitem__), "test", 0.0, 1.5 * HOUR,
                    (Activity("break", 0.5 * HOUR, 0.75 * HOUR),)) for seat in catalog.seats]  # fmt: skip

    report = simulate(catalog, demand, shifts, patience=dict.fromkeys(groups, 120.0), seed=5)

    offered = sum(total.offered for total in report.totals.values())
    decided = sum(t.answered + t.abandoned + t.short_abandoned + t.exited + t.unserved for t in report.totals.values())
    assert offered == decided == report.calls
    assert sum(t.overflowed_out for t in report.totals.values()) == sum(t.overflowed_in for t in report.totals.values())
    assert {row.group for row in report.intervals} >= set(groups)
    # 00:00-02:00 UTC is 08:00-10:00 in Shanghai: one local day, the same totals.
    assert report.totals_by_day("Asia/Shanghai") == {"1970-01-01": dict(report.totals)}


def test_compare_shows_erlangs_prediction_beside_the_simulated_service_level() -> None:
    catalog = _catalog({"1001": {"basic_zh": 0}})
    calls = [Call("basic_zh", 0.0, talk=60.0), Call("basic_zh", 30.0, talk=60.0)]
    report = simulate_calls(catalog, calls, _on_shift("1001", end=HOUR))
    needs = [
        Requirement("basic_zh", 0.0, 2.0, 70.0, 1, 1, 0.9, 5.0, 0.2, None, "erlang_c"),
        Requirement("basic_zh", 900.0, 0.0, 70.0, 0, 0, 1.0, 0.0, 0.0, None, "erlang_c"),
    ]

    busy, quiet = compare(report, needs)

    assert (busy.offered, busy.simulated_service_level, busy.simulated_asa) == (2, 0.5, 20.0)
    assert busy.difference == pytest.approx(0.5 - 0.9)
    assert busy.staffed_agents == pytest.approx(1.0)
    assert (quiet.offered, quiet.simulated_service_level, quiet.difference) == (0, None, None)
