"""JSON bodies: syntax errors say where, schema errors say which field, sizes are bounded."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web
from aiohttp.test_utils import TestClient

from ivr.web.errors import field_path

from .conftest import ADMIN_TOKEN, SUPERVISOR_TOKEN, bearer
from .test_http_errors import error_of

Client = TestClient[web.Request, web.Application]
PAUSE = "/api/agents/1001/pause"
MEMBERS = "/api/queues/basic_zh/members"


def json_headers(token: str) -> dict[str, str]:
    return {**bearer(token), "Content-Type": "application/json"}


async def test_bad_json_is_400_invalid_json_with_the_parser_position(client: Client) -> None:
    response = await client.post(
        PAUSE, data=b'{\n  "paused": tru\n}', headers=json_headers(SUPERVISOR_TOKEN)
    )
    body = await error_of(response, 400, "invalid_json")
    assert body["details"] == {"reason": "Expecting value", "line": 2, "column": 13, "position": 14}


async def test_empty_body_is_invalid_json(client: Client) -> None:
    response = await client.post(PAUSE, data=b"", headers=json_headers(SUPERVISOR_TOKEN))
    body = await error_of(response, 400, "invalid_json")
    assert body["details"]["reason"] == "empty body"


async def test_non_utf8_body_is_invalid_json_at_the_bad_byte(client: Client) -> None:
    response = await client.post(
        PAUSE, data=b'{"paused": "\xff"}', headers=json_headers(SUPERVISOR_TOKEN)
    )
    body = await error_of(response, 400, "invalid_json")
    assert body["details"]["position"] == 12


async def test_nan_is_not_json(client: Client) -> None:
    response = await client.put(
        MEMBERS, data=b'{"members": [{"interface": "PJSIP/NaN", "penalty": NaN}]}',
        headers=json_headers(ADMIN_TOKEN),
    )  # fmt: skip
    body = await error_of(response, 400, "invalid_json")
    assert body["details"] == {
        "reason": "NaN is not valid JSON", "line": 1, "column": 52, "position": 51,
    }  # fmt: skip


async def test_schema_error_is_400_invalid_request_with_field_paths(client: Client) -> None:
    members = [{"interface": "PJSIP/1001", "penalty": 0}, {"penalty": -1}]
    response = await client.put(MEMBERS, json={"members": members}, headers=bearer(ADMIN_TOKEN))
    body = await error_of(response, 400, "invalid_request")
    problems = {e["field"]: e for e in body["details"]["errors"]}
    assert set(problems) == {"members[1].interface", "members[1].penalty"}
    assert problems["members[1].interface"]["type"] == "missing"
    assert problems["members[1].penalty"]["loc"] == ["members", 1, "penalty"]
    assert "greater than or equal to 0" in problems["members[1].penalty"]["reason"]


async def test_a_body_that_is_not_an_object_is_a_schema_error_on_the_body(client: Client) -> None:
    response = await client.post(PAUSE, json=[1, 2], headers=bearer(SUPERVISOR_TOKEN))
    body = await error_of(response, 400, "invalid_request")
    assert body["details"]["errors"][0]["field"] == ""


async def test_schema_errors_never_echo_the_submitted_value(client: Client) -> None:
    card = "4111111111111111"
    response = await client.post(
        PAUSE, json={"paused": card, "reason": card * 3}, headers=bearer(SUPERVISOR_TOKEN)
    )
    await error_of(response, 400, "invalid_request")
    assert card not in await response.text()


async def test_a_declared_oversized_body_is_413(client: Client) -> None:
    members = [{"interface": f"PJSIP/{n}", "penalty": 0} for n in range(100)]
    response = await client.put(MEMBERS, json={"members": members}, headers=bearer(ADMIN_TOKEN))
    body = await error_of(response, 413, "payload_too_large")
    assert body["details"] == {"max_bytes": 512}


async def test_a_streamed_oversized_body_is_413(client: Client) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"members": ['
        for n in range(100):
            yield b'{"interface": "PJSIP/%d", "penalty": 0},' % n
        yield b"]}"

    response = await client.put(MEMBERS, data=chunks(), headers=json_headers(ADMIN_TOKEN))
    await error_of(response, 413, "payload_too_large")


def test_field_paths_read_like_the_json() -> None:
    assert field_path(("members", 0, "name")) == "members[0].name"
    assert field_path((2, "x")) == "[2].x"
    assert field_path(()) == ""
