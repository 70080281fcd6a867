"""AMI client: a thin asyncio adapter over the sans-IO :mod:`ivr.ami.protocol`.

Theory of operation
-------------------
``run()`` is one long-lived task, owned by the caller, that loops over
*sessions*. A session connects, reads the banner, logs in, and then lives as
a small set of tasks owned by the session:

* the **reader** only feeds bytes to the parser and dispatches what comes out:
  a response resolves the action waiting on its ``ActionID`` (never arrival
  order: events interleave freely with responses); an event carrying the
  ``ActionID`` of a pending :meth:`AmiClient.action_list` joins that list;
  every other event goes into a bounded queue that consumers read. It never
  awaits anything but the socket, because Asterisk drops a manager session
  whose reader is slower than ``writetimeout`` (100 ms by default);
* the **keep-alive** sends ``Ping`` every ``ping_interval`` and declares the
  link dead when no answer comes within ``ping_timeout``: a half-open TCP
  connection (PBX host gone, NAT state lost) otherwise looks like a quiet PBX
  forever. This is also why the reader's socket read needs no timeout of its
  own;
* ``on_connected`` (when given) runs once per login, concurrently, so it can
  send actions (a resync with ``QueueStatus``) whose answers the reader
  delivers.

When any of them fails (end of file, reset, dead ping, protocol error) the
session ends: every pending action fails with :class:`AmiConnectionLost`,
and ``run()`` reconnects after an exponential backoff with jitter.

Actions are **at most once**: one is sent only while logged in (otherwise
:class:`AmiNotConnected` at once), is never queued for later and is never
re-sent on a new connection. When the link drops before the answer, the
caller gets :class:`AmiConnectionLost` and cannot know whether Asterisk ran
it; only the caller knows whether trying again is safe (``QueueStatus``: yes;
``Originate`` or ``QueuePause`` toggles: check the state first).

AMI has no replay: events sent while we were away, or dropped because the
consumer fell behind the bounded queue, are gone. ``needs_resync`` says so;
``on_connected`` is the place to rebuild state after each login.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar

from ivr.ami.protocol import (
    NEED_DATA,
    AmiBanner,
    AmiMessage,
    AmiParser,
    MalformedLine,
    ParserEvent,
    format_action,
)
from ivr.log import get_logger

__all__ = [
    "AmiActionError",
    "AmiClient",
    "AmiClosed",
    "AmiConnectionLost",
    "AmiError",
    "AmiLinkDead",
    "AmiLoginFailed",
    "AmiNotConnected",
    "AmiProtocolError",
    "AmiTimeout",
    "HeaderArg",
    "OnConnected",
    "backoff_delay",
]

T = TypeVar("T")
log = get_logger(__name__)

HeaderArg = str | int | Sequence[str]
"""An action argument: ints are written in decimal, a sequence repeats the key."""

OnConnected = Callable[["AmiClient"], Awaitable[None]]

_READ_CHUNK: Final = 65536
_BANNER_PREFIX: Final = "Asterisk Call Manager"
# Logoff on close is a courtesy; never hold shutdown for long on it.
_LOGOFF_TIMEOUT: Final = 2.0
_CLOSE_SOCKET_TIMEOUT: Final = 1.0
# ActionIDs of list actions whose caller gave up (timeout): their late list
# events are discarded rather than leaking into the event queue.
_ABANDONED_LISTS: Final = 256


# --------------------------------------------------------------------------- errors


class AmiError(Exception):
    """Base of every error this client raises."""


class AmiNotConnected(AmiError):
    """Not logged in to Asterisk: the action was not sent (nothing is queued)."""


class AmiClosed(AmiNotConnected):
    """The client was closed; no more actions or events."""


class AmiConnectionLost(AmiError):
    """The link dropped while the action was pending; Asterisk may or may not have run it."""


class AmiLinkDead(AmiConnectionLost):
    """The keep-alive ``Ping`` got no answer in time: the link is treated as dead."""


class AmiProtocolError(AmiError):
    """The peer broke the AMI protocol (e.g. it is not an Asterisk manager port)."""


class AmiTimeout(AmiError):
    """No answer to an action within its timeout (the link may still be fine)."""

    def __init__(self, action: str, action_id: str, timeout: float) -> None:
        super().__init__(f"no answer to {action} (ActionID {action_id}) within {timeout:g}s")
        self.action = action
        self.action_id = action_id
        self.timeout = timeout


class AmiActionError(AmiError):
    """Asterisk answered ``Response: Error``; ``message`` is its ``Message`` header."""

    def __init__(self, action: str, action_id: str, message: str, response: AmiMessage) -> None:
        super().__init__(f"{action} failed: {message or 'no message'} (ActionID {action_id})")
        self.action = action
        self.action_id = action_id
        self.message = message
        self.response = response


class AmiLoginFailed(AmiError):
    """Asterisk refused the Login (wrong user or secret, or an ACL)."""

    def __init__(self, username: str, message: str) -> None:
        super().__init__(f"login as {username!r} refused: {message or 'no message'}")
        self.username = username
        self.message = message


# --------------------------------------------------------------------------- helpers


def backoff_delay(attempt: int, initial: float, maximum: float, rand: Callable[[], float] = random.random) -> float:
    """Delay before reconnect attempt ``attempt`` (0-based): exponential, capped, jittered.

    The ceiling doubles from ``initial`` up to ``maximum``; the delay is drawn
    in ``[ceiling/2, ceiling]`` so that several clients (or several services)
    restarted together with the PBX do not all log in on the same tick.
    """
    ceiling = min(maximum, initial * 2.0 ** min(attempt, 32))
    return ceiling / 2 + rand() * ceiling / 2


def _is_list_complete(event: AmiMessage) -> bool:
    return event.get("EventList", "").lower() == "complete" or event.name.endswith("Complete")


def _normalize(headers: Mapping[str, HeaderArg]) -> dict[str, str | Sequence[str]]:
    out: dict[str, str | Sequence[str]] = {}
    for key, value in headers.items():
        # bool first: it is an int, and Asterisk's ast_true() wants words.
        if isinstance(value, bool):
            out[key] = "true" if value else "false"
        elif isinstance(value, int):
            out[key] = str(value)
        else:
            out[key] = value
    return out


@dataclass(eq=False)
class _Pending:
    """One action awaiting its answer (and, for list actions, its list)."""

    action: str
    future: asyncio.Future[tuple[AmiMessage, list[AmiMessage]]]
    is_list: bool
    response: AmiMessage | None = None
    items: list[AmiMessage] = field(default_factory=list)
    complete: bool = False

    def settle_if_done(self) -> None:
        if self.future.done() or self.response is None:
            return
        # A list follows only an accepted list action ("EventList: start");
        # an Error, or a Success without a list, is the whole answer.
        list_follows = (
            self.is_list
            and self.response.name.lower() != "error"
            and self.response.get("EventList", "").lower() == "start"
        )
        if not list_follows or self.complete:
            self.future.set_result((self.response, self.items))


# --------------------------------------------------------------------------- client


class AmiClient:
    """One AMI login, kept alive by :meth:`run`; see the module docstring."""

    def __init__(
        self,
        host: str,
        port: int,
        username: str,
        secret: str,
        *,
        name: str = "ami",
        event_queue_size: int = 10000,
        action_timeout: float = 5.0,
        ping_interval: float = 10.0,
        ping_timeout: float = 5.0,
        backoff_initial: float = 0.5,
        backoff_max: float = 15.0,
        on_connected: OnConnected | None = None,
        events_off: bool = False,
        connect_timeout: float = 5.0,
    ) -> None:
        for label, value in (
            ("event_queue_size", event_queue_size),
            ("action_timeout", action_timeout),
            ("ping_interval", ping_interval),
            ("ping_timeout", ping_timeout),
            ("backoff_initial", backoff_initial),
            ("backoff_max", backoff_max),
            ("connect_timeout", connect_timeout),
        ):
            if value <= 0:
                raise ValueError(f"{label} must be positive, got {value!r}")
        if not name or any(c in name for c in "\r\n\x00"):
            raise ValueError(f"invalid client name {name!r}")
        self.host = host
        self.port = port
        self.username = username
        self._secret = secret  # private, never logged, not in repr
        self.name = name
        self.action_timeout = action_timeout
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.backoff_initial = backoff_initial
        self.backoff_max = max(backoff_max, backoff_initial)
        self.connect_timeout = connect_timeout
        self.events_off = events_off
        self._on_connected = on_connected

        # -- observable state (read by /healthz and by consumers)
        self.reconnects = 0
        """Successful logins after the first one."""
        self.dropped_events = 0
        """Events dropped because the queue was full (total)."""
        self.malformed_lines = 0
        """Lines from Asterisk that were not ``Key: value`` and were skipped (total)."""
        self.last_error: Exception | None = None
        """Why the last session ended or the last connection attempt failed."""
        self.needs_resync = True
        """Events may have been missed (never synced yet, a reconnect, or a full
        queue). Cleared when ``on_connected`` succeeds without drops during it;
        a consumer that resyncs by itself may set it to False."""
        self.banner: AmiBanner | None = None

        self._ids = itertools.count(1)
        self._pending: dict[str, _Pending] = {}
        self._abandoned: deque[str] = deque(maxlen=_ABANDONED_LISTS)
        # None is the "closed" marker, so consumers blocked on get() wake up.
        self._events: asyncio.Queue[AmiMessage | None] = asyncio.Queue(maxsize=event_queue_size)
        self._drop_burst = 0
        self._writer: asyncio.StreamWriter | None = None
        self._logged_in = asyncio.Event()
        self._stop = asyncio.Event()
        self._finished = asyncio.Event()
        self._closing = False
        self._closed = False
        self._running = False
        self._logins = 0

    def __repr__(self) -> str:
        state = "connected" if self.connected else "disconnected"
        return f"<AmiClient {self.name} {self.username}@{self.host}:{self.port} {state}>"

    # -- state ---------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """Logged in: actions can be sent."""
        return self._logged_in.is_set()

    @property
    def logins(self) -> int:
        """Successful logins, the first one included (``reconnects`` is this less one)."""
        return self._logins

    # The name mirrors asyncio.wait_for(); the wait itself uses asyncio.timeout.
    async def wait_connected(self, timeout: float) -> bool:  # noqa: ASYNC109
        """Wait until logged in; False if that did not happen within ``timeout`` seconds."""
        try:
            async with asyncio.timeout(timeout):
                await self._logged_in.wait()
        except TimeoutError:
            return False
        return True

    # -- actions -------------------------------------------------------------

    async def action(self, name: str, /, **headers: HeaderArg) -> AmiMessage:
        """Send one action and return its response.

        Raises :class:`AmiNotConnected` (not sent), :class:`AmiTimeout`,
        :class:`AmiActionError` (``Response: Error``), :class:`AmiConnectionLost`
        (sent, outcome unknown: never re-sent by this client), or ``ValueError``
        for a header that cannot be written safely (CR/LF injection).
        """
        response, _ = await self._request(name, headers, is_list=False)
        return response

    async def action_list(self, name: str, /, **headers: HeaderArg) -> tuple[AmiMessage, list[AmiMessage]]:
        """Send an event-list action (QueueStatus, CoreShowChannels, QueueSummary...).

        Returns the response and the events carrying this ActionID, in order,
        up to (without) the ``...Complete`` event. Those events do not go to
        the event queue. The timeout covers the whole list. Errors as
        :meth:`action`.
        """
        return await self._request(name, headers, is_list=True)

    async def _request(
        self, name: str, headers: Mapping[str, HeaderArg], *, is_list: bool
    ) -> tuple[AmiMessage, list[AmiMessage]]:
        if self._closed or self._closing:
            raise AmiClosed(f"{self.name}: client closed; {name} not sent")
        if not self.connected:
            raise AmiNotConnected(f"{self.name}: not connected to Asterisk; {name} not sent")
        return await self._send(name, _normalize(headers), is_list=is_list, answer_within=self.action_timeout)

    async def _send(
        self,
        name: str,
        headers: Mapping[str, str | Sequence[str]],
        *,
        is_list: bool,
        answer_within: float,
    ) -> tuple[AmiMessage, list[AmiMessage]]:
        writer = self._writer
        if writer is None:
            raise AmiNotConnected(f"{self.name}: no connection; {name} not sent")
        action_id = f"{self.name}-{next(self._ids)}"
        data = format_action(name, action_id, headers)  # refuses injection before anything is sent
        pending = _Pending(name, asyncio.get_running_loop().create_future(), is_list)
        # Registered before the write: the answer may arrive before drain() returns.
        self._pending[action_id] = pending
        try:
            async with asyncio.timeout(answer_within):
                writer.write(data)
                await writer.drain()
                response, items = await pending.future
        except TimeoutError:
            if is_list:
                self._abandoned.append(action_id)
            raise AmiTimeout(name, action_id, answer_within) from None
        except OSError as exc:
            raise AmiConnectionLost(f"{name} (ActionID {action_id}): {exc}") from exc
        finally:
            self._pending.pop(action_id, None)
        log.debug("ami_action_answered", client=self.name, action=name, action_id=action_id)
        if response.name.lower() == "error":
            raise AmiActionError(name, action_id, response.get("Message", ""), response)
        return response, items

    def _fail_pending(self, reason: str) -> None:
        for action_id, pending in list(self._pending.items()):
            if not pending.future.done():
                pending.future.set_exception(AmiConnectionLost(f"{pending.action} (ActionID {action_id}): {reason}"))

    # -- events --------------------------------------------------------------

    async def next_event(self) -> AmiMessage:
        """The next event; raises :class:`AmiClosed` once the client is closed and drained."""
        if self._closed and self._events.empty():
            raise AmiClosed(f"{self.name}: client closed")
        event = await self._events.get()
        if event is None:
            # Put the marker back so every other consumer wakes up too; the
            # slot just freed guarantees room.
            self._events.put_nowait(None)
            raise AmiClosed(f"{self.name}: client closed")
        return event

    async def events(self) -> AsyncIterator[AmiMessage]:
        """``async for event in client.events()``: ends when the client is closed."""
        while True:
            try:
                event = await self.next_event()
            except AmiClosed:
                return
            yield event

    def _enqueue(self, event: AmiMessage) -> None:
        try:
            self._events.put_nowait(event)
        except asyncio.QueueFull:
            # The reader must never wait for a consumer (see module docstring):
            # drop, count, and tell consumers their picture is now incomplete.
            self.dropped_events += 1
            self.needs_resync = True
            if self._drop_burst == 0:
                log.warning(
                    "ami_events_dropped",
                    client=self.name,
                    queue_size=self._events.maxsize,
                    first_dropped=event.name,
                )
            self._drop_burst += 1
            return
        if self._drop_burst:
            log.warning("ami_events_drop_burst_ended", client=self.name, dropped=self._drop_burst)
            self._drop_burst = 0

    # -- lifecycle -----------------------------------------------------------

    async def run(self) -> None:
        """Connect, log in and stay connected until :meth:`close` (or cancellation)."""
        if self._running:
            raise RuntimeError(f"{self.name}: run() is already running")
        if self._closed:
            raise AmiClosed(f"{self.name}: client closed")
        self._running = True
        failures = 0
        try:
            while not self._stop.is_set():
                logins_before = self._logins
                error = await self._run_session()
                if self._stop.is_set() or self._closing:
                    break
                self.last_error = error
                self._log_session_end(error, was_connected=self._logins > logins_before)
                if self._logins > logins_before:
                    failures = 0  # it worked for a while: start the backoff afresh
                delay = backoff_delay(failures, self.backoff_initial, self.backoff_max)
                failures += 1
                log.info(
                    "ami_reconnect_scheduled",
                    client=self.name,
                    delay=round(delay, 3),
                    attempt=failures,
                )
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await self._stop.wait()
        finally:
            self._running = False
            self._mark_closed()
            self._finished.set()
            log.info("ami_stopped", client=self.name)

    async def close(self) -> None:
        """Log off (best effort, bounded), stop :meth:`run` and end event iteration."""
        if self._closed or self._closing:
            return
        self._closing = True
        if self.connected:
            # Asterisk answers "Response: Goodbye" and closes the socket.
            with contextlib.suppress(AmiError, OSError, ValueError):
                await self._send(
                    "Logoff",
                    {},
                    is_list=False,
                    answer_within=min(self.action_timeout, _LOGOFF_TIMEOUT),
                )
        self._stop.set()
        if self._running:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.connect_timeout + _CLOSE_SOCKET_TIMEOUT):
                    await self._finished.wait()
        self._mark_closed()

    def _mark_closed(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        if self._events.full():
            # Room for the closed marker; the consumer is gone or far behind anyway.
            self._events.get_nowait()
            self.dropped_events += 1
        self._events.put_nowait(None)

    async def _run_session(self) -> Exception:
        """One session as a task, raced against close(); returns why it ended."""
        session = asyncio.create_task(self._session(), name=f"{self.name}-session")
        stopper = asyncio.create_task(self._stop.wait(), name=f"{self.name}-stop")
        try:
            await asyncio.wait({session, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            session.cancel()
            stopper.cancel()
            results = await asyncio.gather(session, stopper, return_exceptions=True)
        outcome = results[0]
        if isinstance(outcome, Exception):
            return outcome
        if isinstance(outcome, BaseException) and not isinstance(outcome, asyncio.CancelledError):
            raise outcome
        return AmiConnectionLost("session ended")

    def _log_session_end(self, error: Exception, *, was_connected: bool) -> None:
        if isinstance(error, AmiLoginFailed):
            log.error(
                "ami_login_failed",
                client=self.name,
                host=self.host,
                port=self.port,
                username=self.username,
                message=error.message,
            )
        elif isinstance(error, AmiError | OSError):
            log.warning(
                "ami_disconnected" if was_connected else "ami_connect_failed",
                client=self.name,
                host=self.host,
                port=self.port,
                error_type=type(error).__name__,
                error=str(error) or type(error).__name__,
            )
        else:
            # A bug in this module (or in a parser limit we did not foresee):
            # keep the service alive, reconnect, and make it loud.
            log.error(
                "ami_session_crashed",
                client=self.name,
                error_type=type(error).__name__,
                error=str(error),
                exc_info=error,
            )

    # -- one session ---------------------------------------------------------

    async def _session(self) -> None:
        parser = AmiParser()
        log.debug("ami_connecting", client=self.name, host=self.host, port=self.port)
        try:
            async with asyncio.timeout(self.connect_timeout):
                reader, writer = await asyncio.open_connection(self.host, self.port)
        except TimeoutError:
            raise TimeoutError(f"no TCP connection within {self.connect_timeout:g}s") from None
        tasks: set[asyncio.Task[None]] = set()
        reason = "session ended"
        try:
            try:
                async with asyncio.timeout(self.connect_timeout):
                    self.banner = await self._read_banner(reader, parser)
            except TimeoutError:
                raise AmiProtocolError(f"no AMI banner within {self.connect_timeout:g}s of connecting") from None
            self._writer = writer
            reading = self._spawn(tasks, self._read_loop(reader, parser), "reader")
            await self._login()
            self._on_login()
            if self._on_connected is not None:
                self._spawn(tasks, self._run_on_connected(self._on_connected), "on-connected")
            pinging = self._spawn(tasks, self._keepalive(), "keepalive")
            done, _ = await asyncio.wait({reading, pinging}, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # re-raises why the link ended
            raise AmiConnectionLost("session task ended")
        except asyncio.CancelledError:
            reason = "client closing"
            raise
        except BaseException as exc:
            reason = str(exc) or type(exc).__name__
            raise
        finally:
            # Order matters: nobody may send on this connection any more, then
            # waiters learn the outcome, then the tasks and the socket go.
            self._logged_in.clear()
            self._writer = None
            self._fail_pending(f"connection lost ({reason})")
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            writer.close()
            with contextlib.suppress(Exception):
                async with asyncio.timeout(_CLOSE_SOCKET_TIMEOUT):
                    await writer.wait_closed()

    def _spawn(self, tasks: set[asyncio.Task[None]], coro: Coroutine[Any, Any, None], what: str) -> asyncio.Task[None]:
        task = asyncio.create_task(coro, name=f"{self.name}-{what}")
        tasks.add(task)
        return task

    async def _read_banner(self, reader: asyncio.StreamReader, parser: AmiParser) -> AmiBanner:
        while True:
            event = parser.next_event()
            if event is NEED_DATA:
                data = await reader.read(_READ_CHUNK)
                if not data:
                    raise AmiConnectionLost("connection closed before the AMI banner")
                parser.receive_data(data)
            elif isinstance(event, AmiBanner):
                if not event.text.startswith(_BANNER_PREFIX):
                    raise AmiProtocolError(f"not an Asterisk manager port: banner {event.text[:80]!r}")
                return event
            elif isinstance(event, MalformedLine):
                self._on_malformed(event)
            else:
                raise AmiProtocolError(f"expected the AMI banner, got a {event.kind} message")

    async def _login(self) -> None:
        headers = {
            "Username": self.username,
            "Secret": self._secret,
            "Events": "off" if self.events_off else "on",
        }
        try:
            await self._send("Login", headers, is_list=False, answer_within=self.action_timeout)
        except AmiActionError as exc:
            raise AmiLoginFailed(self.username, exc.message) from None

    def _on_login(self) -> None:
        self._logins += 1
        if self._logins > 1:
            self.reconnects += 1
        # Whatever happened while we were away is unknown.
        self.needs_resync = True
        self._logged_in.set()
        log.info(
            "ami_connected",
            client=self.name,
            host=self.host,
            port=self.port,
            username=self.username,
            banner=self.banner.text if self.banner else None,
            reconnects=self.reconnects,
        )

    async def _run_on_connected(self, callback: OnConnected) -> None:
        drops_before = self.dropped_events
        try:
            await callback(self)
        except AmiConnectionLost:
            log.info("ami_on_connected_interrupted", client=self.name)
        except Exception as exc:
            # The caller's code: keep the link (events still flow) but say loudly
            # that the state it should have rebuilt is stale.
            self.needs_resync = True
            log.error("ami_on_connected_failed", client=self.name, error=str(exc), exc_info=exc)
        else:
            if self.dropped_events == drops_before:
                self.needs_resync = False

    async def _keepalive(self) -> None:
        while True:
            await asyncio.sleep(self.ping_interval)
            try:
                await self._send("Ping", {}, is_list=False, answer_within=self.ping_timeout)
            except AmiTimeout as exc:
                raise AmiLinkDead(f"no answer to Ping within {self.ping_timeout:g}s") from exc
            except AmiActionError:
                pass  # any answer, even an error, proves the link is alive

    async def _read_loop(self, reader: asyncio.StreamReader, parser: AmiParser) -> None:
        try:
            while True:
                while (event := parser.next_event()) is not NEED_DATA:
                    self._dispatch(event)
                data = await reader.read(_READ_CHUNK)
                if not data:
                    raise AmiConnectionLost("Asterisk closed the connection")
                parser.receive_data(data)
        except Exception as exc:
            # Wake actions now (the login may be one of them), not at teardown.
            self._fail_pending(f"connection lost ({exc})")
            raise

    # -- dispatch (reader only, never awaits) ------------------------------

    def _dispatch(self, event: ParserEvent) -> None:
        if isinstance(event, MalformedLine):
            self._on_malformed(event)
        elif isinstance(event, AmiBanner):
            log.warning("ami_unexpected_banner", client=self.name, banner=event.text[:80])
        elif event.kind == "response":
            self._on_response(event)
        elif event.kind == "event":
            self._on_event(event)
        else:
            log.warning(
                "ami_message_unknown_kind",
                client=self.name,
                keys=[key for key, _ in event.headers[:5]],
            )

    def _on_malformed(self, event: MalformedLine) -> None:
        self.malformed_lines += 1
        log.warning("ami_malformed_line", client=self.name, reason=event.reason, line=event.line)

    def _on_response(self, response: AmiMessage) -> None:
        action_id = response.action_id
        pending = self._pending.get(action_id) if action_id is not None else None
        if pending is None:
            # Late answer to an action that timed out, or not ours.
            log.debug(
                "ami_response_unmatched",
                client=self.name,
                action_id=action_id,
                response=response.name,
            )
            return
        pending.response = response
        pending.settle_if_done()

    def _on_event(self, event: AmiMessage) -> None:
        action_id = event.action_id
        if action_id is not None:
            pending = self._pending.get(action_id)
            # Only list actions collect: OriginateResponse also carries the
            # Originate's ActionID but is a genuine event for consumers.
            if pending is not None and pending.is_list:
                if _is_list_complete(event):
                    pending.complete = True
                    pending.settle_if_done()
                else:
                    pending.items.append(event)
                return
            if action_id in self._abandoned:
                return
        self._enqueue(event)


async def when_loaded(call: Callable[[], Awaitable[T]], *, deadline: float = 60.0, interval: float = 0.25) -> T:
    """Run an action-making coroutine, retrying while Asterisk is still booting.

    Asterisk accepts AMI logins before its modules are loaded: until then an
    action such as QueueStatus or QueuePause is answered "Invalid/unknown
    command". After every (re)login, work that needs a module waits here, with
    a deadline, instead of failing once and leaving the state stale."""
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline
    while True:
        try:
            return await call()
        except AmiActionError as exc:
            if "Invalid/unknown command" not in exc.message or loop.time() >= end:
                raise
        await asyncio.sleep(interval)
