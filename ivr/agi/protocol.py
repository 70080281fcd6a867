"""FastAGI wire protocol as a sans-IO state machine: bytes in, events out.

Theory of operation
-------------------
Asterisk (res_agi.c) opens the TCP connection and speaks first: one
``agi_<key>: <value>`` line per channel attribute, then a blank line. From
then on the *script* (us) drives: it writes one command line, Asterisk runs it
and answers with one response, and so on until either side closes. Asterisk
reads exactly one command at a time and a command written while another one
runs *replaces* it (STREAM FILE and GET DATA stop and print no result), so
pipelining is a protocol error here, not an optimisation.

Two things arrive without being asked for:

* ``HANGUP`` -- written when the channel hangs up (unless ``AGISIGHUP=no``).
  It can precede the response to the command in flight; it is surfaced as a
  :class:`HangupNotice` and the response that follows is kept.
* end of file -- Asterisk closing the socket.

:class:`AgiConnection` owns a byte buffer and a state; ``receive_data`` only
appends, ``next_event`` only parses, ``send_command`` only formats and records
that a response is now awaited. Which transitions exist is spelt out in
``_TRANSITIONS``; anything else is a protocol error that names the side that
broke it (:class:`LocalProtocolError` for us, :class:`RemoteProtocolError`
for the peer). Limits on line length and header size bound the memory a
misbehaving peer can make us hold.

Text is decoded leniently (UTF-8, then GB18030, then Latin-1) because channel
attributes such as the caller name are whatever bytes the far end sent.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

__all__ = [
    "DEFAULT_MAX_HEADER_LINES",
    "DEFAULT_MAX_LINE_BYTES",
    "MAX_COMMAND_BYTES",
    "NEED_DATA",
    "AgiConnection",
    "AgiEvent",
    "AgiProtocolError",
    "AgiRequest",
    "AgiResponse",
    "ConnectionClosed",
    "ConnectionState",
    "HangupNotice",
    "InvalidCommandArgument",
    "LocalProtocolError",
    "NeedData",
    "RemoteProtocolError",
    "decode_lenient",
    "format_command",
    "validate_digits",
]

DEFAULT_MAX_HEADER_LINES: Final = 128
# Asterisk's own lines are far shorter; 8 KiB leaves room for long variable
# values in GET VARIABLE answers while bounding what a peer can make us buffer.
DEFAULT_MAX_LINE_BYTES: Final = 8192
# Asterisk reads a command with fgets() into a buffer of AGI_BUF_LEN bytes:
# 2048 until mid-2025, 8192 after. A longer line is cut and the rest is run as
# a *second* command, so refuse anything that would not fit the smaller one.
MAX_COMMAND_BYTES: Final = 2047
# Bounds the body of a multi-line (``520-``) response; real usage texts are ~20 lines.
_MAX_CONTINUATION_LINES: Final = 256
_EXCERPT_CHARS: Final = 80


# --------------------------------------------------------------------------- errors


class AgiProtocolError(Exception):
    """The FastAGI conversation cannot go on; the subclass says whose fault it is."""


class LocalProtocolError(AgiProtocolError):
    """We broke the protocol (a command at the wrong time, an unsafe argument)."""


class RemoteProtocolError(AgiProtocolError):
    """The peer broke the protocol (malformed line, limit exceeded, truncated message)."""


class InvalidCommandArgument(LocalProtocolError, ValueError):
    """A command name or argument cannot be written safely on one AGI line."""


# --------------------------------------------------------------------------- events


class NeedData(enum.Enum):
    """Sentinel type: no complete event is buffered, feed more bytes."""

    NEED_DATA = enum.auto()


NEED_DATA: Final = NeedData.NEED_DATA

_ARG_KEY = re.compile(r"arg_([1-9][0-9]*)")


@dataclass(frozen=True)
class AgiRequest:
    """The header Asterisk sends when a call enters ``AGI(agi://...)``.

    ``env`` holds every ``agi_*`` line with the prefix removed, e.g.
    ``env["uniqueid"]``, ``env["arg_1"]``.
    """

    env: Mapping[str, str]

    def _get(self, key: str) -> str:
        return self.env.get(key, "")

    @property
    def network_script(self) -> str:
        """The path after ``agi://host:port/``, without any ``?query``."""
        return self._get("network_script").partition("?")[0]

    @property
    def args(self) -> tuple[str, ...]:
        """``agi_arg_1`` .. ``agi_arg_N`` in numeric order (the AGI() application arguments)."""
        numbered = {
            int(m.group(1)): value
            for key, value in self.env.items()
            if (m := _ARG_KEY.fullmatch(key)) is not None
        }
        return tuple(numbered[n] for n in sorted(numbered))

    @property
    def uniqueid(self) -> str:
        return self._get("uniqueid")

    @property
    def channel(self) -> str:
        return self._get("channel")

    @property
    def callerid(self) -> str:
        return self._get("callerid")

    @property
    def calleridname(self) -> str:
        return self._get("calleridname")

    @property
    def extension(self) -> str:
        return self._get("extension")

    @property
    def context(self) -> str:
        return self._get("context")

    @property
    def language(self) -> str:
        return self._get("language")


@dataclass(frozen=True)
class AgiResponse:
    """One answer to one command.

    ``200 result=<result> [(<data>)] [endpos=<endpos>]``; for 510/511/520 the
    human text is in ``text`` and, for a multi-line 520, the usage body in
    ``usage``. ``result`` is kept raw: it is a number for most commands but the
    collected digits (possibly empty) for GET DATA.
    """

    code: int
    result: str = ""
    data: str | None = None
    endpos: int | None = None
    usage: str | None = None
    text: str = ""

    @property
    def ok(self) -> bool:
        """Asterisk ran the command (it may still report failure as ``result=-1``)."""
        return self.code == 200

    @property
    def result_int(self) -> int | None:
        try:
            return int(self.result)
        except ValueError:
            return None

    @property
    def failed(self) -> bool:
        """The command ran and reported failure (-1), usually because the caller hung up."""
        return self.code == 200 and self.result == "-1"

    @property
    def dead_channel(self) -> bool:
        return self.code == 511


@dataclass(frozen=True)
class HangupNotice:
    """Asterisk wrote ``HANGUP``: the channel is gone; commands now get 511."""


@dataclass(frozen=True)
class ConnectionClosed:
    """The peer closed its side at a message boundary."""


AgiEvent = AgiRequest | AgiResponse | HangupNotice | ConnectionClosed


# --------------------------------------------------------------------------- state machine


class ConnectionState(enum.Enum):
    READING_HEADER = "READING_HEADER"
    IDLE = "IDLE"
    AWAITING_RESPONSE = "AWAITING_RESPONSE"
    CLOSED = "CLOSED"
    ERROR = "ERROR"


class _Input(enum.Enum):
    HEADER_END = enum.auto()
    HANGUP_LINE = enum.auto()
    RESPONSE = enum.auto()
    EOF = enum.auto()
    SEND_COMMAND = enum.auto()


_S = ConnectionState
_TRANSITIONS: Final[Mapping[tuple[ConnectionState, _Input], ConnectionState]] = {
    (_S.READING_HEADER, _Input.HEADER_END): _S.IDLE,
    (_S.READING_HEADER, _Input.EOF): _S.CLOSED,
    (_S.IDLE, _Input.SEND_COMMAND): _S.AWAITING_RESPONSE,
    (_S.IDLE, _Input.HANGUP_LINE): _S.IDLE,
    (_S.IDLE, _Input.EOF): _S.CLOSED,
    (_S.AWAITING_RESPONSE, _Input.HANGUP_LINE): _S.AWAITING_RESPONSE,
    (_S.AWAITING_RESPONSE, _Input.RESPONSE): _S.IDLE,
    (_S.AWAITING_RESPONSE, _Input.EOF): _S.CLOSED,
}

_RESPONSE_LINE = re.compile(r"([0-9]{3})([ -])(.*)", re.DOTALL)
_RESULT = re.compile(r"result=(\S*)(.*)", re.DOTALL)
_ENDPOS = re.compile(r"(.*?)\s*\bendpos=(-?[0-9]+)\s*", re.DOTALL)
_HEADER_KEY = re.compile(r"agi_([A-Za-z0-9_]+)")


def decode_lenient(raw: bytes) -> str:
    """Decode bytes of unknown charset without ever failing.

    UTF-8 first (what Asterisk itself produces), GB18030 next (GBK caller
    names from Chinese carriers), Latin-1 last because it maps every byte.
    """
    for encoding in ("utf-8", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    return raw.decode("latin-1")


def _excerpt(raw: bytes | str) -> str:
    """A short, escaped, loggable rendering of an offending line."""
    text = raw if isinstance(raw, str) else decode_lenient(raw)
    shown = text[:_EXCERPT_CHARS]
    suffix = f"... ({len(text)} chars)" if len(text) > _EXCERPT_CHARS else ""
    return repr(shown) + suffix


class AgiConnection:
    """FastAGI state for one connection, seen from the script (server) side."""

    def __init__(
        self,
        *,
        max_header_lines: int = DEFAULT_MAX_HEADER_LINES,
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    ) -> None:
        self._max_header_lines = max_header_lines
        self._max_line_bytes = max_line_bytes
        self._state = ConnectionState.READING_HEADER
        self._buffer = bytearray()
        # Where to resume the newline search: data trickling in byte by byte
        # must not make each search rescan the whole buffer.
        self._scan_from = 0
        self._eof = False
        self._header: dict[str, str] = {}
        self._header_lines = 0
        # Lines of a multi-line response received so far (first line included).
        self._continuation: list[str] | None = None
        self._error: RemoteProtocolError | None = None

    @property
    def state(self) -> ConnectionState:
        return self._state

    @property
    def eof_received(self) -> bool:
        return self._eof

    # -- input ---------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Append bytes read from the socket; ``b""`` means the peer closed."""
        if self._eof:
            raise LocalProtocolError("data received after end of file")
        if data:
            self._buffer += data
        else:
            self._eof = True

    def next_event(self) -> AgiEvent | NeedData:
        """Parse the next event from the buffer, or return ``NEED_DATA``."""
        if self._error is not None:
            raise self._error
        if self._state is ConnectionState.CLOSED:
            return ConnectionClosed()
        try:
            return self._next_event()
        except RemoteProtocolError as exc:
            self._state = ConnectionState.ERROR
            self._error = exc
            raise

    def _next_event(self) -> AgiEvent | NeedData:
        while True:
            line = self._pop_line()
            if line is None:
                if not self._eof:
                    return NEED_DATA
                return self._on_eof()
            event = self._on_line(line)
            if event is not None:
                return event

    # -- output --------------------------------------------------------------

    def send_command(self, name: str, *args: str) -> bytes:
        """Format a command and record that its response is awaited.

        Returns the bytes to write; nothing is sent by this class.
        """
        if self._state is not ConnectionState.IDLE:
            raise LocalProtocolError(
                f"cannot send {name!r} in state {self._state.value}: AGI allows one "
                "command at a time, only after the header"
            )
        data = format_command(name, *args)
        self._transition(_Input.SEND_COMMAND)
        return data

    # -- internals -----------------------------------------------------------

    def _transition(self, what: _Input) -> None:
        new = _TRANSITIONS.get((self._state, what))
        if new is None:
            error = LocalProtocolError if what is _Input.SEND_COMMAND else RemoteProtocolError
            raise error(f"{what.name} not allowed in state {self._state.value}")
        self._state = new

    def _pop_line(self) -> bytes | None:
        newline = self._buffer.find(b"\n", self._scan_from)
        if newline < 0:
            self._scan_from = len(self._buffer)
            if len(self._buffer) > self._max_line_bytes:
                raise RemoteProtocolError(
                    f"line longer than {self._max_line_bytes} bytes: "
                    f"{_excerpt(bytes(self._buffer[:_EXCERPT_CHARS]))}..."
                )
            return None
        if newline > self._max_line_bytes:
            raise RemoteProtocolError(
                f"line longer than {self._max_line_bytes} bytes: "
                f"{_excerpt(bytes(self._buffer[:_EXCERPT_CHARS]))}..."
            )
        line = bytes(self._buffer[:newline])
        del self._buffer[: newline + 1]
        self._scan_from = 0
        # Asterisk ends lines with LF; tolerate CRLF from test tools and proxies.
        return line[:-1] if line.endswith(b"\r") else line

    def _on_eof(self) -> AgiEvent:
        if self._buffer:
            raise RemoteProtocolError(
                f"connection closed in the middle of a line: {_excerpt(bytes(self._buffer))}"
            )
        if self._state is ConnectionState.READING_HEADER and self._header_lines:
            raise RemoteProtocolError(
                f"connection closed after {self._header_lines} header lines, before the blank line"
            )
        if self._continuation is not None:
            raise RemoteProtocolError(
                f"connection closed inside a multi-line response: {_excerpt(self._continuation[0])}"
            )
        self._transition(_Input.EOF)
        return ConnectionClosed()

    def _on_line(self, line: bytes) -> AgiEvent | None:
        if self._state is ConnectionState.READING_HEADER:
            return self._on_header_line(line)
        if self._continuation is not None:
            return self._on_continuation_line(decode_lenient(line))
        if line == b"HANGUP":
            self._transition(_Input.HANGUP_LINE)
            return HangupNotice()
        if self._state is ConnectionState.IDLE:
            raise RemoteProtocolError(
                f"unsolicited line while no command is pending: {_excerpt(line)}"
            )
        return self._on_response_line(decode_lenient(line))

    def _on_header_line(self, line: bytes) -> AgiRequest | None:
        if not line:
            if not self._header_lines:
                raise RemoteProtocolError("empty AGI header")
            self._transition(_Input.HEADER_END)
            return AgiRequest(env=MappingProxyType(dict(self._header)))
        self._header_lines += 1
        if self._header_lines > self._max_header_lines:
            raise RemoteProtocolError(f"more than {self._max_header_lines} header lines")
        raw_key, colon, raw_value = line.partition(b":")
        key_match = _HEADER_KEY.fullmatch(decode_lenient(raw_key))
        if not colon or key_match is None:
            raise RemoteProtocolError(f"malformed AGI header line: {_excerpt(line)}")
        value = decode_lenient(raw_value)
        # Asterisk writes "key: value"; only that one separator space is syntax.
        self._header[key_match.group(1)] = value[1:] if value.startswith(" ") else value
        return None

    def _on_response_line(self, line: str) -> AgiResponse | None:
        match = _RESPONSE_LINE.fullmatch(line)
        if match is None:
            raise RemoteProtocolError(f"malformed AGI response line: {_excerpt(line)}")
        code, separator, rest = match.groups()
        if separator == "-":
            self._continuation = [line]
            return None
        response = _parse_response(int(code), rest)
        self._transition(_Input.RESPONSE)
        return response

    def _on_continuation_line(self, line: str) -> AgiResponse | None:
        assert self._continuation is not None
        first = self._continuation[0]
        code = first[:3]
        if line.startswith(code + " "):
            body = "\n".join(self._continuation[1:]).strip("\n")
            self._continuation = None
            self._transition(_Input.RESPONSE)
            return AgiResponse(code=int(code), text=first[4:], usage=body)
        if len(self._continuation) > _MAX_CONTINUATION_LINES:
            raise RemoteProtocolError(
                f"multi-line response longer than {_MAX_CONTINUATION_LINES} lines: "
                f"{_excerpt(first)}"
            )
        self._continuation.append(line)
        return None


def _parse_response(code: int, rest: str) -> AgiResponse:
    if code != 200:
        return AgiResponse(code=code, text=rest)
    match = _RESULT.fullmatch(rest)
    if match is None:
        raise RemoteProtocolError(f"200 response without result=: {_excerpt(rest)}")
    result, tail = match.groups()
    endpos: int | None = None
    if (endpos_match := _ENDPOS.fullmatch(tail)) is not None:
        tail, endpos = endpos_match.group(1), int(endpos_match.group(2))
    tail = tail.strip()
    # GET VARIABLE values may themselves contain parentheses: take the outermost pair.
    data = tail[1:-1] if tail.startswith("(") and tail.endswith(")") else tail or None
    return AgiResponse(code=200, result=result, data=data, endpos=endpos, text=rest)


# --------------------------------------------------------------------------- commands

_COMMAND_NAME = re.compile(r"[A-Za-z]+(?: [A-Za-z]+)*")
# Asterisk's parse_args() treats '"' as quote and '\' as escape; refusing both
# (instead of escaping) keeps the line unambiguous for every Asterisk version.
_FORBIDDEN = frozenset('\r\n\x00"\\')
_NEEDS_QUOTES = re.compile(r"[ \t]")


def format_command(name: str, *args: str) -> bytes:
    """Render one command line, e.g. ``format_command("GET DATA", "beep", "3000", "4")``.

    Arguments containing whitespace, and empty arguments, are wrapped in
    double quotes. Raises :class:`InvalidCommandArgument` (a ``ValueError``)
    for anything that could split or reshape the line.
    """
    if _COMMAND_NAME.fullmatch(name) is None:
        raise InvalidCommandArgument(f"invalid AGI command name: {_excerpt(name)}")
    parts = [name.upper()]
    for index, arg in enumerate(args, start=1):
        if not isinstance(arg, str):
            raise InvalidCommandArgument(f"{name} argument {index} is not a string: {arg!r}")
        bad = _FORBIDDEN.intersection(arg)
        if bad:
            raise InvalidCommandArgument(
                f"{name} argument {index} contains {sorted(bad)!r}: {_excerpt(arg)}"
            )
        parts.append(f'"{arg}"' if not arg or _NEEDS_QUOTES.search(arg) else arg)
    line = (" ".join(parts) + "\n").encode("utf-8")
    if len(line) > MAX_COMMAND_BYTES:
        raise InvalidCommandArgument(
            f"{name} command is {len(line)} bytes; Asterisk reads at most {MAX_COMMAND_BYTES}"
        )
    return line


def validate_digits(digits: str, alphabet: str = "0123456789*#") -> str:
    """Return ``digits`` unchanged if every character is in ``alphabet``, else raise.

    For caller-supplied DTMF that goes back into a command (escape digits,
    values stored in channel variables).
    """
    bad = set(digits) - set(alphabet)
    if bad:
        # The digits themselves may be card data: name only the offending characters.
        raise InvalidCommandArgument(
            f"digits contain characters outside {alphabet!r}: {sorted(map(repr, bad))}"
        )
    return digits
