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
| UserEvent with `UserEvent: IvrQueueExit` | CallerOverflowed |

Tagging: manager.conf `channelvars = IVR_LINE,IVR_TIER,IVR_LANG` makes
Asterisk 12+ append `ChanVariable: IVR_LINE=main` lines to the caller
channel's snapshot (manager.c, `ast_manager_build_channel_state_string_prefix`);
the member channel's copy is prefixed `DestChanVariable` and ignored here.
Asterisk 1.8 wrote `ChanVariable(IVR_LINE): main`; both forms are accepted.
Since the header name repeats, its value may arrive as a list of strings or
as one string with the values separated by newlines.

Time: `Timestamp` (manager.conf `timestampevents = yes`) is the event time;
`received_at` is only the fallback.

Input: a mapping of headers (`live.headers_of` builds one from any message)
or an `ivr.ami.AmiMessage` itself, read in place: its first value per key
(any case) is what the mapping would hold first, so both give the same event.
An event name that is not in the table above is dismissed after reading only
its `Event` header.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence

from ivr.ami.protocol import AmiMessage
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
    CallerOverflowed,
    DomainEvent,
    ExitReason,
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
_NUMBER_PUNCTUATION = str.maketrans("", "", " -().")
# Channel variables that carry the queue caller priority, best first. The AMI
# `Priority` header of channel events is the dialplan step, not this.
_PRIORITY_VARS = ("QUEUE_PRIO", "IVR_PRIORITY")


class CallerKeyer:
    """Pseudonymises caller numbers: HMAC-SHA256(salt, number) as hex.

    The same caller gets the same key (so repeat calls can be found for FCR)
    while the number itself is never stored; without the salt the key cannot
    be reversed by hashing every possible phone number.

    RFC 2104 computed from the two hash states after the padded salt, kept
    once, where `hmac.digest` redoes that key setup for every caller (the
    same keys: `hmac.digest` is the test; BENCHMARKS.md has the gain).
    """

    __slots__ = ("_inner", "_outer")

    def __init__(self, salt: bytes) -> None:
        if len(salt) < 16:
            raise ValueError("caller key salt must be at least 16 bytes")
        block = hashlib.sha256().block_size
        key = (hashlib.sha256(salt).digest() if len(salt) > block else salt).ljust(block, b"\0")
        self._inner = hashlib.sha256(bytes(byte ^ 0x36 for byte in key))
        self._outer = hashlib.sha256(bytes(byte ^ 0x5C for byte in key))

    def __call__(self, number: str) -> str | None:
        digits = number.strip()
        if not digits.isdigit():  # most numbers are digits only: skip the translate
            digits = digits.translate(_NUMBER_PUNCTUATION)
        if digits.lower() in _NO_NUMBER:
            return None
        inner = self._inner.copy()
        inner.update(digits.encode())
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()

    def __repr__(self) -> str:  # never show the salt
        return "CallerKeyer(<salt>)"


class _Reject(Exception):
    """A required header is missing or malformed; `str()` is the counted reason."""


class _Headers:
    """Case-insensitive view of one AMI event: the first value of a header, stripped.

    Handlers ask for all the headers they read in one `values` call and check
    them with `_text`, `_integer`, `_number` (which raise `_Reject`).
    """

    __slots__ = ()

    def value(self, name: str) -> str:
        """The first value of header `name` (any case), stripped; "" if absent."""
        raise NotImplementedError

    def values(self, names: tuple[str, ...]) -> tuple[str, ...]:
        """`value(name)` of each of `names`."""
        raise NotImplementedError

    def chan_variables(self) -> dict[str, str]:
        """Channel variables of the event's (caller) channel, both header spellings."""
        raise NotImplementedError


class _MappingHeaders(_Headers):
    """A header mapping as `live.headers_of` builds it (a repeated key: a list)."""

    __slots__ = ("_h",)

    def __init__(self, raw: Mapping[str, HeaderValue]) -> None:
        self._h: dict[str, HeaderValue] = {k.lower(): v for k, v in raw.items()}

    def value(self, name: str) -> str:
        return _one(self._h.get(name.lower(), ""))

    def values(self, names: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(self.value(name) for name in names)

    def chan_variables(self) -> dict[str, str]:
        return _chan_variables(self._h.items(), self._h.get("chanvariable"))


class _MessageHeaders(_Headers):
    """An `AmiMessage` read in place: the same values `_MappingHeaders` gives for
    `headers_of(message)` (first value per key, any case), without copying them."""

    __slots__ = ("_m",)

    def __init__(self, message: AmiMessage) -> None:
        self._m = message

    def value(self, name: str) -> str:
        found = self._m.first(name)
        return "" if found is None else found.strip()

    def values(self, names: tuple[str, ...]) -> tuple[str, ...]:
        # A list comprehension: compiled, `tuple(map(str.strip, ...))` costs 2.7 times as much.
        return tuple([value.strip() for value in self._m.first_values(names)])

    def chan_variables(self) -> dict[str, str]:
        found = self._m.with_prefix("chanvariable")
        # The Asterisk 12+ form only, read in one loop (compiled, a generator for
        # `all()` and a second list cost as much as the rest of the join).
        variables: dict[str, str] = {}
        for key, value in found:
            if len(key) != len("chanvariable"):
                break
            _put_assignments(variables, value)
        else:
            return variables
        merged: dict[str, str | list[str]] = {}
        for key, value in found:
            lowered = key.lower()
            previous = merged.get(lowered)
            if previous is None:
                merged[lowered] = value
            elif isinstance(previous, list):
                previous.append(value)
            else:
                merged[lowered] = [previous, value]
        return _chan_variables(merged.items(), merged.get("chanvariable"))


def _chan_variables(items: Iterable[tuple[str, HeaderValue]], plain: HeaderValue | None) -> dict[str, str]:
    """`ChanVariable(NAME): value` keys (lower-cased), then `ChanVariable: NAME=value` lines."""
    found: dict[str, str] = {}
    for key, value in items:
        if key.startswith("chanvariable(") and key.endswith(")"):
            found[key[len("chanvariable(") : -1].upper()] = _one(value)
    if isinstance(plain, str):
        _put_assignments(found, plain)
    elif plain is not None:
        for item in plain:
            _put_assignments(found, item)
    return found


def _put_assignments(found: dict[str, str], text: str) -> None:
    """Each `NAME=value` line of `text` into `found` (upper-cased name, stripped value)."""
    for line in text.splitlines():
        name, sep, value = line.partition("=")
        if sep:
            found[name.strip().upper()] = value.strip()


def _one(value: HeaderValue) -> str:
    if isinstance(value, str):
        return value.strip()
    return value[0].strip() if value else ""


def _event_time(stamp: str, received_at: float) -> float:
    if stamp:
        try:
            at = float(stamp)
        except ValueError:
            return received_at
        if math.isfinite(at):
            return at
    return received_at


def _text(value: str, name: str) -> str:
    if not value:
        raise _Reject(f"missing:{name}")
    return value


def _integer(value: str, name: str) -> int:
    try:
        return int(_text(value, name))
    except ValueError:
        raise _Reject(f"bad_int:{name}") from None


def _number(value: str, name: str) -> float:
    try:
        result = float(_text(value, name))
    except ValueError:
        raise _Reject(f"bad_number:{name}") from None
    if not math.isfinite(result) or result < 0:
        raise _Reject(f"bad_number:{name}")
    return result


def _flag(value: str) -> bool:
    return value in ("1", "yes", "true")


# Where a seat id is read from: MemberName, else Interface (QueueMember rows
# say Name/Location); the first that is set.
_SEAT = ("MemberName", "Name", "Interface", "Location")


def _agent(member: str, name: str, interface: str, location: str) -> str:
    for value in (member, name, interface, location):
        if value:
            return seat_id(value)
    raise _Reject("missing:MemberName")


def _priority(variables: Mapping[str, str]) -> int | None:
    # Most calls carry neither variable: no KeyError raised for them (compiled,
    # raising and catching one costs more than the rest of the join).
    for name in _PRIORITY_VARS:
        value = variables.get(name)
        if value is None:
            continue
        try:
            return int(value)
        except ValueError:
            continue
    return None


# Each handler reads its headers (`Timestamp` first) in one `values` call,
# then checks them in the order of the event's fields: the first bad one
# names the rejection.

_JOIN = ("Timestamp", "Queue", "Uniqueid", "CallerIDNum", "Position")


def _caller_joined(h: _Headers, received_at: float, key: CallerKeyer) -> DomainEvent:
    stamp, queue, uniqueid, number, position = h.values(_JOIN)
    at = _event_time(stamp, received_at)
    variables = h.chan_variables()
    return CallerJoined(
        at=at,
        queue=_text(queue, "Queue"),
        uniqueid=_text(uniqueid, "Uniqueid"),
        caller_hash=key(number),
        position=_integer(position, "Position"),
        line=variables.get("IVR_LINE", ""),
        tier=variables.get("IVR_TIER", ""),
        language=variables.get("IVR_LANG", ""),
        priority=_priority(variables),
    )


_ENTRY = ("Timestamp", "Priority", "Wait", "Queue", "Uniqueid", "CallerIDNum", "Position")


def _queue_entry(h: _Headers, received_at: float, key: CallerKeyer) -> DomainEvent:
    # A QueueStatus row: the caller is waiting and joined `Wait` seconds ago.
    # The reducer keeps the original CallerJoined if it already has one.
    stamp, priority, wait, queue, uniqueid, number, position = h.values(_ENTRY)
    at = _event_time(stamp, received_at)
    return CallerJoined(
        at=at - _number(wait, "Wait"),
        queue=_text(queue, "Queue"),
        uniqueid=_text(uniqueid, "Uniqueid"),
        caller_hash=key(number),
        position=_integer(position, "Position"),
        priority=int(priority) if priority.lstrip("-").isdigit() else None,
    )


_ABANDON = ("Timestamp", "Queue", "Uniqueid", "Position", "OriginalPosition", "HoldTime")


def _caller_abandoned(h: _Headers, received_at: float, key: CallerKeyer) -> DomainEvent:
    # HoldTime is `time(NULL) - qe->start`: a duration, whatever the docs say.
    stamp, queue, uniqueid, position, original, hold = h.values(_ABANDON)
    at = _event_time(stamp, received_at)
    return CallerAbandoned(
        at=at,
        queue=_text(queue, "Queue"),
        uniqueid=_text(uniqueid, "Uniqueid"),
        position=_integer(position, "Position"),
        original_position=_integer(original, "OriginalPosition"),
        hold_time=_number(hold, "HoldTime"),
    )


_LEAVE = ("Timestamp", "Queue", "Uniqueid", "Position")


def _caller_left(h: _Headers, received_at: float, key: CallerKeyer) -> DomainEvent:
    stamp, queue, uniqueid, position = h.values(_LEAVE)
    at = _event_time(stamp, received_at)
    return CallerLeft(
        at=at,
        queue=_text(queue, "Queue"),
        uniqueid=_text(uniqueid, "Uniqueid"),
        position=int(position) if position.isdigit() else 0,
    )


_CALLED = ("Timestamp", "Queue", "Uniqueid", *_SEAT)


def _agent_called(h: _Headers, received_at: float, key: CallerKeyer) -> DomainEvent:
    stamp, queue, uniqueid, *seat = h.values(_CALLED)
    at = _event_time(stamp, received_at)
    return AgentCalled(at=at, queue=_text(queue, "Queue"), uniqueid=_text(uniqueid, "Uniqueid"), agent=_agent(*seat))


_RING_NO_ANSWER = ("Timestamp", "Queue", "Uniqueid", *_SEAT, "RingTime")


def _agent_ring_no_answer(h: _Headers, received_at: float, key: CallerKeyer) -> DomainEvent:
    # app_queue's rna() publishes the ring time in milliseconds.
    stamp, queue, uniqueid, member, name, interface, location, ring = h.values(_RING_NO_ANSWER)
    at = _event_time(stamp, received_at)
    return AgentRingNoAnswer(
        at=at,
        queue=_text(queue, "Queue"),
        uniqueid=_text(uniqueid, "Uniqueid"),
        agent=_agent(member, name, interface, location),
        ring_time=_number(ring, "RingTime") / 1000.0,
    )


_CONNECT = ("Timestamp", "Queue", "Uniqueid", *_SEAT, "HoldTime", "RingTime")


def _agent_connected(h: _Headers, received_at: float, key: CallerKeyer) -> DomainEvent:
    stamp, queue, uniqueid, member, name, interface, location, hold, ring = h.values(_CONNECT)
    at = _event_time(stamp, received_at)
    return AgentConnected(
        at=at,
        queue=_text(queue, "Queue"),
        uniqueid=_text(uniqueid, "Uniqueid"),
        agent=_agent(member, name, interface, location),
        hold_time=_number(hold, "HoldTime"),
        ring_time=_number(ring, "RingTime") if ring else 0.0,
    )


_COMPLETE = ("Timestamp", "Queue", "Uniqueid", *_SEAT, "HoldTime", "TalkTime", "Reason")


def _agent_completed(h: _Headers, received_at: float, key: CallerKeyer) -> DomainEvent:
    stamp, queue, uniqueid, member, name, interface, location, hold, talk, reason = h.values(_COMPLETE)
    at = _event_time(stamp, received_at)
    return AgentCompleted(
        at=at,
        queue=_text(queue, "Queue"),
        uniqueid=_text(uniqueid, "Uniqueid"),
        agent=_agent(member, name, interface, location),
        hold_time=_number(hold, "HoldTime"),
        talk_time=_number(talk, "TalkTime"),
        reason=reason,
    )


def _agent_dumped(h: _Headers, received_at: float, key: CallerKeyer) -> DomainEvent:
    stamp, queue, uniqueid, *seat = h.values(_CALLED)
    at = _event_time(stamp, received_at)
    return AgentDumped(at=at, queue=_text(queue, "Queue"), uniqueid=_text(uniqueid, "Uniqueid"), agent=_agent(*seat))


_MEMBER_STATUS = ("Timestamp", "Wrapuptime", "Queue", *_SEAT, "Status", "Paused", "PausedReason", "InCall")


def _member_status(h: _Headers, received_at: float, key: CallerKeyer) -> DomainEvent:
    stamp, wrapup, queue, member, name, interface, location, status, paused, reason, in_call = h.values(_MEMBER_STATUS)
    at = _event_time(stamp, received_at)
    return MemberStatusChanged(
        at=at,
        queue=_text(queue, "Queue"),
        agent=_agent(member, name, interface, location),
        status=_integer(status, "Status"),
        paused=_flag(paused),
        paused_reason=reason,
        in_call=_flag(in_call),
        wrapup=int(wrapup) if wrapup.isdigit() else None,
    )


_MEMBER_PAUSE = ("Timestamp", "Queue", *_SEAT, "Paused", "PausedReason", "Reason")


def _member_paused(h: _Headers, received_at: float, key: CallerKeyer) -> DomainEvent:
    stamp, queue, member, name, interface, location, paused, paused_reason, reason = h.values(_MEMBER_PAUSE)
    at = _event_time(stamp, received_at)
    return MemberPaused(
        at=at,
        queue=_text(queue, "Queue"),
        agent=_agent(member, name, interface, location),
        paused=_flag(paused),
        reason=paused_reason or reason,
    )


_MEMBER = ("Timestamp", "Queue", *_SEAT, "Paused")
_MEMBER_ADDED = (*_MEMBER, "Status")


def _member_added(h: _Headers, received_at: float, key: CallerKeyer) -> DomainEvent:
    stamp, queue, member, name, interface, location, paused, status = h.values(_MEMBER_ADDED)
    at = _event_time(stamp, received_at)
    return MemberAdded(
        at=at, queue=_text(queue, "Queue"), agent=_agent(member, name, interface, location), paused=_flag(paused),
        status=_integer(status, "Status") if status else None,
    )  # fmt: skip


def _member_removed(h: _Headers, received_at: float, key: CallerKeyer) -> DomainEvent:
    stamp, queue, member, name, interface, location, _ = h.values(_MEMBER)
    at = _event_time(stamp, received_at)
    return MemberRemoved(at=at, queue=_text(queue, "Queue"), agent=_agent(member, name, interface, location))


_SURVEY = ("Timestamp", "UserEvent", "Rating", "CallUniqueid", "Uniqueid", "Queue", "Agent", "Line")
_QUEUE_EXIT = ("Timestamp", "Uniqueid", "Queue", "Reason", "Next")
_QUEUE_EXIT_REASONS: dict[str, ExitReason] = {"timeout": "timeout", "empty": "empty"}


def _user_event(h: _Headers, received_at: float, key: CallerKeyer) -> DomainEvent | None:
    # UserEvent(IvrSurvey,Queue: q,Agent: 1001,Rating: 5[,CallUniqueid: id]) from
    # the survey, UserEvent(IvrQueueExit,Queue: q,Reason: timeout|empty,Next: q2)
    # from a group's overflow; needs `read = user` on the metrics AMI user.
    stamp, user_event, rating_text, call_uniqueid, uniqueid, queue, agent, line = h.values(_SURVEY)
    at = _event_time(stamp, received_at)
    kind = user_event.lower()
    if kind == "ivrqueueexit":
        return _queue_exit(h, at)
    if kind != "ivrsurvey":
        return None
    rating = _integer(rating_text, "Rating")
    if not 1 <= rating <= 5:
        raise _Reject("bad_rating:Rating")
    variables = h.chan_variables()
    return SurveyRated(
        at=at,
        uniqueid=call_uniqueid or _text(uniqueid, "Uniqueid"),
        queue=_text(queue, "Queue"),
        agent=seat_id(_text(agent, "Agent")),
        line=line or variables.get("IVR_LINE", ""),
        rating=rating,
    )


def _queue_exit(h: _Headers, at: float) -> DomainEvent:
    _stamp, uniqueid, queue, reason, next_queue = h.values(_QUEUE_EXIT)
    if reason.lower() not in _QUEUE_EXIT_REASONS:
        raise _Reject("bad_reason:Reason")
    return CallerOverflowed(
        at=at,
        queue=_text(queue, "Queue"),
        uniqueid=_text(uniqueid, "Uniqueid"),
        reason=_QUEUE_EXIT_REASONS[reason.lower()],
        next_queue=next_queue,
    )


_Handler = Callable[[_Headers, float, CallerKeyer], DomainEvent | None]
"""(headers, received at, caller keyer) -> event; `Timestamp` is the event time."""

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
    headers: Mapping[str, HeaderValue] | AmiMessage,
    received_at: float,
    caller_key: CallerKeyer,
    rejects: Counter[str] | None = None,
) -> DomainEvent | None:
    """One AMI event (its headers, or the message) -> a domain event, or None.

    None for an event name not in `HANDLERS` or a rejected event. A rejected
    event adds one to `rejects["<Event>:<reason>"]`, e.g.
    `"AgentConnect:missing:HoldTime"`; it never raises.
    """
    h: _Headers
    if isinstance(headers, AmiMessage):
        name = (headers.first("Event") or "").strip()
        h = _MessageHeaders(headers)
    else:
        h = _MappingHeaders(headers)
        name = h.value("Event")
    handler = HANDLERS.get(name.lower())
    if handler is None:
        return None
    try:
        return handler(h, received_at, caller_key)
    except _Reject as reject:
        reason = f"{name}:{reject}"
        if rejects is not None:
            rejects[reason] += 1
        log.debug("ami_event_rejected", reason=reason)
        return None
