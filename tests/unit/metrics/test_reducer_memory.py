"""Specs of what a day's reducer state costs CPython's garbage collector.

The state is held for hours; every full collection walks each object the
collector tracks. What the state keeps per call and per seat must therefore
be objects the collector stops tracking (tuples of strings and numbers) or,
compiled, records it never tracks (`acyclic`).
"""

from __future__ import annotations

import gc

from ivr import native
from ivr.metrics.reducer import CenterState

from .day import NOW, morning_state


def tracked(value: object) -> bool:
    return gc.is_tracked(value)


def test_what_a_day_keeps_per_call_and_seat_is_untracked_once_collected() -> None:
    state: CenterState = morning_state()
    state.floor(NOW)  # the live sums are folded in as well
    gc.collect()
    gc.collect()  # a tuple of tuples: the inner ones are untracked by the first pass, the outer by the next

    calls, seats = list(state._calls.values()), list(state._seats.values())
    assert calls and seats and state._by_caller
    assert any(call.presented_to for call in calls)
    assert not any(tracked(call.presented_to) for call in calls)
    assert not any(tracked(entries) for entries in state._by_caller.values())
    segments = [segment for seat in seats for segment in seat.segments]
    assert segments and not any(tracked(segment) for segment in segments)
    assert not any(tracked(key) for key in state._seen)
    if native.status() == "compiled":
        assert not any(tracked(record) for record in [*calls, *seats])


def test_the_seat_timeline_gives_states_back_from_the_compact_segments() -> None:
    state = morning_state()
    seat = state._seats["1001"]
    timeline = list(seat.timeline(NOW))

    assert [(start, end) for start, end, _ in timeline[:-1]] == [(s, e) for s, e, _ in seat.segments]
    assert all(type(state_) is type(timeline[-1][2]) for _, _, state_ in timeline)
    assert [state_.value for _, _, state_ in timeline[:3]] == ["available", "ringing", "on_call"]
