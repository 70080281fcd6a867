"""AMI security events become alerts that name the account and address, never a secret."""

from __future__ import annotations

import re

import pytest
from structlog.testing import capture_logs

from ivr.ami.protocol import AmiMessage, AmiParser
from ivr.ami.security import (
    ALERT_EVENTS,
    UNKNOWN_ACCOUNT,
    AmiActionRefused,
    AmiLoginRefused,
    SecurityWatch,
    security_alert,
)

OURS = frozenset({"ivr-metrics", "ivr-control", "ivr-reload"})
# As Asterisk 22 sends them (main/security_events.c), recorded on the test PBX.
INVALID_PASSWORD = (
    b"Event: InvalidPassword\r\nPrivilege: security,all\r\nTimestamp: 1754500000.123456\r\n"
    b"EventTV: 2025-08-06T17:06:40.123+0000\r\nSeverity: Error\r\nService: AMI\r\nEventVersion: 2\r\n"
    b"AccountID: ivr-control\r\nSessionID: 0x7f1c2c001234\r\nLocalAddress: IPV4/TCP/127.0.0.1/5038\r\n"
    b"RemoteAddress: IPV4/TCP/127.0.0.1/48152\r\nSessionTV: 2025-08-06T17:06:39.120+0000\r\n\r\n"
)


def parse(raw: bytes) -> AmiMessage:
    parser = AmiParser(expect_banner=False)
    parser.receive_data(raw)
    message = parser.next_event()
    assert isinstance(message, AmiMessage)
    return message


def event(name: str, **headers: str) -> AmiMessage:
    values = {"Service": "AMI", "AccountID": "ivr-control", "RemoteAddress": "IPV4/TCP/127.0.0.1/40000"} | headers
    return AmiMessage((("Event", name), *values.items()))


def test_a_wrong_secret_is_a_refused_login_with_account_and_address() -> None:
    alert = security_alert(parse(INVALID_PASSWORD), 10.0, OURS)

    assert alert == AmiLoginRefused(10.0, "ivr-control", "127.0.0.1", 48152, "wrong_secret")


@pytest.mark.parametrize(
    ("name", "reason"),
    [("InvalidAccountID", "unknown_user"), ("FailedACL", "address_not_permitted"), ("SessionLimit", "session_limit")],
)
def test_every_login_failure_has_its_reason(name: str, reason: str) -> None:
    alert = security_alert(event(name), 1.0, OURS)

    assert isinstance(alert, AmiLoginRefused) and alert.reason == reason


def test_an_account_that_is_not_ours_is_never_echoed_it_may_be_a_secret_in_the_wrong_field() -> None:
    alert = security_alert(event("InvalidAccountID", AccountID="hunter2-pasted-secret"), 1.0, OURS)

    assert isinstance(alert, AmiLoginRefused) and alert.account == UNKNOWN_ACCOUNT


def test_a_refused_action_names_the_action_and_the_account() -> None:
    alert = security_alert(event("RequestNotAllowed", AccountID="ivr-metrics", RequestType="Action: GetConfig"), 2.0,
                           OURS)  # fmt: skip

    assert alert == AmiActionRefused(2.0, "ivr-metrics", "127.0.0.1", 40000, "GetConfig", "not_permitted")


@pytest.mark.parametrize(
    "message",
    [
        event("InvalidPassword", Service="PJSIP"),  # a seat's SIP password: not AMI's business here
        event("ChallengeResponseFailed", ExpectedResponse="0123456789abcdef0123456789abcdef"),
        event("SuccessfulAuth"),
        AmiMessage((("Event", "QueueCallerJoin"), ("Queue", "vip"))),
    ],
)
def test_other_events_are_no_alert_and_log_nothing(message: AmiMessage) -> None:
    with capture_logs() as logs:
        assert SecurityWatch(OURS).observe(message, 1.0) is None
    assert logs == []


def test_a_malformed_remote_address_is_unknown_not_copied() -> None:
    alert = security_alert(event("InvalidPassword", RemoteAddress="IPV4/TCP/evil\x1b[2J/1"), 1.0, OURS)

    assert isinstance(alert, AmiLoginRefused) and (alert.remote_host, alert.remote_port) == ("unknown", None)


def test_each_refused_login_logs_a_warning_and_a_burst_from_one_address_an_error() -> None:
    watch = SecurityWatch(OURS, burst=5, window=60.0)
    with capture_logs() as logs:
        for second in range(6):
            watch.observe(event("InvalidPassword"), 100.0 + second)

    warnings = [e for e in logs if e["event"] == "ami_login_failed"]
    assert len(warnings) == 6 and all(w["log_level"] == "warning" for w in warnings)
    assert warnings[-1] == {
        "event": "ami_login_failed", "log_level": "warning", "account": "ivr-control",
        "remote_address": "127.0.0.1", "remote_port": 40000, "reason": "wrong_secret", "failures_from_address": 6,
    }  # fmt: skip
    bursts = [e for e in logs if e["event"] == "ami_login_burst"]
    assert [(b["log_level"], b["remote_address"], b["failures"]) for b in bursts] == [("error", "127.0.0.1", 5)]
    assert watch.snapshot() == {"login_failures": 6, "login_failures_by_address": {"127.0.0.1": 6},
                                "action_refusals": 0}  # fmt: skip


def test_failures_spread_wider_than_the_window_are_no_burst() -> None:
    watch = SecurityWatch(OURS, burst=3, window=10.0)
    with capture_logs() as logs:
        for at in (0.0, 6.0, 12.0, 18.0):
            watch.observe(event("InvalidPassword"), at)

    assert not [e for e in logs if e["event"] == "ami_login_burst"]


def test_the_metrics_users_eventfilter_lets_through_exactly_the_alert_events() -> None:
    from pathlib import Path

    template = (Path(__file__).resolve().parents[3] / "dialplans" / "manager.conf.j2").read_text(encoding="utf-8")
    names = set(re.findall(r"^eventfilter\(action\(include\),name\((\w+)\),header\(Service\),method\(exact\)\) = AMI$",
                           template, re.MULTILINE))  # fmt: skip

    assert names == ALERT_EVENTS
    filters = [line for line in template.splitlines() if line.startswith("eventfilter")]
    assert not [line for line in filters if "ChallengeResponseFailed" in line or "SuccessfulAuth" in line]
