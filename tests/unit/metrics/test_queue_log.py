"""Specs of the queue_log parser: Asterisk's durable record as domain events."""

from __future__ import annotations

from ivr.metrics.events import (
    AgentCompleted,
    AgentConnected,
    AgentDumped,
    AgentRingNoAnswer,
    CallerAbandoned,
    CallerExited,
    CallerJoined,
    MemberAdded,
    MemberPaused,
    MemberRemoved,
    SurveyRated,
)
from ivr.metrics.intake import CallerKeyer
from ivr.metrics.queue_log import LineProblem, parse_queue_log

KEY = CallerKeyer(b"test-salt-0123456789")

# One call answered, then transferred; one abandoned; one timed out; member changes.
LOG = """\
1700000000|NONE|NONE|NONE|QUEUESTART|
1700000001|MANAGER|basic_zh|1001|ADDMEMBER|
1700000002|MANAGER|basic_zh|1002|ADDMEMBER|PAUSED
1700000010|1700000009.1|basic_zh|NONE|IVRPATH|vip|vip|en|menu
1700000010|1700000009.1|basic_zh|NONE|ENTERQUEUE||13800138000|1
1700000025|1700000009.1|basic_zh|1001|RINGNOANSWER|15000
1700000030|1700000009.1|basic_zh|1001|CONNECT|20|1700000029.2|2
1700000090|1700000009.1|basic_zh|1001|COMPLETECALLER|20|60|1
1700000100|1700000099.3|basic_zh|NONE|ENTERQUEUE||13900139000|1
1700000130|1700000099.3|basic_zh|NONE|ABANDON|1|1|30
1700000200|1700000199.4|basic_zh|NONE|ENTERQUEUE|||1
1700000260|1700000199.4|basic_zh|NONE|EXITWITHTIMEOUT|1|1|60
1700000300|1700000299.5|basic_zh|1002|CONNECT|5|1700000299.6|1
1700000400|1700000299.5|basic_zh|1002|BLINDTRANSFER|8888|transfers|5|100|1
1700000410|1700000299.5|basic_zh|1002|SURVEY|5|main
1700000500|NONE|NONE|1001|PAUSEALL|lunch
1700000500|NONE|basic_zh|1001|PAUSE|lunch
1700000600|NONE|basic_zh|1001|UNPAUSE|
1700000700|1700000699.7|basic_zh|1002|AGENTDUMP|
1700000800|MANAGER|basic_zh|1002|REMOVEMEMBER|
"""


def test_a_day_of_queue_log_becomes_domain_events() -> None:
    parsed = parse_queue_log(LOG.splitlines(keepends=True), KEY)
    assert parsed.problems == []
    assert parsed.skipped == {"QUEUESTART": 1, "PAUSEALL": 1}
    assert parsed.events == [
        MemberAdded(at=1700000001, queue="basic_zh", agent="1001", paused=False),
        MemberAdded(at=1700000002, queue="basic_zh", agent="1002", paused=True),
        CallerJoined(
            at=1700000010,
            queue="basic_zh",
            uniqueid="1700000009.1",
            caller_hash=KEY("13800138000"),
            position=1,
            line="vip",
            tier="vip",
            language="en",
        ),
        AgentRingNoAnswer(
            at=1700000025,
            queue="basic_zh",
            uniqueid="1700000009.1",
            agent="1001",
            ring_time=15.0,
        ),
        AgentConnected(
            at=1700000030,
            queue="basic_zh",
            uniqueid="1700000009.1",
            agent="1001",
            hold_time=20,
            ring_time=2,
        ),
        AgentCompleted(
            at=1700000090,
            queue="basic_zh",
            uniqueid="1700000009.1",
            agent="1001",
            hold_time=20,
            talk_time=60,
            reason="caller",
        ),
        CallerJoined(
            at=1700000100,
            queue="basic_zh",
            uniqueid="1700000099.3",
            caller_hash=KEY("13900139000"),
            position=1,
        ),
        CallerAbandoned(
            at=1700000130,
            queue="basic_zh",
            uniqueid="1700000099.3",
            position=1,
            original_position=1,
            hold_time=30,
        ),
        CallerJoined(
            at=1700000200,
            queue="basic_zh",
            uniqueid="1700000199.4",
            caller_hash=None,
            position=1,
        ),
        CallerExited(
            at=1700000260,
            queue="basic_zh",
            uniqueid="1700000199.4",
            reason="timeout",
            position=1,
            original_position=1,
            hold_time=60,
        ),
        AgentConnected(
            at=1700000300,
            queue="basic_zh",
            uniqueid="1700000299.5",
            agent="1002",
            hold_time=5,
            ring_time=1,
        ),
        AgentCompleted(
            at=1700000400,
            queue="basic_zh",
            uniqueid="1700000299.5",
            agent="1002",
            hold_time=5,
            talk_time=100,
            reason="transfer",
        ),
        SurveyRated(
            at=1700000410,
            uniqueid="1700000299.5",
            queue="basic_zh",
            agent="1002",
            line="main",
            rating=5,
        ),
        MemberPaused(at=1700000500, queue="basic_zh", agent="1001", paused=True, reason="lunch"),
        MemberPaused(at=1700000600, queue="basic_zh", agent="1001", paused=False, reason=""),
        AgentDumped(at=1700000700, queue="basic_zh", uniqueid="1700000699.7", agent="1002"),
        MemberRemoved(at=1700000800, queue="basic_zh", agent="1002"),
    ]


def test_attended_transfer_times_are_read_from_the_end_of_the_line() -> None:
    line = "1700000400|u1|basic_zh|1002|ATTENDEDTRANSFER|BRIDGE|1700000350.9|5|100|1\n"
    (event,) = parse_queue_log([line], KEY).events
    assert isinstance(event, AgentCompleted)
    assert (event.hold_time, event.talk_time, event.reason) == (5, 100, "transfer")


def test_exit_with_key_and_exit_empty_are_exits() -> None:
    lines = [
        "1700000400|u1|basic_zh|NONE|EXITWITHKEY|0|2|3|45",
        "1700000400|u2|basic_zh|NONE|EXITEMPTY|1|1|3",
    ]
    first, second = parse_queue_log(lines, KEY).events
    assert isinstance(first, CallerExited) and (first.reason, first.hold_time) == ("key", 45)
    assert isinstance(second, CallerExited) and second.reason == "empty"


def test_malformed_lines_are_reported_by_number_and_parsing_goes_on() -> None:
    lines = [
        "1700000010|u1|basic_zh|NONE|ENTERQUEUE||13800138000|1",
        "garbage",
        "yesterday|u1|basic_zh|NONE|ENTERQUEUE||13800138000|1",
        "1700000030|u1|basic_zh|1001|CONNECT|soon|u2|2",
        "",
        "1700000030|u1|basic_zh|NONE|CONNECT|20|u2|2",
        "1700000090|u1|basic_zh|1001|COMPLETECALLER|20",
        "1700000091|u1|basic_zh|1001|SURVEY|7",
        "1700000092|u1|basic_zh|1001|ABANDON|1|1|-4",
        "1700000100|u3|basic_zh|NONE|ENTERQUEUE||13800138000|1",
    ]
    parsed = parse_queue_log(lines, KEY)
    assert [type(e).__name__ for e in parsed.events] == ["CallerJoined", "CallerJoined"]
    assert parsed.problems == [
        LineProblem(2, "expected at least 5 fields, got 1"),
        LineProblem(3, "time is not a number"),
        LineProblem(4, "CONNECT: data field 1 is not an integer"),
        LineProblem(6, "CONNECT: no agent"),
        LineProblem(7, "COMPLETECALLER: expected 3 data fields, got 1"),
        LineProblem(8, "SURVEY: rating outside 1..5"),
        LineProblem(9, "ABANDON: data field 3 is negative"),
    ]
    # The report says where and why, never what: no caller number leaks.
    assert "13800138000" not in repr(parsed.problems)
