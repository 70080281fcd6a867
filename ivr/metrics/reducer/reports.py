"""Reports: KPI rows over any window and cut, computed from the records on request.

`Reports.kpis()` passes over every call (and seat segment, and survey) in
the window, applying the definitions of `kpi`; `kpi_steps()` does the same
in slices so the event loop is never held for long. Seconds are summed as
exact integers (`records.to_exact`), so the result does not depend on the
order of the calls.
"""

from __future__ import annotations

import bisect
import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, field

from .. import kpi
from ..events import SurveyRated
from .records import (
    UNKNOWN_TAG,
    CallRecord,
    GroupBy,
    KpiRow,
    Schedule,
    SeatState,
    from_exact,
    to_exact,
)
from .transitions import Transitions


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
    hold_answered: int = 0  # exact units (`to_exact`)
    handled: int = 0
    talk: int = 0
    wrapup: int = 0
    longest_wait: float | None = None
    waited: int = 0  # exact units
    ring_no_answer: int = 0
    fcr: list[list[int]] = field(default_factory=lambda: [[0, 0, 0] for _ in kpi.FCR_WINDOWS])
    surveys: int = 0
    rating_total: int = 0
    satisfied: int = 0
    seat_time: dict[SeatState, float] | None = None
    scheduled: float | None = None

    def wait(self, seconds: float) -> None:
        self.waited += to_exact(seconds)
        if self.longest_wait is None or seconds > self.longest_wait:
            self.longest_wait = seconds

    def add_seat_time(self, state: SeatState, seconds: float) -> None:
        if self.seat_time is None:
            self.seat_time = dict.fromkeys(SeatState, 0.0)
        self.seat_time[state] += seconds

    def finish(self, start: float, end: float, group_by: GroupBy, key: str | None, agent_time: bool) -> KpiRow:
        per_agent = group_by == "agent"
        (r24, x24, p24), (r7, x7, p7) = self.fcr[0], self.fcr[1]
        hold, talk, wrapup = from_exact(self.hold_answered), from_exact(self.talk), from_exact(self.wrapup)
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
            wait_seconds=from_exact(self.waited),
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


class Reports(Transitions):
    """KPI rows computed from the call and seat records, on request."""

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
    def _cut(call: CallRecord, group_by: GroupBy) -> str | None:
        if group_by is None:
            return None
        if group_by == "group":
            return call.queue
        if group_by == "line":
            return call.line or UNKNOWN_TAG
        if group_by == "tier":
            return call.tier or UNKNOWN_TAG
        if group_by == "language":
            return call.language or UNKNOWN_TAG
        return call.agent

    def _survey_cut(self, survey: SurveyRated, group_by: GroupBy) -> str | None:
        call = self._calls.get((survey.queue, survey.uniqueid))
        if group_by == "agent":
            return survey.agent
        if group_by == "line" and call is None:
            return survey.line or UNKNOWN_TAG
        if call is None and group_by == "group":
            return survey.queue
        if call is None:
            return None if group_by is None else UNKNOWN_TAG
        return self._cut(call, group_by)

    def _count_call(self, a: _Acc, call: CallRecord, horizon: float, agent: str | None = None) -> None:
        a.offered += 1
        a.ring_no_answer += call.ring_no_answer.get(agent, 0) if agent else sum(call.ring_no_answer.values())
        if agent is not None and call.agent != agent:
            return  # presented to this agent, answered elsewhere or not at all
        if call.answered_at is not None and call.hold_time is not None:
            a.answered += 1
            a.hold_answered += to_exact(call.hold_time)
            a.wait(call.hold_time)
            if kpi.answered_within(call.hold_time, self._group(call.queue).service_level_seconds):
                a.in_sl += 1
            if call.talk_time is not None:
                a.handled += 1
                a.talk += to_exact(call.talk_time)
                a.wrapup += to_exact(self._wrapup_of(call, horizon))
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

    def _wrapup_of(self, call: CallRecord, horizon: float) -> float:
        if call.wrapup_time is not None:
            return call.wrapup_time
        seat = self._seats.get(call.agent or "")
        if seat is None or seat.wrapup_call != (call.queue, call.uniqueid):
            return 0.0
        end = min(seat.wrapup_until or horizon, horizon)
        return max(0.0, end - seat.since)

    def _count_fcr(self, a: _Acc, call: CallRecord, horizon: float) -> None:
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

    def seat_timeline(self, agent: str, lo: float, hi: float) -> list[tuple[float, float, SeatState]]:
        """A seat's states inside [lo, hi), clipped; empty for a seat never seen
        (adherence and in-seat rate, ivr.scheduling)."""
        seat = self._seats.get(agent)
        if seat is None:
            return []
        out = []
        for start, end, state in seat.timeline(max(hi, seat.since)):
            s, e = max(start, lo), min(end, hi)
            if s < e:
                out.append((s, e, state))
        return out

    @staticmethod
    def _count_schedule(accs: _Accs, schedule: Schedule, from_ts: float, to_ts: float, group_by: GroupBy) -> None:
        for agent in sorted(schedule):
            for start, seconds in sorted(schedule[agent].items()):
                if from_ts <= start < to_ts:
                    a = accs.get(start, agent if group_by == "agent" else None)
                    a.scheduled = (a.scheduled or 0.0) + seconds
