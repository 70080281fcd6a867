"""Log lines leave in batches: info and debug wait a moment (at most `delay`), a warning or worse
goes at once with everything before it, in order; without a running event loop nothing waits.
Module loggers keep their bound logger until structlog is configured anew. JSON lines are
`json.dumps`' own text, from an encoder made once."""

from __future__ import annotations

import asyncio
import io
import json

import structlog
from hypothesis import given
from hypothesis import strategies as st
from structlog.testing import capture_logs

from ivr.log import LineBatcher, ModuleLogger, _fallback, _json_serializer


class CountingFile(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


async def test_info_lines_wait_for_one_write_a_warning_takes_them_along_in_order() -> None:
    out = CountingFile()
    batcher = LineBatcher(out, delay=60)
    batcher.info("one")
    batcher.debug("two")
    assert out.getvalue() == ""
    batcher.warning("three")
    assert out.getvalue() == "one\ntwo\nthree\n"
    assert out.writes == 1


async def test_waiting_lines_are_written_within_the_delay_without_another_line() -> None:
    out = CountingFile()
    batcher = LineBatcher(out, delay=0.01)
    batcher.info("one")
    batcher.info("two")
    async with asyncio.timeout(5):
        while not out.getvalue():  # noqa: ASYNC110 - the file has no event to wait on: its content is the test
            await asyncio.sleep(0.005)
    assert out.getvalue() == "one\ntwo\n"
    assert out.writes == 1


async def test_a_full_batch_is_written_at_once() -> None:
    out = CountingFile()
    batcher = LineBatcher(out, delay=60, max_bytes=10)
    batcher.info("12345")
    assert out.getvalue() == ""
    batcher.info("67890")
    assert out.getvalue() == "12345\n67890\n"


def test_without_a_running_event_loop_every_line_is_written_at_once() -> None:
    out = CountingFile()
    batcher = LineBatcher(out, delay=60)
    batcher.info("one")
    assert out.getvalue() == "one\n"


def test_a_flush_writes_what_waits_and_nothing_twice() -> None:
    out = CountingFile()
    batcher = LineBatcher(out, delay=60)

    async def log() -> None:
        batcher.info("one")

    asyncio.run(log())
    assert out.getvalue() == ""
    batcher.flush()
    batcher.flush()
    assert out.getvalue() == "one\n"
    assert out.writes == 1


def test_a_module_logger_follows_a_new_configuration_and_capture_logs() -> None:
    log = ModuleLogger("test")
    first = io.StringIO()
    structlog.configure(processors=[structlog.processors.KeyValueRenderer()],
                        logger_factory=structlog.PrintLoggerFactory(file=first))  # fmt: skip
    try:
        log.info("before", n=1)
        with capture_logs() as logs:
            log.info("captured", n=2)
        second = io.StringIO()
        structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=second))
        log.warning("after", n=3)
    finally:
        structlog.reset_defaults()
    assert "event='before'" in first.getvalue()
    assert [entry["event"] for entry in logs] == ["captured"]
    assert "event='after'" in second.getvalue() and "after" not in first.getvalue()


@given(
    st.dictionaries(
        st.text(max_size=8),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
            lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
            max_leaves=8,
        ),
        max_size=8,
    )
)
def test_the_json_lines_are_json_dumps_own_text(event_dict: dict[str, object]) -> None:
    serializer = _json_serializer().get("serializer", json.dumps)
    assert serializer(event_dict) == json.dumps(event_dict, ensure_ascii=False, default=_fallback)


def test_a_value_json_cannot_encode_is_written_as_its_repr() -> None:
    class Seat:
        def __repr__(self) -> str:
            return "<seat 1001>"

    serializer = _json_serializer().get("serializer", json.dumps)
    assert serializer({"seat": Seat()}) == '{"seat": "<seat 1001>"}'


def test_a_module_logger_writes_what_structlogs_own_logger_writes() -> None:
    from ivr import log as logging_setup

    logging_setup.configure("debug", json=True)
    out = io.StringIO()
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=out))
    try:
        structlog.contextvars.bind_contextvars(uniqueid="1732810412.14")
        ModuleLogger("m").info("ivr_play", prompt="zh/welcome", n=1, keys=["1", "2"])
        structlog.get_logger("m").info("ivr_play", prompt="zh/welcome", n=1, keys=["1", "2"])
        try:
            raise ValueError("card 4111111111111111")
        except ValueError:
            ModuleLogger("m").exception("ivr_failed", pin="246810")
        ModuleLogger("m").debug("ivr_debug")
    finally:
        structlog.reset_defaults()
        structlog.contextvars.clear_contextvars()
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    for line in lines:
        line.pop("timestamp")
    assert lines[0] == lines[1]
    assert list(lines[0]) == list(lines[1])
    assert lines[2]["level"] == "error" and "ValueError" in lines[2]["exception"]
    assert lines[2]["pin"] == "[redacted]" and "4111111111111111" not in out.getvalue()
    assert lines[3]["event"] == "ivr_debug"


def test_levels_below_the_configured_one_are_not_written() -> None:
    from ivr import log as logging_setup

    logging_setup.configure("warning", json=True)
    out = io.StringIO()
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=out))
    try:
        ModuleLogger("m").info("quiet")
        ModuleLogger("m").warning("loud")
    finally:
        structlog.reset_defaults()
    assert [json.loads(line)["event"] for line in out.getvalue().splitlines()] == ["loud"]
