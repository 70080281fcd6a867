"""Hot reload on a live PBX: calls in progress survive it, Asterisk is shown to
run the new configuration, and a broken template is refused while the PBX
keeps running the last good one. Each attempt is in the audit trail."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.e2e.harness import REPO, EventLog, IvrService, Pbx, Sipp, free_port, wait_until

pytestmark = pytest.mark.e2e
# Ten seats that take basic_zh calls at once (penalty <= 3; outbound agents at 5 only after 20 s).
BASIC_SEATS = ["1001", "1002", "1003", "1004", "1005", "1006", "1007", "1008", "1023", "1024"]


def reload(service: IvrService, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(REPO / ".venv" / "bin" / "ivr"), "reload", *args],
        capture_output=True, text=True, env=service.env(), cwd=REPO, check=False, timeout=60,
    )  # fmt: skip


def config_digest(etc: Path) -> str:
    return hashlib.sha256(b"".join(p.read_bytes() for p in sorted(etc.iterdir()))).hexdigest()


@pytest.fixture
def changed_catalog(tmp_path: Path, ivr_service: IvrService) -> Iterator[Path]:
    # The session's catalog (what the PBX runs) with two changes: vip's strategy and a new group.
    data = yaml.safe_load(ivr_service.settings.catalog.read_text(encoding="utf-8"))
    next(q for q in data["queues"] if q["id"] == "vip")["strategy"] = "rrmemory"
    data["queues"].append({"id": "reload_probe", "name": "Reload probe", "language": "zh"})
    text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
    path = tmp_path / "callcenter.yaml"
    path.write_text(text, encoding="utf-8")
    yield path
    result = reload(ivr_service)  # back to the session's catalog
    assert result.returncode == 0, result.stderr


def test_reload_while_calls_are_connected_and_in_the_ivr_drops_none_and_takes_effect(
    pbx: Pbx, ivr_service: IvrService, sipp: Sipp, events: EventLog, changed_catalog: Path
) -> None:
    port = free_port()
    with sipp.seats_answering(port, talk_ms=20000):
        assert sipp.register(BASIC_SEATS, port).returncode == 0
        mark = events.mark()
        connected = [sipp.call("95588", f"1370000{i:04d}") for i in range(10)]
        # Five callers stay in the IVR menu (no key) and hang up after 20 s.
        in_ivr = [sipp.call("95588", f"1370001{i:04d}", keys=(), hangup_after_ms=20000) for i in range(5)]
        try:
            _wait_count(events, "AgentConnect", mark, 10)
            wait_until(lambda: (h := ivr_service.health()) is not None and h["agi"]["active_sessions"] >= 5,  # type: ignore[index]
                       30, "5 callers in the IVR menu")  # fmt: skip
            assert "strategy: leastrecent" not in pbx.cli("queue show vip")

            result = reload(ivr_service, "--catalog", str(changed_catalog))

            assert result.returncode == 0, result.stdout + result.stderr
            assert "applied and verified" in result.stdout
            assert "queues.conf" in result.stdout
            assert "reload_probe" in pbx.cli("queue show reload_probe")
            assert "'rrmemory' strategy" in pbx.cli("queue show vip")
            assert all(proc.wait(40) == 0 for proc in connected + in_ivr), "a call was dropped by the reload"
            hangups_early = events.find(
                lambda e: e.name == "AgentComplete" and int(e.get("TalkTime") or 0) < 15, since=mark
            )
            assert not hangups_early, "a connected call ended before its agent hung up"
        finally:
            for proc in connected + in_ivr:
                if proc.poll() is None:
                    proc.kill()
        sipp.unregister(BASIC_SEATS)


def _wait_count(events: EventLog, name: str, since: int, count: int) -> None:
    """Wait (deadline 30 s) until `count` events called `name` arrived after `since`."""
    seen = 0
    index = since
    while seen < count:
        event = events.wait_for(lambda e: e.name == name, since=index, timeout=30, what=f"{count} {name} events")
        index = events.events.index(event, index) + 1
        seen += 1


def test_reload_of_a_broken_template_is_refused_and_the_pbx_keeps_its_configuration(
    pbx: Pbx, ivr_service: IvrService, tmp_path: Path, settings
) -> None:  # type: ignore[no-untyped-def]
    broken = tmp_path / "dialplans"
    shutil.copytree(REPO / "dialplans", broken)
    template = broken / "extensions.conf.j2"
    template.write_text(template.read_text().replace("{% endfor %}", "{% endfor", 1))
    before = config_digest(settings.etc_dir)

    result = reload(ivr_service, "--templates", str(broken))

    assert result.returncode == 1
    assert "REFUSED" in result.stderr and "extensions.conf.j2" in result.stderr
    assert config_digest(settings.etc_dir) == before
    assert "line-main" in pbx.cli("dialplan show line-main")


def test_every_reload_attempt_is_in_the_audit_trail(ivr_service: IvrService, settings) -> None:  # type: ignore[no-untyped-def]
    from ivr.audit import SqliteAuditTrail

    trail = SqliteAuditTrail(settings.audit_db)
    try:
        entries = trail.entries(action="pbx.reload", limit=10)
    finally:
        trail.close()
    assert any(e.outcome == "ok" and e.who.startswith("cli:") for e in entries)


def test_reload_through_the_api_is_for_admins_and_reports_an_unchanged_configuration(ivr_service: IvrService) -> None:
    status, body = ivr_service.post("/api/reload", b"{}", token="supervisor-demo")
    assert status == 403 and body["details"]["required_role"] == "admin"

    status, body = ivr_service.post("/api/reload", b'{"dry_run": true}', token="admin-demo")

    assert status == 200, body
    assert body["applied"] is False and body["changed"] == []


def test_a_reload_through_the_api_applies_and_verifies_a_change_with_the_short_lived_reload_user(
    ivr_service: IvrService, pbx: Pbx, changed_catalog: Path
) -> None:
    # The CLI puts the changed catalog on the PBX; the API takes it back to the service's own catalog.
    assert reload(ivr_service, "--catalog", str(changed_catalog)).returncode == 0
    assert "reload_probe" in pbx.cli("queue show reload_probe")

    status, body = ivr_service.post("/api/reload", b"{}", token="admin-demo")

    assert status == 200, body
    assert body["applied"] is True and body["verified"], body
    assert "queues.conf" in body["changed"]
    assert "reload_probe" not in pbx.cli("queue show").split()
