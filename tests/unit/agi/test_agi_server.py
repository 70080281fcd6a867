"""The FastAGI server over real loopback sockets, with a scripted "Asterisk" on the other end.

Every wait has a deadline (``DEADLINE``) but no test waits for time to pass,
except where the behaviour under test is a timeout (a silent peer).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import structlog
from structlog.testing import capture_logs

from ivr.agi import (
    AgiCommandError,
    AgiCommandFailed,
    AgiHangup,
    AgiSession,
    AgiTimeout,
    FastAgiServer,
    Handler,
    Handover,
    InvalidCommandArgument,
)

DEADLINE = 5.0
ASTERISK22_HEADER = (Path(__file__).parent / "asterisk22_header.txt").read_bytes()


def header(script: str = "route", line: str = "main", uniqueid: str = "1732810412.14") -> bytes:
    return (
        f"agi_network: yes\nagi_network_script: {script}\n"
        f"agi_request: agi://127.0.0.1:4573/{script}\nagi_channel: PJSIP/pstn-00000007\n"
        f"agi_uniqueid: {uniqueid}\nagi_arg_1: {line}\n\n"
    ).encode()


class FakeAsterisk:
    """The PBX side of one FastAGI connection, driven step by step by a test."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def expect(self, command: str) -> None:
        async with asyncio.timeout(DEADLINE):
            line = await self.reader.readline()
        assert line.decode() == command + "\n"

    async def reply(self, data: str) -> None:
        self.writer.write(data.encode())
        await self.writer.drain()

    async def exchange(self, command: str, answer: str) -> None:
        await self.expect(command)
        await self.reply(answer + "\n")

    async def expect_closed(self) -> bytes:
        """Everything the server still writes, up to its close."""
        async with asyncio.timeout(DEADLINE):
            try:
                return await self.reader.read()
            except ConnectionResetError:
                return b""

    async def hang_up_socket(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


class Peers:
    """Opens client connections to the server and closes them all after the test."""

    def __init__(self) -> None:
        self._opened: list[FakeAsterisk] = []

    async def connect_and_send(self, port: int, data: bytes, *, half_close: bool = False) -> FakeAsterisk:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        peer = FakeAsterisk(reader, writer)
        self._opened.append(peer)
        with contextlib.suppress(ConnectionError):
            writer.write(data)
            await writer.drain()
            if half_close:
                writer.write_eof()
        return peer

    async def call(self, port: int, head: bytes = ASTERISK22_HEADER) -> FakeAsterisk:
        """Connect as Asterisk does for ``AGI(agi://...)``: header first."""
        return await self.connect_and_send(port, head)

    async def aclose(self) -> None:
        for peer in self._opened:
            await peer.hang_up_socket()


@pytest.fixture
async def peers() -> AsyncIterator[Peers]:
    opened = Peers()
    yield opened
    await opened.aclose()


class Outcome:
    """What a handler saw, and a signal that it ended."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.error: BaseException | None = None
        self.done = asyncio.Event()

    def handler(self, body: Callable[[AgiSession], Awaitable[None]]) -> Handler:
        async def run(session: AgiSession) -> None:
            try:
                await body(session)
            except BaseException as exc:
                self.error = exc
                raise
            finally:
                self.done.set()

        return run

    async def wait(self) -> None:
        async with asyncio.timeout(DEADLINE):
            await self.done.wait()


@pytest.fixture
async def outcome() -> Outcome:
    return Outcome()


ServerFactory = Callable[..., Awaitable[FastAgiServer]]


@pytest.fixture
async def make_server() -> AsyncIterator[ServerFactory]:
    servers: list[FastAgiServer] = []

    async def make(routes: dict[str, Handler], **options: Any) -> FastAgiServer:
        server = FastAgiServer("127.0.0.1", 0, routes, **options)
        await server.start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        await server.close()
        assert server.active_sessions == 0


# --------------------------------------------------------------------------- a whole call


async def test_call_is_answered_digits_collected_and_variable_set(
    peers: Peers, make_server: ServerFactory, outcome: Outcome
) -> None:
    async def main_menu(session: AgiSession) -> None:
        outcome.values["context"] = structlog.contextvars.get_contextvars()
        outcome.values["line"] = session.request.args
        await session.answer()
        outcome.values["choice"] = await session.get_data("ivr/main-menu", 5000, 1)
        outcome.values["card"] = await session.get_data("ivr/enter-card", 5000, 16)
        await session.set_variable("IVR_CHOICE", outcome.values["choice"][0])
        outcome.values["tier"] = await session.get_variable("IVR_TIER")
        outcome.values["unset"] = await session.get_variable("IVR_NOPE")

    server = await make_server({"route": outcome.handler(main_menu)})
    pbx = await peers.call(server.port)
    await pbx.exchange("ANSWER", "200 result=0")
    await pbx.exchange("GET DATA ivr/main-menu 5000 1", "200 result=2")
    await pbx.exchange("GET DATA ivr/enter-card 5000 16", "200 result=4111 (timeout)")
    await pbx.exchange("SET VARIABLE IVR_CHOICE 2", "200 result=1")
    await pbx.exchange("GET VARIABLE IVR_TIER", "200 result=1 (gold)")
    await pbx.exchange("GET VARIABLE IVR_NOPE", "200 result=0")
    assert await pbx.expect_closed() == b""
    await outcome.wait()

    assert outcome.error is None
    assert outcome.values["choice"] == ("2", False)
    assert outcome.values["card"] == ("4111", True)
    assert outcome.values["tier"] == "gold"
    assert outcome.values["unset"] is None
    assert outcome.values["context"] == {
        "uniqueid": "1732810412.14",
        "channel": "PJSIP/pstn-00000007",
        "line": "main",
    }


async def test_conveniences_send_the_expected_commands_and_read_results(
    peers: Peers, make_server: ServerFactory, outcome: Outcome
) -> None:
    async def body(session: AgiSession) -> None:
        outcome.values["pressed"] = await session.stream_file("ivr/welcome", "12#")
        outcome.values["none"] = await session.stream_file("ivr/bye")
        outcome.values["digit"] = await session.wait_for_digit(3000)
        outcome.values["no_digit"] = await session.wait_for_digit(3000)
        await session.verbose("caller in main menu", 3)
        outcome.values["exec"] = (await session.exec("Playback", "beep,noanswer")).result
        await session.hangup()
        with pytest.raises(AgiHangup):
            await session.answer()

    server = await make_server({"route": outcome.handler(body)})
    pbx = await peers.call(server.port)
    await pbx.exchange("STREAM FILE ivr/welcome 12#", "200 result=35 endpos=3200")
    await pbx.exchange('STREAM FILE ivr/bye ""', "200 result=0 endpos=16000")
    await pbx.exchange("WAIT FOR DIGIT 3000", "200 result=42")
    await pbx.exchange("WAIT FOR DIGIT 3000", "200 result=0")
    await pbx.exchange('VERBOSE "caller in main menu" 3', "200 result=1")
    await pbx.exchange("EXEC Playback beep,noanswer", "200 result=0")
    await pbx.exchange("HANGUP", "200 result=1")
    assert await pbx.expect_closed() == b""
    await outcome.wait()

    assert outcome.error is None
    assert outcome.values == {
        "pressed": "#",
        "none": "",
        "digit": "*",
        "no_digit": None,
        "exec": "0",
    }


async def test_caller_supplied_text_never_reaches_the_wire_unvalidated(
    peers: Peers, make_server: ServerFactory, outcome: Outcome
) -> None:
    async def body(session: AgiSession) -> None:
        with pytest.raises(InvalidCommandArgument):
            await session.set_variable("X", '1"\nHANGUP')
        with pytest.raises(InvalidCommandArgument):
            await session.set_variable("X Y", "1")
        with pytest.raises(InvalidCommandArgument):
            await session.stream_file("ivr/welcome", "1a")
        await session.answer()

    server = await make_server({"route": outcome.handler(body)})
    pbx = await peers.call(server.port)
    await pbx.exchange("ANSWER", "200 result=0")
    await outcome.wait()
    assert outcome.error is None


# --------------------------------------------------------------------------- hang-up


async def test_dead_channel_answer_ends_the_handler_with_hangup(
    peers: Peers, make_server: ServerFactory, outcome: Outcome
) -> None:
    async def body(session: AgiSession) -> None:
        await session.answer()
        await session.stream_file("ivr/welcome")

    server = await make_server({"route": outcome.handler(body)})
    with capture_logs() as logs:
        pbx = await peers.call(server.port)
        await pbx.exchange("ANSWER", "511 Command Not Permitted on a dead channel or intercept routine")
        assert await pbx.expect_closed() == b""
        await outcome.wait()
    assert isinstance(outcome.error, AgiHangup)
    assert any(entry["event"] == "agi_caller_hung_up" for entry in logs)


async def test_hangup_line_ends_the_handler_without_waiting_for_the_response(
    peers: Peers, make_server: ServerFactory, outcome: Outcome
) -> None:
    async def body(session: AgiSession) -> None:
        try:
            await session.stream_file("ivr/welcome")
        except AgiHangup:
            outcome.values["hung_up"] = session.hung_up
            # Later commands fail at once instead of talking to a dead channel.
            with pytest.raises(AgiHangup, match="already hung up"):
                await session.set_variable("IVR_DONE", "1")
            raise

    server = await make_server({"route": outcome.handler(body)})
    pbx = await peers.call(server.port)
    await pbx.expect('STREAM FILE ivr/welcome ""')
    await pbx.reply("HANGUP\n")
    await outcome.wait()
    assert isinstance(outcome.error, AgiHangup)
    assert outcome.values["hung_up"] is True
    assert await pbx.expect_closed() == b""


async def test_hangup_buffered_with_the_last_response_stops_the_next_command(
    peers: Peers, make_server: ServerFactory, outcome: Outcome
) -> None:
    async def body(session: AgiSession) -> None:
        outcome.values["pressed"] = await session.stream_file("ivr/welcome")
        await session.answer()

    server = await make_server({"route": outcome.handler(body)})
    pbx = await peers.call(server.port)
    await pbx.expect('STREAM FILE ivr/welcome ""')
    await pbx.reply("200 result=0 endpos=1000\nHANGUP\n")
    await outcome.wait()
    assert isinstance(outcome.error, AgiHangup)
    assert await pbx.expect_closed() == b"", "ANSWER must not be sent after HANGUP"


async def test_asterisk_closing_the_socket_ends_the_handler_with_hangup(
    peers: Peers, make_server: ServerFactory, outcome: Outcome
) -> None:
    async def body(session: AgiSession) -> None:
        await session.answer()

    server = await make_server({"route": outcome.handler(body)})
    pbx = await peers.call(server.port)
    await pbx.expect("ANSWER")
    await pbx.hang_up_socket()
    await outcome.wait()
    assert isinstance(outcome.error, AgiHangup)


# --------------------------------------------------------------------------- failures


async def test_failing_handler_is_logged_asterisk_told_failure_and_server_keeps_serving(
    peers: Peers, make_server: ServerFactory, outcome: Outcome
) -> None:
    async def body(session: AgiSession) -> None:
        if session.request.uniqueid == "1.1":
            raise RuntimeError("bug in the menu")
        await session.answer()

    server = await make_server({"route": outcome.handler(body)})
    with capture_logs() as logs:
        broken = await peers.call(server.port, header(uniqueid="1.1"))
        assert await broken.expect_closed() == b"FAILURE\n"
        healthy = await peers.call(server.port, header(uniqueid="1.2"))
        await healthy.exchange("ANSWER", "200 result=0")
        assert await healthy.expect_closed() == b""
    failures = [entry for entry in logs if entry["event"] == "agi_handler_failed"]
    assert len(failures) == 1
    assert failures[0]["exc_info"] is True


async def test_unknown_route_is_logged_and_asterisk_told_failure(
    peers: Peers, make_server: ServerFactory, outcome: Outcome
) -> None:
    server = await make_server({"route": outcome.handler(AgiSession.answer)})
    with capture_logs() as logs:
        pbx = await peers.call(server.port, header(script="nope"))
        assert await pbx.expect_closed() == b"FAILURE\n"
    assert [entry["script"] for entry in logs if entry["event"] == "agi_unknown_route"] == ["nope"]
    assert not outcome.done.is_set()


async def test_default_route_takes_calls_for_unknown_scripts(
    peers: Peers, make_server: ServerFactory, outcome: Outcome
) -> None:
    server = await make_server({}, default_route=outcome.handler(AgiSession.answer))
    pbx = await peers.call(server.port, header(script="other?x=1"))
    await pbx.exchange("ANSWER", "200 result=0")
    await outcome.wait()
    assert outcome.error is None


async def test_failed_command_result_on_a_live_channel_raises_command_failed(
    peers: Peers, make_server: ServerFactory, outcome: Outcome
) -> None:
    server = await make_server({"route": outcome.handler(AgiSession.answer)})
    pbx = await peers.call(server.port)
    await pbx.exchange("ANSWER", "200 result=-1")
    await pbx.exchange("CHANNEL STATUS", "200 result=4")  # the channel is up: a fault, not a hang-up
    await outcome.wait()
    assert isinstance(outcome.error, AgiCommandFailed)


async def test_rejected_command_raises_command_error_with_usage(
    peers: Peers, make_server: ServerFactory, outcome: Outcome
) -> None:
    async def body(session: AgiSession) -> None:
        await session.execute("GET DATA")

    server = await make_server({"route": outcome.handler(body)})
    pbx = await peers.call(server.port)
    await pbx.exchange(
        "GET DATA",
        "520-Invalid command syntax.  Proper usage follows:\n"
        " Usage: GET DATA <file to be streamed> [timeout] [maxdigits]\n"
        "520 End of proper usage.",
    )
    await outcome.wait()
    assert isinstance(outcome.error, AgiCommandError)
    assert outcome.error.response.code == 520
    assert "Usage: GET DATA" in str(outcome.error)
    assert await pbx.expect_closed() == b"FAILURE\n"


async def test_silent_asterisk_makes_the_command_time_out(
    peers: Peers, make_server: ServerFactory, outcome: Outcome
) -> None:
    async def body(session: AgiSession) -> None:
        try:
            await session.answer()
        except AgiTimeout:
            with pytest.raises(AgiTimeout, match="previous command timed out"):
                await session.answer()
            raise

    server = await make_server({"route": outcome.handler(body)}, command_timeout=0.1)
    pbx = await peers.call(server.port)
    await pbx.expect("ANSWER")
    await outcome.wait()
    assert isinstance(outcome.error, AgiTimeout)
    assert await pbx.expect_closed() == b""


async def test_digit_collection_may_outlast_the_command_timeout(
    peers: Peers, make_server: ServerFactory, outcome: Outcome
) -> None:
    async def body(session: AgiSession) -> None:
        outcome.values["card"] = await session.get_data("ivr/enter-card", 1000, 16)

    # GET DATA's bound is command_timeout + 16 x 1 s, far above the 0.3 s pause below.
    server = await make_server({"route": outcome.handler(body)}, command_timeout=0.05)
    pbx = await peers.call(server.port)
    await pbx.expect("GET DATA ivr/enter-card 1000 16")
    await asyncio.sleep(0.3)
    await pbx.reply("200 result=4111111111111111\n")
    await outcome.wait()
    assert outcome.error is None
    assert outcome.values["card"] == ("4111111111111111", False)


async def test_explicit_response_bound_overrides_the_command_timeout(
    peers: Peers, make_server: ServerFactory, outcome: Outcome
) -> None:
    async def body(session: AgiSession) -> None:
        await session.execute("EXEC", "Playback", "ivr/terms", response_within=0.05)

    server = await make_server({"route": outcome.handler(body)})
    pbx = await peers.call(server.port)
    await pbx.expect("EXEC Playback ivr/terms")
    await outcome.wait()
    assert isinstance(outcome.error, AgiTimeout)
    assert "0.05 s" in str(outcome.error)


async def test_unsafe_argument_left_uncaught_is_a_handler_failure(
    peers: Peers, make_server: ServerFactory, outcome: Outcome
) -> None:
    async def body(session: AgiSession) -> None:
        await session.set_variable("IVR_NAME", 'Zhang "VIP"')

    server = await make_server({"route": outcome.handler(body)})
    with capture_logs() as logs:
        pbx = await peers.call(server.port)
        assert await pbx.expect_closed() == b"FAILURE\n"
    assert isinstance(outcome.error, InvalidCommandArgument)
    assert "agi_handler_failed" in [entry["event"] for entry in logs]


async def test_hanging_up_a_channel_already_gone_is_not_an_error(
    peers: Peers, make_server: ServerFactory, outcome: Outcome
) -> None:
    server = await make_server({"route": outcome.handler(AgiSession.hangup)})
    pbx = await peers.call(server.port)
    await pbx.exchange("HANGUP", "511 Command Not Permitted on a dead channel or intercept routine")
    await outcome.wait()
    assert outcome.error is None


# --------------------------------------------------------------------------- hostile peers


async def test_misbehaving_peers_do_not_disturb_a_concurrent_call(
    peers: Peers, make_server: ServerFactory, outcome: Outcome
) -> None:
    async def main_menu(session: AgiSession) -> None:
        await session.answer()
        outcome.values["choice"] = await session.get_data("ivr/main-menu", 5000, 1)
        await session.set_variable("IVR_CHOICE", outcome.values["choice"][0])

    # The only short timeout: the silent peer is cut off by header_timeout.
    server = await make_server({"route": outcome.handler(main_menu)}, header_timeout=0.3)
    with capture_logs() as logs:
        silent = await peers.connect_and_send(server.port, b"")
        scanner = await peers.connect_and_send(server.port, b"")
        await scanner.hang_up_socket()
        truncated = await peers.connect_and_send(server.port, ASTERISK22_HEADER[:100])
        await truncated.hang_up_socket()
        half_closed = await peers.connect_and_send(server.port, ASTERISK22_HEADER[:100], half_close=True)
        garbage = await peers.connect_and_send(server.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        huge = await peers.connect_and_send(server.port, b"agi_calleridname: " + b"A" * 100_000)

        pbx = await peers.call(server.port)
        await pbx.exchange("ANSWER", "200 result=0")
        await pbx.exchange("GET DATA ivr/main-menu 5000 1", "200 result=3")
        await pbx.exchange("SET VARIABLE IVR_CHOICE 3", "200 result=1")
        assert await pbx.expect_closed() == b""
        await outcome.wait()

        for peer in (half_closed, garbage, huge, silent):
            assert await peer.expect_closed() == b""
        await server.close()

    assert outcome.error is None
    assert outcome.values["choice"] == ("3", False)
    assert server.active_sessions == 0
    events = [entry["event"] for entry in logs]
    assert events.count("agi_bad_header") == 4  # truncated, half-closed, garbage, huge
    assert events.count("agi_header_timeout") == 1
    assert events.count("agi_closed_before_header") == 1
    assert "agi_handler_failed" not in events


# --------------------------------------------------------------------------- lifecycle


async def test_close_cancels_calls_in_flight_and_closes_their_sockets(
    peers: Peers, make_server: ServerFactory, outcome: Outcome
) -> None:
    async def body(session: AgiSession) -> None:
        await session.answer()

    server = await make_server({"route": outcome.handler(body)})
    pbx = await peers.call(server.port)
    await pbx.expect("ANSWER")
    assert server.active_sessions == 1

    async with asyncio.timeout(DEADLINE):
        await server.close()

    assert isinstance(outcome.error, asyncio.CancelledError)
    assert server.active_sessions == 0
    assert await pbx.expect_closed() == b""
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", server.port)


async def test_server_works_as_an_async_context_manager(peers: Peers, outcome: Outcome) -> None:
    async with FastAgiServer("127.0.0.1", 0, {"route": outcome.handler(AgiSession.answer)}) as s:
        assert s.port != 0
        pbx = await peers.call(s.port)
        await pbx.exchange("ANSWER", "200 result=0")
        await outcome.wait()
    assert s.active_sessions == 0


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "pbx.example.org", ""])
def test_non_loopback_address_is_refused(host: str) -> None:
    with pytest.raises(ValueError, match="loopback"):
        FastAgiServer(host, 4573, {})


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_loopback_addresses_are_accepted(host: str) -> None:
    FastAgiServer(host, 4573, {})


def test_non_loopback_address_is_accepted_when_explicitly_allowed() -> None:
    FastAgiServer("0.0.0.0", 4573, {}, allow_non_loopback=True)


# --------------------------------------------------------------------------- I/O paths
# The server parses in the socket callbacks and enforces deadlines with one lazily
# re-armed timer per connection; these pin down the cases that design must get right.


async def yield_to_the_loop(times: int = 20) -> None:
    for _ in range(times):
        await asyncio.sleep(0)


async def test_answer_split_across_reads_completes_the_command_once(
    peers: Peers, make_server: ServerFactory, outcome: Outcome
) -> None:
    async def body(session: AgiSession) -> None:
        outcome.values["tier"] = await session.get_variable("IVR_TIER")

    server = await make_server({"route": outcome.handler(body)})
    pbx = await peers.call(server.port)
    await pbx.expect("GET VARIABLE IVR_TIER")
    await pbx.reply("200 res")
    await yield_to_the_loop()
    assert not outcome.done.is_set()
    await pbx.reply("ult=1 (gold)\n")
    await outcome.wait()
    assert outcome.error is None
    assert outcome.values["tier"] == "gold"


async def test_deadline_counts_from_each_command_not_from_the_first(
    peers: Peers, make_server: ServerFactory, outcome: Outcome
) -> None:
    loop = asyncio.get_running_loop()

    async def body(session: AgiSession) -> None:
        await session.answer()
        outcome.values["sent_at"] = loop.time()
        try:
            await session.set_variable("IVR_DONE", "1")
        finally:
            outcome.values["waited"] = loop.time() - outcome.values["sent_at"]

    # The timer armed for ANSWER falls due 0.1 s into SET VARIABLE's wait; it must
    # re-arm for SET VARIABLE's own deadline instead of cutting it short.
    server = await make_server({"route": outcome.handler(body)}, command_timeout=0.2)
    pbx = await peers.call(server.port)
    await pbx.expect("ANSWER")
    await asyncio.sleep(0.1)
    await pbx.reply("200 result=0\n")
    await pbx.expect("SET VARIABLE IVR_DONE 1")
    await outcome.wait()
    assert isinstance(outcome.error, AgiTimeout)
    assert outcome.values["waited"] >= 0.19


async def test_short_bound_after_a_long_one_fires_on_time(
    peers: Peers, make_server: ServerFactory, outcome: Outcome
) -> None:
    loop = asyncio.get_running_loop()

    async def body(session: AgiSession) -> None:
        await session.get_data("ivr/enter-card", 5000, 16)  # bound: 10 s + 16 x 5 s
        started = loop.time()
        try:
            await session.execute("EXEC", "Playback", "ivr/terms", response_within=0.05)
        finally:
            outcome.values["waited"] = loop.time() - started

    server = await make_server({"route": outcome.handler(body)})
    pbx = await peers.call(server.port)
    await pbx.exchange("GET DATA ivr/enter-card 5000 16", "200 result=1234")
    await pbx.expect("EXEC Playback ivr/terms")
    await outcome.wait()
    assert isinstance(outcome.error, AgiTimeout)
    assert outcome.values["waited"] < 1.0


async def test_asterisk_closing_between_commands_stops_the_next_one_unsent(
    peers: Peers, make_server: ServerFactory, outcome: Outcome
) -> None:
    closed = asyncio.Event()

    async def body(session: AgiSession) -> None:
        await session.answer()
        await closed.wait()
        await yield_to_the_loop()
        await session.set_variable("IVR_DONE", "1")

    server = await make_server({"route": outcome.handler(body)})
    pbx = await peers.call(server.port)
    await pbx.exchange("ANSWER", "200 result=0")
    pbx.writer.write_eof()
    closed.set()
    await outcome.wait()
    assert isinstance(outcome.error, AgiHangup)
    assert "before the command was sent" in str(outcome.error)
    assert await pbx.expect_closed() == b""


async def test_bytes_flooding_in_between_commands_are_bounded_and_end_the_call(
    peers: Peers, make_server: ServerFactory, outcome: Outcome
) -> None:
    flooded = asyncio.Event()

    async def body(session: AgiSession) -> None:
        await session.answer()
        await flooded.wait()
        await yield_to_the_loop(100)
        # Internal, on purpose: what the server holds while no command is pending.
        outcome.values["held"] = session._conn.buffered_bytes
        await session.set_variable("IVR_DONE", "1")

    server = await make_server({"route": outcome.handler(body)})
    with capture_logs() as logs:
        pbx = await peers.call(server.port)
        await pbx.exchange("ANSWER", "200 result=0")
        pbx.writer.write(b"A" * 300_000)  # no drain: the server may stop reading
        flooded.set()
        await outcome.wait()
        assert await pbx.expect_closed() == b""
    # Reading stops past 64 KiB; one more read of at most 64 KiB may already be in.
    assert 64 * 1024 < outcome.values["held"] <= 128 * 1024
    assert [e["event"] for e in logs if e["event"] == "agi_protocol_error"] == ["agi_protocol_error"]


async def test_close_also_ends_connections_still_sending_their_header(peers: Peers, make_server: ServerFactory) -> None:
    server = await make_server({"route": AgiSession.answer})
    pbx = await peers.connect_and_send(server.port, ASTERISK22_HEADER[:100])
    await yield_to_the_loop()
    assert server.active_sessions == 1
    async with asyncio.timeout(DEADLINE):
        await server.close()
    assert server.active_sessions == 0
    assert await pbx.expect_closed() == b""


# --------------------------------------------------------------------------- on uvloop
# On uvloop the connection is a plain Protocol (uvloop hands over exact-size bytes);
# on asyncio's selector loop a BufferedProtocol. The same behaviour is required of both.


def test_a_whole_call_and_misbehaving_peers_on_uvloop() -> None:
    uvloop = pytest.importorskip("uvloop")

    async def scenario() -> None:
        peers, outcome = Peers(), Outcome()

        async def main_menu(session: AgiSession) -> None:
            outcome.values["context"] = structlog.contextvars.get_contextvars()
            await session.answer()
            outcome.values["choice"] = await session.get_data("ivr/main-menu", 5000, 1)
            outcome.values["tier"] = await session.get_variable("IVR_TIER")

        server = FastAgiServer("127.0.0.1", 0, {"route": outcome.handler(main_menu)}, header_timeout=0.3)
        try:
            async with server:
                with capture_logs() as logs:
                    scanner = await peers.connect_and_send(server.port, b"")
                    await scanner.hang_up_socket()
                    silent = await peers.connect_and_send(server.port, b"")
                    garbage = await peers.connect_and_send(server.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                    huge = await peers.connect_and_send(server.port, b"agi_calleridname: " + b"A" * 100_000)
                    pbx = await peers.call(server.port)
                    await pbx.exchange("ANSWER", "200 result=0")
                    await pbx.exchange("GET DATA ivr/main-menu 5000 1", "200 result=3")
                    await pbx.exchange("GET VARIABLE IVR_TIER", "200 result=1 (gold)")
                    assert await pbx.expect_closed() == b""
                    await outcome.wait()
                    for peer in (garbage, huge, silent):
                        assert await peer.expect_closed() == b""
        finally:
            await peers.aclose()
        assert outcome.error is None
        assert outcome.values["choice"] == ("3", False)
        assert outcome.values["tier"] == "gold"
        assert outcome.values["context"] == {
            "uniqueid": "1732810412.14",
            "channel": "PJSIP/pstn-00000007",
            "line": "main",
        }
        events = [entry["event"] for entry in logs]
        assert events.count("agi_bad_header") == 2
        assert events.count("agi_header_timeout") == 1
        assert "agi_call_finished" in events
        assert server.active_sessions == 0

    uvloop.run(scenario())


def test_silent_asterisk_makes_the_command_time_out_on_uvloop() -> None:
    uvloop = pytest.importorskip("uvloop")

    async def scenario() -> None:
        peers, outcome = Peers(), Outcome()
        server = FastAgiServer("127.0.0.1", 0, {"route": outcome.handler(AgiSession.answer)}, command_timeout=0.2)
        try:
            async with server:
                pbx = await peers.call(server.port)
                await pbx.expect("ANSWER")
                await outcome.wait()  # no answer is ever sent
                assert await pbx.expect_closed() == b""
        finally:
            await peers.aclose()
        assert isinstance(outcome.error, AgiTimeout)

    uvloop.run(scenario())


# --------------------------------------------------------------------------- hand-over
# A worker process passes calls it must not serve to the process that can
# (bench/agi_pool.py); here both servers live in this process and the "channel" is a
# direct call to adopt().


class Adopter:
    """Plays the pool's side of a hand-over: adopts what a server sends into another server."""

    def __init__(self, home: FastAgiServer) -> None:
        self.home = home
        self.tasks: list[asyncio.Task[None]] = []
        self.received: list[bytes] = []

    def send(self, fd: int, data: bytes) -> None:
        self.received.append(data)
        sock = socket.socket(fileno=os.dup(fd))  # what SCM_RIGHTS does
        self.tasks.append(asyncio.get_running_loop().create_task(self.home.adopt(sock, data)))


async def test_a_handed_over_call_is_served_by_the_adopting_server(
    peers: Peers, make_server: ServerFactory, outcome: Outcome
) -> None:
    async def agent(session: AgiSession) -> None:
        outcome.values["args"] = session.request.args
        outcome.values["name"] = session.request.calleridname
        outcome.values["context"] = structlog.contextvars.get_contextvars()
        await session.set_variable("IVR_FEATURE", "ok")

    home = await make_server({"agent": outcome.handler(agent)})
    adopter = Adopter(home)
    worker = await make_server({}, handover=Handover(frozenset({"agent"}), adopter.send))
    gbk_header = header("agent", line="pause").replace(b"agi_arg_1", b"agi_calleridname: \xd5\xc5\xc8\xfd\nagi_arg_1")
    pbx = await peers.call(worker.port, gbk_header)
    await pbx.exchange("SET VARIABLE IVR_FEATURE ok", "200 result=1")
    assert await pbx.expect_closed() == b""
    await outcome.wait()
    assert outcome.error is None
    assert outcome.values["args"] == ("pause",)
    assert outcome.values["name"] == "张三"
    assert outcome.values["context"]["line"] == "pause"
    assert worker.active_sessions == 0


async def test_bytes_read_after_the_header_travel_with_the_handed_over_call(
    peers: Peers, make_server: ServerFactory, outcome: Outcome
) -> None:
    async def agent(session: AgiSession) -> None:
        await session.set_variable("IVR_FEATURE", "ok")

    home = await make_server({"agent": outcome.handler(agent)})
    adopter = Adopter(home)
    worker = await make_server({}, handover=Handover(frozenset({"agent"}), adopter.send))
    # The caller hangs up at once: HANGUP arrives in the same read as the header.
    pbx = await peers.call(worker.port, header("agent") + b"HANGUP\n")
    await outcome.wait()
    assert isinstance(outcome.error, AgiHangup)
    assert adopter.received[0].endswith(b"\n\nHANGUP\n")
    assert await pbx.expect_closed() == b""


async def test_other_scripts_are_served_where_they_were_accepted(
    peers: Peers, make_server: ServerFactory, outcome: Outcome
) -> None:
    home = await make_server({})
    adopter = Adopter(home)
    worker = await make_server(
        {"route": outcome.handler(AgiSession.answer)}, handover=Handover(frozenset({"agent"}), adopter.send)
    )
    pbx = await peers.call(worker.port)
    await pbx.exchange("ANSWER", "200 result=0")
    await outcome.wait()
    assert outcome.error is None
    assert adopter.received == []


async def test_a_failed_hand_over_tells_asterisk_failure(peers: Peers, make_server: ServerFactory) -> None:
    def unreachable(fd: int, data: bytes) -> None:
        raise BlockingIOError("channel full")

    worker = await make_server({}, handover=Handover(frozenset({"agent"}), unreachable))
    with capture_logs() as logs:
        pbx = await peers.call(worker.port, header("agent"))
        assert await pbx.expect_closed() == b"FAILURE\n"
    assert [e["event"] for e in logs if e["event"] == "agi_handover_failed"] == ["agi_handover_failed"]


async def test_adopting_needs_a_serving_server() -> None:
    server = FastAgiServer("127.0.0.1", 0, {})
    left, right = socket.socketpair()
    with pytest.raises(RuntimeError, match="not serving"):
        await server.adopt(left, b"")
    assert left.fileno() == -1  # closed, not leaked
    right.close()
