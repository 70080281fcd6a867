"""State transitions: how each domain event changes the center's calls and seats.

`Transitions.apply(event)` drops an exact duplicate (by the event's
`identity`) or an event later than the dedupe window allows, then hands it to
the handler of its type. Handlers only change records (`records`) and mark
what they touched (`_dirty_calls`, `_dirty_seats`, `_dirty_surveys`, the
seat change `_stamp`) for the live sums (`sums`) to fold in later; they
compute no KPI. Wrap-up is the only seat state that ends without an event:
it is closed lazily (`_advance`), when the seat's next event arrives.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ..events import (
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
from .records import (
    STATE_INDEX,
    CallFacts,
    CallKey,
    CallRecord,
    GroupConfig,
    SeatRecord,
    SeatState,
)

FORGET_STEP = 86400.0  # seconds of event time between two `forget_before` with a `retention`

# Asterisk device states that mean the seat's phone is not there (logged out).
_DEVICE_GONE = frozenset({4, 5})  # AST_DEVICE_INVALID, AST_DEVICE_UNAVAILABLE


def _present(call: CallRecord, agent: str) -> None:
    if agent not in call.presented_to:
        call.presented_to = (*call.presented_to, agent)


class Transitions:
    """The center's calls and seats, and how each event changes them."""

    def __init__(
        self,
        groups: Mapping[str, GroupConfig] | None = None,
        default_group: GroupConfig | None = None,
        dedupe_window: float | None = 6 * 3600.0,
        retention: float | None = None,
    ) -> None:
        """`dedupe_window`: how far behind the horizon an event may arrive.

        Applied events are remembered for this long to drop duplicates; an
        event older than that is dropped as late (counted in `late`), since it
        can only be a replay whose original has been forgotten. None keeps
        every event forever (unbounded memory).

        `retention`: how long behind the horizon calls, seat segments and
        surveys are kept (`forget_before`), forgotten a `FORGET_STEP` (a day)
        at a time as the horizon moves on; None keeps them all (unbounded
        memory: a long-running service passes its look-back, `ivr serve` the
        8 days it recovers).
        """
        self._groups: dict[str, GroupConfig] = dict(groups or {})
        self._default = default_group or GroupConfig()
        self._dedupe_window = dedupe_window
        # The applied events' identities (`events.identity`: index 1 is `at`).
        self._seen: set[tuple[Any, ...]] = set()
        self._seen_pruned_at: float | None = None
        self._prune_every = float("inf") if dedupe_window is None else dedupe_window / 4
        self._retention = retention
        self._forgotten_to: float | None = None  # the last `forget_before` cut, or where forgetting starts
        self._calls: dict[CallKey, CallRecord] = {}
        self._waiting: dict[str, dict[str, float]] = {}
        self._seats: dict[str, SeatRecord] = {}
        self._by_caller: dict[str, tuple[tuple[float, str], ...]] = {}  # sorted
        self._surveys: list[SurveyRated] = []
        self.horizon: float | None = None
        """Latest event time applied: the reducer's notion of "now" for KPIs."""
        self.applied = 0
        self.duplicates = 0
        self.late = 0
        self._backfilling = False
        # What changed since the live sums last folded it in (`sums`).
        self._dirty_calls: dict[CallKey, CallRecord] = {}
        self._dirty_seats: dict[str, SeatRecord] = {}
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
            if self._retention is not None:
                self._forget_old(at - self._retention)
        self.applied += 1
        self._handlers[type(event)](event)

    def backfill(self, event: DomainEvent) -> bool:
        """Fold in an event the live feed missed (caught up from queue_log, late).

        As `apply`, except that it only completes the call's record and never
        takes a seat over: a late AgentConnected does not put its agent on
        that call now (the seat's live state came after it); a late
        AgentCompleted still ends the call the seat is shown on. True if it
        was applied (not a duplicate, not too late).
        """
        applied = self.applied
        self._backfilling = True
        try:
            self.apply(event)
        finally:
            self._backfilling = False
        return self.applied != applied

    def call_facts(self, queue: str, uniqueid: str) -> CallFacts | None:
        """What is known of the call's visit to `queue`; None if nothing is."""
        call = self._calls.get((queue, uniqueid))
        if call is None:
            return None
        return CallFacts(
            join_known=call.join_known,
            tagged=bool(call.line),
            answered=call.answered_at is not None,
            completed=call.completed_at is not None,
            ended_unanswered=call.abandon_hold is not None or call.exit_hold is not None,
            ring_no_answer=dict(call.ring_no_answer),
            surveys=len(self._surveys_by_call.get((queue, uniqueid), ())),
        )

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
        seat.device_gone = event.status is not None and event.status in _DEVICE_GONE
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
        rated = self._surveys_by_call.get((event.queue, event.uniqueid), ())
        if any(s.agent == event.agent and s.rating == event.rating for s in rated):
            # A call is rated once per agent: the same rating from the other
            # source (AMI's UserEvent, queue_log's SURVEY line) is this one again.
            self.duplicates += 1
            return
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

    def _forget_old(self, cut: float) -> None:
        # A day at a time: `forget_before` walks every record and the live sums are rebuilt after it.
        if self._forgotten_to is None:
            self._forgotten_to = cut
        elif cut - self._forgotten_to >= FORGET_STEP:
            self._forgotten_to = cut
            self.forget_before(cut)

    def apply_all(self, events: Iterable[DomainEvent]) -> None:
        for event in events:
            self.apply(event)

    # -- calls ---------------------------------------------------------------

    def _call(self, queue: str, uniqueid: str, joined_guess: float) -> CallRecord:
        """The call's record; created from a later event when its join was missed."""
        key = (queue, uniqueid)
        call = self._calls.get(key)
        if call is None:
            call = CallRecord(queue, uniqueid, joined_guess, join_known=False)
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
            call = CallRecord(event.queue, event.uniqueid, event.at, join_known=True)
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

    def _index_caller(self, call: CallRecord) -> None:
        """One (joined_at, uniqueid) entry per call record in its caller's sorted list."""
        if call.caller_hash is None or call.indexed:
            return
        entries = self._by_caller.get(call.caller_hash, ())
        entry = (call.joined_at, call.uniqueid)
        i = bisect.bisect_right(entries, entry)
        self._by_caller[call.caller_hash] = (*entries[:i], entry, *entries[i:])
        call.indexed = True

    def _unindex_caller(self, call: CallRecord) -> None:
        if call.caller_hash is None or not call.indexed:
            return
        entries = self._by_caller[call.caller_hash]
        i = bisect.bisect_left(entries, (call.joined_at, call.uniqueid))
        self._by_caller[call.caller_hash] = entries[:i] + entries[i + 1 :]
        call.indexed = False

    def _stop_waiting(self, call: CallRecord) -> None:
        self._waiting.get(call.queue, {}).pop(call.uniqueid, None)

    def _stop_ringing(self, call: CallRecord, at: float) -> None:
        # Abandon or answer elsewhere ends every seat's ringing for this call
        # (ringall): Asterisk sends no AgentRingNoAnswer for them.
        for agent in sorted(call.presented_to):
            self._seat_stops_ringing(agent, (call.queue, call.uniqueid), at)

    def _on_connected(self, call: CallRecord, agent: str, at: float, hold_time: float) -> None:
        if call.answered_at is None:
            call.answered_at, call.agent, call.hold_time = at, agent, hold_time
        _present(call, agent)
        self._stop_waiting(call)
        key = (call.queue, call.uniqueid)
        for other in sorted(other for other in call.presented_to if other != agent):
            self._seat_stops_ringing(other, key, at)
        if self._backfilling:  # late: the seat's live state is newer than this
            self._seat_stops_ringing(agent, key, at)
            return
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

    def _seat(self, agent: str, at: float) -> SeatRecord:
        seat = self._seats.get(agent)
        if seat is None:
            seat = self._seats[agent] = SeatRecord(agent=agent, since=at)
        return seat

    def _advance(self, seat: SeatRecord, at: float) -> float:
        """Bring the seat up to `at` (expiring wrap-up); returns `at`, never before the
        seat's last change, so a late event cannot create a negative segment."""
        at = max(at, seat.since)
        if seat.wrapup_until is not None and seat.wrapup_until <= at:
            end = max(seat.wrapup_until, seat.since)
            seat.wrapup_until = None
            self._settle(seat, end)
        return at

    def _settle(self, seat: SeatRecord, at: float) -> None:
        # Every change to a seat ends here: mark it for the live group counts.
        self._stamp += 1
        seat.stamp = self._stamp
        self._dirty_seats[seat.agent] = seat
        new = seat.derive()
        if new is seat.state:
            return
        if at > seat.since:
            seat.segments.append((seat.since, at, STATE_INDEX[seat.state]))
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
