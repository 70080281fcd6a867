"""The sans-IO AMI parser and action formatter, fed Asterisk 22 transcripts in any chunking."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ivr.ami import (
    NEED_DATA,
    AmiBanner,
    AmiMessage,
    AmiParser,
    MalformedLine,
    ParserEvent,
    UnsafeHeader,
    format_action,
)

from .transcripts import (
    BANNER,
    FULLY_BOOTED,
    QUEUE_CALLER_JOIN,
    QUEUE_CALLER_JOIN_LEGACY_VARS,
    QUEUE_MEMBER_STATUS,
    command_output,
    error_response,
    legacy_command_output,
    login_success,
    message,
    queue_status,
)

SESSION = (
    BANNER
    + login_success("ivr-1")
    + FULLY_BOOTED
    + QUEUE_CALLER_JOIN_LEGACY_VARS
    + QUEUE_CALLER_JOIN
    + queue_status("ivr-2")
    + QUEUE_MEMBER_STATUS
    + error_response("ivr-3")
).encode()


def parse(
    data: bytes,
    chunks: list[int] | None = None,
    *,
    max_line_bytes: int = 65536,
    max_message_lines: int = 10_000,
) -> list[ParserEvent]:
    """Feed ``data`` cut at the given chunk sizes, draining events after each chunk."""
    parser = AmiParser(max_line_bytes=max_line_bytes, max_message_lines=max_message_lines)
    events: list[ParserEvent] = []
    sizes = chunks or [len(data)]
    position = 0
    for size in [*sizes, len(data)]:
        parser.receive_data(data[position : position + size])
        position += size
        while (event := parser.next_event()) is not NEED_DATA:
            events.append(event)
        if position >= len(data):
            break
    return events


def messages(events: list[ParserEvent]) -> list[AmiMessage]:
    return [event for event in events if isinstance(event, AmiMessage)]


# --------------------------------------------------------------------------- a session


def test_a_recorded_session_parses_into_banner_then_each_message_in_order() -> None:
    events = parse(SESSION)

    assert events[0] == AmiBanner("Asterisk Call Manager/9.0.0")
    assert events[0].version == "9.0.0"
    names = [(m.kind, m.name) for m in messages(events)]
    assert names == [
        ("response", "Success"),
        ("event", "FullyBooted"),
        ("event", "QueueCallerJoin"),
        ("event", "QueueCallerJoin"),
        ("response", "Success"),
        ("event", "QueueParams"),
        ("event", "QueueMember"),
        ("event", "QueueEntry"),
        ("event", "QueueStatusComplete"),
        ("event", "QueueMemberStatus"),
        ("response", "Error"),
    ]
    assert not [e for e in events if isinstance(e, MalformedLine)]


@given(cuts=st.lists(st.integers(min_value=1, max_value=64), max_size=200))
def test_any_chunking_of_a_session_gives_the_same_events(cuts: list[int]) -> None:
    assert parse(SESSION, cuts) == parse(SESSION)


def test_byte_by_byte_delivery_gives_the_same_events() -> None:
    assert parse(SESSION, [1] * len(SESSION)) == parse(SESSION)


def test_login_success_response_carries_action_id_and_message() -> None:
    response = messages(parse(SESSION))[0]

    assert response.kind == "response"
    assert response.action_id == "ivr-1"
    assert response["Message"] == "Authentication accepted"


def test_error_response_is_a_response_named_error_with_its_message() -> None:
    response = messages(parse(SESSION))[-1]

    assert (response.kind, response.name, response.action_id) == ("response", "Error", "ivr-3")
    assert response.get("message") == "Interface not found"


def test_queue_status_list_events_all_carry_the_action_id_and_end_with_complete() -> None:
    listed = [m for m in messages(parse(SESSION)) if m.action_id == "ivr-2"]

    assert [m.name for m in listed] == [
        "Success",
        "QueueParams",
        "QueueMember",
        "QueueEntry",
        "QueueStatusComplete",
    ]
    assert listed[0]["EventList"] == "start"
    assert listed[-1]["EventList"] == "Complete"
    assert listed[-1]["ListItems"] == "3"
    assert listed[2]["PausedReason"] == ""


# --------------------------------------------------------------------------- message access


def test_channel_variables_are_read_in_the_asterisk_22_spelling() -> None:
    join = messages(parse(SESSION))[3]

    assert join.get_all("ChanVariable") == ["IVR_LINE=main", "IVR_TIER=standard", "IVR_LANG=zh"]
    assert join.channel_variables() == {
        "IVR_LINE": "main",
        "IVR_TIER": "standard",
        "IVR_LANG": "zh",
    }
    assert join.as_multidict()["ChanVariable"] == [
        "IVR_LINE=main",
        "IVR_TIER=standard",
        "IVR_LANG=zh",
    ]


def test_channel_variables_are_read_in_the_legacy_bracket_spelling() -> None:
    join = messages(parse(SESSION))[2]

    assert join["ChanVariable(IVR_LINE)"] == "main"
    assert join.get("chanvariable(ivr_line)") == "main"
    assert join.channel_variables() == {"IVR_LINE": "main", "IVR_TIER": "standard"}


def test_channel_variables_of_the_other_channel_are_picked_by_prefix() -> None:
    connect = AmiMessage(
        (
            ("Event", "AgentConnect"),
            ("ChanVariable", "IVR_LINE=vip"),
            ("DestChanVariable", "IVR_LINE="),
        )
    )

    assert connect.channel_variables() == {"IVR_LINE": "vip"}
    assert connect.channel_variables("Dest") == {"IVR_LINE": ""}


def test_lookups_ignore_case_and_the_last_repeated_value_wins() -> None:
    m = AmiMessage((("Event", "X"), ("Output", "one"), ("output", "two")))

    assert m.get("OUTPUT") == "two"
    assert m["Output"] == "two"
    assert m.as_dict() == {"Event": "X", "Output": "one", "output": "two"}
    assert m.get_all("Output") == ["one", "two"]
    assert m.get("Missing") is None
    assert m.get("Missing", "") == ""
    assert "event" in m
    with pytest.raises(KeyError):
        m["Missing"]


def test_a_message_without_response_or_event_is_of_unknown_kind() -> None:
    m = AmiMessage((("Foo", "bar"),))

    assert (m.kind, m.name, m.action_id) == ("unknown", "", None)


# --------------------------------------------------------------------------- line endings


def test_bare_lf_line_endings_are_tolerated() -> None:
    crlf = parse(SESSION)
    lf = parse(SESSION.replace(b"\r\n", b"\n"))

    assert lf == crlf


def test_blank_lines_between_messages_carry_nothing() -> None:
    events = parse((BANNER + "\r\n\r\n" + FULLY_BOOTED + "\r\n" + FULLY_BOOTED).encode())

    assert [m.name for m in messages(events)] == ["FullyBooted", "FullyBooted"]


def test_header_with_empty_value_is_kept_with_or_without_the_trailing_space() -> None:
    events = parse((BANNER + "Event: X\r\nAccountCode: \r\nLanguage:\r\n\r\n").encode())

    m = messages(events)[0]
    assert m.get("AccountCode") == ""
    assert m.get("Language") == ""


def test_a_parser_without_banner_reads_actions_as_a_server_would() -> None:
    parser = AmiParser(expect_banner=False)
    parser.receive_data(format_action("Ping", "t-1", {}))

    event = parser.next_event()
    assert isinstance(event, AmiMessage)
    assert (event.kind, event.name, event.action_id) == ("action", "Ping", "t-1")


def test_a_parser_started_mid_stream_reads_the_first_header_as_a_header() -> None:
    events = parse(FULLY_BOOTED.encode())

    assert [type(e) for e in events] == [AmiMessage]


# --------------------------------------------------------------------------- bad input


def test_line_without_separator_is_reported_skipped_and_the_message_keeps_its_other_headers() -> None:
    data = BANNER + "Event: QueueCallerLeave\r\ngarbage without separator\r\nQueue: vip\r\n\r\n"
    events = parse((data + FULLY_BOOTED).encode())

    assert events[1] == MalformedLine("garbage without separator", "no ': ' separator")
    leave, booted = messages(events)
    assert leave.headers == (("Event", "QueueCallerLeave"), ("Queue", "vip"))
    assert booted.name == "FullyBooted"


@given(
    junk=st.text(
        alphabet=st.characters(blacklist_characters="\r\n:", codec="utf-8"),
        min_size=1,
        max_size=50,
    ).filter(lambda s: s.strip() == s and s.strip()),
    cuts=st.lists(st.integers(min_value=1, max_value=40), max_size=50),
)
def test_a_malformed_line_between_messages_never_loses_the_next_message(junk: str, cuts: list[int]) -> None:
    data = (BANNER + FULLY_BOOTED + junk + "\r\n" + QUEUE_CALLER_JOIN).encode()

    events = parse(data, cuts)

    assert [m.name for m in messages(events)] == ["FullyBooted", "QueueCallerJoin"]
    assert sum(isinstance(e, MalformedLine) for e in events) == 1


def test_non_utf8_bytes_are_replaced_and_the_event_is_kept() -> None:
    # A GBK caller name ("张三") arriving where UTF-8 is expected.
    data = BANNER.encode() + b"Event: Newchannel\r\nCallerIDName: \xd5\xc5\xc8\xfd\r\n\r\n"

    (event,) = messages(parse(data))

    assert event.name == "Newchannel"
    assert "\ufffd" in event["CallerIDName"]


def test_an_over_long_line_is_reported_once_and_dropped_without_buffering_it() -> None:
    parser = AmiParser(max_line_bytes=100)
    parser.receive_data(BANNER.encode() + b"Event: X\r\nValue: ")
    events: list[ParserEvent] = []
    for _ in range(50):  # 50 * 64 bytes of one line, arriving in pieces
        parser.receive_data(b"y" * 64)
        while (event := parser.next_event()) is not NEED_DATA:
            events.append(event)
    parser.receive_data(b"\r\nQueue: vip\r\n\r\n" + FULLY_BOOTED.encode())
    while (event := parser.next_event()) is not NEED_DATA:
        events.append(event)

    malformed = [e for e in events if isinstance(e, MalformedLine)]
    assert len(malformed) == 1
    assert malformed[0].reason == "line longer than 100 bytes"
    assert len(malformed[0].line) < 200
    assert messages(events)[0].headers == (("Event", "X"), ("Queue", "vip"))
    assert messages(events)[1].name == "FullyBooted"


def test_an_over_long_line_arriving_whole_is_reported_and_skipped() -> None:
    data = BANNER + "Event: X\r\nValue: " + "y" * 500 + "\r\n\r\n" + FULLY_BOOTED

    events = parse(data.encode(), max_line_bytes=100)

    assert isinstance(events[1], MalformedLine)
    assert [m.name for m in messages(events)] == ["X", "FullyBooted"]


def test_a_message_with_too_many_lines_is_truncated_and_reported_once() -> None:
    body = "".join(f"Output: line {n}\r\n" for n in range(20))
    data = BANNER + "Response: Success\r\nActionID: a-1\r\n" + body + "\r\n" + FULLY_BOOTED

    events = parse(data.encode(), max_message_lines=10)

    assert sum(isinstance(e, MalformedLine) for e in events) == 1
    response, booted = messages(events)
    assert len(response.headers) == 10
    assert response.action_id == "a-1"
    assert booted.name == "FullyBooted"


# --------------------------------------------------------------------------- Command output


def test_modern_command_output_is_repeated_output_headers() -> None:
    (response,) = messages(parse((BANNER + command_output("c-1")).encode()))

    assert response.name == "Success"
    assert response.get_all("Output")[-1] == "2 sip peers"


@given(cuts=st.lists(st.integers(min_value=1, max_value=16), max_size=60))
def test_legacy_response_follows_reads_raw_output_until_end_command(cuts: list[int]) -> None:
    data = (BANNER + legacy_command_output("c-2") + FULLY_BOOTED).encode()

    events = parse(data, cuts)

    response, booted = messages(events)
    assert (response.name, response.action_id, response["Privilege"]) == (
        "Follows",
        "c-2",
        "Command",
    )
    assert response.get_all("Output") == [
        "Channel              Location             State   Application(Data)",
        "0 active channels",
        "",
        "Uptime: 12 seconds",
    ]
    assert booted.name == "FullyBooted"
    assert not [e for e in events if isinstance(e, MalformedLine)]


def test_legacy_output_without_final_newline_is_glued_to_the_end_marker() -> None:
    data = BANNER + "Response: Follows\r\nActionID: c-3\r\nNo such command--END COMMAND--\r\n\r\n"

    (response,) = messages(parse(data.encode()))

    assert response.get_all("Output") == ["No such command"]


# --------------------------------------------------------------------------- format_action


def test_an_action_is_crlf_lines_with_action_and_action_id_first_then_a_blank_line() -> None:
    data = format_action("QueuePause", "ivr-7", {"Interface": "PJSIP/1001", "Paused": "true"})

    assert data == (b"Action: QueuePause\r\nActionID: ivr-7\r\nInterface: PJSIP/1001\r\nPaused: true\r\n\r\n")


def test_a_sequence_value_repeats_the_key_in_order() -> None:
    data = format_action("Originate", "o-1", {"Variable": ["IVR_LINE=main", "IVR_TIER=vip"]})

    assert b"Variable: IVR_LINE=main\r\nVariable: IVR_TIER=vip\r\n" in data


@pytest.mark.parametrize(
    "headers",
    [
        {"Queue": "vip\r\nAction: Originate"},
        {"Queue": "vip\nAction: Originate"},
        {"Queue": "vip\rAction: Originate"},
        {"Queue": "vip\x00"},
        {"Variable": ["ok=1", "bad=2\r\nAction: Originate"]},
        {"Que\r\nue": "vip"},
        {"Queue: x": "vip"},
        {"": "vip"},
        {" Queue": "vip"},
        {"ActionID": "someone-else"},
        {"action": "Originate"},
    ],
)
def test_header_injection_and_reserved_keys_are_refused(
    headers: dict[str, str | list[str]],
) -> None:
    with pytest.raises(UnsafeHeader):
        format_action("QueueStatus", "ivr-1", headers)


def test_injection_through_the_action_name_or_id_is_refused() -> None:
    with pytest.raises(ValueError):
        format_action("Ping\r\nAction: Originate", "ivr-1", {})
    with pytest.raises(ValueError):
        format_action("Ping", "ivr-1\r\nAction: Originate", {})


_SAFE_KEY = st.from_regex(r"[A-Za-z][A-Za-z0-9_()-]{0,15}", fullmatch=True).filter(
    lambda k: k.lower() not in ("action", "actionid")
)
_SAFE_VALUE = st.text(
    alphabet=st.characters(blacklist_characters="\r\n\x00", codec="utf-8"),
    max_size=40,
)


@given(headers=st.dictionaries(_SAFE_KEY, _SAFE_VALUE, max_size=8))
def test_any_safe_action_round_trips_through_the_parser(headers: dict[str, str]) -> None:
    parser = AmiParser(expect_banner=False)
    parser.receive_data(format_action("UserEvent", "rt-1", headers))

    event = parser.next_event()

    assert isinstance(event, AmiMessage)
    assert event.headers == (("Action", "UserEvent"), ("ActionID", "rt-1"), *headers.items())
    assert parser.next_event() is NEED_DATA


@given(
    before=st.text(max_size=20),
    bad=st.sampled_from(["\r", "\n", "\r\n", "\x00"]),
    after=st.text(max_size=20),
    in_key=st.booleans(),
)
def test_any_key_or_value_holding_cr_lf_or_nul_is_refused(before: str, bad: str, after: str, in_key: bool) -> None:
    text = before + bad + after
    headers = {text: "v"} if in_key else {"UserEvent": text}

    with pytest.raises(UnsafeHeader):
        format_action("UserEvent", "x-1", headers)


def test_message_helper_builds_what_the_parser_reads() -> None:
    (m,) = messages(parse((BANNER + message("Event: A", "K: v")).encode()))

    assert m.headers == (("Event", "A"), ("K", "v"))
