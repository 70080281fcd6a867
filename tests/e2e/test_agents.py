"""Agent state control on the real PBX: supervisors pause and unpause seats
through the API, agents through feature codes from their softphone; a paused
seat gets no calls; the reason shows in AMI and in the API; the state
survives an Asterisk restart; every change is in the audit trail."""

from __future__ import annotations

import pytest

from tests.e2e.harness import EventLog, IvrService, Pbx, Sipp, free_port, wait_until

pytestmark = pytest.mark.e2e


def paused_event(events: EventLog, seat: str, since: int, paused: str = "1"):  # type: ignore[no-untyped-def]
    return events.wait_for(
        lambda e: e.name == "QueueMemberPause" and e.get("Interface") == f"PJSIP/{seat}" and e.get("Paused") == paused,
        since=since, what=f"QueueMemberPause {seat} paused={paused}",
    )  # fmt: skip


def test_paused_seat_gets_no_calls_and_its_reason_shows_in_ami_and_the_api(
    ivr_service: IvrService, sipp: Sipp, events: EventLog
) -> None:
    port = free_port()
    with sipp.seats_answering(port, talk_ms=1000):
        assert sipp.register(["1001", "1002"], port).returncode == 0
        try:
            mark = events.mark()
            status, body = ivr_service.post("/api/agents/1001/pause", b'{"reason": "meal"}')
            assert status == 200 and body == {"seat": "1001", "paused": True, "reason": "meal"}
            assert paused_event(events, "1001", mark).get("PausedReason") == "meal"
            wait_until(
                lambda: any(a["agent"] == "1001" and a["state"] == "paused" and a.get("reason") == "meal"
                            for a in ivr_service.get_json("/api/agents")["agents"]),
                10, "the API to show 1001 paused for a meal",
            )  # fmt: skip

            mark = events.mark()
            proc = sipp.call("95588", "13800990001")
            connected = events.wait_for(lambda e: e.name == "AgentConnect", since=mark)
            assert connected.get("MemberName") == "1002"
            assert not events.find(lambda e: e.name == "AgentCalled" and e.get("MemberName") == "1001", since=mark)
            assert proc.wait(30) == 0
        finally:
            mark = events.mark()
            status, body = ivr_service.post("/api/agents/1001/unpause", None)
            assert status == 200 and body["paused"] is False
            paused_event(events, "1001", mark, paused="0")
            sipp.unregister(["1001", "1002"])


def test_agent_pauses_and_unpauses_with_feature_codes_from_the_softphone(
    ivr_service: IvrService, sipp: Sipp, events: EventLog
) -> None:
    mark = events.mark()

    result = sipp.seat_dials("1003", "*723")  # 3 = training

    assert result.returncode == 0, result.stdout[-1500:]
    assert paused_event(events, "1003", mark).get("PausedReason") == "training"
    mark = events.mark()
    assert sipp.seat_dials("1003", "*73").returncode == 0
    paused_event(events, "1003", mark, paused="0")


def test_pause_survives_an_asterisk_restart(pbx: Pbx, ivr_service: IvrService, events: EventLog) -> None:
    status, _ = ivr_service.post("/api/agents/1004/pause", b'{"reason": "2"}')
    assert status == 200
    try:
        mark = events.mark()
        pbx.restart()
        events.wait_for(lambda e: e.name == "FullyBooted", since=mark, timeout=60, what="FullyBooted")
        # The service re-applies its desired state after its control session logs in again
        # (read from Asterisk itself: the test's own AMI session may log in later than that).
        wait_until(lambda: "paused:meal" in pbx.cli("queue show basic_zh").replace(" ", ""), 30,
                   "Asterisk to show 1004 paused for a meal again")  # fmt: skip
    finally:
        ivr_service.post("/api/agents/1004/unpause", None)


def test_viewer_cannot_pause_and_bad_requests_get_clear_errors(ivr_service: IvrService) -> None:
    status, body = ivr_service.post("/api/agents/1005/pause", b'{"reason": "meal"}', token="viewer-demo")
    assert status == 403 and body["error_id"] == "forbidden" and body["details"]["required_role"] == "supervisor"
    status, body = ivr_service.post("/api/agents/1005/pause", b'{"reason": ', token="supervisor-demo")
    assert status == 400 and body["error_id"] == "invalid_json"
    status, body = ivr_service.post("/api/agents/1005/pause", b'{"reason": "nap"}', token="supervisor-demo")
    assert status == 409 and "unknown pause reason" in body["message"]
    status, body = ivr_service.post("/api/agents/9999/pause", b'{"reason": "meal"}', token="supervisor-demo")
    assert status == 409 and "unknown seat" in body["message"]


def test_agent_changes_are_in_the_audit_trail(ivr_service: IvrService) -> None:
    entries = ivr_service.get_json("/api/audit?action=agent.pause", token="supervisor-demo")["entries"]

    assert any(e["who"] == "demo-supervisor" and e["target"] == "seat/1001" for e in entries)
    assert any(e["who"] == "seat:1003" and e["after"] == {"paused": True, "reason": "training"} for e in entries)


def test_wrap_up_is_honoured_before_a_seat_rings_again(ivr_service: IvrService, sipp: Sipp, events: EventLog) -> None:
    """basic_zh has 10 s wrap-up: a second caller waits for it although seat 1005 is idle."""
    port = free_port()
    with sipp.seats_answering(port, talk_ms=500):
        assert sipp.register(["1005"], port).returncode == 0
        try:
            mark = events.mark()
            first = sipp.call("95588", "13800770001")
            done = events.wait_for(lambda e: e.name == "AgentComplete" and e.get("MemberName") == "1005", since=mark)
            mark = events.mark()
            second = sipp.call("95588", "13800770002")  # while the first caller rates the call
            joined = events.wait_for(lambda e: e.name == "QueueCallerJoin" and e.get("CallerIDNum") == "13800770002",
                                     since=mark)  # fmt: skip
            called = events.wait_for(lambda e: e.name == "AgentCalled" and e.get("MemberName") == "1005", since=mark)
            assert first.wait(30) == 0 and second.wait(40) == 0
        finally:
            sipp.unregister(["1005"])

    # Asterisk's own clock on both events: the seat was not rung during its 10 s wrap-up
    # (Asterisk starts it when the agent's leg ends, 0.2-0.7 s before it emits
    # AgentComplete), although the second caller was waiting in the queue meanwhile.
    assert float(called["Timestamp"]) - float(done["Timestamp"]) >= 9.0
    assert float(called["Timestamp"]) - float(joined["Timestamp"]) >= 3.0, "the idle seat was rung during wrap-up"


def test_higher_tier_caller_arriving_later_is_answered_first_in_a_shared_group(
    ivr_service: IvrService, sipp: Sipp, events: EventLog
) -> None:
    """Tier priorities from the catalog become queue caller priorities: a gold
    customer (priority 2, no dedicated group: the line's basic_zh) who calls
    after a standard caller (priority 0) is ahead of them and answered first."""
    gold, standard = "13900000006", "13800660001"
    port = free_port()
    with sipp.seats_answering(port, talk_ms=500):
        assert sipp.register(["1006"], port).returncode == 0
        status, _ = ivr_service.post("/api/agents/1006/pause", b'{"reason": "meeting"}')
        assert status == 200
        procs = []
        try:
            mark = events.mark()
            procs.append(sipp.call("95588", standard))
            events.wait_for(lambda e: e.name == "QueueCallerJoin" and e.get("CallerIDNum") == standard, since=mark)
            procs.append(sipp.call("95588", gold))
            joined = events.wait_for(lambda e: e.name == "QueueCallerJoin" and e.get("CallerIDNum") == gold, since=mark)
            assert joined.get("Queue") == "basic_zh" and joined.get("Position") == "1"

            status, _ = ivr_service.post("/api/agents/1006/unpause", None)
            assert status == 200
            first = events.wait_for(lambda e: e.name == "AgentConnect", since=mark, timeout=30)
            assert first.get("CallerIDNum") == gold
            assert all(proc.wait(60) == 0 for proc in procs)
        finally:
            ivr_service.post("/api/agents/1006/unpause", None)
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
            sipp.unregister(["1006"])
