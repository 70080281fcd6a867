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

Idempotence: events are frozen dataclasses, so an event equal to one already
applied (same type, uniqueid, `at` and fields) is a duplicate and is dropped,
whenever it arrives. Replaying the same events, in any chunking, with any
duplicates injected, gives the same numbers.

Determinism: nothing reads the clock. "Now" for queries is either passed in
(`snapshot(now)`) or is the *horizon*, the latest event time applied: a call
still waiting has waited `horizon - joined_at`, an open state segment runs to
the horizon, and FCR windows are decided against the horizon.

KPI definitions live in `kpi.py`; this module only counts and sums.
"""

from __future__ import annotations

import bisect
import dataclasses
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

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
    DomainEvent,
    MemberAdded,
    MemberPaused,
    MemberRemoved,
    MemberStatusChanged,
    SurveyRated,
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


@dataclass(slots=True)
class _Call:
    queue: str
    uniqueid: str
    joined_at: float
    join_known: bool
    caller_hash: str | None = None
    line: str = ""
    tier: str = ""
    language: str = ""
    priority: int | None = None
    presented_to: set[str] = field(default_factory=set)
    ring_no_answer: dict[str, int] = field(default_factory=dict)
    answered_at: float | None = None
    agent: str | None = None
    hold_time: float | None = None
    completed_at: float | None = None
    talk_time: float | None = None
    wrapup_time: float | None = None
    abandon_hold: float | None = None
    exit_hold: float | None = None
    left_at: float | None = None
    indexed: bool = False  # present in the caller index (for FCR)


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
    segments: list[tuple[float, float, SeatState]] = field(default_factory=list)

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
        if (
            self.state is SeatState.WRAP_UP
            and self.wrapup_until is not None
            and self.wrapup_until <= now
        ):
            return self.wrapup_until, self.derive(ignore_wrapup=True)
        return self.since, self.state

    def timeline(self, until: float) -> Iterator[tuple[float, float, SeatState]]:
        """Closed segments, then the open one up to `until`, wrap-up expiry included."""
        yield from self.segments
        if (
            self.state is SeatState.WRAP_UP
            and self.wrapup_until is not None
            and self.wrapup_until < until
        ):
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
    hold_answered: float = 0.0
    handled: int = 0
    talk: float = 0.0
    wrapup: float = 0.0
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

    def finish(
        self, start: float, end: float, group_by: GroupBy, key: str | None, agent_time: bool
    ) -> KpiRow:
        per_agent = group_by == "agent"
        (r24, x24, p24), (r7, x7, p7) = self.fcr[0], self.fcr[1]
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
            abandon_rate=None
            if per_agent
            else kpi.abandon_rate(self.abandoned, self.offered, self.short_abandoned),
            service_level=None
            if per_agent
            else kpi.service_level(self.in_sl, self.offered, self.short_abandoned),
            asa=kpi.average_speed_of_answer(self.hold_answered, self.answered),
            average_talk_time=kpi.average_talk_time(self.talk, self.handled),
            aht=kpi.average_handle_time(self.talk, self.wrapup, self.handled),
            longest_wait=self.longest_wait,
            talk_seconds=self.talk,
            wrapup_seconds=self.wrapup,
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


_AccFactory = Callable[[float, str | None], _Acc]


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
        self._seen: set[DomainEvent] = set()
        self._seen_pruned_at: float | None = None
        self._calls: dict[CallKey, _Call] = {}
        self._waiting: dict[str, dict[str, float]] = {}
        self._seats: dict[str, _Seat] = {}
        self._by_caller: dict[str, list[tuple[float, str]]] = {}
        self._surveys: list[SurveyRated] = []
        self.horizon: float | None = None
        """Latest event time applied: the reducer's notion of "now" for KPIs."""
        self.applied = 0
        self.duplicates = 0
        self.late = 0

    # -- feeding -----------------------------------------------------------

    def apply(self, event: DomainEvent) -> None:
        """Fold one event in; an exact duplicate of an applied event is ignored."""
        if event in self._seen:
            self.duplicates += 1
            return
        window = self._dedupe_window
        if window is not None and self.horizon is not None and event.at < self.horizon - window:
            self.late += 1
            return
        self._seen.add(event)
        self.applied += 1
        if self.horizon is None or event.at > self.horizon:
            self.horizon = event.at
            self._prune_seen()
        match event:
            case CallerJoined():
                self._on_joined(event)
            case CallerAbandoned():
                call = self._call(event.queue, event.uniqueid, event.at - event.hold_time)
                call.abandon_hold = event.hold_time
                self._stop_waiting(call)
                self._stop_ringing(call, event.at)
            case CallerExited():
                call = self._call(event.queue, event.uniqueid, event.at - event.hold_time)
                call.exit_hold = event.hold_time
                self._stop_waiting(call)
                self._stop_ringing(call, event.at)
            case CallerLeft():
                left = self._calls.get((event.queue, event.uniqueid))
                if left is not None:
                    left.left_at = event.at
                    self._stop_waiting(left)
            case AgentCalled():
                call = self._call(event.queue, event.uniqueid, event.at)
                call.presented_to.add(event.agent)
                seat = self._seat(event.agent, event.at)
                at = self._advance(seat, event.at)
                seat.memberships.add(event.queue)
                seat.wrapup_until = None  # ringing again: Asterisk considers wrap-up over
                seat.ringing.add((event.queue, event.uniqueid))
                self._settle(seat, at)
            case AgentRingNoAnswer():
                call = self._call(event.queue, event.uniqueid, event.at)
                call.presented_to.add(event.agent)
                call.ring_no_answer[event.agent] = call.ring_no_answer.get(event.agent, 0) + 1
                self._seat_stops_ringing(event.agent, (event.queue, event.uniqueid), event.at)
            case AgentDumped():
                call = self._call(event.queue, event.uniqueid, event.at)
                call.presented_to.add(event.agent)
                self._seat_stops_ringing(event.agent, (event.queue, event.uniqueid), event.at)
            case AgentConnected():
                call = self._call(event.queue, event.uniqueid, event.at - event.hold_time)
                self._on_connected(call, event.agent, event.at, event.hold_time)
            case AgentCompleted():
                self._on_completed(event)
            case MemberAdded():
                seat = self._seat(event.agent, event.at)
                at = self._advance(seat, event.at)
                seat.memberships.add(event.queue)
                seat.device_gone = False
                if event.paused:
                    seat.paused_in[event.queue] = ""
                else:
                    seat.paused_in.pop(event.queue, None)
                self._settle(seat, at)
            case MemberRemoved():
                seat = self._seat(event.agent, event.at)
                at = self._advance(seat, event.at)
                seat.memberships.discard(event.queue)
                seat.paused_in.pop(event.queue, None)
                self._settle(seat, at)
            case MemberPaused():
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
            case MemberStatusChanged():
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
            case SurveyRated():
                self._surveys.append(event)

    def _prune_seen(self) -> None:
        # Rebuilt every quarter window: amortised O(1) per event.
        window, horizon = self._dedupe_window, self.horizon
        if window is None or horizon is None:
            return
        if self._seen_pruned_at is None:
            self._seen_pruned_at = horizon
        elif horizon - self._seen_pruned_at >= window / 4:
            self._seen = {e for e in self._seen if e.at >= horizon - window}
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
            call = _Call(queue=queue, uniqueid=uniqueid, joined_at=joined_guess, join_known=False)
            self._calls[key] = call
        return call

    def _on_joined(self, event: CallerJoined) -> None:
        key = (event.queue, event.uniqueid)
        call = self._calls.get(key)
        if call is None:
            call = _Call(
                queue=event.queue, uniqueid=event.uniqueid, joined_at=event.at, join_known=True
            )
            self._calls[key] = call
        elif not call.join_known:
            # The join arrives after events that implied it: it knows the time best.
            self._unindex_caller(call)
            call.joined_at, call.join_known = event.at, True
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
        entries = self._by_caller.setdefault(call.caller_hash, [])
        bisect.insort(entries, (call.joined_at, call.uniqueid))
        call.indexed = True

    def _unindex_caller(self, call: _Call) -> None:
        if call.caller_hash is None or not call.indexed:
            return
        entries = self._by_caller[call.caller_hash]
        i = bisect.bisect_left(entries, (call.joined_at, call.uniqueid))
        del entries[i]
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
        call.presented_to.add(agent)
        self._stop_waiting(call)
        key = (call.queue, call.uniqueid)
        for other in sorted(call.presented_to - {agent}):
            self._seat_stops_ringing(other, key, at)
        seat = self._seat(agent, at)
        at = self._advance(seat, at)
        seat.memberships.add(call.queue)
        seat.ringing.discard(key)
        seat.wrapup_until = None
        seat.on_call = key
        self._settle(seat, at)

    def _on_completed(self, event: AgentCompleted) -> None:
        call = self._call(
            event.queue, event.uniqueid, event.at - event.talk_time - event.hold_time
        )
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
        new = seat.derive()
        if new is seat.state:
            return
        if at > seat.since:
            seat.segments.append((seat.since, at, seat.state))
        if seat.state is SeatState.WRAP_UP and seat.wrapup_call is not None:
            done = self._calls.get(seat.wrapup_call)
            if done is not None:
                done.wrapup_time = at - seat.since
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
        agents: list[AgentSnapshot] = []
        for name in sorted(self._seats):
            seat = self._seats[name]
            since, state = seat.current(now)
            paused_reason = next(
                (seat.paused_in[q] for q in sorted(seat.paused_in) if seat.paused_in[q]), ""
            )
            agents.append(
                AgentSnapshot(
                    agent=name,
                    state=state,
                    since=since,
                    time_in_state=max(0.0, now - since),
                    paused_reason=paused_reason if state is SeatState.PAUSED else "",
                    groups=tuple(sorted(seat.memberships)),
                    call_uniqueid=seat.on_call[1] if seat.on_call else None,
                )
            )
        member_of = {q for a in agents for q in a.groups}
        queues = sorted(set(self._groups) | set(self._waiting) | member_of)
        groups: list[GroupSnapshot] = []
        for queue in queues:
            waiting = self._waiting.get(queue, {})
            members = [a for a in agents if queue in a.groups]

            def count(state: SeatState, members: list[AgentSnapshot] = members) -> int:
                return sum(1 for a in members if a.state is state)

            groups.append(
                GroupSnapshot(
                    group=queue,
                    waiting=len(waiting),
                    longest_wait=max((now - t for t in waiting.values()), default=0.0),
                    available=count(SeatState.AVAILABLE),
                    ringing=count(SeatState.RINGING),
                    on_call=count(SeatState.ON_CALL),
                    wrap_up=count(SeatState.WRAP_UP),
                    paused=count(SeatState.PAUSED),
                    logged_out=count(SeatState.LOGGED_OUT),
                )
            )
        return CenterSnapshot(at=now, groups=tuple(groups), agents=tuple(agents))

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
        horizon = self.horizon if self.horizon is not None else to_ts
        accs: dict[tuple[float, str | None], _Acc] = {}

        def bucket(at: float) -> float:
            return kpi.interval_start(at, interval) if interval else from_ts

        def acc(at: float, key: str | None) -> _Acc:
            slot = (bucket(at), key)
            found = accs.get(slot)
            if found is None:
                found = accs[slot] = _Acc()
            return found

        for call in self._calls.values():
            if not from_ts <= call.joined_at < to_ts:
                continue
            if group_by == "agent":
                for agent in sorted(call.presented_to):
                    self._count_call(acc(call.joined_at, agent), call, horizon, agent)
            else:
                self._count_call(acc(call.joined_at, self._cut(call, group_by)), call, horizon)

        for survey in self._surveys:
            if from_ts <= survey.at < to_ts:
                a = acc(survey.at, self._survey_cut(survey, group_by))
                a.surveys += 1
                a.rating_total += survey.rating
                a.satisfied += kpi.is_satisfied(survey.rating)

        agent_time = group_by in (None, "agent")
        if agent_time:
            self._count_seat_time(acc, from_ts, min(to_ts, horizon), interval, group_by == "agent")
            if schedule is not None:
                self._count_schedule(acc, schedule, from_ts, to_ts, group_by)

        if group_by is None and interval:
            start = kpi.interval_start(from_ts, interval)
            while start < to_ts:
                accs.setdefault((start, None), _Acc())
                start += interval

        rows = [
            a.finish(
                start,
                start + interval if interval else to_ts,
                group_by,
                key,
                agent_time,
            )
            for (start, key), a in accs.items()
        ]
        rows.sort(key=lambda r: (r.start, r.key or ""))
        return rows

    def today(
        self, now: float, utc_offset_seconds: int, group_by: GroupBy = None
    ) -> list[KpiRow]:
        """One row per key for the local day so far."""
        return self.kpis(kpi.day_start(now, utc_offset_seconds), now, group_by, interval=None)

    def rolling(
        self, now: float, group_by: GroupBy = None, span: int = kpi.INTERVAL_SECONDS
    ) -> list[KpiRow]:
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
        a.ring_no_answer += (
            call.ring_no_answer.get(agent, 0) if agent else sum(call.ring_no_answer.values())
        )
        if agent is not None and call.agent != agent:
            return  # presented to this agent, answered elsewhere or not at all
        if call.answered_at is not None and call.hold_time is not None:
            a.answered += 1
            a.hold_answered += call.hold_time
            a.wait(call.hold_time)
            if kpi.answered_within(call.hold_time, self._group(call.queue).service_level_seconds):
                a.in_sl += 1
            if call.talk_time is not None:
                a.handled += 1
                a.talk += call.talk_time
                a.wrapup += self._wrapup_of(call, horizon)
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
        entries = self._by_caller.get(call.caller_hash, [])
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
        self, acc: _AccFactory, lo: float, hi: float, interval: int | None, per_agent: bool
    ) -> None:
        """Seat-state seconds inside [lo, hi), split at interval boundaries."""
        for name in sorted(self._seats):
            seat = self._seats[name]
            for start, end, state in seat.timeline(max(hi, seat.since)):
                s, e = max(start, lo), min(end, hi)
                while s < e:
                    edge = min(e, kpi.interval_start(s, interval) + interval) if interval else e
                    acc(s, name if per_agent else None).add_seat_time(state, edge - s)
                    s = edge

    @staticmethod
    def _count_schedule(
        acc: _AccFactory, schedule: Schedule, from_ts: float, to_ts: float, group_by: GroupBy
    ) -> None:
        for agent in sorted(schedule):
            for start, seconds in sorted(schedule[agent].items()):
                if from_ts <= start < to_ts:
                    a = acc(start, agent if group_by == "agent" else None)
                    a.scheduled = (a.scheduled or 0.0) + seconds

    # -- housekeeping ----------------------------------------------------------

    def forget_before(self, ts: float) -> None:
        """Drop what ended before `ts` (calls joined, segments, surveys, dedupe keys).

        Keep at least the longest FCR window plus the reporting horizon; a
        duplicate older than `ts` arriving later would then count again.
        """
        self._seen = {e for e in self._seen if e.at >= ts}
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
