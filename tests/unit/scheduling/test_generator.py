"""The demo history generator: a credit-card hotline's interval history with the
case study's volume, the center's week and calendar, and consistent figures."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import pytest

from ivr.catalog.load import load_catalog
from ivr.catalog.model import Catalog
from ivr.hours.opening import zone
from ivr.scheduling.generator import generate_history
from ivr.scheduling.model import INTERVAL_SECONDS, IntervalStat

REPO = Path(__file__).resolve().parents[3]
CASE_STUDY_CALLS_PER_DAY = 108_000
# Spring Festival 2026 in the demo calendar: make-up Saturday 02-14, holidays
# 02-16..02-20 (with the weekends around them), back to work Monday 02-23;
# then an ordinary week, 03-02..03-08.
FIRST_DAY = date(2026, 2, 2)
DAYS = 35


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(REPO / "callcenter.yaml")


@pytest.fixture(scope="module")
def history(catalog: Catalog) -> list[IntervalStat]:
    return list(generate_history(catalog, FIRST_DAY, DAYS, CASE_STUDY_CALLS_PER_DAY))


def _local(stat: IntervalStat, catalog: Catalog) -> datetime:
    return datetime.fromtimestamp(stat.start, zone(catalog.center.timezone))


def _per_day(history: list[IntervalStat], catalog: Catalog, group: str | None = None) -> dict[date, int]:
    totals: dict[date, int] = defaultdict(int)
    for stat in history:
        if group is None or stat.group == group:
            totals[_local(stat, catalog).date()] += stat.offered
    return totals


def _week(first: date) -> list[date]:
    return [first + timedelta(days=n) for n in range(7)]


def test_an_ordinary_week_averages_the_calls_per_day_asked_for(history: list[IntervalStat], catalog: Catalog) -> None:
    days = _per_day(history, catalog)
    mean = sum(days[day] for day in _week(date(2026, 3, 2))) / 7
    assert mean == pytest.approx(CASE_STUDY_CALLS_PER_DAY, rel=0.04)


def test_monday_is_the_busiest_day_and_weekends_are_quieter(history: list[IntervalStat], catalog: Catalog) -> None:
    days = _per_day(history, catalog)
    monday, wednesday, saturday, sunday = (days[date(2026, 3, d)] for d in (2, 4, 7, 8))
    assert 1.08 < monday / wednesday < 1.25
    assert sunday < saturday < wednesday


def test_a_public_holiday_is_much_quieter_than_a_working_day(history: list[IntervalStat], catalog: Catalog) -> None:
    days = _per_day(history, catalog)
    holiday, working_day = days[date(2026, 2, 17)], days[date(2026, 2, 10)]  # both Tuesdays
    assert holiday < 0.55 * working_day


def test_a_weekend_day_inside_a_holiday_period_is_a_holiday(history: list[IntervalStat], catalog: Catalog) -> None:
    days = _per_day(history, catalog)
    # Sunday 02-15 opens the Spring Festival break; Sunday 02-08 is an ordinary Sunday.
    assert days[date(2026, 2, 15)] < 0.75 * days[date(2026, 2, 8)]


def test_a_make_up_working_day_on_a_saturday_is_like_a_working_day(
    history: list[IntervalStat], catalog: Catalog
) -> None:
    days = _per_day(history, catalog)
    working = sum(days[date(2026, 2, d)] for d in range(9, 14)) / 5
    assert days[date(2026, 2, 14)] == pytest.approx(working, rel=0.08)
    assert days[date(2026, 2, 14)] > 1.2 * days[date(2026, 2, 7)]  # an ordinary Saturday


def test_the_first_working_day_after_a_long_holiday_is_busier(history: list[IntervalStat], catalog: Catalog) -> None:
    days = _per_day(history, catalog)
    assert days[date(2026, 2, 23)] > 1.15 * days[date(2026, 3, 2)]  # the next, ordinary Monday


def test_nights_are_quiet_and_the_day_peaks_mid_morning_and_mid_afternoon(
    history: list[IntervalStat], catalog: Catalog
) -> None:
    by_quarter: dict[int, int] = defaultdict(int)
    for stat in history:
        local = _local(stat, catalog)
        if local.date() in _week(date(2026, 3, 2))[:5]:
            by_quarter[local.hour * 4 + local.minute // 15] += stat.offered
    total = sum(by_quarter.values())

    def share(start_hour: float, end_hour: float) -> float:
        return sum(by_quarter[q] for q in range(int(start_hour * 4), int(end_hour * 4))) / total

    assert share(1, 6) < 0.03
    busiest = max(by_quarter, key=lambda q: by_quarter[q]) / 4
    assert 10 <= busiest < 11.5 or 14 <= busiest < 16.5
    assert share(12.5, 13) < 0.8 * share(10.5, 11) and share(12.5, 13) < 0.8 * share(14.5, 15)  # the lunch dip
    assert share(19, 21) > 2 * share(23, 24)  # the evening shoulder


def test_the_group_mix_is_a_card_hotlines(history: list[IntervalStat], catalog: Catalog) -> None:
    calls: dict[str, int] = defaultdict(int)
    for stat in history:
        if _local(stat, catalog).date() in _week(date(2026, 3, 2))[:5]:
            calls[stat.group] += stat.offered
    total = sum(calls.values())
    share = {group: n / total for group, n in calls.items()}
    assert max(share, key=lambda g: share[g]) == "basic_zh"
    assert share["english"] == pytest.approx(0.05, abs=0.01)
    for minor in ("japanese", "korean", "french", "russian"):
        assert share[minor] == pytest.approx(0.01, abs=0.003)
    assert share["vip"] == pytest.approx(0.08, abs=0.015)
    assert share["platinum"] == pytest.approx(0.06, abs=0.015)
    assert share["group"] == pytest.approx(0.05, abs=0.015)
    assert share["lost_card"] == pytest.approx(0.04, abs=0.01)
    assert 0 < share["collections"] < 0.03 and 0 < share["care"] < 0.03


def test_group_customers_call_only_while_their_line_is_open(history: list[IntervalStat], catalog: Catalog) -> None:
    for stat in history:
        if stat.group != "group" or not stat.offered:
            continue
        local = _local(stat, catalog)
        minute = local.hour * 60 + local.minute
        assert local.weekday() != 6 and local.date() not in catalog.calendars["office"].holidays, local
        assert 8 * 60 + 30 <= minute < 20 * 60, local


def test_lost_cards_are_reported_around_the_clock(history: list[IntervalStat], catalog: Catalog) -> None:
    night: dict[str, int] = defaultdict(int)
    day: dict[str, int] = defaultdict(int)
    for stat in history:
        (night if 1 <= _local(stat, catalog).hour < 6 else day)[stat.group] += stat.offered
    assert night["lost_card"] / day["lost_card"] > 3 * night["basic_zh"] / day["basic_zh"]


def test_every_interval_adds_up(history: list[IntervalStat]) -> None:
    for stat in history:
        assert stat.answered + stat.abandoned == stat.offered
        assert stat.handled == stat.answered
        assert stat.handle_seconds >= 0 and stat.wait_seconds >= 0
        assert (stat.handled == 0) == (stat.handle_seconds == 0)
        assert stat.start % INTERVAL_SECONDS == 0


def test_intervals_cover_each_local_day_in_time_order(history: list[IntervalStat], catalog: Catalog) -> None:
    groups = [queue.id for queue in catalog.queues]
    assert len(history) == DAYS * 96 * len(groups)
    assert _local(history[0], catalog).replace(tzinfo=None) == datetime(2026, 2, 2)
    assert [stat.group for stat in history[: len(groups)]] == groups
    starts = [stat.start for stat in history[:: len(groups)]]
    assert all(b - a == INTERVAL_SECONDS for a, b in pairwise(starts))


def test_waits_and_abandons_give_a_plausible_patience(history: list[IntervalStat]) -> None:
    waited: dict[str, float] = defaultdict(float)
    abandoned: dict[str, int] = defaultdict(int)
    offered: dict[str, int] = defaultdict(int)
    for stat in history:
        waited[stat.group] += stat.wait_seconds
        abandoned[stat.group] += stat.abandoned
        offered[stat.group] += stat.offered
    for group in waited:
        assert 55 <= waited[group] / abandoned[group] <= 160, group  # the Erlang A patience estimate
    assert waited["basic_zh"] / abandoned["basic_zh"] == pytest.approx(90, rel=0.08)
    assert 0.02 < abandoned["basic_zh"] / offered["basic_zh"] < 0.10


def test_handle_times_follow_the_catalogs_aht_targets(history: list[IntervalStat]) -> None:
    handle: dict[str, float] = defaultdict(float)
    handled: dict[str, int] = defaultdict(int)
    for stat in history:
        handle[stat.group] += stat.handle_seconds
        handled[stat.group] += stat.handled
    assert handle["basic_zh"] / handled["basic_zh"] == pytest.approx(240, rel=0.05)  # targets.aht_seconds
    assert handle["lost_card"] / handled["lost_card"] == pytest.approx(360, rel=0.06)
    assert handle["japanese"] / handled["japanese"] > handle["basic_zh"] / handled["basic_zh"]  # default: longer


def test_the_same_seed_gives_the_same_history(catalog: Catalog) -> None:
    first = list(generate_history(catalog, date(2026, 3, 2), 2, 20_000, seed=7))
    again = list(generate_history(catalog, date(2026, 3, 2), 2, 20_000, seed=7))
    other = list(generate_history(catalog, date(2026, 3, 2), 2, 20_000, seed=8))
    assert first == again
    assert first != other


def test_a_negative_volume_is_refused(catalog: Catalog) -> None:
    with pytest.raises(ValueError, match="negative"):
        list(generate_history(catalog, date(2026, 3, 2), 1, -1.0))
