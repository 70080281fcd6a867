"""Two small pure parts of routing control: what a survey rating records on
the PBX, and which AMI actions move a seat between groups."""

from __future__ import annotations

import pytest

from ivr.agents import AgentState, membership_actions
from ivr.survey import SurveyContextError, SurveyRating, rating_of


@pytest.mark.parametrize(("key", "rating"), [("1", 1), ("5", 5), ("0", None), ("6", None), ("#", None), ("", None)])
def test_only_keys_1_to_5_are_ratings(key: str, rating: int | None) -> None:
    assert rating_of(key) == rating


def test_a_rating_is_written_to_queue_log_and_as_a_user_event_tied_to_call_agent_group_and_line() -> None:
    rating = SurveyRating("1764300000.42", "basic_zh", "1001", "main", 4)

    assert rating.queue_log_args() == "basic_zh,1764300000.42,1001,SURVEY,4|main"
    assert rating.user_event_args() == (
        "IvrSurvey,Queue: basic_zh,Agent: 1001,Rating: 4,CallUniqueid: 1764300000.42,Line: main"
    )


@pytest.mark.parametrize(
    ("uniqueid", "queue", "agent", "line"),
    [
        ("1764300000.42", "basic_zh,x", "1001", "main"),  # a comma would add an application argument
        ("1764300000.42", "basic_zh", "${SHELL(id)}", "main"),
        ("1764300000.42", "basic_zh", "1001", "main|2"),
        ("abc", "basic_zh", "1001", "main"),
        ("1764300000.42", "", "1001", "main"),
    ],
)
def test_context_that_could_change_the_dialplan_arguments_is_refused(
    uniqueid: str, queue: str, agent: str, line: str
) -> None:
    with pytest.raises(SurveyContextError):
        SurveyRating(uniqueid, queue, agent, line, 3)


def test_logging_in_adds_each_group_at_its_penalty_with_the_seat_as_member_name() -> None:
    actions = membership_actions("1007", {"basic_zh": 0, "english": 2}, {}, None)

    assert actions == [
        ("QueueAdd", {"Queue": "basic_zh", "Interface": "PJSIP/1007", "Penalty": "0", "MemberName": "1007",
                      "StateInterface": "PJSIP/1007", "Paused": "false"}),
        ("QueueAdd", {"Queue": "english", "Interface": "PJSIP/1007", "Penalty": "2", "MemberName": "1007",
                      "StateInterface": "PJSIP/1007", "Paused": "false"}),
    ]  # fmt: skip


def test_moving_a_seat_removes_old_groups_changes_penalties_and_keeps_its_pause() -> None:
    pause = AgentState("1007", True, "training", 0.0)
    actions = membership_actions("1007", {"english": 0, "french": 1}, {"basic_zh": 0, "english": 2}, pause)

    assert actions == [
        ("QueueRemove", {"Queue": "basic_zh", "Interface": "PJSIP/1007"}),
        ("QueuePenalty", {"Queue": "english", "Interface": "PJSIP/1007", "Penalty": "0"}),
        ("QueueAdd", {"Queue": "french", "Interface": "PJSIP/1007", "Penalty": "1", "MemberName": "1007",
                      "StateInterface": "PJSIP/1007", "Paused": "true", "Reason": "training"}),
    ]  # fmt: skip


def test_logging_out_removes_every_group_and_a_matching_state_needs_no_action() -> None:
    assert membership_actions("1007", {}, {"basic_zh": 0}, None) == [
        ("QueueRemove", {"Queue": "basic_zh", "Interface": "PJSIP/1007"})
    ]
    assert membership_actions("1007", {"basic_zh": 0}, {"basic_zh": 0}, None) == []
