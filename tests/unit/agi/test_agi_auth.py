"""FastAGI authentication: only a connection carrying the token that the
deployment's Asterisk computes from the key reaches a handler.

Real loopback sockets; the "Asterisk" here computes the token as the
dialplan does (SHA1 of the key's second half and the hex SHA1 of its first
half and ``<uniqueid>|<time>|<script>|<args>``), independently of
``ivr.agi.auth``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import stat
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from ivr.agi import AgiAuth, AgiKeyError, AgiSession, FastAgiServer

DEADLINE = 5.0
KEY = b"00112233445566778899aabbccddeeff" * 2  # 64 hex characters, as the service writes it
UNIQUEID = "1732810412.14"


def dialplan_token(key: bytes, uniqueid: str, when: int, script: str, args: Sequence[str]) -> str:
    """What `${SHA1(${FILE(k,32,32)}${SHA1(${FILE(k,0,32)}<uniqueid>|<time>|<script>|<args>)})}` gives."""
    inner = hashlib.sha1(key[:32] + f"{uniqueid}|{when}|{script}|{','.join(args)}".encode()).hexdigest()
    return hashlib.sha1(key[32:64] + inner.encode()).hexdigest()


def header(
    script: str = "agent",
    args: Sequence[str] = ("logout", "1003", ""),
    *,
    uniqueid: str = UNIQUEID,
    query: str | None = None,
    token_for: tuple[str, str, Sequence[str]] | None = None,
    key: bytes = KEY,
    when: int | None = None,
) -> bytes:
    """An Asterisk 22 header for `AGI(agi://127.0.0.1:4573/<script>?<query>,<args>)`.

    By default the query is the valid token for this very header; `token_for`
    (uniqueid, script, args) makes it the valid token of another request.
    """
    when = int(time.time()) if when is None else when
    if query is None:
        target = token_for or (uniqueid, script, args)
        query = f"auth={when}.{dialplan_token(key, *target[:1], when, *target[1:])}"
    full = f"{script}?{query}" if query else script
    lines = [
        "agi_network: yes",
        f"agi_network_script: {full}",
        f"agi_request: agi://127.0.0.1:4573/{full}",
        "agi_channel: PJSIP/1003-00000002",
        f"agi_uniqueid: {uniqueid}",
        "agi_callerid: 1003",
        *(f"agi_arg_{n}: {arg}" for n, arg in enumerate(args, 1)),
    ]
    return ("\n".join(lines) + "\n\n").encode()


class Handler:
    """Records every session it is given; answers nothing (the call just ends)."""

    def __init__(self) -> None:
        self.sessions: list[AgiSession] = []

    async def __call__(self, session: AgiSession) -> None:
        self.sessions.append(session)


@pytest.fixture
def handler() -> Handler:
    return Handler()


@pytest.fixture
async def server(handler: Handler) -> AsyncIterator[FastAgiServer]:
    async with FastAgiServer(
        "127.0.0.1", 0, {"agent": handler, "route": handler}, auth=AgiAuth(KEY), default_route=handler
    ) as running:
        yield running
    assert running.active_sessions == 0


async def exchange(port: int, data: bytes) -> bytes:
    """Send a header as Asterisk does and return everything the server writes until it closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        async with asyncio.timeout(DEADLINE):
            return await reader.read()
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def assert_refused(server: FastAgiServer, handler: Handler, data: bytes, reason: str) -> None:
    served = len(handler.sessions)
    with capture_logs() as logs:
        written = await exchange(server.port, data)
    # FAILURE makes Asterisk set AGISTATUS=FAILURE: the dialplan's fallback path.
    assert written == b"FAILURE\n"
    assert len(handler.sessions) == served, "a handler ran"
    refusals = [entry for entry in logs if entry["event"] == "agi_unauthenticated"]
    assert [(r["log_level"], r["reason"]) for r in refusals] == [("warning", reason)]
    # Nothing of the key, the token or the peer's header in any line.
    text = repr(logs)
    assert KEY[:32].decode() not in text and KEY[32:].decode() not in text
    assert "auth=" not in text and UNIQUEID not in text and "logout" not in text


async def test_a_session_without_the_deployment_token_is_refused_before_any_handler_runs(
    server: FastAgiServer, handler: Handler
) -> None:
    await assert_refused(server, handler, header(query=""), "no_token")


async def test_a_session_with_a_wrong_token_is_refused_before_any_handler_runs(
    server: FastAgiServer, handler: Handler
) -> None:
    forged = header(key=b"f" * 64)
    await assert_refused(server, handler, forged, "bad_token")
    await assert_refused(server, handler, header(query=f"auth={int(time.time())}.{'0' * 40}"), "bad_token")
    await assert_refused(server, handler, header(query="auth=garbage"), "no_token")


async def test_a_token_for_another_uniqueid_is_refused_before_any_handler_runs(
    server: FastAgiServer, handler: Handler
) -> None:
    stolen = header(uniqueid="1732810999.77", token_for=(UNIQUEID, "agent", ("logout", "1003", "")))
    await assert_refused(server, handler, stolen, "bad_token")


async def test_a_malformed_uniqueid_is_refused_even_with_a_token_computed_for_it(
    server: FastAgiServer, handler: Handler
) -> None:
    for uniqueid in ("", "1732810412", "1732810412.14|agent", "../1732810412.14", "1732810412.14 ", "x" * 70 + "-1.2"):
        await assert_refused(server, handler, header(uniqueid=uniqueid), "malformed_uniqueid")


async def test_a_token_for_another_seat_or_script_is_refused_before_any_handler_runs(
    server: FastAgiServer, handler: Handler
) -> None:
    other_seat = header(token_for=(UNIQUEID, "agent", ("logout", "1004", "")))
    other_script = header(token_for=(UNIQUEID, "route", ("logout", "1003", "")))
    split_differently = header(args=("logout,1003", ""), token_for=(UNIQUEID, "agent", ("logout", "1003", "")))

    await assert_refused(server, handler, other_seat, "bad_token")
    await assert_refused(server, handler, other_script, "bad_token")
    await assert_refused(server, handler, split_differently, "malformed_args")


async def test_a_session_with_a_valid_token_runs_its_handler_with_the_script_and_arguments_unchanged(
    server: FastAgiServer, handler: Handler
) -> None:
    with capture_logs() as logs:
        written = await exchange(server.port, header())

    assert written == b""  # the handler ran and returned: a plain close, AGISTATUS=SUCCESS
    [session] = handler.sessions
    assert session.request.network_script == "agent"
    assert session.request.args == ("logout", "1003", "")
    assert session.request.uniqueid == UNIQUEID
    assert not [entry for entry in logs if entry["event"] == "agi_unauthenticated"]


async def test_a_token_is_accepted_once_and_only_while_fresh(server: FastAgiServer, handler: Handler) -> None:
    valid = header()
    assert await exchange(server.port, valid) == b""
    assert len(handler.sessions) == 1

    await assert_refused(server, handler, valid, "replayed_token")
    await assert_refused(server, handler, header(when=int(time.time()) - 3600), "stale_token")
    assert len(handler.sessions) == 1


async def test_a_server_without_auth_still_serves_any_header() -> None:
    handler = Handler()
    with capture_logs() as logs:
        async with FastAgiServer("127.0.0.1", 0, {"agent": handler}) as server:
            assert await exchange(server.port, header(query="")) == b""
    assert len(handler.sessions) == 1
    assert any(e["event"] == "agi_server_unauthenticated" and e["log_level"] == "warning" for e in logs)


# --------------------------------------------------------------------------- the key file


def test_the_key_file_is_created_once_readable_by_the_pbx_group_only_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "agi.key"
    group = os.getegid()  # what the test may give; the service gives the asterisk group

    first = AgiAuth.from_key_file(path, group=group)
    second = AgiAuth.from_key_file(path, group=group)

    key = path.read_bytes()
    assert len(key) == 64 and int(key, 16) >= 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert path.stat().st_gid == group
    assert first.token(UNIQUEID, 1, "route", ["main"]) == second.token(UNIQUEID, 1, "route", ["main"])
    assert first.token(UNIQUEID, 1, "route", ["main"]) == dialplan_token(key, UNIQUEID, 1, "route", ["main"])
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    assert "<key hidden>" in repr(first) and key.decode() not in repr(first)


def test_without_a_group_a_new_key_is_its_owners_alone(tmp_path: Path) -> None:
    path = tmp_path / "run" / "agi.key"

    AgiAuth.from_key_file(path)

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.stat().st_uid == os.geteuid()


def test_an_operator_made_key_with_a_newline_is_used_and_a_bad_one_is_reported_without_its_content(
    tmp_path: Path,
) -> None:
    path = tmp_path / "agi.key"
    path.write_bytes(KEY + b"\n")
    assert AgiAuth.from_key_file(path).token(UNIQUEID, 1, "route", ["main"]) == dialplan_token(
        KEY, UNIQUEID, 1, "route", ["main"]
    )

    path.write_bytes(b"secret-that-is-not-hex")
    with pytest.raises(AgiKeyError) as raised:
        AgiAuth.from_key_file(path)
    assert "secret-that-is-not-hex" not in str(raised.value) and str(path) in str(raised.value)
