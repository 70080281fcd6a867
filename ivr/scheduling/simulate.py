"""Check a shift plan against a forecast by simulating the center's day (集中排班).

Erlang C/A size each group alone, with one kind of caller and agents who do
nothing else. The center is not like that: agents have backup skills, callers
have priorities, minor languages overflow to English, VIPs fall back to the
basic group when no VIP agent is in, and agents go on breaks. This module
runs the forecast's calls against the plan's agents under the catalog's real
routing rules (`sim_engine`, which lists them and how they mirror
app_queue) and reports the KPIs per group and interval (`sim_report`). Where
the simulation and Erlang disagree, the simulation decides; `compare` shows
by how much.

Inputs, and the choices made turning them into calls:

- Arrivals: a Poisson process per group and interval at `Demand.calls` per
  15 minutes (a Poisson count, then uniform times within the interval).
- Handle time: `Demand.aht` is talk + wrap-up, as history measures it. The
  talk time is drawn with mean `aht - wrapup` of the group (never below 0)
  and the wrap-up of the queue that answers follows as a fixed time, so a
  call answered in its own group has mean handle time `aht`.
  `exponential` (Erlang's assumption) or `lognormal` with a coefficient of
  variation of 1 (`LOGNORMAL_CV`), closer to measured talk times.
- Patience: exponential with mean `patience[group]` seconds of the caller's
  first group, counted from arrival across overflows; a group not in
  `patience` (or no `patience`) has callers who never hang up, as Erlang C
  assumes.
- Priority: the group's tier (`catalog.tiers`) or lost-card priority
  (`catalog.lost_card`), else 0 (standard callers; a `gold` caller, who has
  no group of its own, cannot be told apart in a group's demand).
- Agents: each seat of `shifts`, with its skills and penalties from
  `catalog.seats`; ready on the phones during the shift's work, paused during
  its breaks and meal.

Random streams are split by purpose (arrivals, talk, patience, routing), so
two plans run with one seed meet the very same callers (common random
numbers): the difference between their reports is the plans', not luck's.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np

from ivr.catalog.model import Catalog
from ivr.scheduling.model import INTERVAL_SECONDS, Demand, Shift
from ivr.scheduling.sim_engine import Call, Center, group_priorities
from ivr.scheduling.sim_report import Comparison, GroupStats, SeatStats, SimulationReport, compare

__all__ = [
    "LOGNORMAL_CV",
    "Call",
    "Comparison",
    "GroupStats",
    "HandleTime",
    "SeatStats",
    "SimulationReport",
    "compare",
    "draw_calls",
    "group_priorities",
    "simulate",
    "simulate_calls",
]

HandleTime = Literal["exponential", "lognormal"]
LOGNORMAL_CV = 1.0
"""Coefficient of variation of lognormal talk times (standard deviation / mean)."""


def simulate(
    catalog: Catalog,
    demand: Sequence[Demand],
    shifts: Sequence[Shift],
    *,
    patience: Mapping[str, float] | None = None,
    seed: int = 0,
    handle_time: HandleTime = "exponential",
) -> SimulationReport:
    """Simulate the forecast `demand` against the plan's `shifts`; the same seed gives the same report."""
    started = time.perf_counter()
    calls = draw_calls(catalog, demand, patience=patience, seed=seed, handle_time=handle_time)
    center = Center(catalog, calls, shifts, seed, intervals=[(d.group, d.start) for d in demand])
    return center.run(seed, started)


def simulate_calls(
    catalog: Catalog, calls: Sequence[Call], shifts: Sequence[Shift], *, seed: int = 0
) -> SimulationReport:
    """Simulate the given callers (what `simulate` draws from a forecast); `seed` drives random routing."""
    started = time.perf_counter()
    return Center(catalog, calls, shifts, seed).run(seed, started)


def draw_calls(
    catalog: Catalog,
    demand: Sequence[Demand],
    *,
    patience: Mapping[str, float] | None = None,
    seed: int = 0,
    handle_time: HandleTime = "exponential",
) -> list[Call]:
    """The callers of a forecast: Poisson arrivals, talk times and patience, by arrival time."""
    wrapup = {queue.id: float(queue.wrapup) for queue in catalog.queues}
    patience = patience or {}
    for group, mean in patience.items():
        if not mean > 0:
            raise ValueError(f"patience for {group!r} must be > 0 seconds (math.inf: never abandons)")
    arrivals_rng, talk_rng, patience_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3))
    calls: list[Call] = []
    for row in demand:
        if row.group not in wrapup:
            raise ValueError(f"demand for unknown skill group {row.group!r}")
        if row.calls < 0 or row.aht < 0:
            raise ValueError(f"demand for {row.group!r} at {row.start}: calls and aht must be >= 0")
        count = int(arrivals_rng.poisson(row.calls))
        if not count:
            continue
        arrivals = (row.start + arrivals_rng.random(count) * INTERVAL_SECONDS).tolist()
        talks = _talk_times(talk_rng, max(row.aht - wrapup[row.group], 0.0), count, handle_time)
        mean_patience = patience.get(row.group, math.inf)
        waits = (
            patience_rng.exponential(mean_patience, count).tolist() if mean_patience < math.inf else [math.inf] * count
        )
        calls += [Call(row.group, at, talk, wait) for at, talk, wait in zip(arrivals, talks, waits, strict=True)]
    calls.sort(key=lambda call: call.arrival)
    return calls


def _talk_times(rng: np.random.Generator, mean: float, count: int, kind: HandleTime) -> list[float]:
    if mean <= 0:
        return [0.0] * count
    if kind == "exponential":
        return list(rng.exponential(mean, count).tolist())
    if kind == "lognormal":
        sigma2 = math.log1p(LOGNORMAL_CV**2)
        return list(rng.lognormal(math.log(mean) - sigma2 / 2, math.sqrt(sigma2), count).tolist())
    raise ValueError(f"unknown handle time distribution {kind!r}")
