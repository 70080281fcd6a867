"""FastAGI server: a thin asyncio adapter over :mod:`ivr.agi.protocol`.

Theory of operation
-------------------
Each accepted connection becomes one task that the server keeps in a set
until it ends, so ``close()`` can cancel and await every call in flight and
no exception is lost. The task:

1. reads chunks (never ``readline()``: a peer must not be able to make us
   buffer an unbounded line) into an :class:`~ivr.agi.protocol.AgiConnection`
   until the header is complete, all within ``header_timeout``;
2. picks the handler by ``network_script`` (``agi://host:port/<script>``),
   binds ``uniqueid``, ``channel`` and ``line`` (the first AGI argument) to
   the structlog context, and awaits the handler with an :class:`AgiSession`;
3. always closes the socket.

Handlers only ever talk through :meth:`AgiSession.execute`: write one
command, then read until its response, each exchange bounded by
``command_timeout``; commands that wait for the caller, such as GET DATA, get
a bound derived from their own timeouts, or an explicit ``response_within``.
A ``HANGUP`` line, a 511 answer or end of file raise :class:`AgiHangup` so
handlers stop at once instead of talking to a dead channel.

When no route matches or a handler fails while Asterisk is waiting for a
command, the server writes ``FAILURE`` before closing: res_agi.c then ends
the AGI with ``AGISTATUS=FAILURE`` (a plain close would give ``SUCCESS``),
and the dialplan sends the caller to its fallback queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import re
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import Final, Self

import structlog

from ivr.agi.protocol import (
    NEED_DATA,
    AgiConnection,
    AgiProtocolError,
    AgiRequest,
    AgiResponse,
    ConnectionClosed,
    ConnectionState,
    HangupNotice,
    InvalidCommandArgument,
    RemoteProtocolError,
    validate_digits,
)
from ivr.log import get_logger

__all__ = [
    "AgiCommandError",
    "AgiCommandFailed",
    "AgiError",
    "AgiHangup",
    "AgiSession",
    "AgiTimeout",
    "FastAgiServer",
    "Handler",
]

log = get_logger(__name__)

_READ_CHUNK: Final = 4096
_CLOSE_TIMEOUT: Final = 1.0
# Written instead of a command: res_agi.c's "failure" special case.
_FAILURE_LINE: Final = b"FAILURE\n"
_DEFAULT_DIGIT_TIMEOUT_MS: Final = 10_000
_VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\([A-Za-z0-9_,.\-]*\))?")


class AgiError(Exception):
    """Base of everything an :class:`AgiSession` raises to a handler."""


class AgiHangup(AgiError):
    """The channel hung up (HANGUP line, 511 answer) or Asterisk closed the connection."""


class AgiTimeout(AgiError):
    """No response to a command within ``command_timeout``; the session is unusable."""


class AgiCommandError(AgiError):
    """Asterisk rejected a command we sent (510 unknown, 520 usage): a bug on our side."""

    def __init__(self, command: str, response: AgiResponse) -> None:
        detail = response.text if response.usage is None else f"{response.text} {response.usage}"
        super().__init__(f"{command}: {response.code} {detail}")
        self.command = command
        self.response = response


class AgiCommandFailed(AgiError):
    """The command ran but reported failure (``result=-1``), usually a hang-up in progress."""

    def __init__(self, command: str, response: AgiResponse) -> None:
        super().__init__(f"{command} failed (result={response.result})")
        self.command = command
        self.response = response


class AgiSession:
    """One call's FastAGI conversation, as seen by a route handler."""

    def __init__(
        self,
        request: AgiRequest,
        connection: AgiConnection,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        command_timeout: float,
    ) -> None:
        self.request = request
        self._conn = connection
        self._reader = reader
        self._writer = writer
        self._command_timeout = command_timeout
        self._hung_up = False

    @property
    def hung_up(self) -> bool:
        return self._hung_up

    async def execute(
        self, name: str, *args: str, response_within: float | None = None
    ) -> AgiResponse:
        """Send one command and return its response within ``response_within`` seconds.

        ``response_within`` defaults to the server's ``command_timeout``; pass a longer
        one for commands that last as long as the caller makes them (long
        prompts, digit collection, EXEC of a blocking application).

        Raises :class:`AgiHangup` (HANGUP line, 511, end of file, reset),
        :class:`AgiTimeout`, :class:`AgiCommandError` (510/520) and
        :class:`~ivr.agi.protocol.InvalidCommandArgument`. A ``result=-1``
        answer is returned as is: its meaning depends on the command.
        """
        if self._hung_up:
            raise AgiHangup(f"{name}: channel already hung up")
        if self._conn.state is ConnectionState.AWAITING_RESPONSE:
            raise AgiTimeout(f"{name}: a previous command timed out, the session cannot go on")
        # A HANGUP may already sit in the buffer, read along with the last response.
        self._raise_if_hangup_buffered()
        data = self._conn.send_command(name, *args)
        limit = self._command_timeout if response_within is None else response_within
        try:
            async with asyncio.timeout(limit):
                self._writer.write(data)
                await self._writer.drain()
                response = await self._read_response(name)
        except TimeoutError:
            raise AgiTimeout(f"{name}: no response within {limit} s") from None
        except ConnectionError as exc:
            self._hung_up = True
            raise AgiHangup(f"{name}: connection lost ({exc.__class__.__name__})") from exc
        log.debug("agi_command", command=name, code=response.code)
        if response.code == 511:
            self._hung_up = True
            raise AgiHangup(f"{name}: {response.text}")
        if response.code != 200:
            raise AgiCommandError(name, response)
        return response

    async def _read_response(self, name: str) -> AgiResponse:
        while True:
            event = self._conn.next_event()
            if event is NEED_DATA:
                self._conn.receive_data(await self._reader.read(_READ_CHUNK))
            elif isinstance(event, AgiResponse):
                return event
            elif isinstance(event, HangupNotice | ConnectionClosed):
                self._hung_up = True
                raise AgiHangup(f"{name}: {type(event).__name__}")
            else:  # AgiRequest: impossible after the header, by the state table
                raise AssertionError(f"unexpected {event!r} while awaiting a response")

    def _raise_if_hangup_buffered(self) -> None:
        event = self._conn.next_event()
        if isinstance(event, HangupNotice | ConnectionClosed):
            self._hung_up = True
            raise AgiHangup(f"{type(event).__name__} before the command was sent")

    def _checked(self, name: str, response: AgiResponse) -> AgiResponse:
        if response.failed:
            raise AgiCommandFailed(name, response)
        return response

    # -- conveniences -----------------------------------------------------------

    async def answer(self) -> None:
        self._checked("ANSWER", await self.execute("ANSWER"))

    async def stream_file(
        self, name: str, escape_digits: str = "", *, response_within: float | None = None
    ) -> str:
        """Play a sound file; return the escape digit pressed, or ``""``.

        ``response_within`` must exceed the file's duration (default ``command_timeout``).
        """
        validate_digits(escape_digits)
        response = self._checked(
            "STREAM FILE",
            await self.execute("STREAM FILE", name, escape_digits, response_within=response_within),
        )
        return _digit_from_code(response)

    async def get_data(
        self, prompt: str, timeout_ms: int, max_digits: int, *, response_within: float | None = None
    ) -> tuple[str, bool]:
        """Play ``prompt`` and collect up to ``max_digits`` DTMF digits.

        Returns ``(digits, timed_out)``; ``timed_out`` is true when the caller
        stopped typing before ``max_digits`` or ``#``. The digits may be card
        data: never log them.

        ``timeout_ms`` is Asterisk's wait for *each* digit, so a slow caller
        may take ``max_digits`` times that: the default ``response_within`` allows it,
        on top of ``command_timeout`` for the prompt.
        """
        if timeout_ms < 0 or not 1 <= max_digits <= 1024:
            raise InvalidCommandArgument(
                "GET DATA needs timeout_ms >= 0 and 1 <= max_digits <= 1024"
            )
        if response_within is None:
            # 0 asks Asterisk for its default digit timeout, a few seconds.
            per_digit = (timeout_ms or _DEFAULT_DIGIT_TIMEOUT_MS) / 1000
            response_within = self._command_timeout + max_digits * per_digit
        response = self._checked(
            "GET DATA",
            await self.execute(
                "GET DATA",
                prompt,
                str(timeout_ms),
                str(max_digits),
                response_within=response_within,
            ),
        )
        return validate_digits(response.result), response.data == "timeout"

    async def wait_for_digit(
        self, timeout_ms: int, *, response_within: float | None = None
    ) -> str | None:
        """Wait for one DTMF digit; ``None`` on timeout.

        ``timeout_ms=-1`` waits forever in Asterisk; pass ``response_within`` to bound it.
        """
        if response_within is None and timeout_ms > 0:
            response_within = self._command_timeout + timeout_ms / 1000
        response = self._checked(
            "WAIT FOR DIGIT",
            await self.execute("WAIT FOR DIGIT", str(timeout_ms), response_within=response_within),
        )
        return _digit_from_code(response) or None

    async def set_variable(self, name: str, value: str) -> None:
        _check_variable_name(name)
        await self.execute("SET VARIABLE", name, value)

    async def get_variable(self, name: str) -> str | None:
        """The variable's value, or ``None`` when it is not set."""
        _check_variable_name(name)
        response = await self.execute("GET VARIABLE", name)
        if response.result != "1":
            return None
        return response.data if response.data is not None else ""

    async def verbose(self, message: str, level: int = 1) -> None:
        await self.execute("VERBOSE", message, str(level))

    async def hangup(self) -> None:
        """Hang up the channel; a channel already gone is not an error."""
        with contextlib.suppress(AgiHangup):
            await self.execute("HANGUP")
        # Asterisk will now send HANGUP and answer 511: nothing useful is left to do.
        self._hung_up = True

    async def exec(
        self, app: str, options: str = "", *, response_within: float | None = None
    ) -> AgiResponse:
        """Run a dialplan application; raises :class:`AgiCommandFailed` if it is unknown (-2).

        ``options`` is one argument (application arguments separated by
        commas). Asterisk may substitute ``${...}`` in it: never put
        caller-supplied text there unvalidated. Blocking applications
        (Playback, Queue) need a ``response_within`` longer than they run.
        """
        args = (app, options) if options else (app,)
        response = await self.execute("EXEC", *args, response_within=response_within)
        if response.result == "-2":
            raise AgiCommandFailed(f"EXEC {app}", response)
        return response


def _digit_from_code(response: AgiResponse) -> str:
    """STREAM FILE and WAIT FOR DIGIT report a key as its character code, 0 for none."""
    code = response.result_int
    if code is None or code < 0:
        raise RemoteProtocolError(f"expected a character code, got result={response.result!r}")
    return "" if code == 0 else validate_digits(chr(code), "0123456789*#ABCD")


def _check_variable_name(name: str) -> None:
    if _VARIABLE_NAME.fullmatch(name) is None:
        raise InvalidCommandArgument(f"invalid channel variable name: {name!r}")


Handler = Callable[[AgiSession], Awaitable[None]]


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class FastAgiServer:
    """Accepts Asterisk's FastAGI connections and runs one handler per call.

    ``routes`` maps ``network_script`` (``agi://host:port/<script>``) to a
    handler; ``default_route`` catches the rest. FastAGI carries no
    authentication, so only loopback addresses are accepted unless
    ``allow_non_loopback=True``.
    """

    def __init__(
        self,
        host: str,
        port: int,
        routes: Mapping[str, Handler],
        *,
        header_timeout: float = 5.0,
        command_timeout: float = 10.0,
        default_route: Handler | None = None,
        allow_non_loopback: bool = False,
    ) -> None:
        if not allow_non_loopback and not _is_loopback(host):
            raise ValueError(
                f"FastAGI must listen on loopback only, not {host!r} "
                "(pass allow_non_loopback=True to override)"
            )
        self._host = host
        self._requested_port = port
        self._routes = dict(routes)
        self._header_timeout = header_timeout
        self._command_timeout = command_timeout
        self._default_route = default_route
        self._server: asyncio.Server | None = None
        self._sessions: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        """The bound port (the kernel's choice when 0 was asked for)."""
        if self._server is None or not self._server.sockets:
            return self._requested_port
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    @property
    def active_sessions(self) -> int:
        return len(self._sessions)

    async def start(self) -> None:
        if self._server is not None:
            raise RuntimeError("FastAGI server already started")
        self._server = await asyncio.start_server(
            self._on_connect, self._host, self._requested_port
        )
        log.info("agi_server_started", host=self._host, port=self.port)

    async def close(self) -> None:
        """Stop accepting, cancel every call in flight and wait for them to end."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        sessions = list(self._sessions)
        for task in sessions:
            task.cancel()
        await asyncio.gather(*sessions, return_exceptions=True)
        if server is not None:
            await server.wait_closed()
            log.info("agi_server_stopped", cancelled_sessions=len(sessions))

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.create_task(self._serve(reader, writer))
        self._sessions.add(task)
        task.add_done_callback(self._sessions.discard)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        try:
            await self._serve_call(reader, writer, peer)
        except Exception:
            # Last resort: a bug here must cost one call, never the server.
            log.exception("agi_session_failed", peer=str(peer))
        finally:
            writer.close()
            with contextlib.suppress(OSError, TimeoutError):
                async with asyncio.timeout(_CLOSE_TIMEOUT):
                    await writer.wait_closed()

    async def _serve_call(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: object
    ) -> None:
        conn = AgiConnection()
        try:
            async with asyncio.timeout(self._header_timeout):
                request = await _read_request(conn, reader)
        except TimeoutError:
            log.warning("agi_header_timeout", peer=str(peer), timeout=self._header_timeout)
            return
        except AgiProtocolError as exc:
            log.warning("agi_bad_header", peer=str(peer), error=str(exc))
            return
        except ConnectionError as exc:
            log.info("agi_connection_lost", peer=str(peer), error=exc.__class__.__name__)
            return
        if request is None:
            # Closed before sending anything: a port scan or a TCP health check.
            log.debug("agi_closed_before_header", peer=str(peer))
            return

        line = request.args[0] if request.args else None
        with structlog.contextvars.bound_contextvars(
            uniqueid=request.uniqueid, channel=request.channel, line=line
        ):
            handler = self._routes.get(request.network_script, self._default_route)
            if handler is None:
                log.warning("agi_unknown_route", script=request.network_script)
                await _report_failure(conn, writer)
                return
            session = AgiSession(
                request, conn, reader, writer, command_timeout=self._command_timeout
            )
            await self._run_handler(handler, session, conn, writer)

    async def _run_handler(
        self,
        handler: Handler,
        session: AgiSession,
        conn: AgiConnection,
        writer: asyncio.StreamWriter,
    ) -> None:
        log.info("agi_call_started", script=session.request.network_script)
        try:
            await handler(session)
        except AgiHangup as exc:
            log.info("agi_caller_hung_up", detail=str(exc))
        except AgiTimeout as exc:
            log.warning("agi_command_timeout", detail=str(exc))
        except RemoteProtocolError as exc:
            log.warning("agi_protocol_error", error=str(exc))
        except Exception:
            # Our own bugs land here too, LocalProtocolError included.
            log.exception("agi_handler_failed")
            if not session.hung_up:
                await _report_failure(conn, writer)
        else:
            log.info("agi_call_finished")


async def _read_request(conn: AgiConnection, reader: asyncio.StreamReader) -> AgiRequest | None:
    """Read until the header is complete; ``None`` if the peer closed before sending any."""
    while True:
        event = conn.next_event()
        if event is NEED_DATA:
            conn.receive_data(await reader.read(_READ_CHUNK))
        elif isinstance(event, AgiRequest):
            return event
        elif isinstance(event, ConnectionClosed):
            return None
        else:  # the state table allows nothing else before the header
            raise AssertionError(f"unexpected {event!r} while reading the header")


async def _report_failure(conn: AgiConnection, writer: asyncio.StreamWriter) -> None:
    """Make Asterisk end the AGI with AGISTATUS=FAILURE, if it is waiting for a command."""
    if conn.state is not ConnectionState.IDLE:
        return
    with contextlib.suppress(OSError, TimeoutError):
        async with asyncio.timeout(_CLOSE_TIMEOUT):
            writer.write(_FAILURE_LINE)
            await writer.drain()
