"""The reducer's records and results: what it keeps per call and per seat, and the rows it reports.

A `CallRecord` is one call's visit to one queue, a `SeatRecord` one seat;
`transitions` builds and changes them, `reports` and `sums` read them.

Memory the garbage collector does not walk: a day's records are held for
hours, and every full collection of CPython's collector walks each object it
tracks. So the records are `acyclic` (compiled, not tracked), and what they
keep for the day is in tuples of strings and numbers, which the collector
stops tracking once it has seen them: the seats tried (`presented_to`), the
caller index, and the state segments (the state as its index in `STATES`,
since an enum member is an object the collector tracks, and so is any tuple
holding one). docs/findings.md has what that saves.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

from mypy_extensions import mypyc_attr

GroupBy = Literal["group", "agent", "line", "tier", "language"] | None
CallKey = tuple[str, str]  # (queue, uniqueid)
Schedule = Mapping[str, Mapping[float, float]]
"""Scheduled seconds per seat id per interval start (the shift plan)."""

UNKNOWN_TAG = "unknown"


class SeatState(StrEnum):
    LOGGED_OUT = "logged_out"
    AVAILABLE = "available"
    RINGING = "ringing"
    ON_CALL = "on_call"
    WRAP_UP = "wrap_up"
    PAUSED = "paused"


@dataclass(frozen=True, slots=True)
class GroupConfig:
    """What the reducer needs to know about a skill group (from the catalog)."""

    service_level_seconds: float = 20.0
    wrapup_seconds: float = 0.0
    targets: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class KpiRow:
    """KPIs of one cut (group, agent, line, ...) over one interval.

    Call counts are of calls that *joined* in [start, end) (agent rows: calls
    presented to the agent). Agent-time fields are seconds within the
    interval, and are None on rows cut by group/line/tier/language, where a
    multi-skilled seat's time has no single owner. Surveys count when rated.
    """

    start: float
    end: float
    group_by: GroupBy
    key: str | None
    offered: int
    answered: int
    abandoned: int
    short_abandoned: int
    exited: int
    waiting: int
    answered_in_service_level: int
    handled: int
    ring_no_answer: int
    answer_rate: float | None
    abandon_rate: float | None
    service_level: float | None
    asa: float | None
    average_talk_time: float | None
    aht: float | None
    longest_wait: float | None
    talk_seconds: float
    wrapup_seconds: float
    fcr_24h: float | None
    fcr_24h_pending: int
    fcr_7d: float | None
    fcr_7d_pending: int
    surveys: int
    csat_mean: float | None
    csat_satisfied_share: float | None
    logged_in_seconds: float | None = None
    available_seconds: float | None = None
    ringing_seconds: float | None = None
    on_call_seconds: float | None = None
    wrap_up_seconds: float | None = None
    paused_seconds: float | None = None
    scheduled_seconds: float | None = None
    utilization: float | None = None
    occupancy: float | None = None
    in_seat_rate: float | None = None
    # Seconds callers waited in the queue, answered, abandoned, exited or still
    # waiting: abandoned / wait_seconds estimates the callers' patience rate
    # (Erlang A, ivr.scheduling.staffing).
    wait_seconds: float = 0.0
    # Time in adherence to the published schedule / scheduled time (ivr.scheduling.adherence).
    adherence: float | None = None


LiveCut = Literal["group", "line", "tier", "language"] | None
"""The cuts the reducer keeps live sums for (no agent cut: seats have their own view)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CallCounts:
    """The call counts and call KPIs of one cut over [start, end).

    These fields of a `KpiRow`, equal to them value for value; the reducer
    keeps them up to date for today (`CenterState.today_counts`), where a
    `KpiRow` (agent time, FCR, CSAT, longest wait) is computed on request.
    """

    start: float
    end: float
    group_by: GroupBy
    key: str | None
    offered: int
    answered: int
    abandoned: int
    short_abandoned: int
    exited: int
    waiting: int
    answered_in_service_level: int
    handled: int
    answer_rate: float | None
    abandon_rate: float | None
    service_level: float | None
    asa: float | None
    average_talk_time: float | None
    aht: float | None
    talk_seconds: float
    wrapup_seconds: float

    @classmethod
    def of(cls, row: KpiRow) -> CallCounts:
        """The same fields of a `KpiRow`."""
        return cls(**{f.name: getattr(row, f.name) for f in dataclasses.fields(cls)})


@dataclass(frozen=True, slots=True)
class AgentSnapshot:
    agent: str
    state: SeatState
    since: float
    time_in_state: float
    paused_reason: str
    groups: tuple[str, ...]
    call_uniqueid: str | None


@dataclass(frozen=True, slots=True)
class GroupSnapshot:
    group: str
    waiting: int
    longest_wait: float
    available: int
    ringing: int
    on_call: int
    wrap_up: int
    paused: int
    logged_out: int


@dataclass(frozen=True, slots=True)
class CenterSnapshot:
    at: float
    groups: tuple[GroupSnapshot, ...]
    agents: tuple[AgentSnapshot, ...]


@dataclass(frozen=True, slots=True)
class CallFacts:
    """What the state knows of one call's visit to one queue: the questions a
    catch-up from queue_log asks before adding what the live feed missed."""

    join_known: bool
    tagged: bool
    """The call's line is known."""
    answered: bool
    completed: bool
    ended_unanswered: bool
    """An abandon or an exit is known (a leave without either is not)."""
    ring_no_answer: Mapping[str, int]
    surveys: int


@mypyc_attr(acyclic=True)  # not walked by the collector: see the module docstring
@dataclass(slots=True, init=False)
class CallRecord:
    """One call's visit to one queue. Built once per call: a hand-written `__init__`
    is compiled, where a dataclass's generated one stays Python."""

    queue: str
    uniqueid: str
    joined_at: float
    join_known: bool
    caller_hash: str | None
    line: str
    tier: str
    language: str
    priority: int | None
    presented_to: tuple[str, ...]  # seats that rang for it, in order (`_present`)
    ring_no_answer: dict[str, int]
    answered_at: float | None
    agent: str | None
    hold_time: float | None
    completed_at: float | None
    talk_time: float | None
    wrapup_time: float | None
    abandon_hold: float | None
    exit_hold: float | None
    left_at: float | None
    indexed: bool  # present in the caller index (for FCR)
    live: Contribution | None  # what the live sums hold for this call

    def __init__(self, queue: str, uniqueid: str, joined_at: float, join_known: bool) -> None:
        self.queue = queue
        self.uniqueid = uniqueid
        self.joined_at = joined_at
        self.join_known = join_known
        self.caller_hash = None
        self.line = ""
        self.tier = ""
        self.language = ""
        self.priority = None
        self.presented_to = ()
        self.ring_no_answer = {}
        self.answered_at = None
        self.agent = None
        self.hold_time = None
        self.completed_at = None
        self.talk_time = None
        self.wrapup_time = None
        self.abandon_hold = None
        self.exit_hold = None
        self.left_at = None
        self.indexed = False
        self.live = None


@mypyc_attr(acyclic=True)
@dataclass(slots=True)
class SeatRecord:
    agent: str
    since: float
    state: SeatState = SeatState.LOGGED_OUT
    memberships: set[str] = field(default_factory=set)
    paused_in: dict[str, str] = field(default_factory=dict)
    device_gone: bool = False
    ringing: set[CallKey] = field(default_factory=set)
    on_call: CallKey | None = None
    wrapup_until: float | None = None
    wrapup_call: CallKey | None = None
    wrapup_override: float | None = None
    segments: list[tuple[float, float, int]] = field(default_factory=list)  # state: `STATES` index
    counted: tuple[tuple[str, ...], SeatState] | None = None  # in the live group counts as
    stamp: int = 0  # CenterState's change counter when this seat last settled

    def paused(self) -> bool:
        return bool(self.memberships) and self.memberships <= self.paused_in.keys()

    def derive(self, *, ignore_wrapup: bool = False) -> SeatState:
        if self.on_call is not None:
            return SeatState.ON_CALL
        if not self.memberships or self.device_gone:
            return SeatState.LOGGED_OUT
        if self.wrapup_until is not None and not ignore_wrapup:
            return SeatState.WRAP_UP
        if self.ringing:
            return SeatState.RINGING
        if self.paused():
            return SeatState.PAUSED
        return SeatState.AVAILABLE

    def current(self, now: float) -> tuple[float, SeatState]:
        """(since, state) at `now`, with a wrap-up that has run out by then closed."""
        if self.state is SeatState.WRAP_UP and self.wrapup_until is not None and self.wrapup_until <= now:
            return self.wrapup_until, self.derive(ignore_wrapup=True)
        return self.since, self.state

    def timeline(self, until: float) -> Iterator[tuple[float, float, SeatState]]:
        """Closed segments, then the open one up to `until`, wrap-up expiry included."""
        for start, end, state in self.segments:
            yield start, end, STATES[state]
        if self.state is SeatState.WRAP_UP and self.wrapup_until is not None and self.wrapup_until < until:
            yield (self.since, self.wrapup_until, SeatState.WRAP_UP)
            yield (self.wrapup_until, until, self.derive(ignore_wrapup=True))
            return
        if until > self.since:
            yield (self.since, until, self.state)


# Seconds are summed as integers in units of 2**-1074 s, the smallest float
# step: every float is a whole number of them, so a sum is exact and does not
# depend on the order of its terms (or on terms taken out and put back).
_EXACT_SHIFT = 1074
_EXACT_UNIT = 1 << _EXACT_SHIFT


def to_exact(seconds: float) -> int:
    numerator, denominator = seconds.as_integer_ratio()  # denominator: a power of two
    return numerator << (_EXACT_SHIFT + 1 - denominator.bit_length())


def from_exact(exact: int) -> float:
    return exact / _EXACT_UNIT  # int / int: correctly rounded


# A call's contribution to the live sums (`sums`): (joined_at, (queue, line,
# tier, language), counts vector).
Vector = tuple[int, int, int, int, int, int, int, int, int, int, int]
Combo = tuple[str, str, str, str]
Contribution = tuple[float, Combo, Vector]
STATES = tuple(SeatState)
STATE_INDEX = {state: index for index, state in enumerate(STATES)}
