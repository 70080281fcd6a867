"""The wallboard feed: a whole payload for a new page, then only what changed.

Theory of operation
-------------------
A wallboard page loads one whole payload (`views.render_wallboard`'s shape)
and then applies updates from the SSE stream. The publisher asks `Wallboard`
for an update about ten times a second, so an update must cost little on a
floor of 1,800 seats and a day of 100,000 calls, and the page must not redraw
1,800 table rows for it.

- The KPI sections (totals, queues, lines, tiers, intervals) come from the
  reducer's live sums (`views.live_sections`): no pass over calls or seats.
  An update carries a section only when it differs from the previous one.
- The seats: the reducer stamps every seat change (`CenterState.seat_changes`);
  an update carries the rows of the seats that changed, plus those shown in
  wrap-up (a wrap-up ends by the clock, without an event), when their row
  differs from the one last sent. When a seat appears, the update carries
  the whole `agents` list instead, in order.
- `time_in_state` grows with the clock, not with events; the page counts it
  up from the `time_in_state` of the row it last received, so an unchanged
  row is not resent for it.

So an update is a payload with `version` and `at`, and any of: `totals`,
`queues`, `lines`, `tiers`, `intervals`, `agents` (every seat, in order) and
`agents_changed` (some seats). Applying every update in order to the first
whole payload gives the whole payload of the last update: `Update.full()`
builds that, for a page that joins or falls behind. It is frozen at its
publish (the sections and rows as they were then), so it can be built later
and still be followed by the next updates.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ivr.catalog.model import Catalog

from .reducer import CenterState, SeatState
from .views import WALLBOARD_SECTIONS, agent_view, live_sections, seat_names

Snapshot = dict[str, Any]
"""One JSON-ready update as subscribers receive it (what `render` returns)."""
Render = Callable[[CenterState, float], Snapshot]


@dataclass(frozen=True, slots=True)
class Update:
    """One publish: what changed since the renderer's previous update, and the
    whole snapshot as of this one (built on demand; later state changes do
    not alter it)."""

    changes: Snapshot
    full: Callable[[], Snapshot]


Payload = dict[str, Any]
_SECTIONS = ("center", "amber_band", "totals", "queues", "lines", "tiers", "intervals")
_WRAP_UP = SeatState.WRAP_UP.value


def _row(agent_row: Payload) -> Payload:
    """An agent row without `time_in_state` (the part that changes by events)."""
    return {key: value for key, value in agent_row.items() if key != "time_in_state"}


def _with_time(row: Payload, now: float) -> Payload:
    """`views.agent_view` of a stored row at `now`."""
    seconds = max(0.0, now - row["since"])
    return {
        "agent": row["agent"],
        "name": row["name"],
        "state": row["state"],
        "since": row["since"],
        "time_in_state": round(seconds, 1),
        "reason": row["reason"],
        "groups": row["groups"],
    }


class Wallboard:
    """The wallboard of one center, kept for a live pipeline (see the module docstring).

    `update` remembers what it sent, so one `Wallboard` serves one sequence of
    publishes (`LiveMetrics` owns one).
    """

    def __init__(self, catalog: Catalog | None) -> None:
        self._catalog = catalog
        self._names = seat_names(catalog)
        self._sections: Payload = {}
        self._rows: dict[str, Payload] = {}  # seat id -> row without time_in_state, as sent
        self._order: list[str] = []  # seat ids, sorted: the order of `agents`
        self._stamp = 0  # CenterState.seat_changes stamp of the last update
        self._started = False

    def update(self, state: CenterState, now: float) -> Update:
        """The changes since the previous update (the first: everything)."""
        sections = live_sections(state, self._catalog, now)
        changes: Payload = {"version": sections["version"], "at": now}
        for key in _SECTIONS:
            if sections[key] != self._sections.get(key):
                changes[key] = sections[key]
        self._sections = sections

        stamp, changed = state.seat_changes(self._stamp)
        self._stamp = stamp
        candidates = set(changed)
        candidates.update(name for name, row in self._rows.items() if row["state"] == _WRAP_UP)
        fresh: dict[str, Payload] = {}
        for name in candidates:
            seat = state.agent_snapshot(name, now)
            if seat is None:
                continue
            row = agent_view(seat, self._names)
            if _row(row) != self._rows.get(name):
                fresh[name] = row
        rows = self._rows
        if fresh:
            rows = {**rows, **{name: _row(row) for name, row in fresh.items()}}  # a new dict: `full` keeps the old
            if len(rows) != len(self._rows) or not self._started:
                self._order = sorted(rows)
                changes["agents"] = [_with_time(rows[name], now) for name in self._order]
            else:
                changes["agents_changed"] = [fresh[name] for name in sorted(fresh)]
        elif not self._started:
            changes["agents"] = []
        self._rows = rows
        self._started = True

        order = self._order
        frozen_sections = sections

        def full() -> Payload:
            agents = [_with_time(rows[name], now) for name in order]
            return {key: agents if key == "agents" else frozen_sections[key] for key in WALLBOARD_SECTIONS}

        return Update(changes, full)
