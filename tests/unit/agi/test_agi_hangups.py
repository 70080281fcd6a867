"""A caller who hangs up, during any command, ends the call quietly: one info line, no error.

res_agi.c says "hung up" in four ways, and every command meets at least one:
a ``HANGUP`` line (before or after the answer in flight), ``511 Command Not
Permitted on a dead channel`` (every command not allowed on a dead channel,
and all of them with ``AGISIGHUP=no``), the end of the connection, and
``200 result=-1`` from ANSWER, STREAM FILE, GET DATA, WAIT FOR DIGIT and EXEC,
which also means a fault (a missing prompt) on a live channel. After a -1 the
session sends one CHANNEL STATUS: a dead channel answers 511 (after HANGUP),
a live one 200. The scripted "Asterisk" here answers as res_agi.c does.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
import structlog
from structlog.testing import capture_logs as capture_plain_logs

from ivr.agents.agi import feature_code_handler
from ivr.agi import AgiHangup, AgiSession, FastAgiServer, Handler
from ivr.callflow import CallFlow
from ivr.catalog.model import Catalog
from ivr.check import load_checked_catalog
from ivr.directory.model import Customer
from ivr.survey import SurveyFlow
from tests.unit.agi.test_agi_server import DEADLINE, FakeAsterisk, Peers
from tests.unit.menu.conftest import CATALOG_FILE


def capture_logs() -> Any:
    """Captured lines with the call's bound context (uniqueid, and what a flow adds before it ends)."""
    return capture_plain_logs(processors=[structlog.contextvars.merge_contextvars])


DEAD = "511 Command Not Permitted on a dead channel or intercept routine"
SOUNDS = "/srv/ivr/sounds"


@pytest.fixture
async def peers() -> AsyncIterator[Peers]:
    opened = Peers()
    yield opened
    await opened.aclose()


Call = Callable[..., Awaitable[tuple[FakeAsterisk, FastAgiServer]]]


def header(script: str, args: tuple[str, ...]) -> bytes:
    numbered = "".join(f"agi_arg_{n}: {arg}\n" for n, arg in enumerate(args, 1))
    return (
        f"agi_network: yes\nagi_network_script: {script}\nagi_request: agi://127.0.0.1:4573/{script}\n"
        f"agi_channel: PJSIP/pstn-00000007\nagi_uniqueid: 1732810412.14\n{numbered}\n"
    ).encode()


@pytest.fixture
async def call(peers: Peers) -> AsyncIterator[Call]:
    servers: list[FastAgiServer] = []

    async def start(
        handler: Handler, script: str = "route", args: tuple[str, ...] = ("main",)
    ) -> tuple[FakeAsterisk, FastAgiServer]:
        server = FastAgiServer("127.0.0.1", 0, {script: handler})
        await server.start()
        servers.append(server)
        return await peers.call(server.port, header(script, args)), server

    yield start
    for server in servers:
        await server.close()


def ended(logs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The lines that end a call (the server writes one per call)."""
    return [e for e in logs if e["event"] in ("agi_caller_hung_up", "agi_call_finished", "agi_handler_failed")]


def assert_one_quiet_hangup_line(logs: list[dict[str, Any]], command: str) -> dict[str, Any]:
    """No line of the call above info, no traceback, and one `agi_caller_hung_up` naming `command`."""
    logs = [e for e in logs if not e["event"].startswith("agi_server_")]  # the call's lines
    assert [e["log_level"] for e in logs if e["log_level"] not in ("info", "debug")] == [], logs
    assert not any("exc_info" in e for e in logs), logs
    lines = ended(logs)
    assert [e["event"] for e in lines] == ["agi_caller_hung_up"], logs
    assert lines[0]["log_level"] == "info"
    assert lines[0]["command"] == command
    return lines[0]


async def until(condition: Callable[[], bool]) -> None:
    """Wait for `condition` (a line in the captured log, which has no event to await)."""
    async with asyncio.timeout(DEADLINE):
        while not condition():  # noqa: ASYNC110 - captured log lines come with no event to wait on
            await asyncio.sleep(0.01)


async def until_closed(pbx: FakeAsterisk) -> bytes:
    rest = await pbx.expect_closed()
    await asyncio.sleep(0)  # let the server's task log its last line
    return rest


# --------------------------------------------------------------------------- result=-1, then HANGUP


# Each command as a handler calls it, the line it writes, and its -1 answer on a hang-up.
MINUS_ONE = [
    pytest.param(AgiSession.answer, (), "ANSWER", "ANSWER", "200 result=-1", id="answer"),
    pytest.param(AgiSession.stream_file, ("zh/welcome", "12"), "STREAM FILE", "STREAM FILE zh/welcome 12",
                 "200 result=-1 endpos=1280", id="stream-file"),
    pytest.param(AgiSession.get_data, ("silence/1", 5000, 4), "GET DATA", "GET DATA silence/1 5000 4",
                 "200 result=-1", id="get-data"),
    pytest.param(AgiSession.wait_for_digit, (5000,), "WAIT FOR DIGIT", "WAIT FOR DIGIT 5000", "200 result=-1",
                 id="wait-for-digit"),
    pytest.param(AgiSession.exec, ("Playback", "zh/welcome"), "EXEC Playback", "EXEC Playback zh/welcome",
                 "200 result=-1", id="exec"),
]  # fmt: skip


@pytest.mark.parametrize(("method", "args", "command", "line", "answer"), MINUS_ONE)
async def test_minus_one_followed_by_hangup_in_the_same_read_is_a_quiet_hangup(
    call: Call, method: Any, args: tuple[Any, ...], command: str, line: str, answer: str
) -> None:
    async def handler(session: AgiSession) -> None:
        await method(session, *args)

    with capture_logs() as logs:
        pbx, server = await call(handler, "route")
        await pbx.exchange(line, answer + "\nHANGUP")
        assert await until_closed(pbx) == b"", "no probe, no FAILURE: the HANGUP was already read"
    assert_one_quiet_hangup_line(logs, command)
    assert next((c.script, c.sessions, c.hangups, c.failures) for c in server.stats.scripts()) == ("route", 1, 1, 0)


@pytest.mark.parametrize(("method", "args", "command", "line", "answer"), MINUS_ONE)
async def test_minus_one_followed_by_hangup_a_moment_later_is_a_quiet_hangup_without_a_probe(
    call: Call, method: Any, args: tuple[Any, ...], command: str, line: str, answer: str
) -> None:
    """res_agi.c writes HANGUP right after the -1, in a write of its own: the session waits for it."""

    async def handler(session: AgiSession) -> None:
        await method(session, *args)

    with capture_logs() as logs:
        pbx, _server = await call(handler, "route")
        await pbx.exchange(line, answer)
        await asyncio.sleep(0.02)
        await pbx.reply("HANGUP\n")
        assert await until_closed(pbx) == b"", "no CHANNEL STATUS: the HANGUP line said it"
    assert_one_quiet_hangup_line(logs, command)


@pytest.mark.parametrize(("method", "args", "command", "line", "answer"), MINUS_ONE)
async def test_minus_one_then_a_probe_answered_hangup_and_511_is_a_quiet_hangup(
    call: Call, method: Any, args: tuple[Any, ...], command: str, line: str, answer: str
) -> None:
    """No HANGUP within the grace (a loaded PBX): the probe meets it."""

    async def handler(session: AgiSession) -> None:
        await method(session, *args)

    with capture_logs() as logs:
        pbx, _server = await call(handler, "route")
        await pbx.exchange(line, answer)
        await pbx.exchange("CHANNEL STATUS", f"HANGUP\n{DEAD}")
        assert await until_closed(pbx) == b""
    assert_one_quiet_hangup_line(logs, command)


@pytest.mark.parametrize(("method", "args", "command", "line", "answer"), MINUS_ONE)
async def test_minus_one_without_agisighup_is_told_by_the_511_of_the_probe(
    call: Call, method: Any, args: tuple[Any, ...], command: str, line: str, answer: str
) -> None:
    async def handler(session: AgiSession) -> None:
        await method(session, *args)

    with capture_logs() as logs:
        pbx, _server = await call(handler, "route")
        await pbx.exchange(line, answer)
        await pbx.exchange("CHANNEL STATUS", DEAD)
        assert await until_closed(pbx) == b""
    assert_one_quiet_hangup_line(logs, command)


@pytest.mark.parametrize(
    ("method", "args", "command", "line", "answer"), [p for p in MINUS_ONE if p.id != "exec"]
)  # fmt: skip
async def test_minus_one_on_a_live_channel_is_a_fault_logged_as_an_error(
    call: Call, method: Any, args: tuple[Any, ...], command: str, line: str, answer: str
) -> None:
    async def handler(session: AgiSession) -> None:
        await method(session, *args)

    with capture_logs() as logs:
        pbx, server = await call(handler, "route")
        await pbx.exchange(line, answer)
        await pbx.exchange("CHANNEL STATUS", "200 result=6")
        assert await until_closed(pbx) == b"FAILURE\n"
    failures = [e for e in logs if e["event"] == "agi_handler_failed"]
    assert len(failures) == 1 and failures[0]["log_level"] == "error"
    assert next((c.sessions, c.hangups, c.failures) for c in server.stats.scripts()) == (1, 0, 1)


async def test_exec_minus_one_on_a_live_channel_is_returned_to_the_handler(call: Call) -> None:
    results: list[str] = []

    async def handler(session: AgiSession) -> None:
        results.append((await session.exec("Playback", "zh/welcome")).result)

    with capture_logs() as logs:
        pbx, _server = await call(handler, "route")
        await pbx.exchange("EXEC Playback zh/welcome", "200 result=-1")
        await pbx.exchange("CHANNEL STATUS", "200 result=6")
        assert await until_closed(pbx) == b""
    assert results == ["-1"]
    assert [e["event"] for e in ended(logs)] == ["agi_call_finished"]


# --------------------------------------------------------------------------- HANGUP, 511, end of file


# Commands whose answer does not say "hung up" (res_agi.c runs them on a dead channel too).
PLAIN = [
    pytest.param(AgiSession.set_variable, ("IVR_LANG", "zh"), "SET VARIABLE", "SET VARIABLE IVR_LANG zh",
                 id="set-variable"),
    pytest.param(AgiSession.get_variable, ("IVR_LINE",), "GET VARIABLE", "GET VARIABLE IVR_LINE", id="get-variable"),
    pytest.param(AgiSession.verbose, ("hello",), "VERBOSE", "VERBOSE hello 1", id="verbose"),
    pytest.param(AgiSession.answer, (), "ANSWER", "ANSWER", id="answer"),
    pytest.param(AgiSession.stream_file, ("zh/welcome",), "STREAM FILE", 'STREAM FILE zh/welcome ""', id="stream"),
    pytest.param(AgiSession.wait_for_digit, (5000,), "WAIT FOR DIGIT", "WAIT FOR DIGIT 5000", id="wait-for-digit"),
    pytest.param(AgiSession.get_data, ("silence/1", 5000, 4), "GET DATA", "GET DATA silence/1 5000 4", id="get-data"),
    pytest.param(AgiSession.exec, ("Playback", "x"), "EXEC", "EXEC Playback x", id="exec"),
]  # fmt: skip


@pytest.mark.parametrize(("method", "args", "command", "line"), PLAIN)
@pytest.mark.parametrize(
    "answer", [pytest.param("HANGUP", id="hangup-line"), pytest.param(DEAD, id="dead-channel")]
)  # fmt: skip
async def test_a_hangup_line_or_a_dead_channel_answer_is_a_quiet_hangup(
    call: Call, method: Any, args: tuple[Any, ...], command: str, line: str, answer: str
) -> None:
    async def handler(session: AgiSession) -> None:
        await method(session, *args)

    with capture_logs() as logs:
        pbx, _server = await call(handler, "route")
        await pbx.exchange(line, answer)
        assert await until_closed(pbx) == b""
    assert_one_quiet_hangup_line(logs, command)


@pytest.mark.parametrize(("method", "args", "command", "line"), PLAIN)
async def test_asterisk_closing_the_connection_during_a_command_is_a_quiet_hangup(
    call: Call, method: Any, args: tuple[Any, ...], command: str, line: str
) -> None:
    async def handler(session: AgiSession) -> None:
        await method(session, *args)

    with capture_logs() as logs:
        pbx, _server = await call(handler, "route")
        await pbx.expect(line)
        await pbx.hang_up_socket()
        await until(lambda: bool(ended(logs)))
    assert_one_quiet_hangup_line(logs, command)


async def test_hanging_up_ourselves_is_a_finished_call_not_a_caller_hangup(call: Call) -> None:
    async def handler(session: AgiSession) -> None:
        await session.hangup()

    with capture_logs() as logs:
        pbx, server = await call(handler, "route")
        await pbx.exchange("HANGUP", "200 result=1\nHANGUP")
        assert await until_closed(pbx) == b""
    assert [e["event"] for e in ended(logs)] == ["agi_call_finished"]
    assert next((c.sessions, c.hangups, c.failures) for c in server.stats.scripts()) == (1, 0, 0)


async def test_a_handler_that_catches_the_hangup_still_ends_with_the_one_hangup_line(call: Call) -> None:
    async def handler(session: AgiSession) -> None:
        with contextlib.suppress(AgiHangup):
            await session.wait_for_digit(5000)

    with capture_logs() as logs:
        pbx, server = await call(handler, "route")
        await pbx.exchange("WAIT FOR DIGIT 5000", "200 result=-1\nHANGUP")
        assert await until_closed(pbx) == b""
    assert_one_quiet_hangup_line(logs, "WAIT FOR DIGIT")
    assert next(c.hangups for c in server.stats.scripts()) == 1


# --------------------------------------------------------------------------- the flows


class NoCustomers:
    def by_caller_id(self, ani: str) -> Customer | None:
        return None

    def verify_pin(self, customer_id: str, card_last4: str, pin: str) -> bool:
        raise AssertionError("not asked")

    def card_status(self, customer_id: str, card_last4: str) -> Any:
        raise AssertionError("not asked")

    def activate_card(self, customer_id: str, card_last4: str) -> Any:
        raise AssertionError("not asked")


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_checked_catalog(CATALOG_FILE)


async def test_caller_hanging_up_while_the_menu_waits_for_a_key_ends_the_route_with_one_info_line(
    call: Call, catalog: Catalog
) -> None:
    """The reported case: WAIT FOR DIGIT answered -1 was `agi_handler_failed` with a traceback."""
    flow = CallFlow(catalog, NoCustomers, SOUNDS, clock=lambda: datetime(2026, 12, 3, 3, 0, tzinfo=UTC))
    with capture_logs() as logs:
        pbx, server = await call(flow.handle, "route")
        for _ in range(3):  # __IVR_TIER, __IVR_LANG, CHANNEL(language)
            async with asyncio.timeout(DEADLINE):
                line = (await pbx.reader.readline()).decode()
            assert line.startswith("SET VARIABLE"), line
            await pbx.reply("200 result=1\n")
        # Greeting and the main menu play through; nobody presses a key.
        while True:
            async with asyncio.timeout(DEADLINE):
                line = (await pbx.reader.readline()).decode()
            if line.startswith("WAIT FOR DIGIT"):
                break
            assert line.startswith("STREAM FILE"), line
            await pbx.reply("200 result=0 endpos=8000\n")
        await pbx.reply("200 result=-1\n")
        await pbx.exchange("CHANNEL STATUS", f"HANGUP\n{DEAD}")
        assert await until_closed(pbx) == b""
    hangup = assert_one_quiet_hangup_line(logs, "WAIT FOR DIGIT")
    trace = hangup["ivr"]
    assert (hangup["script"], trace["waiting_for"], trace["path"]) == ("route", "menu_digit", "main>root")
    # Every prompt of the menu played, no key yet: the caller hung up during the wait.
    assert [step.split("/")[-1] for step in trace["steps"]] == ["welcome", "language_offer", "main_menu"]
    assert not any(e["event"] == "ivr_prompt_failed" for e in logs)
    assert next(c.hangups for c in server.stats.scripts()) == 1


async def test_a_missing_prompt_on_a_live_call_is_an_error_and_the_menu_goes_on(call: Call, catalog: Catalog) -> None:
    flow = CallFlow(catalog, NoCustomers, SOUNDS, clock=lambda: datetime(2026, 12, 3, 3, 0, tzinfo=UTC))
    with capture_logs() as logs:
        pbx, _server = await call(flow.handle, "route")
        for _ in range(3):
            async with asyncio.timeout(DEADLINE):
                await pbx.reader.readline()
            await pbx.reply("200 result=1\n")
        await pbx.exchange(f"STREAM FILE {SOUNDS}/zh/welcome 0123456789*#", "200 result=-1 endpos=0")
        await pbx.exchange("CHANNEL STATUS", "200 result=6")
        async with asyncio.timeout(DEADLINE):
            following = (await pbx.reader.readline()).decode()
        await pbx.hang_up_socket()
        await until(lambda: bool(ended(logs)))
    assert following.startswith("STREAM FILE"), following
    assert [(e["event"], e["log_level"]) for e in logs if e["log_level"] == "error"] == [("ivr_prompt_failed", "error")]
    assert [e["event"] for e in ended(logs)] == ["agi_caller_hung_up"]


async def test_caller_hanging_up_during_the_survey_question_is_one_info_line_with_queue_and_agent(
    call: Call,
) -> None:
    flow = SurveyFlow(SOUNDS, "zh")

    async def survey(session: AgiSession) -> None:
        await flow.handle(session)

    with capture_logs() as logs:
        pbx, _server = await call(survey, "survey", ("basic_zh", "1001"))
        await pbx.exchange("GET VARIABLE IVR_LANG", "200 result=1 (zh)")
        await pbx.exchange("GET VARIABLE IVR_LINE", "200 result=1 (main)")
        await pbx.exchange(f"STREAM FILE {SOUNDS}/zh/survey_ask 0123456789*#", "200 result=0 endpos=9000")
        await pbx.exchange("WAIT FOR DIGIT 5000", "200 result=-1\nHANGUP")
        assert await until_closed(pbx) == b""
    hangup = assert_one_quiet_hangup_line(logs, "WAIT FOR DIGIT")
    assert (hangup["script"], hangup["queue"], hangup["agent"]) == ("survey", "basic_zh", "1001")


async def test_an_agent_hanging_up_before_the_feature_code_answer_is_one_info_line(call: Call) -> None:
    class Control:
        async def set_login(self, seat: str, groups: object, *, who: str, role: str) -> None:
            return None

    handler = feature_code_handler(Control())  # type: ignore[arg-type]
    with capture_logs() as logs:
        pbx, _server = await call(handler, "agent", ("login", "1001"))
        await pbx.exchange("SET VARIABLE IVR_FEATURE ok", "HANGUP")
        assert await until_closed(pbx) == b""
    assert_one_quiet_hangup_line(logs, "SET VARIABLE")


# --------------------------------------------------------------------------- memory


async def test_a_call_the_caller_hung_up_is_freed_when_it_ends_without_waiting_for_the_garbage_collector(
    call: Call,
) -> None:
    """The session keeps how the caller hung up (`caller_hangup`), never the raised exception:
    its traceback holds the session, a cycle that kept every ended call until a full collection.
    (Counted among the collector's objects: a compiled session takes no weak reference.)"""

    def sessions() -> int:
        return sum(1 for o in gc.get_objects() if type(o) is AgiSession)

    async def handler(session: AgiSession) -> None:
        await session.stream_file("zh/welcome", "12")

    gc.collect()
    gc.disable()
    try:
        pbx, _server = await call(handler, "route")
        await pbx.exchange("STREAM FILE zh/welcome 12", "HANGUP")
        assert await until_closed(pbx) == b""
        for _ in range(10):  # the call's task ends after the socket is closed
            await asyncio.sleep(0)
        assert sessions() == 0
    finally:
        gc.enable()
