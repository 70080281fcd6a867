"""Prometheus: the cost of one /metrics scrape and of counting events as they happen.

Run: `.venv/bin/python bench/scrape.py` (about a minute; `--calls`, `--rounds`).

A synthetic day (`bench/metrics.py`'s stream: answered calls at the case
study's peak rhythm, the real catalog, 1,795 seats) is parsed and applied to
a `CenterState`. Then, each timed on one core, median of `--rounds`:

1. Scrape. `exposition()` of the collectors /metrics had before this change
   (`CenterCollector` alone: the base) and of those it has now
   (`CenterCollector` + `CallCounterCollector` with every call counted +
   `AmiSessionCollector`), on the same state; bytes of each.
2. Counting. Applying the day's events to a fresh state (the base: what
   `LiveMetrics.feed` did per event before) and the same with the listener
   the service now runs after each applied event (`CallCounters.observe`).

Every figure is printed beside its baseline from the same run.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.metrics import CATALOG, chunks, synthetic_stream  # noqa: E402
from ivr import native  # noqa: E402
from ivr.ami.protocol import NEED_DATA, AmiMessage, AmiParser  # noqa: E402
from ivr.catalog.load import load_catalog  # noqa: E402
from ivr.metrics.counters import CallCounters  # noqa: E402
from ivr.metrics.events import DomainEvent  # noqa: E402
from ivr.metrics.intake import CallerKeyer, from_ami  # noqa: E402
from ivr.metrics.prometheus import AmiSessionCollector, CallCounterCollector, CenterCollector, exposition  # noqa: E402
from ivr.metrics.reducer import CenterState, group_configs  # noqa: E402
from ivr.metrics.stats import PipelineStats  # noqa: E402


class Session:
    name, logins, reconnects, connected, dropped_events = "metrics", 1, 0, True, 0


def day_events(calls: int) -> list[DomainEvent]:
    data, _ = synthetic_stream(calls)
    parser = AmiParser(expect_banner=False)
    keyer = CallerKeyer(b"bench-caller-salt-0123456789")
    events: list[DomainEvent] = []
    for part in chunks(data):
        parser.receive_data(part)
        while (message := parser.next_event()) is not NEED_DATA:
            if isinstance(message, AmiMessage) and (event := from_ami(message, 0.0, keyer)) is not None:
                events.append(event)
    return events


def paired_medians(base: Callable[[], Any], other: Callable[[], Any], rounds: int) -> tuple[float, float]:
    """Median seconds of each, timed in turn within every round (load from other jobs hits both alike)."""
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(rounds):
        for fn, into in ((base, times[0]), (other, times[1])):
            gc.collect()
            started = time.perf_counter()
            fn()
            into.append(time.perf_counter() - started)
    return statistics.median(times[0]), statistics.median(times[1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=10_000, help="answered calls in the synthetic day")
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args(argv)
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    print(f"native modules: {native.status()}")
    catalog = load_catalog(CATALOG)
    events = day_events(args.calls)
    now = max(e.at for e in events) + 1.0
    state = CenterState(group_configs(catalog))
    state.apply_all(events)
    counters = CallCounters.of(catalog)
    counters.observe_all(events, now)
    center = CenterCollector(state, catalog, clock=lambda: now, pipeline=PipelineStats(),
                             subscribers=lambda: 0, backlog=lambda: 0)  # fmt: skip
    extra = (CallCounterCollector(counters, clock=lambda: now + 10), AmiSessionCollector([Session()]))
    before_bytes, now_bytes = len(exposition(center)), len(exposition(center, *extra))
    print(f"\n## Scrape ({args.calls:,} calls, {len(events):,} events, {args.rounds} rounds, median)\n")
    before, after = paired_medians(lambda: exposition(center), lambda: exposition(center, *extra), args.rounds)
    print("| /metrics | ms per scrape | bytes | vs before |\n| --- | --- | --- | --- |")
    print(f"| before (CenterCollector) | {before * 1e3:.2f} | {before_bytes:,} | 1.00 |")
    print(f"| now (+ counters, histograms, AMI) | {after * 1e3:.2f} | {now_bytes:,} | {after / before:.2f} |")

    def apply(listen: bool) -> None:
        fresh = CenterState(group_configs(catalog))
        counting = CallCounters.of(catalog)
        for event in events:
            applied = fresh.applied
            fresh.apply(event)
            if listen and fresh.applied != applied:
                counting.observe(event, now)

    base, listened = paired_medians(lambda: apply(False), lambda: apply(True), max(3, args.rounds // 3))
    per_event = 1e6 / len(events)
    print(f"\n## Counting ({len(events):,} events, median)\n")
    print("| per event | us | vs before |\n| --- | --- | --- |")
    print(f"| apply (before) | {base * per_event:.2f} | 1.00 |")
    print(f"| apply + CallCounters.observe (now) | {listened * per_event:.2f} | {listened / base:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
