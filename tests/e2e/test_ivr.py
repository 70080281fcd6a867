"""The IVR over FastAGI, end to end: SIPp callers send RFC 2833 DTMF on the
trunk, the service walks the catalog's menus, and the call lands in the
expected queue with the expected priority and language. What the caller hears
is read from the service's own call trace (its `ivr_*` log events, bound to
the call's uniqueid)."""

from __future__ import annotations

import json
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import ARTIFACTS
from tests.e2e.harness import (
    EventLog,
    IvrService,
    Pbx,
    Sipp,
    call_trace,
    chan_var,
    free_port,
    pin_checks,
    wait_until,
)
from tests.e2e.harness import played as played_in

pytestmark = pytest.mark.e2e

DEMO_VIP = "13900000001"  # vip, zh
DEMO_JAPANESE = "13900000005"  # standard, ja
DEMO_CUSTOMER = "13900000004"  # standard, zh, card ending 4321, PIN 246810; card 9876 not yet active
CARD_LAST4, PIN, WRONG_PIN = "4321", "246810", "135790"
INACTIVE_CARD_LAST4 = "9876"
SEATS = ["1001", "1009", "1012", "1016", "1019", "1022", "1024"]  # basic_zh english japanese vip platinum group lost


@pytest.fixture(scope="module")
def seats(pbx: Pbx, settings, sipp_logs) -> Iterator[None]:  # type: ignore[no-untyped-def]
    sipp = Sipp(settings, sipp_logs)
    port = free_port()
    with sipp.seats_answering(port, talk_ms=800):
        assert sipp.register(SEATS, port).returncode == 0
        yield
        sipp.unregister(SEATS)


def trace(service: IvrService, uniqueid: str) -> list[dict[str, object]]:
    out = []
    for line in service.log_path.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("{") and f'"{uniqueid}"' in line:
            record = json.loads(line)
            if record.get("uniqueid") == uniqueid:
                out.append(record)
    return out


def handoff(records: list[dict[str, object]]) -> dict[str, object]:
    """Where the IVR handed the call to a queue, from the trace in its end line."""
    handed: dict[str, object] = call_trace(records)["handoff"]
    return handed


def played(records: list[dict[str, object]]) -> list[str]:
    return played_in(call_trace(records))


def verifications(records: list[dict[str, object]]) -> list[bool]:
    return pin_checks(call_trace(records))


def queued_call(  # type: ignore[no-untyped-def]
    sipp: Sipp, events: EventLog, number: str, caller: str, keys: tuple[tuple[int, str], ...], join_within: float = 45
):
    mark = events.mark()
    proc = sipp.call(number, caller, keys=keys, max_wait_ms=120000)
    try:
        joined = events.wait_for(lambda e: e.name == "QueueCallerJoin" and e.get("CallerIDNum") == caller,
                                 since=mark, timeout=join_within, what=f"{caller} joining a queue")  # fmt: skip
        events.wait_for(lambda e: e.name == "AgentConnect" and e.get("Uniqueid") == joined.get("Uniqueid"),
                        since=mark, timeout=30, what=f"{caller} answered")  # fmt: skip
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    return joined


# number, caller, keys (ms after the previous key, key), queue, priority, language
PATHS = [
    pytest.param("95588", "13811110001", ((1500, "0"),), "basic_zh", 0, "zh", id="main-0-agent"),
    pytest.param("95588", "13811110002", ((1500, "3"),), "lost_card", 10, "zh", id="main-3-lost-card"),
    pytest.param("95588", "13811110003", ((1500, "9"), (1500, "1"), (2500, "0")), "english", 0, "en",
                 id="main-9-1-english-then-agent"),
    pytest.param("95588", DEMO_VIP, ((1500, "0"),), "vip", 8, "zh", id="vip-caller-on-main-line"),
    pytest.param("95588", DEMO_JAPANESE, ((2500, "0"),), "japanese", 0, "ja", id="japanese-caller-own-group"),
    pytest.param("4006695588", "13811110004", ((1500, "1"),), "lost_card", 10, "zh", id="vip-line-1-lost-card"),
    pytest.param("4000095588", "13811110005", (), "platinum", 6, "zh", id="platinum-line-silence-to-group"),
    pytest.param("4008795588", "13811110006", ((1500, "0"),), "group", 4, "zh", id="group-line-0-agent"),
]  # fmt: skip


@pytest.mark.parametrize(("number", "caller", "keys", "queue", "priority", "language"), PATHS)
def test_menu_path_reaches_the_expected_queue_priority_and_language(
    ivr_service: IvrService, seats: None, sipp: Sipp, events: EventLog,
    number: str, caller: str, keys: tuple[tuple[int, str], ...], queue: str, priority: int, language: str,
) -> None:  # fmt: skip
    joined = queued_call(sipp, events, number, caller, keys)
    records = trace(ivr_service, str(joined.get("Uniqueid")))

    assert joined.get("Queue") == queue
    assert chan_var(joined, "IVR_LANG") == language
    handed = handoff(records)
    assert (handed["queue"], handed["priority"], handed["language"]) == (queue, priority, language)
    prompts = played(records)
    assert prompts, "the caller heard nothing"
    if language != "zh":
        # after the switch (or from the start for a recognised caller), prompts are in that language
        assert prompts[-1].startswith(f"{language}/"), prompts


def test_english_selection_plays_english_prompts_after_the_choice(
    ivr_service: IvrService, seats: None, sipp: Sipp, events: EventLog
) -> None:
    joined = queued_call(sipp, events, "95588", "13811110011", ((1500, "9"), (1500, "1"), (2500, "0")))
    prompts = played(trace(ivr_service, str(joined.get("Uniqueid"))))

    choice = next(i for i, p in enumerate(prompts) if p.endswith("language_option"))
    assert prompts[0] == "zh/welcome"
    assert all(p.startswith("en/") for p in prompts[choice + 6 :]), prompts


def test_three_invalid_keys_follow_the_catalog_policy(
    ivr_service: IvrService, seats: None, sipp: Sipp, events: EventLog
) -> None:
    # 7 is not on the main menu: invalid_choice, retry, twice; then the node's after_retries (agent).
    joined = queued_call(sipp, events, "95588", "13811110021", ((1500, "7"), (1200, "7"), (1200, "7")))
    records = trace(ivr_service, str(joined.get("Uniqueid")))

    assert played(records).count("zh/invalid_choice") == 2
    assert handoff(records)["reason"] == "retries_exhausted"
    assert joined.get("Queue") == "basic_zh"


def test_silence_on_the_vip_line_reaches_the_vip_group(
    ivr_service: IvrService, seats: None, sipp: Sipp, events: EventLog
) -> None:
    joined = queued_call(sipp, events, "4006695588", "13811110031", ())

    assert joined.get("Queue") == "vip"
    assert handoff(trace(ivr_service, str(joined.get("Uniqueid"))))["reason"] == "retries_exhausted"


def test_hang_up_mid_menu_leaves_no_session_task_or_error(ivr_service: IvrService, sipp: Sipp) -> None:
    before = ivr_service.log_path.stat().st_size
    proc = sipp.call("95588", "13811110041", keys=((1500, "1"),), hangup_after_ms=1500)

    assert proc.wait(30) == 0
    wait_until(lambda: (h := ivr_service.health()) is not None and h["agi"]["active_sessions"] == 0, 15,  # type: ignore[index]
               "the IVR session to end")  # fmt: skip
    with ivr_service.log_path.open("rb") as handle:
        handle.seek(before)
        new = handle.read().decode(errors="replace")
    assert '"steps": ["play zh/welcome"' in new, "the call's trace, in its end line"
    assert '"error"' not in new and "Traceback" not in new


def test_hostile_fastagi_clients_do_not_disturb_a_call_in_progress(
    ivr_service: IvrService, seats: None, sipp: Sipp, events: EventLog
) -> None:
    caller = "13811110051"
    mark = events.mark()
    proc = sipp.call("95588", caller, keys=((4000, "0"),))
    port = ivr_service.settings.agi_port
    try:
        wait_until(lambda: (h := ivr_service.health()) is not None and h["agi"]["active_sessions"] >= 1, 15,  # type: ignore[index]
                   "the call to be in the IVR")  # fmt: skip
        with socket.create_connection(("127.0.0.1", port)) as s:  # connects and closes before the header ends
            s.sendall(b"agi_network: yes\n")
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(b"\x00\xff garbage \r\n\r\n")
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(b"agi_request: " + b"A" * 100_000 + b"\n")
        joined = events.wait_for(lambda e: e.name == "QueueCallerJoin" and e.get("CallerIDNum") == caller,
                                 since=mark, timeout=30)  # fmt: skip
        events.wait_for(lambda e: e.name == "AgentConnect" and e.get("Uniqueid") == joined.get("Uniqueid"), since=mark)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert chan_var(joined, "IVR_ROUTE") == "agi"
    assert ivr_service.health()["status"] == "ok"  # type: ignore[index]


def verification_keys(pin: str, attempts: int) -> tuple[tuple[int, str], ...]:
    keys: list[tuple[int, str]] = [(1500, "1"), (1500, "1")]  # billing, balance
    for _ in range(attempts):
        keys += [(1800, CARD_LAST4[0]), *((400, d) for d in CARD_LAST4[1:])]
        keys += [(1800, pin[0]), *((400, d) for d in pin[1:])]
    return tuple(keys)


def test_right_pin_is_verified_and_the_balance_is_read_out(
    ivr_service: IvrService, seats: None, sipp: Sipp, events: EventLog
) -> None:
    # After the balance readout the billing menu offers again; 0 (pressed a few times, since the
    # readout cannot be interrupted) reaches an agent with the verified flag.
    keys = (*verification_keys(PIN, 1), *((3000, "0") for _ in range(20)))
    joined = queued_call(sipp, events, "95588", DEMO_CUSTOMER, keys, join_within=90)
    records = trace(ivr_service, str(joined.get("Uniqueid")))

    assert verifications(records) == [True]
    assert "zh/balance_is" in played(records)
    assert handoff(records)["verified"] is True
    assert chan_var(joined, "IVR_TIER") == "standard"


def test_wrong_pin_three_times_reaches_an_agent_flagged_unverified(
    ivr_service: IvrService, seats: None, sipp: Sipp, events: EventLog
) -> None:
    joined = queued_call(sipp, events, "95588", DEMO_CUSTOMER, verification_keys(WRONG_PIN, 3))
    records = trace(ivr_service, str(joined.get("Uniqueid")))

    assert verifications(records) == [False, False, False]
    handed = handoff(records)
    assert (handed["reason"], handed["verified"]) == ("verification_failed", False)


def activation_keys(card_last4: str) -> tuple[tuple[int, str], ...]:
    keys: list[tuple[int, str]] = [(1500, "2")]  # card activation, from the main menu
    keys += [(1800, card_last4[0]), *((400, d) for d in card_last4[1:])]
    keys += [(1800, PIN[0]), *((400, d) for d in PIN[1:])]
    # Back at the main menu after the result (it cannot be interrupted): 0 reaches an agent.
    return (*keys, *((3000, "0") for _ in range(12)))


def test_card_activation_activates_the_card_once_then_says_it_is_active(
    ivr_service: IvrService, seats: None, sipp: Sipp, events: EventLog, settings
) -> None:  # type: ignore[no-untyped-def]
    from ivr.directory.store import SqliteDirectory

    def card_active() -> bool:
        directory = SqliteDirectory(settings.directory_db)
        try:
            customer = directory.by_caller_id(DEMO_CUSTOMER)
            assert customer is not None
            return next(card.active for card in customer.cards if card.last4 == INACTIVE_CARD_LAST4)
        finally:
            directory.close()

    assert not card_active()
    outcomes = []
    for _ in range(2):
        joined = queued_call(sipp, events, "95588", DEMO_CUSTOMER, activation_keys(INACTIVE_CARD_LAST4),
                             join_within=90)  # fmt: skip
        records = trace(ivr_service, str(joined.get("Uniqueid")))
        assert verifications(records) == [True]
        outcomes.append([p for p in played(records) if p in ("zh/card_activated", "zh/card_already_active")])
        handed = handoff(records)
        assert handed["verified"] is True

    assert outcomes == [["zh/card_activated"], ["zh/card_already_active"]]
    assert card_active()


def test_card_digits_and_pins_appear_nowhere_after_verification_sessions(
    pbx: Pbx, ivr_service: IvrService, events: EventLog, settings
) -> None:  # type: ignore[no-untyped-def]
    """Runs after the verification and activation tests (file order): scan every log, database,
    Asterisk log and the captured AMI stream for the PIN, the wrong PIN and the
    digits typed as one string. (The directory keeps a card's last four by design,
    so the last four alone are scanned for in logs and the AMI stream only.)"""
    secrets = [PIN.encode(), WRONG_PIN.encode(), (CARD_LAST4 + PIN).encode()]
    places: dict[str, bytes] = {"ivr service log": ivr_service.log_path.read_bytes()}
    for path in Path(settings.run_dir).rglob("*"):
        if path.is_file() and path.suffix != ".wav":
            places[str(path)] = path.read_bytes()
    places["asterisk console"] = pbx.logs().encode()
    places["AMI stream (metrics user)"] = "\n".join(
        "\n".join(f"{k}: {v}" for k, v in e.headers) for e in events.events
    ).encode()  # fmt: skip
    ARTIFACTS.mkdir(exist_ok=True)
    leaks = [(name, s.decode()) for name, data in places.items() for s in secrets if s in data]
    assert not leaks, f"card data found: {leaks}"
    for name in ("ivr service log", "asterisk console", "AMI stream (metrics user)"):
        for last4 in (CARD_LAST4, INACTIVE_CARD_LAST4):
            assert f'"{last4}"'.encode() not in places[name] and f"={last4}".encode() not in places[name], name
    assert len(places) > 5, sorted(places)
    (ARTIFACTS / "card-data-scan.txt").write_text("scanned, no card data found:\n" + "\n".join(sorted(places)))


def test_simulate_walks_the_same_menu_offline(ivr_service: IvrService) -> None:
    result = subprocess.run(
        [".venv/bin/ivr", "simulate", "95588", "--caller", DEMO_VIP, "--digits", "0"],
        capture_output=True, text=True, env=ivr_service.env(), check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "handoff queue=vip priority=8" in result.stdout
