"""Specs of the domain events as values: built by keyword, never changed, equal by content."""

from __future__ import annotations

import dataclasses
import gc
import importlib.util
import sys
import types
import typing
from pathlib import Path
from typing import Any

import pytest

from ivr import native
from ivr.metrics import eventgen, events
from ivr.metrics.events import EVENT_TYPES, CallerJoined, MemberAdded, from_record, to_record


def test_an_event_is_built_by_keyword_with_its_defaults_and_equals_its_copy() -> None:
    join = CallerJoined(at=1.0, queue="vip", uniqueid="u1", caller_hash=None, position=1)

    assert (join.line, join.tier, join.language, join.priority) == ("", "", "", None)
    assert join == CallerJoined(at=1.0, queue="vip", uniqueid="u1", caller_hash=None, position=1)
    assert join != CallerJoined(at=1.0, queue="vip", uniqueid="u1", caller_hash=None, position=2)
    assert hash(join) == hash(dataclasses.replace(join))
    with pytest.raises(TypeError):
        CallerJoined(at=1.0, queue="vip")  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        MemberAdded(1.0, "vip", "1001")  # type: ignore[misc]


def test_every_field_of_every_event_is_final_and_read_only_when_compiled() -> None:
    """`Final` makes mypy refuse any assignment after `__init__`; compiled, the
    attribute itself refuses it too (plain Python leaves it to mypy)."""
    hints_by_type = source_hints()
    for cls in EVENT_TYPES.values():
        hints = hints_by_type[cls.__name__]
        assert [f.name for f in dataclasses.fields(cls)] == list(hints)
        assert all(typing.get_origin(hint) is typing.Final for hint in hints.values()), cls.__name__
    join = CallerJoined(at=1.0, queue="vip", uniqueid="u1", caller_hash=None, position=1)
    if native.status() == "compiled":
        with pytest.raises(AttributeError):
            join.at = 2.0  # type: ignore[misc]
        assert not gc.is_tracked(join)  # acyclic: the collector never walks an event


def a_value_of(kind: Any) -> Any:
    """A value of the field's type (compiled, the events check their field types)."""
    if typing.get_origin(kind) is typing.Final:
        return a_value_of(typing.get_args(kind)[0])
    if typing.get_origin(kind) is typing.Literal:
        return typing.get_args(kind)[0]
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        return a_value_of(next(arg for arg in typing.get_args(kind) if arg is not type(None)))
    return {str: "1", float: 1.0, int: 1, bool: True}[kind]


def source_hints() -> dict[str, dict[str, Any]]:
    """Each event type's field types, read from events.py (compiled, annotations lose their unions)."""
    spec = importlib.util.spec_from_file_location("events_source", Path(events.__file__).with_name("events.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    try:
        spec.loader.exec_module(module)
        return {cls.__name__: typing.get_type_hints(cls) for cls in module.EVENT_TYPES.values()}
    finally:
        del sys.modules[spec.name]


def test_every_event_type_round_trips_through_its_record() -> None:
    hints_by_type = source_hints()
    for cls in EVENT_TYPES.values():
        hints = hints_by_type[cls.__name__]
        values = {
            f.name: f.default if f.default is not dataclasses.MISSING else a_value_of(hints[f.name])
            for f in dataclasses.fields(cls)
        }
        event = cls(**values)  # type: ignore[arg-type]
        assert from_record(*to_record(event)) == event
        assert [getattr(event, f.name) for f in dataclasses.fields(cls)] == list(values.values())


def test_the_identity_of_every_event_type_is_its_name_and_every_field_in_order() -> None:
    hints_by_type = source_hints()
    for cls in EVENT_TYPES.values():
        fields = dataclasses.fields(cls)
        event = cls(**{f.name: a_value_of(hints_by_type[cls.__name__][f.name]) for f in fields})  # type: ignore[arg-type]
        assert events.identity(event) == (cls.__name__, *(getattr(event, f.name) for f in fields))
        assert fields[0].name == "at"  # the reducer reads `at` as index 1 of the identity


def test_the_event_classes_are_the_ones_their_table_generates() -> None:
    """`events.py` holds what `python -m ivr.metrics.eventgen` writes from `eventgen.EVENTS`."""
    source = eventgen.EVENTS_PY.read_text()

    assert eventgen.generated(source) == eventgen.render(), "stale: run `python -m ivr.metrics.eventgen`"


def test_the_table_names_every_event_type_with_its_fields_in_order() -> None:
    assert [e.name for e in eventgen.EVENTS] == list(EVENT_TYPES)
    for entry in eventgen.EVENTS:
        assert [f.name for f in entry.fields()] == [f.name for f in dataclasses.fields(EVENT_TYPES[entry.name])]
