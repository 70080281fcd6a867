"""Staffing: forecast demand in, agents per group and interval out."""

from __future__ import annotations

import math
import random
import time
from pathlib import Path
from typing import Any

import pytest

from ivr.catalog.load import load_catalog
from ivr.catalog.model import Catalog
from ivr.scheduling.erlang import agents_for_target, erlang_a
from ivr.scheduling.model import INTERVAL_SECONDS, Demand, IntervalStat
from ivr.scheduling.staffing import StaffingError, measured_shrinkage, patience_from_history, requirements

REPO = Path(__file__).resolve().parents[3]
# The case study's peak: 3.6 calls/s for 15 minutes, 300 s handle time (1,080 Erlangs).
PEAK_CALLS = 3.6 * INTERVAL_SECONDS


def _catalog(*, occupancy_cap: float = 1.0, shrinkage: dict[str, float] | None = None) -> Catalog:
    """A center with a card-service group (80 % in 20 s) and a VIP group (90 % in 10 s)."""
    scheduling: dict[str, Any] = {"occupancy_cap": occupancy_cap, "shrinkage": shrinkage or {}}
    return Catalog.model_validate(
        {
            "center": {"name": "Test center"},
            "languages": [{"code": "zh", "name": "Mandarin", "voice": "cmn"}],
            "queues": [
                {"id": "cards", "name": "Card service", "language": "zh", "service_level_seconds": 20,
                 "targets": {"service_level": 0.80}},
                {"id": "vip", "name": "VIP", "language": "zh", "service_level_seconds": 10,
                 "targets": {"service_level": 0.90}},
            ],
            "numbers": [{"number": "95588", "id": "main", "name": "Main", "language": "zh", "languages": ["zh"],
                         "fallback_queue": "cards"}],
            "scheduling": scheduling,
        }
    )  # fmt: skip


def _stat(group: str, *, abandoned: int, wait_seconds: float, start: float = 0.0) -> IntervalStat:
    return IntervalStat(
        group=group, start=start, offered=100, answered=100 - abandoned, abandoned=abandoned,
        handle_seconds=0.0, handled=0, wait_seconds=wait_seconds,
    )  # fmt: skip


# --- requirements -------------------------------------------------------------


def test_case_study_peak_needs_1095_on_the_phones_and_1565_scheduled_at_30_percent_shrinkage() -> None:
    (need,) = requirements([Demand("cards", 0.0, PEAK_CALLS, 300.0)], _catalog(), shrinkage=0.30)

    assert (need.agents, need.scheduled, need.model) == (1095, 1565, "erlang_c")
    assert need.asa == pytest.approx(10.8, abs=0.05)
    assert need.occupancy == pytest.approx(0.986, abs=0.0005)
    assert need.service_level >= 0.80
    assert need.abandon_rate is None


def test_the_catalogs_occupancy_cap_adds_agents() -> None:
    (need,) = requirements([Demand("cards", 0.0, PEAK_CALLS, 300.0)], _catalog(occupancy_cap=0.85))

    assert need.agents == math.ceil(1080 / 0.85)
    assert need.occupancy <= 0.85


def test_shrinkage_defaults_to_the_catalogs_total() -> None:
    catalog = _catalog(shrinkage={"training": 0.03, "meeting": 0.02, "absence": 0.05})

    (need,) = requirements([Demand("cards", 0.0, PEAK_CALLS, 300.0)], catalog)

    assert need.scheduled == math.ceil(1095 / 0.90)


def test_scheduled_heads_are_not_rounded_up_by_floating_point() -> None:
    # A cap of 0.5 on 3.5 Erlangs puts exactly 7 on the phones; 7 / 0.7 is
    # 10.000000000000002 in floating point, and 10 heads are enough.
    demand = Demand("cards", 0.0, 3.5 / 300 * INTERVAL_SECONDS, 300.0)

    (need,) = requirements([demand], _catalog(occupancy_cap=0.5), shrinkage=0.3)

    assert (need.agents, need.scheduled) == (7, 10)


def test_target_and_threshold_come_from_each_groups_catalog_entry() -> None:
    demand = [Demand("cards", 0.0, 120.0, 240.0), Demand("vip", 0.0, 120.0, 240.0)]

    cards, vip = requirements(demand, _catalog())

    load = 120.0 / INTERVAL_SECONDS * 240.0
    assert cards.agents == agents_for_target(load, 240.0, 0.80, 20).agents
    assert vip.agents == agents_for_target(load, 240.0, 0.90, 10).agents
    assert vip.agents > cards.agents


def test_a_group_whose_callers_abandon_is_staffed_by_erlang_a_with_fewer_agents() -> None:
    demand = [Demand("cards", 0.0, 200.0, 300.0)]

    (by_c,) = requirements(demand, _catalog())
    (by_a,) = requirements(demand, _catalog(), patience={"cards": 90.0})

    assert by_a.model == "erlang_a"
    assert by_a.agents < by_c.agents
    expected = erlang_a(by_a.agents, 200.0 / INTERVAL_SECONDS * 300.0, 300.0, 90.0, 20)
    assert by_a.abandon_rate == pytest.approx(expected.p_abandon)
    assert by_a.service_level == pytest.approx(expected.service_level)


@pytest.mark.parametrize("patience", [{}, {"vip": 90.0}, {"cards": math.inf}, {"cards": math.nan}, {"cards": 0.0}])
def test_groups_without_a_finite_patience_are_staffed_by_erlang_c(patience: dict[str, float]) -> None:
    (need,) = requirements([Demand("cards", 0.0, 200.0, 300.0)], _catalog(), patience=patience)

    assert need.model == "erlang_c"
    assert need.abandon_rate is None


def test_an_interval_without_calls_needs_nobody() -> None:
    demand = [Demand("cards", 0.0, 0.0, 300.0), Demand("cards", 900.0, 0.0, 0.0), Demand("vip", 0.0, 0.0, 300.0)]

    needs = requirements(demand, _catalog(), patience={"vip": 90.0})

    assert [(n.agents, n.scheduled, n.service_level, n.asa) for n in needs] == [(0, 0, 1.0, 0.0)] * 3
    assert [n.model for n in needs] == ["erlang_c", "erlang_c", "erlang_a"]


def test_requirements_follow_the_demand_one_for_one() -> None:
    demand = [
        Demand(group, start, calls, 180.0)
        for start, calls in ((0.0, 40.0), (900.0, 90.0))
        for group in ("vip", "cards")
    ]

    needs = requirements(demand, _catalog())

    assert [(n.group, n.start, n.calls, n.aht) for n in needs] == [(d.group, d.start, d.calls, d.aht) for d in demand]


def test_demand_for_an_unknown_group_is_refused_naming_it() -> None:
    with pytest.raises(StaffingError, match="'mortgages'"):
        requirements([Demand("mortgages", 0.0, 10.0, 300.0)], _catalog())


def test_a_shrinkage_of_everything_is_refused() -> None:
    with pytest.raises(StaffingError, match="shrinkage"):
        requirements([Demand("cards", 0.0, 10.0, 300.0)], _catalog(), shrinkage=1.0)


def test_a_target_of_every_call_is_refused_naming_the_group() -> None:
    catalog = _catalog()
    cards = catalog.queue("cards")
    strict = cards.model_copy(update={"targets": cards.targets.model_copy(update={"service_level": 1.0})})
    catalog = catalog.model_copy(update={"queues": (strict,)})

    with pytest.raises(StaffingError, match="'cards'"):
        requirements([Demand("cards", 0.0, 10.0, 300.0)], catalog)


def _week(catalog: Catalog, calls_per_day: float) -> list[Demand]:
    """7 days x 96 intervals for every group: a double-peaked working day,
    calls shared as in a card center (the main Mandarin group the most)."""
    groups = [queue.id for queue in catalog.queues]
    shares = [0.6 if i == 0 else 0.4 / (len(groups) - 1) for i in range(len(groups))]
    curve = [0.05 + math.sin(math.pi * i / 96) ** 2 + 0.5 * math.sin(2 * math.pi * i / 96) ** 2 for i in range(96)]
    total = sum(curve)
    return [
        Demand(group, day * 86400.0 + i * INTERVAL_SECONDS, calls_per_day * share * curve[i] / total, 270.0)
        for day in range(7)
        for i in range(96)
        for group, share in zip(groups, shares, strict=True)
    ]


@pytest.mark.parametrize(("calls_per_day", "seconds"), [(3_000, 1.0), (108_000, 5.0)])
def test_a_week_of_the_demo_center_is_staffed_in_moments(calls_per_day: float, seconds: float) -> None:
    # The demo's volume (3,000 calls a day) and the case study's (108,000),
    # every group's callers abandoning (Erlang A, the slower model).
    catalog = load_catalog(REPO / "callcenter.yaml")
    demand = _week(catalog, calls_per_day)
    patience = {queue.id: 90.0 for queue in catalog.queues}

    # CPU time, not wall time: other tests running beside this one do not count.
    began = time.process_time()
    needs = requirements(demand, catalog, patience=patience)
    elapsed = time.process_time() - began

    assert len(needs) == 7 * 96 * len(catalog.queues)
    assert elapsed < seconds, f"{elapsed:.2f} s"


# --- patience -----------------------------------------------------------------


def test_patience_is_the_time_all_callers_waited_over_the_abandons() -> None:
    stats = [
        _stat("cards", abandoned=3, wait_seconds=600.0),
        _stat("cards", abandoned=2, wait_seconds=300.0, start=900.0),
        _stat("vip", abandoned=1, wait_seconds=45.0),
    ]

    assert patience_from_history(stats) == {"cards": 180.0, "vip": 45.0}


def test_a_group_whose_callers_never_abandon_gets_no_patience() -> None:
    stats = [_stat("cards", abandoned=0, wait_seconds=900.0), _stat("vip", abandoned=4, wait_seconds=0.0)]

    assert patience_from_history(stats) == {}


def test_patience_estimate_recovers_the_callers_mean_patience() -> None:
    # Callers with exponential patience (mean 120 s) facing waits of 0-300 s:
    # those answered first are censored observations, and still count.
    rng = random.Random(95588)
    stats = []
    for interval in range(200):
        waited, abandoned = 0.0, 0
        for _ in range(50):
            patience, wait = rng.expovariate(1 / 120), rng.uniform(0, 300)
            waited += min(patience, wait)
            abandoned += patience < wait
        stats.append(_stat("cards", abandoned=abandoned, wait_seconds=waited, start=interval * 900.0))

    assert patience_from_history(stats)["cards"] == pytest.approx(120, rel=0.05)


# --- shrinkage ----------------------------------------------------------------


def test_measured_shrinkage_is_each_pause_reasons_share_of_logged_in_time() -> None:
    shares = measured_shrinkage({"training": 1800.0, "meeting": 900.0, "break": 0.0}, 36_000.0)

    assert shares == {"training": 0.05, "meeting": 0.025, "break": 0.0}


def test_no_logged_in_time_measures_no_shrinkage() -> None:
    assert measured_shrinkage({"training": 0.0}, 0.0) == {}
    with pytest.raises(ValueError):
        measured_shrinkage({"training": 10.0}, -1.0)
