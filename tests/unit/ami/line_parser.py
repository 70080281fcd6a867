"""The AMI parser as it was before whole-message shapes: one line at a time.

Kept verbatim (git 66ee1a8, ``ivr/ami/protocol.py``) as the reference the
shaped fast path of ``ivr.ami.protocol.AmiParser`` is compared against: any
bytes, in any chunking, must give the same events from both. It is also the
baseline of ``bench/metrics.py``. Not used by the service.
"""

from __future__ import annotations

from typing import Final

from ivr.ami.protocol import (
    DEFAULT_MAX_LINE_BYTES,
    DEFAULT_MAX_MESSAGE_LINES,
    NEED_DATA,
    AmiBanner,
    AmiMessage,
    MalformedLine,
    NeedData,
    ParserEvent,
)

__all__ = ["LineAmiParser"]

_EXCERPT_CHARS: Final = 120
_END_COMMAND: Final = "--END COMMAND--"


def _split_header(text: str) -> tuple[str, str] | None:
    key, sep, value = text.partition(": ")
    if not sep:
        # Asterisk writes "Key: " for an empty value; something in between may
        # have stripped the trailing space.
        if text.endswith(":") and len(text) > 1:
            key, value = text[:-1], ""
        else:
            return None
    if not key or key != key.strip():
        return None
    return key, value


def _excerpt(text: str) -> str:
    if len(text) <= _EXCERPT_CHARS:
        return text
    return f"{text[:_EXCERPT_CHARS]}... ({len(text)} chars)"


def _decode(raw: bytes | bytearray) -> str:
    return bytes(raw).decode("utf-8", errors="replace")


class LineAmiParser:
    """AMI reader for one connection, seen from the client side.

    Make a new parser per connection: the first line is expected to be the
    banner (pass ``expect_banner=False`` to parse a stream of actions, as a
    fake server in tests does).
    """

    def __init__(
        self,
        *,
        expect_banner: bool = True,
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
        max_message_lines: int = DEFAULT_MAX_MESSAGE_LINES,
    ) -> None:
        if max_line_bytes < 1 or max_message_lines < 1:
            raise ValueError("limits must be positive")
        self._max_line_bytes = max_line_bytes
        self._max_message_lines = max_message_lines
        self._expect_banner = expect_banner
        self._buffer = bytearray()
        # Where to resume the newline search: data trickling in byte by byte
        # must not make each search rescan the whole buffer.
        self._scan_from = 0
        # Inside a line that exceeded the limit: drop bytes up to its newline.
        self._discarding = False
        self._headers: list[tuple[str, str]] = []
        # Lines of the current message beyond the limit are dropped (reported once).
        self._truncated = False
        # Legacy "Response: Follows": raw output lines up to "--END COMMAND--".
        self._follows = False
        self._output_started = False

    def receive_data(self, data: bytes) -> None:
        """Append bytes read from the socket."""
        if self._discarding:
            newline = data.find(b"\n")
            if newline < 0:
                return
            # The rest of the over-long line ends here; resume after it.
            data = data[newline + 1 :]
            self._discarding = False
        self._buffer += data

    def next_event(self) -> ParserEvent | NeedData:
        """Parse the next banner, message or malformed line, or return ``NEED_DATA``."""
        while True:
            raw = self._pop_line()
            if raw is None:
                return self._check_partial_line()
            if len(raw) > self._max_line_bytes:
                return MalformedLine(
                    _excerpt(_decode(raw[:_EXCERPT_CHARS])),
                    f"line longer than {self._max_line_bytes} bytes",
                )
            event = self._on_line(_decode(raw))
            if event is not None:
                return event

    @property
    def in_message(self) -> bool:
        """Some lines of an unfinished message (or line) are buffered."""
        return bool(self._headers) or bool(self._buffer) or self._discarding

    # -- internals -----------------------------------------------------------

    def _pop_line(self) -> bytes | None:
        newline = self._buffer.find(b"\n", self._scan_from)
        if newline < 0:
            self._scan_from = len(self._buffer)
            return None
        line = bytes(self._buffer[:newline])
        # bytearray deletes from the front in O(1) (it moves its start pointer).
        del self._buffer[: newline + 1]
        self._scan_from = 0
        return line[:-1] if line.endswith(b"\r") else line

    def _check_partial_line(self) -> MalformedLine | NeedData:
        if len(self._buffer) <= self._max_line_bytes:
            return NEED_DATA
        excerpt = _excerpt(_decode(self._buffer[:_EXCERPT_CHARS]))
        self._buffer.clear()
        self._scan_from = 0
        self._discarding = True
        return MalformedLine(excerpt, f"line longer than {self._max_line_bytes} bytes")

    def _on_line(self, text: str) -> ParserEvent | None:
        if self._expect_banner:
            if not text:
                return None
            self._expect_banner = False
            if _split_header(text) is None:
                return AmiBanner(text)
            # No banner (a parser started mid-stream): read the line as a header.
        if self._follows:
            return self._on_follows_line(text)
        if not text:
            return self._finish_message()
        header = _split_header(text)
        if header is None:
            return MalformedLine(_excerpt(text), "no ': ' separator")
        truncated = self._append(header)
        if len(self._headers) == 1 and header[0].lower() == "response" and header[1].lower() == "follows":
            self._follows = True
            self._output_started = False
        return truncated

    def _on_follows_line(self, text: str) -> ParserEvent | None:
        if text.endswith(_END_COMMAND):
            # Output not ending in a newline is glued to the marker.
            rest = text[: -len(_END_COMMAND)]
            if rest:
                self._append(("Output", rest))
            self._follows = False
            return self._finish_message()
        header = None if self._output_started else _split_header(text)
        if header is None:
            self._output_started = True
            header = ("Output", text)
        return self._append(header)

    def _append(self, header: tuple[str, str]) -> MalformedLine | None:
        if len(self._headers) < self._max_message_lines:
            self._headers.append(header)
            return None
        if self._truncated:
            return None
        self._truncated = True
        return MalformedLine(
            _excerpt(f"{header[0]}: {header[1]}"),
            f"message longer than {self._max_message_lines} lines; rest dropped",
        )

    def _finish_message(self) -> AmiMessage | None:
        if not self._headers:
            return None  # blank lines between messages carry nothing
        message = AmiMessage(tuple(self._headers))
        self._headers = []
        self._truncated = False
        return message
