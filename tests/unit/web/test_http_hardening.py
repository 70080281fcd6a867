"""Specs of the HTTP hardening found missing by probing: bad header bytes, huge
numbers, failed-auth throttling, security headers, slow and numerous clients."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from structlog.testing import capture_logs

from ivr.web import Api, TokenStore
from ivr.web.headers import CONTENT_SECURITY_POLICY
from ivr.web.site import GuardedSite, http_runner
from ivr.web.throttle import FailureThrottle

from .conftest import SUPERVISOR_TOKEN, VIEWER_TOKEN, bearer

Client = TestClient[web.Request, web.Application]


# -- 500s that must be 400s ---------------------------------------------------------


async def test_non_utf8_bytes_in_the_authorization_header_are_401_not_500(client: Client) -> None:
    # aiohttp decodes header bytes leniently (surrogate escapes): the token must
    # be refused before it is hashed, which needs it encodable.
    headers = {"Authorization": "Bearer abc\udcff\udcfe"}
    response = await client.get("/api/queues", headers=headers, skip_auto_headers=())
    assert response.status == 401
    assert (await response.json())["error_id"] == "unauthorized"


async def test_a_raw_latin1_authorization_header_is_401_not_500(client: Client) -> None:
    host, port = client.server.host, client.server.port
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(
        b"GET /api/queues HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer caf\xe9\xff\r\nConnection: close\r\n\r\n"
    )
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), timeout=10)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 401")


async def test_a_json_integer_of_5001_digits_is_400_invalid_json(client: Client) -> None:
    body = b'{"paused": true, "reason": ' + b"9" * 5001 + b"}"
    response = await client.post("/api/agents/1001/pause", data=body, headers=bearer(SUPERVISOR_TOKEN))
    assert response.status == 400
    error = await response.json()
    assert error["error_id"] == "invalid_json" and "digits" in error["message"]
    assert "9999" not in json.dumps(error)  # the value is never echoed


async def test_json_nested_past_the_parsers_depth_is_400_invalid_json(client: Client) -> None:
    body = b"[" * 30_000 + b"]" * 30_000  # under the 64 KiB body limit
    response = await client.post("/api/agents/1001/pause", data=body, headers=bearer(SUPERVISOR_TOKEN))
    assert response.status == 400
    assert (await response.json())["error_id"] == "invalid_json"


# -- failed authentication: logged with the address, throttled ------------------------


async def test_a_failed_authentication_is_logged_with_the_client_address(client: Client) -> None:
    with capture_logs() as logs:
        await client.get("/api/queues", headers=bearer("not-a-real-token-at-all"))
    refused = [e for e in logs if e["event"] == "api_unauthorized"]
    assert refused and refused[0]["client"] == "127.0.0.1"
    assert "not-a-real-token-at-all" not in repr(logs)


async def test_an_address_with_too_many_failures_gets_429_for_its_failures_until_its_window_ends() -> None:
    now = [1000.0]
    api = Api(
        TokenStore.parse(f"vera:viewer:{VIEWER_TOKEN}"), throttle=FailureThrottle(limit=3, window=60),
        clock=lambda: now[0],
    )  # fmt: skip
    api.route("GET", "/api/queues", _ok)
    app = web.Application()
    api.setup(app)
    async with TestClient(TestServer(app)) as client:
        with capture_logs() as logs:
            for _ in range(3):
                assert (await client.get("/api/queues", headers=bearer("guess-guess-guess"))).status == 401
            throttled = [await client.get("/api/queues", headers=bearer("guess-guess-guess")) for _ in range(5)]
            # Every client of a loopback service shares the address: a valid token still passes.
            assert (await client.get("/api/queues", headers=bearer(VIEWER_TOKEN))).status == 200
        assert {r.status for r in throttled} == {429}
        assert (await throttled[0].json())["error_id"] == "too_many_requests"
        assert 1 <= int(throttled[0].headers["Retry-After"]) <= 60
        assert [e["client"] for e in logs if e["event"] == "api_auth_throttled"] == ["127.0.0.1"]
        assert len([e for e in logs if e["event"] == "api_unauthorized"]) == 3  # no log flood past the limit
        now[0] += 61
        assert (await client.get("/api/queues", headers=bearer("guess-guess-guess"))).status == 401


def test_the_throttle_blocks_at_the_limit_and_forgets_after_the_window() -> None:
    throttle = FailureThrottle(limit=2, window=10)
    assert throttle.retry_after("a", 0) is None
    assert throttle.record_failure("a", 0) is False
    assert throttle.record_failure("a", 1) is True  # the one warning of this window
    assert throttle.record_failure("a", 2) is False
    assert throttle.retry_after("a", 5) == pytest.approx(5)
    assert throttle.retry_after("b", 5) is None
    assert throttle.retry_after("a", 10) is None


def test_the_throttle_keeps_at_most_its_number_of_addresses_blocked_ones_last() -> None:
    throttle = FailureThrottle(limit=2, window=100, max_addresses=3)
    throttle.record_failure("blocked", 0)
    throttle.record_failure("blocked", 0)
    for n in range(10):
        throttle.record_failure(f"10.0.0.{n}", 1 + n)
    assert len(throttle) == 3
    assert throttle.retry_after("blocked", 50) is not None


# -- security headers ---------------------------------------------------------------


async def test_every_response_carries_the_security_headers_and_no_server_version(client: Client) -> None:
    for response in (
        await client.get("/api/queues", headers=bearer(VIEWER_TOKEN)),
        await client.get("/api/queues"),  # 401
        await client.get("/no/such/route", headers=bearer(VIEWER_TOKEN)),  # 404
    ):
        assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
        assert "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY and "'unsafe-inline'" not in CONTENT_SECURITY_POLICY
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert response.headers["Server"] == "ivr"


# -- slow and numerous clients ------------------------------------------------------


async def _ok(request: web.Request) -> web.StreamResponse:
    return web.json_response({"ok": True})


@pytest.fixture
async def guarded() -> AsyncIterator[GuardedSite]:
    app = web.Application()
    app.router.add_get("/", _ok)
    runner = http_runner(app, header_timeout=0.5)
    await runner.setup()
    site = GuardedSite(runner, "127.0.0.1", 0, max_connections=3)
    await site.start()
    yield site
    await runner.cleanup()


async def test_a_client_that_sends_its_header_slowly_is_dropped_after_the_header_timeout(
    guarded: GuardedSite,
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", guarded.port)
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n")
    trickled = 0
    with contextlib.suppress(ConnectionError):
        while trickled < 99 and not reader.at_eof():  # keeps trickling: a byte does not buy more time
            await asyncio.sleep(0.05)
            writer.write(b"X-Slow: 1\r\n")
            await writer.drain()
            trickled += 1
    answer = await asyncio.wait_for(reader.read(), timeout=10)
    assert answer == b""  # closed by the server, without an answer
    assert trickled < 99  # ... before the client stopped trickling
    writer.close()


async def test_connections_past_the_cap_get_a_503_and_are_closed_while_the_others_are_served(
    guarded: GuardedSite,
) -> None:
    held = [await asyncio.open_connection("127.0.0.1", guarded.port) for _ in range(3)]
    for _, writer in held:
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")  # keep-alive: they stay open
    for reader, _ in held:
        assert (await asyncio.wait_for(reader.readuntil(b'{"ok": true}'), 10)).startswith(b"HTTP/1.1 200")
    with capture_logs() as logs:
        reader, writer = await asyncio.open_connection("127.0.0.1", guarded.port)
        answer = await asyncio.wait_for(reader.read(), timeout=10)
    assert answer.startswith(b"HTTP/1.1 503")
    assert b'"error_id": "too_many_connections"' in answer and b"Retry-After: 5" in answer
    assert guarded.refused == 1
    assert [e["event"] for e in logs] == ["http_connection_refused"]
    writer.close()
    for _, held_writer in held:
        held_writer.close()


async def test_a_header_that_is_not_valid_http_gets_the_json_error_shape_and_one_info_line(
    guarded: GuardedSite,
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", guarded.port)
    with capture_logs() as logs:
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sec\x0bret-token\r\n\r\n")
        answer = await asyncio.wait_for(reader.read(), timeout=10)
    writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.split(b" ")[1] == b"400" and b"application/json" in head and b"X-Content-Type-Options" in head
    assert json.loads(body)["error_id"] == "bad_request"
    assert [(e["event"], e["log_level"]) for e in logs] == [("http_bad_request", "info")]
    assert "ret-token" not in repr(logs)
