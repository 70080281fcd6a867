"""The OpenAPI document lists exactly the declared routes, their roles and schemas."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from ivr.audit import SqliteAuditTrail
from ivr.web import Api, TokenStore, openapi_spec

from .conftest import VIEWER_TOKEN, bearer, build_api, list_queues
from .test_http_errors import error_of

Client = TestClient[web.Request, web.Application]


@pytest.fixture
def spec(tmp_path: Path) -> Iterator[dict[str, Any]]:
    trail = SqliteAuditTrail(tmp_path / "audit.sqlite")
    yield openapi_spec(build_api(trail).registry, title="ivr test", version="1.2.3")
    trail.close()


def refs_in(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from refs_in(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs_in(value)


def test_spec_is_openapi_3_1_with_a_bearer_security_scheme(spec: dict[str, Any]) -> None:
    assert spec["openapi"] == "3.1.0"
    assert spec["info"] == {"title": "ivr test", "version": "1.2.3"}
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert spec["security"] == [{"bearerAuth": []}]


def test_spec_lists_every_registered_route_with_its_role(spec: dict[str, Any]) -> None:
    operations = {
        (method.upper(), path): op
        for path, ops in spec["paths"].items()
        for method, op in ops.items()
    }
    assert set(operations) == {
        ("GET", "/api/openapi.json"), ("GET", "/api/queues"),
        ("POST", "/api/agents/{agent}/pause"), ("PUT", "/api/queues/{queue}/members"),
        ("GET", "/api/whoami"), ("GET", "/api/boom"), ("GET", "/api/busy"),
        ("GET", "/api/version"), ("GET", "/api/audit"),
    }  # fmt: skip
    pause = operations[("POST", "/api/agents/{agent}/pause")]
    assert pause["x-required-role"] == "supervisor"
    assert pause["security"] == [{"bearerAuth": []}]
    assert pause["summary"] == "Pause an agent"
    assert pause["parameters"][0]["name"] == "agent"
    assert {"200", "400", "401", "403", "413", "500"} <= set(pause["responses"])
    assert {"404", "409"} <= set(operations[("PUT", "/api/queues/{queue}/members")]["responses"])
    assert operations[("GET", "/api/queues")]["tags"] == ["queues"]


def test_public_route_has_no_security_requirement(spec: dict[str, Any]) -> None:
    version = spec["paths"]["/api/version"]["get"]
    assert version["security"] == []
    assert "x-required-role" not in version and "401" not in version["responses"]


def test_request_response_and_error_schemas_come_from_the_models(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    assert {"PauseRequest", "PauseResult", "QueueList", "Queue", "ErrorBody", "Member"} <= set(
        schemas
    )
    assert schemas["PauseRequest"]["required"] == ["paused"]
    pause = spec["paths"]["/api/agents/{agent}/pause"]["post"]
    body_schema = pause["requestBody"]["content"]["application/json"]["schema"]
    assert body_schema == {"$ref": "#/components/schemas/PauseRequest"}
    error_schema = pause["responses"]["403"]["content"]["application/json"]["schema"]
    assert error_schema == {"$ref": "#/components/schemas/ErrorBody"}


def test_every_ref_resolves_inside_the_document(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    for ref in refs_in(spec):
        assert ref.startswith("#/components/schemas/")
        assert ref.removeprefix("#/components/schemas/") in schemas


def test_registering_the_same_operation_twice_is_refused() -> None:
    api = Api(TokenStore())
    api.route("GET", "/api/queues", list_queues)
    with pytest.raises(ValueError, match="registered twice"):
        api.route("get", "/api/queues", list_queues)


async def test_openapi_document_is_served_to_viewers(client: Client) -> None:
    await error_of(await client.get("/api/openapi.json"), 401, "unauthorized")
    response = await client.get("/api/openapi.json", headers=bearer(VIEWER_TOKEN))
    assert response.status == 200
    assert "/api/queues" in (await response.json())["paths"]


async def test_routes_declared_after_setup_are_served_and_documented() -> None:
    app = web.Application()
    api = Api(TokenStore(), openapi_role=None)
    api.setup(app)
    api.route("GET", "/api/late", list_queues, role=None, summary="Declared late")
    from aiohttp.test_utils import TestServer

    async with TestClient(TestServer(app)) as client:
        assert (await client.get("/api/late")).status == 200
        document = await (await client.get("/api/openapi.json")).json()
    assert "/api/late" in document["paths"]


def test_query_parameters_are_documented_from_their_model_with_400_and_429() -> None:
    from ivr.metrics.adapters.http import KpiQuery

    api = Api(TokenStore())
    api.route("GET", "/api/kpis", list_queues, query=KpiQuery, summary="KPIs")
    op = openapi_spec(api.registry)["paths"]["/api/kpis"]["get"]
    parameters = {p["name"]: p for p in op["parameters"]}
    assert set(parameters) == {"from", "to", "interval", "group_by", "format"}
    assert all(p["in"] == "query" and p["required"] is False for p in parameters.values())
    assert parameters["interval"]["schema"]["maximum"] == 86400
    assert "1970-2100" in parameters["from"]["description"]
    assert {"400", "401", "403", "429"} <= set(op["responses"])
