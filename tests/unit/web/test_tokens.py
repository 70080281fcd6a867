"""Token configuration: formats, sources, demo tokens, digests only, and no token in any log."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from structlog.testing import capture_logs

from ivr.web import Principal, Role, TokenConfigError, TokenStore

from .conftest import ADMIN_TOKEN, SUPERVISOR_TOKEN, VIEWER_TOKEN, bearer

Client = TestClient[web.Request, web.Application]
TOKEN = "k7Vq2mX9pL4sT8wZ1nB6"


def test_roles_are_ordered_viewer_supervisor_admin() -> None:
    assert Role.ADMIN.covers(Role.SUPERVISOR) and Role.SUPERVISOR.covers(Role.VIEWER)
    assert Role.VIEWER.covers(Role.VIEWER)
    assert not Role.VIEWER.covers(Role.SUPERVISOR) and not Role.SUPERVISOR.covers(Role.ADMIN)


def test_name_role_token_entries_name_the_principal() -> None:
    store = TokenStore.parse(f"alice:supervisor:{TOKEN}")
    assert store.authenticate(TOKEN) == Principal("alice", Role.SUPERVISOR)


def test_role_token_entries_get_a_name_per_role() -> None:
    store = TokenStore.parse(f"viewer:{TOKEN}a,viewer:{TOKEN}b,admin:{TOKEN}c")
    assert store.authenticate(TOKEN + "b") == Principal("viewer-2", Role.VIEWER)
    assert store.authenticate(TOKEN + "c") == Principal("admin-1", Role.ADMIN)


def test_unknown_tokens_authenticate_nobody() -> None:
    store = TokenStore.parse(f"alice:admin:{TOKEN}")
    assert store.authenticate(TOKEN + "x") is None
    assert store.authenticate("") is None


def test_the_store_keeps_digests_not_tokens() -> None:
    store = TokenStore.parse(f"alice:admin:{TOKEN}")
    assert TOKEN not in repr(vars(store)) and TOKEN not in repr(store)


@pytest.mark.parametrize(
    "spec",
    [TOKEN, f"boss:{TOKEN}", f"alice:boss:{TOKEN}", f"a:b:c:{TOKEN}", f"al ice:admin:{TOKEN}"],
    ids=["bare-token", "unknown-role", "unknown-role-named", "too-many-fields", "bad-name"],
)
def test_a_malformed_entry_is_refused_without_echoing_the_token(spec: str) -> None:
    with pytest.raises(TokenConfigError) as raised:
        TokenStore.parse(f"ok:viewer:{TOKEN}zz, {spec}")
    assert "entry 2" in str(raised.value)
    assert TOKEN not in str(raised.value)


def test_a_token_shared_by_two_principals_is_refused() -> None:
    with pytest.raises(TokenConfigError, match="share a token"):
        TokenStore.parse(f"alice:admin:{TOKEN},bob:viewer:{TOKEN}")


def test_a_token_outside_the_rfc6750_alphabet_is_refused() -> None:
    with pytest.raises(TokenConfigError) as raised:
        TokenStore([(Principal("alice", Role.ADMIN), "tok en!")])
    assert "tok en!" not in str(raised.value)


def test_a_tokens_file_allows_comments_and_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "tokens"
    path.write_text(f"# supervisors\n\nsam:supervisor:{TOKEN}\n", encoding="utf-8")
    assert TokenStore.from_file(path).principals() == [Principal("sam", Role.SUPERVISOR)]


def test_settings_like_mapping_of_role_to_tokens() -> None:
    store = TokenStore.from_roles({"viewer": [TOKEN + "v"], "admin": [TOKEN + "a"]})
    assert store.authenticate(TOKEN + "a") == Principal("admin-1", Role.ADMIN)
    with pytest.raises(TokenConfigError):
        TokenStore.from_roles({"root": [TOKEN]})


def test_no_configuration_means_no_tokens() -> None:
    with capture_logs() as logs:
        store = TokenStore.from_env({})
    assert len(store) == 0 and store.authenticate("viewer-demo") is None
    assert [e["event"] for e in logs] == ["api_no_tokens"]


def test_demo_tokens_exist_only_when_asked_for() -> None:
    store = TokenStore.from_env({"IVR_DEMO_TOKENS": "1"})
    assert store.uses_demo_tokens
    assert store.authenticate("viewer-demo") == Principal("demo-viewer", Role.VIEWER)
    assert store.authenticate("supervisor-demo") == Principal("demo-supervisor", Role.SUPERVISOR)
    assert store.authenticate("admin-demo") == Principal("demo-admin", Role.ADMIN)
    assert not TokenStore.from_env({"IVR_DEMO_TOKENS": "0"}).uses_demo_tokens


def test_env_and_file_sources_are_merged(tmp_path: Path) -> None:
    path = tmp_path / "tokens"
    path.write_text(f"ada:admin:{TOKEN}f\n", encoding="utf-8")
    store = TokenStore.from_env(
        {"IVR_API_TOKENS": f"sam:supervisor:{TOKEN}e", "IVR_API_TOKENS_FILE": str(path)}
    )
    assert [p.name for p in store.principals()] == ["sam", "ada"]
    with pytest.raises(TokenConfigError, match="share a token"):
        TokenStore.from_env(
            {"IVR_API_TOKENS": f"x:admin:{TOKEN}f", "IVR_API_TOKENS_FILE": str(path)}
        )


def test_a_missing_tokens_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(TokenConfigError, match="cannot read"):
        TokenStore.from_env({"IVR_API_TOKENS_FILE": str(tmp_path / "absent")})


async def test_tokens_never_appear_in_logs(client: Client) -> None:
    wrong = "wrong-token-Qp93Lx0Vb7"
    weak = "short"
    with capture_logs() as logs:
        TokenStore.parse(f"weak:viewer:{weak}")
        TokenStore.from_env({"IVR_DEMO_TOKENS": "1"})
        await client.get("/api/queues", headers=bearer(VIEWER_TOKEN))
        await client.get("/api/queues", headers=bearer(wrong))
        await client.post("/api/reload", headers=bearer(SUPERVISOR_TOKEN))
        await client.get("/api/boom", headers=bearer(ADMIN_TOKEN))
    events = [e["event"] for e in logs]
    assert {"api_token_weak", "api_unauthorized", "api_forbidden", "http_internal_error"} <= set(
        events
    )
    text = repr(logs)
    for token in (VIEWER_TOKEN, SUPERVISOR_TOKEN, ADMIN_TOKEN, wrong, weak, "admin-demo"):
        assert token not in text
