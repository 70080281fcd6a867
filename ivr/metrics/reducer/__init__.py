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

One job per module, one class built up through them (compiled together by
mypyc, so the layers call each other natively):

- `records`: the call and seat records, the result rows, exact sums;
- `transitions`: `Transitions`, how each event changes the records;
- `reports`: `Reports(Transitions)`, KPI rows over any window and cut;
- `sums`: `CenterState(Reports)`, the live sums the live views read (today's
  counts per cut, the 15-minute chart, seats per group and state, the floor).

KPI definitions live in `kpi.py`; the reducer only counts and sums.
"""

from __future__ import annotations

from ivr.catalog.model import Catalog

from .records import (
    AgentSnapshot,
    CallCounts,
    CallFacts,
    CallKey,
    CenterSnapshot,
    GroupBy,
    GroupConfig,
    GroupSnapshot,
    KpiRow,
    LiveCut,
    Schedule,
    SeatState,
)
from .reports import KPI_STEP
from .sums import CenterState

__all__ = [
    "KPI_STEP",
    "AgentSnapshot",
    "CallCounts",
    "CallFacts",
    "CallKey",
    "CenterSnapshot",
    "CenterState",
    "GroupBy",
    "GroupConfig",
    "GroupSnapshot",
    "KpiRow",
    "LiveCut",
    "Schedule",
    "SeatState",
    "group_configs",
]


def group_configs(catalog: Catalog) -> dict[str, GroupConfig]:
    """Reducer configuration of every skill group in the catalog."""
    return {
        queue.id: GroupConfig(
            service_level_seconds=float(queue.service_level_seconds),
            wrapup_seconds=float(queue.wrapup),
            targets={
                "service_level": queue.targets.service_level,
                "answer_rate": queue.targets.answer_rate,
                "abandon_rate": queue.targets.abandon_rate,
                "asa_seconds": queue.targets.asa_seconds,
                "aht_seconds": queue.targets.aht_seconds,
            },
        )
        for queue in catalog.queues
    }
