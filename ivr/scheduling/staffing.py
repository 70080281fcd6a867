"""Staffing: from forecast demand to the agents each group needs, per interval.

Pure. For each (group, 15-minute interval) of the demand:

1. offered load A = calls / INTERVAL_SECONDS x AHT (Erlangs);
2. the fewest agents meeting the group's target, `targets.service_level` of
   callers answered within `service_level_seconds` (catalog queue): Erlang A
   where the callers' patience is known (they abandon), else Erlang C
   (`ivr.scheduling.erlang`);
3. at least A / `scheduling.occupancy_cap` agents, so nobody is planned
   busier than the cap;
4. scheduled = ceil(agents / (1 - shrinkage)): the heads to put on the plan
   so that, after training, meetings and absence, `agents` are on the phones.

Every interval is staffed on its own (the stationary-interval approach): a
queue left over from a busy interval is not carried into the next. A group
with no forecast calls in an interval needs nobody, even while it is open;
who covers an open line at such times is the shift plan's business.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping

from ivr.catalog.model import Catalog, Queue

from .erlang import agents_for_target
from .model import INTERVAL_SECONDS, Demand, IntervalStat, Requirement

# agents / (1 - shrinkage) is rounded up after forgiving this much floating-point
# noise (7 / (1 - 0.3) is 10.000000000000002, which must schedule 10, not 11).
_ROUNDING_SLACK = 1e-9


class StaffingError(ValueError):
    """A demand that cannot be staffed, naming the group and why."""


def requirements(
    demand: Iterable[Demand],
    catalog: Catalog,
    patience: Mapping[str, float] | None = None,
    shrinkage: float | None = None,
) -> list[Requirement]:
    """Agents each group needs in each interval of `demand`, in the same order.

    `patience`: mean seconds callers of a group wait before hanging up (see
    `patience_from_history`); a group with a finite positive value is staffed by
    Erlang A, any other by Erlang C. `shrinkage` defaults to the catalog's
    `scheduling.shrinkage_total`.
    """
    lost = catalog.scheduling.shrinkage_total if shrinkage is None else shrinkage
    if not 0.0 <= lost < 1.0:
        raise StaffingError(f"shrinkage must be in [0, 1), got {lost}")
    cap = catalog.scheduling.occupancy_cap
    queues: dict[str, Queue] = {}
    out: list[Requirement] = []
    for need in demand:
        queue = queues.get(need.group)
        if queue is None:
            try:
                queue = queues[need.group] = catalog.queue(need.group)
            except KeyError:
                raise StaffingError(f"demand for unknown group {need.group!r}") from None
        mean_patience = patience.get(need.group) if patience is not None else None
        if mean_patience is not None and not (math.isfinite(mean_patience) and mean_patience > 0):
            mean_patience = None
        # No calls (or no handle time) is no load; the AHT then does not matter.
        busy = need.calls > 0 and need.aht > 0
        load = need.calls / INTERVAL_SECONDS * need.aht if busy else 0.0
        try:
            level = agents_for_target(
                load,
                need.aht if busy else 1.0,
                queue.targets.service_level,
                queue.service_level_seconds,
                patience=mean_patience,
                occupancy_cap=cap,
            )
        except ValueError as exc:
            raise StaffingError(f"group {need.group!r} at {need.start:.0f}: {exc}") from exc
        out.append(
            Requirement(
                group=need.group,
                start=need.start,
                calls=need.calls,
                aht=need.aht,
                agents=level.agents,
                scheduled=math.ceil(level.agents / (1.0 - lost) - _ROUNDING_SLACK),
                service_level=level.service_level,
                asa=level.asa,
                occupancy=level.occupancy,
                abandon_rate=level.abandon_rate,
                model=level.model,
            )
        )
    return out


def patience_from_history(stats: Iterable[IntervalStat]) -> dict[str, float]:
    """Mean patience (seconds) of each group's callers, by maximum likelihood.

    With exponential patience every waiting second is a second in which a
    caller might hang up: a caller answered after w seconds is a censored
    observation (patience > w), one who abandons after w an exact one. The
    likelihood theta^abandoned x exp(-theta x total wait) peaks at
    theta = abandoned / total wait, so the mean patience is
    (seconds waited by all callers, answered or not) / (abandons).
    A group with no abandons (or no waiting) gets no entry: its callers are
    staffed by Erlang C.
    """
    waited: dict[str, float] = defaultdict(float)
    abandoned: dict[str, int] = defaultdict(int)
    for stat in stats:
        waited[stat.group] += stat.wait_seconds
        abandoned[stat.group] += stat.abandoned
    return {group: waited[group] / count for group, count in abandoned.items() if count > 0 and waited[group] > 0}


def measured_shrinkage(paused_seconds_by_reason: Mapping[str, float], logged_in_seconds: float) -> dict[str, float]:
    """The share of logged-in time each pause reason took (shown beside the
    catalog's planned shrinkage). No logged-in time measures nothing: {}."""
    if logged_in_seconds < 0:
        raise ValueError(f"logged_in_seconds must be >= 0, got {logged_in_seconds}")
    if logged_in_seconds == 0:
        return {}
    return {reason: seconds / logged_in_seconds for reason, seconds in paused_seconds_by_reason.items()}
