"""Specs of the wallboard feed: a whole payload first, then only what changed.

A page that applies every update to the first payload must show what a fresh
`render_wallboard` would: that is the property checked here, on the scripted
morning of `day.py` and on random events, with wrap-ups running out by the
clock in between.
"""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ivr.metrics.events import AgentCalled, CallerJoined, DomainEvent, MemberAdded
from ivr.metrics.views import render_wallboard
from ivr.metrics.wallboard import Wallboard

from .center import CATALOG
from .day import NOW, morning_state
from .test_live_sums import EVENTS

Page = dict[str, Any]


def apply(page: Page, changes: Page) -> None:
    """What the page script does with an update (the sections it carries replace
    its own; `agents_changed` replaces those seats' rows)."""
    for key, value in changes.items():
        if key == "agents_changed":
            where = {row["agent"]: i for i, row in enumerate(page["agents"])}
            for row in value:
                page["agents"][where[row["agent"]]] = row
        else:
            page[key] = value


def shown(page: Page, now: float) -> Page:
    """The page at `now`: times in state count up on its own clock."""
    out = copy.deepcopy(page)
    for row in out["agents"]:
        row["time_in_state"] = round(max(0.0, now - row["since"]), 1)
    out["at"] = now
    return out


def test_the_first_update_is_the_whole_payload() -> None:
    state = morning_state()
    update = Wallboard(CATALOG).update(state, NOW)

    assert update.changes == update.full() == render_wallboard(state, CATALOG, NOW)


def test_an_update_carries_only_the_sections_and_seats_that_changed() -> None:
    state, wallboard = morning_state(), Wallboard(CATALOG)
    wallboard.update(state, NOW)

    quiet = wallboard.update(state, NOW + 0.1)
    state.apply(AgentCalled(at=NOW + 0.2, queue="english", uniqueid="c7", agent="1003"))
    ringing = wallboard.update(state, NOW + 0.3)

    # The english caller waits longer by the clock alone; nothing else moved.
    assert set(quiet.changes) == {"version", "at", "queues"}
    assert set(ringing.changes) >= {"version", "at", "agents_changed"}
    assert [row["agent"] for row in ringing.changes["agents_changed"]] == ["1003"]
    assert "agents" not in ringing.changes and "lines" not in ringing.changes


def test_a_new_seat_brings_the_whole_list_of_seats_in_order() -> None:
    state, wallboard = morning_state(), Wallboard(CATALOG)
    wallboard.update(state, NOW)
    state.apply(MemberAdded(at=NOW + 1, queue="english", agent="1000"))

    update = wallboard.update(state, NOW + 2)

    assert [row["agent"] for row in update.changes["agents"]] == ["1000", "1001", "1002", "1003"]


def test_the_whole_payload_of_an_update_stays_as_it_was_at_that_update() -> None:
    state, wallboard = morning_state(), Wallboard(CATALOG)
    update = wallboard.update(state, NOW)
    before = copy.deepcopy(update.full())
    state.apply(CallerJoined(at=NOW + 1, queue="basic_zh", uniqueid="c8", caller_hash=None, position=1))
    wallboard.update(state, NOW + 2)

    assert update.full() == before


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    steps=st.lists(
        st.tuples(st.lists(EVENTS, max_size=6), st.floats(0.05, 900, allow_nan=False)), min_size=1, max_size=8
    )
)
def test_a_page_applying_every_update_shows_what_a_fresh_render_shows(
    steps: list[tuple[list[DomainEvent], float]],
) -> None:
    state, wallboard = morning_state(), Wallboard(CATALOG)
    now = NOW
    page = copy.deepcopy(wallboard.update(state, now).changes)
    for events, later in steps:
        for event in sorted(events, key=lambda e: e.at):
            state.apply(event)
        now = max(now, state.horizon or now) + later
        update = wallboard.update(state, now)
        apply(page, update.changes)

        assert shown(page, now) == render_wallboard(state, CATALOG, now) == update.full()
