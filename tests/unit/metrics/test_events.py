"""Specs of the domain events as values: built by keyword, frozen, equal by content."""

from __future__ import annotations

import dataclasses

import pytest

from ivr.metrics.events import EVENT_TYPES, CallerJoined, MemberAdded, from_record, to_record


def test_an_event_is_built_by_keyword_with_its_defaults_and_is_frozen() -> None:
    join = CallerJoined(at=1.0, queue="vip", uniqueid="u1", caller_hash=None, position=1)

    assert (join.line, join.tier, join.language, join.priority) == ("", "", "", None)
    assert join == CallerJoined(at=1.0, queue="vip", uniqueid="u1", caller_hash=None, position=1)
    assert hash(join) == hash(dataclasses.replace(join))
    with pytest.raises(dataclasses.FrozenInstanceError):
        join.at = 2.0  # type: ignore[misc]
    with pytest.raises(TypeError):
        CallerJoined(at=1.0, queue="vip")  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        MemberAdded(1.0, "vip", "1001")  # type: ignore[misc]


def test_every_event_type_round_trips_through_its_record() -> None:
    for cls in EVENT_TYPES.values():
        values = {f.name: f.default if f.default is not dataclasses.MISSING else 1 for f in dataclasses.fields(cls)}
        event = cls(**values)  # type: ignore[arg-type]
        assert from_record(*to_record(event)) == event
        assert [getattr(event, f.name) for f in dataclasses.fields(cls)] == list(values.values())
