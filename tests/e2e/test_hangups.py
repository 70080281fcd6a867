"""A caller who hangs up inside the IVR is a normal end of call, end to end: the
service writes one info line (`agi_caller_hung_up`, naming the command it was
in) and nothing at warning or error level, whether the caller leaves while a
prompt plays or while the menu waits for a key (WAIT FOR DIGIT, whose
`result=-1` used to be logged as `agi_handler_failed` with a traceback)."""

from __future__ import annotations

import json
import re
import wave
from pathlib import Path

import pytest

from ivr.settings import Settings
from tests.e2e.harness import EventLog, IvrService, Sipp, call_trace, chan_var, played, wait_until

pytestmark = pytest.mark.e2e

# The main line's greeting, then its root menu, which waits for a key (5 s) after its prompt.
MENU_PROMPTS = ("zh/welcome", "en/language_offer", "zh/main_menu")
MENU_DIGIT_TIMEOUT_MS = 5000


def prompt_ms(settings: Settings, prompt: str) -> int:
    with wave.open(str(Path(settings.sounds_dir) / f"{prompt}.wav"), "rb") as recording:
        return int(1000 * recording.getnframes() / recording.getframerate())


def call_lines(service: IvrService, since: int) -> list[dict[str, object]]:
    """The service's log lines written since byte offset `since`, parsed (JSON lines)."""
    with service.log_path.open("rb") as handle:
        handle.seek(since)
        text = handle.read().decode(errors="replace")
    assert "Traceback" not in text, text[-3000:]
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def hang_up_in_the_ivr(service: IvrService, sipp: Sipp, caller: str, after_ms: int) -> list[dict[str, object]]:
    """One call to 95588 that presses nothing and hangs up `after_ms` after the answer; its log lines."""
    before = service.log_path.stat().st_size
    proc = sipp.call("95588", caller, keys=(), hangup_after_ms=after_ms)
    assert proc.wait(60) == 0
    wait_until(lambda: (h := service.health()) is not None and h["agi"]["active_sessions"] == 0, 15,  # type: ignore[index]
               "the IVR session to end")  # fmt: skip
    wait_until(lambda: any(r["event"] == "agi_caller_hung_up" for r in call_lines(service, before)), 10,
               "the call's last line")  # fmt: skip
    lines = call_lines(service, before)
    ended = [r for r in lines if r["event"] == "agi_caller_hung_up" and "ivr" in r]
    assert len(ended) == 1, [r["event"] for r in lines]
    uniqueid = ended[0]["uniqueid"]
    return [r for r in lines if r.get("uniqueid") == uniqueid]


def assert_one_info_line_and_no_error(lines: list[dict[str, object]], command: str) -> dict[str, object]:
    assert [(r["event"], r["level"]) for r in lines if r["level"] not in ("info", "debug")] == []
    ends = [r for r in lines if r["event"] in ("agi_caller_hung_up", "agi_call_finished", "agi_handler_failed")]
    assert [(r["event"], r["level"]) for r in ends] == [("agi_caller_hung_up", "info")], lines
    assert ends[0]["command"] == command, ends[0]
    return ends[0]


def test_hanging_up_while_the_menu_waits_for_a_key_is_one_info_line_and_no_error(
    ivr_service: IvrService, sipp: Sipp, settings: Settings
) -> None:
    menu_ms = sum(prompt_ms(settings, prompt) for prompt in MENU_PROMPTS)
    # Halfway into the 5 s wait for a key: well past the prompts, well before the retry.
    lines = hang_up_in_the_ivr(ivr_service, sipp, "13811110061", menu_ms + MENU_DIGIT_TIMEOUT_MS // 2)

    hangup = assert_one_info_line_and_no_error(lines, "WAIT FOR DIGIT")
    trace = call_trace(lines)
    assert (hangup["script"], trace["waiting_for"], trace["path"]) == ("route", "menu_digit", "main>root")
    assert played(trace) == list(MENU_PROMPTS)


def test_hanging_up_during_the_greeting_is_one_info_line_and_no_error(
    ivr_service: IvrService, sipp: Sipp, settings: Settings
) -> None:
    assert prompt_ms(settings, "zh/welcome") > 1500, "the greeting must outlast the caller"
    lines = hang_up_in_the_ivr(ivr_service, sipp, "13811110062", 1000)

    assert_one_info_line_and_no_error(lines, "STREAM FILE")


def test_a_caller_handed_to_a_queue_carries_the_variables_the_ivr_set_in_one_command(
    ivr_service: IvrService, sipp: Sipp, events: EventLog
) -> None:
    """The hand-off's nine channel variables go in one EXEC MSet: the queue sees each of them."""
    caller = "13811110063"
    mark = events.mark()
    proc = sipp.call("95588", caller, keys=((1500, "0"),), hangup_after_ms=6000)
    try:
        joined = events.wait_for(lambda e: e.name == "QueueCallerJoin" and e.get("CallerIDNum") == caller,
                                 since=mark, timeout=45, what=f"{caller} joining a queue")  # fmt: skip
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert joined.get("Queue") == "basic_zh"
    assert (chan_var(joined, "IVR_LANG"), chan_var(joined, "IVR_TIER"), chan_var(joined, "IVR_ROUTE")) == (
        "zh", "standard", "agi",
    )  # fmt: skip


def test_hang_ups_are_counted_apart_from_failures_on_metrics(ivr_service: IvrService) -> None:
    """Runs after the calls above (file order)."""
    status, body, _ = ivr_service.get("/metrics")
    assert status == 200
    text = body.decode()

    def value(series: str) -> float:
        match = re.search(rf"^{re.escape(series)} ([0-9.e+]+)$", text, re.MULTILINE)
        assert match is not None, f"{series} not in /metrics"
        return float(match.group(1))

    assert value('ivr_agi_hangups_total{script="route"}') >= 2
    assert value('ivr_agi_sessions_total{script="route"}') >= 2
    assert value('ivr_agi_failures_total{script="route"}') == 0
    assert value('ivr_agi_command_seconds_count{command="WAIT FOR DIGIT"}') >= 1
