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
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal, TypeAlias

from mypy_extensions import mypyc_attr

ExitReason = Literal["timeout", "empty", "withdraw", "key"]
EXIT_REASONS: frozenset[str] = frozenset({"timeout", "empty", "withdraw", "key"})


@mypyc_attr(acyclic=True)
@dataclass(kw_only=True, init=False, unsafe_hash=True)
class CallerJoined:
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


@mypyc_attr(acyclic=True)
@dataclass(kw_only=True, init=False, unsafe_hash=True)
class CallerAbandoned:
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


@mypyc_attr(acyclic=True)
@dataclass(kw_only=True, init=False, unsafe_hash=True)
class CallerExited:
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


@mypyc_attr(acyclic=True)
@dataclass(kw_only=True, init=False, unsafe_hash=True)
class CallerOverflowed:
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


@mypyc_attr(acyclic=True)
@dataclass(kw_only=True, init=False, unsafe_hash=True)
class CallerLeft:
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


@mypyc_attr(acyclic=True)
@dataclass(kw_only=True, init=False, unsafe_hash=True)
class AgentCalled:
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


@mypyc_attr(acyclic=True)
@dataclass(kw_only=True, init=False, unsafe_hash=True)
class AgentRingNoAnswer:
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


@mypyc_attr(acyclic=True)
@dataclass(kw_only=True, init=False, unsafe_hash=True)
class AgentConnected:
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


@mypyc_attr(acyclic=True)
@dataclass(kw_only=True, init=False, unsafe_hash=True)
class AgentCompleted:
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


@mypyc_attr(acyclic=True)
@dataclass(kw_only=True, init=False, unsafe_hash=True)
class AgentDumped:
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


@mypyc_attr(acyclic=True)
@dataclass(kw_only=True, init=False, unsafe_hash=True)
class MemberStatusChanged:
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


@mypyc_attr(acyclic=True)
@dataclass(kw_only=True, init=False, unsafe_hash=True)
class MemberPaused:
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


@mypyc_attr(acyclic=True)
@dataclass(kw_only=True, init=False, unsafe_hash=True)
class MemberAdded:
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


@mypyc_attr(acyclic=True)
@dataclass(kw_only=True, init=False, unsafe_hash=True)
class MemberRemoved:
    """A seat left a queue (logged out of a skill group)."""

    at: Final[float]
    queue: Final[str]
    agent: Final[str]

    def __init__(self, *, at: float, queue: str, agent: str) -> None:
        self.at = at
        self.queue = queue
        self.agent = agent


@mypyc_attr(acyclic=True)
@dataclass(kw_only=True, init=False, unsafe_hash=True)
class SurveyRated:
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


# Each event type's name and a getter of all its field values, `at` first.
_IDENTITY: dict[type, tuple[str, Callable[[Any], tuple[Any, ...]]]] = {
    cls: (cls.__name__, operator.attrgetter(*(f.name for f in dataclasses.fields(cls))))
    for cls in EVENT_TYPES.values()
}


def identity(event: DomainEvent) -> tuple[Any, ...]:
    """The event as one flat tuple of plain values: its type's name, then every field, ``at`` first.

    Two identities are equal exactly when the events are. Unlike the event
    object, such a tuple (strings and numbers only) is untracked by CPython's
    garbage collector once a collection has seen it, so the reducer can
    remember hours of events for its dedupe without making every later full
    collection walk them (at 80,000 events that was a quarter of the
    reducer's time).
    """
    name, values = _IDENTITY[type(event)]
    return (name, *values(event))


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
