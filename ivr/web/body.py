"""Request and response bodies: JSON in through a pydantic model, JSON out from one.

Theory of operation: `read_json` reads at most `max_bytes` from the request
stream itself (a per-route limit, below aiohttp's app-wide `client_max_size`),
so an oversized body is refused with 413 `payload_too_large` before it is
buffered whole, and a body that trickles in is cut off with 408
`request_timeout`. The bytes are parsed with the standard `json` module rather
than `Model.model_validate_json`, so a syntax error is reported as 400
`invalid_json` with the parser's line, column and character position, distinct
from a schema error, which is 400 `invalid_request` with one entry per field
(`errors.InvalidRequest`). Neither error echoes the submitted values: a body may
hold a card number.

The content type is not checked: authentication is by bearer header, which a
browser never attaches on its own, so a form post from another site cannot
reach a handler anyway.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from .errors import InvalidJson, InvalidRequest, PayloadTooLarge, RequestTimeout

DEFAULT_MAX_BODY = 64 * 1024
DEFAULT_BODY_TIMEOUT = 10.0
M = TypeVar("M", bound=BaseModel)


# Python's json accepts NaN and Infinity; JSON does not. The parser's hook for
# them does not say where they are, so the first one outside a string is found here.
_CONSTANT_OUTSIDE_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|(NaN|-?Infinity)')


class _NotJsonConstant(ValueError):
    pass


def _reject_constant(name: str) -> Any:
    raise _NotJsonConstant(name)


def _position(text: str, pos: int) -> dict[str, int]:
    line = text.count("\n", 0, pos) + 1
    return {"line": line, "column": pos - (text.rfind("\n", 0, pos) + 1) + 1, "position": pos}


async def read_body(
    request: web.Request, max_bytes: int = DEFAULT_MAX_BODY, *, within: float = DEFAULT_BODY_TIMEOUT
) -> bytes:
    """The raw body, refusing more than `max_bytes` (declared or actually sent)
    and a body that takes longer than `within` seconds to arrive (408)."""
    if request.content_length is not None and request.content_length > max_bytes:
        raise PayloadTooLarge(max_bytes)
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(within):
            async for chunk in request.content.iter_any():
                size += len(chunk)
                if size > max_bytes:
                    raise PayloadTooLarge(max_bytes)
                chunks.append(chunk)
    except TimeoutError:
        raise RequestTimeout(within) from None
    return b"".join(chunks)


def parse_json(raw: bytes) -> Any:
    """JSON value of `raw`, or `InvalidJson` saying where parsing stopped."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise InvalidJson("body is not UTF-8", line=line, column=column, position=exc.start) from None
    if not text.strip():
        raise InvalidJson("empty body", line=1, column=1, position=0)
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise InvalidJson(exc.msg, line=exc.lineno, column=exc.colno, position=exc.pos) from None
    except _NotJsonConstant as exc:
        found = (m for m in _CONSTANT_OUTSIDE_STRINGS.finditer(text) if m.group(1))
        pos = next(found).start(1)
        raise InvalidJson(f"{exc} is not valid JSON", **_position(text, pos)) from None
    except RecursionError:
        raise InvalidJson("nested too deeply", line=1, column=1, position=0) from None
    except ValueError as exc:  # an integer past Python's digit limit (sys.int_max_str_digits)
        raise InvalidJson(f"a number cannot be read: {exc}", line=1, column=1, position=0) from None


async def read_json(request: web.Request, model: type[M], *, max_bytes: int = DEFAULT_MAX_BODY) -> M:
    """The request body validated into `model`.

    Raises `PayloadTooLarge` (413), `InvalidJson` (400) or `InvalidRequest` (400).
    """
    data = parse_json(await read_body(request, max_bytes))
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidRequest.from_validation_error(exc) from None


def read_query(request: web.Request, model: type[M]) -> M:
    """Query parameters validated into `model` (single-valued; strings coerced by pydantic)."""
    try:
        return model.model_validate(dict(request.query))
    except ValidationError as exc:
        raise InvalidRequest.from_validation_error(exc) from None


def model_response(body: BaseModel, *, status: int = 200) -> web.Response:
    """A JSON response serialised by pydantic (datetimes, enums, aliases as declared)."""
    return web.json_response(text=body.model_dump_json(by_alias=True), status=status)
