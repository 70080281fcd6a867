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
from dataclasses import dataclass, field
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
    "format_header",
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
    # agi_arg_1..N when the parser already knows them (it read them last, in order).
    known_args: tuple[str, ...] | None = field(default=None, repr=False, compare=False)

    def _get(self, key: str) -> str:
        return self.env.get(key, "")

    @property
    def network_script(self) -> str:
        """The path after ``agi://host:port/``, without any ``?query``."""
        return self._get("network_script").partition("?")[0]

    @property
    def args(self) -> tuple[str, ...]:
        """``agi_arg_1`` .. ``agi_arg_N`` in numeric order (the AGI() application arguments)."""
        if self.known_args is not None:
            return self.known_args
        numbered = {
            int(m.group(1)): value
            for key, value in self.env.items()
            if key.startswith("arg_") and (m := _ARG_KEY.fullmatch(key)) is not None
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
    # Members are singletons compared by identity: hash them the same way, in C
    # (Enum's own __hash__ is Python code, and the state table is looked up per event).
    __hash__ = object.__hash__

    READING_HEADER = "READING_HEADER"
    IDLE = "IDLE"
    AWAITING_RESPONSE = "AWAITING_RESPONSE"
    CLOSED = "CLOSED"
    ERROR = "ERROR"


class _Input(enum.Enum):
    __hash__ = object.__hash__

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
_HEADER_KEY = re.compile(rb"agi_[A-Za-z0-9_]+")
# A whole header line as the line-by-line path reads it: key, one optional space, value.
_HEADER_PAIR = re.compile(r"^agi_([A-Za-z0-9_]+): ?(.*)$", re.MULTILINE)
# The usual answer, ``200 result=<short number>`` and nothing else, parsed without
# regular expressions. Only results of one or two characters are cached (menu
# digits, 0/1/-1): longer ones may be collected card data.
_SIMPLE_200: Final = b"200 result="
_SIMPLE_CACHE_MAX_RESULT: Final = 2
_simple_responses: dict[bytes, AgiResponse] = {}
# The same answers keyed by the whole line with its LF: what the buffer holds
# when an answer arrives alone in one read, the usual case.
_simple_lines: dict[bytes, AgiResponse] = {}
# The other usual 200 shapes, printable ASCII only: ``result=<token>``, then
# optionally `` (<data>)`` and `` endpos=<n>``, single spaces. Read with one
# match instead of three; anything else takes the general parser, and a
# property test holds the two to the same result.
_COMMON_200 = re.compile(rb"200 result=([!-~]*)(?: \(([ -~]*)\))?(?: endpos=(-?[0-9]+))?")


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

    __slots__ = (
        "_buffer",
        "_continuation",
        "_eof",
        "_error",
        "_header",
        "_header_lines",
        "_max_header_lines",
        "_max_line_bytes",
        "_pos",
        "_scan_from",
        "_state",
    )

    def __init__(
        self,
        *,
        max_header_lines: int = DEFAULT_MAX_HEADER_LINES,
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    ) -> None:
        self._max_header_lines = max_header_lines
        self._max_line_bytes = max_line_bytes
        self._state = ConnectionState.READING_HEADER
        # Unparsed input is ``self._buffer[self._pos:]``. Bytes, not a bytearray:
        # a chunk that arrives when everything before it was consumed (the usual
        # case: one answer per read) becomes the buffer as is, and each line is
        # then sliced out with one copy.
        self._buffer = b""
        self._pos = 0
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

    @property
    def ready_for_command(self) -> bool:
        """Idle, nothing buffered, no end of file: a command may be sent and nothing can be missed."""
        return self._state is ConnectionState.IDLE and self._pos == len(self._buffer) and not self._eof

    @property
    def buffered_bytes(self) -> int:
        """Bytes received but not parsed yet (for flow control by the I/O layer)."""
        return len(self._buffer) - self._pos

    @property
    def buffered_data(self) -> bytes:
        """The bytes received but not parsed yet (to hand the connection over to another reader)."""
        return self._buffer[self._pos :]

    # -- input ---------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Append bytes read from the socket; ``b""`` means the peer closed."""
        if self._eof:
            raise LocalProtocolError("data received after end of file")
        if not data:
            self._eof = True
        elif self._pos == len(self._buffer):
            self._buffer = bytes(data)
            self._pos = self._scan_from = 0
        else:
            self._buffer = self._buffer[self._pos :] + data
            self._scan_from -= self._pos
            self._pos = 0

    def next_event(self) -> AgiEvent | NeedData:
        """Parse the next event from the buffer, or return ``NEED_DATA``."""
        if self._state is ConnectionState.AWAITING_RESPONSE and self._pos == 0 and self._continuation is None:
            # The usual answer, alone in the buffer: one dict look-up.
            response = _simple_lines.get(self._buffer)
            if response is not None:
                self._buffer = b""
                self._scan_from = 0
                self._state = ConnectionState.IDLE  # (AWAITING_RESPONSE, RESPONSE)
                return response
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
        if (
            self._state is ConnectionState.READING_HEADER
            and self._header_lines == 0
            and self._scan_from == self._pos
            and (request := self._whole_header()) is not None
        ):
            return request
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
        self._state = ConnectionState.AWAITING_RESPONSE  # (IDLE, SEND_COMMAND)
        return data

    # -- internals -----------------------------------------------------------

    def _transition(self, what: _Input) -> None:
        new = _TRANSITIONS.get((self._state, what))
        if new is None:
            error = LocalProtocolError if what is _Input.SEND_COMMAND else RemoteProtocolError
            raise error(f"{what.name} not allowed in state {self._state.value}")
        self._state = new

    def _pop_line(self) -> bytes | None:
        buffer, start = self._buffer, self._pos
        newline = buffer.find(b"\n", self._scan_from)
        if newline < 0:
            self._scan_from = len(buffer)
            if len(buffer) - start > self._max_line_bytes:
                raise self._line_too_long()
            return None
        if newline - start > self._max_line_bytes:
            raise self._line_too_long()
        self._pos = self._scan_from = newline + 1
        # Asterisk ends lines with LF; tolerate CRLF from test tools and proxies.
        if newline > start and buffer[newline - 1] == 0x0D:  # b"\r"
            newline -= 1
        return buffer[start:newline]

    def _whole_header(self) -> AgiRequest | None:
        """The header in one go, when it is all buffered and plainly well-formed.

        ``None`` means "take the line-by-line path", which also reports every
        error: this shortcut only ever accepts what that path would accept.
        Tried once per buffer start (``_scan_from`` moves on after a miss), so
        a header trickling in is not rescanned.
        """
        buffer, start = self._buffer, self._pos
        end = buffer.find(b"\n\n", start)
        if end < 0:
            return None
        block = buffer[start:end]
        if len(block) > self._max_line_bytes or b"\r" in block:
            return None  # some line may be too long, or end in CRLF
        try:
            text = block.decode()
        except UnicodeDecodeError:
            return None  # another charset: decoded line by line
        # One match per line exactly when every line is well-formed.
        pairs = _HEADER_PAIR.findall(text)
        if len(pairs) != text.count("\n") + 1 or len(pairs) > self._max_header_lines:
            return None
        header = dict(pairs)
        self._header = header
        self._header_lines = len(pairs)
        self._pos = self._scan_from = end + 2
        self._transition(_Input.HEADER_END)
        # Asterisk writes agi_arg_1..N last, in order: when the text says so, the
        # arguments are the last N pairs (else AgiRequest.args works them out).
        count = text.count("agi_arg_")
        known: tuple[str, ...] | None = None
        if len(header) == len(pairs):
            last = pairs[-count:] if count else []
            if all(key == f"arg_{n}" for n, (key, _) in enumerate(last, 1)):
                known = tuple(value for _, value in last)
        return AgiRequest(env=MappingProxyType(header), known_args=known)

    def _line_too_long(self) -> RemoteProtocolError:
        start = self._pos
        return RemoteProtocolError(
            f"line longer than {self._max_line_bytes} bytes: "
            f"{_excerpt(self._buffer[start : start + _EXCERPT_CHARS])}..."
        )

    def _on_eof(self) -> AgiEvent:
        if self._pos < len(self._buffer):
            raise RemoteProtocolError(
                f"connection closed in the middle of a line: {_excerpt(self._buffer[self._pos :])}"
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
        state = self._state
        if state is ConnectionState.AWAITING_RESPONSE and self._continuation is None:
            # Fast path for the usual answer; anything else takes the general route.
            if line.startswith(_SIMPLE_200):
                response = _simple_responses.get(line) or _parse_simple_200(line) or _parse_common_200(line)
                if response is not None:
                    self._state = ConnectionState.IDLE  # (AWAITING_RESPONSE, RESPONSE)
                    return response
        elif state is ConnectionState.READING_HEADER:
            return self._on_header_line(line)
        if self._continuation is not None:
            return self._on_continuation_line(decode_lenient(line))
        if line == b"HANGUP":
            self._transition(_Input.HANGUP_LINE)
            return HangupNotice()
        if state is ConnectionState.IDLE:
            raise RemoteProtocolError(f"unsolicited line while no command is pending: {_excerpt(line)}")
        return self._on_response_line(decode_lenient(line))

    def _on_header_line(self, line: bytes) -> AgiRequest | None:
        if not line:
            if not self._header_lines:
                raise RemoteProtocolError("empty AGI header")
            self._transition(_Input.HEADER_END)
            return AgiRequest(env=MappingProxyType(self._header))
        self._header_lines += 1
        if self._header_lines > self._max_header_lines:
            raise RemoteProtocolError(f"more than {self._max_header_lines} header lines")
        raw_key, colon, raw_value = line.partition(b":")
        if not colon or _HEADER_KEY.fullmatch(raw_key) is None:
            raise RemoteProtocolError(f"malformed AGI header line: {_excerpt(line)}")
        # Asterisk writes "key: value"; only that one separator space is syntax.
        if raw_value[:1] == b" ":
            raw_value = raw_value[1:]
        try:
            value = raw_value.decode()
        except UnicodeDecodeError:
            value = decode_lenient(raw_value)
        # The key matched an ASCII-only pattern.
        self._header[raw_key[4:].decode("ascii")] = value
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
                f"multi-line response longer than {_MAX_CONTINUATION_LINES} lines: {_excerpt(first)}"
            )
        self._continuation.append(line)
        return None


def _parse_simple_200(line: bytes) -> AgiResponse | None:
    """``200 result=<integer>`` exactly, as the general parser would read it; else ``None``."""
    raw = line[len(_SIMPLE_200) :]
    digits = raw[1:] if raw[:1] == b"-" else raw
    if not (digits.isdigit() and digits.isascii()):
        return None
    result = raw.decode("ascii")
    response = AgiResponse(code=200, result=result, text="result=" + result)
    if len(raw) <= _SIMPLE_CACHE_MAX_RESULT:
        # Bounded: at most 110 distinct one- or two-character integers.
        _simple_responses[line] = response
        _simple_lines[line + b"\n"] = response
    return response


def _parse_common_200(line: bytes) -> AgiResponse | None:
    """The other usual ``200`` answers (data, endpos), as the general parser reads them; else ``None``."""
    match = _COMMON_200.fullmatch(line)
    if match is None:
        return None
    result, data, endpos = match.groups()
    return AgiResponse(
        code=200,
        result=result.decode("ascii"),
        data=None if data is None else data.decode("ascii"),
        endpos=None if endpos is None else int(endpos),
        text=line[4:].decode("ascii"),
    )


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
# Any character that is forbidden or needs quotes: most arguments have none.
_SPECIAL = re.compile(r'[ \t\r\n\x00"\\]')
# Command names already validated, to their wire form; bounded, as names
# normally come from code, not from callers.
_command_names: dict[str, str] = {}
_COMMAND_NAMES_MAX: Final = 256


def format_command(name: str, *args: object) -> bytes:
    """Render one command line, e.g. ``format_command("GET DATA", "beep", "3000", "4")``.

    Arguments containing whitespace, and empty arguments, are wrapped in
    double quotes. Raises :class:`InvalidCommandArgument` (a ``ValueError``)
    for anything that could split or reshape the line.
    """
    wire_name = _command_names.get(name) if isinstance(name, str) else None
    if wire_name is None:
        if _COMMAND_NAME.fullmatch(name) is None:
            raise InvalidCommandArgument(f"invalid AGI command name: {_excerpt(name)}")
        wire_name = name.upper()
        if len(_command_names) < _COMMAND_NAMES_MAX:
            _command_names[name] = wire_name
    parts = [wire_name]
    for arg in args:
        if type(arg) is str and arg and _SPECIAL.search(arg) is None:
            parts.append(arg)
        else:
            parts.append(_checked_argument(name, len(parts), arg))
    line = (" ".join(parts) + "\n").encode("utf-8")
    if len(line) > MAX_COMMAND_BYTES:
        raise InvalidCommandArgument(f"{name} command is {len(line)} bytes; Asterisk reads at most {MAX_COMMAND_BYTES}")
    return line


def _checked_argument(name: str, index: int, arg: object) -> str:
    """The general case of one argument: refuse it, quote it or keep it."""
    if not isinstance(arg, str):
        raise InvalidCommandArgument(f"{name} argument {index} is not a string: {arg!r}")
    bad = _FORBIDDEN.intersection(arg)
    if bad:
        raise InvalidCommandArgument(f"{name} argument {index} contains {sorted(bad)!r}: {_excerpt(arg)}")
    return f'"{arg}"' if not arg or _NEEDS_QUOTES.search(arg) else arg


def format_header(env: Mapping[str, str]) -> bytes:
    """The header a request was read from, as Asterisk would send it: ``agi_<key>: <value>`` lines, a blank line.

    Parsing the result gives back ``env`` (values were decoded leniently and are sent as UTF-8).
    """
    lines = [f"agi_{key}: {value}\n" for key, value in env.items()]
    lines.append("\n")
    return "".join(lines).encode("utf-8")


_DTMF: Final = "0123456789*#"
_DTMF_SET: Final = frozenset(_DTMF)


def validate_digits(digits: str, alphabet: str = "0123456789*#") -> str:
    """Return ``digits`` unchanged if every character is in ``alphabet``, else raise.

    For caller-supplied DTMF that goes back into a command (escape digits,
    values stored in channel variables).
    """
    if alphabet == _DTMF and _DTMF_SET.issuperset(digits):
        return digits
    bad = set(digits) - set(alphabet)
    if bad:
        # The digits themselves may be card data: name only the offending characters.
        raise InvalidCommandArgument(f"digits contain characters outside {alphabet!r}: {sorted(map(repr, bad))}")
    return digits
