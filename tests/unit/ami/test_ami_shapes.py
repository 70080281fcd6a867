"""The whole-message fast path of the AMI parser: what it learns, and that it reads
every stream exactly as the line reader it replaced.

The reference is the previous parser, kept verbatim in ``line_parser.py``: for
any bytes, in any chunking, with or without learned shapes and captures, both
must give the same banner, messages and malformed lines in the same order.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ivr.ami import NEED_DATA, AmiMessage, AmiParser, MalformedLine, ParserEvent

from .line_parser import LineAmiParser
from .transcripts import (
    BANNER,
    FULLY_BOOTED,
    QUEUE_CALLER_JOIN,
    QUEUE_CALLER_JOIN_LEGACY_VARS,
    QUEUE_MEMBER_STATUS,
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

# What the metrics intake reads of a queue event, in one call.
READ = ("Timestamp", "Queue", "Uniqueid", "MemberName", "Status", "Missing")


def events_of(parser: AmiParser | LineAmiParser, data: bytes, cuts: list[int], read: bool = False) -> list[ParserEvent]:
    """Feed ``data`` cut at ``cuts`` (then the rest), draining after each piece.

    ``read``: read some headers of each message as it comes, as the metrics
    intake does (which teaches a shape what to capture).
    """
    events: list[ParserEvent] = []
    position = 0
    for size in [*cuts, len(data)]:
        parser.receive_data(data[position : position + size])
        position += size
        while (event := parser.next_event()) is not NEED_DATA:
            if read and isinstance(event, AmiMessage):
                event.first_values(READ)
            events.append(event)
        if position >= len(data):
            break
    return events


def both(data: bytes, cuts: list[int], **limits: int) -> tuple[list[ParserEvent], list[ParserEvent]]:
    new = events_of(AmiParser(**limits), data, cuts, read=True)  # type: ignore[arg-type]
    old = events_of(LineAmiParser(**limits), data, cuts)  # type: ignore[arg-type]
    return new, old


def first_values_by_headers(message: AmiMessage, names: tuple[str, ...]) -> tuple[str, ...]:
    """`first_values` worked out from the header pairs."""
    out = []
    for name in names:
        found = [value for key, value in message.headers if key.lower() == name.lower()]
        out.append(found[0] if found else "")
    return tuple(out)


# --------------------------------------------------------------------------- learned shapes


def test_a_session_seen_again_is_read_the_same_once_its_shapes_are_learned() -> None:
    stream = SESSION + (login_success("ivr-4") + FULLY_BOOTED + QUEUE_CALLER_JOIN + QUEUE_MEMBER_STATUS).encode() * 5

    new, old = both(stream, [])

    assert new == old
    assert len([e for e in new if isinstance(e, AmiMessage)]) == 31


def test_a_shaped_message_answers_every_lookup_as_one_built_from_its_headers() -> None:
    parser = AmiParser(expect_banner=False)
    stream = (QUEUE_CALLER_JOIN * 4).encode()
    parser.receive_data(stream)
    messages: list[AmiMessage] = []
    while isinstance(event := parser.next_event(), AmiMessage):
        messages.append(event)
    last = messages[-1]
    plain = AmiMessage(last.headers)

    assert last == plain and hash(last) == hash(plain) and repr(last) == repr(plain)
    for name in ("Event", "event", "Queue", "CHANVARIABLE", "AccountCode", "Missing"):
        assert last.get(name) == plain.get(name)
        assert last.first(name) == plain.first(name)
        assert last.get_all(name) == plain.get_all(name)
    assert last.first_values(READ) == plain.first_values(READ) == first_values_by_headers(plain, READ)
    assert last.with_prefix("chanvariable") == plain.with_prefix("chanvariable")
    assert (last.kind, last.name, last.action_id) == (plain.kind, plain.name, plain.action_id)
    assert last.as_multidict() == plain.as_multidict()
    assert last.channel_variables() == plain.channel_variables()


def test_captured_values_are_the_values_the_headers_give() -> None:
    parser = AmiParser(expect_banner=False)
    names = ("Timestamp", "Queue", "Uniqueid", "CallerIDNum", "Position", "Count")
    joins = [QUEUE_CALLER_JOIN.replace("Position: 1", f"Position: {n}") for n in range(6)]
    parser.receive_data("".join(joins).encode())
    seen = []
    while isinstance(event := parser.next_event(), AmiMessage):
        seen.append(event.first_values(names))  # the first read teaches the shape to capture these
        assert event.first_values(names) == first_values_by_headers(event, names)
    assert [values[4] for values in seen] == ["0", "1", "2", "3", "4", "5"]


def test_a_message_split_across_reads_is_read_by_the_line_reader_and_equals_it() -> None:
    stream = (QUEUE_MEMBER_STATUS * 3).encode()
    cut = len(QUEUE_MEMBER_STATUS) * 2 + 40  # the third arrives in two pieces

    new, old = both(stream, [cut])

    assert new == old and len(new) == 3


def test_non_ascii_values_are_decoded_as_the_line_reader_decodes_them() -> None:
    # UTF-8 and GBK caller names, and bytes that are no encoding at all.
    names = ["张三".encode(), "\xd5\xc5\xc8\xfd".encode("latin-1"), b"\xff\xfe\x80 x"]
    stream = b"".join(
        b"Event: Newchannel\r\nCallerIDName: " + name + b"\r\nUniqueid: 1." + str(i).encode() + b"\r\n\r\n"
        for i, name in enumerate(names * 3)
    )

    new, old = both(stream, [])

    assert new == old
    assert isinstance(new[-1], AmiMessage) and "\ufffd" in new[-1]["CallerIDName"]


def test_legacy_command_output_is_never_learned_as_a_shape() -> None:
    stream = (BANNER + legacy_command_output("c-1") * 3 + FULLY_BOOTED * 3).encode()

    new, old = both(stream, [])

    assert new == old
    assert not [e for e in new if isinstance(e, MalformedLine)]


def test_shapes_are_capped_and_every_new_shape_is_still_read_right() -> None:
    stream = "".join(message(f"Event: E{n}", "Value: x") * 2 for n in range(300)).encode()

    new, old = both(stream, [])

    assert new == old and len(new) == 600


def test_a_message_longer_than_the_line_limit_is_left_to_the_line_reader() -> None:
    stream = (FULLY_BOOTED * 3).encode()

    new, old = both(stream, [], max_line_bytes=60)

    assert new == old


# --------------------------------------------------------------------------- any stream

KEYS = ["Event", "Response", "ActionID", "Queue", "queue", "Uniqueid", "ChanVariable", "Output", "Status", "K:ey", "Ä"]
VALUES = st.one_of(
    st.sampled_from(["", "1", "QueueCallerJoin", "Success", "agent,all", "a: b", "x\ry", "v\r", " padded ", "--END"]),
    st.text(max_size=12),
)


@st.composite
def lines(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["header"] * 8 + ["malformed", "empty key", "no space", "blank", "bare lf", "raw"]))
    key, value = draw(st.sampled_from(KEYS)), draw(VALUES)
    if kind == "header":
        return f"{key}: {value}\r\n".encode()
    if kind == "malformed":
        return f"{value.replace(':', '')}garbage\r\n".encode()
    if kind == "empty key":
        return f": {value}\r\n".encode()
    if kind == "no space":
        return f"{key}:\r\n".encode()
    if kind == "blank":
        return b"\r\n"
    if kind == "bare lf":
        return f"{key}: {value}\n".encode()
    return draw(st.binary(max_size=8)) + b"\r\n"


@st.composite
def streams(draw: st.DrawFn) -> bytes:
    """Messages drawn from a few templates, each repeated with fresh values, so that
    shapes are learned, captured from and sometimes almost matched."""
    templates = draw(st.lists(st.lists(lines(), min_size=1, max_size=6), min_size=1, max_size=4))
    out = []
    for index in draw(st.lists(st.integers(0, len(templates) - 1), min_size=1, max_size=14)):
        body = [line.replace(b"1", draw(st.sampled_from([b"1", b"22", b"\xe4\xb8\x89"]))) for line in templates[index]]
        out.append(b"".join(body) + b"\r\n")
    banner = draw(st.sampled_from([b"", BANNER.encode()]))
    return banner + b"".join(out)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=streams(),
    cuts=st.lists(st.integers(min_value=1, max_value=300), max_size=8),
    max_line_bytes=st.sampled_from([64 * 1024, 40]),
    max_message_lines=st.sampled_from([10_000, 3]),
)
def test_any_stream_in_any_chunking_reads_as_the_line_reader_reads_it(
    data: bytes, cuts: list[int], max_line_bytes: int, max_message_lines: int
) -> None:
    new, old = both(data, cuts, max_line_bytes=max_line_bytes, max_message_lines=max_message_lines)

    assert new == old
    for event in new:
        if isinstance(event, AmiMessage):
            assert event.first_values(READ) == first_values_by_headers(event, READ)


@given(cuts=st.lists(st.integers(min_value=1, max_value=64), max_size=200))
def test_any_chunking_of_a_repeated_session_gives_the_same_events(cuts: list[int]) -> None:
    stream = SESSION + SESSION[len(BANNER) :] * 3

    new, old = both(stream, cuts)

    assert new == old


def test_byte_by_byte_delivery_of_learned_shapes_gives_the_same_events() -> None:
    stream = SESSION + SESSION[len(BANNER) :] * 2
    new, old = both(stream, [1] * len(stream))

    assert new == old
