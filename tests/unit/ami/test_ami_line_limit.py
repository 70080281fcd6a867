"""The line-length limit does not depend on where a read ends (found by bench/fuzz_parsers.py)."""

from __future__ import annotations

from ivr.ami import NEED_DATA, AmiMessage, AmiParser, ParserEvent


def events_of(chunks: list[bytes], max_line_bytes: int) -> list[ParserEvent]:
    parser = AmiParser(expect_banner=False, max_line_bytes=max_line_bytes)
    events: list[ParserEvent] = []
    for chunk in chunks:
        parser.receive_data(chunk)
        while (event := parser.next_event()) is not NEED_DATA:
            events.append(event)
    return events


def test_line_of_exactly_the_limit_is_kept_when_its_cr_and_lf_arrive_in_different_reads() -> None:
    line = b"Key: " + b"v" * 59  # 64 bytes: at the limit, not over it
    data = line + b"\r\n\r\n"

    whole = events_of([data], max_line_bytes=64)
    cr_then_lf = events_of([line + b"\r", b"\n\r\n"], max_line_bytes=64)

    assert whole == [AmiMessage([("Key", "v" * 59)])]
    assert cr_then_lf == whole


def test_line_one_byte_over_the_limit_is_refused_however_it_arrives() -> None:
    line = b"Key: " + b"v" * 60  # 65 bytes
    for chunks in ([line + b"\r\n\r\n"], [line + b"\r", b"\n\r\n"], [line, b"\r\n\r\n"]):
        events = events_of(chunks, max_line_bytes=64)
        assert [type(e).__name__ for e in events] == ["MalformedLine"], chunks
