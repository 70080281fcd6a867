"""The forecast: seasonal baseline and time-series model, the center's calendar,
accuracy on held-out days, and what it refuses."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import replace
from datetime import date, datetime, time, timedelta
from pathlib import Path

import pytest

from ivr.catalog.load import load_catalog
from ivr.catalog.model import Catalog
from ivr.hours.opening import zone
from ivr.scheduling.forecast import (
    ForecastError,
    center_calendar,
    day_kind,
    evaluate,
    forecast,
    is_after_long_holiday,
)
from ivr.scheduling.generator import generate_history
from ivr.scheduling.model import INTERVAL_SECONDS, Demand, IntervalStat

REPO = Path(__file__).resolve().parents[3]
CASE_STUDY_CALLS_PER_DAY = 108_000


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(REPO / "callcenter.yaml")


@pytest.fixture(scope="module")
def eight_weeks(catalog: Catalog) -> list[IntervalStat]:
    """Eight ordinary weeks at the case study's volume, 2026-05-04..06-28 (the Dragon Boat break, 06-19..21, inside)."""
    return list(generate_history(catalog, date(2026, 5, 4), 56, CASE_STUDY_CALLS_PER_DAY))


def _start(catalog: Catalog, day: date) -> float:
    return datetime.combine(day, time(0), zone(catalog.center.timezone)).timestamp()


def _textbook_history(catalog: Catalog, first_day: date, weeks: int) -> list[IntervalStat]:
    """A perfectly periodic history: each day is its weekday's multiple of one
    intraday profile per day type (working day, weekend), the same every week."""
    working = [1 + (q // 4) % 7 for q in range(96)]
    weekend = [1 + (q // 8) % 3 for q in range(96)]
    multiple = {0: 6, 1: 5, 2: 5, 3: 4, 4: 5, 5: 3, 6: 2}
    out = []
    for n in range(weeks * 7):
        day = first_day + timedelta(days=n)
        profile = working if day.weekday() < 5 else weekend
        for q in range(96):
            start = _start(catalog, day) + q * INTERVAL_SECONDS
            for group, scale in (("basic_zh", 10), ("vip", 2)):
                calls = scale * multiple[day.weekday()] * profile[q]
                out.append(IntervalStat(group, start, calls, calls, 0, 200.0 * calls, calls, 0.0))
    return out


def _day_totals(demand: list[Demand], catalog: Catalog, group: str | None = None) -> dict[date, float]:
    tz = zone(catalog.center.timezone)
    totals: dict[date, float] = defaultdict(float)
    for d in demand:
        if group is None or d.group == group:
            totals[datetime.fromtimestamp(d.start, tz).date()] += d.calls
    return totals


# --- the calendar -----------------------------------------------------------------


def test_the_calendar_tells_holidays_make_up_days_and_returns_to_work(catalog: Catalog) -> None:
    calendar = center_calendar(catalog)
    assert day_kind(calendar, date(2026, 10, 1)) == "holiday"
    assert day_kind(calendar, date(2026, 10, 4)) == "holiday"  # the Sunday inside Golden Week
    assert day_kind(calendar, date(2026, 2, 14)) == "makeup"  # 调休: a Saturday worked
    assert day_kind(calendar, date(2026, 3, 7)) == "saturday"
    assert day_kind(calendar, date(2026, 3, 8)) == "sunday"
    assert day_kind(calendar, date(2026, 3, 9)) == "workday"
    assert is_after_long_holiday(calendar, date(2026, 10, 8))
    assert not is_after_long_holiday(calendar, date(2026, 3, 9))  # after an ordinary weekend
    assert day_kind(None, date(2026, 10, 1)) == "workday"  # no calendar: no holidays


# --- exactness and refusals -------------------------------------------------------


@pytest.mark.parametrize("method", ["seasonal", "model", "best"])
def test_the_forecast_of_a_perfectly_periodic_history_is_that_history(catalog: Catalog, method: str) -> None:
    history = _textbook_history(catalog, date(2026, 5, 11), weeks=4)  # no holiday: 05-11..06-07
    demand = forecast(history, catalog, date(2026, 6, 8), 7, method)  # type: ignore[arg-type]
    week_before = {(s.group, s.start + 7 * 86400): s for s in history[-7 * 96 * 2 :]}
    assert len(demand) == len(week_before)
    for d in demand:
        past = week_before[(d.group, d.start)]
        assert d.calls == pytest.approx(past.offered, rel=1e-6, abs=1e-6)
        assert d.aht == pytest.approx(200.0)


def test_the_forecast_starts_at_local_midnight_and_lists_every_group_each_quarter_hour(
    catalog: Catalog,
) -> None:
    history = _textbook_history(catalog, date(2026, 5, 11), weeks=2)
    demand = forecast(history, catalog, date(2026, 5, 25), 2, "seasonal")
    assert demand[0].start == _start(catalog, date(2026, 5, 25))
    assert [d.group for d in demand[:2]] == ["basic_zh", "vip"]  # catalog order
    assert [d.start for d in demand[::2]] == [demand[0].start + n * INTERVAL_SECONDS for n in range(2 * 96)]


def test_an_empty_history_is_refused_with_a_clear_error(catalog: Catalog) -> None:
    with pytest.raises(ForecastError, match="history is empty"):
        forecast([], catalog, date(2026, 6, 8), 7)
    with pytest.raises(ForecastError, match="history is empty"):
        evaluate([], catalog, 7)
    assert issubclass(ForecastError, ValueError)


def test_history_only_after_the_first_day_is_no_history(catalog: Catalog) -> None:
    history = _textbook_history(catalog, date(2026, 5, 11), weeks=1)
    with pytest.raises(ForecastError, match="before 2026-05-04"):
        forecast(history, catalog, date(2026, 5, 4), 1)


def test_the_model_needs_two_weeks_and_best_falls_back_to_the_baseline(catalog: Catalog) -> None:
    history = _textbook_history(catalog, date(2026, 5, 11), weeks=1)
    with pytest.raises(ForecastError, match="needs 14 complete days"):
        forecast(history, catalog, date(2026, 5, 18), 1, "model")
    best = forecast(history, catalog, date(2026, 5, 18), 1, "best")
    assert best == forecast(history, catalog, date(2026, 5, 18), 1, "seasonal")


def test_evaluation_needs_two_weeks_before_the_held_out_days(catalog: Catalog) -> None:
    history = _textbook_history(catalog, date(2026, 5, 11), weeks=2)
    with pytest.raises(ForecastError, match="needs 14 complete days"):
        evaluate(history, catalog, 7)


def test_a_day_cut_short_at_the_end_of_the_history_is_left_out(catalog: Catalog) -> None:
    history = _textbook_history(catalog, date(2026, 5, 11), weeks=3)  # to Sunday 05-31
    # Today so far: Monday 06-01 until noon, busier than any Monday.
    today = [
        IntervalStat(group, _start(catalog, date(2026, 6, 1)) + q * INTERVAL_SECONDS, 500, 500, 0, 1e5, 500)
        for q in range(48)
        for group in ("basic_zh", "vip")
    ]
    with_today = forecast(history + today, catalog, date(2026, 6, 2), 1, "model")
    without = forecast(history, catalog, date(2026, 6, 2), 1, "model")
    assert [d.calls for d in with_today] == pytest.approx([d.calls for d in without], rel=1e-6)


# --- on the case study's volume ---------------------------------------------------


def test_both_methods_are_accurate_on_generated_history_and_best_picks_the_better(
    eight_weeks: list[IntervalStat], catalog: Catalog
) -> None:
    report = evaluate(eight_weeks, catalog, 7)
    assert report.first_day == "2026-06-22" and report.days == 7 and report.train_days == 49
    groups = [queue.id for queue in catalog.queues]
    for score in (report.seasonal, report.model):
        assert set(score.interval_wape) == set(score.day_wape) == set(groups)
        assert all(w is not None and math.isfinite(w) for w in score.interval_wape.values())
        assert score.total_day_wape < 0.15
        assert score.total_interval_wape < 0.15
        assert (score.day_wape["basic_zh"] or 1) < 0.05
    better = "model" if report.model.total_interval_wape < report.seasonal.total_interval_wape else "seasonal"
    assert report.best == better
    assert report.model_fallbacks == ()
    assert report.actual_calls["basic_zh"] > report.actual_calls["english"] > 0


def test_best_forecasts_with_the_method_that_won_on_the_last_held_out_week(
    eight_weeks: list[IntervalStat], catalog: Catalog
) -> None:
    winner = evaluate(eight_weeks, catalog, 7).best
    first = date(2026, 6, 29)
    assert forecast(eight_weeks, catalog, first, 2, "best") == forecast(eight_weeks, catalog, first, 2, winner)


def test_the_model_forecasts_each_day_of_the_next_week_within_a_few_percent(
    catalog: Catalog, eight_weeks: list[IntervalStat]
) -> None:
    # The same generator run one week longer: the week after the history is what happened.
    actual = _day_totals_of(list(generate_history(catalog, date(2026, 5, 4), 63, CASE_STUDY_CALLS_PER_DAY)), catalog)
    predicted = _day_totals(forecast(eight_weeks, catalog, date(2026, 6, 29), 7, "model"), catalog)
    assert len(predicted) == 7
    for day, calls in predicted.items():
        assert calls == pytest.approx(actual[day], rel=0.08), day


def test_a_holiday_in_the_forecast_window_is_forecast_low(catalog: Catalog) -> None:
    # Eight weeks to 09-20: no holiday inside (the Dragon Boat break is older), so
    # the Mid-Autumn holiday (Friday 09-25, with Saturday 09-26) comes from the
    # scaled Sunday; Sunday 09-27 is a make-up working day.
    history = list(generate_history(catalog, date(2026, 7, 27), 56, CASE_STUDY_CALLS_PER_DAY))
    for method in ("seasonal", "model"):
        days = _day_totals(forecast(history, catalog, date(2026, 9, 21), 7, method), catalog)
        wednesday = days[date(2026, 9, 23)]
        assert days[date(2026, 9, 25)] < 0.6 * wednesday, method
        assert days[date(2026, 9, 26)] < 0.6 * wednesday, method
        assert days[date(2026, 9, 27)] == pytest.approx(wednesday, rel=0.12), method  # 调休: a working day


def test_past_holidays_forecast_the_next_ones(catalog: Catalog) -> None:
    # Eight weeks to 09-30 hold the Mid-Autumn break: Golden Week is forecast from it.
    history = list(generate_history(catalog, date(2026, 8, 5), 56, CASE_STUDY_CALLS_PER_DAY))
    actual = _day_totals_of(list(generate_history(catalog, date(2026, 8, 5), 63, CASE_STUDY_CALLS_PER_DAY)), catalog)
    for method in ("seasonal", "model"):
        days = _day_totals(forecast(history, catalog, date(2026, 9, 30), 7, method), catalog)
        for n in range(1, 7):
            day = date(2026, 9, 30) + timedelta(days=n)
            assert days[day] == pytest.approx(actual[day], rel=0.12), (method, day)


def _day_totals_of(history: list[IntervalStat], catalog: Catalog) -> dict[date, float]:
    tz = zone(catalog.center.timezone)
    totals: dict[date, float] = defaultdict(float)
    for stat in history:
        totals[datetime.fromtimestamp(stat.start, tz).date()] += stat.offered
    return totals


def test_group_customers_get_no_calls_forecast_while_their_line_is_closed(
    eight_weeks: list[IntervalStat], catalog: Catalog
) -> None:
    tz = zone(catalog.center.timezone)
    for method in ("seasonal", "model"):
        demand = forecast(eight_weeks, catalog, date(2026, 9, 28), 7, method)
        for d in demand:
            if d.group != "group":
                continue
            local = datetime.fromtimestamp(d.start, tz)
            minute = local.hour * 60 + local.minute
            if local.date() >= date(2026, 10, 1) or not 8 * 60 + 30 <= minute < 20 * 60:
                assert d.calls == 0, (method, local)
        assert sum(d.calls for d in demand if d.group == "group") > 0


def test_aht_is_the_recent_mean_then_the_groups_then_the_catalog_target(catalog: Catalog) -> None:
    # basic_zh: 250 s a call; vip: calls offered but none handled (all abandoned).
    history = [
        replace(s, handle_seconds=250.0 * s.handled)
        if s.group == "basic_zh"
        else replace(s, answered=0, abandoned=s.offered, handle_seconds=0.0, handled=0)
        for s in _textbook_history(catalog, date(2026, 5, 11), weeks=2)
    ]
    demand = forecast(history, catalog, date(2026, 5, 25), 1, "seasonal")
    assert all(d.aht == pytest.approx(250.0) for d in demand if d.group == "basic_zh")
    assert all(d.aht == 300.0 for d in demand if d.group == "vip")
