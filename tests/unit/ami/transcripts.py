"""AMI traffic as Asterisk 22 writes it (CRLF lines, a blank line after each message).

Header sets follow manager.c / app_queue.c of Asterisk 22; the values are made
up. ``ChanVariable: NAME=value`` is how Asterisk 12+ writes manager.conf
``channelvars``; ``ChanVariable(NAME): value`` is the older spelling.
"""

from __future__ import annotations

BANNER = "Asterisk Call Manager/9.0.0\r\n"


def message(*lines: str) -> str:
    """One AMI message: the lines, CRLF-terminated, then the blank line."""
    return "".join(f"{line}\r\n" for line in lines) + "\r\n"


def login_success(action_id: str) -> str:
    return message("Response: Success", f"ActionID: {action_id}", "Message: Authentication accepted")


def login_failed(action_id: str) -> str:
    return message("Response: Error", f"ActionID: {action_id}", "Message: Authentication failed")


FULLY_BOOTED = message(
    "Event: FullyBooted",
    "Privilege: system,all",
    "Uptime: 12",
    "LastReload: 12",
    "Status: Fully Booted",
)

QUEUE_CALLER_JOIN_LEGACY_VARS = message(
    "Event: QueueCallerJoin",
    "Privilege: agent,all",
    "Timestamp: 1732810412.801223",
    "Channel: PJSIP/pstn-00000007",
    "ChannelState: 6",
    "ChannelStateDesc: Up",
    "CallerIDNum: 13800138000",
    "CallerIDName: <unknown>",
    "ConnectedLineNum: <unknown>",
    "ConnectedLineName: <unknown>",
    "Language: zh",
    "AccountCode: ",
    "Context: ivr-main",
    "Exten: 95588",
    "Priority: 7",
    "Uniqueid: 1732810412.14",
    "Linkedid: 1732810412.14",
    "ChanVariable(IVR_LINE): main",
    "ChanVariable(IVR_TIER): standard",
    "Queue: cards-standard",
    "Position: 1",
    "Count: 1",
)

QUEUE_CALLER_JOIN = message(
    "Event: QueueCallerJoin",
    "Privilege: agent,all",
    "Timestamp: 1732810412.801223",
    "Channel: PJSIP/pstn-00000007",
    "ChannelState: 6",
    "ChannelStateDesc: Up",
    "CallerIDNum: 13800138000",
    "CallerIDName: <unknown>",
    "ConnectedLineNum: <unknown>",
    "ConnectedLineName: <unknown>",
    "Language: zh",
    "AccountCode: ",
    "Context: ivr-main",
    "Exten: 95588",
    "Priority: 7",
    "Uniqueid: 1732810412.14",
    "Linkedid: 1732810412.14",
    "ChanVariable: IVR_LINE=main",
    "ChanVariable: IVR_TIER=standard",
    "ChanVariable: IVR_LANG=zh",
    "Queue: cards-standard",
    "Position: 1",
    "Count: 1",
)

QUEUE_MEMBER_STATUS = message(
    "Event: QueueMemberStatus",
    "Privilege: agent,all",
    "Queue: cards-standard",
    "MemberName: 1001",
    "Interface: PJSIP/1001",
    "StateInterface: PJSIP/1001",
    "Membership: static",
    "Penalty: 0",
    "CallsTaken: 3",
    "LastCall: 1732810300",
    "LastPause: 0",
    "LoginTime: 1732809000",
    "InCall: 0",
    "Status: 1",
    "Paused: 0",
    "PausedReason: ",
    "Ringinuse: 0",
    "Wrapuptime: 0",
)


def queue_status(action_id: str) -> str:
    """The answer to ``Action: QueueStatus``: ack, one queue, one member, one caller, complete."""
    return (
        message(
            "Response: Success",
            f"ActionID: {action_id}",
            "EventList: start",
            "Message: Queue status will follow",
        )
        + message(
            "Event: QueueParams",
            "Queue: cards-standard",
            "Max: 0",
            "Strategy: rrmemory",
            "Calls: 1",
            "Holdtime: 14",
            "TalkTime: 95",
            "Completed: 3",
            "Abandoned: 1",
            "ServiceLevel: 20",
            "ServicelevelPerf: 66.7",
            "ServicelevelPerf2: 50.0",
            "Weight: 0",
            f"ActionID: {action_id}",
        )
        + message(
            "Event: QueueMember",
            "Queue: cards-standard",
            "Name: 1001",
            "Location: PJSIP/1001",
            "StateInterface: PJSIP/1001",
            "Membership: static",
            "Penalty: 0",
            "CallsTaken: 3",
            "LastCall: 1732810300",
            "LastPause: 0",
            "LoginTime: 1732809000",
            "InCall: 0",
            "Status: 1",
            "Paused: 0",
            "PausedReason: ",
            "Wrapuptime: 0",
            f"ActionID: {action_id}",
        )
        + message(
            "Event: QueueEntry",
            "Queue: cards-standard",
            "Position: 1",
            "Channel: PJSIP/pstn-00000007",
            "Uniqueid: 1732810412.14",
            "CallerIDNum: 13800138000",
            "CallerIDName: <unknown>",
            "ConnectedLineNum: <unknown>",
            "ConnectedLineName: <unknown>",
            "Wait: 12",
            "Priority: 0",
            f"ActionID: {action_id}",
        )
        + message(
            "Event: QueueStatusComplete",
            f"ActionID: {action_id}",
            "EventList: Complete",
            "ListItems: 3",
        )
    )


def error_response(action_id: str, text: str = "Interface not found") -> str:
    return message("Response: Error", f"ActionID: {action_id}", f"Message: {text}")


# A modern (Asterisk 14+) Command response: one Output header per line.
def command_output(action_id: str) -> str:
    return message(
        "Response: Success",
        f"ActionID: {action_id}",
        "Message: Command output follows",
        "Output: Name/username                                             Host        ",
        "Output: 1001/1001                                                 127.0.0.1   ",
        "Output: 2 sip peers",
    )


# The legacy (Asterisk <= 13) Command response: raw lines up to --END COMMAND--.
def legacy_command_output(action_id: str) -> str:
    return (
        "Response: Follows\r\n"
        "Privilege: Command\r\n"
        f"ActionID: {action_id}\r\n"
        "Channel              Location             State   Application(Data)\r\n"
        "0 active channels\r\n"
        "\r\n"
        "Uptime: 12 seconds\r\n"
        "--END COMMAND--\r\n"
        "\r\n"
    )
