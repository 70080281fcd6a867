"""Routing control on the real PBX: agents log in and out (feature codes and
the API), supervisors move them between groups; a waiting caller reaches
backup skills after the configured wait, a minor-language caller reaches
English, an empty group hands its callers to its fallback (where a VIP
overtakes an earlier standard caller); callers waiting behind others hear
their position; out of hours the line says so; the emergency switch plays
first; after the agent hangs up the caller rates the call."""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.e2e.harness import (
    CALL_ENDS,
    REPO,
    EventLog,
    IvrService,
    Pbx,
    Sipp,
    call_trace,
    catalog_copy,
    free_port,
    played,
    wait_until,
)
from tests.e2e.harness import test_settings as settings_for

pytestmark = pytest.mark.e2e

DEMO_VIP = "13900000001"  # vip, zh
DEMO_JAPANESE = "13900000005"  # standard, ja
VIP_TEAM = ["1016", "1017", "1018", "1019", "1020", "1021", "1022"]  # every seat with a vip skill
_MEMBER = re.compile(r"^\s+(\d+) \(PJSIP/\d+.*?\)(?: with penalty (\d+))?", re.MULTILINE)


def members(pbx: Pbx, queue: str) -> dict[str, int]:
    """Seat -> penalty, as Asterisk lists the queue's members."""
    return {seat: int(penalty or 0) for seat, penalty in _MEMBER.findall(pbx.cli(f"queue show {queue}"))}


def stop(*procs: subprocess.Popen[bytes]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def log_records(service: IvrService, offset: int) -> list[dict[str, object]]:
    with service.log_path.open("rb") as handle:
        handle.seek(offset)
        lines = handle.read().decode("utf-8", errors="replace").splitlines()
    return [json.loads(line) for line in lines if line.startswith("{")]


def call_records(service: IvrService, offset: int) -> list[dict[str, object]]:
    """The log lines since `offset` once the AGI call has ended: the service
    writes a call's lines in batches and flushes them when the call ends."""
    wait_until(lambda: any(r.get("event") in CALL_ENDS for r in log_records(service, offset)), 15,
               "the AGI call's last log line")  # fmt: skip
    return log_records(service, offset)


def prompts_heard(service: IvrService, offset: int) -> list[str]:
    return played(call_trace(call_records(service, offset)))


def ivr(service: IvrService, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(REPO / ".venv" / "bin" / "ivr"), *args], capture_output=True, text=True,
                          env=service.env(), cwd=REPO, check=False, timeout=60)  # fmt: skip


@pytest.fixture
def restore_logins(ivr_service: IvrService) -> Iterator[list[str]]:
    """Seats a test logs out or moves; logged back in to their catalog skills afterwards."""
    touched: list[str] = []
    yield touched
    for seat in touched:
        status, body = ivr_service.post(f"/api/agents/{seat}/login", None)
        assert status == 200, body


# -- log in and out -------------------------------------------------------------


def test_agent_logs_out_and_in_with_feature_codes_and_a_logged_out_seat_gets_no_calls(
    pbx: Pbx, ivr_service: IvrService, sipp: Sipp, events: EventLog, restore_logins: list[str]
) -> None:
    restore_logins.append("1002")
    port = free_port()
    with sipp.seats_answering(port, talk_ms=800):
        assert sipp.register(["1002", "1003"], port).returncode == 0
        try:
            mark = events.mark()
            assert sipp.seat_dials("1002", "*71").returncode == 0
            events.wait_for(lambda e: e.name == "QueueMemberRemoved" and e.get("MemberName") == "1002"
                            and e.get("Queue") == "basic_zh", since=mark, what="1002 leaving basic_zh")  # fmt: skip
            assert "1002" not in members(pbx, "basic_zh")
            wait_until(lambda: any(a["agent"] == "1002" and a["state"] == "logged_out"
                                   for a in ivr_service.get_json("/api/agents")["agents"]),
                       10, "the API to show 1002 logged out")  # fmt: skip

            mark = events.mark()
            proc = sipp.call("95588", "13800550001")
            connected = events.wait_for(lambda e: e.name == "AgentConnect", since=mark, timeout=30)
            assert connected.get("MemberName") == "1003"
            assert not events.find(lambda e: e.name == "AgentCalled" and e.get("MemberName") == "1002", since=mark)
            assert proc.wait(60) == 0

            mark = events.mark()
            assert sipp.seat_dials("1002", "*70").returncode == 0
            added = events.wait_for(lambda e: e.name == "QueueMemberAdded" and e.get("MemberName") == "1002",
                                    since=mark, what="1002 back in basic_zh")  # fmt: skip
            assert added.get("Queue") == "basic_zh" and added.get("Penalty") == "0"
        finally:
            sipp.unregister(["1002", "1003"])

    entries = ivr_service.get_json("/api/audit?action=agent.logout", token="supervisor-demo")["entries"]
    assert any(e["who"] == "seat:1002" and e["after"] == {"queues": {}} for e in entries)


def test_supervisor_moves_seats_between_groups_and_it_survives_restarts_of_asterisk_and_the_service(
    pbx: Pbx, ivr_service: IvrService, events: EventLog, restore_logins: list[str]
) -> None:
    restore_logins += ["1014", "1015"]
    # Claire (French 0, English 1) moves to English only, as its strongest skill; Olga logs out.
    status, body = ivr_service.post("/api/agents/1014/login", b'{"queues": {"english": 0}}')
    assert status == 200 and body == {"seat": "1014", "logged_in": True, "queues": {"english": 0}}
    status, body = ivr_service.post("/api/agents/1015/logout", None)
    assert status == 200 and body == {"seat": "1015", "logged_in": False, "queues": {}}

    def moved() -> bool:
        english, french, russian = members(pbx, "english"), members(pbx, "french"), members(pbx, "russian")
        return english.get("1014") == 0 and "1014" not in french and "1015" not in russian and "1015" not in english

    wait_until(moved, 10, "Asterisk to show 1014 in English only and 1015 nowhere")
    mark = events.mark()
    pbx.restart()
    events.wait_for(lambda e: e.name == "FullyBooted", since=mark, timeout=60, what="FullyBooted")
    time.sleep(3)  # let the service's control session log in again and re-apply
    wait_until(moved, 30, "the same membership after Asterisk restarted")
    ivr_service.stop()
    ivr_service.start()
    time.sleep(2)  # the restarted service re-applies its stored state, not the catalog's skills
    wait_until(moved, 10, "the same membership after the ivr service restarted")

    # Refused with clear errors: an unknown group, a viewer's write.
    status, body = ivr_service.post("/api/agents/1014/login", b'{"queues": {"klingon": 0}}')
    assert status == 409 and "unknown group(s) klingon" in body["message"]
    status, body = ivr_service.post("/api/agents/1014/logout", None, token="viewer-demo")
    assert status == 403 and body["error_id"] == "forbidden"
    entries = ivr_service.get_json("/api/audit?action=agent.login", token="supervisor-demo")["entries"]
    assert any(e["target"] == "seat/1014" and e["after"] == {"queues": {"english": 0}} for e in entries)


# -- overflow ----------------------------------------------------------------------


def test_empty_vip_team_sends_a_vip_to_basic_service_where_they_overtake_an_earlier_standard_caller(
    ivr_service: IvrService, sipp: Sipp, events: EventLog, restore_logins: list[str]
) -> None:
    """vip has `when_empty: basic_zh`: with the whole VIP team logged out, a VIP
    caller joins basic_zh at VIP priority (8) and is answered before a standard
    caller (0) who was already waiting there."""
    restore_logins += VIP_TEAM
    for seat in VIP_TEAM:
        assert ivr_service.post(f"/api/agents/{seat}/logout", None)[0] == 200
    standard = "13800440001"
    port = free_port()
    procs: list[subprocess.Popen[bytes]] = []
    with sipp.seats_answering(port, talk_ms=500):
        assert sipp.register(["1006"], port).returncode == 0
        assert ivr_service.post("/api/agents/1006/pause", b'{"reason": "meeting"}')[0] == 200
        try:
            mark = events.mark()
            procs.append(sipp.call("95588", standard))
            events.wait_for(lambda e: e.name == "QueueCallerJoin" and e.get("CallerIDNum") == standard, since=mark,
                            timeout=30)  # fmt: skip
            procs.append(sipp.call("95588", DEMO_VIP))
            exit_vip = events.wait_for(lambda e: e.name == "UserEvent" and e.get("UserEvent") == "IvrQueueExit"
                                       and e.get("CallerIDNum") == DEMO_VIP, since=mark, timeout=30)  # fmt: skip
            assert (exit_vip.get("Queue"), exit_vip.get("Reason"), exit_vip.get("Next")) == ("vip", "empty", "basic_zh")
            joined = events.wait_for(lambda e: e.name == "QueueCallerJoin" and e.get("CallerIDNum") == DEMO_VIP,
                                     since=mark)  # fmt: skip
            assert joined.get("Queue") == "basic_zh" and joined.get("Position") == "1"

            assert ivr_service.post("/api/agents/1006/unpause", None)[0] == 200
            first = events.wait_for(lambda e: e.name == "AgentConnect", since=mark, timeout=30)
            assert first.get("CallerIDNum") == DEMO_VIP
            assert all(proc.wait(90) == 0 for proc in procs)
        finally:
            ivr_service.post("/api/agents/1006/unpause", None)
            stop(*procs)
            sipp.unregister(["1006"])


def test_a_caller_waiting_in_busy_basic_service_reaches_a_backup_agent_after_20s_and_hears_their_position(
    pbx: Pbx, ivr_service: IvrService, sipp: Sipp, events: EventLog
) -> None:
    """basic_zh: seats up to penalty 3 at once, up to 5 (outbound collections
    agents, basic_zh:5) after 20 s. 1001 (penalty 0) is busy on a long call;
    the next caller is offered to backup 1025 only once 20 s have passed. A
    third caller, second in line, hears their position in Mandarin."""
    busy, backup = free_port(), free_port()
    procs: list[subprocess.Popen[bytes]] = []
    with sipp.seats_answering(busy, talk_ms=60000), sipp.seats_answering(backup, talk_ms=500):
        assert sipp.register(["1001"], busy).returncode == 0
        assert sipp.register(["1025"], backup).returncode == 0
        try:
            mark = events.mark()
            procs.append(sipp.call("95588", "13800330001"))
            events.wait_for(lambda e: e.name == "AgentConnect" and e.get("MemberName") == "1001", since=mark,
                            timeout=30)  # fmt: skip
            log_mark = len(pbx.logs())
            procs.append(sipp.call("95588", "13800330002"))
            joined = events.wait_for(lambda e: e.name == "QueueCallerJoin" and e.get("CallerIDNum") == "13800330002",
                                     since=mark, timeout=30)  # fmt: skip
            procs.append(sipp.call("95588", "13800330003"))
            third = events.wait_for(lambda e: e.name == "QueueCallerJoin" and e.get("CallerIDNum") == "13800330003",
                                    since=mark, timeout=30)  # fmt: skip
            assert third.get("Position") == "2"

            called = events.wait_for(lambda e: e.name == "AgentCalled" and e.get("MemberName") == "1025"
                                     and e.get("CallerIDNum") == "13800330002", since=mark, timeout=40)  # fmt: skip
            connected = events.wait_for(lambda e: e.name == "AgentConnect" and e.get("MemberName") == "1025",
                                        since=mark, timeout=20)  # fmt: skip
            assert connected.get("CallerIDNum") == "13800330002"
            assert float(called["Timestamp"]) - float(joined["Timestamp"]) >= 20.0
            # Asterisk plays app_queue's announcement files in the channel's language,
            # and has them in Mandarin (it would fall back to English silently).
            heard = pbx.logs()[log_mark:]
            assert re.search(r"Playing 'queue-thereare\.[a-z0-9]+' \(language 'zh'\)", heard), heard[-3000:]
            assert not re.search(r"File (queue-|digits/)\S* does not exist", heard)
            for sound in ("queue-thereare", "queue-callswaiting", "digits/2"):
                assert re.search(r"Language zh:", pbx.cli(f"core show sound {sound}")), sound
        finally:
            stop(*procs)
            sipp.unregister(["1001", "1025"])


def test_a_japanese_caller_waiting_30s_moves_to_english_keeping_their_place_rules(
    pbx: Pbx, ivr_service: IvrService, sipp: Sipp, events: EventLog
) -> None:
    """japanese overflows to english after 30 s. 1012, the Japanese agent, is busy."""
    busy, english = free_port(), free_port()
    procs: list[subprocess.Popen[bytes]] = []
    with sipp.seats_answering(busy, talk_ms=60000), sipp.seats_answering(english, talk_ms=500):
        assert sipp.register(["1012"], busy).returncode == 0
        assert sipp.register(["1009"], english).returncode == 0
        try:
            mark = events.mark()
            procs.append(sipp.call("95588", DEMO_JAPANESE, keys=((2500, "0"), (2000, "0"))))
            events.wait_for(lambda e: e.name == "AgentConnect" and e.get("MemberName") == "1012", since=mark,
                            timeout=30)  # fmt: skip
            second = events.mark()
            procs.append(sipp.call("95588", DEMO_JAPANESE, keys=((2500, "0"), (2000, "0"))))
            in_japanese = events.wait_for(lambda e: e.name == "QueueCallerJoin" and e.get("Queue") == "japanese",
                                          since=second, timeout=30)  # fmt: skip
            call = in_japanese.get("Uniqueid")
            overflow = events.wait_for(lambda e: e.name == "UserEvent" and e.get("UserEvent") == "IvrQueueExit"
                                       and e.get("Uniqueid") == call, since=second, timeout=45)  # fmt: skip
            assert (overflow.get("Queue"), overflow.get("Reason"), overflow.get("Next")) == ("japanese", "timeout",
                                                                                             "english")  # fmt: skip
            # After the overflow: the japanese join need not be the first event after `second`.
            in_english = events.wait_for(lambda e: e.name == "QueueCallerJoin" and e.get("Uniqueid") == call,
                                         since=events.after(overflow))  # fmt: skip
            assert in_english.get("Queue") == "english"
            assert float(in_english["Timestamp"]) - float(in_japanese["Timestamp"]) >= 30.0
            connected = events.wait_for(lambda e: e.name == "AgentConnect" and e.get("Uniqueid") == call,
                                        since=second, timeout=20)  # fmt: skip
            assert connected.get("MemberName") == "1009" and connected.get("Queue") == "english"
            queue_log = (ivr_service.settings.run_dir / "log" / "queue_log").read_text()
            assert f"|{call}|japanese|NONE|EXITWITHTIMEOUT|" in queue_log
        finally:
            stop(*procs)
            sipp.unregister(["1012", "1009"])


# -- hours, emergency, survey ------------------------------------------------------


def test_out_of_hours_the_group_line_says_so_offers_self_service_and_still_takes_a_lost_card(
    ivr_service: IvrService, sipp: Sipp, events: EventLog, tmp_path: Path
) -> None:
    """The group line keeps office hours; a service whose calendar makes today a
    holiday (in Asia/Shanghai) answers its callers out of hours."""
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
    closed = settings_for(ivr_service.settings.run_dir, catalog=catalog_copy(tmp_path / "closed.yaml", closed_on=today))
    ivr_service.stop()
    service = IvrService(closed, ivr_service.log_path)
    service.start()
    try:
        offset = service.log_path.stat().st_size
        proc = sipp.call("4008795588", "13800220001", keys=((1500, "0"), (2000, "0")))
        assert proc.wait(60) == 0, "the PBX hangs up after the closed message"
        heard = prompts_heard(service, offset)
        assert heard[0] == "zh/closed" and heard[-2:] == ["zh/closed_agents", "zh/goodbye"]
        trace = call_trace(call_records(service, offset))
        assert trace["hangup"] == "closed" and "handoff" not in trace

        mark = events.mark()
        proc = sipp.call("4008795588", "13800220002", keys=((1500, "1"),), hangup_after_ms=4000)
        joined = events.wait_for(lambda e: e.name == "QueueCallerJoin" and e.get("CallerIDNum") == "13800220002",
                                 since=mark, timeout=30)  # fmt: skip
        assert joined.get("Queue") in ("lost_card", "basic_zh")  # basic_zh when no lost-card seat is registered
        proc.wait(30)
    finally:
        service.stop()
        ivr_service.start()


def test_emergency_announcement_comes_first_on_the_chosen_line_then_on_all_and_goes_when_switched_off(
    ivr_service: IvrService, sipp: Sipp
) -> None:
    prompt = "emergency_system_maintenance"

    def first_prompt(number: str, caller: str) -> str:
        offset = ivr_service.log_path.stat().st_size
        proc = sipp.call(number, caller, keys=(), hangup_after_ms=2500)
        proc.wait(30)
        return prompts_heard(ivr_service, offset)[0]

    status, body = ivr_service.post("/api/emergency/vip/on", json.dumps({"prompt": prompt, "minutes": 10}).encode())
    assert status == 200 and body["scope"] == "vip" and body["set_by"] == "demo-supervisor"
    try:
        assert first_prompt("4006695588", "13800110001") == f"zh/{prompt}"
        assert first_prompt("95588", "13800110002") == "zh/welcome", "only the VIP line"

        result = ivr(ivr_service, "emergency", "on", "--line", "all", "--prompt", prompt, "--minutes", "5")
        assert result.returncode == 0, result.stderr
        assert first_prompt("95588", "13800110003") == f"zh/{prompt}"
        result = ivr(ivr_service, "emergency", "off", "--line", "all")
        assert result.returncode == 0, result.stderr
    finally:
        status, _ = ivr_service.post("/api/emergency/vip/off", None)
        assert status == 200
    assert first_prompt("4006695588", "13800110004") == "zh/vip_welcome"
    assert ivr_service.get_json("/api/emergency")["announcements"] == []

    entries = ivr_service.get_json("/api/audit?action=emergency.on", token="supervisor-demo")["entries"]
    assert {e["who"] for e in entries} >= {"demo-supervisor"} and any(e["who"].startswith("cli:") for e in entries)
    offs = ivr_service.get_json("/api/audit?action=emergency.off", token="supervisor-demo")["entries"]
    assert any(e["target"] == "emergency/vip" and e["before"]["prompt"] == prompt and e["after"] is None for e in offs)

    status, body = ivr_service.post("/api/emergency/vip/on", b'{"prompt": "welcome", "minutes": 10}')
    assert status == 409 and "not an emergency prompt" in body["message"]
    status, body = ivr_service.post("/api/emergency/vip/on", b'{"prompt": "emergency_x"', token="supervisor-demo")
    assert status == 400 and body["error_id"] == "invalid_json"


def test_after_the_agent_hangs_up_the_caller_rates_the_call_and_the_rating_is_recorded(
    ivr_service: IvrService, sipp: Sipp, events: EventLog
) -> None:
    """On the platinum line (the test session's only line with the survey): 0 for
    an agent, seat 1019 talks 3 s and hangs up, the caller presses 4."""
    caller = "13800000099"
    port = free_port()
    with sipp.seats_answering(port, talk_ms=3000):
        assert sipp.register(["1019"], port).returncode == 0
        try:
            mark = events.mark()
            proc = sipp.call("4000095588", caller, keys=((1500, "0"), (2000, "0"), (6000, "4")))
            connected = events.wait_for(lambda e: e.name == "AgentConnect" and e.get("CallerIDNum") == caller,
                                        since=mark, timeout=30)  # fmt: skip
            rated = events.wait_for(lambda e: e.name == "UserEvent" and e.get("UserEvent") == "IvrSurvey",
                                    since=mark, timeout=40)  # fmt: skip
            assert proc.wait(60) == 0
        finally:
            sipp.unregister(["1019"])
    call = connected.get("Uniqueid")
    fields = ("Rating", "Queue", "Agent", "CallUniqueid", "Line")
    assert tuple(rated.get(f) for f in fields) == ("4", "platinum", "1019", call, "platinum")
    queue_log = (ivr_service.settings.run_dir / "log" / "queue_log").read_text()
    assert f"|{call}|platinum|1019|SURVEY|4|platinum" in queue_log
    wait_until(lambda: any(r["surveys"] >= 1 for r in ivr_service.get_json(
        f"/api/kpis?from={float(connected['Timestamp']) - 60}&interval=0&group_by=group")["rows"]
        if r["key"] == "platinum"), 10, "the rating in the platinum group's KPIs")  # fmt: skip
