"""Shift-plan simulation (ivr.scheduling.simulate): simulated calls per second.

Run: `.venv/bin/python bench/simulation.py` (10-15 s; `--only demo` for a
second, `--help` for options). Prints, per size: calls simulated, wall
seconds, calls/s, and the day's KPIs so the load can be judged.

Two sizes, one day each (2026-03-02, a Monday, in the catalog's time zone):

1. demo: callcenter.yaml as it is (30 seats), `--demo-calls` calls (2,500).
2. case study: the same catalog with its seats replaced by the 1,795 of
   `ivr.catalog.generate.generate_seats` (the case study's seat count and
   skill mix, a third with a backup skill), `--case-calls` calls (108,000:
   3.26 million a month, docs/domain.md).

Demand (simple and fixed, not the forecast's): calls arrive 07:00-23:00 along
`HOURLY_WEIGHTS` (peaks 10:00 and 14:00-16:00, the peak hour ~9 % of the
day). Each inbound group (every queue but the outbound collections and care)
gets a share proportional to its primary seats divided by its AHT (the
queue's `targets.aht_seconds`), so that every group is about as busy. Callers
abandon with exponential patience of `--patience` seconds (120).

Shifts (simple, not the planner's): every seat works one 9-hour shift with a
15-minute break at +2 h, a 60-minute meal at +4 h and a 15-minute break at
+6.5 h. Starts are staggered so that, per group, the shifts' midpoints follow
the demand curve (seat k of n at the (k + 0.5) / n quantile), on the quarter
hour, between 07:00 and 14:00. Agents work for their primary skill group
(penalty 0) and take backup calls by the catalog's routing rules. The demo's
small groups have one or two seats, whose 9-hour shifts cannot cover 16
hours of calls: outside them callers overflow, fall back or abandon, hence
the demo day's poor KPIs (the case-study day is staffed like a center).

Wall time includes drawing the calls (numpy) and the report; the CPU is
shared, so the best of `--repeat` runs is printed.
"""

from __future__ import annotations

import argparse
import bisect
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ivr.catalog.generate import catalog_with_seats, generate_seats  # noqa: E402
from ivr.catalog.load import load_catalog  # noqa: E402
from ivr.catalog.model import Catalog  # noqa: E402
from ivr.scheduling.model import INTERVAL_SECONDS, Activity, Demand, Shift  # noqa: E402
from ivr.scheduling.simulate import SimulationReport, simulate  # noqa: E402

OUTBOUND = ("collections", "care")
# Share of the day's calls in each hour from 07:00 to 22:00 (calls end at 23:00).
HOURLY_WEIGHTS = (4.0, 6.0, 9.0, 10.0, 9.5, 7.0, 7.5, 9.0, 9.0, 8.0, 6.5, 5.0, 4.0, 3.5, 2.5, 1.5)
FIRST_HOUR = 7
SHIFT_HOURS = 9
EARLIEST_START, LATEST_START = 7 * 3600, 14 * 3600
DAY = "2026-03-02"


def day_start(catalog: Catalog) -> float:
    return datetime.fromisoformat(DAY).replace(tzinfo=ZoneInfo(catalog.center.timezone)).timestamp()


def primary(skills: dict[str, int]) -> str:
    return min(skills, key=lambda queue: (skills[queue], queue))


def demand_curve(catalog: Catalog, calls: int) -> list[Demand]:
    primaries = [primary(seat.skills) for seat in catalog.seats]
    groups = {q.id: q for q in catalog.queues if q.id not in OUTBOUND and q.id in primaries}
    weight = {g: primaries.count(g) / q.targets.aht_seconds for g, q in groups.items()}
    total_weight, total_hours = sum(weight.values()), sum(HOURLY_WEIGHTS)
    midnight = day_start(catalog)
    rows = []
    for hour, hourly in enumerate(HOURLY_WEIGHTS):
        for quarter in range(4):
            start = midnight + (FIRST_HOUR + hour) * 3600 + quarter * INTERVAL_SECONDS
            for group, share in weight.items():
                expected = calls * share / total_weight * hourly / total_hours / 4
                rows.append(Demand(group, start, expected, float(groups[group].targets.aht_seconds)))
    return rows


def staggered_shifts(catalog: Catalog) -> list[Shift]:
    cumulative, running = [], 0.0
    for hourly in HOURLY_WEIGHTS:
        running += hourly
        cumulative.append(running)
    midnight = day_start(catalog)
    by_group: dict[str, list[str]] = {}
    for seat in catalog.seats:
        by_group.setdefault(primary(seat.skills), []).append(seat.id)
    shifts = []
    for group, seats in by_group.items():
        for k, seat_id in enumerate(seats):
            # The demand curve's quantile (k + 0.5) / n, linear within the hour.
            target = (k + 0.5) / len(seats) * running
            hour = bisect.bisect_left(cumulative, target)
            before = cumulative[hour - 1] if hour else 0.0
            mid = (FIRST_HOUR + hour + (target - before) / HOURLY_WEIGHTS[hour]) * 3600
            offset = mid - SHIFT_HOURS * 3600 / 2
            offset = min(max(offset // INTERVAL_SECONDS * INTERVAL_SECONDS, EARLIEST_START), LATEST_START)
            start = midnight + offset
            pauses = (
                Activity("break", start + 2 * 3600, start + 2.25 * 3600),
                Activity("meal", start + 4 * 3600, start + 5 * 3600),
                Activity("break", start + 6.5 * 3600, start + 6.75 * 3600),
            )
            shifts.append(Shift(seat_id, group, "staggered", start, start + SHIFT_HOURS * 3600, pauses))
    return shifts


def case_study_catalog(demo: Catalog, seats: int) -> Catalog:
    return Catalog.model_validate(catalog_with_seats(demo, generate_seats(demo, seats)))


def run(name: str, catalog: Catalog, calls: int, args: argparse.Namespace) -> SimulationReport:
    demand = demand_curve(catalog, calls)
    shifts = staggered_shifts(catalog)
    patience = {row.group: args.patience for row in demand}
    best: SimulationReport | None = None
    for _ in range(args.repeat):
        report = simulate(catalog, demand, shifts, patience=patience, seed=args.seed, handle_time=args.handle_time)
        if best is None or report.wall_seconds < best.wall_seconds:
            best = report
    assert best is not None
    offered = sum(t.offered for t in best.totals.values())
    answered = sum(t.answered for t in best.totals.values())
    within = sum(t.answered_within for t in best.totals.values())
    short = sum(t.short_abandoned for t in best.totals.values())
    abandoned = sum(t.abandoned for t in best.totals.values())
    busy = sum(t.talk_seconds + t.wrapup_seconds for t in best.totals.values())
    ready = sum(t.ready_seconds for t in best.totals.values())
    print(
        f"{name}: {len(catalog.seats):,} seats, {best.calls:,} calls simulated in {best.wall_seconds:.2f} s "
        f"= {best.calls_per_second:,.0f} calls/s (best of {args.repeat})"
    )
    print(
        f"  day: answered {answered / offered:.1%}, service level {within / max(offered - short, 1):.1%}, "
        f"abandoned {abandoned / max(offered - short, 1):.1%}, occupancy {busy / max(busy + ready, 1):.1%}"
    )
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=("demo", "case"), help="run one size only")
    parser.add_argument("--demo-calls", type=int, default=2_500, help="calls in the demo day (default 2500)")
    parser.add_argument("--case-calls", type=int, default=108_000, help="calls in the case-study day (default 108000)")
    parser.add_argument("--case-seats", type=int, default=1_795, help="seats of the case-study catalog (default 1795)")
    parser.add_argument("--patience", type=float, default=120.0, help="mean caller patience, seconds (default 120)")
    parser.add_argument("--handle-time", choices=("exponential", "lognormal"), default="exponential")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=3, help="runs per size; the fastest is printed (default 3)")
    args = parser.parse_args(argv)
    demo = load_catalog(REPO / "callcenter.yaml")
    print(f"simulation bench: python {sys.version.split()[0]}, seed {args.seed}, {args.handle_time} handle times")
    if args.only in (None, "demo"):
        run("demo", demo, args.demo_calls, args)
    if args.only in (None, "case"):
        run("case study", case_study_catalog(demo, args.case_seats), args.case_calls, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
