"""FastAGI server: a thin asyncio adapter over :mod:`ivr.agi.protocol`.

Theory of operation
-------------------
Each accepted connection gets an :class:`_AgiStream`, an asyncio protocol
that feeds every chunk the socket delivers (``data_received``, never
``readline()``: a peer must not be able to make us buffer an unbounded line)
straight into an :class:`~ivr.agi.protocol.AgiConnection`. On asyncio's own
loop it is a ``BufferedProtocol`` reading into one shared buffer; on uvloop a
plain protocol (see the two classes). The server keeps every open
connection in a set, so ``close()`` can cancel and await every call in
flight. Per connection:

1. the header is parsed in the protocol callbacks themselves, within
   ``header_timeout``; no task exists yet, so a port scan, a health check or
   a peer that never finishes its header costs a few callbacks;
2. once the header is complete, one task runs the call: it picks the handler
   by ``network_script`` (``agi://host:port/<script>``), binds ``uniqueid``,
   ``channel`` and ``line`` (the first AGI argument) to the structlog
   context, and awaits the handler with an :class:`AgiSession`; with an
   :class:`~ivr.agi.auth.AgiAuth`, the header's token is checked before (no
   task, no hand-over yet): a call without a valid one gets ``FAILURE`` and
   is closed, whatever its script;
3. the socket is always closed at the end (and aborted if the peer does not
   take our last bytes within a second).

Handlers only ever talk through :meth:`AgiSession.execute`: write one
command, then await its response, each exchange bounded by
``command_timeout``; commands that wait for the caller, such as GET DATA, get
a bound derived from their own timeouts, or an explicit ``response_within``.
The task awaits one bare future per command, which ``data_received``
resolves with the next parsed event (so a response split over several reads
wakes the task once); the deadline is one timer per connection, re-armed
lazily (a command that ends before the current timer fires only moves the
deadline). A ``HANGUP`` line, a 511 answer or end of file raise
:class:`AgiHangup` so handlers stop at once instead of talking to a dead
channel. While no command is pending, bytes are buffered, not parsed; past
64 KiB the socket is no longer read until the next command.

When no route matches or a handler fails while Asterisk is waiting for a
command, the server writes ``FAILURE`` before closing: res_agi.c then ends
the AGI with ``AGISTATUS=FAILURE`` (a plain close would give ``SUCCESS``),
and the dialplan sends the caller to its fallback queue.

Several processes: with ``reuse_port=True`` worker processes bind the same
port (`bench/agi_pool.py`); a worker hands the calls it must not serve over
to the pool's process (:class:`Handover`, :meth:`FastAgiServer.adopt`).

Logging: the server's logger is bound once; the call's fields come from
contextvars. One ``info`` line ends each call (the start and each command
are ``debug``, and whether debug is on is checked once, at start):
``agi_call_finished``, or ``agi_caller_hung_up`` naming the command that saw
the hang-up, whichever command it was and however res_agi.c said it (see
:class:`AgiSession`); a flow adds where the caller was by binding fields to
the call's context before the hang-up reaches the server. Warnings and errors
are for faults only (timeouts, protocol errors, our bugs). The lines a call
wrote are flushed when it ends (:func:`ivr.log.flush`).

Metrics: :class:`~ivr.agi.stats.AgiStats` counts sessions, faults and
hang-ups per script and times every command (``FastAgiServer.stats``,
exposed by :mod:`ivr.agi.prometheus`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import logging
import re
import socket
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final, Self, cast

import structlog

from ivr.agi.auth import AgiAuth
from ivr.agi.protocol import (
    NEED_DATA,
    AgiConnection,
    AgiEvent,
    AgiProtocolError,
    AgiRequest,
    AgiResponse,
    ConnectionClosed,
    ConnectionState,
    HangupNotice,
    InvalidCommandArgument,
    RemoteProtocolError,
    format_header,
    validate_digits,
)
from ivr.agi.stats import AgiStats
from ivr.log import flush as flush_logs
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
    "Handover",
]

log = get_logger(__name__)

# Largest single read; Asterisk's lines are far shorter.
_READ_CHUNK: Final = 64 * 1024
_CLOSE_TIMEOUT: Final = 1.0
# Bytes held unparsed while no command is pending before the socket is no longer read.
_MAX_IDLE_BUFFER: Final = 64 * 1024
# Written instead of a command: res_agi.c's "failure" special case.
_FAILURE_LINE: Final = b"FAILURE\n"
_DEFAULT_DIGIT_TIMEOUT_MS: Final = 10_000
# How long a result=-1 waits for the HANGUP line before the channel is probed.
_HANGUP_GRACE: Final = 0.25
_VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\([A-Za-z0-9_,.\-]*\))?")
# Variable names already checked; bounded, as names come from code, not from callers.
_variable_names: set[str] = set()
_VARIABLE_NAMES_MAX: Final = 256

# What the call's task is waiting for (_AgiStream._waiting_for).
_NOTHING: Final = 0
_EVENT: Final = 1
_DRAIN: Final = 2


class AgiError(Exception):
    """Base of everything an :class:`AgiSession` raises to a handler."""


class AgiHangup(AgiError):
    """The channel hung up: a HANGUP line, a 511 answer, the end of the connection, or a
    ``result=-1`` that a probe of the channel (CHANNEL STATUS) showed to be a hang-up.

    Not an error: callers hang up whenever they like. ``command`` is the command
    that saw it."""

    def __init__(self, message: str, command: str = "") -> None:
        super().__init__(message)
        self.command = command


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
    """The command ran and reported failure (``result=-1``, EXEC's -2) on a live channel: a fault.

    (A -1 because the caller hung up raises :class:`AgiHangup` instead.)"""

    def __init__(self, command: str, response: AgiResponse) -> None:
        super().__init__(f"{command} failed (result={response.result})")
        self.command = command
        self.response = response


class AgiSession:
    """One call's FastAGI conversation, as seen by a route handler.

    Hang-ups: every command raises :class:`AgiHangup` once the channel is
    gone, whatever way res_agi.c says so. A HANGUP line, a 511 answer and the
    end of the connection say it plainly. A ``result=-1`` does not: ANSWER,
    STREAM FILE, GET DATA, WAIT FOR DIGIT and EXEC print it both when the
    channel hung up during the command and for a fault (a missing prompt, an
    application that failed). So after a -1, one CHANNEL STATUS is sent (not
    allowed on a dead channel): res_agi.c has by then seen the hang-up, written
    HANGUP (unless ``AGISIGHUP=no``) and answers 511, which raises
    :class:`AgiHangup`; on a live channel it answers 200 and the -1 is a fault
    (:class:`AgiCommandFailed`). Before probing, the session waits up to
    ``_HANGUP_GRACE`` for the HANGUP line res_agi.c writes right after a -1 of
    a hang-up: then no probe is sent at all.
    """

    def __init__(
        self,
        request: AgiRequest,
        stream: _AgiStream,
        *,
        command_timeout: float,
        logger: Any = None,
        log_commands: bool | None = None,
        stats: AgiStats | None = None,
    ) -> None:
        self.request = request
        self._stream = stream
        self._conn = stream.conn
        self._command_timeout = command_timeout
        self._hung_up = False
        # Why the session saw the channel go (the caller, not our own HANGUP), if it did.
        self._hangup: AgiHangup | None = None
        self._log = log if logger is None else logger
        # Per-command lines are debug: decided once (by the server), not per command.
        self._log_commands = _debug_enabled(self._log) if log_commands is None else log_commands
        self._stats = stats

    @property
    def hung_up(self) -> bool:
        return self._hung_up

    @property
    def caller_hangup(self) -> AgiHangup | None:
        """How the session learnt that the caller hung up, or ``None``: it did not (or we hung up)."""
        return self._hangup

    def _gone(self, message: str, command: str) -> AgiHangup:
        """The exception to raise; the session keeps a twin that is never raised.

        A raised exception carries its traceback, whose frames hold this
        session: keeping that one would tie the session, its connection and
        the call's frames into a cycle that only the garbage collector's full
        pass frees (~12.6 KiB a call, hundreds of calls at a time in the soak)."""
        self._hung_up = True
        if self._hangup is None:
            self._hangup = AgiHangup(message, command)
        return AgiHangup(message, command)

    async def execute(self, name: str, *args: str, response_within: float | None = None) -> AgiResponse:
        """Send one command and return its response within ``response_within`` seconds.

        ``response_within`` defaults to the server's ``command_timeout``; pass a longer
        one for commands that last as long as the caller makes them (long
        prompts, digit collection, EXEC of a blocking application).

        Raises :class:`AgiHangup` (HANGUP line, 511, end of file, reset),
        :class:`AgiTimeout`, :class:`AgiCommandError` (510/520) and
        :class:`~ivr.agi.protocol.InvalidCommandArgument`. A ``result=-1``
        answer is returned as is: its meaning depends on the command (the
        conveniences below tell a hang-up from a fault).
        """
        if self._hung_up:
            raise AgiHangup(f"{name}: channel already hung up", name)
        conn = self._conn
        if not conn.ready_for_command:
            if conn.state is ConnectionState.AWAITING_RESPONSE:
                raise AgiTimeout(f"{name}: a previous command timed out, the session cannot go on")
            # A HANGUP may already sit in the buffer, read along with the last response.
            self._raise_if_hangup_buffered(name)
        # From here on nothing complete is buffered: exchange() relies on it.
        data = conn.send_command(name, *args)
        limit = self._command_timeout if response_within is None else response_within
        stats = self._stats
        started = time.perf_counter() if stats is not None else 0.0
        try:
            event = await self._stream.exchange(data, limit)
        except TimeoutError:
            raise AgiTimeout(f"{name}: no response within {limit} s") from None
        except ConnectionError as exc:
            raise self._gone(f"{name}: connection lost ({exc.__class__.__name__})", name) from exc
        if stats is not None:
            stats.observe(stats.command_index(name), time.perf_counter() - started)
        if type(event) is AgiResponse and event.code == 200:
            if self._log_commands:
                self._log.debug("agi_command", command=name, code=200)
            return event
        if not isinstance(event, AgiResponse):
            if isinstance(event, HangupNotice | ConnectionClosed):
                raise self._gone(f"{name}: {type(event).__name__}", name)
            # AgiRequest: impossible after the header, by the state table
            raise AssertionError(f"unexpected {event!r} while awaiting a response")
        if self._log_commands:
            self._log.debug("agi_command", command=name, code=event.code)
        if event.code == 511:
            raise self._gone(f"{name}: {event.text}", name)
        if event.code != 200:
            raise AgiCommandError(name, event)
        return event

    def _raise_if_hangup_buffered(self, name: str) -> None:
        event = self._conn.next_event()
        if isinstance(event, HangupNotice | ConnectionClosed):
            raise self._gone(f"{name}: {type(event).__name__} before the command was sent", name)

    async def _checked(self, name: str, response: AgiResponse) -> AgiResponse:
        if response.failed:
            await self._raise_if_hung_up(name)
            raise AgiCommandFailed(name, response)
        return response

    async def _raise_if_hung_up(self, name: str) -> None:
        """After ``name`` answered -1: :class:`AgiHangup` when the channel is gone (see the class)."""
        if self._conn.ready_for_command:
            # On a hang-up, res_agi.c writes HANGUP (or closes) right after the -1, in a
            # segment of its own: waiting for it a moment saves both processes the
            # probe's exchange. Only a fault (the channel is up) waits it out.
            try:
                event = await self._stream.exchange(b"", _HANGUP_GRACE)
            except TimeoutError:
                event = None
            except ConnectionError as exc:
                raise self._gone(f"{name}: result=-1, then connection lost", name) from exc
            if isinstance(event, HangupNotice | ConnectionClosed):
                raise self._gone(f"{name}: result=-1, then {type(event).__name__}", name)
        try:
            await self.execute("CHANNEL STATUS")
        except AgiHangup as hangup:
            # The probe is ours: the hang-up is what `name`'s -1 meant (the session's
            # record of it was made by this probe: a session that had hung up sends none).
            hangup.command = name
            if self._hangup is not None:
                self._hangup.command = name
            raise

    # -- conveniences -----------------------------------------------------------

    async def answer(self) -> None:
        await self._checked("ANSWER", await self.execute("ANSWER"))

    async def stream_file(self, name: str, escape_digits: str = "", *, response_within: float | None = None) -> str:
        """Play a sound file; return the escape digit pressed, or ``""``.

        ``response_within`` must exceed the file's duration (default ``command_timeout``).
        Raises :class:`AgiCommandFailed` when the channel is up but the file
        could not be played (missing), :class:`AgiHangup` when the caller hung up.
        """
        validate_digits(escape_digits)
        response = await self._checked(
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
            raise InvalidCommandArgument("GET DATA needs timeout_ms >= 0 and 1 <= max_digits <= 1024")
        if response_within is None:
            # 0 asks Asterisk for its default digit timeout, a few seconds.
            per_digit = (timeout_ms or _DEFAULT_DIGIT_TIMEOUT_MS) / 1000
            response_within = self._command_timeout + max_digits * per_digit
        response = await self._checked(
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

    async def wait_for_digit(self, timeout_ms: int, *, response_within: float | None = None) -> str | None:
        """Wait for one DTMF digit; ``None`` on timeout.

        ``timeout_ms=-1`` waits forever in Asterisk; pass ``response_within`` to bound it.
        """
        if response_within is None and timeout_ms > 0:
            response_within = self._command_timeout + timeout_ms / 1000
        response = await self._checked(
            "WAIT FOR DIGIT",
            await self.execute("WAIT FOR DIGIT", str(timeout_ms), response_within=response_within),
        )
        return _digit_from_code(response) or None

    async def set_variable(self, name: str, value: str) -> None:
        _check_variable_name(name)
        await self.execute("SET VARIABLE", name, value)

    async def set_variables(self, pairs: Sequence[tuple[str, str]]) -> None:
        """Set several channel variables (or functions), in order, in one exchange when it is safe.

        One ``EXEC MSet(name1=value1,name2=value2,...)`` instead of one SET
        VARIABLE each: every exchange costs both processes a wake-up and a
        loopback write, which is most of a short command's cost. MSet splits
        on commas and the first ``=`` and Asterisk substitutes ``${...}`` in
        EXEC arguments, so only names and values of plain characters
        (:data:`_PLAIN_VALUE`) go that way; otherwise, one SET VARIABLE each.
        """
        for name, _value in pairs:
            _check_variable_name(name)
        if len(pairs) > 1 and all(_is_plain(name, value) for name, value in pairs):
            await self.exec("MSet", ",".join(f"{name}={value}" for name, value in pairs))
            return
        for name, value in pairs:
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

    async def exec(self, app: str, options: str = "", *, response_within: float | None = None) -> AgiResponse:
        """Run a dialplan application; raises :class:`AgiCommandFailed` if it is unknown (-2).

        ``options`` is one argument (application arguments separated by
        commas). Asterisk may substitute ``${...}`` in it: never put
        caller-supplied text there unvalidated. Blocking applications
        (Playback, Queue) need a ``response_within`` longer than they run.
        An application that returns -1 because the caller hung up raises
        :class:`AgiHangup`; any other -1 is returned as is.
        """
        args = (app, options) if options else (app,)
        response = await self.execute("EXEC", *args, response_within=response_within)
        if response.result == "-2":
            raise AgiCommandFailed(f"EXEC {app}", response)
        if response.result == "-1":
            await self._raise_if_hung_up(f"EXEC {app}")
        return response


def _debug_enabled(logger: Any) -> bool:
    is_enabled_for = getattr(logger, "is_enabled_for", None)
    return is_enabled_for is None or bool(is_enabled_for(logging.DEBUG))


def _digit_from_code(response: AgiResponse) -> str:
    """STREAM FILE and WAIT FOR DIGIT report a key as its character code, 0 for none."""
    if response.result == "0":
        return ""
    code = response.result_int
    if code is None or code < 0:
        raise RemoteProtocolError(f"expected a character code, got result={response.result!r}")
    return "" if code == 0 else validate_digits(chr(code), "0123456789*#ABCD")


# What MSet can take as it is: no separator (`,` `=`), no substitution (`$` `[`),
# no quoting (quotes, backslash, space), no parentheses in a value.
_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\([A-Za-z0-9_.\-]*\))?")
_PLAIN_VALUE = re.compile(r"[A-Za-z0-9_.:>*#+\-]*")


def _is_plain(name: str, value: str) -> bool:
    return _PLAIN_NAME.fullmatch(name) is not None and _PLAIN_VALUE.fullmatch(value) is not None


def _check_variable_name(name: str) -> None:
    if name in _variable_names:
        return
    if type(name) is not str or _VARIABLE_NAME.fullmatch(name) is None:
        raise InvalidCommandArgument(f"invalid channel variable name: {name!r}")
    if len(_variable_names) < _VARIABLE_NAMES_MAX:
        _variable_names.add(name)


Handler = Callable[[AgiSession], Awaitable[None]]


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _AgiStream(asyncio.Protocol):
    """One FastAGI connection: socket callbacks feeding the sans-IO core.

    Runs inside event-loop callbacks and never blocks. Until the header is
    complete there is no task; afterwards the call's task waits on at most one
    future at a time (``_waiter``), resolved by ``data_received`` (the next
    event), ``resume_writing`` (drained), the deadline or ``connection_lost``.

    On uvloop, a plain protocol: uvloop reads into its own buffer and hands
    over a bytes object of the size received. On asyncio's selector loop,
    :class:`_BufferedAgiStream`.
    """

    __slots__ = (
        "_closing",
        "_deadline",
        "_loop",
        "_lost",
        "_read_paused",
        "_receive_buffer",
        "_received_before",
        "_server",
        "_timer",
        "_timer_due",
        "_transport",
        "_waiter",
        "_waiting_for",
        "_write_paused",
        "conn",
        "task",
    )

    def __init__(self, server: FastAgiServer, loop: asyncio.AbstractEventLoop, received: bytes = b"") -> None:
        self._server = server
        self._loop = loop
        # Bytes another process read from this socket before handing it over.
        self._received_before = received
        self._receive_buffer = server._receive_buffer
        self.conn = AgiConnection()
        self._transport: asyncio.Transport | None = None
        self.task: asyncio.Task[None] | None = None
        self._waiter: asyncio.Future[Any] | None = None
        self._waiting_for = _NOTHING
        self._write_paused = False
        self._read_paused = False
        self._closing = False
        self._lost = False
        # The pending wait's deadline (loop time) and the one timer that
        # enforces it; the timer may fire early and then re-arms itself.
        self._deadline: float | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_due = 0.0

    @property
    def peer(self) -> str:
        return "" if self._transport is None else str(self._transport.get_extra_info("peername"))

    # -- asyncio.Protocol ------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self._transport = cast(asyncio.Transport, transport)
        self._server._connections.add(self)
        self._arm(self._server._header_timeout)
        if self._received_before:
            received, self._received_before = self._received_before, b""
            self._received(received)

    def data_received(self, data: bytes) -> None:
        waiter = self._waiter
        if self._waiting_for == _EVENT and waiter is not None:
            # The usual read: the answer to the command in flight. Same steps as
            # _received() and _resolve(), without the calls.
            conn = self.conn
            conn.receive_data(data)
            try:
                event = conn.next_event()
            except AgiProtocolError as exc:
                self._resolve(exc=exc)
                return
            if event is not NEED_DATA:
                self._deadline = None
                self._waiter = None
                self._waiting_for = _NOTHING
                if not waiter.done():
                    waiter.set_result(event)
            return
        self._received(data)

    def _received(self, data: bytes) -> None:
        conn = self.conn
        conn.receive_data(data)
        if self._waiting_for == _EVENT:
            try:
                event = conn.next_event()
            except AgiProtocolError as exc:
                self._resolve(exc=exc)
                return
            if event is not NEED_DATA:
                self._resolve(event)
        elif self.task is None:
            self._read_header()
        elif not self._read_paused and conn.buffered_bytes > _MAX_IDLE_BUFFER:
            # No command pending: let the kernel buffer (and TCP push back) instead of us.
            self._read_paused = True
            assert self._transport is not None
            self._transport.pause_reading()

    def eof_received(self) -> bool:
        self.conn.receive_data(b"")
        if self._waiting_for == _EVENT:
            self._deliver_event()
        elif self.task is None:
            self._read_header()
        return True  # keep our side open: FAILURE may still have to be written

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        self._disarm()
        if self._waiting_for != _NOTHING:
            if not isinstance(exc, ConnectionError):
                exc = ConnectionResetError("Connection lost")
            self._resolve(exc=exc)
        elif self.task is None and exc is not None and not self._closing:
            log.info("agi_connection_lost", peer=self.peer, error=exc.__class__.__name__)
        self._server._forget(self)

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        if self._waiting_for == _DRAIN:
            self._resolve(None)

    # -- header ----------------------------------------------------------------

    def _read_header(self) -> None:
        try:
            event = self.conn.next_event()
        except AgiProtocolError as exc:
            log.warning("agi_bad_header", peer=self.peer, error=str(exc))
            self.close()
            return
        if event is NEED_DATA or self._closing:
            return
        if isinstance(event, AgiRequest):
            auth = self._server._auth
            if auth is not None and (refusal := auth.check(event, time.time())) is not None:
                # Never the header's values: the peer wrote them, and no handler runs.
                log.warning("agi_unauthenticated", peer=self.peer, reason=refusal)
                self.report_failure()
                self.close()
                return
            handover = self._server._handover
            if handover is not None and event.network_script in handover.scripts:
                self._hand_over(handover, event)
                return
            # The header's timer stays: the first command's deadline is later, so it
            # re-arms itself for it instead of being cancelled and made anew.
            self._deadline = None
            self.task = self._loop.create_task(self._server._run_call(self, event))
        else:  # ConnectionClosed: a port scan or a TCP health check
            log.debug("agi_closed_before_header", peer=self.peer)
            self.close()

    def _hand_over(self, handover: Handover, request: AgiRequest) -> None:
        """Pass the socket, with the header and anything read after it, to the serving process."""
        assert self._transport is not None
        script = request.network_script
        data = format_header(request.env) + self.conn.buffered_data
        try:
            # A duplicate of the descriptor travels; closing ours then sends nothing.
            handover.send(self._transport.get_extra_info("socket").fileno(), data)
        except (OSError, ValueError) as exc:
            log.warning("agi_handover_failed", script=script, uniqueid=request.uniqueid, error=str(exc))
            self.report_failure()
        else:
            log.debug("agi_handed_over", script=script, uniqueid=request.uniqueid)
        self.close()

    # -- the call's side -------------------------------------------------------

    def exchange(self, data: bytes, within: float) -> Awaitable[AgiEvent]:
        """Write one command; the awaitable returned gives the next event within ``within`` seconds.

        The event is a response, a HANGUP notice or the peer's close. Raises
        ``TimeoutError``, ``ConnectionError`` and the core's
        :class:`~ivr.agi.protocol.RemoteProtocolError`. The caller has just
        parsed the buffer down to ``NEED_DATA`` (no complete line, no end of
        file), so the event can only come from bytes not received yet.

        Usually a bare future that ``data_received`` resolves (no coroutine
        frame per command); a coroutine when flow control must be waited out first.
        """
        transport = self._transport
        if self._lost or transport is None:
            raise ConnectionResetError("Connection lost")
        if data:  # b"": only wait for what Asterisk sends unasked (HANGUP, its close)
            transport.write(data)
        # _arm(), inline: the timer usually stays, armed for an earlier deadline.
        loop = self._loop
        deadline = self._deadline = loop.time() + within
        if self._timer is None or self._timer_due > deadline:
            self._arm(within)
        if self._write_paused or self._read_paused:
            return self._exchange_after_flow_control()
        waiter: asyncio.Future[AgiEvent] = loop.create_future()
        self._waiter = waiter
        self._waiting_for = _EVENT
        return waiter

    async def _exchange_after_flow_control(self) -> AgiEvent:
        try:
            while self._write_paused:
                await self._wait(_DRAIN)
            if self._read_paused:
                self._read_paused = False
                assert self._transport is not None
                self._transport.resume_reading()
            # Bytes or the end of file may have come while we waited to drain.
            parsed = self.conn.next_event()
            if parsed is not NEED_DATA:
                self._deadline = None
                return parsed
            event: AgiEvent = await self._wait(_EVENT)
            return event
        finally:
            self._deadline = None

    def _wait(self, what: int) -> asyncio.Future[Any]:
        if self._lost:
            raise ConnectionResetError("Connection lost")
        waiter = self._waiter = self._loop.create_future()
        self._waiting_for = what
        return waiter

    def _deliver_event(self) -> None:
        try:
            event = self.conn.next_event()
        except AgiProtocolError as exc:
            self._resolve(exc=exc)
            return
        if event is not NEED_DATA:
            self._resolve(event)

    def _resolve(self, result: object = None, *, exc: BaseException | None = None) -> None:
        if self._waiting_for == _EVENT:
            self._deadline = None  # the exchange is over, whatever its outcome
        waiter, self._waiter, self._waiting_for = self._waiter, None, _NOTHING
        if waiter is None or waiter.done():  # e.g. cancelled along with the task
            return
        if exc is None:
            waiter.set_result(result)
        else:
            waiter.set_exception(exc)

    def report_failure(self) -> None:
        """Make Asterisk end the AGI with AGISTATUS=FAILURE, if it is waiting for a command."""
        if self.conn.state is ConnectionState.IDLE and not self._lost and not self._closing:
            assert self._transport is not None
            self._transport.write(_FAILURE_LINE)

    def close(self) -> None:
        """Close after what was written is sent; abort if the peer does not take it in time."""
        if self._closing:
            return
        self._closing = True
        self._disarm()
        transport = self._transport
        if transport is None:
            return
        transport.close()
        if transport.get_write_buffer_size():
            self._loop.call_later(_CLOSE_TIMEOUT, transport.abort)

    # -- deadline --------------------------------------------------------------

    def _arm(self, delay: float) -> None:
        deadline = self._loop.time() + delay
        self._deadline = deadline
        timer = self._timer
        if timer is None or self._timer_due > deadline:
            if timer is not None:
                timer.cancel()
            self._timer = self._loop.call_at(deadline, self._on_timer)
            self._timer_due = deadline

    def _disarm(self) -> None:
        self._deadline = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _on_timer(self) -> None:
        self._timer = None
        deadline = self._deadline
        if deadline is None:
            return
        if self._loop.time() < deadline:  # armed for an earlier, finished wait
            self._timer = self._loop.call_at(deadline, self._on_timer)
            self._timer_due = deadline
            return
        self._deadline = None
        if self.task is None:
            log.warning("agi_header_timeout", peer=self.peer, timeout=self._server._header_timeout)
            self.close()
        else:
            self._resolve(exc=TimeoutError())


class _BufferedAgiStream(_AgiStream, asyncio.BufferedProtocol):
    """The same, reading into the server's one receive buffer (asyncio's selector loop).

    asyncio's plain transports hand a protocol a fresh bytes object per read,
    allocated at 256 KiB and shrunk, which costs glibc an mmap, an mremap, a
    munmap and a page fault per read: more than the rest of the read path
    together. Here the transport reads into ``get_buffer()`` and we copy out
    just the bytes received.
    """

    __slots__ = ()

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._receive_buffer

    def buffer_updated(self, nbytes: int) -> None:
        # Copied out at once: the next read, on any connection, reuses the buffer.
        self.data_received(bytes(self._receive_buffer[:nbytes]))


def _stream_class(loop: asyncio.AbstractEventLoop) -> type[_AgiStream]:
    return _BufferedAgiStream if isinstance(loop, asyncio.selector_events.BaseSelectorEventLoop) else _AgiStream


@dataclass(frozen=True)
class Handover:
    """Calls a worker process must not serve itself, and how it passes them on.

    ``send(fd, data)`` sends a duplicate of the connected socket ``fd`` and the
    bytes read from it so far (non-blocking; raises ``OSError`` when it cannot).
    See `bench/agi_pool.py`.
    """

    scripts: frozenset[str]
    send: Callable[[int, bytes], None]


class FastAgiServer:
    """Accepts Asterisk's FastAGI connections and runs one handler per call.

    ``routes`` maps ``network_script`` (``agi://host:port/<script>``) to a
    handler; ``default_route`` catches the rest. FastAGI carries no
    authentication, so only loopback addresses are accepted unless
    ``allow_non_loopback=True``; with ``auth`` (:class:`~ivr.agi.auth.AgiAuth`),
    a call whose header lacks a valid token for the deployment's key is
    answered ``FAILURE`` and closed before any handler or hand-over.

    ``reuse_port=True`` binds with ``SO_REUSEPORT``, so that worker processes
    (`AgiWorkerPool` in `bench/agi_pool.py`) accept on the same port; a worker's
    server passes the calls in ``handover.scripts`` to the process that
    serves them (:meth:`adopt`).
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
        reuse_port: bool = False,
        handover: Handover | None = None,
        auth: AgiAuth | None = None,
        stats: AgiStats | None = None,
    ) -> None:
        if not allow_non_loopback and not _is_loopback(host):
            raise ValueError(
                f"FastAGI must listen on loopback only, not {host!r} (pass allow_non_loopback=True to override)"
            )
        self._host = host
        self._requested_port = port
        self._routes = dict(routes)
        self._header_timeout = header_timeout
        self._command_timeout = command_timeout
        self._default_route = default_route
        self._reuse_port = reuse_port
        self._handover = handover
        self._auth = auth
        self._stats = AgiStats(self._routes) if stats is None else stats
        # Bound once: structlog's lazy proxy would rebuild a logger per line. The
        # per-call context comes from contextvars, merged when a line is logged.
        self._log: Any = log.bind()
        self._log_debug = _debug_enabled(self._log)
        self._server: asyncio.Server | None = None
        # Every open connection, from accept to connection_lost.
        self._connections: set[_AgiStream] = set()
        self._all_closed: asyncio.Future[None] | None = None
        # Shared by every connection: a read is copied out before the next one starts.
        self._receive_buffer = memoryview(bytearray(_READ_CHUNK))

    @property
    def port(self) -> int:
        """The bound port (the kernel's choice when 0 was asked for)."""
        # uvloop gives a list where typeshed says tuple: read it as any sequence.
        sockets: Any = None if self._server is None else cast(Any, self._server).sockets
        if not sockets:
            return self._requested_port
        port: int = sockets[0].getsockname()[1]
        return port

    @property
    def host(self) -> str:
        return self._host

    @property
    def header_timeout(self) -> float:
        return self._header_timeout

    @property
    def command_timeout(self) -> float:
        return self._command_timeout

    @property
    def stats(self) -> AgiStats:
        """Sessions, faults and hang-ups per script, command latencies (``ivr.agi.prometheus``)."""
        return self._stats

    @property
    def active_sessions(self) -> int:
        """Open connections: calls in flight and peers still sending their header."""
        return len(self._connections)

    async def start(self) -> None:
        if self._server is not None:
            raise RuntimeError("FastAGI server already started")
        loop = asyncio.get_running_loop()
        # Again, in case logging was configured after this server was made.
        self._log = log.bind()
        self._log_debug = _debug_enabled(self._log)
        self._server = await loop.create_server(
            functools.partial(_stream_class(loop), self, loop),
            self._host,
            self._requested_port,
            reuse_port=self._reuse_port or None,
        )
        log.info("agi_server_started", host=self._host, port=self.port, authenticated=self._auth is not None)
        if self._auth is None:
            log.warning("agi_server_unauthenticated", detail="any local process may run every script")

    async def adopt(self, sock: socket.socket, received: bytes) -> None:
        """Serve a connection accepted by another process, given the bytes it already read from it."""
        if self._server is None:
            sock.close()
            raise RuntimeError("FastAGI server not serving")
        loop = asyncio.get_running_loop()
        await loop.connect_accepted_socket(functools.partial(_stream_class(loop), self, loop, received), sock)

    async def close(self) -> None:
        """Stop accepting, cancel every call in flight and wait for them to end."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        connections = list(self._connections)
        tasks = [c.task for c in connections if c.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for connection in connections:
            connection.close()  # a task cancelled before it started never closed its socket
        if self._connections:
            self._all_closed = asyncio.get_running_loop().create_future()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(2 * _CLOSE_TIMEOUT):
                    await self._all_closed
        if server is not None:
            await server.wait_closed()
            log.info("agi_server_stopped", cancelled_sessions=len(tasks))

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

    def _forget(self, connection: _AgiStream) -> None:
        self._connections.discard(connection)
        waiter = self._all_closed
        if not self._connections and waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _run_call(self, stream: _AgiStream, request: AgiRequest) -> None:
        # One coroutine for the whole call: every command's answer resumes each
        # frame of the await chain, so a frame less here is one less per command.
        call_log = self._log
        stats = self._stats
        script = request.network_script
        counted = stats.script_index(script)
        stats.session_started(counted)
        session: AgiSession | None = None
        try:
            args = request.args
            # The task runs in its own copy of the context: bound for this call
            # only, with nothing to reset when it ends.
            structlog.contextvars.bind_contextvars(
                uniqueid=request.uniqueid, channel=request.channel, line=args[0] if args else None
            )
            handler = self._routes.get(script, self._default_route)
            if handler is None:
                stats.failed(counted)
                call_log.warning("agi_unknown_route", script=script)
                stream.report_failure()
                return
            session = AgiSession(
                request, stream, command_timeout=self._command_timeout, logger=call_log, log_commands=self._log_debug,
                stats=stats,
            )  # fmt: skip
            # One info line per call, when it ends, naming the script (as an access
            # log does); at ~25 µs a line, a second one at the start would cost more
            # than all our parsing. The start is logged at debug.
            if self._log_debug:
                call_log.debug("agi_call_started", script=script)
            await handler(session)
        # One name per exception type: compiled (ivr.native), a name bound by two
        # `except ... as` clauses keeps the first clause's type.
        except AgiHangup as hangup:
            # Whatever command saw it: a hang-up is how calls end, not an error.
            stats.hung_up(counted)
            _log_hangup(call_log, script, hangup)
        except AgiTimeout as timeout:
            stats.failed(counted)
            call_log.warning("agi_command_timeout", script=script, detail=str(timeout))
        except RemoteProtocolError as protocol_error:
            stats.failed(counted)
            call_log.warning("agi_protocol_error", script=script, error=str(protocol_error))
        except Exception:
            stats.failed(counted)
            if session is None:
                # Last resort: a bug here must cost one call, never the server.
                call_log.exception("agi_session_failed", peer=stream.peer)
            else:
                # Our own bugs land here too, LocalProtocolError included.
                call_log.exception("agi_handler_failed", script=script)
                if not session.hung_up:
                    stream.report_failure()
        else:
            seen = None if session is None else session.caller_hangup
            if seen is not None:  # the handler caught the hang-up itself and ended
                stats.hung_up(counted)
                _log_hangup(call_log, script, seen)
            else:
                call_log.info("agi_call_finished", script=script)
        finally:
            # The call's lines (batched by ivr.log) are in the log before Asterisk
            # sees the session end and moves the call on (to a queue, say).
            flush_logs()
            stream.close()


def _log_hangup(call_log: Any, script: str, hangup: AgiHangup) -> None:
    """The one line of a call the caller hung up: info, no traceback (see AgiSession)."""
    call_log.info("agi_caller_hung_up", script=script, command=hangup.command, detail=str(hangup))
