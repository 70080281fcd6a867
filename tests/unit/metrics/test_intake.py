"""Specs of the AMI intake: wire headers to domain events, and nothing else."""

from __future__ import annotations

import hashlib
import hmac
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ivr.ami.protocol import AmiMessage, AmiParser
from ivr.metrics.adapters.live import headers_of
from ivr.metrics.events import (
    AgentCompleted,
    AgentConnected,
    AgentRingNoAnswer,
    CallerAbandoned,
    CallerJoined,
    MemberPaused,
    MemberStatusChanged,
    SurveyRated,
)
from ivr.metrics.intake import CallerKeyer, from_ami
from ivr.metrics.reducer import CenterState

from .center import transcript_messages

KEY = CallerKeyer(b"test-salt-0123456789")
NOW = 1_700_000_000.0

# A QueueCallerJoin as Asterisk 22 writes it with channelvars set (abridged).
JOIN = {
    "Event": "QueueCallerJoin",
    "Privilege": "agent,all",
    "Timestamp": "1699999999.250000",
    "Channel": "PJSIP/trunk-00000001",
    "CallerIDNum": "13800138000",
    "Priority": "12",  # the dialplan step, not the queue priority
    "Uniqueid": "1699999990.1",
    "ChanVariable": ["IVR_LINE=vip", "IVR_TIER=vip", "IVR_LANG=en", "IVR_ROUTE="],
    "Queue": "vip",
    "Position": "1",
    "Count": "1",
}


def test_caller_join_is_tagged_from_channel_variables_and_timed_by_timestamp() -> None:
    event = from_ami(JOIN, NOW, KEY)
    assert isinstance(event, CallerJoined)
    assert (event.queue, event.uniqueid, event.position) == ("vip", "1699999990.1", 1)
    assert (event.line, event.tier, event.language) == ("vip", "vip", "en")
    assert event.at == 1699999999.25
    assert event.priority is None


@pytest.mark.parametrize(
    ("variables", "priority"),
    [
        (["QUEUE_PRIO=3"], 3),
        (["IVR_PRIORITY= 7 "], 7),
        (["QUEUE_PRIO=x", "IVR_PRIORITY=-2"], -2),
        (["QUEUE_PRIO=5", "IVR_PRIORITY=9"], 5),
        (["QUEUE_PRIO="], None),
        (["IVR_LINE=vip"], None),
    ],
)
def test_the_queue_priority_comes_from_the_first_channel_variable_that_is_a_number(
    variables: list[str], priority: int | None
) -> None:
    event = from_ami({**JOIN, "ChanVariable": variables}, NOW, KEY)
    assert isinstance(event, CallerJoined) and event.priority == priority


def test_chan_variables_may_come_as_newline_joined_text_or_the_old_bracket_form() -> None:
    joined_text = {**JOIN, "ChanVariable": "IVR_LINE=main\nIVR_TIER=standard\nIVR_LANG=zh"}
    bracket = {k: v for k, v in JOIN.items() if k != "ChanVariable"}
    bracket |= {"ChanVariable(IVR_LINE)": "main", "ChanVariable(IVR_TIER)": "standard"}
    first, second = from_ami(joined_text, NOW, KEY), from_ami(bracket, NOW, KEY)
    assert isinstance(first, CallerJoined) and isinstance(second, CallerJoined)
    assert (first.line, first.tier, first.language) == ("main", "standard", "zh")
    assert (second.line, second.tier, second.language) == ("main", "standard", "")


def test_caller_number_is_kept_only_as_a_keyed_hash() -> None:
    event = from_ami(JOIN, NOW, KEY)
    assert isinstance(event, CallerJoined)
    assert event.caller_hash == KEY("13800138000")
    assert "13800138000" not in repr(event)
    assert CallerKeyer(b"another-salt-9876543210")("13800138000") != event.caller_hash


@given(st.binary(min_size=16, max_size=200), st.text(alphabet="0123456789+ -()", min_size=1, max_size=20))
def test_the_caller_key_is_hmac_sha256_of_the_digits_with_the_salt(salt: bytes, number: str) -> None:
    digits = number.strip().translate(str.maketrans("", "", " -()."))
    expected = hmac.digest(salt, digits.encode(), hashlib.sha256).hex() if digits else None
    assert CallerKeyer(salt)(number) == expected


def test_withheld_caller_number_has_no_key() -> None:
    assert KEY("") is None and KEY("anonymous") is None and KEY("<unknown>") is None


def test_short_salt_is_refused() -> None:
    with pytest.raises(ValueError):
        CallerKeyer(b"short")


def test_header_names_are_case_insensitive_and_time_falls_back_to_receipt() -> None:
    headers = {k.lower(): v for k, v in JOIN.items() if k != "Timestamp"}
    event = from_ami(headers, NOW, KEY)
    assert isinstance(event, CallerJoined) and event.at == NOW


def test_agent_connect_names_the_seat_not_the_interface() -> None:
    headers = {
        "Event": "AgentConnect",
        "Queue": "vip",
        "Uniqueid": "1699999990.1",
        "Interface": "PJSIP/2001",
        "HoldTime": "7",
        "RingTime": "3",
        "DestUniqueid": "1699999995.2",
    }
    assert from_ami(headers, NOW, KEY) == AgentConnected(
        at=NOW, queue="vip", uniqueid="1699999990.1", agent="2001", hold_time=7, ring_time=3
    )
    with_name = from_ami({**headers, "MemberName": "2001"}, NOW, KEY)
    assert isinstance(with_name, AgentConnected) and with_name.agent == "2001"


def test_ring_no_answer_time_is_converted_from_milliseconds() -> None:
    event = from_ami(
        {
            "Event": "AgentRingNoAnswer",
            "Queue": "vip",
            "Uniqueid": "u1",
            "MemberName": "2001",
            "Interface": "PJSIP/2001",
            "RingTime": "15000",
        },
        NOW,
        KEY,
    )
    assert isinstance(event, AgentRingNoAnswer) and event.ring_time == 15.0


def test_abandon_hold_time_is_a_duration() -> None:
    event = from_ami(
        {
            "Event": "QueueCallerAbandon",
            "Queue": "vip",
            "Uniqueid": "u1",
            "Position": "2",
            "OriginalPosition": "3",
            "HoldTime": "42",
        },
        NOW,
        KEY,
    )
    assert event == CallerAbandoned(at=NOW, queue="vip", uniqueid="u1", position=2, original_position=3, hold_time=42)


def test_agent_complete_carries_talk_time_and_reason() -> None:
    event = from_ami(
        {
            "Event": "AgentComplete",
            "Queue": "vip",
            "Uniqueid": "u1",
            "MemberName": "2001",
            "HoldTime": "7",
            "TalkTime": "120",
            "Reason": "transfer",
        },
        NOW,
        KEY,
    )
    assert isinstance(event, AgentCompleted)
    assert (event.talk_time, event.reason) == (120, "transfer")


def test_member_status_and_pause() -> None:
    status = from_ami(
        {
            "Event": "QueueMemberStatus",
            "Queue": "vip",
            "MemberName": "2001",
            "Interface": "PJSIP/2001",
            "Status": "5",
            "Paused": "0",
            "InCall": "0",
            "Wrapuptime": "0",
        },
        NOW,
        KEY,
    )
    assert isinstance(status, MemberStatusChanged)
    assert (status.agent, status.status, status.paused, status.wrapup) == ("2001", 5, False, 0)
    pause = from_ami(
        {
            "Event": "QueueMemberPause",
            "Queue": "vip",
            "MemberName": "2001",
            "Paused": "1",
            "PausedReason": "lunch",
        },
        NOW,
        KEY,
    )
    assert pause == MemberPaused(at=NOW, queue="vip", agent="2001", paused=True, reason="lunch")


def test_survey_user_event_becomes_a_rating() -> None:
    event = from_ami(
        {
            "Event": "UserEvent",
            "UserEvent": "IvrSurvey",
            "Uniqueid": "u9",
            "CallUniqueid": "u1",
            "Queue": "vip",
            "Agent": "PJSIP/2001",
            "Rating": "4",
            "ChanVariable": "IVR_LINE=vip",
        },
        NOW,
        KEY,
    )
    assert event == SurveyRated(at=NOW, uniqueid="u1", queue="vip", agent="2001", line="vip", rating=4)


def test_queue_exit_user_event_becomes_an_overflow_and_a_bad_reason_is_rejected() -> None:
    from ivr.metrics.events import CallerOverflowed

    exit_event = {"Event": "UserEvent", "UserEvent": "IvrQueueExit", "Uniqueid": "u1", "Queue": "japanese",
                  "Reason": "timeout", "Next": "english"}  # fmt: skip
    assert from_ami(exit_event, NOW, KEY) == CallerOverflowed(
        at=NOW, queue="japanese", uniqueid="u1", reason="timeout", next_queue="english"
    )
    rejects: Counter[str] = Counter()
    assert from_ami({**exit_event, "Reason": "boredom"}, NOW, KEY, rejects) is None
    assert rejects == Counter({"UserEvent:bad_reason:Reason": 1})
    assert from_ami({**exit_event, "UserEvent": "SomethingElse"}, NOW, KEY) is None


def test_missing_or_malformed_header_gives_none_and_a_counted_reason() -> None:
    rejects: Counter[str] = Counter()
    no_hold = {"Event": "AgentConnect", "Queue": "q", "Uniqueid": "u", "MemberName": "1"}
    assert from_ami(no_hold, NOW, KEY, rejects) is None
    assert from_ami({**no_hold, "HoldTime": "soon"}, NOW, KEY, rejects) is None
    assert from_ami({**JOIN, "Position": ""}, NOW, KEY, rejects) is None
    survey = {"Event": "UserEvent", "UserEvent": "IvrSurvey", "Uniqueid": "u", "Queue": "q"}
    assert from_ami({**survey, "Agent": "1", "Rating": "9"}, NOW, KEY, rejects) is None
    assert rejects == Counter(
        {
            "AgentConnect:missing:HoldTime": 1,
            "AgentConnect:bad_number:HoldTime": 1,
            "QueueCallerJoin:missing:Position": 1,
            "UserEvent:bad_rating:Rating": 1,
        }
    )


def test_unknown_events_are_ignored_without_counting() -> None:
    rejects: Counter[str] = Counter()
    assert from_ami({"Event": "Newchannel", "Uniqueid": "u"}, NOW, KEY, rejects) is None
    assert from_ami({}, NOW, KEY, rejects) is None
    assert not rejects


def test_queue_status_resync_does_not_overwrite_the_original_join() -> None:
    state = CenterState()
    original = from_ami(JOIN, NOW, KEY)
    resync = from_ami(
        {
            "Event": "QueueEntry",
            "Queue": "vip",
            "Position": "1",
            "Uniqueid": "1699999990.1",
            "CallerIDNum": "13800138000",
            "Wait": "30",
            "Priority": "10",
        },
        NOW + 30,
        KEY,
    )
    assert isinstance(original, CallerJoined) and isinstance(resync, CallerJoined)
    assert resync.at == NOW and resync.priority == 10
    state.apply(original)
    state.apply(resync)
    (row,) = state.kpis(NOW - 60, NOW + 60, "line", interval=None)
    assert (row.key, row.offered) == ("vip", 1)


@given(
    st.dictionaries(
        st.sampled_from(
            [
                "Event",
                "Queue",
                "Uniqueid",
                "MemberName",
                "Interface",
                "HoldTime",
                "TalkTime",
                "RingTime",
                "Position",
                "OriginalPosition",
                "Status",
                "Paused",
                "Wait",
                "Rating",
                "UserEvent",
                "Agent",
                "ChanVariable",
                "Timestamp",
                "Name",
                "Location",
            ]
        ),
        st.one_of(
            st.text(alphabet="0123456789.-=/ aZ\n", max_size=12),
            st.sampled_from(
                [
                    "AgentConnect",
                    "QueueCallerJoin",
                    "QueueEntry",
                    "UserEvent",
                    "QueueMemberStatus",
                    "AgentRingNoAnswer",
                    "IvrSurvey",
                    "-1",
                    "nan",
                    "1e400",
                ]
            ),
        ),
    )
)
def test_any_headers_never_raise(headers: dict[str, str]) -> None:
    from_ami(headers, NOW, KEY, Counter())


def test_an_ami_transcript_of_one_call_yields_its_kpis() -> None:
    # Header sets as app_queue publishes them for a call answered after 12 s
    # and talked 95 s (abridged: channel snapshot fields left out).
    caller = {"Uniqueid": "1700000000.7", "Queue": "vip"}
    member = {"MemberName": "2001", "Interface": "PJSIP/2001"}
    transcript = [
        {**JOIN, **caller, "Timestamp": "1700000000.0"},
        {"Event": "AgentCalled", **caller, **member, "Timestamp": "1700000010.0"},
        {"Event": "QueueCallerLeave", **caller, "Position": "1", "Count": "0", "Timestamp": "1700000012.0"},
        {"Event": "AgentConnect", **caller, **member, "HoldTime": "12", "RingTime": "2", "Timestamp": "1700000012.0"},
        {
            "Event": "AgentComplete",
            **caller,
            **member,
            "HoldTime": "12",
            "TalkTime": "95",
            "Reason": "caller",
            "Timestamp": "1700000107.0",
        },
    ]
    state = CenterState()
    for headers in transcript:
        event = from_ami(headers, NOW, KEY)
        assert event is not None
        state.apply(event)
    (row,) = state.kpis(1_700_000_000, 1_700_000_900, "line", interval=None)
    assert (row.key, row.offered, row.answered, row.asa, row.average_talk_time) == (
        "vip",
        1,
        1,
        12,
        95,
    )


# --------------------------------------------------------------------------- messages read in place

_HEADER_NAMES = [
    "Event", "event", "Queue", "QUEUE", "Uniqueid", "MemberName", "Interface", "HoldTime", "TalkTime", "RingTime",
    "Position", "OriginalPosition", "Status", "Paused", "PausedReason", "InCall", "Wrapuptime", "Wait", "Rating",
    "UserEvent", "Agent", "ChanVariable", "chanvariable", "ChanVariable(IVR_LINE)", "chanvariable(ivr_tier)",
    "Timestamp", "Name", "Location", "CallerIDNum", "CallUniqueid", "Line", "Priority", "Reason",
]  # fmt: skip
_VALUES = st.one_of(
    st.text(alphabet="0123456789.-=/ aZ\r\u00a0\x1c", max_size=12),
    st.sampled_from([
        "AgentConnect", "QueueCallerJoin", "QueueEntry", "UserEvent", "QueueMemberStatus", "QueueMemberPause",
        "AgentRingNoAnswer", "AgentComplete", "AgentCalled", "QueueCallerLeave", "IvrSurvey", "-1", "nan", "1e400",
        "IVR_LINE=vip", "IVR_TIER=gold", "QUEUE_PRIO=3", " 12 ", "PJSIP/2001", "Local/2002@agents/n",
    ]),
)  # fmt: skip


def _parsed(messages: list[list[tuple[str, str]]], repeat: int) -> list[AmiMessage]:
    """The messages as the parser gives them after `repeat` readings (shapes learned, values captured)."""
    parser = AmiParser(expect_banner=False)
    data = "".join("".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n" for headers in messages).encode()
    out: list[AmiMessage] = []
    for _ in range(repeat):
        parser.receive_data(data)
        while isinstance(message := parser.next_event(), AmiMessage):
            out.append(message)
            from_ami(message, NOW, KEY)  # what the pipeline reads of it (teaches the shape its capture)
    return out


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.lists(st.tuples(st.sampled_from(_HEADER_NAMES), _VALUES), min_size=1, max_size=12),
        min_size=1,
        max_size=4,
    )
)
def test_a_message_read_in_place_gives_the_event_and_rejections_of_its_headers(
    messages: list[list[tuple[str, str]]],
) -> None:
    for message in _parsed(messages, repeat=3):
        in_place: Counter[str] = Counter()
        copied: Counter[str] = Counter()
        assert from_ami(message, NOW, KEY, in_place) == from_ami(headers_of(message), NOW, KEY, copied)
        assert in_place == copied


def test_the_recorded_transcript_gives_the_same_events_read_in_place() -> None:
    messages = [m for m in _parsed([list(m.headers) for m in transcript_messages()], repeat=3)]
    in_place = [from_ami(m, NOW, KEY) for m in messages]
    assert in_place == [from_ami(headers_of(m), NOW, KEY) for m in messages]
    assert sum(e is not None for e in in_place) == 3 * 8  # the transcript's 8 queue events, three times


def test_seat_added_while_its_phone_is_unregistered_is_not_in_seat() -> None:
    """QueueMemberAdded carries the device state: a seat logged in to its skills
    (auto login, a supervisor's login) with no phone registered stays logged out."""
    added = {"Event": "QueueMemberAdded", "Timestamp": "1699999999.0", "Queue": "korean", "MemberName": "1013",
             "Interface": "PJSIP/1013", "StateInterface": "PJSIP/1013", "Paused": "0", "Status": "5"}  # fmt: skip
    state = CenterState({})
    state.apply(from_ami(added, NOW, KEY))
    assert state.agent_snapshot("1013", NOW).state.value == "logged_out"
    state.apply(from_ami({**added, "MemberName": "1011", "Interface": "PJSIP/1011", "Status": "1"}, NOW, KEY))
    assert state.agent_snapshot("1011", NOW).state.value == "available"
