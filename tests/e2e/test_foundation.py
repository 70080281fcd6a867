"""The foundation, end to end: real Asterisk 22, SIPp callers on the trunk
address, SIPp seats registered with digest auth, the ivr service over FastAGI.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from tests.e2e.harness import ROGUE_ADDRESS, EventLog, IvrService, Pbx, Sipp, chan_var, free_port, wait_until

pytestmark = pytest.mark.e2e

# line id, dialled number, queue the line leads to, the seat that answers there
LINES = [
    ("main", "95588", "basic_zh", "1001"),
    ("vip", "4006695588", "vip", "1016"),
    ("platinum", "4000095588", "platinum", "1019"),
    ("group", "4008795588", "group", "1022"),
]
_callers = itertools.count(1)


def next_caller() -> str:
    return f"1380013{next(_callers):04d}"


@pytest.fixture(scope="module")
def seats(pbx: Pbx, settings, sipp_logs) -> Iterator[int]:  # type: ignore[no-untyped-def]
    """The seats of the four lines, registered and answering on one port."""
    sipp = Sipp(settings, sipp_logs)
    port = free_port()
    with sipp.seats_answering(port, talk_ms=1000):
        result = sipp.register([seat for *_, seat in LINES], port)
        assert result.returncode == 0, result.stdout[-2000:]
        yield port
        sipp.unregister([seat for *_, seat in LINES])


def call_and_follow(sipp: Sipp, events: EventLog, number: str) -> tuple[dict[str, str], dict[str, str]]:
    """Place a call; return its QueueCallerJoin and AgentConnect events."""
    caller = next_caller()
    mark = events.mark()
    proc = sipp.call(number, caller)
    try:
        joined = events.wait_for(
            lambda e: e.name == "QueueCallerJoin" and e.get("CallerIDNum") == caller,
            since=mark, what=f"QueueCallerJoin for {caller} on {number}",
        )
        connected = events.wait_for(
            lambda e: e.name == "AgentConnect" and e.get("Uniqueid") == joined.get("Uniqueid"),
            since=mark, what=f"AgentConnect for {caller}",
        )
        assert proc.wait(30) == 0, f"caller {caller} did not complete its call cleanly"
    finally:
        if proc.poll() is None:
            proc.kill()
    return joined, connected


@pytest.mark.parametrize(("line", "number", "queue", "seat"), LINES, ids=[line for line, *_ in LINES])
def test_call_to_each_number_passes_the_agi_route_and_is_answered_in_its_queue(
    ivr_service: IvrService, seats: int, sipp: Sipp, events: EventLog, line: str, number: str, queue: str, seat: str
) -> None:
    joined, connected = call_and_follow(sipp, events, number)

    assert joined.get("Queue") == queue
    assert chan_var(joined, "IVR_LINE") == line
    assert chan_var(joined, "IVR_ROUTE") == "agi", "the call did not pass the FastAGI route"
    assert connected.get("MemberName") == seat


def test_with_the_ivr_service_stopped_every_number_still_reaches_its_fallback_queue(
    ivr_service: IvrService, seats: int, sipp: Sipp, events: EventLog
) -> None:
    ivr_service.stop()
    try:
        for line, number, queue, seat in LINES:
            joined, connected = call_and_follow(sipp, events, number)
            assert joined.get("Queue") == queue, line
            assert chan_var(joined, "IVR_ROUTE") == "fallback", line
            assert connected.get("MemberName") == seat, line
    finally:
        ivr_service.start()


def test_seat_with_a_wrong_password_cannot_register(pbx: Pbx, sipp: Sipp) -> None:
    result = sipp.register(["1005"], free_port(), password=lambda seat: "not-the-password")

    assert result.returncode != 0
    assert pbx.registered_contacts("1005") == 0


def test_call_from_an_address_that_is_not_the_trunk_is_rejected(pbx: Pbx, sipp: Sipp, events: EventLog) -> None:
    caller = next_caller()
    mark = events.mark()
    proc = sipp.call("95588", caller, address=ROGUE_ADDRESS, max_wait_ms=5000)

    assert proc.wait(30) != 0, "a call from outside the trunk was accepted"
    assert not events.find(lambda e: e.get("CallerIDNum") == caller, since=mark)


def test_healthz_reports_the_pbx_connected(ivr_service: IvrService) -> None:
    health = ivr_service.health()

    assert health is not None
    assert health["status"] == "ok"
    pbx = health["pbx"]
    assert pbx == {"ami_connected": True, "control_connected": True, "reconnects": pbx["reconnects"],  # type: ignore[index]
                   "last_error": None}
    assert health["agi"]["listening"] is True  # type: ignore[index]


def test_ivr_service_reconnects_to_ami_when_asterisk_restarts_and_calls_still_route(
    pbx: Pbx, ivr_service: IvrService, seats: int, sipp: Sipp, events: EventLog
) -> None:
    before = ivr_service.health()
    assert before is not None
    reconnects = int(before["pbx"]["reconnects"])  # type: ignore[index]
    mark = events.mark()

    pbx.restart()

    events.wait_for(lambda e: e.name == "FullyBooted", since=mark, timeout=60, what="FullyBooted after restart")
    wait_until(
        lambda: (h := ivr_service.health()) is not None and h["status"] == "ok"
        and int(h["pbx"]["reconnects"]) > reconnects,  # type: ignore[index]
        30, "the ivr service to log in to AMI again",
    )
    joined, connected = call_and_follow(sipp, events, "95588")
    assert chan_var(joined, "IVR_ROUTE") == "agi"
    assert connected.get("MemberName") == "1001"


def test_metrics_ami_user_sees_only_queue_and_agent_events_never_channel_or_digit_events(
    ivr_service: IvrService, seats: int, sipp: Sipp, events: EventLog
) -> None:
    mark = events.mark()
    call_and_follow(sipp, events, "95588")

    names = {e.name for e in events.find(lambda e: True, since=mark)}
    assert {"QueueCallerJoin", "AgentConnect", "AgentComplete"} <= names
    assert not names & {"Newchannel", "VarSet", "DTMFBegin", "DTMFEnd", "AGIExecStart", "AGIExecEnd", "Newexten"}
