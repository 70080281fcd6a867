"""The HTTP defects found by probing the running service, checked against `ivr serve`
itself: unbounded KPI ranges, 500s on odd input, slow clients, the wallboard's
token, security headers, and what the run directory lets other users read."""

from __future__ import annotations

import json
import socket
import stat
import time

import pytest

from tests.e2e.harness import IvrService

pytestmark = pytest.mark.e2e

DAY = 86400


@pytest.mark.parametrize(
    "query",
    [
        "from=nan", "from=-inf", "to=inf", "from=-1e300&to=0", "from=1e19", "from=1000000000000",
        f"from={time.time() - 5 * 365 * DAY:.0f}&group_by=none",  # five years: refused, not built
    ],
)  # fmt: skip
def test_a_kpi_range_out_of_bounds_is_a_400_with_the_limit(ivr_service: IvrService, query: str) -> None:
    status, body, _ = ivr_service.get(f"/api/kpis?{query}")
    error = json.loads(body)
    assert status == 400 and error["error_id"] == "invalid_request", error
    assert error["details"]["errors"][0]["field"] in ("from", "to")


def test_the_longest_allowed_report_is_served_while_health_still_answers(ivr_service: IvrService) -> None:
    end = time.time()
    status, body, _ = ivr_service.get(f"/api/kpis?from={end - 31 * DAY:.0f}&to={end:.0f}&group_by=none")
    assert status == 200 and len(json.loads(body)["rows"]) >= 31 * 96
    assert ivr_service.health() is not None


def _raw(ivr_service: IvrService, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", ivr_service.settings.http_port), timeout=15) as conn:
        conn.sendall(request)
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_non_utf8_bytes_in_the_authorization_header_are_a_401(ivr_service: IvrService) -> None:
    answer = _raw(
        ivr_service,
        b"GET /api/queues HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \xff\xfe\xe9t\r\nConnection: close\r\n\r\n",
    )
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
    assert b"unauthorized" in answer


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/api/agents/1001/pause", "reason"),
        ("/api/agents/1001/login", "queues"),
        ("/api/emergency/all/on", "minutes"),
        ("/api/reload", "dry_run"),
    ],
)
def test_a_json_number_of_5001_digits_is_a_400_on_every_route_with_a_body(
    ivr_service: IvrService, path: str, field: str
) -> None:
    body = b'{"' + field.encode() + b'": ' + b"7" * 5001 + b"}"
    status, answer = ivr_service.post(path, body, token="admin-demo")
    assert status == 400 and answer["error_id"] == "invalid_json", answer


def test_every_answer_carries_security_headers_and_no_server_version(ivr_service: IvrService) -> None:
    for path, token in (("/wallboard", None), ("/api/queues", "viewer-demo"), ("/api/queues", None)):
        _, _, headers = ivr_service.get(path, token=token)
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "no-referrer"
        assert headers["Server"] == "ivr"


def test_the_wallboard_stream_no_longer_takes_a_token_in_the_url(ivr_service: IvrService) -> None:
    status, _, _ = ivr_service.get("/api/wallboard/stream?token=viewer-demo", token=None)
    assert status == 401


def test_a_client_sending_a_partial_header_is_dropped(ivr_service: IvrService) -> None:
    with socket.create_connection(("127.0.0.1", ivr_service.settings.http_port), timeout=30) as conn:
        conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: 1\r\n")  # never finished
        started = time.monotonic()
        assert conn.recv(1) == b""  # closed by the service (the header timeout, 10 s by default)
        print(f"dropped after {time.monotonic() - started:.1f} s")


def test_the_customer_directory_and_the_rendered_secrets_are_not_world_readable(ivr_service: IvrService) -> None:
    run = ivr_service.settings.run_dir
    for path in (run / "customers.sqlite3", run / "events.sqlite3", run / "audit.sqlite3"):
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path
    for name in ("pjsip.conf", "manager.conf"):
        assert stat.S_IMODE((run / "etc" / name).stat().st_mode) & 0o007 == 0, name
