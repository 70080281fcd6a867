"""The KPI reducer: domain events in, live state and KPI rows out. Pure: no I/O, no clock.

Theory of operation
-------------------
`CenterState.apply(event)` folds one domain event into two kinds of state:

- **Calls**, one record per (queue, uniqueid): when the caller joined, with
  the line/tier/language tags of its CallerJoined, and what became of it
  (answered by whom after how long, talk, wrap-up, abandoned, exited). KPIs
  are computed from these records *at query time*, so the order in which a
  call's own events arrive does not matter: an AgentConnected that arrives
  before its CallerJoined (reconnect, resync) creates the record and the
  join fills in the rest.
- **Seats**, one per seat id: memberships, pause flags, the call it is ringing
  for or talking on, and a timeline of closed state segments (logged out,
  available, ringing, on call, wrap-up, paused). Wrap-up is the only state
  that ends without an event: it lasts the group's wrap-up seconds after an
  AgentCompleted, and is closed lazily, when the next event for that seat
  arrives or when a query looks past its end.

Idempotence: events are values, so an event equal to one already applied
(same type, uniqueid, `at` and fields) is a duplicate and is dropped,
whenever it arrives. Replaying the same events, in any chunking, with any
duplicates injected, gives the same numbers.

Determinism: nothing reads the clock. "Now" for queries is either passed in
(`snapshot(now)`) or is the *horizon*, the latest event time applied: a call
still waiting has waited `horizon - joined_at`, an open state segment runs to
the horizon, and FCR windows are decided against the horizon.

Live aggregates: `kpis()` passes over every call it reports on, which is fine
for a report but not for a wallboard refreshed ten times a second on a day of
100,000 calls. So the reducer also keeps what the live views read (today's
call counts and call KPIs per cut, the 15-minute chart, seats per group and
state) as sums it updates instead of recomputing. Each call's contribution
(its counts, keyed by join time and tags) is stored on it; an event only marks
the call (or seat) it touched, and the next live query folds the marked ones
in: take the stored contribution out, put the current one in. A call touched
five times between two queries is folded once. What depends on "now" (waits,
a wrap-up still running or run out) is added at query time from the few
calls and seats it concerns. Seconds are summed as exact integers, here and
in `kpis()`, so both give the same floats whatever the order of the calls;
tests check that `today_counts`, `today_intervals` and `floor` equal what
`kpis()` and `snapshot()` compute from scratch.

Memory the garbage collector does not walk: a day's state is held for
hours, and every full collection of CPython's collector walks each object it
tracks. So the per-call and per-seat records are `acyclic` (compiled, not
tracked), and what they keep for the day is in tuples of strings and
numbers, which the collector stops tracking once it has seen them: the seats
tried (`presented_to`), the caller index, and the state segments (the state
as its index in `SeatState`, since an enum member is an object the collector
tracks, and so is any tuple holding one). At 10,000 calls this took the
tracked objects after the day from ~99,000 to ~44,000 (most of them the
modules' own) and the collector's share of `apply` from ~1.1 to ~0.1 µs an
event (docs/findings.md).

KPI definitions live in `kpi.py`; this module only counts and sums.
"""

from __future__ import annotations

import bisect
import dataclasses
import heapq
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

from mypy_extensions import mypyc_attr

from . import kpi
from .events import (
    AgentCalled,
    AgentCompleted,
    AgentConnected,
    AgentDumped,
    AgentRingNoAnswer,
    CallerAbandoned,
    CallerExited,
    CallerJoined,
    CallerLeft,
    CallerOverflowed,
    DomainEvent,
    MemberAdded,
    MemberPaused,
    MemberRemoved,
    MemberStatusChanged,
    SurveyRated,
    identity,
)

GroupBy = Literal["group", "agent", "line", "tier", "language"] | None
CallKey = tuple[str, str]  # (queue, uniqueid)
Schedule = Mapping[str, Mapping[float, float]]
"""Scheduled seconds per seat id per interval start (the shift plan)."""

# Asterisk device states that mean the seat's phone is not there (logged out).
_DEVICE_GONE = frozenset({4, 5})  # AST_DEVICE_INVALID, AST_DEVICE_UNAVAILABLE
_UNKNOWN_TAG = "unknown"


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


@mypyc_attr(acyclic=True)  # not walked by the collector: see the module docstring
@dataclass(slots=True, init=False)
class _Call:
    """One call's visit to one queue. Built once per call: a hand-written `__init__`
    is compiled, where the generated one for these 24 fields is not (~1 µs)."""

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
    live: _Contribution | None  # what the live sums hold for this call

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
class _Seat:
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
    segments: list[tuple[float, float, int]] = field(default_factory=list)  # state: `_STATES` index
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
            yield start, end, _STATES[state]
        if self.state is SeatState.WRAP_UP and self.wrapup_until is not None and self.wrapup_until < until:
            yield (self.since, self.wrapup_until, SeatState.WRAP_UP)
            yield (self.wrapup_until, until, self.derive(ignore_wrapup=True))
            return
        if until > self.since:
            yield (self.since, until, self.state)


@dataclass(slots=True)
class _Acc:
    """Counts and sums for one KPI row; `finish` applies the kpi.py definitions."""

    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    short_abandoned: int = 0
    exited: int = 0
    waiting: int = 0
    in_sl: int = 0
    hold_answered: int = 0  # exact units (`_exact`)
    handled: int = 0
    talk: int = 0
    wrapup: int = 0
    longest_wait: float | None = None
    ring_no_answer: int = 0
    fcr: list[list[int]] = field(default_factory=lambda: [[0, 0, 0] for _ in kpi.FCR_WINDOWS])
    surveys: int = 0
    rating_total: int = 0
    satisfied: int = 0
    seat_time: dict[SeatState, float] | None = None
    scheduled: float | None = None

    def wait(self, seconds: float) -> None:
        if self.longest_wait is None or seconds > self.longest_wait:
            self.longest_wait = seconds

    def add_seat_time(self, state: SeatState, seconds: float) -> None:
        if self.seat_time is None:
            self.seat_time = dict.fromkeys(SeatState, 0.0)
        self.seat_time[state] += seconds

    def finish(self, start: float, end: float, group_by: GroupBy, key: str | None, agent_time: bool) -> KpiRow:
        per_agent = group_by == "agent"
        (r24, x24, p24), (r7, x7, p7) = self.fcr[0], self.fcr[1]
        hold, talk, wrapup = _seconds(self.hold_answered), _seconds(self.talk), _seconds(self.wrapup)
        row = KpiRow(
            start=start,
            end=end,
            group_by=group_by,
            key=key,
            offered=self.offered,
            answered=self.answered,
            abandoned=self.abandoned,
            short_abandoned=self.short_abandoned,
            exited=self.exited,
            waiting=self.waiting,
            answered_in_service_level=self.in_sl,
            handled=self.handled,
            ring_no_answer=self.ring_no_answer,
            answer_rate=kpi.answer_rate(self.answered, self.offered),
            abandon_rate=None if per_agent else kpi.abandon_rate(self.abandoned, self.offered, self.short_abandoned),
            service_level=None if per_agent else kpi.service_level(self.in_sl, self.offered, self.short_abandoned),
            asa=kpi.average_speed_of_answer(hold, self.answered),
            average_talk_time=kpi.average_talk_time(talk, self.handled),
            aht=kpi.average_handle_time(talk, wrapup, self.handled),
            longest_wait=self.longest_wait,
            talk_seconds=talk,
            wrapup_seconds=wrapup,
            fcr_24h=kpi.first_call_resolution(r24, x24),
            fcr_24h_pending=p24,
            fcr_7d=kpi.first_call_resolution(r7, x7),
            fcr_7d_pending=p7,
            surveys=self.surveys,
            csat_mean=kpi.csat_mean(self.rating_total, self.surveys),
            csat_satisfied_share=kpi.csat_top_two_box(self.satisfied, self.surveys),
        )
        if not agent_time:
            return row
        t = self.seat_time or dict.fromkeys(SeatState, 0.0)
        logged_in = sum(v for s, v in t.items() if s is not SeatState.LOGGED_OUT)
        on_call, wrap = t[SeatState.ON_CALL], t[SeatState.WRAP_UP]
        return _replace(
            row,
            logged_in_seconds=logged_in,
            available_seconds=t[SeatState.AVAILABLE],
            ringing_seconds=t[SeatState.RINGING],
            on_call_seconds=on_call,
            wrap_up_seconds=wrap,
            paused_seconds=t[SeatState.PAUSED],
            scheduled_seconds=self.scheduled,
            utilization=kpi.utilization(on_call, wrap, logged_in),
            occupancy=kpi.occupancy(on_call, wrap, t[SeatState.AVAILABLE], t[SeatState.RINGING]),
            in_seat_rate=None
            if self.scheduled is None
            else kpi.in_seat_rate(logged_in - t[SeatState.PAUSED], self.scheduled),
        )


def _replace(row: KpiRow, **changes: float | None) -> KpiRow:
    return dataclasses.replace(row, **changes)  # type: ignore[arg-type]


# Seconds are summed as integers in units of 2**-1074 s, the smallest float
# step: every float is a whole number of them, so a sum is exact and does not
# depend on the order of its terms (or on terms taken out and put back).
_EXACT_SHIFT = 1074
_EXACT_UNIT = 1 << _EXACT_SHIFT


def _exact(seconds: float) -> int:
    numerator, denominator = seconds.as_integer_ratio()  # denominator: a power of two
    return numerator << (_EXACT_SHIFT + 1 - denominator.bit_length())


def _seconds(exact: int) -> float:
    return exact / _EXACT_UNIT  # int / int: correctly rounded


# A call's contribution to the live sums: (joined_at, (queue, line, tier,
# language), counts). The counts vector, by index:
_OFFERED, _ANSWERED, _ABANDONED, _SHORT, _EXITED, _WAITING, _IN_SL, _HANDLED, _HOLD, _TALK, _WRAPUP = range(11)
_Vector = tuple[int, int, int, int, int, int, int, int, int, int, int]
_Combo = tuple[str, str, str, str]
_Contribution = tuple[float, _Combo, _Vector]
_WAITING_VECTOR: _Vector = (1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0)
_EXITED_VECTOR: _Vector = (1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0)
_ABANDONED_VECTOR: _Vector = (1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0)
_SHORT_VECTOR: _Vector = (1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0)
_CUT_INDEX: dict[LiveCut, int] = {"group": 0, "line": 1, "tier": 2, "language": 3}
_SURVEY_CUTS: tuple[LiveCut, ...] = ("group", "line", "tier", "language")
_STATES = tuple(SeatState)
_STATE_INDEX = {state: index for index, state in enumerate(_STATES)}
_FLOOR_ORDER = (
    SeatState.AVAILABLE,
    SeatState.RINGING,
    SeatState.ON_CALL,
    SeatState.WRAP_UP,
    SeatState.PAUSED,
    SeatState.LOGGED_OUT,
)


def _add(cell: list[int], vector: Iterable[int], sign: int) -> None:
    for index, value in enumerate(vector):
        if value:
            cell[index] += sign * value


def _present(call: _Call, agent: str) -> None:
    if agent not in call.presented_to:
        call.presented_to = (*call.presented_to, agent)


def _counts_row(start: float, end: float, group_by: GroupBy, key: str | None, cell: Iterable[int]) -> CallCounts:
    offered, answered, abandoned, short, exited, waiting, in_sl, handled, hold, talk, wrapup = cell
    talk_s, wrapup_s = _seconds(talk), _seconds(wrapup)
    return CallCounts(
        start=start,
        end=end,
        group_by=group_by,
        key=key,
        offered=offered,
        answered=answered,
        abandoned=abandoned,
        short_abandoned=short,
        exited=exited,
        waiting=waiting,
        answered_in_service_level=in_sl,
        handled=handled,
        answer_rate=kpi.answer_rate(answered, offered),
        abandon_rate=kpi.abandon_rate(abandoned, offered, short),
        service_level=kpi.service_level(in_sl, offered, short),
        asa=kpi.average_speed_of_answer(_seconds(hold), answered),
        average_talk_time=kpi.average_talk_time(talk_s, handled),
        aht=kpi.average_handle_time(talk_s, wrapup_s, handled),
        talk_seconds=talk_s,
        wrapup_seconds=wrapup_s,
    )


@dataclass(slots=True)
class _LiveSums:
    """The live sums (see the module docstring); `day` is the window start of `today`."""

    day: float | None = None
    today: dict[_Combo, list[int]] = field(default_factory=dict)
    intervals: dict[float, list[int]] = field(default_factory=dict)
    # Per cut, how many surveys of today name each key (a key can have surveys only).
    survey_keys: dict[LiveCut, dict[str, int]] = field(default_factory=dict)
    survey_live: dict[int, tuple[float, tuple[str, ...]]] = field(default_factory=dict)
    # Seats per group per state (`_STATE_INDEX`), by the state each seat last settled in.
    groups: dict[str, list[int]] = field(default_factory=dict)
    # Seats settled in wrap-up; by when it runs out; those it has run out for
    # by `floor_now` (with the state they count as, and their groups) and the
    # corrections that makes to `groups`. A wrap-up ends by the clock alone.
    wrapping: set[str] = field(default_factory=set)
    wrapping_until: list[tuple[float, str]] = field(default_factory=list)  # a heap
    ran_out: dict[str, tuple[SeatState, tuple[str, ...]]] = field(default_factory=dict)
    ran_out_counts: dict[str, list[int]] = field(default_factory=dict)
    floor_now: float = float("-inf")
    # Seats whose last call's wrap-up is not closed (its seconds run to the
    # horizon); by when it runs out; and those it has run out for by the
    # horizon, whose seconds no longer change: (call, joined_at, combo, exact
    # seconds) or None when they do not count, summed per combo and interval.
    wrapup_open: set[str] = field(default_factory=set)
    wrapup_running: set[str] = field(default_factory=set)  # open, not fixed
    wrapup_until: list[tuple[float, str]] = field(default_factory=list)  # a heap
    wrapup_fixed: dict[str, tuple[CallKey, float, _Combo, int] | None] = field(default_factory=dict)
    fixed_by_call: dict[CallKey, str] = field(default_factory=dict)
    fixed_today: dict[_Combo, int] = field(default_factory=dict)
    fixed_intervals: dict[float, int] = field(default_factory=dict)


class _Accs:
    """A report's accumulators by (interval start, key)."""

    def __init__(self, from_ts: float, interval: int | None) -> None:
        self.from_ts = from_ts
        self.interval = interval
        self.slots: dict[tuple[float, str | None], _Acc] = {}

    def get(self, at: float, key: str | None) -> _Acc:
        slot = (kpi.interval_start(at, self.interval) if self.interval else self.from_ts, key)
        found = self.slots.get(slot)
        if found is None:
            found = self.slots[slot] = _Acc()
        return found


# Records read by a report between two returns to the event loop (~1-3 ms).
KPI_STEP = 2000


class CenterState:
    """Live state and KPI accumulators of the whole center, fed by `apply`."""

    def __init__(
        self,
        groups: Mapping[str, GroupConfig] | None = None,
        default_group: GroupConfig | None = None,
        dedupe_window: float | None = 6 * 3600.0,
    ) -> None:
        """`dedupe_window`: how far behind the horizon an event may arrive.

        Applied events are remembered for this long to drop duplicates; an
        event older than that is dropped as late (counted in `late`), since it
        can only be a replay whose original has been forgotten. None keeps
        every event forever (unbounded memory).
        """
        self._groups: dict[str, GroupConfig] = dict(groups or {})
        self._default = default_group or GroupConfig()
        self._dedupe_window = dedupe_window
        # The applied events' identities (`events.identity`: index 1 is `at`).
        self._seen: set[tuple[Any, ...]] = set()
        self._seen_pruned_at: float | None = None
        self._prune_every = float("inf") if dedupe_window is None else dedupe_window / 4
        self._calls: dict[CallKey, _Call] = {}
        self._waiting: dict[str, dict[str, float]] = {}
        self._seats: dict[str, _Seat] = {}
        self._by_caller: dict[str, tuple[tuple[float, str], ...]] = {}  # sorted
        self._surveys: list[SurveyRated] = []
        self.horizon: float | None = None
        """Latest event time applied: the reducer's notion of "now" for KPIs."""
        self.applied = 0
        self.duplicates = 0
        self.late = 0
        # Live sums, and what changed since they were last folded (see the docstring).
        self._live = _LiveSums()
        self._dirty_calls: dict[CallKey, _Call] = {}
        self._dirty_seats: dict[str, _Seat] = {}
        self._dirty_surveys: list[SurveyRated] = []
        self._surveys_by_call: dict[CallKey, list[SurveyRated]] = {}
        self._latest_start = float("-inf")  # latest join time of a call or time of a survey
        self._stamp = 0  # bumped whenever a seat settles (`seat_changes`)
        self._handlers: dict[type, Callable[[Any], None]] = {
            CallerJoined: self._on_joined,
            CallerAbandoned: self._on_abandoned,
            CallerExited: self._on_exited,
            CallerOverflowed: self._on_overflowed,
            CallerLeft: self._on_left,
            AgentCalled: self._on_agent_called,
            AgentRingNoAnswer: self._on_ring_no_answer,
            AgentDumped: self._on_dumped,
            AgentConnected: self._on_agent_connected,
            AgentCompleted: self._on_completed,
            MemberAdded: self._on_member_added,
            MemberRemoved: self._on_member_removed,
            MemberPaused: self._on_member_paused,
            MemberStatusChanged: self._on_member_status,
            SurveyRated: self._on_survey,
        }

    # -- feeding -----------------------------------------------------------

    def apply(self, event: DomainEvent) -> None:
        """Fold one event in; an exact duplicate of an applied event is ignored."""
        seen = self._seen
        known = len(seen)
        key = identity(event)
        seen.add(key)  # one hash of the key for both the test and the insert
        if len(seen) == known:
            self.duplicates += 1
            return
        at = event.at
        horizon = self.horizon
        if horizon is not None and at < horizon:
            window = self._dedupe_window
            if window is not None and at < horizon - window:
                seen.discard(key)
                self.late += 1
                return
        else:
            self.horizon = at
            pruned = self._seen_pruned_at
            if pruned is None or at - pruned >= self._prune_every:
                self._prune_seen()
        self.applied += 1
        self._handlers[type(event)](event)

    def _on_abandoned(self, event: CallerAbandoned) -> None:
        call = self._call(event.queue, event.uniqueid, event.at - event.hold_time)
        call.abandon_hold = event.hold_time
        self._stop_waiting(call)
        self._stop_ringing(call, event.at)

    def _on_exited(self, event: CallerExited) -> None:
        call = self._call(event.queue, event.uniqueid, event.at - event.hold_time)
        call.exit_hold = event.hold_time
        self._stop_waiting(call)
        self._stop_ringing(call, event.at)

    def _on_overflowed(self, event: CallerOverflowed) -> None:
        """An "abandon" that was the queue moving the caller on: an exit, same wait."""
        key = (event.queue, event.uniqueid)
        call = self._calls.get(key)
        if call is None or call.answered_at is not None:
            return  # refused on joining (no visit), or a stray event
        if call.exit_hold is None:
            call.exit_hold = call.abandon_hold if call.abandon_hold is not None else max(0.0, event.at - call.joined_at)
        call.abandon_hold = None
        self._dirty_calls[key] = call
        self._stop_waiting(call)

    def _on_left(self, event: CallerLeft) -> None:
        key = (event.queue, event.uniqueid)
        left = self._calls.get(key)
        if left is not None:
            left.left_at = event.at
            self._dirty_calls[key] = left
            self._stop_waiting(left)

    def _on_agent_called(self, event: AgentCalled) -> None:
        call = self._call(event.queue, event.uniqueid, event.at)
        _present(call, event.agent)
        seat = self._seat(event.agent, event.at)
        at = self._advance(seat, event.at)
        seat.memberships.add(event.queue)
        seat.wrapup_until = None  # ringing again: Asterisk considers wrap-up over
        seat.ringing.add((event.queue, event.uniqueid))
        self._settle(seat, at)

    def _on_ring_no_answer(self, event: AgentRingNoAnswer) -> None:
        call = self._call(event.queue, event.uniqueid, event.at)
        _present(call, event.agent)
        call.ring_no_answer[event.agent] = call.ring_no_answer.get(event.agent, 0) + 1
        self._seat_stops_ringing(event.agent, (event.queue, event.uniqueid), event.at)

    def _on_dumped(self, event: AgentDumped) -> None:
        call = self._call(event.queue, event.uniqueid, event.at)
        _present(call, event.agent)
        self._seat_stops_ringing(event.agent, (event.queue, event.uniqueid), event.at)

    def _on_agent_connected(self, event: AgentConnected) -> None:
        call = self._call(event.queue, event.uniqueid, event.at - event.hold_time)
        self._on_connected(call, event.agent, event.at, event.hold_time)

    def _on_member_added(self, event: MemberAdded) -> None:
        seat = self._seat(event.agent, event.at)
        at = self._advance(seat, event.at)
        seat.memberships.add(event.queue)
        seat.device_gone = False
        if event.paused:
            seat.paused_in[event.queue] = ""
        else:
            seat.paused_in.pop(event.queue, None)
        self._settle(seat, at)

    def _on_member_removed(self, event: MemberRemoved) -> None:
        seat = self._seat(event.agent, event.at)
        at = self._advance(seat, event.at)
        seat.memberships.discard(event.queue)
        seat.paused_in.pop(event.queue, None)
        self._settle(seat, at)

    def _on_member_paused(self, event: MemberPaused) -> None:
        seat = self._seat(event.agent, event.at)
        at = self._advance(seat, event.at)
        queues = [event.queue] if event.queue else sorted(seat.memberships)
        for queue in queues:
            seat.memberships.add(queue)
            if event.paused:
                seat.paused_in[queue] = event.reason
            else:
                seat.paused_in.pop(queue, None)
        self._settle(seat, at)

    def _on_member_status(self, event: MemberStatusChanged) -> None:
        seat = self._seat(event.agent, event.at)
        at = self._advance(seat, event.at)
        seat.memberships.add(event.queue)
        seat.device_gone = event.status in _DEVICE_GONE
        if event.paused:
            seat.paused_in[event.queue] = event.paused_reason
        else:
            seat.paused_in.pop(event.queue, None)
        if event.wrapup:
            seat.wrapup_override = float(event.wrapup)
        self._settle(seat, at)

    def _on_survey(self, event: SurveyRated) -> None:
        self._surveys.append(event)
        self._surveys_by_call.setdefault((event.queue, event.uniqueid), []).append(event)
        self._dirty_surveys.append(event)
        if event.at > self._latest_start:
            self._latest_start = event.at

    def _prune_seen(self) -> None:
        # Rebuilt every quarter window: amortised O(1) per event.
        window, horizon = self._dedupe_window, self.horizon
        if window is None or horizon is None:
            return
        if self._seen_pruned_at is None:
            self._seen_pruned_at = horizon
        elif horizon - self._seen_pruned_at >= window / 4:
            self._seen = {key for key in self._seen if key[1] >= horizon - window}
            self._seen_pruned_at = horizon

    def apply_all(self, events: Iterable[DomainEvent]) -> None:
        for event in events:
            self.apply(event)

    # -- calls ---------------------------------------------------------------

    def _call(self, queue: str, uniqueid: str, joined_guess: float) -> _Call:
        """The call's record; created from a later event when its join was missed."""
        key = (queue, uniqueid)
        call = self._calls.get(key)
        if call is None:
            call = _Call(queue, uniqueid, joined_guess, join_known=False)
            self._calls[key] = call
            if joined_guess > self._latest_start:
                self._latest_start = joined_guess
        self._dirty_calls[key] = call
        return call

    def _on_joined(self, event: CallerJoined) -> None:
        key = (event.queue, event.uniqueid)
        if event.at > self._latest_start:
            self._latest_start = event.at
        call = self._calls.get(key)
        if call is None:
            call = _Call(event.queue, event.uniqueid, event.at, join_known=True)
            self._calls[key] = call
        elif not call.join_known:
            # The join arrives after events that implied it: it knows the time best.
            self._unindex_caller(call)
            call.joined_at, call.join_known = event.at, True
        self._dirty_calls[key] = call
        # A second join for a known call (a QueueStatus resync) only fills gaps.
        call.caller_hash = call.caller_hash or event.caller_hash
        call.line = call.line or event.line
        call.tier = call.tier or event.tier
        call.language = call.language or event.language
        if call.priority is None:
            call.priority = event.priority
        self._index_caller(call)
        undecided = (call.answered_at, call.abandon_hold, call.exit_hold, call.left_at)
        if all(v is None for v in undecided):
            self._waiting.setdefault(call.queue, {})[call.uniqueid] = call.joined_at

    def _index_caller(self, call: _Call) -> None:
        """One (joined_at, uniqueid) entry per call record in its caller's sorted list."""
        if call.caller_hash is None or call.indexed:
            return
        entries = self._by_caller.get(call.caller_hash, ())
        entry = (call.joined_at, call.uniqueid)
        i = bisect.bisect_right(entries, entry)
        self._by_caller[call.caller_hash] = (*entries[:i], entry, *entries[i:])
        call.indexed = True

    def _unindex_caller(self, call: _Call) -> None:
        if call.caller_hash is None or not call.indexed:
            return
        entries = self._by_caller[call.caller_hash]
        i = bisect.bisect_left(entries, (call.joined_at, call.uniqueid))
        self._by_caller[call.caller_hash] = entries[:i] + entries[i + 1 :]
        call.indexed = False

    def _stop_waiting(self, call: _Call) -> None:
        self._waiting.get(call.queue, {}).pop(call.uniqueid, None)

    def _stop_ringing(self, call: _Call, at: float) -> None:
        # Abandon or answer elsewhere ends every seat's ringing for this call
        # (ringall): Asterisk sends no AgentRingNoAnswer for them.
        for agent in sorted(call.presented_to):
            self._seat_stops_ringing(agent, (call.queue, call.uniqueid), at)

    def _on_connected(self, call: _Call, agent: str, at: float, hold_time: float) -> None:
        if call.answered_at is None:
            call.answered_at, call.agent, call.hold_time = at, agent, hold_time
        _present(call, agent)
        self._stop_waiting(call)
        key = (call.queue, call.uniqueid)
        for other in sorted(other for other in call.presented_to if other != agent):
            self._seat_stops_ringing(other, key, at)
        seat = self._seat(agent, at)
        at = self._advance(seat, at)
        seat.memberships.add(call.queue)
        seat.ringing.discard(key)
        seat.wrapup_until = None
        seat.on_call = key
        self._settle(seat, at)

    def _on_completed(self, event: AgentCompleted) -> None:
        call = self._call(event.queue, event.uniqueid, event.at - event.talk_time - event.hold_time)
        if call.answered_at is None:  # the AgentConnect was missed
            self._on_connected(call, event.agent, event.at - event.talk_time, event.hold_time)
        call.completed_at, call.talk_time = event.at, event.talk_time
        seat = self._seat(event.agent, event.at)
        at = self._advance(seat, event.at)
        key = (event.queue, event.uniqueid)
        if seat.on_call == key:
            seat.on_call = None
            wrapup = seat.wrapup_override or self._group(event.queue).wrapup_seconds
            if wrapup > 0:
                seat.wrapup_until, seat.wrapup_call = at + wrapup, key
            else:
                call.wrapup_time = 0.0
        self._settle(seat, at)

    # -- seats ---------------------------------------------------------------

    def _seat(self, agent: str, at: float) -> _Seat:
        seat = self._seats.get(agent)
        if seat is None:
            seat = self._seats[agent] = _Seat(agent=agent, since=at)
        return seat

    def _advance(self, seat: _Seat, at: float) -> float:
        """Bring the seat up to `at` (expiring wrap-up); returns `at`, never before the
        seat's last change, so a late event cannot create a negative segment."""
        at = max(at, seat.since)
        if seat.wrapup_until is not None and seat.wrapup_until <= at:
            end = max(seat.wrapup_until, seat.since)
            seat.wrapup_until = None
            self._settle(seat, end)
        return at

    def _settle(self, seat: _Seat, at: float) -> None:
        # Every change to a seat ends here: mark it for the live group counts.
        self._stamp += 1
        seat.stamp = self._stamp
        self._dirty_seats[seat.agent] = seat
        new = seat.derive()
        if new is seat.state:
            return
        if at > seat.since:
            seat.segments.append((seat.since, at, _STATE_INDEX[seat.state]))
        if seat.state is SeatState.WRAP_UP and seat.wrapup_call is not None:
            done = self._calls.get(seat.wrapup_call)
            if done is not None:
                done.wrapup_time = at - seat.since
                self._dirty_calls[seat.wrapup_call] = done
            seat.wrapup_call = None
        seat.state, seat.since = new, at

    def _seat_stops_ringing(self, agent: str, key: CallKey, at: float) -> None:
        seat = self._seats.get(agent)
        if seat is None or key not in seat.ringing:
            return
        at = self._advance(seat, at)
        seat.ringing.discard(key)
        self._settle(seat, at)

    def _group(self, queue: str) -> GroupConfig:
        return self._groups.get(queue, self._default)

    # -- live state ------------------------------------------------------------

    def snapshot(self, now: float) -> CenterSnapshot:
        """Floor view at `now`: callers waiting and seat states per group."""
        agents = tuple(self._agent(name, self._seats[name], now) for name in sorted(self._seats))
        return CenterSnapshot(at=now, groups=self.floor(now), agents=agents)

    def agent_snapshot(self, agent: str, now: float) -> AgentSnapshot | None:
        """One seat of `snapshot(now)`, or None for a seat never seen."""
        seat = self._seats.get(agent)
        return None if seat is None else self._agent(agent, seat, now)

    @staticmethod
    def _agent(name: str, seat: _Seat, now: float) -> AgentSnapshot:
        since, state = seat.current(now)
        paused_reason = ""
        if state is SeatState.PAUSED:
            paused_reason = next((seat.paused_in[q] for q in sorted(seat.paused_in) if seat.paused_in[q]), "")
        return AgentSnapshot(
            agent=name,
            state=state,
            since=since,
            time_in_state=max(0.0, now - since),
            paused_reason=paused_reason,
            groups=tuple(sorted(seat.memberships)),
            call_uniqueid=seat.on_call[1] if seat.on_call else None,
        )

    def seat_changes(self, since_stamp: int) -> tuple[int, list[str]]:
        """Seats that changed after `since_stamp` (0: every seat), and the stamp to pass next.

        A seat whose wrap-up runs out without an event is not among them:
        `snapshot(now)` closes that wrap-up by `now`.
        """
        changed = [name for name, seat in self._seats.items() if seat.stamp > since_stamp]
        return self._stamp, changed

    def floor(self, now: float) -> tuple[GroupSnapshot, ...]:
        """The groups of `snapshot(now)`, from the live counts: no pass over the seats."""
        live = self._fold_seats()
        counts = {queue: list(row) for queue, row in live.groups.items()}
        if now >= live.floor_now:
            self._run_out(now)
            for queue, correction in live.ran_out_counts.items():
                # A seat may have left the queue since: its correction row is then zeros.
                _add(counts.setdefault(queue, [0] * len(_STATE_INDEX)), correction, 1)
        else:  # a look back in time: count them afresh
            wrap_up = _STATE_INDEX[SeatState.WRAP_UP]
            for name in live.wrapping:
                seat = self._seats[name]
                _, state = seat.current(now)
                if state is not SeatState.WRAP_UP:  # ran out by `now`: counted as what follows
                    for queue in seat.memberships:
                        counts[queue][wrap_up] -= 1
                        counts[queue][_STATE_INDEX[state]] += 1
        counts = {queue: row for queue, row in counts.items() if any(row)}
        zero = [0] * len(_STATE_INDEX)
        groups: list[GroupSnapshot] = []
        for queue in sorted(set(self._groups) | set(self._waiting) | set(counts)):
            waiting = self._waiting.get(queue, {})
            available, ringing, on_call, wrapping, paused, logged_out = (
                counts.get(queue, zero)[_STATE_INDEX[state]] for state in _FLOOR_ORDER
            )
            groups.append(
                GroupSnapshot(
                    group=queue,
                    waiting=len(waiting),
                    longest_wait=max((now - t for t in waiting.values()), default=0.0),
                    available=available,
                    ringing=ringing,
                    on_call=on_call,
                    wrap_up=wrapping,
                    paused=paused,
                    logged_out=logged_out,
                )
            )
        return tuple(groups)

    def _run_out(self, now: float) -> None:
        """Count the seats whose wrap-up has run out by `now` as what follows it."""
        live = self._live
        live.floor_now = now
        heap = live.wrapping_until
        while heap and heap[0][0] <= now:
            until, name = heapq.heappop(heap)
            seat = self._seats[name]
            if name not in live.wrapping or name in live.ran_out or seat.wrapup_until != until:
                continue  # changed since it was queued
            _, state = seat.current(now)
            memberships = seat.counted[0] if seat.counted is not None else ()
            self._correct_ran_out(memberships, state, 1)
            live.ran_out[name] = (state, memberships)

    def _correct_ran_out(self, memberships: tuple[str, ...], state: SeatState, sign: int) -> None:
        counts = self._live.ran_out_counts
        for queue in memberships:
            row = counts.get(queue)
            if row is None:
                row = counts[queue] = [0] * len(_STATE_INDEX)
            row[_STATE_INDEX[SeatState.WRAP_UP]] -= sign
            row[_STATE_INDEX[state]] += sign

    # -- live sums ---------------------------------------------------------------

    def today_counts(self, now: float, day_start: float, group_by: LiveCut = None) -> list[CallCounts]:
        """`CallCounts` of `kpis(day_start, now, group_by, interval=None)`, from the live sums.

        One row per key with calls or surveys in the window, ordered by key
        (the center total: always one row). Recomputed by `kpis()` instead
        when the sums cannot answer exactly: a call or survey not before
        `now` (a clock behind Asterisk's).
        """
        if self._latest_start >= now:
            rows = [CallCounts.of(row) for row in self.kpis(day_start, now, group_by, interval=None)]
            if group_by is None and not rows:
                rows = [_counts_row(day_start, now, None, None, [0] * 11)]
            return rows
        live = self._fold_calls(day_start)
        index = _CUT_INDEX.get(group_by)
        cells: dict[str | None, list[int]] = {}
        if group_by is None:
            cells[None] = [0] * 11
        for combo, cell in live.today.items():
            if cell[_OFFERED]:
                key = None if index is None else combo[index]
                found = cells.get(key)
                if found is None:
                    cells[key] = list(cell)
                else:
                    _add(found, cell, 1)
        if group_by is not None:
            for key, surveys in live.survey_keys.get(group_by, {}).items():
                if surveys and key not in cells:
                    cells[key] = [0] * 11
        for _, combo, wrapup in self._wrapups_running(day_start):
            cells[None if index is None else combo[index]][_WRAPUP] += wrapup
        for combo, wrapup in live.fixed_today.items():
            if wrapup:
                cells[None if index is None else combo[index]][_WRAPUP] += wrapup
        rows = [_counts_row(day_start, now, group_by, key, cell) for key, cell in cells.items()]
        rows.sort(key=lambda r: r.key or "")
        return rows

    def today_intervals(self, now: float, day_start: float) -> list[CallCounts]:
        """Center-total `CallCounts` per 15-minute interval of [day_start, now), empty ones too.

        The call fields of `kpis(day_start, now, None)`; recomputed by it when
        the live sums cannot answer exactly (see `today_counts`, and a day
        that does not start on an interval boundary).
        """
        step = kpi.INTERVAL_SECONDS
        if self._latest_start >= now or kpi.interval_start(day_start, step) != day_start:
            return [CallCounts.of(row) for row in self.kpis(day_start, now, None, interval=step)]
        live = self._fold_calls(day_start)
        running: dict[float, int] = {}
        for joined_at, _, wrapup in self._wrapups_running(day_start):
            interval = kpi.interval_start(joined_at, step)
            running[interval] = running.get(interval, 0) + wrapup
        for interval, wrapup in live.fixed_intervals.items():
            if wrapup:
                running[interval] = running.get(interval, 0) + wrapup
        zero = [0] * 11
        rows: list[CallCounts] = []
        start = day_start
        while start < now:
            cell = live.intervals.get(start, zero)
            if start in running:
                cell = list(cell)
                cell[_WRAPUP] += running[start]
            rows.append(_counts_row(start, start + step, None, None, cell))
            start += step
        return rows

    def _wrapups_running(self, day_start: float) -> Iterator[tuple[float, _Combo, int]]:
        """Wrap-up seconds so far (to the horizon) of today's calls whose wrap-up is not
        closed, as `kpis()` counts them (`_wrapup_of`). Those that have run out by the
        horizon no longer change: they move to the fixed sums instead."""
        live = self._fold_seats()
        horizon = self.horizon
        if horizon is None:
            return
        heap = live.wrapup_until
        while heap and heap[0][0] <= horizon:
            until, name = heapq.heappop(heap)
            seat = self._seats[name]
            if name in live.wrapup_fixed or name not in live.wrapup_open or seat.wrapup_until != until:
                continue  # changed since it was queued
            self._fix_wrapup(name, self._wrapup_so_far(name, seat, horizon))
        for name in live.wrapup_running:
            entry = self._wrapup_so_far(name, self._seats[name], horizon)
            if entry is not None and entry[1] >= day_start:
                yield entry[1], entry[2], entry[3]

    def _wrapup_so_far(self, name: str, seat: _Seat, horizon: float) -> tuple[CallKey, float, _Combo, int] | None:
        """(call, joined_at, combo, exact seconds) of the seat's open wrap-up, if `kpis()` counts it."""
        key = seat.wrapup_call
        if key is None:
            return None
        call = self._calls.get(key)
        if call is None or call.agent != name or call.wrapup_time is not None or call.live is None:
            return None
        joined_at, combo, vector = call.live
        if not vector[_HANDLED]:
            return None
        end = min(seat.wrapup_until or horizon, horizon)
        return key, joined_at, combo, _exact(max(0.0, end - seat.since))

    def _fix_wrapup(self, name: str, entry: tuple[CallKey, float, _Combo, int] | None) -> None:
        live = self._live
        live.wrapup_fixed[name] = entry
        live.wrapup_running.discard(name)
        if entry is not None:
            key, joined_at, combo, wrapup = entry
            live.fixed_by_call[key] = name
            self._put_fixed(joined_at, combo, wrapup)

    def _unfix_wrapup(self, name: str) -> None:
        live = self._live
        entry = live.wrapup_fixed.pop(name, None)
        if name in live.wrapup_open:
            live.wrapup_running.add(name)
        if entry is not None:
            key, joined_at, combo, wrapup = entry
            del live.fixed_by_call[key]
            self._put_fixed(joined_at, combo, -wrapup)

    def _put_fixed(self, joined_at: float, combo: _Combo, wrapup: int) -> None:
        live = self._live
        interval = kpi.interval_start(joined_at)
        live.fixed_intervals[interval] = live.fixed_intervals.get(interval, 0) + wrapup
        if live.day is not None and joined_at >= live.day:
            live.fixed_today[combo] = live.fixed_today.get(combo, 0) + wrapup

    def _fold_calls(self, day_start: float) -> _LiveSums:
        """Bring the call and survey sums up to date, for a window starting at `day_start`."""
        live = self._live
        if live.day != day_start:
            live.day = day_start
            live.today.clear()
            live.survey_keys.clear()
            live.fixed_today.clear()
            for entry in live.wrapup_fixed.values():
                if entry is not None and entry[1] >= day_start:
                    live.fixed_today[entry[2]] = live.fixed_today.get(entry[2], 0) + entry[3]
            for call in self._calls.values():
                if call.live is not None and call.live[0] >= day_start:
                    self._put_today(call.live, 1)
            for at, keys in live.survey_live.values():
                if at >= day_start:
                    self._put_survey_keys(keys, 1)
        dirty, self._dirty_calls = self._dirty_calls, {}
        surveys, self._dirty_surveys = self._dirty_surveys, []
        for key, call in dirty.items():
            new = self._contribution(call)
            if new != call.live:
                if call.live is not None:
                    self._put(call.live, -1)
                if new is not None:
                    self._put(new, 1)
                call.live = new
                surveys.extend(self._surveys_by_call.get(key, ()))
                seat_name = live.fixed_by_call.get(key)
                if seat_name is not None:  # its wrap-up seconds are filed under the old contribution
                    self._unfix_wrapup(seat_name)
                    self._queue_wrapup(seat_name, self._seats[seat_name])
        for survey in surveys:
            self._fold_survey(survey)
        return live

    def _contribution(self, call: _Call) -> _Contribution | None:
        """What `_count_call` adds for this call, without what depends on the horizon."""
        if self._calls.get((call.queue, call.uniqueid)) is not call:
            return None  # forgotten
        combo = (
            call.queue,
            call.line or _UNKNOWN_TAG,
            call.tier or _UNKNOWN_TAG,
            call.language or _UNKNOWN_TAG,
        )
        vector: _Vector
        if call.answered_at is not None and call.hold_time is not None:
            in_sl = int(kpi.answered_within(call.hold_time, self._group(call.queue).service_level_seconds))
            if call.talk_time is None:
                vector = (1, 1, 0, 0, 0, 0, in_sl, 0, _exact(call.hold_time), 0, 0)
            else:
                wrapup = 0 if call.wrapup_time is None else _exact(call.wrapup_time)
                vector = (1, 1, 0, 0, 0, 0, in_sl, 1, _exact(call.hold_time), _exact(call.talk_time), wrapup)
        elif call.exit_hold is not None:
            vector = _EXITED_VECTOR
        elif call.abandon_hold is not None or call.left_at is not None:
            hold = (
                call.abandon_hold
                if call.abandon_hold is not None
                else max(0.0, (call.left_at or call.joined_at) - call.joined_at)
            )
            vector = _SHORT_VECTOR if kpi.is_short_abandon(hold) else _ABANDONED_VECTOR
        else:
            vector = _WAITING_VECTOR
        return call.joined_at, combo, vector

    def _put(self, contribution: _Contribution, sign: int) -> None:
        joined_at, _, vector = contribution
        interval = kpi.interval_start(joined_at)
        cell = self._live.intervals.get(interval)
        if cell is None:
            cell = self._live.intervals[interval] = [0] * 11
        _add(cell, vector, sign)
        day = self._live.day
        if day is not None and joined_at >= day:
            self._put_today(contribution, sign)

    def _put_today(self, contribution: _Contribution, sign: int) -> None:
        _, combo, vector = contribution
        cell = self._live.today.get(combo)
        if cell is None:
            cell = self._live.today[combo] = [0] * 11
        _add(cell, vector, sign)

    def _fold_survey(self, survey: SurveyRated) -> None:
        live = self._live
        old = live.survey_live.get(id(survey))
        known = survey in self._surveys_by_call.get((survey.queue, survey.uniqueid), ())
        new = (survey.at, tuple(self._survey_cut(survey, cut) or "" for cut in _SURVEY_CUTS)) if known else None
        if new == old:
            return
        if old is not None:
            if live.day is not None and old[0] >= live.day:
                self._put_survey_keys(old[1], -1)
            del live.survey_live[id(survey)]
        if new is not None:
            if live.day is not None and new[0] >= live.day:
                self._put_survey_keys(new[1], 1)
            live.survey_live[id(survey)] = new

    def _put_survey_keys(self, keys: tuple[str, ...], sign: int) -> None:
        for cut, key in zip(_SURVEY_CUTS, keys, strict=True):
            counts = self._live.survey_keys.setdefault(cut, {})
            counts[key] = counts.get(key, 0) + sign

    def _fold_seats(self) -> _LiveSums:
        """Bring the seats-per-group-and-state counts up to date."""
        live = self._live
        dirty, self._dirty_seats = self._dirty_seats, {}
        for name, seat in dirty.items():
            ran_out = live.ran_out.pop(name, None)
            if ran_out is not None:
                self._correct_ran_out(ran_out[1], ran_out[0], -1)
            if name in live.wrapup_fixed:
                self._unfix_wrapup(name)
            new = (tuple(seat.memberships), seat.state)
            old = seat.counted
            if new[1] is SeatState.WRAP_UP and seat.wrapup_until is not None:
                heapq.heappush(live.wrapping_until, (seat.wrapup_until, name))
            if new == old:
                continue
            if old is not None:
                for queue in old[0]:
                    live.groups[queue][_STATE_INDEX[old[1]]] -= 1
            for queue in new[0]:
                row = live.groups.get(queue)
                if row is None:
                    row = live.groups[queue] = [0] * len(_STATE_INDEX)
                row[_STATE_INDEX[new[1]]] += 1
            seat.counted = new
            if new[1] is SeatState.WRAP_UP:
                live.wrapping.add(name)
            else:
                live.wrapping.discard(name)
        for name, seat in dirty.items():
            if seat.wrapup_call is None:
                live.wrapup_open.discard(name)
                live.wrapup_running.discard(name)
            else:
                live.wrapup_open.add(name)
                live.wrapup_running.add(name)  # unfixed above
                self._queue_wrapup(name, seat)
        return live

    def _queue_wrapup(self, name: str, seat: _Seat) -> None:
        if seat.wrapup_until:  # `_wrapup_so_far` runs to the horizon without one
            heapq.heappush(self._live.wrapup_until, (seat.wrapup_until, name))

    # -- KPIs ------------------------------------------------------------------

    def kpis(
        self,
        from_ts: float,
        to_ts: float,
        group_by: GroupBy = None,
        interval: int | None = kpi.INTERVAL_SECONDS,
        schedule: Schedule | None = None,
    ) -> list[KpiRow]:
        """KPI rows for calls that joined in [from_ts, to_ts), cut by `group_by`.

        With `interval` (seconds), one row per clock-aligned interval per key
        (keyed by interval start); with None, one row per key for the window.
        `group_by=None` gives the center total and, with an interval, a row for
        every interval even when empty.
        """
        rows: list[KpiRow] = []
        for step in self.kpi_steps(from_ts, to_ts, group_by, interval, schedule):
            if step is not None:
                rows = step
        return rows

    def kpi_steps(
        self,
        from_ts: float,
        to_ts: float,
        group_by: GroupBy = None,
        interval: int | None = kpi.INTERVAL_SECONDS,
        schedule: Schedule | None = None,
        chunk: int = KPI_STEP,
    ) -> Iterator[list[KpiRow] | None]:
        """`kpis` in slices: yields None after every `chunk` records read, then the rows.

        The service drives it from the event loop that also serves calls and
        yields to the loop at each None, so a report over a long day never
        stalls a call for longer than one slice. What it reads is a snapshot
        of the record lists taken at the start; events applied between slices
        update records already counted or not yet reached, as they would for
        a report started a moment later.
        """
        horizon = self.horizon if self.horizon is not None else to_ts
        accs = _Accs(from_ts, interval)
        calls = list(self._calls.values())
        for n, call in enumerate(calls, start=1):
            if n % chunk == 0:
                yield None
            if not from_ts <= call.joined_at < to_ts:
                continue
            if group_by == "agent":
                for agent in sorted(call.presented_to):
                    self._count_call(accs.get(call.joined_at, agent), call, horizon, agent)
            else:
                self._count_call(accs.get(call.joined_at, self._cut(call, group_by)), call, horizon)

        for n, survey in enumerate(list(self._surveys), start=1):
            if n % chunk == 0:
                yield None
            if from_ts <= survey.at < to_ts:
                a = accs.get(survey.at, self._survey_cut(survey, group_by))
                a.surveys += 1
                a.rating_total += survey.rating
                a.satisfied += kpi.is_satisfied(survey.rating)

        agent_time = group_by in (None, "agent")
        if agent_time:
            yield from self._count_seat_time(accs, from_ts, min(to_ts, horizon), interval, group_by == "agent", chunk)
            if schedule is not None:
                self._count_schedule(accs, schedule, from_ts, to_ts, group_by)

        if group_by is None and interval:
            start = kpi.interval_start(from_ts, interval)
            while start < to_ts:
                accs.get(start, None)
                start += interval

        rows = [
            a.finish(
                start,
                start + interval if interval else to_ts,
                group_by,
                key,
                agent_time,
            )
            for (start, key), a in accs.slots.items()
        ]
        rows.sort(key=lambda r: (r.start, r.key or ""))
        yield rows

    def today(self, now: float, utc_offset_seconds: int, group_by: GroupBy = None) -> list[KpiRow]:
        """One row per key for the local day so far."""
        return self.kpis(kpi.day_start(now, utc_offset_seconds), now, group_by, interval=None)

    def rolling(self, now: float, group_by: GroupBy = None, span: int = kpi.INTERVAL_SECONDS) -> list[KpiRow]:
        """One row per key for calls that joined in the last `span` seconds."""
        return self.kpis(now - span, now, group_by, interval=None)

    @staticmethod
    def _cut(call: _Call, group_by: GroupBy) -> str | None:
        if group_by is None:
            return None
        if group_by == "group":
            return call.queue
        if group_by == "line":
            return call.line or _UNKNOWN_TAG
        if group_by == "tier":
            return call.tier or _UNKNOWN_TAG
        if group_by == "language":
            return call.language or _UNKNOWN_TAG
        return call.agent

    def _survey_cut(self, survey: SurveyRated, group_by: GroupBy) -> str | None:
        call = self._calls.get((survey.queue, survey.uniqueid))
        if group_by == "agent":
            return survey.agent
        if group_by == "line" and call is None:
            return survey.line or _UNKNOWN_TAG
        if call is None and group_by == "group":
            return survey.queue
        if call is None:
            return None if group_by is None else _UNKNOWN_TAG
        return self._cut(call, group_by)

    def _count_call(self, a: _Acc, call: _Call, horizon: float, agent: str | None = None) -> None:
        a.offered += 1
        a.ring_no_answer += call.ring_no_answer.get(agent, 0) if agent else sum(call.ring_no_answer.values())
        if agent is not None and call.agent != agent:
            return  # presented to this agent, answered elsewhere or not at all
        if call.answered_at is not None and call.hold_time is not None:
            a.answered += 1
            a.hold_answered += _exact(call.hold_time)
            a.wait(call.hold_time)
            if kpi.answered_within(call.hold_time, self._group(call.queue).service_level_seconds):
                a.in_sl += 1
            if call.talk_time is not None:
                a.handled += 1
                a.talk += _exact(call.talk_time)
                a.wrapup += _exact(self._wrapup_of(call, horizon))
            self._count_fcr(a, call, horizon)
        elif call.exit_hold is not None:
            a.exited += 1
            a.wait(call.exit_hold)
        elif call.abandon_hold is not None or call.left_at is not None:
            # Left unanswered without an abandon event (missed while
            # disconnected): still an abandon, timed by the leave.
            hold = (
                call.abandon_hold
                if call.abandon_hold is not None
                else max(0.0, (call.left_at or call.joined_at) - call.joined_at)
            )
            if kpi.is_short_abandon(hold):
                a.short_abandoned += 1
            else:
                a.abandoned += 1
            a.wait(hold)
        else:
            a.waiting += 1
            a.wait(max(0.0, horizon - call.joined_at))

    def _wrapup_of(self, call: _Call, horizon: float) -> float:
        if call.wrapup_time is not None:
            return call.wrapup_time
        seat = self._seats.get(call.agent or "")
        if seat is None or seat.wrapup_call != (call.queue, call.uniqueid):
            return 0.0
        end = min(seat.wrapup_until or horizon, horizon)
        return max(0.0, end - seat.since)

    def _count_fcr(self, a: _Acc, call: _Call, horizon: float) -> None:
        if call.caller_hash is None or call.answered_at is None:
            return
        entries = self._by_caller.get(call.caller_hash, ())
        i = bisect.bisect_right(entries, (call.answered_at, "\uffff"))
        later = [at for at, uid in entries[i:] if uid != call.uniqueid]
        for n, window in enumerate(kpi.FCR_WINDOWS):
            if later and later[0] <= call.answered_at + window:
                a.fcr[n][1] += 1  # a repeat came within the window
            elif horizon >= call.answered_at + window:
                a.fcr[n][0] += 1  # window passed with no repeat
            else:
                a.fcr[n][2] += 1

    def _count_seat_time(
        self, accs: _Accs, lo: float, hi: float, interval: int | None, per_agent: bool, chunk: int
    ) -> Iterator[None]:
        """Seat-state seconds inside [lo, hi), split at interval boundaries; yields every `chunk` segments."""
        n = 0
        for name in sorted(self._seats):
            seat = self._seats.get(name)
            if seat is None:  # left between two slices
                continue
            for start, end, state in seat.timeline(max(hi, seat.since)):
                n += 1
                if n % chunk == 0:
                    yield None
                s, e = max(start, lo), min(end, hi)
                while s < e:
                    edge = min(e, kpi.interval_start(s, interval) + interval) if interval else e
                    accs.get(s, name if per_agent else None).add_seat_time(state, edge - s)
                    s = edge

    @staticmethod
    def _count_schedule(accs: _Accs, schedule: Schedule, from_ts: float, to_ts: float, group_by: GroupBy) -> None:
        for agent in sorted(schedule):
            for start, seconds in sorted(schedule[agent].items()):
                if from_ts <= start < to_ts:
                    a = accs.get(start, agent if group_by == "agent" else None)
                    a.scheduled = (a.scheduled or 0.0) + seconds

    # -- housekeeping ----------------------------------------------------------

    def forget_before(self, ts: float) -> None:
        """Drop what ended before `ts` (calls joined, segments, surveys, dedupe keys).

        Keep at least the longest FCR window plus the reporting horizon; a
        duplicate older than `ts` arriving later would then count again.
        """
        self._seen = {key for key in self._seen if key[1] >= ts}
        for key in [k for k, c in self._calls.items() if c.joined_at < ts]:
            call = self._calls[key]
            if call.uniqueid not in self._waiting.get(call.queue, {}):  # keep those waiting
                self._unindex_caller(call)
                del self._calls[key]
        for caller in [c for c, entries in self._by_caller.items() if not entries]:
            del self._by_caller[caller]
        for seat in self._seats.values():
            seat.segments = [s for s in seat.segments if s[1] >= ts]
        self._surveys = [s for s in self._surveys if s.at >= ts]
        kept = {id(s) for s in self._surveys}
        for key in list(self._surveys_by_call):
            left = [s for s in self._surveys_by_call[key] if id(s) in kept]
            if left:
                self._surveys_by_call[key] = left
            else:
                del self._surveys_by_call[key]
        # Rebuild the live sums from what is left, at the next live query.
        self._live = _LiveSums()
        for key, call in self._calls.items():
            call.live = None
            self._dirty_calls[key] = call
        for seat in self._seats.values():
            seat.counted = None
            self._dirty_seats[seat.agent] = seat
        self._dirty_surveys = list(self._surveys)
