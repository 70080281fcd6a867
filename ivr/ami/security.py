"""AMI's own security events, turned into alerts: who failed to log in, from where.

Theory of operation: Asterisk has no lockout for AMI logins. It reports each
failure as an event of the `security` class (main/security_events.c) with
`Service: AMI`, the account tried and the remote address; the metrics user
reads that class, filtered at the source to the events below
(dialplans/manager.conf.j2). `security_alert` converts one event into a frozen
dataclass in one place, keeping only what is safe to log; `SecurityWatch`
counts them per remote address (time passed in, no clock reads) and logs
`ami_login_failed` / `ami_action_refused` warnings, and `ami_login_burst` as
an error when one address fails `burst` times within `window` seconds.

Never logged: a secret. Login failures carry no secret, but the account is
what the client typed in `Username`, which can be a secret pasted in the
wrong field: an account that is not one of ours is logged as `(unknown)`.
ChallengeResponseFailed, which carries MD5(challenge + secret), is filtered
out by Asterisk before it reaches us, and ignored here should it arrive.
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

from ivr.ami.protocol import AmiMessage
from ivr.log import get_logger

log = get_logger(__name__)

# Security event -> why the login failed.
LOGIN_FAILURES: Final[dict[str, str]] = {
    "InvalidAccountID": "unknown_user",
    "InvalidPassword": "wrong_secret",
    "FailedACL": "address_not_permitted",
    "SessionLimit": "session_limit",
}
# Security event -> why a logged-in session's action was refused.
ACTION_REFUSALS: Final[dict[str, str]] = {
    "RequestNotAllowed": "not_permitted",
    "RequestBadFormat": "unknown_action",
}
# What the metrics user's eventfilter lets through (tests pin the two together).
ALERT_EVENTS: Final = frozenset(LOGIN_FAILURES) | frozenset(ACTION_REFUSALS)
UNKNOWN_ACCOUNT: Final = "(unknown)"
# RemoteAddress: "IPV4/TCP/127.0.0.1/54321" or "IPV6/TCP/::1/54321".
_REMOTE = re.compile(r"^IPV[46]/[A-Z]+/(?P<host>[0-9A-Fa-f:.]+)/(?P<port>[0-9]{1,5})$")
# RequestType: "Action: GetConfig"; AMI action names are letters and digits.
_ACTION = re.compile(r"^Action: (?P<action>[A-Za-z0-9]{1,64})$")


@dataclass(frozen=True, slots=True)
class AmiLoginRefused:
    """A Login that Asterisk refused."""

    at: float
    account: str
    remote_host: str
    remote_port: int | None
    reason: str


@dataclass(frozen=True, slots=True)
class AmiActionRefused:
    """An action a logged-in session was not permitted to run (or that does not exist)."""

    at: float
    account: str
    remote_host: str
    remote_port: int | None
    action: str
    reason: str


SecurityAlert = AmiLoginRefused | AmiActionRefused


def _remote(value: str | None) -> tuple[str, int | None]:
    match = _REMOTE.match(value or "")
    if match is None:
        return "unknown", None
    try:
        host = str(ipaddress.ip_address(match["host"]))
    except ValueError:
        return "unknown", None
    return host, int(match["port"])


def security_alert(event: AmiMessage, at: float, accounts: Iterable[str]) -> SecurityAlert | None:
    """The alert an AMI security event stands for; None for any other event.

    `accounts` are the AMI users we configured: any other account name is
    replaced by `(unknown)`, as it may be a secret typed in the wrong field."""
    name = event.name
    if name not in ALERT_EVENTS or event.get("Service") != "AMI":
        return None
    account = event.get("AccountID") or ""
    if account not in set(accounts):
        account = UNKNOWN_ACCOUNT
    host, port = _remote(event.get("RemoteAddress"))
    if name in LOGIN_FAILURES:
        return AmiLoginRefused(at, account, host, port, LOGIN_FAILURES[name])
    match = _ACTION.match(event.get("RequestType") or "")
    return AmiActionRefused(at, account, host, port, match["action"] if match else "unknown", ACTION_REFUSALS[name])


@dataclass
class SecurityWatch:
    """Counts AMI security alerts and logs each one; see the module docstring."""

    accounts: frozenset[str]
    burst: int = 5
    window: float = 60.0
    login_failures: Counter[str] = field(default_factory=Counter)
    """Refused logins per remote host, since start."""
    action_refusals: Counter[str] = field(default_factory=Counter)
    """Refused actions per account, since start."""
    _recent: dict[str, deque[float]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.burst < 1 or self.window <= 0:
            raise ValueError("burst and window must be positive")

    def observe(self, event: AmiMessage, now: float) -> SecurityAlert | None:
        """Count and log the alert `event` stands for; None (and nothing logged) for other events."""
        alert = security_alert(event, now, self.accounts)
        if isinstance(alert, AmiLoginRefused):
            self.login_failures[alert.remote_host] += 1
            recent = self._recent.setdefault(alert.remote_host, deque(maxlen=self.burst))
            recent.append(now)
            log.warning(
                "ami_login_failed", account=alert.account, remote_address=alert.remote_host,
                remote_port=alert.remote_port, reason=alert.reason,
                failures_from_address=self.login_failures[alert.remote_host],
            )  # fmt: skip
            # Once per `burst` failures within the window, not on every one after.
            if len(recent) == self.burst and now - recent[0] <= self.window:
                log.error("ami_login_burst", remote_address=alert.remote_host, failures=self.burst,
                          within_seconds=round(now - recent[0], 1))  # fmt: skip
                recent.clear()
        elif isinstance(alert, AmiActionRefused):
            self.action_refusals[alert.account] += 1
            log.warning(
                "ami_action_refused", account=alert.account, remote_address=alert.remote_host,
                action=alert.action, reason=alert.reason,
            )  # fmt: skip
        return alert

    def snapshot(self) -> dict[str, object]:
        """Counts for /healthz or /metrics."""
        return {
            "login_failures": sum(self.login_failures.values()),
            "login_failures_by_address": dict(self.login_failures),
            "action_refusals": sum(self.action_refusals.values()),
        }
