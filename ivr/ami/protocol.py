"""AMI (Asterisk Manager Interface) wire protocol, sans-IO: bytes in, events out.

Theory of operation
-------------------
Asterisk speaks first on a new manager connection with one banner line,
``Asterisk Call Manager/9.0.0``. From then on both directions carry *messages*:
``Key: value`` lines ended by an empty line (CRLF CRLF on the wire; a bare LF
is tolerated). We send actions (``Action:`` + ``ActionID:`` + arguments);
Asterisk sends responses (``Response:`` + the ``ActionID`` it was given) and
events (``Event:``), interleaved in any order. Keys repeat (``Output:`` lines
of a ``Command`` response, ``ChanVariable:`` lines of channel events), so a
message keeps its header pairs in order instead of a dict.

:class:`AmiParser` owns a byte buffer; ``receive_data`` only appends,
``next_event`` only parses and returns one :class:`AmiBanner`,
:class:`AmiMessage` or :class:`MalformedLine`, or ``NEED_DATA``. The AMI
session is long-lived and carries events we cannot ask for again, so a bad
line never ends the parse: it is reported as a ``MalformedLine`` and skipped,
and the message around it keeps its other headers. Limits (line length,
lines per message) bound the memory a misbehaving peer can make us hold; an
over-long line is dropped as it arrives, never buffered in full.

Text is UTF-8 (what Asterisk writes) decoded with ``errors="replace"``:
caller names can hold any bytes, and a replacement character is better than
losing the event that carries it.

Legacy ``Response: Follows`` (the ``Command`` action before Asterisk 14) is
also understood: raw output lines up to ``--END COMMAND--``, surfaced as
``Output`` headers like the modern format.

:func:`format_action` is the only way bytes for Asterisk are produced; it
refuses CR, LF and NUL anywhere, because a value such as
``"x\\r\\nAction: Originate"`` would otherwise inject a second action.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Literal, overload

__all__ = [
    "DEFAULT_MAX_LINE_BYTES",
    "DEFAULT_MAX_MESSAGE_LINES",
    "NEED_DATA",
    "AmiBanner",
    "AmiMessage",
    "AmiParser",
    "MalformedLine",
    "NeedData",
    "ParserEvent",
    "UnsafeHeader",
    "format_action",
]

# Asterisk's own lines are short, but one header can carry a long value (a
# channel variable, a Command output line); 64 KiB bounds what we buffer.
DEFAULT_MAX_LINE_BYTES: Final = 64 * 1024
# A Command response (``Output:`` per line) is the longest real message; a few
# thousand lines covers ``core show channels`` on a busy contact center.
DEFAULT_MAX_MESSAGE_LINES: Final = 10_000
_EXCERPT_CHARS: Final = 120
_END_COMMAND: Final = "--END COMMAND--"


class UnsafeHeader(ValueError):
    """A key or value cannot be written on one AMI header line (CR, LF, NUL, ':')."""


# --------------------------------------------------------------------------- events


class NeedData(enum.Enum):
    """Sentinel type: no complete event is buffered, feed more bytes."""

    NEED_DATA = enum.auto()


NEED_DATA: Final = NeedData.NEED_DATA


@dataclass(frozen=True)
class AmiBanner:
    """The first line Asterisk writes, e.g. ``Asterisk Call Manager/9.0.0``."""

    text: str

    @property
    def version(self) -> str:
        """The manager protocol version after the slash, ``""`` when absent."""
        return self.text.rpartition("/")[2] if "/" in self.text else ""


@dataclass(frozen=True)
class MalformedLine:
    """A line that is not ``Key: value`` (or is too long) and was skipped.

    ``line`` is an excerpt, at most ~120 characters, safe to log length-wise.
    """

    line: str
    reason: str


@dataclass(frozen=True)
class AmiMessage:
    """One AMI message (response, event or action) with its headers in wire order.

    Lookups are case-insensitive, as Asterisk's own are. Where a key repeats,
    ``get``/``[]``/``as_dict`` give the *last* value and ``get_all`` every one.
    """

    headers: tuple[tuple[str, str], ...]

    @overload
    def get(self, name: str) -> str | None: ...
    @overload
    def get(self, name: str, default: str) -> str: ...
    @overload
    def get(self, name: str, default: None) -> str | None: ...

    def get(self, name: str, default: str | None = None) -> str | None:
        wanted = name.lower()
        for key, value in reversed(self.headers):
            if key.lower() == wanted:
                return value
        return default

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def get_all(self, name: str) -> list[str]:
        wanted = name.lower()
        return [value for key, value in self.headers if key.lower() == wanted]

    @property
    def kind(self) -> Literal["response", "event", "action", "unknown"]:
        for key, _ in self.headers:
            kind = _KINDS.get(key.lower())
            if kind is not None:
                return kind
        return "unknown"

    @property
    def name(self) -> str:
        """The ``Event`` name, ``Response`` value or ``Action`` name; ``""`` if none."""
        kind = self.kind
        return "" if kind == "unknown" else self.get(kind, "")

    @property
    def action_id(self) -> str | None:
        return self.get("ActionID")

    def as_dict(self) -> dict[str, str]:
        """Headers as a dict keyed as on the wire; the last of repeated keys wins."""
        return dict(self.headers)

    def as_multidict(self) -> dict[str, str | list[str]]:
        """Headers as a dict; a repeated key maps to the list of its values in order.

        This is the shape ``ivr.metrics.intake.from_ami`` takes, and keeps every
        ``ChanVariable`` line.
        """
        out: dict[str, str | list[str]] = {}
        for key, value in self.headers:
            previous = out.get(key)
            if previous is None:
                out[key] = value
            elif isinstance(previous, list):
                previous.append(value)
            else:
                out[key] = [previous, value]
        return out

    def channel_variables(self, prefix: str = "") -> dict[str, str]:
        """Variables listed in manager.conf ``channelvars`` on this event.

        Asterisk 12+ writes ``ChanVariable: NAME=value`` (one line per variable,
        ``DestChanVariable`` etc. for the other channels of the event); 1.8 wrote
        ``ChanVariable(NAME): value``. Both are read; ``prefix`` picks the channel.
        """
        found: dict[str, str] = {}
        plain = f"{prefix}chanvariable".lower()
        for key, value in self.headers:
            lowered = key.lower()
            if lowered == plain:
                var, sep, val = value.partition("=")
                if sep:
                    found[var] = val
            elif lowered.startswith(plain + "(") and lowered.endswith(")"):
                found[key[len(plain) + 1 : -1]] = value
        return found

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self.headers)


ParserEvent = AmiBanner | AmiMessage | MalformedLine

_KINDS: Final[Mapping[str, Literal["response", "event", "action"]]] = {
    "response": "response",
    "event": "event",
    "action": "action",
}


# --------------------------------------------------------------------------- parser


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


class AmiParser:
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
        if (
            len(self._headers) == 1
            and header[0].lower() == "response"
            and header[1].lower() == "follows"
        ):
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


# --------------------------------------------------------------------------- output


def _check_safe(kind: str, text: str) -> None:
    for bad, label in (("\r", "CR"), ("\n", "LF"), ("\x00", "NUL")):
        if bad in text:
            raise UnsafeHeader(f"AMI header {kind} contains {label}: {text[:40]!r}")


def format_action(name: str, action_id: str, headers: Mapping[str, str | Sequence[str]]) -> bytes:
    """The bytes of one action; a sequence value repeats its key (``Variable``).

    Raises :class:`UnsafeHeader` (a ``ValueError``) for CR, LF or NUL in any
    key or value, a ``:`` or surrounding space in a key, or an ``Action`` /
    ``ActionID`` key in ``headers`` (those two are ours: pairing depends on it).
    """
    lines: list[tuple[str, str]] = [("Action", name), ("ActionID", action_id)]
    for key, value in headers.items():
        if isinstance(value, str):
            lines.append((key, value))
        else:
            lines.extend((key, item) for item in value)
    for index, (key, value) in enumerate(lines):
        # Guards a caller that ignores the annotations (an int, None).
        if not isinstance(key, str) or not isinstance(value, str):
            raise UnsafeHeader(f"AMI header {key!r} must be str: {value!r}")
        _check_safe("key", key)
        _check_safe("value", value)
        if not key or key != key.strip() or ":" in key:
            raise UnsafeHeader(f"invalid AMI header key: {key!r}")
        if index >= 2 and key.lower() in ("action", "actionid"):
            raise UnsafeHeader(f"{key!r} is set by the client, not by the caller")
    if not name or not action_id:
        raise UnsafeHeader("action name and ActionID must not be empty")
    return "".join(f"{key}: {value}\r\n" for key, value in lines).encode() + b"\r\n"
