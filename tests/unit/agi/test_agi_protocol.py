"""The FastAGI sans-IO core, fed recorded-style transcripts in arbitrary chunks."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ivr.agi.protocol import (
    NEED_DATA,
    AgiConnection,
    AgiEvent,
    AgiProtocolError,
    AgiRequest,
    AgiResponse,
    ConnectionClosed,
    ConnectionState,
    HangupNotice,
    InvalidCommandArgument,
    LocalProtocolError,
    RemoteProtocolError,
    _parse_response,
    decode_lenient,
    format_command,
    format_header,
    validate_digits,
)

# What Asterisk 22 writes for `AGI(agi://127.0.0.1:4573/route,main)` (res_agi.c
# launch_netscript + setup_env), one line per channel attribute, then a blank line.
ASTERISK22_HEADER = (Path(__file__).parent / "asterisk22_header.txt").read_bytes()

USAGE_520 = (
    b"520-Invalid command syntax.  Proper usage follows:\n"
    b" Usage: GET DATA <file to be streamed> [timeout] [maxdigits]\n"
    b"\n"
    b"Stream the given file, and receive DTMF data.\n"
    b"\n"
    b"520 End of proper usage.\n"
)

# One call: (command we send, what Asterisk answers to it, HANGUP lines included).
CALL: list[tuple[tuple[str, ...], bytes]] = [
    (("ANSWER",), b"200 result=0\n"),
    (("STREAM FILE", "welcome", ""), b"200 result=0 endpos=14560\n"),
    (("GET DATA", "enter-card", "5000", "4"), b"200 result=1234\n"),
    (("GET DATA", "enter-pin", "3000", "6"), b"200 result=12 (timeout)\n"),
    (("GET DATA",), USAGE_520),
    (("GET VARIABLE", "IVR_TIER"), b"200 result=1 (gold (vip))\n"),
    (("WAIT FOR DIGIT", "5000"), b"HANGUP\n200 result=-1\n"),
    (
        ("SET VARIABLE", "IVR_DONE", "1"),
        b"511 Command Not Permitted on a dead channel or intercept routine\n",
    ),
]
ASTERISK_SIDE = ASTERISK22_HEADER + b"".join(reply for _, reply in CALL)

EXPECTED_EVENTS: list[AgiEvent] = [
    AgiResponse(code=200, result="0", text="result=0"),
    AgiResponse(code=200, result="0", endpos=14560, text="result=0 endpos=14560"),
    AgiResponse(code=200, result="1234", text="result=1234"),
    AgiResponse(code=200, result="12", data="timeout", text="result=12 (timeout)"),
    AgiResponse(
        code=520,
        text="Invalid command syntax.  Proper usage follows:",
        usage=(
            " Usage: GET DATA <file to be streamed> [timeout] [maxdigits]\n"
            "\n"
            "Stream the given file, and receive DTMF data."
        ),
    ),
    AgiResponse(code=200, result="1", data="gold (vip)", text="result=1 (gold (vip))"),
    HangupNotice(),
    AgiResponse(code=200, result="-1", text="result=-1"),
    AgiResponse(code=511, text="Command Not Permitted on a dead channel or intercept routine"),
    ConnectionClosed(),
]


def split(data: bytes, cuts: Iterable[int]) -> list[bytes]:
    points = [0, *sorted(set(cuts)), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(points) if b > a]


def drive(
    chunks: Sequence[bytes], commands: Sequence[tuple[str, ...]] = ()
) -> tuple[AgiRequest | None, list[AgiEvent]]:
    """Play the script side: feed chunks, send the next command after each request/response."""
    conn = AgiConnection()
    pending_chunks = iter(chunks)
    pending_commands = iter(commands)
    request: AgiRequest | None = None
    events: list[AgiEvent] = []
    while True:
        event = conn.next_event()
        if event is NEED_DATA:
            conn.receive_data(next(pending_chunks, b""))
            continue
        if isinstance(event, AgiRequest):
            request = event
        else:
            events.append(event)
        if isinstance(event, ConnectionClosed):
            return request, events
        if isinstance(event, AgiRequest | AgiResponse):
            command = next(pending_commands, None)
            if command is not None:
                conn.send_command(*command)


def feed(conn: AgiConnection, data: bytes) -> AgiEvent:
    conn.receive_data(data)
    event = conn.next_event()
    assert event is not NEED_DATA
    return event


def idle_connection() -> AgiConnection:
    conn = AgiConnection()
    assert isinstance(feed(conn, ASTERISK22_HEADER), AgiRequest)
    return conn


def awaiting_connection() -> AgiConnection:
    conn = idle_connection()
    conn.send_command("ANSWER")
    return conn


# --------------------------------------------------------------------------- header


def test_asterisk22_header_becomes_one_request_with_agi_prefix_stripped() -> None:
    conn = AgiConnection()
    request = feed(conn, ASTERISK22_HEADER)

    assert isinstance(request, AgiRequest)
    assert request.network_script == "route"
    assert request.args == ("main",)
    assert request.uniqueid == "1732810412.14"
    assert request.channel == "PJSIP/pstn-00000007"
    assert request.callerid == "13800138000"
    assert request.calleridname == "unknown"
    assert request.extension == "95588"
    assert request.context == "ivr-main"
    assert request.language == "en"
    assert request.env["request"] == "agi://127.0.0.1:4573/route"
    assert request.env["accountcode"] == ""
    assert len(request.env) == 23
    assert conn.state is ConnectionState.IDLE


def test_request_environment_is_read_only() -> None:
    request = feed(AgiConnection(), ASTERISK22_HEADER)
    assert isinstance(request, AgiRequest)
    with pytest.raises(TypeError):
        request.env["uniqueid"] = "x"  # type: ignore[index]


def test_network_script_drops_the_query_string() -> None:
    request = feed(AgiConnection(), b"agi_network_script: route?line=main&x=1\n\n")
    assert isinstance(request, AgiRequest)
    assert request.network_script == "route"
    assert request.env["network_script"] == "route?line=main&x=1"


def test_arguments_come_in_numeric_order() -> None:
    lines = b"".join(b"agi_arg_%d: a%d\n" % (n, n) for n in (10, 2, 1, 11, 3, 4, 5, 6, 7, 8, 9))
    request = feed(AgiConnection(), lines + b"\n")
    assert isinstance(request, AgiRequest)
    assert request.args == tuple(f"a{n}" for n in range(1, 12))


def test_missing_attributes_read_as_empty_strings() -> None:
    request = feed(AgiConnection(), b"agi_network: yes\n\n")
    assert isinstance(request, AgiRequest)
    assert (request.uniqueid, request.network_script, request.args) == ("", "", ())


def test_header_value_keeps_colons_and_spaces_after_the_separator() -> None:
    request = feed(AgiConnection(), b"agi_calleridname: Zhang: VIP \n\n")
    assert isinstance(request, AgiRequest)
    assert request.calleridname == "Zhang: VIP "


def test_caller_name_in_gbk_is_decoded_leniently() -> None:
    request = feed(AgiConnection(), b"agi_calleridname: " + "张伟".encode("gbk") + b"\n\n")
    assert isinstance(request, AgiRequest)
    assert request.calleridname == "张伟"


def test_caller_name_in_utf8_is_decoded_as_utf8() -> None:
    request = feed(AgiConnection(), "agi_calleridname: 张伟\n\n".encode())
    assert isinstance(request, AgiRequest)
    assert request.calleridname == "张伟"


def test_undecodable_caller_name_falls_back_to_latin1() -> None:
    assert decode_lenient(b"\xff\xfe\x80") == "\xff\xfe\x80"


@given(st.binary().filter(lambda b: b"\n" not in b))
def test_any_bytes_in_a_header_value_are_decoded_without_error(value: bytes) -> None:
    request = feed(AgiConnection(), b"agi_calleridname: " + value + b"\n\n")
    assert isinstance(request, AgiRequest)
    assert isinstance(request.calleridname, str)


def test_crlf_line_endings_are_accepted() -> None:
    conn = AgiConnection()
    request = feed(conn, b"agi_network_script: route\r\nagi_arg_1: main\r\n\r\n")
    assert isinstance(request, AgiRequest)
    assert request.args == ("main",)
    conn.send_command("ANSWER")
    assert feed(conn, b"200 result=0\r\n") == AgiResponse(code=200, result="0", text="result=0")


# --------------------------------------------------------------------------- whole call


def test_recorded_call_yields_request_then_one_event_per_reply() -> None:
    request, events = drive([ASTERISK_SIDE], [command for command, _ in CALL])
    assert request is not None and request.uniqueid == "1732810412.14"
    assert events == EXPECTED_EVENTS


@given(st.lists(st.integers(min_value=0, max_value=len(ASTERISK_SIDE)), max_size=40))
def test_recorded_call_yields_the_same_events_whatever_the_chunking(cuts: list[int]) -> None:
    request, events = drive(split(ASTERISK_SIDE, cuts), [command for command, _ in CALL])
    assert request is not None and request.args == ("main",)
    assert events == EXPECTED_EVENTS


def test_call_fed_one_byte_at_a_time_yields_the_same_events() -> None:
    chunks = [ASTERISK_SIDE[i : i + 1] for i in range(len(ASTERISK_SIDE))]
    _, events = drive(chunks, [command for command, _ in CALL])
    assert events == EXPECTED_EVENTS


# --------------------------------------------------------------------------- responses


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b"200 result=1\n", AgiResponse(code=200, result="1", text="result=1")),
        (b"200 result=-1\n", AgiResponse(code=200, result="-1", text="result=-1")),
        (
            b"200 result= (timeout)\n",
            AgiResponse(code=200, result="", data="timeout", text="result= (timeout)"),
        ),
        (
            b"200 result=0 (timeout) endpos=8000\n",
            AgiResponse(
                code=200,
                result="0",
                data="timeout",
                endpos=8000,
                text="result=0 (timeout) endpos=8000",
            ),
        ),
        (
            b"200 result=1 (hello world)\n",
            AgiResponse(code=200, result="1", data="hello world", text="result=1 (hello world)"),
        ),
        (b"200 result=1 ()\n", AgiResponse(code=200, result="1", data="", text="result=1 ()")),
        (
            b"510 Invalid or unknown command\n",
            AgiResponse(code=510, text="Invalid or unknown command"),
        ),
        (
            b"520 Invalid command syntax.  Proper usage not available.\n",
            AgiResponse(code=520, text="Invalid command syntax.  Proper usage not available."),
        ),
    ],
)
def test_response_line_is_parsed_into_its_parts(line: bytes, expected: AgiResponse) -> None:
    assert feed(awaiting_connection(), line) == expected


def test_response_helpers_interpret_result() -> None:
    assert AgiResponse(code=200, result="49").result_int == 49
    assert AgiResponse(code=200, result="").result_int is None
    assert AgiResponse(code=200, result="-1").failed
    assert AgiResponse(code=200, result="0").ok
    assert not AgiResponse(code=510).ok
    assert AgiResponse(code=511).dead_channel


def test_get_variable_value_in_gbk_is_decoded_leniently() -> None:
    response = feed(awaiting_connection(), b"200 result=1 (" + "王芳".encode("gbk") + b")\n")
    assert isinstance(response, AgiResponse)
    assert response.data == "王芳"


def test_multiline_usage_response_is_one_event_and_returns_to_idle() -> None:
    conn = awaiting_connection()
    response = feed(conn, USAGE_520)
    assert isinstance(response, AgiResponse)
    assert response.code == 520
    assert response.usage is not None and response.usage.startswith(" Usage: GET DATA")
    assert conn.state is ConnectionState.IDLE


def test_multiline_body_lines_that_look_like_responses_are_body() -> None:
    conn = awaiting_connection()
    response = feed(conn, b"520-Usage follows:\n200 result=1\nHANGUP\n520 End of proper usage.\n")
    assert response == AgiResponse(code=520, text="Usage follows:", usage="200 result=1\nHANGUP")


# --------------------------------------------------------------------------- HANGUP


def test_hangup_before_a_response_is_surfaced_and_the_response_kept() -> None:
    conn = awaiting_connection()
    conn.receive_data(b"HANGUP\n200 result=-1 endpos=0\n")
    assert conn.next_event() == HangupNotice()
    state_after_hangup = conn.state
    assert conn.next_event() == AgiResponse(code=200, result="-1", endpos=0, text="result=-1 endpos=0")
    assert state_after_hangup is ConnectionState.AWAITING_RESPONSE
    assert conn.state is ConnectionState.IDLE


def test_hangup_while_idle_is_surfaced_and_commands_stay_allowed() -> None:
    conn = idle_connection()
    assert feed(conn, b"HANGUP\n") == HangupNotice()
    assert conn.send_command("GET VARIABLE", "X") == b"GET VARIABLE X\n"


def test_hangup_then_close_while_idle_is_a_clean_close() -> None:
    conn = idle_connection()
    assert feed(conn, b"HANGUP\n") == HangupNotice()
    conn.receive_data(b"")
    assert conn.next_event() == ConnectionClosed()
    assert conn.next_event() == ConnectionClosed()


# --------------------------------------------------------------------------- end of file


def test_close_before_any_byte_is_a_clean_close() -> None:
    conn = AgiConnection()
    assert conn.next_event() is NEED_DATA
    assert feed(conn, b"") == ConnectionClosed()
    assert conn.state is ConnectionState.CLOSED


def test_close_before_the_blank_line_is_a_remote_error() -> None:
    conn = AgiConnection()
    conn.receive_data(b"agi_network: yes\nagi_network_script: route\n")
    assert conn.next_event() is NEED_DATA
    conn.receive_data(b"")
    with pytest.raises(RemoteProtocolError, match="before the blank line"):
        conn.next_event()


def test_close_in_the_middle_of_a_line_is_a_remote_error() -> None:
    conn = awaiting_connection()
    conn.receive_data(b"200 resu")
    conn.receive_data(b"")
    with pytest.raises(RemoteProtocolError, match="middle of a line"):
        conn.next_event()


def test_close_inside_a_multiline_response_is_a_remote_error() -> None:
    conn = awaiting_connection()
    conn.receive_data(b"520-Invalid command syntax.  Proper usage follows:\n Usage: X\n")
    assert conn.next_event() is NEED_DATA
    conn.receive_data(b"")
    with pytest.raises(RemoteProtocolError, match="multi-line"):
        conn.next_event()


def test_close_while_awaiting_a_response_is_a_clean_close() -> None:
    conn = awaiting_connection()
    assert feed(conn, b"") == ConnectionClosed()


def test_data_after_end_of_file_is_a_local_error() -> None:
    conn = AgiConnection()
    conn.receive_data(b"")
    with pytest.raises(LocalProtocolError):
        conn.receive_data(b"agi_network: yes\n")


# --------------------------------------------------------------------------- local misuse


def test_command_before_the_header_is_complete_is_a_local_error() -> None:
    conn = AgiConnection()
    conn.receive_data(b"agi_network: yes\n")
    with pytest.raises(LocalProtocolError, match="READING_HEADER"):
        conn.send_command("ANSWER")


def test_second_command_before_the_first_response_is_a_local_error() -> None:
    conn = awaiting_connection()
    with pytest.raises(LocalProtocolError, match="one command at a time"):
        conn.send_command("ANSWER")


def test_command_after_close_is_a_local_error() -> None:
    conn = idle_connection()
    assert feed(conn, b"") == ConnectionClosed()
    with pytest.raises(LocalProtocolError):
        conn.send_command("ANSWER")


# --------------------------------------------------------------------------- limits and garbage


def test_too_many_header_lines_is_a_remote_error() -> None:
    conn = AgiConnection(max_header_lines=4)
    conn.receive_data(b"".join(b"agi_x%d: y\n" % n for n in range(5)))
    with pytest.raises(RemoteProtocolError, match="more than 4 header lines"):
        conn.next_event()


def test_header_at_the_line_limit_is_accepted() -> None:
    conn = AgiConnection(max_header_lines=4)
    request = feed(conn, b"".join(b"agi_x%d: y\n" % n for n in range(4)) + b"\n")
    assert isinstance(request, AgiRequest)


def test_overlong_line_is_rejected_before_its_newline_arrives() -> None:
    conn = AgiConnection(max_line_bytes=100)
    conn.receive_data(b"agi_calleridname: " + b"x" * 82)
    assert conn.next_event() is NEED_DATA
    conn.receive_data(b"x")
    with pytest.raises(RemoteProtocolError, match="longer than 100 bytes"):
        conn.next_event()


def test_line_at_the_length_limit_is_accepted() -> None:
    conn = AgiConnection(max_line_bytes=100)
    line = b"agi_calleridname: " + b"x" * 82
    request = feed(conn, line + b"\n\n")
    assert isinstance(request, AgiRequest)
    assert len(request.calleridname) == 82


def test_a_100_kilobyte_line_is_a_remote_error() -> None:
    conn = AgiConnection()
    conn.receive_data(b"A" * 100_000 + b"\n")
    with pytest.raises(RemoteProtocolError, match="longer than 8192 bytes") as info:
        conn.next_event()
    assert len(str(info.value)) < 200


def test_header_line_without_colon_is_rejected_with_an_escaped_excerpt() -> None:
    conn = AgiConnection()
    conn.receive_data(b"GET / HTTP/1.1\x1b[2J" + b"z" * 500 + b"\n")
    with pytest.raises(RemoteProtocolError, match="malformed AGI header line") as info:
        conn.next_event()
    message = str(info.value)
    assert "\\x1b" in message and "\x1b" not in message
    assert len(message) < 200


def test_header_key_without_agi_prefix_is_a_remote_error() -> None:
    conn = AgiConnection()
    conn.receive_data(b"Host: example.org\n")
    with pytest.raises(RemoteProtocolError, match="malformed AGI header line"):
        conn.next_event()


def test_blank_first_line_is_an_empty_header_and_a_remote_error() -> None:
    conn = AgiConnection()
    conn.receive_data(b"\n")
    with pytest.raises(RemoteProtocolError, match="empty AGI header"):
        conn.next_event()


@pytest.mark.parametrize("line", [b"OK\n", b"20 result=1\n", b"200result=1\n", b"2000 result=1\n", b"200 ok\n"])
def test_malformed_response_line_is_a_remote_error(line: bytes) -> None:
    conn = awaiting_connection()
    conn.receive_data(line)
    with pytest.raises(RemoteProtocolError):
        conn.next_event()


def test_unsolicited_response_while_idle_is_a_remote_error() -> None:
    conn = idle_connection()
    conn.receive_data(b"200 result=0\n")
    with pytest.raises(RemoteProtocolError, match="unsolicited"):
        conn.next_event()


def test_connection_stays_failed_after_a_remote_error() -> None:
    conn = awaiting_connection()
    conn.receive_data(b"garbage\n200 result=0\n")
    with pytest.raises(RemoteProtocolError):
        conn.next_event()
    assert conn.state is ConnectionState.ERROR
    with pytest.raises(RemoteProtocolError):
        conn.next_event()
    with pytest.raises(LocalProtocolError):
        conn.send_command("ANSWER")


def test_protocol_errors_say_which_side_broke_the_protocol() -> None:
    assert issubclass(LocalProtocolError, AgiProtocolError)
    assert issubclass(RemoteProtocolError, AgiProtocolError)
    assert not issubclass(RemoteProtocolError, LocalProtocolError)
    assert issubclass(InvalidCommandArgument, LocalProtocolError)
    assert issubclass(InvalidCommandArgument, ValueError)


# --------------------------------------------------------------------------- commands


def asterisk_parse_args(line: str) -> list[str]:
    """Port of res_agi.c parse_args(): how Asterisk splits a command line into words."""
    argv: list[str] = []
    current: list[str] | None = None
    quoted = escaped = False
    for char in line:
        if char == '"' and not escaped:
            quoted = not quoted
            if quoted and current is None:
                current = []
                argv.append("")
            continue
        if char in " \t" and not quoted and not escaped:
            if current is not None:
                argv[-1] = "".join(current)
            current = None
            continue
        if char == "\\" and not escaped:
            escaped = True
            continue
        if current is None:
            current = []
            argv.append("")
        current.append(char)
        escaped = False
    if current is not None:
        argv[-1] = "".join(current)
    return argv


def test_command_arguments_with_spaces_are_quoted() -> None:
    assert format_command("VERBOSE", "caller entered menu", "1") == b'VERBOSE "caller entered menu" 1\n'


def test_empty_argument_is_sent_as_empty_quotes() -> None:
    assert format_command("STREAM FILE", "welcome", "") == b'STREAM FILE welcome ""\n'


def test_command_name_is_sent_upper_case() -> None:
    assert format_command("get data", "beep", "3000", "4") == b"GET DATA beep 3000 4\n"


@pytest.mark.parametrize("arg", ["a\rb", "a\nb", "a\x00b", 'say "hi"', "C:\\sounds", "1234\nHANGUP"])
def test_argument_that_could_reshape_the_line_is_refused(arg: str) -> None:
    with pytest.raises(ValueError, match="argument 1"):
        format_command("SET VARIABLE", arg, "x")


@pytest.mark.parametrize("name", ["", "ANSWER\n", "GET  DATA", "EXEC;", "SET VARIABLE "])
def test_malformed_command_name_is_refused(name: str) -> None:
    with pytest.raises(InvalidCommandArgument):
        format_command(name)


def test_command_longer_than_asterisk_buffer_is_refused() -> None:
    format_command("VERBOSE", "x" * 2030)
    with pytest.raises(InvalidCommandArgument, match="at most 2047"):
        format_command("VERBOSE", "x" * 2040)


safe_text = st.text(
    alphabet=st.characters(exclude_characters='\r\n\x00"\\', exclude_categories=["Cs"]),
    max_size=40,
)


@given(st.lists(safe_text, max_size=6))
def test_formatted_command_splits_back_into_the_same_words_in_asterisk(args: list[str]) -> None:
    line = format_command("SET VARIABLE", *args).decode()
    assert line.endswith("\n") and line.count("\n") == 1
    assert asterisk_parse_args(line[:-1]) == ["SET", "VARIABLE", *args]


def test_valid_digits_are_returned_unchanged() -> None:
    assert validate_digits("0123456789*#") == "0123456789*#"
    assert validate_digits("") == ""
    assert validate_digits("12", alphabet="12") == "12"


@pytest.mark.parametrize("digits", ["12a", "1 2", "1\n2", '1"', "١٢"])
def test_digits_outside_the_alphabet_are_refused(digits: str) -> None:
    with pytest.raises(ValueError, match="outside"):
        validate_digits(digits)


def test_refused_digits_are_not_echoed_in_the_error() -> None:
    with pytest.raises(ValueError) as info:
        validate_digits("4111111111111111x")
    assert "4111" not in str(info.value)


# --------------------------------------------------------------------------- fast paths
# The core takes shortcuts for the common case (a whole header in one read, a plain
# "200 result=N" answer, an argument needing no quotes); each must agree exactly with
# the general path, which is what a header trickling in byte by byte always takes.


def outcome_of(chunks: Sequence[bytes], **limits: int) -> object:
    """The request, or the error's class and message, after feeding ``chunks``."""
    conn = AgiConnection(**limits)
    try:
        for chunk in chunks:
            conn.receive_data(chunk)
            event = conn.next_event()
            if event is not NEED_DATA:
                assert isinstance(event, AgiRequest)
                return dict(event.env), conn.state
        return conn.next_event()
    except RemoteProtocolError as exc:
        message = str(exc)
        if message.startswith("line longer than"):
            # Its excerpt shows whatever is buffered past the line start: chunking-dependent.
            message = message.partition(":")[0]
        return type(exc), message


header_line = st.one_of(
    st.builds(
        lambda key, value: b"agi_" + key.encode() + b":" + value,
        st.text(alphabet="abcxyz_019", min_size=1, max_size=12),
        st.binary(max_size=30).filter(lambda b: b"\n" not in b),
    ),
    st.sampled_from([b"agi_callerid: 1380\r", b"agi_bad key: x", b"no colon", b"", b"agi_: x", b"x_y: z"]),
    st.binary(max_size=30).filter(lambda b: b"\n" not in b),
)


@given(
    st.lists(header_line, min_size=1, max_size=12),
    st.integers(min_value=1, max_value=14),
    st.integers(min_value=4, max_value=60),
)
def test_header_read_whole_or_byte_by_byte_gives_the_same_outcome(
    lines: list[bytes], max_header_lines: int, max_line_bytes: int
) -> None:
    data = b"\n".join(lines) + b"\n\n"
    limits = {"max_header_lines": max_header_lines, "max_line_bytes": max_line_bytes}
    whole = outcome_of([data], **limits)
    trickled = outcome_of([data[i : i + 1] for i in range(len(data))], **limits)
    assert whole == trickled


def test_asterisk22_header_read_whole_or_byte_by_byte_gives_the_same_request() -> None:
    whole = outcome_of([ASTERISK22_HEADER])
    trickled = outcome_of([ASTERISK22_HEADER[i : i + 1] for i in range(len(ASTERISK22_HEADER))])
    assert whole == trickled
    assert isinstance(whole, tuple) and len(whole[0]) == 23


def test_header_request_leaves_the_next_bytes_buffered() -> None:
    conn = AgiConnection()
    conn.receive_data(ASTERISK22_HEADER + b"HANGUP\n")
    assert isinstance(conn.next_event(), AgiRequest)
    assert conn.buffered_bytes == len(b"HANGUP\n")
    assert conn.next_event() == HangupNotice()


@given(st.integers(min_value=-(10**20), max_value=10**20))
def test_plain_numeric_answer_parses_like_any_other(number: int) -> None:
    expected = AgiResponse(code=200, result=str(number), text=f"result={number}")
    for _ in range(2):  # the second time, short results come from the cache
        assert feed(awaiting_connection(), b"200 result=%d\n" % number) == expected


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b"200 result=1 \n", AgiResponse(code=200, result="1", text="result=1 ")),
        (b"200 result=-\n", AgiResponse(code=200, result="-", text="result=-")),
        (b"200 result=--1\n", AgiResponse(code=200, result="--1", text="result=--1")),
        (b"200 result=+1\n", AgiResponse(code=200, result="+1", text="result=+1")),
        (b"200 result=\n", AgiResponse(code=200, result="", text="result=")),
        (  # a digit, but not an ASCII one
            "200 result=\u0661\n".encode(),
            AgiResponse(code=200, result="\u0661", text="result=\u0661"),
        ),
        (b"200 result=12\r\n", AgiResponse(code=200, result="12", text="result=12")),
    ],
)
def test_near_numeric_answers_take_the_general_parser(line: bytes, expected: AgiResponse) -> None:
    assert feed(awaiting_connection(), line) == expected


def test_command_name_is_checked_every_time_not_only_the_first() -> None:
    assert format_command("answer") == b"ANSWER\n"
    assert format_command("answer") == b"ANSWER\n"
    for _ in range(2):
        with pytest.raises(InvalidCommandArgument):
            format_command("ANSWER\n")


def test_non_string_argument_is_refused() -> None:
    with pytest.raises(InvalidCommandArgument, match="not a string"):
        format_command("SET VARIABLE", "X", 1)  # type: ignore[arg-type]


answer_piece = st.one_of(
    st.sampled_from(["0", "1", "-1", "12", "4111", "(", ")", " ", "  ", "(x)", "endpos=", "endpos=-3", "\t", "é"]),
    st.text(alphabet="0123456789-() =abendpos", max_size=8),
)


@given(st.lists(answer_piece, max_size=6))
def test_usual_200_answers_parse_exactly_as_the_general_parser_reads_them(pieces: list[str]) -> None:
    rest = "result=" + "".join(pieces)
    line = ("200 " + rest).encode()
    try:
        expected: object = _parse_response(200, rest)
    except (RemoteProtocolError, ValueError) as exc:
        expected = type(exc)
    try:
        got: object = feed(awaiting_connection(), line + b"\n")
    except (RemoteProtocolError, ValueError) as exc:
        got = type(exc)
    assert got == expected


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b"200 result=1 (13800138000)", AgiResponse(200, "1", "13800138000", text="result=1 (13800138000)")),
        (b"200 result=0 endpos=8000", AgiResponse(200, "0", endpos=8000, text="result=0 endpos=8000")),
        (b"200 result=1 (a) (b)", AgiResponse(200, "1", "a) (b", text="result=1 (a) (b)")),
        (b"200 result=0 (x) endpos=-5", AgiResponse(200, "0", "x", -5, text="result=0 (x) endpos=-5")),
        (b"200 result=1 ()", AgiResponse(200, "1", "", text="result=1 ()")),
    ],
)
def test_answers_with_data_or_endpos_are_read_in_one_match(line: bytes, expected: AgiResponse) -> None:
    assert feed(awaiting_connection(), line + b"\n") == expected


@given(
    st.dictionaries(
        st.text(alphabet="abcdefghijklmnopqrstuvwxyz_0123456789", min_size=1, max_size=12),
        st.text(max_size=20).filter(lambda v: "\n" not in v and "\r" not in v),
        min_size=1,
        max_size=10,
    )
)
def test_a_request_rendered_as_a_header_parses_back_to_the_same_request(env: dict[str, str]) -> None:
    conn = AgiConnection()
    request = feed(conn, format_header(env))
    assert isinstance(request, AgiRequest)
    assert dict(request.env) == env


def test_gbk_caller_name_survives_a_hand_over_as_the_same_text() -> None:
    first = feed(
        AgiConnection(), ASTERISK22_HEADER.replace(b"agi_calleridname: ", b"agi_calleridname: \xd5\xc5\xc8\xfd")
    )
    assert isinstance(first, AgiRequest)
    again = feed(AgiConnection(), format_header(first.env))
    assert isinstance(again, AgiRequest)
    assert again.env == first.env and again.calleridname.startswith("张三")


@pytest.mark.parametrize(
    "args_lines",
    [
        [],
        ["agi_arg_1: main"],
        ["agi_arg_1: main", "agi_arg_2: vip", "agi_arg_3: x y"],
        ["agi_arg_2: second", "agi_arg_1: first"],  # out of order
        ["agi_arg_1: a", "agi_arg_3: c"],  # a gap
        ["agi_arg_1: a", "agi_calleridname: agi_arg_2"],  # the prefix inside a value
        ["agi_arg_10: ten", "agi_arg_9: nine", "agi_arg_1: one"],
    ],
)
def test_arguments_read_with_the_header_match_the_general_reading(args_lines: list[str]) -> None:
    data = ("agi_network: yes\nagi_network_script: route\n" + "".join(f"{x}\n" for x in args_lines) + "\n").encode()
    whole = feed(AgiConnection(), data)
    assert isinstance(whole, AgiRequest)
    general = AgiRequest(env=whole.env)  # a fresh request works its arguments out from env
    assert whole.args == general.args
