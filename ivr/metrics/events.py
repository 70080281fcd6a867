"""Domain events of the contact center: what happened in a queue, to a caller or a seat.

Theory of operation: every source of truth (the live AMI stream via `intake`,
Asterisk's `queue_log` via `queue_log`, a replay from the `store`) is turned
into these events, and only these events reach the KPI reducer. They are
values: built by keyword, equal and hashed by content (the reducer drops a
duplicate that a reconnect or a replay delivers twice by its `identity`), and
never changed once built.

Form: each is a dataclass whose fields are `Final` and set by a hand-written
`__init__`. Intake builds one per AMI event, so this is on the hot path:
compiled (`ivr native build`), such a class is a native one built in ~30 ns,
where a frozen dataclass's generated `__init__` (one `object.__setattr__` per
field) took ~2 µs, a fifth of an event's whole way from AMI bytes to the
reducer. mypy rejects any assignment to a field outside `__init__`; compiled,
the attributes are also read-only at run time (`AttributeError`), and
`unsafe_hash=True` (dataclasses hash only frozen classes by their own) is
safe for that reason. They hold only strings and numbers, so they are
`acyclic`: compiled, the garbage collector does not track them.

Conventions shared by every event:
- `at` is epoch seconds (float) of when Asterisk says it happened, not when we
  received it;
- `agent` is the seat id (`1001`), never the channel interface (`PJSIP/1001`);
  `seat_id()` does that normalisation once;
- durations are seconds as floats (Asterisk reports some of them in ms);
- caller numbers are never carried: `caller_hash` is a keyed hash.

`EVENT_TYPES` maps a class name to its class; the store serialises an event
as its class name plus `to_record()` and rebuilds it with `from_record()`.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal, TypeAlias

from mypy_extensions import mypyc_attr

ExitReason = Literal["timeout", "empty", "withdraw", "key"]
EXIT_REASONS: frozenset[str] = frozenset({"timeout", "empty", "withdraw", "key"})


@mypyc_attr(acyclic=True)
class _Event:
    """The base of every event: its `identity` (see the function)."""

    def identity(self) -> tuple[Any, ...]:
        raise NotImplementedError


@mypyc_attr(acyclic=True)
@dataclass(kw_only=True, init=False, unsafe_hash=True)
class CallerJoined(_Event):
    """A caller entered a queue (AMI QueueCallerJoin, queue_log ENTERQUEUE): one offered call."""

    at: Final[float]
    queue: Final[str]
    uniqueid: Final[str]
    caller_hash: Final[str | None]
    position: Final[int]
    line: Final[str]
    tier: Final[str]
    language: Final[str]
    priority: Final[int | None]

    def __init__(
        self,
        *,
        at: float,
        queue: str,
        uniqueid: str,
        caller_hash: str | None,
        position: int,
        line: str = "",
        tier: str = "",
        language: str = "",
        priority: int | None = None,
    ) -> None:
        self.at = at
        self.queue = queue
        self.uniqueid = uniqueid
        self.caller_hash = caller_hash
        self.position = position
        self.line = line
        self.tier = tier
        self.language = language
        self.priority = priority

    def identity(self) -> tuple[Any, ...]:
        return ("CallerJoined", self.at, self.queue, self.uniqueid, self.caller_hash, self.position, self.line,
                self.tier, self.language, self.priority)  # fmt: skip


@mypyc_attr(acyclic=True)
@dataclass(kw_only=True, init=False, unsafe_hash=True)
class CallerAbandoned(_Event):
    """A caller left the queue unanswered (AMI QueueCallerAbandon, queue_log ABANDON).

    AMI raises it for every unanswered exit, timeouts included; only queue_log
    tells a timeout (`CallerExited`) from a hang-up.
    """

    at: Final[float]
    queue: Final[str]
    uniqueid: Final[str]
    position: Final[int]
    original_position: Final[int]
    hold_time: Final[float]

    def __init__(
        self,
        *,
        at: float,
        queue: str,
        uniqueid: str,
        position: int,
        original_position: int,
        hold_time: float,
    ) -> None:
        self.at = at
        self.queue = queue
        self.uniqueid = uniqueid
        self.position = position
        self.original_position = original_position
        self.hold_time = hold_time

    def identity(self) -> tuple[Any, ...]:
        return ("CallerAbandoned", self.at, self.queue, self.uniqueid, self.position, self.original_position,
                self.hold_time)  # fmt: skip


@mypyc_attr(acyclic=True)
@dataclass(kw_only=True, init=False, unsafe_hash=True)
class CallerExited(_Event):
    """A caller was taken out of the queue by the queue itself (queue_log only).

    EXITWITHTIMEOUT, EXITEMPTY, EXITWITHKEY, WITHDRAW: the call went back to
    the dialplan (overflow, voicemail) rather than being hung up by the caller.
    """

    at: Final[float]
    queue: Final[str]
    uniqueid: Final[str]
    reason: Final[ExitReason]
    position: Final[int]
    original_position: Final[int]
    hold_time: Final[float]

    def __init__(
        self,
        *,
        at: float,
        queue: str,
        uniqueid: str,
        reason: ExitReason,
        position: int,
        original_position: int,
        hold_time: float,
    ) -> None:
        self.at = at
        self.queue = queue
        self.uniqueid = uniqueid
        self.reason = reason
        self.position = position
        self.original_position = original_position
        self.hold_time = hold_time

    def identity(self) -> tuple[Any, ...]:
        return ("CallerExited", self.at, self.queue, self.uniqueid, self.reason, self.position, self.original_position,
                self.hold_time)  # fmt: skip


@mypyc_attr(acyclic=True)
@dataclass(kw_only=True, init=False, unsafe_hash=True)
class CallerOverflowed(_Event):
    """The dialplan moved a waiting caller on to `next_queue` (AMI UserEvent
    IvrQueueExit): the group's wait ran out (`timeout`) or it became empty.

    app_queue reports such a caller with QueueCallerAbandon, exactly like one
    who hung up (queue_log alone says EXITWITHTIMEOUT / EXITEMPTY); this event
    turns that visit into an exit. A caller refused on joining (JOINEMPTY) had
    no visit: then it changes nothing."""

    at: Final[float]
    queue: Final[str]
    uniqueid: Final[str]
    reason: Final[ExitReason]
    next_queue: Final[str]

    def __init__(self, *, at: float, queue: str, uniqueid: str, reason: ExitReason, next_queue: str) -> None:
        self.at = at
        self.queue = queue
        self.uniqueid = uniqueid
        self.reason = reason
        self.next_queue = next_queue

    def identity(self) -> tuple[Any, ...]:
        return ("CallerOverflowed", self.at, self.queue, self.uniqueid, self.reason, self.next_queue)


@mypyc_attr(acyclic=True)
@dataclass(kw_only=True, init=False, unsafe_hash=True)
class CallerLeft(_Event):
    """The caller is no longer in the queue, for any reason (AMI QueueCallerLeave)."""

    at: Final[float]
    queue: Final[str]
    uniqueid: Final[str]
    position: Final[int]

    def __init__(self, *, at: float, queue: str, uniqueid: str, position: int) -> None:
        self.at = at
        self.queue = queue
        self.uniqueid = uniqueid
        self.position = position

    def identity(self) -> tuple[Any, ...]:
        return ("CallerLeft", self.at, self.queue, self.uniqueid, self.position)


@mypyc_attr(acyclic=True)
@dataclass(kw_only=True, init=False, unsafe_hash=True)
class AgentCalled(_Event):
    """A seat started ringing for a queued caller (AMI AgentCalled)."""

    at: Final[float]
    queue: Final[str]
    uniqueid: Final[str]
    agent: Final[str]

    def __init__(self, *, at: float, queue: str, uniqueid: str, agent: str) -> None:
        self.at = at
        self.queue = queue
        self.uniqueid = uniqueid
        self.agent = agent

    def identity(self) -> tuple[Any, ...]:
        return ("AgentCalled", self.at, self.queue, self.uniqueid, self.agent)


@mypyc_attr(acyclic=True)
@dataclass(kw_only=True, init=False, unsafe_hash=True)
class AgentRingNoAnswer(_Event):
    """A seat rang and did not answer (AMI AgentRingNoAnswer, queue_log RINGNOANSWER)."""

    at: Final[float]
    queue: Final[str]
    uniqueid: Final[str]
    agent: Final[str]
    ring_time: Final[float]

    def __init__(self, *, at: float, queue: str, uniqueid: str, agent: str, ring_time: float) -> None:
        self.at = at
        self.queue = queue
        self.uniqueid = uniqueid
        self.agent = agent
        self.ring_time = ring_time

    def identity(self) -> tuple[Any, ...]:
        return ("AgentRingNoAnswer", self.at, self.queue, self.uniqueid, self.agent, self.ring_time)


@mypyc_attr(acyclic=True)
@dataclass(kw_only=True, init=False, unsafe_hash=True)
class AgentConnected(_Event):
    """A seat answered and was bridged to the caller (AMI AgentConnect, queue_log CONNECT)."""

    at: Final[float]
    queue: Final[str]
    uniqueid: Final[str]
    agent: Final[str]
    hold_time: Final[float]
    ring_time: Final[float]

    def __init__(self, *, at: float, queue: str, uniqueid: str, agent: str, hold_time: float, ring_time: float) -> None:
        self.at = at
        self.queue = queue
        self.uniqueid = uniqueid
        self.agent = agent
        self.hold_time = hold_time
        self.ring_time = ring_time

    def identity(self) -> tuple[Any, ...]:
        return ("AgentConnected", self.at, self.queue, self.uniqueid, self.agent, self.hold_time, self.ring_time)


@mypyc_attr(acyclic=True)
@dataclass(kw_only=True, init=False, unsafe_hash=True)
class AgentCompleted(_Event):
    """The bridged call ended (AMI AgentComplete, queue_log COMPLETE*/…TRANSFER).

    `reason` is `caller`, `agent` or `transfer`.
    """

    at: Final[float]
    queue: Final[str]
    uniqueid: Final[str]
    agent: Final[str]
    hold_time: Final[float]
    talk_time: Final[float]
    reason: Final[str]

    def __init__(
        self,
        *,
        at: float,
        queue: str,
        uniqueid: str,
        agent: str,
        hold_time: float,
        talk_time: float,
        reason: str,
    ) -> None:
        self.at = at
        self.queue = queue
        self.uniqueid = uniqueid
        self.agent = agent
        self.hold_time = hold_time
        self.talk_time = talk_time
        self.reason = reason

    def identity(self) -> tuple[Any, ...]:
        return ("AgentCompleted", self.at, self.queue, self.uniqueid, self.agent, self.hold_time, self.talk_time,
                self.reason)  # fmt: skip


@mypyc_attr(acyclic=True)
@dataclass(kw_only=True, init=False, unsafe_hash=True)
class AgentDumped(_Event):
    """The seat hung up on the caller before the bridge (AMI AgentDump, queue_log AGENTDUMP)."""

    at: Final[float]
    queue: Final[str]
    uniqueid: Final[str]
    agent: Final[str]

    def __init__(self, *, at: float, queue: str, uniqueid: str, agent: str) -> None:
        self.at = at
        self.queue = queue
        self.uniqueid = uniqueid
        self.agent = agent

    def identity(self) -> tuple[Any, ...]:
        return ("AgentDumped", self.at, self.queue, self.uniqueid, self.agent)


@mypyc_attr(acyclic=True)
@dataclass(kw_only=True, init=False, unsafe_hash=True)
class MemberStatusChanged(_Event):
    """A queue member's device or pause state, as Asterisk reports it.

    From AMI QueueMemberStatus and, after a (re)connect, the QueueMember rows
    of a QueueStatus resync. `status` is Asterisk's device state number
    (1 not in use, 2 in use, 5 unavailable, 6 ringing, ...).
    """

    at: Final[float]
    queue: Final[str]
    agent: Final[str]
    status: Final[int]
    paused: Final[bool]
    paused_reason: Final[str]
    in_call: Final[bool]
    wrapup: Final[int | None]

    def __init__(
        self,
        *,
        at: float,
        queue: str,
        agent: str,
        status: int,
        paused: bool,
        paused_reason: str,
        in_call: bool,
        wrapup: int | None = None,
    ) -> None:
        self.at = at
        self.queue = queue
        self.agent = agent
        self.status = status
        self.paused = paused
        self.paused_reason = paused_reason
        self.in_call = in_call
        self.wrapup = wrapup

    def identity(self) -> tuple[Any, ...]:
        return ("MemberStatusChanged", self.at, self.queue, self.agent, self.status, self.paused, self.paused_reason,
                self.in_call, self.wrapup)  # fmt: skip


@mypyc_attr(acyclic=True)
@dataclass(kw_only=True, init=False, unsafe_hash=True)
class MemberPaused(_Event):
    """A seat was paused or unpaused. `queue == ""` means in every queue it belongs to."""

    at: Final[float]
    queue: Final[str]
    agent: Final[str]
    paused: Final[bool]
    reason: Final[str]

    def __init__(self, *, at: float, queue: str, agent: str, paused: bool, reason: str) -> None:
        self.at = at
        self.queue = queue
        self.agent = agent
        self.paused = paused
        self.reason = reason

    def identity(self) -> tuple[Any, ...]:
        return ("MemberPaused", self.at, self.queue, self.agent, self.paused, self.reason)


@mypyc_attr(acyclic=True)
@dataclass(kw_only=True, init=False, unsafe_hash=True)
class MemberAdded(_Event):
    """A seat joined a queue (logged in to a skill group)."""

    at: Final[float]
    queue: Final[str]
    agent: Final[str]
    paused: Final[bool]

    def __init__(self, *, at: float, queue: str, agent: str, paused: bool = False) -> None:
        self.at = at
        self.queue = queue
        self.agent = agent
        self.paused = paused

    def identity(self) -> tuple[Any, ...]:
        return ("MemberAdded", self.at, self.queue, self.agent, self.paused)


@mypyc_attr(acyclic=True)
@dataclass(kw_only=True, init=False, unsafe_hash=True)
class MemberRemoved(_Event):
    """A seat left a queue (logged out of a skill group)."""

    at: Final[float]
    queue: Final[str]
    agent: Final[str]

    def __init__(self, *, at: float, queue: str, agent: str) -> None:
        self.at = at
        self.queue = queue
        self.agent = agent

    def identity(self) -> tuple[Any, ...]:
        return ("MemberRemoved", self.at, self.queue, self.agent)


@mypyc_attr(acyclic=True)
@dataclass(kw_only=True, init=False, unsafe_hash=True)
class SurveyRated(_Event):
    """The caller rated the call in the post-call survey (1 worst .. 5 best)."""

    at: Final[float]
    uniqueid: Final[str]
    queue: Final[str]
    agent: Final[str]
    line: Final[str]
    rating: Final[int]

    def __init__(self, *, at: float, uniqueid: str, queue: str, agent: str, line: str, rating: int) -> None:
        self.at = at
        self.uniqueid = uniqueid
        self.queue = queue
        self.agent = agent
        self.line = line
        self.rating = rating

    def identity(self) -> tuple[Any, ...]:
        return ("SurveyRated", self.at, self.uniqueid, self.queue, self.agent, self.line, self.rating)


DomainEvent: TypeAlias = (
    CallerJoined
    | CallerAbandoned
    | CallerExited
    | CallerOverflowed
    | CallerLeft
    | AgentCalled
    | AgentRingNoAnswer
    | AgentConnected
    | AgentCompleted
    | AgentDumped
    | MemberStatusChanged
    | MemberPaused
    | MemberAdded
    | MemberRemoved
    | SurveyRated
)

EVENT_TYPES: Mapping[str, type[DomainEvent]] = {
    cls.__name__: cls
    for cls in (
        CallerJoined,
        CallerAbandoned,
        CallerExited,
        CallerOverflowed,
        CallerLeft,
        AgentCalled,
        AgentRingNoAnswer,
        AgentConnected,
        AgentCompleted,
        AgentDumped,
        MemberStatusChanged,
        MemberPaused,
        MemberAdded,
        MemberRemoved,
        SurveyRated,
    )
}


def identity(event: DomainEvent) -> tuple[Any, ...]:
    """The event as one flat tuple of plain values: its type's name, then every field, ``at`` first.

    Two identities are equal exactly when the events are. Unlike the event
    object, such a tuple (strings and numbers only) is untracked by CPython's
    garbage collector once a collection has seen it, so the reducer can
    remember hours of events for its dedupe without making every later full
    collection walk them (at 80,000 events that was a quarter of the
    reducer's time). Each class writes its own out (compiled, 56 ns where an
    `operator.attrgetter` of the fields took 274); a test holds each equal to
    the name and `dataclasses.fields` of its class.
    """
    return event.identity()


class EventRecordError(ValueError):
    """A stored record does not describe a known event (wrong name or fields)."""


def to_record(event: DomainEvent) -> tuple[str, dict[str, Any]]:
    """The event as (class name, JSON-ready field dict)."""
    return type(event).__name__, {f.name: getattr(event, f.name) for f in dataclasses.fields(event)}


def from_record(name: str, fields: Mapping[str, Any]) -> DomainEvent:
    """Rebuild an event from `to_record()` output; raises `EventRecordError`."""
    cls = EVENT_TYPES.get(name)
    if cls is None:
        raise EventRecordError(f"unknown event type {name!r}")
    try:
        return cls(**fields)
    except TypeError as exc:
        raise EventRecordError(f"{name}: {exc}") from None


@functools.lru_cache(maxsize=8192)  # a few thousand seats, named the same in every event
def seat_id(member: str) -> str:
    """The seat id of a queue member name or interface.

    `PJSIP/1001` -> `1001`, `Local/1001@agents/n` -> `1001`, `1001` -> `1001`.
    queues.conf names members by seat id already; the interface form is what
    AMI reports when a member has no name, and what older configs use.
    """
    name = member.strip()
    if "/" in name:
        name = name.partition("/")[2]
    return name.partition("@")[0]
