"""The audit trail is append-only, filterable, secret-free and readable by supervisors."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from ivr.audit import AuditEntry, MemoryAuditTrail, SqliteAuditTrail
from ivr.web import Principal, Role

from .conftest import AT, SUPERVISOR_TOKEN, VIEWER_TOKEN, bearer
from .test_http_errors import error_of

Client = TestClient[web.Request, web.Application]
SAM = Principal("sam", Role.SUPERVISOR)


def entry(minutes: int, action: str = "agent.pause", **changes: object) -> AuditEntry:
    values: dict[str, object] = {"before": {"paused": False}, "after": {"paused": True}}
    return AuditEntry.by(
        SAM, at=AT + timedelta(minutes=minutes), action=action, target="agent/1001",
        **(values | changes),  # type: ignore[arg-type]
    )  # fmt: skip


def test_sqlite_trail_records_and_reads_back_newest_first(trail: SqliteAuditTrail) -> None:
    trail.record(entry(0))
    trail.record(entry(1, "emergency.switch", before="off", after="on"))
    assert trail.entries() == [entry(1, "emergency.switch", before="off", after="on"), entry(0)]


def test_entries_filter_by_time_action_and_limit(trail: SqliteAuditTrail) -> None:
    for minute in range(5):
        trail.record(entry(minute, "agent.pause" if minute % 2 else "agent.unpause"))
    since = AT + timedelta(minutes=2)
    assert [e.at for e in trail.entries(since=since)] == [
        AT + timedelta(minutes=m) for m in (4, 3, 2)
    ]
    assert [e.action for e in trail.entries(action="agent.pause")] == ["agent.pause"] * 2
    assert len(trail.entries(limit=1)) == 1


def test_times_round_trip_to_the_microsecond_in_utc(trail: SqliteAuditTrail) -> None:
    at = datetime(2024, 3, 1, 18, 2, 3, 456789, tzinfo=timezone(timedelta(hours=8)))
    trail.record(AuditEntry(at, "sam", "supervisor", "agent.pause", "agent/1001"))
    [back] = trail.entries()
    assert back.at == at and back.at.tzinfo == UTC


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        AuditEntry(datetime(2024, 3, 1), "sam", "supervisor", "agent.pause", "agent/1001")


def test_the_trail_survives_a_reopen_and_uses_wal(tmp_path: Path) -> None:
    path = tmp_path / "audit.sqlite"
    first = SqliteAuditTrail(path)
    first.record(entry(0))
    first.close()
    again = SqliteAuditTrail(path)
    assert again.entries() == [entry(0)]
    again.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_rows_cannot_be_updated_or_deleted(tmp_path: Path) -> None:
    path = tmp_path / "audit.sqlite"
    trail = SqliteAuditTrail(path)
    trail.record(entry(0))
    trail.close()
    db = sqlite3.connect(path)
    for statement in ("UPDATE audit SET who = 'mallory'", "DELETE FROM audit"):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            db.execute(statement)
    db.close()


@pytest.mark.parametrize("make", [MemoryAuditTrail, None], ids=["memory", "sqlite"])
def test_secrets_are_scrubbed_before_storage(make: object, trail: SqliteAuditTrail) -> None:
    store = MemoryAuditTrail() if make is MemoryAuditTrail else trail
    store.record(
        entry(
            0,
            before={"card_number": "4111111111111111", "ami_secret": "s3cret", "pin": "1234"},
            after={"note": "caller read 4111 1111 1111 1111", "api_token": "tok-abc", "n": 7},
        )
    )
    [stored] = store.entries()
    assert stored.before == {
        "card_number": "[redacted]",
        "ami_secret": "[redacted]",
        "pin": "[redacted]",
    }
    assert stored.after == {
        "note": "caller read ************1111",
        "api_token": "[redacted]",
        "n": 7,
    }


async def test_a_write_route_records_who_did_it(client: Client, trail: SqliteAuditTrail) -> None:
    response = await client.post(
        "/api/agents/1001/pause", json={"paused": True, "reason": "lunch"},
        headers=bearer(SUPERVISOR_TOKEN),
    )  # fmt: skip
    assert response.status == 200
    [recorded] = trail.entries()
    assert (recorded.who, recorded.role, recorded.action, recorded.target) == (
        "sam", "supervisor", "agent.pause", "agent/1001",
    )  # fmt: skip
    assert recorded.after == {"paused": True, "reason": "lunch"}


async def test_get_audit_lists_entries_for_supervisors(
    client: Client, trail: SqliteAuditTrail
) -> None:
    trail.record(entry(0))
    trail.record(entry(1, "emergency.switch"))
    response = await client.get(
        "/api/audit", params={"action": "agent.pause"}, headers=bearer(SUPERVISOR_TOKEN)
    )
    assert response.status == 200
    assert await response.json() == {
        "entries": [
            {
                "at": "2024-03-01T10:02:00Z", "who": "sam", "role": "supervisor",
                "action": "agent.pause", "target": "agent/1001", "before": {"paused": False},
                "after": {"paused": True}, "outcome": "ok",
            }
        ]
    }  # fmt: skip


async def test_get_audit_is_forbidden_to_viewers(client: Client) -> None:
    body = await error_of(
        await client.get("/api/audit", headers=bearer(VIEWER_TOKEN)), 403, "forbidden"
    )
    assert body["details"]["required_role"] == "supervisor"


async def test_get_audit_with_a_bad_query_is_invalid_request(client: Client) -> None:
    response = await client.get(
        "/api/audit", params={"since": "yesterday", "limit": "0"}, headers=bearer(SUPERVISOR_TOKEN)
    )
    body = await error_of(response, 400, "invalid_request")
    assert {e["field"] for e in body["details"]["errors"]} == {"since", "limit"}
