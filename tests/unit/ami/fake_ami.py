"""A scripted Asterisk manager port on 127.0.0.1 for client tests (real sockets).

By default it does what Asterisk 22 does for Login (check user and secret,
answer, then ``FullyBooted``), Ping, Logoff (``Goodbye`` then close) and
answers ``Success`` to anything else. A test overrides an action with
``server.handlers["queuepause"] = ...``; a handler must not block: it replies
now, later (keep the message), or never.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from ivr.ami import NEED_DATA, AmiMessage, AmiParser

from .transcripts import BANNER, FULLY_BOOTED, login_failed, login_success, message

DEADLINE = 5.0
USERNAME = "ivr-metrics"
SECRET = "s3cret-Do-Not-Log"


@dataclass(eq=False)
class FakeConnection:
    index: int
    writer: asyncio.StreamWriter
    received: list[AmiMessage] = field(default_factory=list)
    closed: bool = False

    def send(self, text: str) -> None:
        if not self.writer.is_closing():
            self.writer.write(text.encode())

    def send_bytes(self, data: bytes) -> None:
        if not self.writer.is_closing():
            self.writer.write(data)

    def drop(self) -> None:
        """Close the TCP connection from the PBX side, as a restart would."""
        self.writer.close()


Handler = Callable[[FakeConnection, AmiMessage], Awaitable[None] | None]


class FakeAmi:
    def __init__(self, *, secret: str = SECRET, banner: str = BANNER, answer_pings: bool = True) -> None:
        self.secret = secret
        self.banner = banner
        self.answer_pings = answer_pings
        self.handlers: dict[str, Handler] = {}
        self.connections: list[FakeConnection] = []
        self.port = 0
        self._server: asyncio.Server | None = None
        self._changed = asyncio.Condition()
        self._handlers_running: set[asyncio.Task[None]] = set()

    # -- what the tests look at ------------------------------------------------

    def actions(self, name: str) -> list[tuple[int, AmiMessage]]:
        """Every action of that name received, with the index of its connection."""
        return [(conn.index, m) for conn in self.connections for m in conn.received if m.name.lower() == name.lower()]

    async def wait_until(self, predicate: Callable[[], bool], what: str) -> None:
        try:
            async with asyncio.timeout(DEADLINE), self._changed:
                await self._changed.wait_for(predicate)
        except TimeoutError:
            raise AssertionError(f"fake AMI: timed out waiting for {what}") from None

    # -- lifecycle ---------------------------------------------------------------

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for conn in self.connections:
            conn.drop()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(DEADLINE):
                await asyncio.gather(*self._handlers_running, return_exceptions=True)
                if self._server is not None:
                    await self._server.wait_closed()

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers_running.add(task)
        conn = FakeConnection(len(self.connections), writer)
        self.connections.append(conn)
        parser = AmiParser(expect_banner=False)
        try:
            conn.send(self.banner)
            await self._notify()
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                parser.receive_data(data)
                while (event := parser.next_event()) is not NEED_DATA:
                    if isinstance(event, AmiMessage):
                        conn.received.append(event)
                        await self._on_action(conn, event)
                        await self._notify()
        except ConnectionError:
            pass
        finally:
            conn.closed = True
            writer.close()
            await self._notify()
            self._handlers_running.discard(task)

    async def _on_action(self, conn: FakeConnection, action: AmiMessage) -> None:
        name = action.name.lower()
        action_id = action.action_id or ""
        handler = self.handlers.get(name)
        if handler is not None:
            result = handler(conn, action)
            if result is not None:
                await result
        elif name == "login":
            if action.get("Username") == USERNAME and action.get("Secret") == self.secret:
                conn.send(login_success(action_id))
                if action.get("Events", "on").lower() != "off":
                    conn.send(FULLY_BOOTED)
            else:
                # Asterisk answers the error, then hangs up on a failed login.
                conn.send(login_failed(action_id))
                conn.drop()
        elif name == "ping":
            if self.answer_pings:
                conn.send(
                    message(
                        "Response: Success",
                        f"ActionID: {action_id}",
                        "Ping: Pong",
                        "Timestamp: 1732810412.000000",
                    )
                )
        elif name == "logoff":
            conn.send(
                message(
                    "Response: Goodbye",
                    f"ActionID: {action_id}",
                    "Message: Thanks for all the fish.",
                )
            )
            conn.drop()
        else:
            conn.send(message("Response: Success", f"ActionID: {action_id}"))
