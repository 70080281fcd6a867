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

import logging
import re
import sys
import time
from collections.abc import MutableMapping
from typing import Any

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


def configure(level: str = "info", json: bool = False) -> None:
    """Configure structlog once, at the composition root (`ivr serve`, the CLI)."""
    renderer: Any = structlog.processors.JSONRenderer(ensure_ascii=False) if json else PlainConsoleRenderer()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            UtcTimestamp(),
            structlog.processors.format_exc_info,
            redact_fields,
            # Tracebacks are text by now: the line is masked with them.
            MaskedRenderer(renderer),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.WriteLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)  # type: ignore[no-any-return]
