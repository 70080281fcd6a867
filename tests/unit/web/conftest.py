"""A small API mounted the way `ivr serve` will mount it: one read, writes, failures."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from aiohttp.typedefs import Handler
from pydantic import BaseModel, Field

from ivr.audit import AuditEntry, SqliteAuditTrail
from ivr.web import (
    AUDIT,
    PRINCIPAL,
    Api,
    AuditPage,
    PbxUnavailable,
    TokenStore,
    list_audit,
    model_response,
    read_json,
    require,
)

VIEWER_TOKEN = "viewer-token-Zx81kQ3pL0"
SUPERVISOR_TOKEN = "supervisor-token-Hn27Wc9vT4"
ADMIN_TOKEN = "admin-token-Rb55Ym4sJ8q"
LEAKY_TEXT = "db password hunter2 at 10.0.0.7"
AT = datetime(2024, 3, 1, 10, 2, tzinfo=UTC)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class Queue(BaseModel):
    name: str
    waiting: int


class QueueList(BaseModel):
    queues: list[Queue]


class PauseRequest(BaseModel):
    paused: bool
    reason: str | None = Field(default=None, max_length=40)


class PauseResult(BaseModel):
    agent: str
    paused: bool


class Member(BaseModel):
    interface: str
    penalty: int = Field(ge=0)


class MembersRequest(BaseModel):
    members: list[Member]


async def list_queues(request: web.Request) -> web.StreamResponse:
    return model_response(QueueList(queues=[Queue(name="basic_zh", waiting=3)]))


def pause_agent(trail: SqliteAuditTrail) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        body = await read_json(request, PauseRequest)
        agent = request.match_info["agent"]
        entry = AuditEntry.by(
            request[PRINCIPAL], at=AT, action="agent.pause", target=f"agent/{agent}",
            before={"paused": False}, after=body.model_dump(),
        )  # fmt: skip
        await asyncio.to_thread(trail.record, entry)
        return model_response(PauseResult(agent=agent, paused=body.paused))

    return handler


async def set_members(request: web.Request) -> web.StreamResponse:
    body = await read_json(request, MembersRequest, max_bytes=512)
    return web.json_response({"count": len(body.members)})


async def whoami(request: web.Request) -> web.StreamResponse:
    principal = request[PRINCIPAL]
    return web.json_response({"name": principal.name, "role": principal.role.value})


async def boom(request: web.Request) -> web.StreamResponse:
    raise RuntimeError(LEAKY_TEXT)


async def busy(request: web.Request) -> web.StreamResponse:
    raise PbxUnavailable("AMI is reconnecting", {"retry_after_s": 5})


async def healthz(request: web.Request) -> web.StreamResponse:
    return web.json_response({"status": "ok"})


@require("admin")
async def reload_catalog(request: web.Request) -> web.StreamResponse:
    return web.json_response({"reloaded": True})


async def undeclared(request: web.Request) -> web.StreamResponse:
    return web.json_response({"ok": True})


def tokens() -> TokenStore:
    return TokenStore.parse(
        f"vera:viewer:{VIEWER_TOKEN}, sam:supervisor:{SUPERVISOR_TOKEN}\nada:admin:{ADMIN_TOKEN}"
    )


def build_api(trail: SqliteAuditTrail) -> Api:
    api = Api(tokens(), public_paths={"/healthz"}, title="ivr test", version="1.2.3")
    api.route(
        "GET", "/api/queues", list_queues, response=QueueList, summary="Queues", tags=("queues",)
    )
    api.route(
        "POST", r"/api/agents/{agent:\d+}/pause", pause_agent(trail),
        role="supervisor", request=PauseRequest, response=PauseResult, summary="Pause an agent",
    )  # fmt: skip
    api.route(
        "PUT", "/api/queues/{queue}/members", set_members, role="admin", request=MembersRequest,
        summary="Replace queue members", errors=(404, 409),
    )  # fmt: skip
    api.route("GET", "/api/whoami", whoami, summary="The calling principal")
    api.route("GET", "/api/boom", boom, summary="Always fails")
    api.route("GET", "/api/busy", busy, summary="PBX down")
    api.route("GET", "/api/version", healthz, role=None, summary="Public")
    api.route(
        "GET", "/api/audit", list_audit, role="supervisor", response=AuditPage,
        summary="Audit trail",
    )  # fmt: skip
    return api


@pytest.fixture
def trail(tmp_path: Path) -> Iterator[SqliteAuditTrail]:
    store = SqliteAuditTrail(tmp_path / "audit.sqlite")
    yield store
    store.close()


@pytest.fixture
async def client(
    trail: SqliteAuditTrail,
) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    app = web.Application()
    app[AUDIT] = trail
    app.router.add_get("/healthz", healthz)  # the lead's route, public by allow-list
    app.router.add_post("/api/reload", reload_catalog)  # plain router route + require()
    app.router.add_get("/api/undeclared", undeclared)  # no declaration: viewer
    build_api(trail).setup(app)
    async with TestClient(TestServer(app)) as test_client:
        yield test_client
