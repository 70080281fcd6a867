"""Shift planner (ivr.scheduling.shifts): solve times and plan quality for a week.

Run: `.venv/bin/python bench/schedule_solver.py` (about 75 s: the demo
week, then the case-study week; `--only demo` for ~30 s, `--help` for
options). CP-SAT runs on `--workers` (2) threads; the machine is shared, so
wall times vary by a few tens of percent from run to run.

Two weeks from `--first-day` (2026-03-02, a Monday), 7 days x 96 intervals:

1. demo: callcenter.yaml as it is (30 seats), `--demo-calls` calls a day.
2. case study: the same catalog with its seats replaced by the 1,795 of
   `ivr.catalog.generate.generate_seats` (the case study's seat count and
   skill mix), validated like any catalog (`parse_catalog`), and
   `--case-calls` calls a day (108,000: 3.26 million a month, docs/domain.md).

Requirements come from the scheduling pipeline itself: `--history-days` days
of interval history before the week (`ivr.scheduling.generator`, seeded),
the forecast (`ivr.scheduling.forecast`, `--method`), then staffing
(`ivr.scheduling.staffing.requirements`: Erlang A with the history's
patience, the catalog's occupancy cap and shrinkage). `--synthetic` uses a
fixed curve instead (`synthetic_requirements`: every day the working-day
shape of `HOURLY`, scaled so that the week's busiest interval needs
`--synthetic-peak` agents in all, shared by the generated seats' mix).

Printed per group: seats (by primary skill), required agent-intervals and
peak, the solve time and status of stage 1 (cover) and how far its objective
is above the LP relaxation's optimum (an upper bound on the optimality gap),
the time and status of stage 2 (assign) and how many of the planned shifts
it gave a seat, and the plan's under- and over-coverage (agent-intervals). Then the whole plan: wall time, status,
cost (paid hours x cost_per_hour), under-coverage in agent-intervals and as
a share of what was required, over-coverage, seats with a shift, shifts, and
the week's required agent-hours beside the contract hours the seats can give
(when those are short, under-coverage is the seats' not the solver's).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ivr.catalog.generate import catalog_with_seats, generate_seats  # noqa: E402
from ivr.catalog.load import load_catalog, parse_catalog  # noqa: E402
from ivr.catalog.model import Catalog  # noqa: E402
from ivr.hours.opening import zone  # noqa: E402
from ivr.scheduling.model import INTERVAL_SECONDS, Requirement  # noqa: E402
from ivr.scheduling.shifts import PlanRun, coverage, group_of, solve_plan  # noqa: E402

CATALOG = REPO / "callcenter.yaml"
FIRST_DAY = "2026-03-02"
# --synthetic: relative load by local hour (00-23) on every day.
HOURLY = (0.9, 0.45, 0.25, 0.25, 0.3, 0.45, 1.4, 4.2, 8.0, 10.6, 10.4, 7.6,
          6.2, 7.8, 10.0, 9.8, 9.6, 7.0, 4.8, 4.3, 3.9, 2.6, 1.6, 1.0)  # fmt: skip


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    align = ["---"] + ["---:"] * (len(headers) - 1)
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def case_catalog(seats: int) -> Catalog:
    demo = load_catalog(CATALOG)
    return parse_catalog(yaml.safe_dump(catalog_with_seats(demo, generate_seats(demo, seats)), allow_unicode=True))


def pipeline_requirements(
    catalog: Catalog, first_day: date, days: int, calls_per_day: float, history_days: int, method: str
) -> list[Requirement]:
    from ivr.scheduling.forecast import forecast
    from ivr.scheduling.generator import generate_history
    from ivr.scheduling.staffing import patience_from_history, requirements

    history = list(generate_history(catalog, first_day - timedelta(days=history_days), history_days, calls_per_day))
    demand = forecast(history, catalog, first_day, days, method)  # type: ignore[arg-type]
    return requirements(demand, catalog, patience=patience_from_history(history))


def synthetic_requirements(catalog: Catalog, first_day: date, days: int, peak: int) -> list[Requirement]:
    """`HOURLY` every day, the busiest hour needing `peak` agents in all, shared
    between groups in proportion to the seats whose primary skill they are."""
    tz = zone(catalog.center.timezone)
    seats = Counter(group_of(seat) for seat in catalog.seats)
    total = sum(seats.values())
    start = datetime.combine(first_day, datetime.min.time(), tz).timestamp()
    out = []
    for quarter in range(days * 96):
        hour = (quarter % 96) // 4
        for group, count in seats.items():
            agents = math.ceil(peak * count / total * HOURLY[hour] / max(HOURLY))
            out.append(Requirement(group, start + quarter * INTERVAL_SECONDS, 0.0, 0.0, agents, agents,
                                   0.0, 0.0, 0.0, None, "erlang_c"))  # fmt: skip
    return out


def report(name: str, catalog: Catalog, needed: Sequence[Requirement], run: PlanRun, wall: float) -> None:
    plan = run.plan
    start = min(r.start for r in needed)
    end = max(r.start for r in needed) + INTERVAL_SECONDS
    working = coverage(plan, start, end)
    required: dict[str, int] = defaultdict(int)
    peak: dict[str, int] = defaultdict(int)
    under: dict[str, int] = defaultdict(int)
    over: dict[str, int] = defaultdict(int)
    for r in needed:
        have = working.get((r.group, r.start), 0)
        required[r.group] += r.scheduled
        peak[r.group] = max(peak[r.group], r.scheduled)
        under[r.group] += max(0, r.scheduled - have)
        over[r.group] += max(0, have - r.scheduled)
    seats = Counter(group_of(seat) for seat in catalog.seats)
    stages = {(s.stage, s.group): s for s in run.stages}
    rows = []
    for group in required:
        cover, assign = stages.get(("cover", group)), stages.get(("assign", group))
        gap = "-"
        if cover and cover.objective is not None and cover.bound:
            gap = f"{max(0.0, (cover.objective - cover.bound) / cover.bound):.2%}"
        rows.append([
            group, seats.get(group, 0), f"{required[group]:,}", peak[group],
            f"{cover.seconds:.1f} {cover.status}" if cover else "-", gap,
            f"{assign.seconds:.2f} {assign.status}" if assign else "-",
            f"{assign.shifts:,} of {cover.shifts:,}" if cover and assign else "-",
            f"{under[group]:,}", f"{over[group]:,}",
        ])  # fmt: skip
    print(f"\n## {name}: {len(catalog.seats):,} seats, {plan.days} days from {plan.first_day}\n")
    headers = ["group", "seats", "required", "peak", "cover s", "gap to LP", "assign s", "staffed", "under", "over"]
    print(table(headers, rows))
    totals: defaultdict[str, float] = defaultdict(float)
    for s in run.stages:
        totals[s.stage] += s.seconds
    need_total = sum(required.values())
    hours_needed = need_total * INTERVAL_SECONDS / 3600
    hours_owed = sum(catalog.contract(seat).hours_per_week for seat in catalog.seats if group_of(seat) in required)
    used = len({s.seat for s in plan.shifts})
    print()
    print(table(["figure", "value"], [
        ["wall time (s)", f"{wall:.1f}"],
        ["stage 1 cover (s)", f"{totals['cover']:.1f}"],
        ["stage 2 assign (s)", f"{totals['assign']:.1f}"],
        ["pauses placed again (s)", f"{totals['pauses']:.1f}"],
        ["status", plan.status],
        ["cost (paid h x cost_per_hour)", f"{plan.cost:,.1f}"],
        ["under-coverage (agent-intervals)", f"{plan.under_coverage:,.0f}"],
        ["under-coverage / required", f"{plan.under_coverage / max(need_total, 1):.1%}"],
        ["over-coverage (agent-intervals)", f"{sum(over.values()):,}"],
        ["seats with a shift", f"{used:,} of {len(catalog.seats):,}"],
        ["shifts", f"{len(plan.shifts):,}"],
        ["required agent-hours (week)", f"{hours_needed:,.0f}"],
        ["contract hours of the planned groups' seats", f"{hours_owed * plan.days / 7:,.0f}"],
    ]))  # fmt: skip


def run(name: str, catalog: Catalog, args: argparse.Namespace, calls: float) -> None:
    first_day = date.fromisoformat(args.first_day)
    began = time.monotonic()
    if args.synthetic:
        peak = args.synthetic_peak if name == "case study" else max(1, round(args.synthetic_peak * 30 / 1795))
        needed = synthetic_requirements(catalog, first_day, args.days, peak)
    else:
        needed = pipeline_requirements(catalog, first_day, args.days, calls, args.history_days, args.method)
    print(f"\n{name}: requirements in {time.monotonic() - began:.1f} s"
          f" (busiest interval: {max_total(needed):,} agents to schedule)")  # fmt: skip
    began = time.monotonic()
    plan = solve_plan(catalog, needed, first_day, args.days, time_limit=args.time_limit(name), workers=args.workers,
                      seed=args.seed)  # fmt: skip
    report(name, catalog, needed, plan, time.monotonic() - began)


def max_total(needed: Sequence[Requirement]) -> int:
    at: Counter[float] = Counter()
    for r in needed:
        at[r.start] += r.scheduled
    return max(at.values(), default=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=("demo", "case"), help="run one week only")
    parser.add_argument("--first-day", default=FIRST_DAY, help="the week's first local day (default %(default)s)")
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--seats", type=int, default=1795, help="case-study seats (default %(default)s)")
    parser.add_argument("--demo-calls", type=float, default=2500, help="demo calls a day (default %(default)s)")
    parser.add_argument("--case-calls", type=float, default=108_000, help="case calls a day (default %(default)s)")
    parser.add_argument("--history-days", type=int, default=56, help="history generated before the week")
    parser.add_argument("--method", default="seasonal", choices=("seasonal", "model", "best"), help="forecast method")
    parser.add_argument("--synthetic", action="store_true", help="a fixed daily curve instead of the pipeline")
    parser.add_argument("--synthetic-peak", type=int, default=1600, help="--synthetic: agents at the case's peak")
    parser.add_argument("--demo-time-limit", type=float, default=30.0, help="seconds for the demo week's plan")
    parser.add_argument("--case-time-limit", type=float, default=120.0, help="seconds for the case week's plan")
    parser.add_argument("--workers", type=int, default=2, help="CP-SAT threads (default %(default)s)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    args.time_limit = lambda name: args.demo_time_limit if name == "demo" else args.case_time_limit
    if args.only != "case":
        run("demo", load_catalog(CATALOG), args, args.demo_calls)
    if args.only != "demo":
        began = time.monotonic()
        catalog = case_catalog(args.seats)
        print(f"\ncase study: catalog with {len(catalog.seats):,} seats built and validated"
              f" in {time.monotonic() - began:.1f} s")  # fmt: skip
        run("case study", catalog, args, args.case_calls)


if __name__ == "__main__":
    main()
