"""Specs of the KPI reducer: scripted calls, KPIs worked out by hand."""

from __future__ import annotations

import pytest

from ivr.metrics.events import (
    AgentCalled,
    AgentCompleted,
    AgentConnected,
    AgentRingNoAnswer,
    CallerJoined,
    MemberAdded,
    MemberPaused,
    MemberRemoved,
    SurveyRated,
)
from ivr.metrics.reducer import CenterState, GroupConfig, KpiRow

from .script import QUEUE, T0, abandoned, answered, by_time

GROUPS = {QUEUE: GroupConfig(service_level_seconds=20, wrapup_seconds=10)}


def center(*events: object) -> CenterState:
    state = CenterState(GROUPS)
    for event in events:
        state.apply(event)  # type: ignore[arg-type]
    return state


def total(state: CenterState, start: float = T0, end: float = T0 + 3600) -> KpiRow:
    (row,) = state.kpis(start, end, None, interval=None)
    return row


def later(at: float) -> MemberAdded:
    """An unrelated event that moves the reducer's horizon to T0+at."""
    return MemberAdded(at=T0 + at, queue="english", agent="9999")


def test_mixed_calls_give_answer_rate_service_level_asa_talk_and_aht() -> None:
    state = center(
        *by_time(
            answered("c1", joined=0, hold=10, talk=60, agent="1001"),
            answered("c2", joined=20, hold=30, talk=100, agent="1002"),
            abandoned("c3", joined=30, hold=3),
            abandoned("c4", joined=40, hold=40),
        ),
        later(300),
    )
    row = total(state)
    # offered 4: c1, c2 answered; c3 a short abandon (3 s < 5 s); c4 abandoned.
    assert (row.offered, row.answered, row.short_abandoned, row.abandoned) == (4, 2, 1, 1)
    assert row.answer_rate == pytest.approx(2 / 4)
    # Only c1 (10 s <= 20 s) is within service level; denominator 4 - 1 short.
    assert row.service_level == pytest.approx(1 / 3)
    assert row.abandon_rate == pytest.approx(1 / 3)
    assert row.asa == pytest.approx((10 + 30) / 2)
    assert row.average_talk_time == pytest.approx((60 + 100) / 2)
    # Both seats spent the full 10 s wrap-up before the horizon (T0+300).
    assert row.aht == pytest.approx((60 + 100 + 10 + 10) / 2)
    # c4 waited longest: 40 s.
    assert row.longest_wait == 40


def test_abandon_after_30s_counts_against_service_level() -> None:
    state = center(
        *answered("c1", joined=0, hold=5, talk=30),
        *abandoned("c2", joined=100, hold=30),
    )
    row = total(state)
    # 1 answered within 20 s out of 2 offered, no short abandons.
    assert row.service_level == pytest.approx(1 / 2)
    assert row.abandon_rate == pytest.approx(1 / 2)


def test_short_abandon_is_reported_apart_and_left_out_of_rate_denominators() -> None:
    state = center(
        *answered("c1", joined=0, hold=5, talk=30),
        *abandoned("c2", joined=100, hold=4),
    )
    row = total(state)
    assert (row.short_abandoned, row.abandoned) == (1, 0)
    assert row.service_level == 1.0  # 1 / (2 - 1)
    assert row.abandon_rate == 0.0  # 0 / (2 - 1)
    assert row.answer_rate == pytest.approx(1 / 2)  # the glossary's answered / offered


def test_abandon_at_exactly_five_seconds_is_not_short() -> None:
    row = total(center(*abandoned("c1", joined=0, hold=5)))
    assert (row.short_abandoned, row.abandoned, row.abandon_rate) == (0, 1, 1.0)


def test_answer_at_exactly_the_threshold_is_within_service_level() -> None:
    row = total(center(*answered("c1", joined=0, hold=20, talk=30)))
    assert row.answered_in_service_level == 1
    assert row.service_level == 1.0


def test_each_group_uses_its_own_service_level_threshold() -> None:
    state = CenterState({QUEUE: GroupConfig(service_level_seconds=20), "vip": GroupConfig(service_level_seconds=10)})
    state.apply_all(
        by_time(
            answered("c1", joined=0, hold=15, talk=30),
            answered("c2", joined=0, hold=15, talk=30, queue="vip", agent="2001"),
        )
    )
    rows = {r.key: r for r in state.kpis(T0, T0 + 3600, "group", interval=None)}
    assert rows[QUEUE].service_level == 1.0  # 15 <= 20
    assert rows["vip"].service_level == 0.0  # 15 > 10


def test_caller_still_waiting_is_offered_and_sets_longest_wait() -> None:
    state = center(
        *answered("c1", joined=0, hold=10, talk=30),
        CallerJoined(at=T0 + 50, queue=QUEUE, uniqueid="c2", caller_hash=None, position=1),
        later(170),
    )
    row = total(state)
    assert (row.offered, row.answered, row.waiting) == (2, 1, 1)
    # c2 has waited from T0+50 to the horizon T0+170.
    assert row.longest_wait == 120
    # It is not yet answered within 20 s: it counts against service level.
    assert row.service_level == pytest.approx(1 / 2)


def test_calls_are_counted_in_the_15_minute_interval_they_joined() -> None:
    state = center(
        *by_time(
            answered("c1", joined=890, hold=20, talk=40, agent="1001"),
            answered("c2", joined=905, hold=5, talk=40, agent="1002"),
        ),
        later(1000),
    )
    rows = state.kpis(T0, T0 + 1800, None, interval=900)
    assert [r.start for r in rows] == [T0, T0 + 900]
    assert [r.end for r in rows] == [T0 + 900, T0 + 1800]
    # c1 joined at 14:50 into the first interval, though answered in the second.
    assert [r.offered for r in rows] == [1, 1]
    assert [r.answered for r in rows] == [1, 1]
    # Seat 1001 talked from T0+910 to T0+950: all in the second interval;
    # it rang from T0+908 (2 s before answer), in the second as well.
    first, second = rows
    assert first.on_call_seconds == 0
    assert second.on_call_seconds == 40 + 40


def test_seat_time_is_split_at_the_interval_boundary() -> None:
    state = center(
        MemberAdded(at=T0 + 800, queue=QUEUE, agent="1001"),
        *answered("c1", joined=880, hold=10, talk=60, agent="1001"),
        MemberRemoved(at=T0 + 1000, queue=QUEUE, agent="1001"),
    )
    first, second = state.kpis(T0, T0 + 1800, "agent", interval=900)
    # On call from T0+890 to T0+950: 10 s before the boundary, 50 s after.
    assert (first.on_call_seconds, second.on_call_seconds) == (10, 50)
    # Logged in T0+800..T0+1000: 100 s in each interval.
    assert (first.logged_in_seconds, second.logged_in_seconds) == (100, 100)
    # Wrap-up T0+950..T0+960 lies in the second interval.
    assert second.wrap_up_seconds == 10


def test_calls_are_cut_by_line_tier_and_language_of_their_join() -> None:
    state = center(
        *by_time(
            answered("c1", joined=0, hold=5, talk=30, line="main", tier="standard"),
            answered(
                "c2",
                joined=10,
                hold=5,
                talk=30,
                line="vip",
                tier="vip",
                agent="2001",
                language="en",
            ),
            abandoned("c3", joined=20, hold=30, line="vip", tier="vip", language="en"),
        )
    )
    by_line = {r.key: r for r in state.kpis(T0, T0 + 3600, "line", interval=None)}
    assert {k: (r.offered, r.answered) for k, r in by_line.items()} == {
        "main": (1, 1),
        "vip": (2, 1),
    }
    assert by_line["vip"].abandon_rate == pytest.approx(1 / 2)
    by_tier = {r.key: r.offered for r in state.kpis(T0, T0 + 3600, "tier", interval=None)}
    assert by_tier == {"standard": 1, "vip": 2}
    by_language = {r.key: r.offered for r in state.kpis(T0, T0 + 3600, "language", None)}
    assert by_language == {"zh": 1, "en": 2}


def test_agent_rows_count_calls_presented_and_answered() -> None:
    state = center(
        CallerJoined(at=T0, queue=QUEUE, uniqueid="c1", caller_hash=None, position=1),
        AgentCalled(at=T0 + 1, queue=QUEUE, uniqueid="c1", agent="1001"),
        AgentRingNoAnswer(at=T0 + 16, queue=QUEUE, uniqueid="c1", agent="1001", ring_time=15),
        AgentCalled(at=T0 + 17, queue=QUEUE, uniqueid="c1", agent="1002"),
        AgentConnected(at=T0 + 20, queue=QUEUE, uniqueid="c1", agent="1002", hold_time=20, ring_time=3),
        AgentCompleted(
            at=T0 + 80,
            queue=QUEUE,
            uniqueid="c1",
            agent="1002",
            hold_time=20,
            talk_time=60,
            reason="agent",
        ),
    )
    rows = {r.key: r for r in state.kpis(T0, T0 + 3600, "agent", interval=None)}
    # Presented to both, answered by 1002 only.
    assert (rows["1001"].offered, rows["1001"].answered, rows["1001"].ring_no_answer) == (1, 0, 1)
    assert (rows["1002"].offered, rows["1002"].answered, rows["1002"].ring_no_answer) == (1, 1, 0)
    assert rows["1001"].answer_rate == 0.0
    assert rows["1002"].average_talk_time == 60
    # Service level and abandonment are queue measures, not an agent's.
    assert rows["1002"].service_level is None and rows["1002"].abandon_rate is None


def test_utilization_occupancy_and_in_seat_rate_of_a_seat() -> None:
    state = center(
        MemberAdded(at=T0, queue=QUEUE, agent="1001"),
        MemberPaused(at=T0 + 100, queue=QUEUE, agent="1001", paused=True, reason="break"),
        MemberPaused(at=T0 + 200, queue=QUEUE, agent="1001", paused=False, reason=""),
        *answered("c1", joined=290, hold=10, talk=100, agent="1001"),
        MemberRemoved(at=T0 + 900, queue=QUEUE, agent="1001"),
    )
    (row,) = state.kpis(T0, T0 + 900, "agent", interval=None, schedule={"1001": {T0: 900.0}})
    # Logged in 900 s: paused 100, ringing 2 (T0+298..300), on call 100
    # (T0+300..400), wrap-up 10 (T0+400..410), available the remaining 688.
    assert row.logged_in_seconds == 900
    assert row.paused_seconds == 100
    assert row.ringing_seconds == 2
    assert row.on_call_seconds == 100
    assert row.wrap_up_seconds == 10
    assert row.available_seconds == 688
    assert row.utilization == pytest.approx(110 / 900)
    assert row.occupancy == pytest.approx(110 / (688 + 2 + 110))
    assert row.in_seat_rate == pytest.approx((900 - 100) / 900)
    # Center totals carry the same seat time; group rows carry none.
    (center_row,) = state.kpis(T0, T0 + 900, None, interval=None)
    assert center_row.utilization == row.utilization
    (group_row,) = state.kpis(T0, T0 + 900, "group", interval=None)
    assert group_row.utilization is None


def test_repeat_call_after_23_hours_is_not_resolved_in_24h_or_7d() -> None:
    hour = 3600
    state = center(
        *answered("c1", joined=0, hold=10, talk=60, caller="k1"),
        *answered("c2", joined=23 * hour, hold=10, talk=60, caller="k1"),
    )
    (row,) = state.kpis(T0, T0 + 60, None, interval=None)  # c1 only
    assert (row.fcr_24h, row.fcr_24h_pending) == (0.0, 0)
    assert (row.fcr_7d, row.fcr_7d_pending) == (0.0, 0)


def test_repeat_call_after_25_hours_is_resolved_in_24h_but_not_in_7d() -> None:
    hour = 3600
    state = center(
        *answered("c1", joined=0, hold=10, talk=60, caller="k1"),
        *answered("c2", joined=25 * hour, hold=10, talk=60, caller="k1"),
    )
    (row,) = state.kpis(T0, T0 + 60, None, interval=None)
    # The 24 h window closed (horizon is T0+25h+80) with no repeat in it.
    assert (row.fcr_24h, row.fcr_24h_pending) == (1.0, 0)
    assert (row.fcr_7d, row.fcr_7d_pending) == (0.0, 0)


def test_first_call_resolution_is_pending_until_its_window_passes() -> None:
    state = center(*answered("c1", joined=0, hold=10, talk=60, caller="k1"), later(3600))
    row = total(state)
    assert (row.fcr_24h, row.fcr_24h_pending, row.fcr_7d_pending) == (None, 1, 1)


def test_csat_is_the_mean_rating_and_share_of_fours_and_fives() -> None:
    ratings = [5, 4, 2]
    state = center(
        *[
            SurveyRated(at=T0 + i, uniqueid=f"c{i}", queue=QUEUE, agent="1001", line="main", rating=r)
            for i, r in enumerate(ratings)
        ]
    )
    row = total(state)
    assert row.surveys == 3
    assert row.csat_mean == pytest.approx(11 / 3)
    assert row.csat_satisfied_share == pytest.approx(2 / 3)


def test_duplicate_events_from_a_replay_are_ignored() -> None:
    events = by_time(
        answered("c1", joined=0, hold=10, talk=60),
        abandoned("c2", joined=5, hold=30),
    )
    once = center(*events)
    twice = center(*events, *events, events[0])
    assert twice.duplicates == len(events) + 1
    assert twice.kpis(T0, T0 + 3600, "group") == once.kpis(T0, T0 + 3600, "group")
    assert twice.kpis(T0, T0 + 3600, "agent") == once.kpis(T0, T0 + 3600, "agent")


def test_connect_seen_before_its_join_still_counts_once_with_the_join_tags() -> None:
    events = answered("c1", joined=0, hold=10, talk=60, line="vip")
    join, *rest = events
    state = center(*rest, join)
    (row,) = state.kpis(T0, T0 + 3600, "line", interval=None)
    assert (row.key, row.offered, row.answered, row.asa) == ("vip", 1, 1, 10)


def test_today_and_rolling_windows() -> None:
    state = center(
        *answered("c1", joined=-7200, hold=10, talk=60),
        *answered("c2", joined=600, hold=10, talk=60, agent="1002"),
    )
    now = T0 + 900
    # T0 is 22:00 UTC = 06:00 next day in UTC+8: the day began at T0-6h.
    (today,) = state.today(now, utc_offset_seconds=8 * 3600)
    assert today.start == T0 - 6 * 3600 and today.offered == 2
    (rolling,) = state.rolling(now)
    assert rolling.offered == 1  # only c2 joined in the last 15 minutes


def test_an_event_older_than_the_dedupe_window_is_dropped_as_late() -> None:
    state = CenterState(GROUPS, dedupe_window=3600)
    state.apply_all(answered("c1", joined=0, hold=10, talk=60))
    state.apply(later(7200))
    state.apply_all(abandoned("c2", joined=100, hold=30))  # 2 h behind: a stale replay
    assert state.late == 3
    assert total(state).offered == 1


def test_forgetting_old_calls_keeps_those_still_waiting() -> None:
    state = center(
        *answered("c1", joined=0, hold=10, talk=60, caller="k1"),
        CallerJoined(at=T0 + 50, queue=QUEUE, uniqueid="c2", caller_hash="k1", position=1),
        later(200),
    )
    state.forget_before(T0 + 100)
    row = total(state)
    assert (row.offered, row.waiting) == (1, 1)


def test_a_caller_the_queue_moved_on_is_an_exit_not_an_abandon_and_is_offered_again_in_the_next_group() -> None:
    """app_queue reports a timeout with QueueCallerAbandon; the dialplan's
    IvrQueueExit (CallerOverflowed) right after makes it an exit, as queue_log says."""
    from ivr.metrics.events import CallerOverflowed

    state = center(
        *abandoned("c1", joined=0, hold=30),  # what AMI says when japanese timed out after 30 s
        CallerOverflowed(at=T0 + 30, queue=QUEUE, uniqueid="c1", reason="timeout", next_queue="english"),
        later(300),
    )
    row = total(state)

    assert (row.offered, row.answered, row.abandoned, row.short_abandoned, row.exited) == (1, 0, 0, 0, 1)
    assert row.abandon_rate == 0


def test_an_overflow_event_for_a_caller_refused_on_joining_changes_nothing() -> None:
    from ivr.metrics.events import CallerOverflowed

    state = center(
        *answered("c1", joined=0, hold=5, talk=30),
        CallerOverflowed(at=T0 + 40, queue="vip", uniqueid="c9", reason="empty", next_queue=QUEUE),
        later(300),
    )

    assert (total(state).offered, total(state).exited) == (1, 0)
