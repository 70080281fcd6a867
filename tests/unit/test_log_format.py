"""The console log line: ConsoleRenderer's text, written faster for plain lines."""

from __future__ import annotations

import re
from typing import Any

import structlog
from hypothesis import given
from hypothesis import strategies as st

from ivr.log import MaskedRenderer, PlainConsoleRenderer, UtcTimestamp, redact_fields

REFERENCE = structlog.dev.ConsoleRenderer(colors=False)

keys = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12).filter(
    lambda key: key not in {"event", "level", "timestamp", "exception", "exc_info", "stack", "logger", "logger_name"}
)
values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=30),
    st.tuples(st.integers(), st.text(max_size=5)),
    st.lists(st.integers(), max_size=3),
)


@given(
    event=st.text(max_size=40),
    level=st.sampled_from(["debug", "info", "warning", "error", "critical", "exception"]),
    fields=st.dictionaries(keys, values, max_size=8),
)
def test_a_plain_line_is_console_renderers_text_exactly(event: str, level: str, fields: dict[str, Any]) -> None:
    event_dict = {"event": event, "level": level, "timestamp": "2026-11-28T21:41:22.441826Z", **fields}

    assert PlainConsoleRenderer()(None, level, dict(event_dict)) == REFERENCE(None, level, dict(event_dict))


def test_lines_with_a_traceback_or_a_logger_name_are_left_to_console_renderer() -> None:
    for extra in ({"exception": "Traceback ...\nValueError: x"}, {"logger": "ivr.agi"}, {"stack": "..."}):
        event_dict = {"event": "failed", "level": "error", "timestamp": "2026-11-28T21:41:22Z", "x": 1, **extra}

        assert PlainConsoleRenderer()(None, "error", dict(event_dict)) == REFERENCE(None, "error", dict(event_dict))


def test_utc_timestamp_reads_like_structlogs_iso_utc_stamp() -> None:
    ours = UtcTimestamp()(None, "info", {})["timestamp"]
    theirs = structlog.processors.TimeStamper(fmt="iso", utc=True)(None, "info", {})["timestamp"]

    pattern = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z"
    assert re.fullmatch(pattern, ours) and re.fullmatch(pattern, theirs)
    assert ours[:16] == theirs[:16] or ours[:13] != theirs[:13]  # same minute, barring a turn of the hour


def test_a_card_number_passed_as_a_number_is_masked_like_text() -> None:
    fields = redact_fields(None, "info", {"event": "x", "amount": 1234, "oops": 6222021234567890})
    line = MaskedRenderer(PlainConsoleRenderer())(None, "info", {**fields, "level": "info", "timestamp": "t"})

    assert "6222021234567890" not in line
    assert "oops=************7890" in line
    assert "amount=1234" in line


def test_digits_inside_a_container_repr_are_masked_on_the_line() -> None:
    line = MaskedRenderer(PlainConsoleRenderer())(
        None, "info", {"event": "x", "level": "info", "timestamp": "t", "note": ("6222 0212 3456 7890", "ok")}
    )

    assert "6222 0212 3456" not in line
    assert "7890" in line


def test_the_separator_after_a_masked_number_is_kept() -> None:
    line = MaskedRenderer(PlainConsoleRenderer())(
        None, "info", {"event": "read 13900000004 back", "level": "info", "timestamp": "t"}
    )

    assert "read *******0004 back" in line


def test_a_json_line_stays_json_when_a_long_number_is_masked() -> None:
    import json

    fields = redact_fields(
        None, "info", {"event": "x", "count": 3, "pan": 1, "oops": 62220212345678.5, "n": 6222021234567890}
    )
    line = MaskedRenderer(structlog.processors.JSONRenderer())(None, "info", fields)

    record = json.loads(line)
    assert record["count"] == 3 and record["pan"] == "[redacted]"
    assert "62220212345678" not in line and "6222021234567890" not in line
