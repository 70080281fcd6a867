"""Bearer tokens, roles viewer < supervisor < admin, public routes by declaration or allow-list."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from .conftest import ADMIN_TOKEN, SUPERVISOR_TOKEN, VIEWER_TOKEN, bearer
from .test_http_errors import error_of

Client = TestClient[web.Request, web.Application]
PAUSE = "/api/agents/1001/pause"


async def test_missing_token_is_401_unauthorized_with_a_bearer_challenge(client: Client) -> None:
    response = await client.get("/api/queues")
    await error_of(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="ivr"'


async def test_wrong_token_is_401_with_an_invalid_token_challenge(client: Client) -> None:
    response = await client.get("/api/queues", headers=bearer("not-a-configured-token-1234"))
    await error_of(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="ivr", error="invalid_token"'


async def test_non_bearer_authorization_is_401(client: Client) -> None:
    response = await client.get("/api/queues", headers={"Authorization": "Basic dmVyYTp4"})
    await error_of(response, 401, "unauthorized")


async def test_viewer_write_is_403_naming_the_required_role(client: Client) -> None:
    response = await client.post(PAUSE, json={"paused": True}, headers=bearer(VIEWER_TOKEN))
    body = await error_of(response, 403, "forbidden")
    assert body["details"] == {"required_role": "supervisor", "role": "viewer"}


async def test_supervisor_may_pause_an_agent(client: Client) -> None:
    response = await client.post(PAUSE, json={"paused": True}, headers=bearer(SUPERVISOR_TOKEN))
    assert response.status == 200
    assert await response.json() == {"agent": "1001", "paused": True}


async def test_admin_covers_supervisor_routes(client: Client) -> None:
    response = await client.post(PAUSE, json={"paused": False}, headers=bearer(ADMIN_TOKEN))
    assert response.status == 200


async def test_supervisor_cannot_call_an_admin_route(client: Client) -> None:
    response = await client.put(
        "/api/queues/basic_zh/members", json={"members": []}, headers=bearer(SUPERVISOR_TOKEN)
    )
    body = await error_of(response, 403, "forbidden")
    assert body["details"]["required_role"] == "admin"


async def test_the_principal_is_attached_to_the_request(client: Client) -> None:
    response = await client.get("/api/whoami", headers=bearer(SUPERVISOR_TOKEN))
    assert await response.json() == {"name": "sam", "role": "supervisor"}


async def test_allow_listed_path_needs_no_token(client: Client) -> None:
    response = await client.get("/healthz")
    assert response.status == 200


async def test_route_declared_public_needs_no_token(client: Client) -> None:
    response = await client.get("/api/version")
    assert response.status == 200


async def test_require_decorator_guards_a_route_added_to_the_router_directly(
    client: Client,
) -> None:
    denied = await client.post("/api/reload", headers=bearer(SUPERVISOR_TOKEN))
    body = await error_of(denied, 403, "forbidden")
    assert body["details"]["required_role"] == "admin"
    allowed = await client.post("/api/reload", headers=bearer(ADMIN_TOKEN))
    assert allowed.status == 200


async def test_route_without_a_declared_role_needs_viewer(client: Client) -> None:
    await error_of(await client.get("/api/undeclared"), 401, "unauthorized")
    assert (await client.get("/api/undeclared", headers=bearer(VIEWER_TOKEN))).status == 200


async def test_unknown_route_without_a_token_is_401_so_routes_are_not_disclosed(
    client: Client,
) -> None:
    response = await client.get("/api/nowhere")
    await error_of(response, 401, "unauthorized")


async def test_unknown_route_without_token_and_public_path_differ(client: Client) -> None:
    public: Any = await client.get("/healthz")
    hidden: Any = await client.get("/healthz/extra")
    assert (public.status, hidden.status) == (200, 401)
