"""Reducer results as JSON-ready dicts and CSV: what the API and the wallboard show.

Pure functions: a `CenterSnapshot` and `KpiRow`s (or the reducer's live
`CallCounts`) in, with the catalog for names and targets; plain dicts out.
Nothing reads the clock; "now" is passed.

Status colours
--------------
Every KPI with a target gets `status`:

- `green`: the target is met (rates: value >= target; times and the
  abandon rate: value <= target);
- `amber`: missed by at most `AMBER_BAND` (10 %) *of the target value*:
  service level 0.72-0.80 against 0.80, ASA 20-22 s against 20 s, abandon
  rate 5.0-5.5 % against 5 %;
- `red`: missed by more;
- `none`: no value yet (no calls today) or no target.

Targets come from the catalog's `KpiTargets` of the group; the longest wait
now is judged against the group's `service_level_seconds` (a caller waiting
longer has already missed the service level), and "callers waiting" takes
the colour of the longest wait (green when nobody waits).

Rounding, for readable JSON: rates to 4 decimals, seconds to 1 decimal.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, tzinfo
from typing import Any, Literal, Protocol, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ivr.catalog.model import Catalog, CustomerTier, Queue

from . import kpi
from .reducer import AgentSnapshot, CenterSnapshot, CenterState, GroupSnapshot, KpiRow, LiveCut

Status = Literal["green", "amber", "red", "none"]

AMBER_BAND = 0.10
"""A KPI that misses its target by at most this share of the target is amber."""

PAYLOAD_VERSION = 1
SEAT_STATES = ("available", "ringing", "on_call", "wrap_up", "paused", "logged_out")
TIER_ORDER: tuple[str, ...] = get_args(CustomerTier)
"""The tiers from lowest to highest, as the catalog declares them."""
UNKNOWN = "unknown"


class CountsRow(Protocol):
    """What the views read of a row: a `KpiRow` or the reducer's live `CallCounts`."""

    @property
    def start(self) -> float: ...
    @property
    def group_by(self) -> str | None: ...
    @property
    def key(self) -> str | None: ...
    @property
    def offered(self) -> int: ...
    @property
    def answered(self) -> int: ...
    @property
    def abandoned(self) -> int: ...
    @property
    def short_abandoned(self) -> int: ...
    @property
    def exited(self) -> int: ...
    @property
    def waiting(self) -> int: ...
    @property
    def answered_in_service_level(self) -> int: ...
    @property
    def service_level(self) -> float | None: ...
    @property
    def answer_rate(self) -> float | None: ...
    @property
    def abandon_rate(self) -> float | None: ...
    @property
    def asa(self) -> float | None: ...
    @property
    def aht(self) -> float | None: ...


# -- small helpers ----------------------------------------------------------------


def _rate(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _secs(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def kpi_status(value: float | None, target: float | None, *, higher_is_better: bool) -> Status:
    """green / amber / red of `value` against `target` (see the module docstring)."""
    if value is None or target is None:
        return "none"
    miss = target - value if higher_is_better else value - target
    if miss <= 0:
        return "green"
    # The tolerance keeps the band edge amber despite binary fractions (0.8 * 0.9).
    return "amber" if miss <= AMBER_BAND * abs(target) + 1e-9 else "red"


def _kpi(value: float | None, target: float | None, *, higher: bool, seconds: bool) -> dict[str, Any]:
    shown = _secs(value) if seconds else _rate(value)
    return {
        "value": shown,
        "target": target,
        "status": kpi_status(value, target, higher_is_better=higher),
    }


def timezone_of(catalog: Catalog | None) -> tzinfo:
    """The center's time zone (UTC without a catalog or a time zone database)."""
    if catalog is None:
        return UTC
    try:
        return ZoneInfo(catalog.center.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def day_start_of(catalog: Catalog | None, now: float) -> float:
    """Local midnight of `now` in the center's time zone (UTC without a catalog)."""
    return kpi.center_day_start(now, catalog.center.timezone if catalog is not None else "UTC")


def utc_offset_seconds(catalog: Catalog | None, now: float) -> int:
    """The center's UTC offset at `now`, for `CenterState.today`."""
    offset = datetime.fromtimestamp(now, timezone_of(catalog)).utcoffset()
    return int(offset.total_seconds()) if offset is not None else 0


def _iso(at: float, tz: tzinfo) -> str:
    return datetime.fromtimestamp(at, tz).isoformat(timespec="seconds")


def _rows_by(rows: Iterable[CountsRow], group_by: str | None) -> dict[str | None, CountsRow]:
    return {row.key: row for row in rows if row.group_by == group_by}


def _counts(row: CountsRow | None) -> dict[str, int]:
    if row is None:
        return dict.fromkeys(
            ("offered", "answered", "abandoned", "short_abandoned", "exited", "waiting",
             "answered_in_service_level"),
            0,
        )  # fmt: skip
    return {
        "offered": row.offered,
        "answered": row.answered,
        "abandoned": row.abandoned,
        "short_abandoned": row.short_abandoned,
        "exited": row.exited,
        "waiting": row.waiting,
        "answered_in_service_level": row.answered_in_service_level,
    }


def _plain_kpis(row: CountsRow | None) -> dict[str, float | None]:
    if row is None:
        return dict.fromkeys(("service_level", "answer_rate", "abandon_rate", "asa", "aht"))
    return {
        "service_level": _rate(row.service_level),
        "answer_rate": _rate(row.answer_rate),
        "abandon_rate": _rate(row.abandon_rate),
        "asa": _secs(row.asa),
        "aht": _secs(row.aht),
    }


# -- floor and group views ----------------------------------------------------------


def snapshot_view(snapshot: CenterSnapshot) -> list[dict[str, Any]]:
    """Floor view per group, without KPIs or catalog (the live pipeline's default)."""
    return [
        {
            "queue": g.group,
            "waiting": g.waiting,
            "longest_wait": _secs(g.longest_wait),
            "agents": _agent_counts(g),
        }
        for g in snapshot.groups
    ]


def _agent_counts(group: GroupSnapshot | None) -> dict[str, int]:
    if group is None:
        return dict.fromkeys(SEAT_STATES, 0)
    return {state: int(getattr(group, state)) for state in SEAT_STATES}


def queues_view(
    snapshot: CenterSnapshot, kpis_today: Iterable[CountsRow], catalog: Catalog | None
) -> list[dict[str, Any]]:
    """Per skill group: the floor now, today's counts and KPIs against targets.

    `kpis_today` are rows cut by group (`CenterState.today(..., "group")`, or
    `today_counts(..., "group")`: the same numbers); rows of other cuts are
    ignored. Groups come in catalog order, then any other queue seen, by name.
    """
    return _queues(snapshot.groups, kpis_today, catalog)


def _queues(
    groups: Iterable[GroupSnapshot], kpis_today: Iterable[CountsRow], catalog: Catalog | None
) -> list[dict[str, Any]]:
    today = _rows_by(kpis_today, "group")
    floor = {g.group: g for g in groups}
    queues = {q.id: q for q in catalog.queues} if catalog else {}
    extra = sorted((set(floor) | {k for k in today if k is not None}) - set(queues))
    out: list[dict[str, Any]] = []
    for queue_id in [*queues, *extra]:
        queue, group, row = queues.get(queue_id), floor.get(queue_id), today.get(queue_id)
        out.append(
            {
                "queue": queue_id,
                "name": queue.name if queue else queue_id,
                "language": queue.language if queue else None,
                "service_level_seconds": queue.service_level_seconds if queue else None,
                "waiting": group.waiting if group else 0,
                "longest_wait": _secs(group.longest_wait if group else 0.0),
                "agents": _agent_counts(group),
                "today": _counts(row),
                "kpis": _group_kpis(queue, group, row),
            }
        )
    return out


def _group_kpis(queue: Queue | None, group: GroupSnapshot | None, row: CountsRow | None) -> dict[str, dict[str, Any]]:
    t: dict[str, float | None] = dict.fromkeys(
        ("service_level", "answer_rate", "abandon_rate", "asa_seconds", "aht_seconds")
    )
    if queue is not None:
        targets = queue.targets
        t = {
            "service_level": float(targets.service_level),
            "answer_rate": float(targets.answer_rate),
            "abandon_rate": float(targets.abandon_rate),
            "asa_seconds": float(targets.asa_seconds),
            "aht_seconds": float(targets.aht_seconds),
        }
    sl_seconds = float(queue.service_level_seconds) if queue else None
    longest = group.longest_wait if group and group.waiting else None
    if row is None:
        sl = answer = abandon = asa = aht = None
    else:
        sl, answer, abandon = row.service_level, row.answer_rate, row.abandon_rate
        asa, aht = row.asa, row.aht
    waiting = group.waiting if group else 0
    return {
        # Callers waiting take the colour of the longest wait; none waiting is green.
        "waiting": {
            "value": waiting,
            "target": None,
            "status": kpi_status(longest, sl_seconds, higher_is_better=False) if waiting else "green",
        },
        "service_level": _kpi(sl, t["service_level"], higher=True, seconds=False),
        "answer_rate": _kpi(answer, t["answer_rate"], higher=True, seconds=False),
        "abandon_rate": _kpi(abandon, t["abandon_rate"], higher=False, seconds=False),
        "asa": _kpi(asa, t["asa_seconds"], higher=False, seconds=True),
        "aht": _kpi(aht, t["aht_seconds"], higher=False, seconds=True),
        "longest_wait": _kpi(longest, sl_seconds, higher=False, seconds=True),
    }


def agents_view(snapshot: CenterSnapshot, catalog: Catalog | None = None) -> list[dict[str, Any]]:
    """Per seat: state, since when, time in state (s), pause reason, groups."""
    names = seat_names(catalog)
    return [agent_view(a, names) for a in snapshot.agents]


def seat_names(catalog: Catalog | None) -> dict[str, str]:
    """Seat id -> name, from the catalog."""
    return {seat.id: seat.name for seat in catalog.seats} if catalog else {}


def agent_view(a: AgentSnapshot, names: Mapping[str, str]) -> dict[str, Any]:
    """One seat of `agents_view`."""
    return {
        "agent": a.agent,
        "name": names.get(a.agent, a.agent),
        "state": a.state.value,
        "since": a.since,
        "time_in_state": _secs(a.time_in_state),
        "reason": a.paused_reason,
        "groups": list(a.groups),
    }


def _cut_view(
    rows: Iterable[CountsRow], group_by: str, order: Sequence[str], names: Mapping[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    cut = _rows_by(rows, group_by)
    seen = [k for k in cut if k is not None and k not in order]
    out = []
    for key in [*order, *sorted(seen)]:
        row = cut.get(key)
        out.append({group_by: key, **names.get(key, {}), **_counts(row), **_plain_kpis(row)})
    return out


def lines_view(today_rows: Iterable[CountsRow], catalog: Catalog | None) -> list[dict[str, Any]]:
    """Today per service line (catalog numbers first), from rows cut by line."""
    numbers = list(catalog.numbers) if catalog else []
    names = {n.id: {"name": n.name, "number": n.number} for n in numbers}
    return _cut_view(today_rows, "line", [n.id for n in numbers], names)


def tiers_view(today_rows: Iterable[CountsRow], catalog: Catalog | None) -> list[dict[str, Any]]:
    """Today per customer tier (tiers the catalog's lines use first), from rows cut by tier."""
    used = {n.tier for n in catalog.numbers} if catalog else set()
    order = [t for t in TIER_ORDER if t in used]
    return _cut_view(today_rows, "tier", order, {})


def kpis_view(rows: Iterable[KpiRow], tz: tzinfo = UTC) -> list[dict[str, Any]]:
    """KPI rows as dicts of every `KpiRow` field, plus local ISO interval bounds."""
    out = []
    for row in rows:
        item: dict[str, Any] = {
            "interval_start": _iso(row.start, tz),
            "interval_end": _iso(row.end, tz),
        }
        item.update({f.name: getattr(row, f.name) for f in dataclasses.fields(row)})
        out.append(item)
    return out


# -- the 15-minute interval report ------------------------------------------------

CSV_COLUMNS = (
    "interval_start",
    "interval_end",
    "group",
    "offered",
    "answered",
    "abandoned",
    "short_abandoned",
    "exited",
    "answered_in_service_level",
    "service_level_pct",
    "answer_rate_pct",
    "abandon_rate_pct",
    "asa_seconds",
    "aht_seconds",
    "average_talk_seconds",
    "longest_wait_seconds",
)


def _fixed(value: float | None, decimals: int, scale: float = 1.0) -> str:
    return "" if value is None else f"{value * scale:.{decimals}f}"


def _cell(text: str) -> str:
    # A spreadsheet would run a cell starting with = + - @ as a formula.
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def kpis_csv(rows: Iterable[KpiRow], tz: tzinfo = UTC, *, header: bool = True) -> str:
    """The interval report as RFC 4180 CSV: a header row, then one row per interval and key.

    `header=False` gives the rows alone (the next part of a streamed report).

    Rates are percentages with 1 decimal, times seconds with 1 decimal, an
    empty cell where a KPI has no value (no calls). `group` is the row's key
    (`all` for center totals). Rows come ordered by interval then key.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    if header:
        writer.writerow(CSV_COLUMNS)
    for row in sorted(rows, key=lambda r: (r.start, r.key or "")):
        writer.writerow(
            [
                _iso(row.start, tz),
                _iso(row.end, tz),
                _cell(row.key if row.key is not None else "all"),
                row.offered,
                row.answered,
                row.abandoned,
                row.short_abandoned,
                row.exited,
                row.answered_in_service_level,
                _fixed(row.service_level, 1, 100),
                _fixed(row.answer_rate, 1, 100),
                _fixed(row.abandon_rate, 1, 100),
                _fixed(row.asa, 1),
                _fixed(row.aht, 1),
                _fixed(row.average_talk_time, 1),
                _fixed(row.longest_wait, 1),
            ]
        )
    return buffer.getvalue()


# -- the wallboard --------------------------------------------------------------------


def wallboard_payload(
    snapshot: CenterSnapshot,
    today_rows: Iterable[CountsRow],
    interval_rows: Iterable[CountsRow],
    catalog: Catalog | None,
    now: float,
) -> dict[str, Any]:
    """Everything the wallboard page shows, in one JSON-ready dict.

    `today_rows`: today's rows of any cuts (None, "group", "line", "tier");
    `interval_rows`: center-total rows by 15-minute interval for today.
    """
    payload = wallboard_sections(snapshot.groups, today_rows, interval_rows, catalog, now)
    agents = agents_view(snapshot, catalog)
    # The page's order: agents after the queues.
    return {key: agents if key == "agents" else payload[key] for key in WALLBOARD_SECTIONS}


WALLBOARD_SECTIONS = (
    "version", "at", "center", "amber_band", "totals", "queues", "agents", "lines", "tiers", "intervals",
)  # fmt: skip
"""The keys of a wallboard payload, in order."""


def wallboard_sections(
    groups: Sequence[GroupSnapshot],
    today_rows: Iterable[CountsRow],
    interval_rows: Iterable[CountsRow],
    catalog: Catalog | None,
    now: float,
) -> dict[str, Any]:
    """`wallboard_payload` without its `agents` (all the rest is per group, line, tier or interval)."""
    today = list(today_rows)
    tz = timezone_of(catalog)
    total = _rows_by(today, None).get(None)
    return {
        "version": PAYLOAD_VERSION,
        "at": now,
        "center": {
            "name": catalog.center.name if catalog else "",
            "timezone": catalog.center.timezone if catalog else "UTC",
        },
        "amber_band": AMBER_BAND,
        "totals": {
            "waiting": sum(g.waiting for g in groups),
            **_counts(total),
            **_plain_kpis(total),
        },
        "queues": _queues(groups, today, catalog),
        "lines": lines_view(today, catalog),
        "tiers": tiers_view(today, catalog),
        "intervals": [
            {
                "start": row.start,
                "label": datetime.fromtimestamp(row.start, tz).strftime("%H:%M"),
                "offered": row.offered,
                "answered": row.answered,
                "abandoned": row.abandoned,
                "service_level": _rate(row.service_level),
            }
            for row in sorted(interval_rows, key=lambda r: r.start)
            if row.group_by is None
        ],
    }


def live_sections(state: CenterState, catalog: Catalog | None, now: float) -> dict[str, Any]:
    """`wallboard_sections` of `state` at `now`, from the reducer's live sums.

    Costs no pass over today's calls or the seats: a few milliseconds at any
    size of day, so it can run on every publish.
    """
    day = day_start_of(catalog, now)
    today = [row for group_by in _WALLBOARD_CUTS for row in state.today_counts(now, day, group_by)]
    return wallboard_sections(state.floor(now), today, state.today_intervals(now, day), catalog, now)


_WALLBOARD_CUTS: tuple[LiveCut, ...] = (None, "group", "line", "tier")


def render_wallboard(state: CenterState, catalog: Catalog | None, now: float) -> dict[str, Any]:
    """`wallboard_payload` of `state` at `now`.

    The KPIs come from the reducer's live sums; the agents are every seat, so
    this grows with the floor (a publisher sends `ivr.metrics.wallboard`
    updates instead, with only the seats that changed).
    """
    payload = live_sections(state, catalog, now)
    names = seat_names(catalog)
    agents = [agent_view(a, names) for a in state.snapshot(now).agents]
    return {key: agents if key == "agents" else payload[key] for key in WALLBOARD_SECTIONS}


# -- Server-Sent Events ---------------------------------------------------------------

SSE_KEEPALIVE = b": keepalive\n\n"
"""An SSE comment: keeps proxies from closing an idle stream; EventSource ignores it."""


def sse_event(
    data: Mapping[str, Any],
    *,
    event: str | None = None,
    event_id: str | None = None,
    retry_ms: int | None = None,
) -> bytes:
    """One SSE message carrying `data` as compact JSON (one `data:` line).

    Without `event` the browser's `EventSource.onmessage` receives it.
    """
    lines = []
    if event is not None:
        lines.append(f"event: {_field(event)}")
    if event_id is not None:
        lines.append(f"id: {_field(event_id)}")
    if retry_ms is not None:
        lines.append(f"retry: {int(retry_ms)}")
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    lines.extend(f"data: {line}" for line in body.split("\n"))  # compact JSON: one line
    return ("\n".join(lines) + "\n\n").encode()


def _field(text: str) -> str:
    if "\n" in text or "\r" in text:
        raise ValueError("an SSE field value cannot contain a line break")
    return text
