"""Reconciliation: do the live (AMI) events and Asterisk's queue_log tell the same story?

Theory of operation: AMI has no replay, so events sent while the service was
disconnected are lost; queue_log is written by Asterisk itself and is the
durable record. `reconcile` replays each event list into its own
`CenterState`, computes per group per local day the counts both sources can
see, and lists every figure that differs, plus the calls only one side knows.
It is pure: the caller reads the store and parses the log.

Compared per group and day: offered, answered, unanswered (abandoned + short
+ exited: AMI reports a queue timeout as an abandon, queue_log as an exit, so
only their sum is comparable), short abandons, answered within service
level, handled, ring-no-answers, surveys, and talk seconds (with a tolerance,
as both sides round to whole seconds at slightly different instants).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from . import kpi
from .events import CallerJoined, DomainEvent
from .reducer import CenterState, GroupConfig, KpiRow

COMPARED = (
    "offered",
    "answered",
    "unanswered",
    "short_abandoned",
    "answered_in_service_level",
    "handled",
    "ring_no_answer",
    "surveys",
    "talk_seconds",
)


@dataclass(frozen=True, slots=True)
class KpiDifference:
    day_start: float
    group: str
    figure: str
    store: float
    queue_log: float


@dataclass(frozen=True, slots=True)
class Reconciliation:
    differences: tuple[KpiDifference, ...]
    only_in_store: tuple[tuple[str, str], ...]
    """(queue, uniqueid) of calls that joined per the store but not per queue_log."""
    only_in_queue_log: tuple[tuple[str, str], ...]

    @property
    def matches(self) -> bool:
        return not (self.differences or self.only_in_store or self.only_in_queue_log)


def _figures(row: KpiRow) -> dict[str, float]:
    return {
        "offered": row.offered,
        "answered": row.answered,
        "unanswered": row.abandoned + row.short_abandoned + row.exited,
        "short_abandoned": row.short_abandoned,
        "answered_in_service_level": row.answered_in_service_level,
        "handled": row.handled,
        "ring_no_answer": row.ring_no_answer,
        "surveys": row.surveys,
        "talk_seconds": row.talk_seconds,
    }


def _day_rows(state: CenterState, days: Iterable[float]) -> dict[tuple[float, str], dict[str, float]]:
    out: dict[tuple[float, str], dict[str, float]] = {}
    for day in days:
        for row in state.kpis(day, day + 86400, "group", interval=None):
            out[(day, row.key or "")] = _figures(row)
    return out


def _joins(events: Iterable[DomainEvent]) -> set[tuple[str, str]]:
    return {(e.queue, e.uniqueid) for e in events if isinstance(e, CallerJoined)}


def reconcile(
    store_events: Iterable[DomainEvent],
    queue_log_events: Iterable[DomainEvent],
    groups: Mapping[str, GroupConfig] | None = None,
    utc_offset_seconds: int = 0,
    talk_tolerance_per_call: float = 1.0,
) -> Reconciliation:
    """Compare KPI counts of two event sources per group per local day."""
    store_list, log_list = list(store_events), list(queue_log_events)
    states = []
    for events in (store_list, log_list):
        state = CenterState(groups)
        state.apply_all(events)
        states.append(state)
    times = [e.at for e in (*store_list, *log_list)]
    days: list[float] = []
    if times:
        day = kpi.day_start(min(times), utc_offset_seconds)
        while day <= max(times):
            days.append(day)
            day += 86400
    store_rows, log_rows = _day_rows(states[0], days), _day_rows(states[1], days)
    zero = dict.fromkeys(COMPARED, 0.0)
    differences = []
    for day, group in sorted(set(store_rows) | set(log_rows)):
        mine = store_rows.get((day, group), zero)
        theirs = log_rows.get((day, group), zero)
        for figure in COMPARED:
            a, b = mine[figure], theirs[figure]
            tolerance = (
                talk_tolerance_per_call * max(mine["handled"], theirs["handled"]) if figure == "talk_seconds" else 0.0
            )
            if abs(a - b) > tolerance:
                differences.append(KpiDifference(day, group, figure, a, b))
    store_calls, log_calls = _joins(store_list), _joins(log_list)
    return Reconciliation(
        differences=tuple(differences),
        only_in_store=tuple(sorted(store_calls - log_calls)),
        only_in_queue_log=tuple(sorted(log_calls - store_calls)),
    )
