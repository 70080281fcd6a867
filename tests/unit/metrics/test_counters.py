"""Specs of the monotonic call counters: each call's facts counted once, abandons
settled only when no overflow can follow, labels bounded, memory bounded."""

from __future__ import annotations

from ivr.metrics.counters import CallCounters, CallLabels, Distribution, LabelSets
from ivr.metrics.events import (
    AgentCompleted,
    CallerAbandoned,
    CallerExited,
    CallerJoined,
    CallerOverflowed,
    SurveyRated,
)

from .center import CATALOG
from .day import morning
from .script import T0, abandoned, answered

MAIN_ZH = CallLabels("basic_zh", "main", "standard", "zh")


def counters(grace: float = 5.0, window: float = 6 * 3600.0, max_calls: int = 100_000) -> CallCounters:
    return CallCounters.of(CATALOG, grace=grace, window=window, max_calls=max_calls)


def joined(
    uid: str, at: float = T0, queue: str = "basic_zh", line: str = "main", tier: str = "standard", language: str = "zh"
) -> CallerJoined:
    return CallerJoined(
        at=at, queue=queue, uniqueid=uid, caller_hash=None, position=1, line=line, tier=tier, language=language
    )


def abandon(uid: str, hold: float, queue: str = "basic_zh") -> CallerAbandoned:
    return CallerAbandoned(at=T0 + hold, queue=queue, uniqueid=uid, position=1, original_position=1, hold_time=hold)


def overflow(uid: str, at: float, queue: str = "basic_zh") -> CallerOverflowed:
    return CallerOverflowed(at=at, queue=queue, uniqueid=uid, reason="timeout", next_queue="english")


def wait_counts(c: CallCounters, outcome: str, queue: str = "basic_zh") -> int:
    return c.waits[(queue, outcome)].count  # type: ignore[index]


def test_scripted_morning_counts_offered_answered_abandoned_and_service_level() -> None:
    c = counters()
    c.observe_all(morning(), now=T0)
    c.settle(T0 + 10)  # the abandons' grace has passed

    assert c.calls["offered"][MAIN_ZH] == 4  # c1, c3, c4, c5
    assert c.calls["offered"][CallLabels("basic_zh", "vip", "vip", "zh")] == 1
    assert c.calls["offered"][CallLabels("english", "main", "standard", "en")] == 1
    assert sum(c.calls["answered"].values()) == 4
    assert c.calls["answered_in_service_level"][MAIN_ZH] == 2  # c1 (10 s), c5 (15 s); c2 waited 30 s
    assert c.calls["abandoned"][MAIN_ZH] == 1  # c3 after 40 s
    assert c.calls["short_abandoned"][MAIN_ZH] == 1  # c4 after 3 s
    assert wait_counts(c, "answered") == 4
    assert c.waits[("basic_zh", "answered")].total == 10 + 30 + 15 + 5
    assert c.talks["basic_zh"].count == 4
    assert c.talks["basic_zh"].total == 100 + 200 + 300 + 60


def test_an_abandon_is_held_back_for_its_grace_then_counted() -> None:
    c = counters(grace=5.0)
    c.observe_all([joined("a"), abandon("a", hold=40)], now=100.0)

    assert sum(c.calls["abandoned"].values()) == 0 and c.pending == 1
    c.settle(104.9)
    assert sum(c.calls["abandoned"].values()) == 0
    c.settle(105.0)
    assert c.calls["abandoned"][MAIN_ZH] == 1 and c.pending == 0
    assert wait_counts(c, "abandoned") == 1


def test_an_abandon_followed_by_an_overflow_is_counted_as_an_exit_never_as_an_abandon() -> None:
    c = counters(grace=5.0)
    c.observe_all([joined("o"), abandon("o", hold=30)], now=100.0)
    c.observe(overflow("o", T0 + 30), now=100.2)
    c.settle(1000.0)

    assert sum(c.calls["abandoned"].values()) == 0
    assert c.calls["exited"][MAIN_ZH] == 1
    assert wait_counts(c, "exited") == 1 and wait_counts(c, "abandoned") == 0


def test_an_overflow_reported_before_its_abandon_still_makes_an_exit() -> None:
    c = counters()
    c.observe_all([joined("o"), overflow("o", T0 + 30), abandon("o", hold=30)], now=100.0)
    c.settle(1000.0)
    assert c.calls["exited"][MAIN_ZH] == 1 and sum(c.calls["abandoned"].values()) == 0


def test_an_overflow_of_a_caller_refused_on_joining_changes_nothing() -> None:
    c = counters()
    c.observe(overflow("never-joined", T0), now=100.0)
    assert all(not counts for counts in c.calls.values()) and c.remembered == 0


def test_a_queue_log_exit_settles_a_pending_abandon_as_an_exit() -> None:
    c = counters()
    c.observe_all([joined("x"), abandon("x", hold=30)], now=100.0)
    c.observe(
        CallerExited(at=T0 + 30, queue="basic_zh", uniqueid="x", reason="timeout", position=1, original_position=1,
                     hold_time=30),
        now=101.0,
    )  # fmt: skip
    assert c.pending == 0
    c.settle(1000.0)
    assert c.calls["exited"][MAIN_ZH] == 1 and sum(c.calls["abandoned"].values()) == 0


def test_a_call_learned_twice_from_two_sources_is_counted_once() -> None:
    c = counters()
    call = answered("d", joined=0, hold=12, talk=60)
    c.observe_all(call, now=100.0)
    # The same call again, as queue_log tells it (whole seconds), then AMI late.
    again = answered("d", joined=0.4, hold=12.0, talk=61, language="zh")
    c.observe_all(again, now=101.0)
    c.observe_all(call, now=102.0)

    assert c.calls["offered"][MAIN_ZH] == 1
    assert c.calls["answered"][MAIN_ZH] == 1
    assert c.talks["basic_zh"].count == 1
    assert wait_counts(c, "answered") == 1


def test_a_resync_join_without_tags_does_not_recount_or_relabel_a_known_call() -> None:
    c = counters()
    c.observe(joined("r"), now=100.0)
    c.observe(joined("r", at=T0 + 20, line="", tier="", language=""), now=120.0)
    assert c.calls["offered"] == {MAIN_ZH: 1}


def test_a_call_first_seen_in_a_resync_is_offered_under_unknown_tags() -> None:
    c = counters()
    c.observe(joined("u", line="", tier="", language=""), now=100.0)
    c.observe(joined("u", at=T0 + 1), now=100.0)  # its tagged join, late: counted already
    assert c.calls["offered"] == {CallLabels("basic_zh"): 1}


def test_an_abandon_reported_before_its_join_is_counted_under_the_joins_tags() -> None:
    c = counters()
    c.observe_all([abandon("early", hold=40), joined("early")], now=100.0)
    c.settle(200.0)
    assert c.calls["offered"] == {MAIN_ZH: 1} and c.calls["abandoned"] == {MAIN_ZH: 1}


def test_a_call_answered_without_a_seen_join_counts_under_unknown_tags() -> None:
    c = counters()
    c.observe(
        AgentCompleted(at=T0 + 70, queue="basic_zh", uniqueid="late", agent="1001", hold_time=10, talk_time=60,
                       reason="caller"),
        now=100.0,
    )  # fmt: skip
    assert c.calls["answered"] == {CallLabels("basic_zh", "unknown", "unknown", "unknown"): 1}
    assert c.talks["basic_zh"].count == 1


def test_service_level_uses_each_groups_threshold_inclusive() -> None:
    c = counters()
    c.observe_all(answered("at20", joined=0, hold=20, talk=5), now=100.0)
    c.observe_all(answered("at21", joined=1, hold=21, talk=5), now=100.0)
    assert c.calls["answered_in_service_level"][MAIN_ZH] == 1


def test_label_values_the_catalog_does_not_know_are_other_and_missing_ones_unknown() -> None:
    c = counters()
    c.observe(joined("x1", queue="rogue_queue", line="rogue", tier="diamond", language="xx"), now=100.0)
    c.observe(joined("x2", line="", tier="", language=""), now=100.0)
    assert c.calls["offered"] == {
        CallLabels("other", "other", "other", "other"): 1,
        CallLabels("basic_zh", "unknown", "unknown", "unknown"): 1,
    }


def test_survey_ratings_count_once_per_call_with_bounded_rating_labels() -> None:
    c = counters()
    rated = SurveyRated(at=T0 + 100, uniqueid="s", queue="basic_zh", agent="1001", line="main", rating=5)
    c.observe_all([joined("s"), rated, rated], now=100.0)
    c.observe(SurveyRated(at=T0 + 100, uniqueid="t", queue="basic_zh", agent="1001", line="main", rating=9), 101.0)
    assert c.ratings == {("basic_zh", "main", "5"): 1, ("basic_zh", "main", "other"): 1}


def test_memory_is_bounded_by_count_and_pending_abandons_are_counted_when_forgotten() -> None:
    c = counters(max_calls=3)
    c.observe_all([joined("a"), abandon("a", hold=40)], now=100.0)
    for n in range(5):
        c.observe(joined(f"n{n}", at=T0 + 50 + n), now=100.0)
    assert c.remembered == 3
    assert c.calls["abandoned"][MAIN_ZH] == 1 and c.pending == 0
    assert c.calls["offered"][MAIN_ZH] == 6


def test_memory_is_bounded_by_time() -> None:
    c = counters(window=3600.0)
    c.observe(joined("old"), now=100.0)
    c.observe(joined("new", at=T0 + 3601), now=200.0)
    assert c.remembered == 1


def test_every_known_group_has_zero_histograms_from_the_start() -> None:
    c = counters()
    assert {queue for queue, _ in c.waits} == {"basic_zh", "english"}
    assert {outcome for _, outcome in c.waits} == {"answered", "abandoned", "exited"}
    assert set(c.talks) == {"basic_zh", "english"}
    assert all(d.count == 0 for d in c.waits.values())


def test_distribution_buckets_are_cumulative_and_upper_bounds_inclusive() -> None:
    d = Distribution((1.0, 5.0, 10.0))
    for value in (0.0, 1.0, 1.5, 5.0, 11.0):
        d.observe(value)
    assert list(d.cumulative()) == [(1.0, 2), (5.0, 4), (10.0, 4), (float("inf"), 5)]
    assert d.total == 18.5


def test_labels_without_a_catalog_keep_any_value() -> None:
    assert LabelSets().labels("q", "l", "t", "x") == CallLabels("q", "l", "t", "x")


def test_morning_through_abandoned_builder_counts_its_short_abandon() -> None:
    c = counters()
    c.observe_all(abandoned("s", joined=0, hold=4.9), now=100.0)
    c.settle(200.0)
    assert c.calls["short_abandoned"][MAIN_ZH] == 1 and not c.calls["abandoned"]
