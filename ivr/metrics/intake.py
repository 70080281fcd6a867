"""AMI event intake: the one place AMI wire messages become domain events.

Theory of operation: `from_ami` takes the headers of one AMI event (as the AMI
protocol layer parsed them), picks the handler for its `Event` name and
builds a domain event, or returns None. It never raises on bad input: a
missing or malformed header is counted in the caller's `rejects` counter under
`"<Event>:<reason>"` and logged at debug level, because one odd event must
not stop the metrics of a whole center. Unknown event names are simply None.

Every AMI event this module consumes, and what it becomes:

| AMI event | domain event |
| --- | --- |
| QueueCallerJoin | CallerJoined |
| QueueEntry (QueueStatus resync) | CallerJoined, joined `Wait` s ago, untagged |
| QueueCallerAbandon | CallerAbandoned |
| QueueCallerLeave | CallerLeft |
| AgentCalled | AgentCalled |
| AgentRingNoAnswer | AgentRingNoAnswer (RingTime is in ms) |
| AgentConnect | AgentConnected (RingTime in s) |
| AgentComplete | AgentCompleted |
| AgentDump | AgentDumped |
| QueueMemberStatus, QueueMember (resync) | MemberStatusChanged |
| QueueMemberPause | MemberPaused |
| QueueMemberAdded / QueueMemberRemoved | MemberAdded / MemberRemoved |
| UserEvent with `UserEvent: IvrSurvey` | SurveyRated |

Tagging: manager.conf `channelvars = IVR_LINE,IVR_TIER,IVR_LANG` makes
Asterisk 12+ append `ChanVariable: IVR_LINE=main` lines to the caller
channel's snapshot (manager.c, `ast_manager_build_channel_state_string_prefix`);
the member channel's copy is prefixed `DestChanVariable` and ignored here.
Asterisk 1.8 wrote `ChanVariable(IVR_LINE): main`; both forms are accepted.
Since the header name repeats, its value may arrive as a list of strings or
as one string with the values separated by newlines.

Time: `Timestamp` (manager.conf `timestampevents = yes`) is the event time;
`received_at` is only the fallback.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence

from ivr.log import get_logger

from .events import (
    AgentCalled,
    AgentCompleted,
    AgentConnected,
    AgentDumped,
    AgentRingNoAnswer,
    CallerAbandoned,
    CallerJoined,
    CallerLeft,
    DomainEvent,
    MemberAdded,
    MemberPaused,
    MemberRemoved,
    MemberStatusChanged,
    SurveyRated,
    seat_id,
)

log = get_logger(__name__)

HeaderValue = str | Sequence[str]

# Caller ID values that identify nobody.
_NO_NUMBER = frozenset({"", "unknown", "<unknown>", "anonymous", "restricted"})
# Channel variables that carry the queue caller priority, best first. The AMI
# `Priority` header of channel events is the dialplan step, not this.
_PRIORITY_VARS = ("QUEUE_PRIO", "IVR_PRIORITY")


class CallerKeyer:
    """Pseudonymises caller numbers: HMAC-SHA256(salt, number) as hex.

    The same caller gets the same key (so repeat calls can be found for FCR)
    while the number itself is never stored; without the salt the key cannot
    be reversed by hashing every possible phone number.
    """

    __slots__ = ("_salt",)

    def __init__(self, salt: bytes) -> None:
        if len(salt) < 16:
            raise ValueError("caller key salt must be at least 16 bytes")
        self._salt = salt

    def __call__(self, number: str) -> str | None:
        digits = "".join(ch for ch in number.strip() if ch not in " -().")
        if digits.lower() in _NO_NUMBER:
            return None
        return hmac.new(self._salt, digits.encode(), hashlib.sha256).hexdigest()

    def __repr__(self) -> str:  # never show the salt
        return "CallerKeyer(<salt>)"


class _Reject(Exception):
    """A required header is missing or malformed; `str()` is the counted reason."""


class _Headers:
    """Case-insensitive view of one AMI event, with typed getters that raise `_Reject`."""

    def __init__(self, raw: Mapping[str, HeaderValue]) -> None:
        self._h: dict[str, HeaderValue] = {k.lower(): v for k, v in raw.items()}

    def opt(self, name: str, default: str = "") -> str:
        value = self._h.get(name.lower())
        if value is None:
            return default
        if isinstance(value, str):
            return value.strip()
        return value[0].strip() if value else default

    def text(self, name: str) -> str:
        value = self.opt(name)
        if not value:
            raise _Reject(f"missing:{name}")
        return value

    def integer(self, name: str) -> int:
        value = self.text(name)
        try:
            return int(value)
        except ValueError:
            raise _Reject(f"bad_int:{name}") from None

    def number(self, name: str) -> float:
        value = self.text(name)
        try:
            result = float(value)
        except ValueError:
            raise _Reject(f"bad_number:{name}") from None
        if not math.isfinite(result) or result < 0:
            raise _Reject(f"bad_number:{name}")
        return result

    def flag(self, name: str) -> bool:
        return self.opt(name) in ("1", "yes", "true")

    def chan_variables(self) -> dict[str, str]:
        """Channel variables of the event's (caller) channel, both header spellings."""
        found: dict[str, str] = {}
        for key, value in self._h.items():
            if key.startswith("chanvariable(") and key.endswith(")"):
                found[key[len("chanvariable(") : -1].upper()] = _one(value)
        lines: list[str] = []
        raw = self._h.get("chanvariable")
        if isinstance(raw, str):
            lines = raw.splitlines()
        elif raw is not None:
            lines = [line for item in raw for line in item.splitlines()]
        for line in lines:
            name, sep, value = line.partition("=")
            if sep:
                found[name.strip().upper()] = value.strip()
        return found


def _one(value: HeaderValue) -> str:
    if isinstance(value, str):
        return value.strip()
    return value[0].strip() if value else ""


def _event_time(h: _Headers, received_at: float) -> float:
    stamp = h.opt("Timestamp")
    if stamp:
        try:
            at = float(stamp)
        except ValueError:
            return received_at
        if math.isfinite(at):
            return at
    return received_at


def _agent(h: _Headers) -> str:
    """Seat id from MemberName, else Interface (QueueMember rows say Name/Location)."""
    for header in ("MemberName", "Name", "Interface", "Location"):
        value = h.opt(header)
        if value:
            return seat_id(value)
    raise _Reject("missing:MemberName")


def _priority(variables: Mapping[str, str]) -> int | None:
    for name in _PRIORITY_VARS:
        try:
            return int(variables[name])
        except (KeyError, ValueError):
            continue
    return None


def _caller_joined(h: _Headers, at: float, key: CallerKeyer) -> DomainEvent:
    variables = h.chan_variables()
    return CallerJoined(
        at=at,
        queue=h.text("Queue"),
        uniqueid=h.text("Uniqueid"),
        caller_hash=key(h.opt("CallerIDNum")),
        position=h.integer("Position"),
        line=variables.get("IVR_LINE", ""),
        tier=variables.get("IVR_TIER", ""),
        language=variables.get("IVR_LANG", ""),
        priority=_priority(variables),
    )


def _queue_entry(h: _Headers, at: float, key: CallerKeyer) -> DomainEvent:
    # A QueueStatus row: the caller is waiting and joined `Wait` seconds ago.
    # The reducer keeps the original CallerJoined if it already has one.
    priority = h.opt("Priority")
    return CallerJoined(
        at=at - h.number("Wait"),
        queue=h.text("Queue"),
        uniqueid=h.text("Uniqueid"),
        caller_hash=key(h.opt("CallerIDNum")),
        position=h.integer("Position"),
        priority=int(priority) if priority.lstrip("-").isdigit() else None,
    )


def _caller_abandoned(h: _Headers, at: float, key: CallerKeyer) -> DomainEvent:
    # HoldTime is `time(NULL) - qe->start`: a duration, whatever the docs say.
    return CallerAbandoned(
        at=at,
        queue=h.text("Queue"),
        uniqueid=h.text("Uniqueid"),
        position=h.integer("Position"),
        original_position=h.integer("OriginalPosition"),
        hold_time=h.number("HoldTime"),
    )


def _caller_left(h: _Headers, at: float, key: CallerKeyer) -> DomainEvent:
    return CallerLeft(
        at=at,
        queue=h.text("Queue"),
        uniqueid=h.text("Uniqueid"),
        position=int(h.opt("Position")) if h.opt("Position").isdigit() else 0,
    )


def _agent_called(h: _Headers, at: float, key: CallerKeyer) -> DomainEvent:
    return AgentCalled(at=at, queue=h.text("Queue"), uniqueid=h.text("Uniqueid"), agent=_agent(h))


def _agent_ring_no_answer(h: _Headers, at: float, key: CallerKeyer) -> DomainEvent:
    # app_queue's rna() publishes the ring time in milliseconds.
    return AgentRingNoAnswer(
        at=at,
        queue=h.text("Queue"),
        uniqueid=h.text("Uniqueid"),
        agent=_agent(h),
        ring_time=h.number("RingTime") / 1000.0,
    )


def _agent_connected(h: _Headers, at: float, key: CallerKeyer) -> DomainEvent:
    return AgentConnected(
        at=at,
        queue=h.text("Queue"),
        uniqueid=h.text("Uniqueid"),
        agent=_agent(h),
        hold_time=h.number("HoldTime"),
        ring_time=h.number("RingTime") if h.opt("RingTime") else 0.0,
    )


def _agent_completed(h: _Headers, at: float, key: CallerKeyer) -> DomainEvent:
    return AgentCompleted(
        at=at,
        queue=h.text("Queue"),
        uniqueid=h.text("Uniqueid"),
        agent=_agent(h),
        hold_time=h.number("HoldTime"),
        talk_time=h.number("TalkTime"),
        reason=h.opt("Reason"),
    )


def _agent_dumped(h: _Headers, at: float, key: CallerKeyer) -> DomainEvent:
    return AgentDumped(at=at, queue=h.text("Queue"), uniqueid=h.text("Uniqueid"), agent=_agent(h))


def _member_status(h: _Headers, at: float, key: CallerKeyer) -> DomainEvent:
    wrapup = h.opt("Wrapuptime")
    return MemberStatusChanged(
        at=at,
        queue=h.text("Queue"),
        agent=_agent(h),
        status=h.integer("Status"),
        paused=h.flag("Paused"),
        paused_reason=h.opt("PausedReason"),
        in_call=h.flag("InCall"),
        wrapup=int(wrapup) if wrapup.isdigit() else None,
    )


def _member_paused(h: _Headers, at: float, key: CallerKeyer) -> DomainEvent:
    return MemberPaused(
        at=at,
        queue=h.text("Queue"),
        agent=_agent(h),
        paused=h.flag("Paused"),
        reason=h.opt("PausedReason") or h.opt("Reason"),
    )


def _member_added(h: _Headers, at: float, key: CallerKeyer) -> DomainEvent:
    return MemberAdded(at=at, queue=h.text("Queue"), agent=_agent(h), paused=h.flag("Paused"))


def _member_removed(h: _Headers, at: float, key: CallerKeyer) -> DomainEvent:
    return MemberRemoved(at=at, queue=h.text("Queue"), agent=_agent(h))


def _user_event(h: _Headers, at: float, key: CallerKeyer) -> DomainEvent | None:
    # UserEvent(IvrSurvey,Queue: q,Agent: 1001,Rating: 5[,CallUniqueid: id]) from
    # the survey dialplan; needs `read = user` on the metrics AMI user.
    if h.opt("UserEvent").lower() != "ivrsurvey":
        return None
    rating = h.integer("Rating")
    if not 1 <= rating <= 5:
        raise _Reject("bad_rating:Rating")
    variables = h.chan_variables()
    return SurveyRated(
        at=at,
        uniqueid=h.opt("CallUniqueid") or h.text("Uniqueid"),
        queue=h.text("Queue"),
        agent=seat_id(h.text("Agent")),
        line=h.opt("Line") or variables.get("IVR_LINE", ""),
        rating=rating,
    )


_Handler = Callable[[_Headers, float, CallerKeyer], DomainEvent | None]

HANDLERS: Mapping[str, _Handler] = {
    "queuecallerjoin": _caller_joined,
    "queueentry": _queue_entry,
    "queuecallerabandon": _caller_abandoned,
    "queuecallerleave": _caller_left,
    "agentcalled": _agent_called,
    "agentringnoanswer": _agent_ring_no_answer,
    "agentconnect": _agent_connected,
    "agentcomplete": _agent_completed,
    "agentdump": _agent_dumped,
    "queuememberstatus": _member_status,
    "queuemember": _member_status,
    "queuememberpause": _member_paused,
    "queuememberadded": _member_added,
    "queuememberremoved": _member_removed,
    "userevent": _user_event,
}
"""Every AMI event the metrics consume, by lower-cased `Event` name."""


def from_ami(
    headers: Mapping[str, HeaderValue],
    received_at: float,
    caller_key: CallerKeyer,
    rejects: Counter[str] | None = None,
) -> DomainEvent | None:
    """One AMI event's headers -> a domain event, or None (unknown or rejected).

    A rejected event adds one to `rejects["<Event>:<reason>"]`, e.g.
    `"AgentConnect:missing:HoldTime"`; it never raises.
    """
    h = _Headers(headers)
    name = h.opt("Event")
    handler = HANDLERS.get(name.lower())
    if handler is None:
        return None
    try:
        return handler(h, _event_time(h, received_at), caller_key)
    except _Reject as reject:
        reason = f"{name}:{reject}"
        if rejects is not None:
            rejects[reason] += 1
        log.debug("ami_event_rejected", reason=reason)
        return None
