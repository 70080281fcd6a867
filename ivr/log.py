"""Logging setup: the one module that touches structlog's global configuration.

Every log line goes through `redact_fields` and `MaskedRenderer`, so a card
number, PIN or identity number cannot reach a log in clear even if a caller of
`log.info` passes one by mistake: sensitive keys are blanked whatever their
value, and long digit runs (card numbers, identity numbers) are masked in the
rendered line, whatever value or traceback they came from.

The console format is structlog's `ConsoleRenderer(colors=False)` text. A plain
line (no traceback, no stack) is written by `PlainConsoleRenderer`, which gives
the same text at a fraction of the cost (a property test holds it to
`ConsoleRenderer`): the FastAGI server writes one line per call, and with
`ConsoleRenderer` that line cost more than the call's own protocol work.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import contextvars
import json as jsonlib
import logging
import re
import sys
import threading
import time
from collections.abc import MutableMapping
from typing import Any, cast

import structlog

# Keys whose value is never logged, whatever it looks like.
SENSITIVE_KEYS = frozenset({"pin", "password", "secret", "card", "card_number", "pan", "id_number", "digits", "cvv"})
# 11+ digits, optionally grouped by single spaces or dashes: card numbers
# (13-19 digits), Chinese identity numbers (17 digits + check digit 0-9 or X)
# and mobile numbers (11 digits). Service numbers (5 and 10 digits) stay.
_LONG_DIGITS = re.compile(r"(?<![0-9])[0-9](?:[ -]?[0-9]){10,}[Xx]?(?![0-9])")
# A cheaper superset of `_LONG_DIGITS`: text without it has nothing to mask.
_CANDIDATE = re.compile(r"[0-9][0-9 -]{9,}[0-9]")
# The fewest characters `_LONG_DIGITS` can match: a shorter string is left as is.
_SHORTEST_MATCH = 11
# Integers from here on have 11 digits or more.
_LONG_INT = 10 ** (_SHORTEST_MATCH - 1)
REDACTED = "[redacted]"
# Values that cannot hold a digit run are passed through without a look.
_PLAIN_TYPES = (type(None), bool)


def mask_digits(text: str) -> str:
    """Mask every run of 11 or more digits, keeping only the last four."""
    if len(text) < _SHORTEST_MATCH or _CANDIDATE.search(text) is None:
        return text

    def _mask(match: re.Match[str]) -> str:
        digits = re.sub(r"[^0-9Xx]", "", match.group(0))
        return "*" * (len(digits) - 4) + digits[-4:]

    return _LONG_DIGITS.sub(_mask, text)


def _scrub_numbers(value: Any) -> Any:
    """Mask numbers of 11 digits or more, and blank sensitive keys, inside a value.

    Text is not looked at here: the rendered line is masked as a whole."""
    kind = type(value)
    if kind is str or kind in _PLAIN_TYPES:
        return value
    if isinstance(value, int | float):  # a card number passed as a number is masked like one in text
        # (as text: a masked number rendered bare would also break a JSON line)
        return mask_digits(str(value)) if abs(value) >= _LONG_INT else value
    if isinstance(value, dict):
        return {k: REDACTED if _is_sensitive(str(k)) else _scrub_numbers(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return type(value)(_scrub_numbers(v) for v in value)
    return value


# key -> whether it is sensitive; log keys are a small fixed set in practice,
# the bound keeps a program that makes up keys from growing it.
_KEY_VERDICTS: dict[str, bool] = {}
_KEY_VERDICTS_MAX = 4096


def _is_sensitive(key: str) -> bool:
    verdict = _KEY_VERDICTS.get(key)
    if verdict is None:
        verdict = key.lower() in SENSITIVE_KEYS
        if len(_KEY_VERDICTS) < _KEY_VERDICTS_MAX:
            _KEY_VERDICTS[key] = verdict
    return verdict


def redact_fields(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: blank sensitive keys, mask long numbers (at any depth).

    Digit runs in text are masked by `MaskedRenderer` on the whole line,
    which also covers reprs, tracebacks and anything else that renders as text."""
    for key, value in event_dict.items():  # values are replaced in place: the keys do not change
        if _is_sensitive(key):
            event_dict[key] = REDACTED
        elif type(value) is not str:
            scrubbed = _scrub_numbers(value)
            if scrubbed is not value:
                event_dict[key] = scrubbed
    return event_dict


class MaskedRenderer:
    """Wraps a renderer: every run of 11+ digits in the rendered line is masked.

    One regular-expression pass over the line, whatever it holds: values,
    container reprs, exception text. Lines carry no digit run that long of
    their own (timestamps and Asterisk unique ids break theirs with `-`, `:`
    and `.`), so only data passed in is masked."""

    def __init__(self, renderer: Any) -> None:
        self._renderer = renderer

    def __call__(self, logger: Any, name: str, event_dict: MutableMapping[str, Any]) -> str:
        return mask_digits(self._renderer(logger, name, event_dict))


# What ConsoleRenderer(colors=False) writes around the fixed columns.
_LEVEL_WIDTH = len("exception")  # the longest level name
_EVENT_WIDTH = 30
# Keys ConsoleRenderer gives a column or a block of their own: such lines go to it.
_SPECIAL_KEYS = frozenset({"stack", "exception", "exc_info", "logger", "logger_name"})
_QUOTED_CHARS = frozenset(" \t=\r\n\"'")


class PlainConsoleRenderer:
    """`ConsoleRenderer(colors=False)`'s exact text, written directly for plain lines.

    A line with a traceback, a stack or a logger name, or without a string event,
    timestamp and level, goes to `ConsoleRenderer` itself."""

    def __init__(self) -> None:
        self._full = structlog.dev.ConsoleRenderer(colors=False)
        self._level_cells: dict[str, str] = {}

    def __call__(self, logger: Any, name: str, event_dict: MutableMapping[str, Any]) -> str:
        timestamp = event_dict.get("timestamp")
        level = event_dict.get("level")
        event = event_dict.get("event")
        if (
            type(event) is not str
            or type(level) is not str
            or timestamp is None
            or not _SPECIAL_KEYS.isdisjoint(event_dict)
        ):
            return self._full(logger, name, event_dict)
        cell = self._level_cells.get(level)
        if cell is None:
            cell = self._level_cells.setdefault(level, "[" + level.ljust(_LEVEL_WIDTH) + "]")
        pad = _EVENT_WIDTH - len(event)
        head = f"{timestamp} {cell} {event}" if pad <= 0 else f"{timestamp} {cell} {event}{' ' * pad}"
        fields = [head]
        for key in sorted(event_dict):
            if key == "event" or key == "level" or key == "timestamp":
                continue
            value = event_dict[key]
            if type(value) is str:
                fields.append(f"{key}={repr(value) if not _QUOTED_CHARS.isdisjoint(value) else value}")
            else:
                fields.append(f"{key}={value!r}")
        return " ".join(fields).rstrip(" ")


class UtcTimestamp:
    """structlog processor: ``timestamp`` as `TimeStamper(fmt="iso", utc=True)` writes it.

    The date and time of day are formatted once a second, the microseconds per line."""

    __slots__ = ("_prefix", "_second")

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def __call__(self, _logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        now = time.time()
        second = int(now)
        if second != self._second:
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = second
        event_dict["timestamp"] = f"{self._prefix}.{int((now - second) * 1_000_000):06d}Z"
        return event_dict


class LineBatcher:
    """structlog's logger at the end of the pipeline: rendered lines written in batches.

    An ``info`` or ``debug`` line waits at most ``delay`` seconds (or until
    ``max_bytes`` are waiting), so that the lines of many calls leave in one
    ``write()`` instead of one each: with a few lines per call, that write is
    a fair share of a call's cost. A ``warning`` or worse is written at once,
    after the lines before it (order is kept). A thread without a running event
    loop (the command line, worker threads) writes every line at once. What
    waits is written at exit, and by `flush()` (the FastAGI server's, at the
    end of every call: a call that is over has all its lines in the log); a
    process killed with SIGKILL loses the lines of the calls in progress, at
    most ``delay`` seconds of them, never a warning."""

    __slots__ = ("_delay", "_file", "_lines", "_lock", "_max_bytes", "_size", "_timer_loop")

    def __init__(self, file: Any, *, delay: float = 0.2, max_bytes: int = 64 * 1024) -> None:
        self._file = file
        self._delay = delay
        self._max_bytes = max_bytes
        self._lines: list[str] = []
        self._size = 0
        # The loop a flush is scheduled on (None: none is); another loop schedules its own.
        self._timer_loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()

    def _later(self, message: str) -> None:
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        with self._lock:
            self._lines.append(message)
            self._size += len(message)
            if loop is None or self._size >= self._max_bytes:
                self._write()
            elif self._timer_loop is not loop:
                loop.call_later(self._delay, self._on_timer)
                self._timer_loop = loop

    def _now(self, message: str) -> None:
        with self._lock:
            self._lines.append(message)
            self._write()

    def _write(self) -> None:
        lines, self._lines, self._size = self._lines, [], 0
        if lines:
            lines.append("")
            self._file.write("\n".join(lines))
            self._file.flush()

    def flush(self) -> None:
        """Write what waits now (a pending timer stays: the lines after this wait for it)."""
        with self._lock:
            self._write()

    def _on_timer(self) -> None:
        with self._lock:
            self._timer_loop = None
            self._write()

    def debug(self, message: str) -> None:
        self._later(message)

    def info(self, message: str) -> None:
        self._later(message)

    def msg(self, message: str) -> None:
        self._later(message)

    def warning(self, message: str) -> None:
        self._now(message)

    def error(self, message: str) -> None:
        self._now(message)

    def critical(self, message: str) -> None:
        self._now(message)

    def exception(self, message: str) -> None:
        self._now(message)


class _SharedLogger:
    """structlog logger factory: the one `LineBatcher` for every logger."""

    def __init__(self, logger: LineBatcher) -> None:
        self._logger = logger

    def __call__(self, *args: Any) -> LineBatcher:
        return self._logger


_batcher: LineBatcher | None = None


_CONTEXT_PREFIX = structlog.contextvars.STRUCTLOG_KEY_PREFIX


def merge_call_context(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """`structlog.contextvars.merge_contextvars`, statement for statement, compiled."""
    context = contextvars.copy_context()
    for var in context:
        name = var.name
        if name.startswith(_CONTEXT_PREFIX):
            value = context[var]
            if value is not Ellipsis:
                event_dict.setdefault(name[len(_CONTEXT_PREFIX) :], value)
    return event_dict


def add_level(_logger: Any, method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """`structlog.processors.add_log_level`, compiled."""
    event_dict["level"] = "warning" if method == "warn" else "error" if method == "exception" else method
    return event_dict


def format_exc_info(logger: Any, method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """`structlog.processors.format_exc_info`, entered only for a line that has an ``exc_info``."""
    if "exc_info" not in event_dict:
        return event_dict
    formatted: MutableMapping[str, Any] = structlog.processors.format_exc_info(logger, method, event_dict)
    return formatted


def configure(level: str = "info", json: bool = False) -> None:
    """Configure structlog once, at the composition root (`ivr serve`, the CLI)."""
    renderer: Any = _json_renderer() if json else PlainConsoleRenderer()
    structlog.configure(
        processors=[
            merge_call_context,
            add_level,
            UtcTimestamp(),
            format_exc_info,
            redact_fields,
            # Tracebacks are text by now: the line is masked with them.
            MaskedRenderer(renderer),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=_line_writer(),
        cache_logger_on_first_use=False,
    )


def _fallback(value: Any) -> Any:
    """JSON for what `json` cannot encode, as structlog's JSONRenderer does: `__structlog__()`, else repr()."""
    try:
        return value.__structlog__()
    except AttributeError:
        return repr(value)


class JsonLineRenderer:
    """structlog's `JSONRenderer(ensure_ascii=False)`: its exact text, from a C encoder made once."""

    def __init__(self, encode: Any) -> None:
        self._encode = encode

    def __call__(self, logger: Any, name: str, event_dict: MutableMapping[str, Any]) -> str:
        return "".join(self._encode(event_dict, 0))


def _json_renderer() -> Any:
    serializer = _json_serializer()
    if not serializer:
        return structlog.processors.JSONRenderer(ensure_ascii=False)
    return JsonLineRenderer(_c_encoder())


def _c_encoder() -> Any:
    make: Any = getattr(jsonlib.encoder, "c_make_encoder", None)  # CPython's _json; not in typeshed
    return make(None, _fallback, jsonlib.encoder.encode_basestring, None, ": ", ", ", False, False, True)


def _json_serializer() -> dict[str, Any]:
    """JSONRenderer's arguments: `json.dumps(ensure_ascii=False)`'s exact text, from one C encoder made once.

    `json.dumps` builds a `JSONEncoder` and its C encoder for every line; that
    Python-level set-up costs more than encoding a log line. Without the C
    encoder, `json.dumps` itself."""
    if getattr(jsonlib.encoder, "c_make_encoder", None) is None:
        return {}
    encode = _c_encoder()

    def dumps(value: Any, **_options: Any) -> str:
        return "".join(encode(value, 0))

    return {"serializer": dumps}


def flush() -> None:
    """Write the log lines waiting in the batch now (`LineBatcher`), if any.

    The FastAGI server calls it when a call ends: once a call is over, its
    lines are in the log (one write per call instead of one per line)."""
    if _batcher is not None:
        _batcher.flush()


def _line_writer() -> Any:
    """Lines to stderr, in batches (`LineBatcher`; one per process, flushed at exit)."""
    global _batcher
    if _batcher is None:
        _batcher = LineBatcher(sys.stderr)
        atexit.register(_flush_at_exit)
    return _SharedLogger(_batcher)


def _flush_at_exit() -> None:
    # A stream closed before exit (a test runner's capture of stderr) has no
    # reader left: what waited for it cannot be written anywhere.
    if _batcher is not None:
        with contextlib.suppress(ValueError, OSError):
            _batcher.flush()


def bind_call(**fields: Any) -> None:
    """Add fields to every later line of the current call (its task's own context)."""
    structlog.contextvars.bind_contextvars(**fields)


class ModuleLogger:
    """What `get_logger` returns: structlog's lazy proxy, without its cost per line.

    structlog's `BoundLoggerLazyProxy` (with `cache_logger_on_first_use=False`,
    which lets `capture_logs()` and every reconfiguration reach the loggers
    made at import time) builds a bound logger and a `WriteLogger` for every
    line, more than rendering the line costs. This one keeps the logger it
    built as long as structlog's configuration holds the same objects
    (processors, logger factory, wrapper class, context class), and builds a
    new one after any `structlog.configure`. `capture_logs()` edits the
    processor list in place, which the kept logger shares. (Running the
    processors here instead of through the kept logger was tried: no faster.)"""

    __slots__ = ("_bound", "_key", "_name")

    def __init__(self, name: str) -> None:
        self._name = name
        self._bound: Any = None
        self._key: tuple[object, ...] = ()

    def _logger(self) -> Any:
        config = structlog.get_config()
        processors, factory = config["processors"], config["logger_factory"]
        wrapper, context = config["wrapper_class"], config["context_class"]
        key = self._key
        if (
            self._bound is None
            or key[0] is not processors
            or key[1] is not factory
            or key[2] is not wrapper
            or key[3] is not context
        ):
            self._bound = structlog.get_logger(self._name).bind()
            self._key = (processors, factory, wrapper, context)
        return self._bound

    def bind(self, **fields: Any) -> Any:
        """``self`` when nothing is bound (a logger that stays this cheap); else structlog's bound logger."""
        if not fields:
            return self
        return self._logger().bind(**fields)

    def is_enabled_for(self, level: int) -> bool:
        return bool(self._logger().is_enabled_for(level))

    def debug(self, event: str, **fields: Any) -> Any:
        return self._logger().debug(event, **fields)

    def info(self, event: str, **fields: Any) -> Any:
        return self._logger().info(event, **fields)

    def warning(self, event: str, **fields: Any) -> Any:
        return self._logger().warning(event, **fields)

    def error(self, event: str, **fields: Any) -> Any:
        return self._logger().error(event, **fields)

    def exception(self, event: str, **fields: Any) -> Any:
        return self._logger().exception(event, **fields)

    def critical(self, event: str, **fields: Any) -> Any:
        return self._logger().critical(event, **fields)


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    """A module's logger (see `ModuleLogger`); typed as structlog's for its callers."""
    return cast(structlog.stdlib.BoundLogger, ModuleLogger(name))
