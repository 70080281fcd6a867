"""The HTTP listener, guarded against slow and numerous clients.

Theory of operation: aiohttp closes a connection that has no complete
request `keepalive_timeout` seconds after it connected or after its last
response, whatever bytes trickle in meanwhile (its keep-alive timer is not
pushed back by data). `http_runner` sets that timeout to the header timeout,
so a client that sends a header slowly (slowloris) is dropped after it, and a
request body must arrive within the same time (`body.read_body`).

`GuardedSite` serves each connection with aiohttp's own handler, except
that the errors aiohttp answers before the app runs (a request line or a
header that is not valid HTTP) get the API's JSON error shape too; and it
caps the open connections: past the
cap a new connection gets a one-line 503 JSON answer and is closed at once,
so HTTP can never use up the file descriptors that FastAGI and AMI need on
the same process. A refusal is logged as a warning at most once per
`warn_every` seconds, with the count since the last warning.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Final

from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from ivr.log import get_logger

from .headers import SECURITY_HEADERS, SERVER

log = get_logger(__name__)

_BUSY_BODY: Final = json.dumps(
    {
        "status": 503,
        "error_id": "too_many_connections",
        "message": "the service has too many open HTTP connections; retry later",
        "details": {},
    }
).encode()
_BUSY_RESPONSE: Final = (
    b"HTTP/1.1 503 Service Unavailable\r\n"
    b"Content-Type: application/json; charset=utf-8\r\n"
    + b"".join(f"{name}: {value}\r\n".encode() for name, value in SECURITY_HEADERS.items())
    + f"Server: {SERVER}\r\nRetry-After: 5\r\nConnection: close\r\nContent-Length: {len(_BUSY_BODY)}\r\n\r\n".encode()
    + _BUSY_BODY
)


_PROTOCOL_ERRORS: Final = {
    400: ("bad_request", "the request is not valid HTTP (request line or headers)"),
    413: ("payload_too_large", "a request line or header is too large"),
    500: ("internal_error", "internal error"),
    504: ("timeout", "the request took too long"),
}


class _JsonErrorHandler(RequestHandler):
    """aiohttp's connection handler, answering the errors it finds itself (a
    request line or header that is not valid HTTP, before any route or
    middleware runs) in the API's JSON error shape, and logging a client's
    fault as one info line without its bytes (a bad header may hold a token)."""

    def handle_error(
        self, request: BaseRequest, status: int = 500, exc: BaseException | None = None, message: str | None = None
    ) -> web.StreamResponse:
        if request.writer.output_size > 0:  # some of a response went out: nothing else can be said
            raise ConnectionError("response already started")
        error_id, text = _PROTOCOL_ERRORS.get(status, ("http_error", "the request could not be served"))
        if status >= 500:
            log.error("http_protocol_error", status=status, client=request.remote, error=type(exc).__name__)
        else:
            log.info("http_bad_request", status=status, client=request.remote, error=type(exc).__name__)
        body = {"status": status, "error_id": error_id, "message": text, "details": {}}
        response = web.json_response(body, status=status, headers={**SECURITY_HEADERS, "Server": SERVER})
        response.force_close()
        return response


class _Busy(asyncio.Protocol):
    """Answers 503 and closes: the protocol of a connection past the cap."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.WriteTransport)
        transport.write(_BUSY_RESPONSE)
        transport.close()


def http_runner(app: web.Application, *, header_timeout: float) -> web.AppRunner:
    """The app's runner: no access log (it would carry query strings), the header timeout."""
    return web.AppRunner(app, access_log=None, keepalive_timeout=header_timeout)


class GuardedSite(web.BaseSite):
    def __init__(
        self, runner: web.AppRunner, host: str, port: int, *, max_connections: int, warn_every: float = 10.0
    ) -> None:
        super().__init__(runner)
        self._host, self._port = host, port
        self.max_connections = max_connections
        self.refused = 0
        self._warn_every = warn_every
        self._last_warning = 0.0
        self._refused_since_warning = 0

    @property
    def name(self) -> str:
        return f"http://{self._host}:{self._port}"

    @property
    def port(self) -> int:
        """The bound port (the requested one, or the one the system chose for port 0)."""
        assert self._server is not None and isinstance(self._server, asyncio.Server)
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None
        loop = asyncio.get_running_loop()

        def protocol() -> asyncio.BaseProtocol:
            if len(server.connections) < self.max_connections:
                return _JsonErrorHandler(server, loop=loop, **server._kwargs)
            self._count_refusal()
            return _Busy()

        self._server = await loop.create_server(protocol, self._host, self._port, reuse_address=True)

    def _count_refusal(self) -> None:
        self.refused += 1
        self._refused_since_warning += 1
        now = time.monotonic()
        if now - self._last_warning >= self._warn_every:
            log.warning(
                "http_connection_refused", reason="too_many_connections",
                max_connections=self.max_connections, refused=self._refused_since_warning,
            )  # fmt: skip
            self._last_warning, self._refused_since_warning = now, 0
