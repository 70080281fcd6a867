"""Live sums: what the live views read, kept up to date instead of recomputed.

`kpis()` passes over every call it reports on, which is fine for a report
but not for a wallboard refreshed ten times a second on a day of 100,000
calls. So `CenterState` also keeps what the live views read (today's call
counts and call KPIs per cut, the 15-minute chart, seats per group and
state) as sums it updates instead of recomputing. Each call's contribution
(its counts, keyed by join time and tags) is stored on it; an event only
marks the call (or seat) it touched (`transitions`), and the next live
query folds the marked ones in: take the stored contribution out, put the
current one in. A call touched five times between two queries is folded
once. What depends on "now" (waits, a wrap-up still running or run out) is
added at query time from the few calls and seats it concerns. Seconds are
summed as exact integers, here and in `kpis()`, so both give the same
floats whatever the order of the calls; tests check that `today_counts`,
`today_intervals` and `floor` equal what `kpis()` and `snapshot()`
compute from scratch.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from .. import kpi
from ..events import SurveyRated
from .records import (
    STATE_INDEX,
    UNKNOWN_TAG,
    AgentSnapshot,
    CallCounts,
    CallKey,
    CallRecord,
    CenterSnapshot,
    Combo,
    Contribution,
    GroupBy,
    GroupConfig,
    GroupSnapshot,
    LiveCut,
    SeatRecord,
    SeatState,
    Vector,
    from_exact,
    to_exact,
)
from .reports import Reports

# The counts vector of a contribution, by index:
_OFFERED, _ANSWERED, _ABANDONED, _SHORT, _EXITED, _WAITING, _IN_SL, _HANDLED, _HOLD, _TALK, _WRAPUP = range(11)
_WAITING_VECTOR: Vector = (1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0)
_EXITED_VECTOR: Vector = (1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0)
_ABANDONED_VECTOR: Vector = (1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0)
_SHORT_VECTOR: Vector = (1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0)
_CUT_INDEX: dict[LiveCut, int] = {"group": 0, "line": 1, "tier": 2, "language": 3}
_SURVEY_CUTS: tuple[LiveCut, ...] = ("group", "line", "tier", "language")
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


def _counts_row(start: float, end: float, group_by: GroupBy, key: str | None, cell: Iterable[int]) -> CallCounts:
    offered, answered, abandoned, short, exited, waiting, in_sl, handled, hold, talk, wrapup = cell
    talk_s, wrapup_s = from_exact(talk), from_exact(wrapup)
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
        asa=kpi.average_speed_of_answer(from_exact(hold), answered),
        average_talk_time=kpi.average_talk_time(talk_s, handled),
        aht=kpi.average_handle_time(talk_s, wrapup_s, handled),
        talk_seconds=talk_s,
        wrapup_seconds=wrapup_s,
    )


@dataclass(slots=True)
class _LiveSums:
    """The live sums (see the module docstring); `day` is the window start of `today`."""

    day: float | None = None
    today: dict[Combo, list[int]] = field(default_factory=dict)
    intervals: dict[float, list[int]] = field(default_factory=dict)
    # Per cut, how many surveys of today name each key (a key can have surveys only).
    survey_keys: dict[LiveCut, dict[str, int]] = field(default_factory=dict)
    survey_live: dict[int, tuple[float, tuple[str, ...]]] = field(default_factory=dict)
    # Seats per group per state (`STATE_INDEX`), by the state each seat last settled in.
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
    wrapup_fixed: dict[str, tuple[CallKey, float, Combo, int] | None] = field(default_factory=dict)
    fixed_by_call: dict[CallKey, str] = field(default_factory=dict)
    fixed_today: dict[Combo, int] = field(default_factory=dict)
    fixed_intervals: dict[float, int] = field(default_factory=dict)


class CenterState(Reports):
    """Live state, live sums and KPI reports of the whole center, fed by `apply`."""

    def __init__(
        self,
        groups: Mapping[str, GroupConfig] | None = None,
        default_group: GroupConfig | None = None,
        dedupe_window: float | None = 6 * 3600.0,
        retention: float | None = None,
    ) -> None:
        super().__init__(groups, default_group, dedupe_window, retention)
        self._live = _LiveSums()

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
    def _agent(name: str, seat: SeatRecord, now: float) -> AgentSnapshot:
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
                _add(counts.setdefault(queue, [0] * len(STATE_INDEX)), correction, 1)
        else:  # a look back in time: count them afresh
            wrap_up = STATE_INDEX[SeatState.WRAP_UP]
            for name in live.wrapping:
                seat = self._seats[name]
                _, state = seat.current(now)
                if state is not SeatState.WRAP_UP:  # ran out by `now`: counted as what follows
                    for queue in seat.memberships:
                        counts[queue][wrap_up] -= 1
                        counts[queue][STATE_INDEX[state]] += 1
        counts = {queue: row for queue, row in counts.items() if any(row)}
        zero = [0] * len(STATE_INDEX)
        groups: list[GroupSnapshot] = []
        for queue in sorted(set(self._groups) | set(self._waiting) | set(counts)):
            waiting = self._waiting.get(queue, {})
            available, ringing, on_call, wrapping, paused, logged_out = (
                counts.get(queue, zero)[STATE_INDEX[state]] for state in _FLOOR_ORDER
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
                row = counts[queue] = [0] * len(STATE_INDEX)
            row[STATE_INDEX[SeatState.WRAP_UP]] -= sign
            row[STATE_INDEX[state]] += sign

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

    def _wrapups_running(self, day_start: float) -> Iterator[tuple[float, Combo, int]]:
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

    def _wrapup_so_far(self, name: str, seat: SeatRecord, horizon: float) -> tuple[CallKey, float, Combo, int] | None:
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
        return key, joined_at, combo, to_exact(max(0.0, end - seat.since))

    def _fix_wrapup(self, name: str, entry: tuple[CallKey, float, Combo, int] | None) -> None:
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

    def _put_fixed(self, joined_at: float, combo: Combo, wrapup: int) -> None:
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

    def _contribution(self, call: CallRecord) -> Contribution | None:
        """What `_count_call` adds for this call, without what depends on the horizon."""
        if self._calls.get((call.queue, call.uniqueid)) is not call:
            return None  # forgotten
        combo = (
            call.queue,
            call.line or UNKNOWN_TAG,
            call.tier or UNKNOWN_TAG,
            call.language or UNKNOWN_TAG,
        )
        vector: Vector
        if call.answered_at is not None and call.hold_time is not None:
            in_sl = int(kpi.answered_within(call.hold_time, self._group(call.queue).service_level_seconds))
            if call.talk_time is None:
                vector = (1, 1, 0, 0, 0, 0, in_sl, 0, to_exact(call.hold_time), 0, 0)
            else:
                wrapup = 0 if call.wrapup_time is None else to_exact(call.wrapup_time)
                vector = (1, 1, 0, 0, 0, 0, in_sl, 1, to_exact(call.hold_time), to_exact(call.talk_time), wrapup)
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

    def _put(self, contribution: Contribution, sign: int) -> None:
        joined_at, _, vector = contribution
        interval = kpi.interval_start(joined_at)
        cell = self._live.intervals.get(interval)
        if cell is None:
            cell = self._live.intervals[interval] = [0] * 11
        _add(cell, vector, sign)
        day = self._live.day
        if day is not None and joined_at >= day:
            self._put_today(contribution, sign)

    def _put_today(self, contribution: Contribution, sign: int) -> None:
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
                    live.groups[queue][STATE_INDEX[old[1]]] -= 1
            for queue in new[0]:
                row = live.groups.get(queue)
                if row is None:
                    row = live.groups[queue] = [0] * len(STATE_INDEX)
                row[STATE_INDEX[new[1]]] += 1
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

    def _queue_wrapup(self, name: str, seat: SeatRecord) -> None:
        if seat.wrapup_until:  # `_wrapup_so_far` runs to the horizon without one
            heapq.heappush(self._live.wrapup_until, (seat.wrapup_until, name))

    def forget_before(self, ts: float) -> None:
        super().forget_before(ts)
        # Rebuild the live sums from what is left, at the next live query.
        self._live = _LiveSums()
        for key, call in self._calls.items():
            call.live = None
            self._dirty_calls[key] = call
        for seat in self._seats.values():
            seat.counted = None
            self._dirty_seats[seat.agent] = seat
        self._dirty_surveys = list(self._surveys)
