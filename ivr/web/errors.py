"""HTTP API errors: one exception type, a stable `error_id` per failure, one JSON shape.

Theory of operation: handlers and the other `ivr.web` middlewares raise
`ApiError` (or one of the subclasses below, one per stable `error_id`); they
never build error responses themselves. `error_middleware`, the outermost
middleware, turns three kinds of failure into the same body, as wazo-calld does:

    {"status": 404, "error_id": "not_found", "message": "...", "details": {...}}

1. `ApiError`: rendered as is (its headers too, e.g. `WWW-Authenticate`).
2. aiohttp's `HTTPException` with status >= 400, raised by the router (404, 405)
   or by aiohttp itself (413): mapped to the matching `ApiError`.
3. Anything else: a 500 `internal_error` whose message is fixed. The exception
   text and traceback go to the log only, under a fresh `correlation_id` that
   is also returned (body `details.correlation_id` and `X-Correlation-Id`
   header), so an operator can find the log line from a user's report without
   the user ever seeing internals.

`error_id` values are part of the API contract: clients branch on them, so they
never change; `message` is for humans and may.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler
from pydantic import BaseModel, Field, ValidationError

from ivr.log import get_logger, mask_digits

log = get_logger(__name__)

CORRELATION_HEADER = "X-Correlation-Id"


class ErrorBody(BaseModel):
    """The JSON body of every error response (also published in the OpenAPI spec)."""

    status: int
    error_id: str
    message: str
    details: dict[str, Any] = Field(default_factory=dict)


class ApiError(Exception):
    """An HTTP error with a stable `error_id`; raise it from handlers and middlewares."""

    def __init__(
        self,
        status: int,
        error_id: str,
        message: str,
        details: Mapping[str, Any] | None = None,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {error_id}: {message}")
        self.status = status
        self.error_id = error_id
        self.message = message
        self.details: dict[str, Any] = dict(details or {})
        self.headers: dict[str, str] = dict(headers or {})

    def body(self) -> ErrorBody:
        return ErrorBody(status=self.status, error_id=self.error_id, message=self.message, details=self.details)

    def response(self) -> web.Response:
        return web.json_response(text=self.body().model_dump_json(), status=self.status, headers=self.headers)


class InvalidJson(ApiError):
    """The body is not JSON; details say where the parser stopped."""

    def __init__(self, reason: str, *, line: int, column: int, position: int) -> None:
        super().__init__(
            400, "invalid_json", f"request body is not valid JSON: {reason}",
            {"reason": reason, "line": line, "column": column, "position": position},
        )  # fmt: skip


class InvalidRequest(ApiError):
    """The body or query is well-formed but breaks the schema; one entry per problem."""

    def __init__(self, errors: Iterable[Mapping[str, Any]], message: str | None = None) -> None:
        listed = [dict(e) for e in errors]
        fields = ", ".join(e["field"] or "(body)" for e in listed)
        super().__init__(
            400, "invalid_request", message or f"request does not match the schema: {fields}",
            {"errors": listed},
        )  # fmt: skip

    @classmethod
    def from_validation_error(cls, exc: ValidationError, *, prefix: str = "") -> InvalidRequest:
        """Field path and reason per pydantic error; the offending input is never echoed."""
        return cls(
            {
                "field": prefix + field_path(err["loc"]),
                "loc": list(err["loc"]),
                "reason": mask_digits(err["msg"]),
                "type": err["type"],
            }
            for err in exc.errors(include_url=False, include_input=False, include_context=False)
        )


def field_path(loc: Iterable[int | str]) -> str:
    """`("members", 0, "name")` -> `members[0].name`; the body itself is ``""``."""
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


class Unauthorized(ApiError):
    """No bearer token, or one that matches no principal (RFC 6750 challenge included)."""

    def __init__(self, message: str, *, invalid_token: bool = False) -> None:
        challenge = 'Bearer realm="ivr"'
        if invalid_token:
            challenge += ', error="invalid_token"'
        super().__init__(401, "unauthorized", message, headers={"WWW-Authenticate": challenge})


class Forbidden(ApiError):
    """Authenticated, but the principal's role is below the route's requirement."""

    def __init__(self, required_role: str, role: str) -> None:
        super().__init__(
            403, "forbidden", f"this action needs the {required_role} role",
            {"required_role": required_role, "role": role},
        )  # fmt: skip


class NotFound(ApiError):
    def __init__(self, message: str = "no such resource", details: Mapping[str, Any] | None = None):
        super().__init__(404, "not_found", message, details)


class MethodNotAllowed(ApiError):
    def __init__(self, method: str, allowed: Iterable[str]) -> None:
        allowed_sorted = sorted(set(allowed))
        super().__init__(
            405, "method_not_allowed", f"{method} is not allowed here",
            {"method": method, "allowed": allowed_sorted},
            headers={"Allow": ", ".join(allowed_sorted)},
        )  # fmt: skip


class Conflict(ApiError):
    def __init__(self, message: str, details: Mapping[str, Any] | None = None) -> None:
        super().__init__(409, "conflict", message, details)


class PayloadTooLarge(ApiError):
    def __init__(self, limit: int) -> None:
        super().__init__(413, "payload_too_large", f"request body exceeds {limit} bytes", {"max_bytes": limit})


class RequestTimeout(ApiError):
    def __init__(self, seconds: float) -> None:
        super().__init__(
            408, "request_timeout", f"the request body did not arrive within {seconds:g} s",
            {"timeout_seconds": seconds}, headers={"Connection": "close"},
        )  # fmt: skip


class TooManyRequests(ApiError):
    """Too many failed authentications from this client address; retry after the window."""

    def __init__(self, retry_after: float) -> None:
        seconds = max(1, math.ceil(retry_after))
        super().__init__(
            429, "too_many_requests", f"too many failed authentications from this address; retry in {seconds} s",
            {"retry_after_seconds": seconds}, headers={"Retry-After": str(seconds)},
        )  # fmt: skip


class PbxUnavailable(ApiError):
    """The PBX (AMI) cannot take the action now; the client may retry later."""

    def __init__(self, message: str = "the PBX is unavailable", details: Mapping[str, Any] | None = None):
        super().__init__(503, "pbx_unavailable", message, details)


class InternalError(ApiError):
    """A bug: the body carries only the correlation id of the logged traceback."""

    def __init__(self, correlation_id: str) -> None:
        super().__init__(
            500, "internal_error", "internal error; quote the correlation id when reporting it",
            {"correlation_id": correlation_id}, headers={CORRELATION_HEADER: correlation_id},
        )  # fmt: skip


def _from_http_exception(request: web.Request, exc: web.HTTPException) -> ApiError:
    if isinstance(exc, web.HTTPMethodNotAllowed):
        return MethodNotAllowed(exc.method, exc.allowed_methods)
    if isinstance(exc, web.HTTPNotFound):
        return NotFound(f"no route for {request.path}")
    if isinstance(exc, web.HTTPRequestEntityTooLarge):
        return ApiError(413, "payload_too_large", "request body is too large")
    # Any other aiohttp error keeps its status; the id is derived, the reason is aiohttp's.
    error_id = exc.reason.lower().replace(" ", "_").replace("-", "_") or "http_error"
    return ApiError(exc.status, error_id, exc.reason)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Render every failure below it as an `ErrorBody`; install it outermost."""
    try:
        return await handler(request)
    except ApiError as exc:
        return exc.response()
    except web.HTTPException as exc:
        if exc.status < 400:  # redirects and the like are responses, not errors
            raise
        return _from_http_exception(request, exc).response()
    except Exception:
        correlation_id = uuid.uuid4().hex
        log.exception(
            "http_internal_error",
            correlation_id=correlation_id, method=request.method, path=request.path,
        )  # fmt: skip
        return InternalError(correlation_id).response()
