"""Domain events of the contact center: what happened in a queue, to a caller or a seat.

Theory of operation: every source of truth (the live AMI stream via `intake`,
Asterisk's `queue_log` via `queue_log`, a replay from the `store`) is turned
into these events, and only these events reach the KPI reducer. They are
frozen, slotted and keyword-only so two equal events compare and hash equal:
the reducer uses that to drop duplicates that a reconnect or a replay delivers
twice.

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
from typing import Any, Literal, TypeAlias

ExitReason = Literal["timeout", "empty", "withdraw", "key"]
EXIT_REASONS: frozenset[str] = frozenset({"timeout", "empty", "withdraw", "key"})


@dataclass(frozen=True, slots=True, kw_only=True)
class CallerJoined:
    """A caller entered a queue (AMI QueueCallerJoin, queue_log ENTERQUEUE): one offered call."""

    at: float
    queue: str
    uniqueid: str
    caller_hash: str | None
    position: int
    line: str = ""
    tier: str = ""
    language: str = ""
    priority: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CallerAbandoned:
    """A caller left the queue unanswered (AMI QueueCallerAbandon, queue_log ABANDON).

    AMI raises it for every unanswered exit, timeouts included; only queue_log
    tells a timeout (`CallerExited`) from a hang-up.
    """

    at: float
    queue: str
    uniqueid: str
    position: int
    original_position: int
    hold_time: float


@dataclass(frozen=True, slots=True, kw_only=True)
class CallerExited:
    """A caller was taken out of the queue by the queue itself (queue_log only).

    EXITWITHTIMEOUT, EXITEMPTY, EXITWITHKEY, WITHDRAW: the call went back to
    the dialplan (overflow, voicemail) rather than being hung up by the caller.
    """

    at: float
    queue: str
    uniqueid: str
    reason: ExitReason
    position: int
    original_position: int
    hold_time: float


@dataclass(frozen=True, slots=True, kw_only=True)
class CallerOverflowed:
    """The dialplan moved a waiting caller on to `next_queue` (AMI UserEvent
    IvrQueueExit): the group's wait ran out (`timeout`) or it became empty.

    app_queue reports such a caller with QueueCallerAbandon, exactly like one
    who hung up (queue_log alone says EXITWITHTIMEOUT / EXITEMPTY); this event
    turns that visit into an exit. A caller refused on joining (JOINEMPTY) had
    no visit: then it changes nothing."""

    at: float
    queue: str
    uniqueid: str
    reason: ExitReason
    next_queue: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CallerLeft:
    """The caller is no longer in the queue, for any reason (AMI QueueCallerLeave)."""

    at: float
    queue: str
    uniqueid: str
    position: int


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentCalled:
    """A seat started ringing for a queued caller (AMI AgentCalled)."""

    at: float
    queue: str
    uniqueid: str
    agent: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentRingNoAnswer:
    """A seat rang and did not answer (AMI AgentRingNoAnswer, queue_log RINGNOANSWER)."""

    at: float
    queue: str
    uniqueid: str
    agent: str
    ring_time: float


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentConnected:
    """A seat answered and was bridged to the caller (AMI AgentConnect, queue_log CONNECT)."""

    at: float
    queue: str
    uniqueid: str
    agent: str
    hold_time: float
    ring_time: float


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentCompleted:
    """The bridged call ended (AMI AgentComplete, queue_log COMPLETE*/…TRANSFER).

    `reason` is `caller`, `agent` or `transfer`.
    """

    at: float
    queue: str
    uniqueid: str
    agent: str
    hold_time: float
    talk_time: float
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentDumped:
    """The seat hung up on the caller before the bridge (AMI AgentDump, queue_log AGENTDUMP)."""

    at: float
    queue: str
    uniqueid: str
    agent: str


@dataclass(frozen=True, slots=True, kw_only=True)
class MemberStatusChanged:
    """A queue member's device or pause state, as Asterisk reports it.

    From AMI QueueMemberStatus and, after a (re)connect, the QueueMember rows
    of a QueueStatus resync. `status` is Asterisk's device state number
    (1 not in use, 2 in use, 5 unavailable, 6 ringing, ...).
    """

    at: float
    queue: str
    agent: str
    status: int
    paused: bool
    paused_reason: str
    in_call: bool
    wrapup: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class MemberPaused:
    """A seat was paused or unpaused. `queue == ""` means in every queue it belongs to."""

    at: float
    queue: str
    agent: str
    paused: bool
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class MemberAdded:
    """A seat joined a queue (logged in to a skill group)."""

    at: float
    queue: str
    agent: str
    paused: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class MemberRemoved:
    """A seat left a queue (logged out of a skill group)."""

    at: float
    queue: str
    agent: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SurveyRated:
    """The caller rated the call in the post-call survey (1 worst .. 5 best)."""

    at: float
    uniqueid: str
    queue: str
    agent: str
    line: str
    rating: int


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


def _store_through_slots(cls: type) -> None:
    """Replace a frozen slotted event class's `__init__` by one that stores each
    field through its slot descriptor.

    The generated one stores each field with `object.__setattr__` looked up by
    name (plain assignment is refused on a frozen class), which on a field of
    seven makes building an event cost as much as parsing it; intake builds
    one per AMI event. Same signature, defaults and result; `dataclasses`
    itself generates its `__init__` the same way, from source.
    """
    fields = dataclasses.fields(cls)
    namespace: dict[str, Any] = {}
    params = []
    for f in fields:
        assert f.default_factory is dataclasses.MISSING, f"{cls.__name__}.{f.name}: not supported"
        namespace[f"_set_{f.name}"] = cls.__dict__[f.name].__set__
        if f.default is dataclasses.MISSING:
            params.append(f.name)
        else:
            namespace[f"_default_{f.name}"] = f.default
            params.append(f"{f.name}=_default_{f.name}")
    body = "".join(f"    _set_{f.name}(self, {f.name})\n" for f in fields)
    exec(f"def __init__(self, *, {', '.join(params)}) -> None:\n{body}", namespace)
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    cls.__init__ = init  # type: ignore[misc]


for _event_type in EVENT_TYPES.values():
    _store_through_slots(_event_type)


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
