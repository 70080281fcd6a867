"""The scheduling subcommands of `ivr` (their options are declared in `ivr/cli.py`):

    ivr history generate|show        demo history (the case study's daily curve) / what is stored
    ivr forecast [--accuracy]        calls and AHT per group and 15 minutes
    ivr staffing                     agents required (Erlang C/A, occupancy cap, shrinkage)
    ivr schedule build|show|publish|simulate|chart

They read and write the same store as the service (`run/schedule.sqlite3`);
publishing is recorded in the audit trail as `cli:<user>`.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from ivr.catalog.model import Catalog
from ivr.hours.opening import zone
from ivr.settings import Settings

from . import planning
from .model import IntervalStat, Requirement
from .store import PlanInfo, ScheduleStore

if TYPE_CHECKING:
    from .forecast import ForecastReport


def _day(text: str | None, catalog: Catalog, default_offset: int) -> date:
    if text:
        return date.fromisoformat(text)
    return planning.local_day(catalog, datetime.now(UTC).timestamp()) + timedelta(days=default_offset)


def _hhmm(at: float, catalog: Catalog) -> str:
    return datetime.fromtimestamp(at, zone(catalog.center.timezone)).strftime("%a %H:%M")


def history(settings: Settings, catalog: Catalog, args: argparse.Namespace) -> int:
    from .generator import generate_history

    store = ScheduleStore(settings.schedule_db)
    try:
        if args.action == "generate":
            first = _day(args.first_day, catalog, -args.days)
            stats = list(generate_history(catalog, first, args.days, args.calls_per_day, seed=args.seed))
            written = store.put_history(stats, "generated")
            calls = sum(s.offered for s in stats)
            print(f"ivr history: {written} intervals, {calls} calls over {args.days} days from {first}"
                  f" ({calls / args.days:,.0f} a day)")  # fmt: skip
            return 0
        span = store.history_span()
        if span is None:
            print("ivr history: empty (run `ivr history generate` for demo history)")
            return 0
        lo, hi, count = span
        rows = store.history(lo, hi + 1)
        per_group: defaultdict[str, int] = defaultdict(int)
        for s in rows:
            per_group[s.group] += s.offered
        print(f"ivr history: {count} intervals from {datetime.fromtimestamp(lo, UTC).date()}"
              f" to {datetime.fromtimestamp(hi, UTC).date()}")  # fmt: skip
        for group, calls in sorted(per_group.items(), key=lambda kv: -kv[1]):
            print(f"  {group:<12} {calls:>10,} calls")
        return 0
    finally:
        store.close()


def _history_before(store: ScheduleStore, catalog: Catalog, first: date) -> list[IntervalStat]:
    hi, _ = planning.day_bounds(catalog, first, 1)
    return store.history(hi - planning.HISTORY_DAYS * 86400, hi)


def forecast(settings: Settings, catalog: Catalog, args: argparse.Namespace) -> int:
    store = ScheduleStore(settings.schedule_db)
    try:
        if args.accuracy:
            today = _day(None, catalog, 0)
            report = planning.evaluate_forecast(catalog, _history_before(store, catalog, today), args.holdout_days)
            _print_accuracy(report)
            return 0
        first = _day(args.first_day, catalog, 1)
        demand = planning.demand_for(catalog, _history_before(store, catalog, first), first, args.days, args.method)
    except planning.PlanningError as exc:
        print(f"ivr forecast: {exc}", file=sys.stderr)
        return 1
    finally:
        store.close()
    totals: defaultdict[str, float] = defaultdict(float)
    for d in demand:
        totals[d.group] += d.calls
    print(f"forecast ({args.method}) for {args.days} day(s) from {first}:")
    for group, calls in sorted(totals.items(), key=lambda kv: -kv[1]):
        print(f"  {group:<12} {calls:>10,.0f} calls")
    if args.csv:
        Path(args.csv).write_text(
            "group,interval_start,calls,aht_seconds\n"
            + "".join(
                f"{d.group},{datetime.fromtimestamp(d.start, zone(catalog.center.timezone)).isoformat()},"
                f"{d.calls:.2f},{d.aht:.1f}\n"
                for d in demand
            ),
            encoding="utf-8",
        )
    return 0


def _print_accuracy(report: ForecastReport) -> None:
    held_out = sum(report.actual_calls.values())
    print(f"forecast accuracy: {report.days} held-out day(s) from {report.first_day}, trained on"
          f" {report.train_days} days, {held_out:,} calls held out; WAPE (lower is better):")  # fmt: skip
    print(f"  {'':<12} {'seasonal':>9} {'model':>9}   {'seasonal':>9} {'model':>9}")
    print(f"  {'':<12} {'interval':>9} {'interval':>9}   {'day':>9} {'day':>9}")

    def pct(value: float | None) -> str:
        return "-" if value is None else f"{value:.1%}"

    s, m = report.seasonal, report.model
    for group in s.interval_wape:
        print(f"  {group:<12} {pct(s.interval_wape[group]):>9} {pct(m.interval_wape.get(group)):>9}"
              f"   {pct(s.day_wape.get(group)):>9} {pct(m.day_wape.get(group)):>9}")  # fmt: skip
    print(f"  {'total':<12} {pct(s.total_interval_wape):>9} {pct(m.total_interval_wape):>9}"
          f"   {pct(s.total_day_wape):>9} {pct(m.total_day_wape):>9}")  # fmt: skip
    print(f"best: {report.best}")


def staffing(settings: Settings, catalog: Catalog, args: argparse.Namespace) -> int:
    store = ScheduleStore(settings.schedule_db)
    try:
        first = _day(args.first_day, catalog, 1)
        history = _history_before(store, catalog, first)
        parts = planning.shrinkage_parts(catalog, *store.seat_time((first - timedelta(days=28)).isoformat()))
        demand = planning.demand_for(catalog, history, first, args.days, args.method)
        needed = planning.requirements_for(catalog, history, demand, sum(p.used for p in parts))
    except planning.PlanningError as exc:
        print(f"ivr staffing: {exc}", file=sys.stderr)
        return 1
    finally:
        store.close()
    peak: dict[str, Requirement] = {}
    for r in needed:
        if r.group not in peak or r.scheduled > peak[r.group].scheduled:
            peak[r.group] = r
    print(f"shrinkage {sum(p.used for p in parts):.1%}:", ", ".join(
        f"{p.reason} {p.used:.1%} ({'measured' if p.measured is not None else 'catalog'})" for p in parts))
    print(f"staffing for {args.days} day(s) from {first} (occupancy cap {catalog.scheduling.occupancy_cap:.0%});"
          " peak interval per group:")  # fmt: skip
    print(f"  {'group':<12} {'when':<10} {'calls':>7} {'aht':>5} {'agents':>6} {'sched':>6} {'SL':>6} model")
    for group, r in sorted(peak.items(), key=lambda kv: -kv[1].scheduled):
        print(f"  {group:<12} {_hhmm(r.start, catalog):<10} {r.calls:>7.1f} {r.aht:>5.0f} {r.agents:>6}"
              f" {r.scheduled:>6} {r.service_level:>6.1%} {r.model}")  # fmt: skip
    return 0


def schedule(settings: Settings, catalog: Catalog, args: argparse.Namespace) -> int:
    from .shifts import ScheduleError

    store = ScheduleStore(settings.schedule_db)
    try:
        return _schedule(store, settings, catalog, args)
    except (planning.PlanningError, ScheduleError) as exc:
        print(f"ivr schedule: {exc}", file=sys.stderr)
        return 1
    finally:
        store.close()


def _schedule(store: ScheduleStore, settings: Settings, catalog: Catalog, args: argparse.Namespace) -> int:
    who = f"cli:{getpass.getuser()}"
    if args.action == "build":
        first = _day(args.first_day, catalog, 1)
        seat_time = store.seat_time((first - timedelta(days=28)).isoformat())
        built = planning.build_schedule(
            catalog, _history_before(store, catalog, first), first, args.days,
            method=args.method, time_limit=args.time_limit, workers=args.workers,
            simulation_rounds=args.simulation_rounds, shrinkage=planning.measured_shrinkage_total(catalog, seat_time),
        )  # fmt: skip
        info = store.save_plan(built.plan, built.requirements, window=built.window, by=who,
                               at=datetime.now(UTC).timestamp())  # fmt: skip
        _audit(settings, who, "schedule.build", f"plan/{info.id}", None, info.public())
        p = built.plan
        print(f"plan {info.id}: {len(p.shifts)} shifts for {p.days} day(s) from {p.first_day}; solver {p.status}"
              f" in {p.solve_seconds:.1f} s; cost {p.cost:,.1f}; under-coverage {p.under_coverage:,.0f}"
              " agent-intervals (draft: `ivr schedule publish`)")  # fmt: skip
        for n, check in enumerate(built.checks):
            missing = ", ".join(g.group for g in check.groups if g.meets_target is False) or "none"
            print(f"simulation round {n}: {len(check.short_hours)} short hours; groups missing their target: {missing}")
        return 0
    plan_id = args.plan or (store.plans(1)[0].id if store.plans(1) else None)
    if plan_id is None:
        print("ivr schedule: no plan yet (`ivr schedule build`)", file=sys.stderr)
        return 1
    found: PlanInfo | None = store.plan(plan_id)
    if found is None:
        print(f"ivr schedule: no plan {plan_id}", file=sys.stderr)
        return 1
    info = found
    tz = zone(catalog.center.timezone)
    if args.action == "show":
        from .export import plan_csv
        from .model import Plan

        shifts = store.shifts(plan_id, args.seat)
        text = plan_csv(Plan(info.first_day, info.days, tuple(shifts), info.status, info.cost, info.under_coverage,
                             info.solve_seconds), tz)  # fmt: skip
        if args.out:
            Path(args.out).write_text(text, encoding="utf-8")
            print(f"plan {plan_id}: {len(shifts)} shifts written to {args.out}")
        else:
            sys.stdout.write(text)
        return 0
    if args.action == "publish":
        if info.published_at is not None:
            print(f"ivr schedule: plan {plan_id} is already published", file=sys.stderr)
            return 1
        after = store.publish(plan_id, by=who, at=datetime.now(UTC).timestamp())
        assert after is not None
        _audit(settings, who, "schedule.publish", f"plan/{plan_id}", info.public(), after.public())
        print(f"plan {plan_id} published: in force for {info.days} day(s) from {info.first_day}")
        return 0
    if args.action == "chart":
        from .chart import day_chart
        from .floor import floor_view

        day = date.fromisoformat(args.day) if args.day else date.fromisoformat(info.first_day)
        lo, hi = planning.day_bounds(catalog, day, 1)
        needed = [r for r in store.requirements(plan_id) if lo <= r.start < hi]
        groups = floor_view(catalog, needed, store.shifts(plan_id), {}, lo, hi)
        series = {g.group: [(i.start, i.required, i.scheduled) for i in g.intervals] for g in groups
                  if any(i.required or i.scheduled for i in g.intervals)}  # fmt: skip
        out = Path(args.out or f"plan-{plan_id}-{day}.svg")
        out.write_text(day_chart(series, lo, hi, tz, f"Agents required and scheduled, {day} (plan {plan_id})"),
                       encoding="utf-8")  # fmt: skip
        print(f"plan {plan_id}: picture of {day} written to {out}")
        return 0
    # simulate
    from .verdict import check_plan

    needed = store.requirements(plan_id)
    history = store.history(0, needed[0].start if needed else 0)
    check = check_plan(catalog, needed, store.shifts(plan_id), patience=planning.patience_for(history),
                       runs=args.runs, seed=args.seed)  # fmt: skip
    print(f"plan {plan_id} simulated {check.runs} times ({check.calls_simulated:,} calls, {check.seconds:.1f} s);"
          " the simulation decides:")  # fmt: skip
    print(f"  {'group':<12} {'offered':>8} {'target':>7} {'Erlang':>7} {'simulated':>10} {'+/-':>6} {'diff':>7}"
          "  verdict")

    def pct(value: float | None) -> str:
        return "-" if value is None else f"{value:.1%}"

    for g in check.groups:
        verdict = {True: "meets target", False: "SHORT", None: "-"}[g.meets_target]
        print(f"  {g.group:<12} {g.offered:>8.0f} {pct(g.target):>7} {pct(g.erlang_service_level):>7}"
              f" {pct(g.simulated_service_level):>10} {pct(g.half_width):>6} {pct(g.difference):>7}  {verdict}")
    hint = " (`ivr schedule build --simulation-rounds 1` adds agents there)" if check.short_hours else ""
    print(f"{len(check.short_hours)} hour(s) below target in the simulation{hint}")
    for h in check.short_hours[: args.top]:
        print(f"  {h.group:<12} {_hhmm(h.start, catalog)}  simulated {pct(h.simulated_service_level)}"
              f"  Erlang {pct(h.erlang_service_level)}")
    return 0


def _audit(settings: Settings, who: str, action: str, target: str, before: object, after: object) -> None:
    from ivr.audit import SqliteAuditTrail
    from ivr.audit.trail import AuditEntry

    trail = SqliteAuditTrail(settings.audit_db)
    try:
        trail.record(AuditEntry(datetime.now(UTC), who, "admin", action, target, before, after))
    finally:
        trail.close()
