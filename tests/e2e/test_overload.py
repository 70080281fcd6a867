"""Overload, end to end: with `center.max_concurrent_calls` set to a small
limit (a hot reload of the session's catalog), calls in progress hold the
center full; the next callers are turned away before any answer with a SIP
503 (after the busy prompt as early media, when the catalog asks for it),
each counted by an `IvrCenterFull` UserEvent, while the calls in progress are
served to their normal end. Once they have ended, callers are admitted again.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import yaml

from tests.e2e.harness import REPO, SIPP_DIR, EventLog, IvrService, Pbx, Sipp, free_port, wait_until

if TYPE_CHECKING:
    from ivr.ami import AmiMessage

pytestmark = pytest.mark.e2e

LIMIT = 3
SEATS = ["1001", "1002", "1003"]  # basic_zh at penalty 0
TALK_MS = 15000  # long enough for the turned-away callers to try while the center is full


def reload(service: IvrService, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(REPO / ".venv" / "bin" / "ivr"), "reload", *args],
        capture_output=True, text=True, env=service.env(), cwd=REPO, check=False, timeout=60,
    )  # fmt: skip


@pytest.fixture
def limited(tmp_path: Path, pbx: Pbx, ivr_service: IvrService) -> Iterator[Callable[[int, str], None]]:
    """Reload the session's catalog with a limit; the session's own catalog again afterwards."""
    wait_until(lambda: "0 active calls" in pbx.cli("core show channels count"), 60, "earlier tests' calls to end")

    def apply(limit: int, when_full: str) -> None:
        data = yaml.safe_load(ivr_service.settings.catalog.read_text(encoding="utf-8"))
        data["center"].update(max_concurrent_calls=limit, when_full=when_full)
        path = tmp_path / f"callcenter-{limit}-{when_full}.yaml"
        path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
        result = reload(ivr_service, "--catalog", str(path))
        assert result.returncode == 0, result.stdout + result.stderr

    yield apply
    result = reload(ivr_service)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture
def seats(sipp: Sipp) -> Iterator[None]:
    port = free_port()
    with sipp.seats_answering(port, talk_ms=TALK_MS):
        assert sipp.register(SEATS, port).returncode == 0
        yield
        sipp.unregister(SEATS)


def joining(caller: str) -> Callable[[AmiMessage], bool]:
    return lambda e: e.name == "QueueCallerJoin" and e.get("CallerIDNum") == caller


def connected(uniqueid: str) -> Callable[[AmiMessage], bool]:
    return lambda e: e.name == "AgentConnect" and e.get("Uniqueid") == uniqueid


def connect_calls(sipp: Sipp, events: EventLog, callers: list[str]) -> tuple[list[subprocess.Popen[bytes]], int]:
    """Callers that press 0 and talk to a seat; returns their SIPp processes once all are connected."""
    mark = events.mark()
    procs = [sipp.call("95588", caller, max_wait_ms=90000) for caller in callers]
    for caller in callers:
        joined = events.wait_for(joining(caller), since=mark, timeout=45, what=f"{caller} joining basic_zh")
        events.wait_for(connected(str(joined.get("Uniqueid"))), since=mark, timeout=30, what=f"{caller} answered")
    return procs, mark


def turned_away(sipp: Sipp, caller: str, scenario: str) -> subprocess.Popen[bytes]:
    return sipp.call("95588", caller, scenario=scenario, max_wait_ms=30000)


def center_full(events: EventLog, since: int) -> list[str]:
    """The callers the dialplan counted as turned away (IvrCenterFull), in order."""
    return [str(e.get("CallerIDNum")) for e in events.find(
        lambda e: e.name == "UserEvent" and e.get("UserEvent") == "IvrCenterFull", since=since)]  # fmt: skip


def test_callers_over_the_limit_get_a_503_at_once_while_calls_in_progress_finish_normally(
    limited: Callable[[int, str], None], seats: None, sipp: Sipp, events: EventLog
) -> None:
    limited(LIMIT, "reject")
    in_progress = [f"1360000{i:04d}" for i in range(LIMIT)]
    extra = [f"1360001{i:04d}" for i in range(3)]
    procs, mark = connect_calls(sipp, events, in_progress)
    try:
        rejected = [turned_away(sipp, caller, str(SIPP_DIR / "caller_busy.xml")) for caller in extra]

        # Each extra caller's SIPp ends on a 503 it expected (a 200 would fail it).
        assert [proc.wait(30) for proc in rejected] == [0, 0, 0]
        full = events.wait_for(lambda e: e.name == "UserEvent" and e.get("UserEvent") == "IvrCenterFull",
                               since=mark, what="IvrCenterFull")  # fmt: skip
        assert (full.get("Line"), full.get("Limit")) == ("main", str(LIMIT))
        wait_until(lambda: sorted(center_full(events, mark)) == sorted(extra), 10, "one IvrCenterFull per caller")
        # ... turned away before any IVR work: none of them reached the ivr service or a queue.
        assert not events.find(lambda e: e.name == "QueueCallerJoin" and e.get("CallerIDNum") in extra, since=mark)

        # The calls in progress are served to their end: the seat hangs up after its talk time.
        assert [proc.wait(60) for proc in procs] == [0, 0, 0]
        completed = events.find(lambda e: e.name == "AgentComplete" and e.get("CallerIDNum") in in_progress,
                                since=mark)  # fmt: skip
        assert sorted(str(e.get("CallerIDNum")) for e in completed) == sorted(in_progress)
        assert all(e.get("Reason") == "agent" for e in completed)
        # They were still talking when the extra callers were turned away.
        first_complete = min(events.after(e) for e in completed)
        assert events.after(full) < first_complete
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()

    # The capacity is back: a new caller walks the menu and hangs up as usual.
    mark = events.mark()
    again = sipp.call("95588", "13600020000", keys=((1500, "1"),), hangup_after_ms=1500)
    assert again.wait(45) == 0
    assert center_full(events, mark) == []


def test_busy_prompt_is_played_as_early_media_before_the_503(
    limited: Callable[[int, str], None], seats: None, sipp: Sipp, events: EventLog
) -> None:
    limited(1, "busy_prompt")
    procs, mark = connect_calls(sipp, events, ["13600030000"])
    # The same caller, who now requires the early media (183) before the 503.
    scenario = Path(sipp.log_dir / "caller_busy_prompt.xml")
    text = (SIPP_DIR / "caller_busy.xml").read_text()
    scenario.write_text(text.replace('<recv response="183" optional="true"/>', '<recv response="183"/>'))
    try:
        assert turned_away(sipp, "13600030001", str(scenario)).wait(45) == 0
        assert center_full(events, mark) == ["13600030001"]
        assert [proc.wait(60) for proc in procs] == [0]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
