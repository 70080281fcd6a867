"""Logging setup: the one module that touches structlog's global configuration.

Every log line goes through `redact_card_data`, so a card number, PIN or
identity number cannot reach a log in clear even if a caller of `log.info`
passes one by mistake: sensitive keys are blanked whatever their value, and
long digit runs (card numbers, identity numbers) are masked in every string.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

# Keys whose value is never logged, whatever it looks like.
SENSITIVE_KEYS = frozenset({"pin", "password", "secret", "card", "card_number", "pan", "id_number", "digits", "cvv"})
# 12+ digits, optionally grouped by spaces or dashes (card numbers are 13-19
# digits, Chinese identity numbers 17 digits + check digit 0-9 or X).
_LONG_DIGITS = re.compile(r"(?<![0-9])(?:[0-9][ -]?){11,}[0-9Xx]?(?![0-9])")
REDACTED = "[redacted]"


def mask_digits(text: str) -> str:
    """Mask every run of 12 or more digits, keeping only the last four."""

    def _mask(match: re.Match[str]) -> str:
        digits = re.sub(r"[^0-9Xx]", "", match.group(0))
        return "*" * (len(digits) - 4) + digits[-4:]

    return _LONG_DIGITS.sub(_mask, text)


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return mask_digits(value)
    if isinstance(value, dict):
        return {k: REDACTED if str(k).lower() in SENSITIVE_KEYS else _scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_scrub(v) for v in value)
    return value


def redact_card_data(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: blank sensitive keys and mask long digit runs everywhere."""
    for key in list(event_dict):
        if key.lower() in SENSITIVE_KEYS:
            event_dict[key] = REDACTED
        else:
            event_dict[key] = _scrub(event_dict[key])
    return event_dict


def configure(level: str = "info", json: bool = False) -> None:
    """Configure structlog once, at the composition root (`ivr serve`, the CLI)."""
    renderer: Any = (
        structlog.processors.JSONRenderer(ensure_ascii=False) if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            # Tracebacks become text *before* redaction, so they are masked too.
            structlog.processors.format_exc_info,
            redact_card_data,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)  # type: ignore[no-any-return]
