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

Whole messages: reading line by line costs microseconds per line in Python,
and a queue event is 20-45 lines, so the parser also learns *shapes*.
Asterisk writes every event of one kind with the same keys in the same
order; when the line reader has read the same first line and key sequence
twice, the shape is compiled into one regular expression (``FIRST LINE
\\r\\nKey2: .*\\r\\n ... \\r\\n\\r\\n``). From then on, between messages,
the complete messages at the front of the buffer are decoded at once (while
they are ASCII; otherwise each alone) and matched one after the other: a
match bounds, validates and splits a message in one pass, and the message
keeps its shape and its text, from which a value is sliced when it is read.
The expression matches only what the line reader would read as exactly that
message (CRLF lines, each ``Key: value`` with exactly those keys, no LF in a
value, then an empty line), so the two paths give equal messages; anything
else (a malformed or over-long line, a new shape, a message split across
reads, legacy ``Follows`` output) is left to the line reader. The first time
a consumer reads several headers of a shape at once (``first_values``, as
the metrics intake does for every queue event), the shape also compiles a
variant with a group around each of those values, so that later messages
come out of the match with them taken. Shapes are learned per parser and
capped in number and length, so a peer cannot make us compile without bound.

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
import operator
import re
from collections import deque
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
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
# Shapes (see the module docstring): compiled after this many sightings, at
# most this many per parser, of at most this many lines each.
_SHAPE_SIGHTINGS: Final = 2
_SHAPE_MAX_COUNT: Final = 256
_SHAPE_MAX_LINES: Final = 128
_SHAPE_MAX_TRACKED: Final = 1024


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


class AmiMessage:
    """One AMI message (response, event or action) with its headers in wire order.

    Lookups are case-insensitive, as Asterisk's own are. Where a key repeats,
    ``get``/``[]``/``as_dict`` give the *last* value, ``first`` the first one
    and ``get_all`` every one.

    Immutable; equal (and hashing equal) when the headers are. A message the
    parser matched against a known shape keeps the shape, its text and the
    values its shape captures, and splits the rest out when it is read.
    """

    __slots__ = ("_captured", "_headers", "_lines", "_shape", "_text")

    _headers: tuple[tuple[str, str], ...] | None
    _shape: _Shape | None
    _text: str
    _lines: list[str] | None
    _captured: tuple[str, ...] | None

    def __init__(
        self,
        headers: Iterable[tuple[str, str]] | None,
        _shape: _Shape | None = None,
        _text: str = "",
        _captured: tuple[str, ...] | None = None,
    ) -> None:
        # The underscored arguments are the parser's (`_of_shape`); others pass headers only.
        self._headers = None if headers is None else tuple(headers)
        self._shape = _shape
        self._text = _text
        self._lines = None
        self._captured = _captured

    @classmethod
    def _of_shape(cls, shape: _Shape, text: str, captured: tuple[str, ...] | None) -> AmiMessage:
        """A message of a known shape: ``text`` is its lines joined by CRLF,
        ``captured`` the values of ``shape.capture`` (None: not taken)."""
        return cls(None, shape, text, captured)

    @property
    def headers(self) -> tuple[tuple[str, str], ...]:
        headers = self._headers
        if headers is None:
            shape = self._shape
            assert shape is not None
            values: Iterator[str] = map(operator.getitem, self._split(), shape.value_slices)
            headers = self._headers = tuple(zip(shape.keys, values, strict=False))
        return headers

    def _split(self) -> list[str]:
        lines = self._lines
        if lines is None:
            lines = self._lines = self._text.split("\r\n")
        return lines

    def _value(self, index: int) -> str:
        # Shaped messages only: a line starts with its (ASCII) key and ": ".
        shape = self._shape
        assert shape is not None
        if index == 0:
            return shape.first_value
        return self._split()[index][shape.value_slices[index]]

    @overload
    def get(self, name: str) -> str | None: ...
    @overload
    def get(self, name: str, default: str) -> str: ...
    @overload
    def get(self, name: str, default: None) -> str | None: ...

    def get(self, name: str, default: str | None = None) -> str | None:
        wanted = name.lower()
        shape = self._shape
        if shape is not None:
            index = shape.last.get(wanted)
            return default if index is None else self._value(index)
        assert self._headers is not None
        for key, value in reversed(self._headers):
            if key.lower() == wanted:
                return value
        return default

    def first(self, name: str) -> str | None:
        """The value of the first header called ``name`` (any case), or None."""
        shape = self._shape
        if shape is not None:
            index = shape.asked.get(name)
            if index is None:
                index = shape.first_index(name)
            if index <= 0:
                return shape.first_value if index == 0 else None
            lines = self._lines
            if lines is None:
                lines = self._lines = self._text.split("\r\n")
            return lines[index][shape.value_slices[index]]
        wanted = name.lower()
        assert self._headers is not None
        for key, value in self._headers:
            if key.lower() == wanted:
                return value
        return None

    def first_values(self, names: tuple[str, ...]) -> tuple[str, ...]:
        """``first(name)`` for each name, ``""`` where a header is absent.

        One call for the several headers a consumer reads from each event: on
        a message of a known shape it costs no more than reading one.
        """
        shape = self._shape
        if shape is not None:
            captured = self._captured
            if captured is not None and names == shape.capture_names:
                return shape.capture_order(captured)
            getter, slices = shape.plan(names)
            lines = self._lines
            if lines is None:
                lines = self._lines = self._text.split("\r\n")
            if len(lines) == len(shape.keys):
                lines.append("")  # what an absent header reads as
            return tuple(map(operator.getitem, getter(lines), slices))
        return tuple("" if (value := self.first(name)) is None else value for name in names)

    def with_prefix(self, prefix: str) -> list[tuple[str, str]]:
        """Headers whose key starts with ``prefix`` (any case), in wire order."""
        wanted = prefix.lower()
        shape = self._shape
        if shape is not None:
            return [(shape.keys[i], self._value(i)) for i in shape.prefixed(wanted)]
        return [(key, value) for key, value in self.headers if key.lower().startswith(wanted)]

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
        if self._shape is not None:
            return self._shape.kind
        return _kind_of(key for key, _ in self.headers)

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

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AmiMessage):
            return NotImplemented
        return self.headers == other.headers

    def __hash__(self) -> int:
        return hash(self.headers)

    def __repr__(self) -> str:
        return f"AmiMessage(headers={self.headers!r})"


ParserEvent = AmiBanner | AmiMessage | MalformedLine

_KINDS: Final[Mapping[str, Literal["response", "event", "action"]]] = {
    "response": "response",
    "event": "event",
    "action": "action",
}


def _kind_of(keys: Iterable[str]) -> Literal["response", "event", "action", "unknown"]:
    for key in keys:
        kind = _KINDS.get(key.lower())
        if kind is not None:
            return kind
    return "unknown"


class _Shape:
    """A first line and key sequence seen before, compiled to one expression.

    ``pattern`` matches exactly the text of a message the line reader would
    read with this first line and these keys: ``first\\r\\n``, then
    ``Key: value\\r\\n`` per key (a value is anything but LF; a CR before the
    line's CRLF stays in the value, as the line reader leaves it), then
    ``\\r\\n``. The first time a consumer reads some headers of a message of
    this shape with ``first_values``, the shape also compiles ``capture``: the
    same expression with a group around each of those values, so that later
    messages come out of the match with them taken (the metrics session reads
    the same few headers of every queue event).
    """

    __slots__ = (
        "_plans",
        "_prefixed",
        "asked",
        "capture",
        "capture_names",
        "capture_order",
        "first",
        "first_value",
        "keys",
        "kind",
        "last",
        "pattern",
        "value_slices",
    )

    def __init__(self, first_line: str, keys: tuple[str, ...]) -> None:
        self.keys = keys
        self.first_value = first_line[len(keys[0]) + 2 :]
        self.pattern = self._compile(first_line, None)
        self.kind = _kind_of(keys)
        lowered = [key.lower() for key in keys]
        self.last = {key: index for index, key in enumerate(lowered)}
        self.first = {key: index for index, key in reversed(list(enumerate(lowered)))}
        self.value_slices = tuple(slice(len(key) + 2, None) for key in keys)
        self.capture: re.Pattern[str] | None = None
        self.capture_names: tuple[str, ...] | None = None
        self.capture_order: Callable[[tuple[str, ...]], tuple[str, ...]] = tuple
        self._prefixed: dict[str, tuple[int, ...]] = {}
        # first_index() answers, by the spelling asked (code asks with a few names).
        self.asked: dict[str, int] = {}
        self._plans: dict[tuple[str, ...], tuple[Callable[[list[str]], tuple[str, ...]], tuple[slice, ...]]] = {}

    def _compile(self, first_line: str, captured: Collection[int] | None) -> re.Pattern[str]:
        """The expression of this shape; with groups around the values of lines
        `captured` (then one more, empty, group) unless it is None."""
        groups = captured or ()
        if 0 in groups:
            lines = [re.escape(self.keys[0]) + ": (" + re.escape(self.first_value) + ")"]
        else:
            lines = [re.escape(first_line)]
        lines += [re.escape(key) + (": (.*)" if i in groups else ": .*") for i, key in enumerate(self.keys) if i]
        # An empty group after the message: what an absent header reads as.
        return re.compile("\r\n".join(lines) + "\r\n\r\n" + ("" if captured is None else "()"))

    def first_index(self, name: str) -> int:
        """Index of the first key equal to ``name`` in any case; -1 if none."""
        index = self.asked.get(name)
        if index is None:
            index = self.first.get(name.lower(), -1)
            if len(self.asked) < 256:
                self.asked[name] = index
        return index

    def plan(self, names: tuple[str, ...]) -> tuple[Callable[[list[str]], tuple[str, ...]], tuple[slice, ...]]:
        """How to read ``names`` from this shape's lines (see ``first_values``):
        a getter of their lines, an absent one as the extra line after the
        last, and the slice of each line that is the value. The first plan
        asked for also becomes the shape's capture."""
        found = self._plans.get(names)
        if found is None:
            indices = [self.first_index(name) for name in names]
            absent = len(self.keys)
            lines = tuple(absent if i < 0 else i for i in indices)
            slices = tuple(slice(None) if i < 0 else self.value_slices[i] for i in indices)
            found = (_getter(lines), slices)
            if len(self._plans) < 256:
                self._plans[names] = found
            if self.capture is None:
                self._capture(names, indices)
        return found

    def _capture(self, names: tuple[str, ...], indices: list[int]) -> None:
        captured = sorted({i for i in indices if i >= 0})
        first_line = f"{self.keys[0]}: {self.first_value}"
        # Group k holds line captured[k]; the last group is the empty one.
        group = {line: k for k, line in enumerate(captured)}
        absent = len(captured)
        positions = tuple(group.get(i, absent) for i in indices)
        self.capture = self._compile(first_line, captured)
        self.capture_names = names
        self.capture_order = _getter(positions)

    def prefixed(self, lowered_prefix: str) -> tuple[int, ...]:
        """Indices of the keys starting with ``lowered_prefix`` (any case)."""
        found = self._prefixed.get(lowered_prefix)
        if found is None:
            found = tuple(i for i, key in enumerate(self.keys) if key.lower().startswith(lowered_prefix))
            if len(self._prefixed) < 64:
                self._prefixed[lowered_prefix] = found
        return found


def _getter(positions: tuple[int, ...]) -> Callable[[Sequence[str]], tuple[str, ...]]:
    """``operator.itemgetter`` that always returns a tuple."""
    if len(positions) == 1:
        return partial(_one_item, positions[0])
    if not positions:
        return _no_items
    return operator.itemgetter(*positions)


def _one_item(index: int, items: Sequence[str]) -> tuple[str, ...]:
    return (items[index],)


def _no_items(items: Sequence[str]) -> tuple[str, ...]:
    return ()


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
        # Start of unread bytes for the shaped path; 0 whenever the line reader runs.
        self._pos = 0
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
        # Learned shapes by first line, and how often unlearned ones were seen.
        self._shapes: dict[str, list[_Shape]] = {}
        # Shapes match text: the complete messages at the front of the buffer,
        # decoded at once while ASCII (bytes [_region_start, _region_end)).
        self._region: str | None = None
        self._region_start = 0
        self._region_end = 0
        # Messages matched ahead in the region, in order, not yet returned.
        self._ready: deque[AmiMessage] = deque()
        self._shape_count = 0
        self._sightings: dict[tuple[str, tuple[str, ...]], int] = {}

    def receive_data(self, data: bytes) -> None:
        """Append bytes read from the socket."""
        self._compact()
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
        ready = self._ready
        if ready:
            return ready.popleft()
        if self._shapes and not (self._headers or self._expect_banner or self._follows or self._discarding):
            message = self._next_shaped()
            if message is not None:
                return message
        self._compact()
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
        return bool(self._headers) or len(self._buffer) > self._pos or self._discarding

    # -- internals -----------------------------------------------------------

    def _next_shaped(self) -> AmiMessage | None:
        """The message at the front of the buffer if it has a learned shape.

        Called between messages only. None leaves the rest to the line
        reader, which then takes at least this message's first line, so a
        message that arrives in pieces is not matched again and again.
        """
        buffer, pos = self._buffer, self._pos
        while buffer.startswith(b"\r\n", pos):  # blank lines between messages carry nothing
            pos += 2
        newline = buffer.find(b"\n", max(pos, self._scan_from))
        if newline > pos and buffer[newline - 1] == 13:  # a complete CRLF first line
            if not self._region_start <= pos < self._region_end:
                self._decode_region(pos)
            if self._region is not None:  # ASCII: a character per byte
                return self._match_region(self._region, pos)
            # Not ASCII: the message alone, decoded; a match takes all of it.
            shapes = self._shapes.get(buffer[pos : newline - 1].decode("utf-8", errors="replace"))
            end = buffer.find(b"\r\n\r\n", pos) if shapes else -1
            if shapes and 0 <= end + 4 - pos <= self._max_line_bytes:
                text = buffer[pos : end + 4].decode("utf-8", errors="replace")
                for shape in shapes:
                    capture = shape.capture
                    match = (shape.pattern if capture is None else capture).match(text)
                    if match is not None:
                        self._pos = end + 4
                        self._scan_from = 0
                        captured = None if capture is None else match.groups()
                        return AmiMessage._of_shape(shape, text[:-4], captured)
        self._pos = pos
        self._compact()
        return None

    def _match_region(self, region: str, pos: int) -> AmiMessage | None:
        """Match the shaped messages at the front of the decoded region, one after the
        other, into `_ready`; the first of them, or None (as `_next_shaped`)."""
        ready, shapes_of, limit = self._ready, self._shapes, self._max_line_bytes
        base = self._region_start
        start = pos - base
        while True:
            newline = region.find("\r\n", start)
            if newline == start:  # a blank line between messages carries nothing
                start += 2
                continue
            shapes = shapes_of.get(region[start:newline]) if newline > start else None
            if shapes is None:
                break
            for shape in shapes:
                capture = shape.capture
                match = (shape.pattern if capture is None else capture).match(region, start)
                if match is not None:
                    break
            else:
                break
            end = match.end()
            if end - start > limit:
                break  # every line of a message no longer than a line is short enough
            ready.append(
                AmiMessage._of_shape(shape, region[start : end - 4], None if capture is None else match.groups())
            )
            start = end
        self._pos = base + start
        if ready:
            self._scan_from = 0
            return ready.popleft()
        self._compact()
        return None

    def _decode_region(self, pos: int) -> None:
        """Decode the complete messages from ``pos`` on if they are ASCII (else None)."""
        buffer = self._buffer
        end = buffer.rfind(b"\r\n\r\n", pos) + 4
        chunk = buffer[pos:end]
        self._region = chunk.decode("ascii") if end > pos and chunk.isascii() else None
        self._region_start, self._region_end = pos, max(end, pos + 1)

    def _compact(self) -> None:
        if self._pos:
            del self._buffer[: self._pos]
            self._pos = 0
            self._scan_from = 0
        self._region_start = self._region_end = 0

    def _learn(self, headers: tuple[tuple[str, str], ...]) -> None:
        """Count this message's shape; compile it on its second sighting."""
        if self._shape_count >= _SHAPE_MAX_COUNT:
            return
        if not 1 <= len(headers) <= min(_SHAPE_MAX_LINES, self._max_message_lines):
            return
        key, value = headers[0]
        if key.lower() == "response" and value.lower() == "follows":
            return  # raw output follows: not "Key: value" lines
        keys = tuple(k for k, _ in headers)
        first = f"{key}: {value}"
        if not (first.isascii() and all(k.isascii() for k in keys)):
            return  # the expression matches bytes; keep it to what encodes back exactly
        known = self._shapes.get(first, [])
        if any(shape.keys == keys for shape in known):
            return  # seen again because it arrived in pieces
        sighting = (first, keys)
        seen = self._sightings.pop(sighting, 0) + 1
        if seen < _SHAPE_SIGHTINGS:
            if len(self._sightings) >= _SHAPE_MAX_TRACKED:
                self._sightings.clear()
            self._sightings[sighting] = seen
            return
        self._shapes[first] = [*known, _Shape(first, keys)]
        self._shape_count += 1

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
        size = len(self._buffer)
        # The limit excludes the line end, as for a whole line: a CR may still be waiting for its LF.
        if size <= self._max_line_bytes or (size == self._max_line_bytes + 1 and self._buffer.endswith(b"\r")):
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
        self._learn(message.headers)
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
