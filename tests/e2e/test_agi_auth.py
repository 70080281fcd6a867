"""FastAGI authentication on the real PBX: the dialplan's per-call token gets
a seat's feature codes through; a local process that connects straight to
the FastAGI port with a forged `agent` request, with or without a token read
in messages.log, is refused and the seat stays logged in; the key itself is
in no log."""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path

import pytest

from tests.e2e.harness import EventLog, IvrService, Pbx, Sipp, wait_until

pytestmark = pytest.mark.e2e

SEAT = "1008"  # basic_zh and english; no other test logs it out
_LOGGED_AGI = re.compile(
    r'AGI\("(?P<channel>[^"]+)", "agi://[^/]+/agent\?(?P<query>auth=[0-9]+\.[0-9a-f]{40}),login,' + SEAT + r',"\)'
)


def forged_agent_request(port: int, *, query: str, uniqueid: str, action: str = "logout") -> bytes:
    """Connect as a local process posing as Asterisk; everything the service writes until it closes."""
    script = f"agent?{query}" if query else "agent"
    head = (
        f"agi_network: yes\nagi_network_script: {script}\nagi_request: agi://127.0.0.1:{port}/{script}\n"
        f"agi_channel: PJSIP/{SEAT}-00000099\nagi_uniqueid: {uniqueid}\nagi_callerid: {SEAT}\n"
        f"agi_arg_1: {action}\nagi_arg_2: {SEAT}\nagi_arg_3: \n\n"
    )
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head.encode())
        received = b""
        while chunk := sock.recv(4096):
            received += chunk
    return received


def served_uniqueid(service_log: Path, action: str) -> str:
    """The uniqueid of the last `agent` call with `action` the service served (its JSON log)."""
    served = [
        entry["uniqueid"]
        for line in service_log.read_text(errors="replace").splitlines()
        if line.startswith("{")
        and (entry := json.loads(line)).get("event") == "agi_call_finished"
        and entry.get("script") == "agent"
        and entry.get("line") == action
    ]
    assert served, f"no agent {action} call in {service_log}"
    return str(served[-1])


def in_queue(pbx: Pbx, queue: str = "basic_zh") -> bool:
    return f"PJSIP/{SEAT}" in pbx.cli(f"queue show {queue}")


def member_event(events: EventLog, name: str, since: int) -> None:
    events.wait_for(lambda e: e.name == name and e.get("Interface") == f"PJSIP/{SEAT}" and e.get("Queue") == "basic_zh",
                    since=since, what=f"{name} PJSIP/{SEAT}")  # fmt: skip


def test_a_forged_agent_request_from_a_local_process_cannot_log_a_seat_out(
    pbx: Pbx, ivr_service: IvrService, sipp: Sipp, events: EventLog
) -> None:
    settings = ivr_service.settings
    # The seat logs out and in with its feature codes: through the dialplan's token.
    mark = events.mark()
    assert sipp.seat_dials(SEAT, "*71").returncode == 0
    member_event(events, "QueueMemberRemoved", mark)
    mark = events.mark()
    assert sipp.seat_dials(SEAT, "*70").returncode == 0
    member_event(events, "QueueMemberAdded", mark)
    assert in_queue(pbx)

    # No token: refused with FAILURE before any handler (which would first send SET VARIABLE).
    assert forged_agent_request(settings.agi_port, query="", uniqueid="1754000000.1") == b"FAILURE\n"
    assert forged_agent_request(settings.agi_port, query="auth=1754000000." + "0" * 40, uniqueid="1754000000.1") == (
        b"FAILURE\n"
    )

    # The token of the seat's own *70, read in messages.log with its channel's uniqueid:
    # it serves neither a logout nor a second login.
    messages = Path(settings.run_dir) / "log" / "messages.log"
    wait_until(lambda: messages.is_file() and _LOGGED_AGI.search(messages.read_text(errors="replace")) is not None,
               10, "the *70 AGI() line in messages.log")  # fmt: skip
    logged = list(_LOGGED_AGI.finditer(messages.read_text(errors="replace")))[-1]
    uniqueid = served_uniqueid(ivr_service.log_path, "login")
    assert forged_agent_request(settings.agi_port, query=logged["query"], uniqueid=uniqueid) == b"FAILURE\n"
    replay = forged_agent_request(settings.agi_port, query=logged["query"], uniqueid=uniqueid, action="login")
    assert replay == b"FAILURE\n"

    assert in_queue(pbx), "a forged request logged the seat out"
    audit = ivr_service.get_json("/api/audit?action=agent.logout", token="supervisor-demo")["entries"]
    assert [e["who"] for e in audit if e["target"] == f"seat/{SEAT}"] == [f"seat:{SEAT}"]  # the seat's own *71 only

    # The key is in no log: Asterisk's (every AGI() line shows only a per-call token) nor the service's.
    key = settings.agi_key_file.read_text().strip()
    assert len(key) == 64
    service_log = ivr_service.log_path.read_text(errors="replace")
    assert "agi_unauthenticated" in service_log
    for text in (messages.read_text(errors="replace"), service_log, pbx.logs()):
        assert key[:32] not in text and key[32:] not in text
