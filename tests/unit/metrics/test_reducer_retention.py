"""Specs of how long the reducer keeps what it was told: `retention` behind its horizon.

`ivr serve` keeps the 8 days a restart recovers (FCR looks back 7); without a
retention every call, seat segment and survey stayed for the life of the
process, a day's traffic more each day.
"""

from __future__ import annotations

from ivr.metrics.events import DomainEvent
from ivr.metrics.reducer import CenterState, GroupConfig

from .script import QUEUE, T0, answered, by_time

DAY = 86400.0
GROUPS = {QUEUE: GroupConfig(service_level_seconds=20, wrapup_seconds=10)}


def week_and_a_half() -> list[DomainEvent]:
    """A call on day 0, one on day 2 and one on day 9, all answered by seat 1001."""
    return by_time(
        answered("day0", joined=0, hold=5, talk=30),
        answered("day2", joined=2 * DAY, hold=5, talk=30),
        answered("day9", joined=9 * DAY + 60, hold=5, talk=30),
    )


def test_the_state_forgets_a_call_once_it_is_older_than_its_retention() -> None:
    state = CenterState(GROUPS, retention=8 * DAY)
    state.apply_all(week_and_a_half())

    assert state.call_facts(QUEUE, "day0") is None
    assert state.call_facts(QUEUE, "day2") is not None
    assert state.call_facts(QUEUE, "day9") is not None
    assert all(end >= T0 + DAY for _, end, _ in state._seats["1001"].segments)


def test_forgetting_leaves_the_days_figures_as_they_were() -> None:
    kept, forgetting = CenterState(GROUPS), CenterState(GROUPS, retention=8 * DAY)
    for state in (kept, forgetting):
        state.apply_all(week_and_a_half())
    now, day = T0 + 9 * DAY + 600, T0 + 9 * DAY

    assert forgetting.today_counts(now, day) == kept.today_counts(now, day)
    assert forgetting.floor(now) == kept.floor(now)


def test_without_a_retention_the_state_keeps_every_call() -> None:
    state = CenterState(GROUPS)
    state.apply_all(week_and_a_half())

    assert state.call_facts(QUEUE, "day0") is not None
