"""Central scheduling against the running service and the real PBX: demo
history -> forecast -> staffing -> a CP-SAT plan built by a supervisor,
published by an admin, edited (audited); then a registered softphone and an
absent agent set against it: in-seat rate and adherence in the API and the
KPIs, the out-of-adherence alert on the floor view and in /metrics, the
agent's iCalendar file, the picture of the day and the simulation."""

from __future__ import annotations

import json
import subprocess
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.e2e.harness import REPO, IvrService, Sipp, free_port, wait_until

pytestmark = pytest.mark.e2e

TZ = ZoneInfo("Asia/Shanghai")
IN_SEAT, ABSENT = "1011", "1013"  # seats no other test registers


def _ivr(service: IvrService, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(REPO / ".venv" / "bin" / "ivr"), *args], env=service.env(), cwd=REPO,
                          capture_output=True, text=True, timeout=300, check=False)  # fmt: skip


def _cover_start() -> datetime:
    """A quarter-hour 30-45 minutes ago: in the day's first 45 minutes, on the day before."""
    start = datetime.now(TZ).replace(second=0, microsecond=0)
    return start - timedelta(minutes=start.minute % 15 + 30)


def _cover_now(service: IvrService, plan: int, seat: str) -> dict:
    """Move `seat` onto a flexible shift that started 30-45 minutes ago (its first break is 90 minutes in)."""
    start = _cover_start()
    body = json.dumps({"day": start.date().isoformat(), "start": start.strftime("%H:%M"), "pattern": "flex"})
    status, answer = service.post(f"/api/schedule/plans/{plan}/seats/{seat}", body.encode())
    assert status == 200, answer
    return answer


@pytest.fixture(scope="module")
def published_plan(ivr_service: IvrService) -> int:
    generated = _ivr(ivr_service, "history", "generate", "--days", "21")
    assert generated.returncode == 0, generated.stderr
    # From the day the cover shifts start (the day before, just after midnight) to today.
    today, first = datetime.now(TZ).date(), _cover_start().date()
    body = json.dumps({"first_day": first.isoformat(), "days": (today - first).days + 1, "time_limit": 20}).encode()
    status, answer = ivr_service.post("/api/schedule/plans", body, token="viewer-demo")
    assert status == 403 and answer["details"]["required_role"] == "supervisor"
    status, plan = ivr_service.post("/api/schedule/plans", body, timeout=120)
    assert status == 201, plan
    assert plan["published"] is False and plan["status"] in ("OPTIMAL", "FEASIBLE")
    status, answer = ivr_service.post(f"/api/schedule/plans/{plan['id']}/publish", None)
    assert status == 403 and answer["details"]["required_role"] == "admin"
    status, published = ivr_service.post(f"/api/schedule/plans/{plan['id']}/publish", None, token="admin-demo")
    assert status == 200 and published["published"] is True and published["published_by"] == "demo-admin"
    return int(plan["id"])


def test_forecast_and_staffing_follow_the_generated_history(ivr_service: IvrService, published_plan: int) -> None:
    today = datetime.now(TZ).date().isoformat()
    forecast = ivr_service.get_json(f"/api/forecast?first_day={today}&days=1")
    total = sum(i["calls"] for i in forecast["intervals"])
    assert 600 < total < 1800, total  # the history's ~1,200 calls a day
    assert {i["group"] for i in forecast["intervals"]} >= {"basic_zh", "vip", "lost_card"}
    staffing = ivr_service.get_json(f"/api/staffing?first_day={today}&days=1")
    peak = max(staffing["intervals"], key=lambda r: r["agents"])
    assert peak["agents"] >= 1 and peak["scheduled"] >= peak["agents"]
    assert {r["model"] for r in staffing["intervals"]} <= {"erlang_c", "erlang_a"}


def test_plan_is_in_the_list_and_publishing_twice_is_refused(ivr_service: IvrService, published_plan: int) -> None:
    plans = ivr_service.get_json("/api/schedule/plans")["plans"]
    assert any(p["id"] == published_plan and p["published"] for p in plans)
    status, answer = ivr_service.post(f"/api/schedule/plans/{published_plan}/publish", None, token="admin-demo")
    assert status == 409 and "already published" in answer["message"]
    status, body, headers = ivr_service.get(f"/api/schedule/plans/{published_plan}?format=csv")
    assert status == 200 and headers["Content-Type"].startswith("text/csv")
    assert body.decode().splitlines()[0].startswith("seat,")


def test_in_seat_rate_and_adherence_against_the_published_schedule(
    ivr_service: IvrService, sipp: Sipp, published_plan: int
) -> None:
    mine = _cover_now(ivr_service, published_plan, IN_SEAT)
    assert mine["after"]["pattern"] == "flex"
    _cover_now(ivr_service, published_plan, ABSENT)
    port = free_port()
    with sipp.seats_answering(port, talk_ms=1000):
        assert sipp.register([IN_SEAT], port).returncode == 0
        try:
            wait_until(lambda: any(a["agent"] == IN_SEAT and a["state"] == "available"
                                   for a in ivr_service.get_json("/api/agents")["agents"]),
                       20, f"{IN_SEAT} to be available")  # fmt: skip
            time.sleep(2)  # two seconds in seat, so that the rate is above zero for certain

            rows = {r["seat"]: r for r in ivr_service.get_json("/api/schedule/adherence?group_by=agent")["rows"]}
            assert 0 < rows[IN_SEAT]["in_seat_rate"] < 1  # logged in after the shift began
            # Never registered: at most the seconds before the service learned its device state.
            assert rows[ABSENT]["in_seat_rate"] < 0.05 and rows[ABSENT]["adherence"] < 0.95
            groups = {r["group"]: r for r in ivr_service.get_json("/api/schedule/adherence?group_by=group")["rows"]}
            assert groups["english"]["agents"] >= 1

            kpis = ivr_service.get_json("/api/kpis?group_by=agent&interval=0")["rows"]
            row = next(r for r in kpis if r["key"] == IN_SEAT)
            assert row["scheduled_seconds"] > 0 and 0 < row["in_seat_rate"] <= 1 and row["adherence"] is not None

            floor = ivr_service.get_json("/api/schedule/floor")
            assert floor["published"] is True
            assert any(a["seat"] == ABSENT for a in floor["out_of_adherence"]), floor["out_of_adherence"]
            alert = next(a for a in floor["out_of_adherence"] if a["seat"] == ABSENT)
            # The session's catalog has a tolerance of 0 (conftest.py): raised at once.
            assert alert["scheduled"] == "work" and alert["state"] == "logged_out" and alert["seconds"] > 0
            assert not any(a["seat"] == IN_SEAT for a in floor["out_of_adherence"])
            english = next(g for g in floor["groups"] if g["group"] == "english")
            assert english["scheduled"] >= 1 and english["logged_in"] >= 1

            def gauge() -> str:
                _, body, _ = ivr_service.get("/metrics")
                return body.decode()

            wait_until(lambda: 'ivr_schedule_out_of_adherence_agents{group="korean"} 1.0' in gauge(), 20,
                       "the absent agent's alert in /metrics")  # fmt: skip
            assert 'ivr_schedule_in_seat_ratio{group="english"}' in gauge()
        finally:
            sipp.unregister([IN_SEAT])


def test_edits_are_audited_and_bad_edits_get_clear_errors(ivr_service: IvrService, published_plan: int) -> None:
    entries = ivr_service.get_json("/api/audit?action=schedule.edit", token="supervisor-demo")["entries"]
    assert any(e["who"] == "demo-supervisor" and e["target"] == f"plan/{published_plan}/seat/{ABSENT}"
               for e in entries)  # fmt: skip
    publish = ivr_service.get_json("/api/audit?action=schedule.publish", token="supervisor-demo")["entries"]
    assert any(e["who"] == "demo-admin" and e["target"] == f"plan/{published_plan}" for e in publish)
    today = datetime.now(TZ).date().isoformat()
    bad = json.dumps({"day": today, "start": "03:00", "pattern": "day"}).encode()
    status, answer = ivr_service.post(f"/api/schedule/plans/{published_plan}/seats/1001", bad)
    assert status == 409, answer
    status, answer = ivr_service.post(f"/api/schedule/plans/{published_plan}/seats/1001", bad, token="viewer-demo")
    assert status == 403
    status, answer = ivr_service.post("/api/schedule/plans/999999/seats/1001", bad)
    assert status == 404
    status, answer = ivr_service.post("/api/schedule/plans", json.dumps({"first_day": today, "days": 40}).encode())
    assert status == 400 and answer["error_id"] == "invalid_request"


def test_agent_calendar_picture_and_simulation(ivr_service: IvrService, published_plan: int) -> None:
    status, body, headers = ivr_service.get(f"/api/schedule/seats/{IN_SEAT}/calendar")
    assert status == 200 and headers["Content-Type"].startswith("text/calendar")
    text = body.decode()
    assert text.startswith("BEGIN:VCALENDAR") and "BEGIN:VEVENT" in text
    status, body, headers = ivr_service.get(f"/api/schedule/chart?plan={published_plan}")
    assert status == 200 and headers["Content-Type"].startswith("image/svg+xml")
    assert b"<svg" in body and b"basic_zh" in body
    status, report = ivr_service.post(f"/api/schedule/plans/{published_plan}/simulate", None, timeout=120)
    assert status == 200, report
    assert report["plan"] == published_plan and report["comparison"]


def test_wallboard_floor_panel_shows_required_scheduled_and_logged_in(
    ivr_service: IvrService, published_plan: int
) -> None:
    from playwright.sync_api import sync_playwright  # installed by `make test`

    from tests.e2e.conftest import ARTIFACTS
    from tests.e2e.test_wallboard import CHROMIUM_ARGS

    floor = ivr_service.get_json("/api/schedule/floor")
    basic = next(g for g in floor["groups"] if g["group"] == "basic_zh")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1200})
            page.goto(f"http://127.0.0.1:{ivr_service.settings.http_port}/wallboard#token=viewer-demo")
            row = page.wait_for_selector('#floor tr[data-group="basic_zh"]', timeout=15000)
            assert row is not None
            cells = [c.inner_text() for c in row.query_selector_all("td")]
            assert cells[0] == "basic_zh"
            assert cells[1] == ("\u2013" if basic["required"] is None else str(basic["required"]))
            assert cells[2].isdigit() and cells[3].isdigit()
            assert page.inner_text("#floor-note") == ""  # a plan is published
            page.wait_for_selector('#floor-chart[src^="data:image/svg+xml"]', timeout=15000)
            assert page.evaluate("document.getElementById('floor-chart').naturalWidth") > 0  # the SVG decoded
            ARTIFACTS.mkdir(exist_ok=True)
            page.locator("#floor-panel").screenshot(path=str(ARTIFACTS / "wallboard-floor.png"))
        finally:
            browser.close()
