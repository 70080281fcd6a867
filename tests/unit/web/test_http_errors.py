"""Every failure is a JSON body {status, error_id, message, details}, whatever raised it."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient
from structlog.testing import capture_logs

from .conftest import ADMIN_TOKEN, LEAKY_TEXT, VIEWER_TOKEN, bearer

Client = TestClient[web.Request, web.Application]


async def error_of(response: Any, status: int, error_id: str) -> dict[str, Any]:
    assert response.status == status
    assert response.content_type == "application/json"
    body: dict[str, Any] = await response.json()
    assert set(body) == {"status", "error_id", "message", "details"}
    assert body["status"] == status
    assert body["error_id"] == error_id
    return body


async def test_unknown_route_is_404_json(client: Client) -> None:
    response = await client.get("/api/nowhere", headers=bearer(VIEWER_TOKEN))
    body = await error_of(response, 404, "not_found")
    assert "/api/nowhere" in body["message"]


async def test_wrong_method_is_405_json_listing_the_allowed_methods(client: Client) -> None:
    response = await client.delete("/api/queues", headers=bearer(ADMIN_TOKEN))
    body = await error_of(response, 405, "method_not_allowed")
    assert body["details"] == {"method": "DELETE", "allowed": ["GET", "HEAD"]}
    assert response.headers["Allow"] == "GET, HEAD"


async def test_unexpected_exception_is_500_without_leaking_its_text(client: Client) -> None:
    with capture_logs() as logs:
        response = await client.get("/api/boom", headers=bearer(VIEWER_TOKEN))
        text = await response.text()
    assert LEAKY_TEXT not in text and "RuntimeError" not in text
    body = await error_of(response, 500, "internal_error")
    correlation_id = body["details"]["correlation_id"]
    assert response.headers["X-Correlation-Id"] == correlation_id
    [logged] = [e for e in logs if e["event"] == "http_internal_error"]
    assert logged["correlation_id"] == correlation_id
    assert logged["log_level"] == "error" and logged["exc_info"] is True
    assert logged["path"] == "/api/boom"


async def test_api_error_from_a_handler_keeps_its_status_id_and_details(client: Client) -> None:
    response = await client.get("/api/busy", headers=bearer(VIEWER_TOKEN))
    body = await error_of(response, 503, "pbx_unavailable")
    assert body["message"] == "AMI is reconnecting"
    assert body["details"] == {"retry_after_s": 5}


async def test_successful_responses_pass_through_untouched(client: Client) -> None:
    response = await client.get("/api/queues", headers=bearer(VIEWER_TOKEN))
    assert response.status == 200
    assert await response.json() == {"queues": [{"name": "basic_zh", "waiting": 3}]}


async def test_head_of_a_get_route_is_served(client: Client) -> None:
    response = await client.head("/api/queues", headers=bearer(VIEWER_TOKEN))
    assert response.status == 200
