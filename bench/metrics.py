"""Metrics: AMI frames -> reducer, event store writes, event -> browser latency.

Run: `.venv/bin/python bench/metrics.py` (about 2.5 minutes; `--quick` for a
~50 s smoke run, `--help` for options). Every figure is printed beside a
baseline measured in the same invocation.

1. Reducer. A stream of AMI event frames (bytes) is built from the recorded
   transcript tests/fixtures/ami/fallback_call_answered_by_1001.txt: its 8
   queue events (QueueCallerJoin, AgentCalled, 3x QueueMemberStatus,
   QueueCallerLeave, AgentConnect, AgentComplete; the only events the metrics
   AMI user receives, manager.conf eventfilter) replayed for many synthetic
   calls arriving at the case study's peak rhythm (3.6 calls/s), each with
   its own Uniqueid, channels, caller number, skill group, seat, hold and
   talk time and timestamps, interleaved in time order. Timed on one core
   (sched_setaffinity), fed in 64 KiB chunks as AmiClient reads, each
   pipeline in turn within a round, each from a collected heap (no other run's
   state kept alive): the line-at-a-time parser this version
   replaced (tests/unit/ami/line_parser.py) alone, and -> headers_of ->
   from_ami -> CenterState.apply (the base: the pipeline before, on today's
   reducer); AmiParser alone; AmiParser -> from_ami(message) ->
   CenterState.apply (what LiveMetrics.feed does now); and the same with the
   wallboard publisher's update every 0.1 s of wall time in between reads,
   as ivr serve runs it on the same core. Then one wallboard publish on the
   resulting state: the render before (KPIs recomputed from every call, every
   seat: the base), the whole payload from the live sums, and the update an
   open page receives after one more caller joins.
2. Store. The domain events of (1) appended to a fresh SqliteEventStore
   (temp file, WAL, synchronous=NORMAL) in batches of 500, the live
   pipeline's batch; baseline: the same events one per append (one
   transaction each), another fresh file.
3. Event -> browser. A fake AMI server (this process) speaks enough AMI for
   ivr.ami.AmiClient; the real `ivr serve` app (ivr.serve.serve, in a
   subprocess, logging at info) logs in to it and serves the wallboard;
   headless Chromium (Debian's /usr/bin/chromium via playwright) opens
   /wallboard#token=viewer-demo. The server then pushes QueueCallerJoin /
   QueueCallerLeave frames at a fixed rate: phases of 100 joins then 100
   leaves in queue basic_zh, each phase opened by one join in queue english.
   The pair (waiting in basic_zh, waiting in english) after each event is
   unique over the run, so whatever the page shows maps to exactly one
   event. A MutationObserver in the page records performance.timeOrigin +
   performance.now() whenever the waiting tiles change; an event's latency is
   from its frame being written to the socket until the first page state
   that includes it (the pipeline coalesces events into snapshots, so most
   events are shown together with later ones). Baseline: the same at 10
   events/s, before the loaded run, same page. A third run (100 events/s,
   half as long) goes to a second app whose event store was seeded with the
   domain events of (1), shifted to end a minute ago, so that restart
   recovery gives it a realistic state (10,000 calls today, 1,795 seats).
   Per render, the page also notes when the SSE message arrived, which
   splits each latency into server + transport and the page's own work.
   ivr serve publishes with wallboard.Wallboard: after the first whole
   payload, each SSE message carries only what changed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import functools
import gc
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
import zoneinfo
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from ivr import native  # noqa: E402
from ivr.ami.protocol import NEED_DATA, AmiMessage, AmiParser  # noqa: E402
from ivr.catalog.load import load_catalog  # noqa: E402
from ivr.metrics import kpi  # noqa: E402
from ivr.metrics.adapters.live import headers_of  # noqa: E402
from ivr.metrics.adapters.store import SqliteEventStore  # noqa: E402
from ivr.metrics.events import CallerJoined, DomainEvent  # noqa: E402
from ivr.metrics.intake import CallerKeyer, from_ami  # noqa: E402
from ivr.metrics.reducer import CenterState, GroupConfig, group_configs  # noqa: E402
from ivr.metrics.views import render_wallboard, sse_event, utc_offset_seconds, wallboard_payload  # noqa: E402
from ivr.metrics.wallboard import Wallboard  # noqa: E402
from tests.unit.ami.line_parser import LineAmiParser  # noqa: E402

TRANSCRIPT = REPO / "tests" / "fixtures" / "ami" / "fallback_call_answered_by_1001.txt"
CATALOG = REPO / "callcenter.yaml"
HOST = "127.0.0.1"
READ_CHUNK = 65536  # what AmiClient reads per call
STORE_BATCH = 500  # LiveMetrics batch_max
GOAL_EVENTS_PER_S = 100_000
PEAK_CALLS_PER_S = 3.6  # domain.md: 108 k calls/day, 12 % in the peak hour
QUEUE_EVENTS_PER_CALL = 8  # the transcript's queue events for one answered call
GOAL_P99_MS = 200.0
PUBLISH_INTERVAL = 0.1  # ivr serve's LiveMetrics publish_interval
PHASE = 100  # callers per join (or leave) phase in the latency run
SEATS = 1795  # case study seats; synthetic seat ids 1001..2795
# Ports the lead's PBX tests use: never ours.
RESERVED_PORTS = frozenset({5060, 5160, 5038, 5138, 4573, 4673, 8080, 8180})
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
QUEUE_EVENTS = (
    "QueueCallerJoin", "AgentCalled", "QueueMemberStatus", "QueueMemberStatus",
    "QueueCallerLeave", "AgentConnect", "AgentComplete", "QueueMemberStatus",
)  # fmt: skip


# --------------------------------------------------------------------------- output


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    align = ["---"] + ["---:"] * (len(headers) - 1)
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def num(value: float, digits: int = 0) -> str:
    return f"{value:,.{digits}f}"


def ratio(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.2f}" if value < 10 else f"{value:.1f}"


# --------------------------------------------------------------------------- 1. AMI stream


def transcript_templates() -> list[tuple[tuple[str, str], ...]]:
    """Header tuples of the transcript's 8 queue events, in wire order."""
    parser = AmiParser()
    parser.receive_data(TRANSCRIPT.read_bytes())
    found: list[tuple[tuple[str, str], ...]] = []
    while (event := parser.next_event()) is not NEED_DATA:
        if isinstance(event, AmiMessage) and event.kind == "event" and event.name in set(QUEUE_EVENTS):
            found.append(event.headers)
    names = tuple(dict(h)["Event"] for h in found)
    if names != QUEUE_EVENTS:
        raise SystemExit(f"{TRANSCRIPT}: unexpected queue events {names}")
    return found


def frame(headers: Sequence[tuple[str, str]]) -> bytes:
    return ("".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n").encode()


def vary(template: Sequence[tuple[str, str]], subs: dict[str, str]) -> list[tuple[str, str]]:
    return [(k, subs.get(k, v)) for k, v in template]


def synthetic_stream(calls: int, seed: int = 7) -> tuple[bytes, int]:
    """AMI frames of `calls` answered calls at 3.6 calls/s, in timestamp order; (bytes, frames)."""
    templates = transcript_templates()
    rng = random.Random(seed)
    queues = [q.id for q in load_catalog(CATALOG).queues]
    weights = [6 if q == "basic_zh" else 1 for q in queues]
    start0 = 1_795_884_000.0
    timed: list[tuple[float, int, bytes]] = []
    for i in range(calls):
        start = start0 + i / PEAK_CALLS_PER_S + rng.uniform(0, 0.2)
        hold = min(rng.expovariate(1 / 20), 300.0)
        ring = rng.uniform(1.0, 8.0)
        talk = rng.uniform(60.0, 300.0)
        seat = str(1001 + i % SEATS)
        uid, duid = f"{int(start)}.{2 * i}", f"{int(start)}.{2 * i + 1}"
        caller = f"138{rng.randrange(calls * 5):08d}"  # some callers call again (FCR)
        queue = rng.choices(queues, weights)[0]
        base = {
            "Channel": f"PJSIP/pstn-{2 * i:08x}", "CallerIDNum": caller, "Uniqueid": uid, "Linkedid": uid,
            "Queue": queue, "DestChannel": f"PJSIP/{seat}-{2 * i + 1:08x}", "DestCallerIDNum": seat,
            "DestCallerIDName": seat, "DestUniqueid": duid, "DestLinkedid": uid, "Interface": f"PJSIP/{seat}",
            "MemberName": seat, "StateInterface": f"PJSIP/{seat}", "CallsTaken": str(i // SEATS),
            "HoldTime": str(round(hold)), "RingTime": str(round(ring)), "TalkTime": str(round(talk)),
        }  # fmt: skip
        phases = (0, 0, 0, 1, 1, 1, 2, 2)  # ringing; answered after `hold`; hung up after `talk`
        offsets = (0.0, hold, hold + talk)
        for k, template in enumerate(templates):
            at = start + offsets[phases[k]] + k * 1e-4
            timed.append((at, len(timed), frame(vary(template, {**base, "Timestamp": f"{at:.6f}"}))))
    timed.sort()
    return b"".join(f for _, _, f in timed), len(timed)


def chunks(data: bytes) -> list[bytes]:
    return [data[i : i + READ_CHUNK] for i in range(0, len(data), READ_CHUNK)]


def parse_only(parts: list[bytes], parser_type: Callable[..., Any] = AmiParser) -> int:
    parser = parser_type(expect_banner=False)
    count = 0
    for part in parts:
        parser.receive_data(part)
        while (event := parser.next_event()) is not NEED_DATA:
            if isinstance(event, AmiMessage):
                count += 1
    return count


def parse_and_reduce_before(parts: list[bytes], groups: dict[str, GroupConfig]) -> tuple[int, CenterState]:
    """The pipeline before this version's parser and intake, on today's reducer."""
    parser = LineAmiParser(expect_banner=False)
    state = CenterState(groups)
    keyer = CallerKeyer(b"bench-caller-salt-0123456789")
    count = 0
    clock = time.time
    for part in parts:
        parser.receive_data(part)
        while (message := parser.next_event()) is not NEED_DATA:
            if not isinstance(message, AmiMessage):
                continue
            count += 1
            event = from_ami(headers_of(message), clock(), keyer)
            if event is not None:
                state.apply(event)
    return count, state


def parse_and_reduce(
    parts: list[bytes],
    groups: dict[str, GroupConfig],
    catalog: Any,
    keep: list[DomainEvent] | None,
    publish: bool,
) -> tuple[int, CenterState, Counter[str], int]:
    """What the service does with the metrics session's bytes (AmiClient reads, LiveMetrics.feed
    converts and applies); with `publish`, also the wallboard publisher's update every
    PUBLISH_INTERVAL of wall time, which folds the events since the last one into the live sums
    and diffs the seats. (frames, state, rejects, wallboard updates)."""
    parser = AmiParser(expect_banner=False)
    state = CenterState(groups)
    keyer = CallerKeyer(b"bench-caller-salt-0123456789")
    wallboard = Wallboard(catalog)
    rejects: Counter[str] = Counter()
    count = updates = 0
    clock = time.time
    publish_at = time.perf_counter() + PUBLISH_INTERVAL
    for part in parts:
        parser.receive_data(part)
        while (message := parser.next_event()) is not NEED_DATA:
            if not isinstance(message, AmiMessage):
                continue
            count += 1
            event = from_ami(message, clock(), keyer, rejects)
            if event is not None:
                state.apply(event)
                if keep is not None:
                    keep.append(event)
        if publish and time.perf_counter() >= publish_at:  # between reads, as the publisher task runs
            wallboard.update(state, (state.horizon or 0.0) + 1.0)
            updates += 1
            publish_at = time.perf_counter() + PUBLISH_INTERVAL
    if publish:
        wallboard.update(state, (state.horizon or 0.0) + 1.0)  # the stream's last events reach the page too
        updates += 1
    return count, state, rejects, updates


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def spread(values: Sequence[float]) -> str:
    return f"{min(values):,.0f}-{max(values):,.0f}"


def bench_events(number: int = 200_000, repeat: int = 7) -> None:
    """ns per event built by keyword from Python (as `from_record` does) and per `identity()`; best of `repeat`."""
    from ivr.metrics.events import AgentCompleted

    join = (
        "CallerJoined(at=1.0, queue='q', uniqueid='u', caller_hash='h', position=1, line='main', tier='gold', "
        "language='en', priority=None)"
    )
    done = "AgentCompleted(at=1.0, queue='q', uniqueid='u', agent='1001', hold_time=2.0, talk_time=3.0, reason='x')"
    names: dict[str, Any] = {"CallerJoined": CallerJoined, "AgentCompleted": AgentCompleted}
    names["join"], names["done"] = eval(join, names), eval(done, names)
    print(f"## Events ({native.status()}): best of {repeat} x {number:,}\n| operation | ns |\n| --- | ---: |")
    for label, statement in (("build CallerJoined (9 fields)", join), ("build AgentCompleted (7 fields)", done),
                             ("CallerJoined.identity()", "join.identity()"),
                             ("AgentCompleted.identity()", "done.identity()")):  # fmt: skip
        best = min(timeit.repeat(statement, globals=names, number=number, repeat=repeat)) / number
        print(f"| {label} | {best * 1e9:.1f} |")


def bench_reducer(calls: int, rounds: int) -> tuple[list[DomainEvent], dict[str, float]]:
    data, frames = synthetic_stream(calls)
    parts = chunks(data)
    catalog = load_catalog(CATALOG)
    groups = group_configs(catalog)
    print(f"\n## 1. AMI frames -> reducer ({calls:,} calls, {frames:,} frames, {len(data) / 1e6:.1f} MB, "
          f"{rounds} rounds, median; min-max over rounds in brackets)")  # fmt: skip
    events: list[DomainEvent] = []
    times: dict[str, list[float]] = {"before parse": [], "before": [], "parse": [], "full": [], "published": []}
    state: CenterState | None = None
    rejects: Counter[str] = Counter()
    updates = 0
    applied: list[int] = []
    for _ in range(rounds):  # interleaved, so that load from other jobs hits all alike
        # Each run starts from a collected heap and leaves nothing behind but the figures: a
        # state left from one run would make the next one's garbage collections walk it too.
        state = None
        gc.collect()
        t, n = timed(lambda: parse_only(parts, LineAmiParser))
        assert n == frames, (n, frames)
        times["before parse"].append(t)
        gc.collect()
        t, (n, before) = timed(lambda: parse_and_reduce_before(parts, groups))
        assert n == frames
        times["before"].append(t)
        applied.append(before.applied)
        del before
        gc.collect()
        t, n = timed(lambda: parse_only(parts))
        assert n == frames, (n, frames)
        times["parse"].append(t)
        gc.collect()
        t, (n, published, _, updates) = timed(functools.partial(parse_and_reduce, parts, groups, catalog, None, True))
        assert n == frames
        times["published"].append(t)
        applied.append(published.applied)
        del published
        gc.collect()
        t, (n, state, rejects, _) = timed(functools.partial(parse_and_reduce, parts, groups, catalog, None, False))
        assert n == frames
        times["full"].append(t)
        applied.append(state.applied)
    assert state is not None
    parse_and_reduce(parts, groups, catalog, events, False)  # the domain events, for 2. and 3.
    if rejects or any(n != frames for n in applied):
        print(f"WARNING: applied {applied} of {frames} per run, rejects {dict(rejects)}")
    rates = {k: [frames / t for t in v] for k, v in times.items()}
    median = {k: frames / statistics.median(v) for k, v in times.items()}
    base = median["before"]
    peak = PEAK_CALLS_PER_S * QUEUE_EVENTS_PER_CALL
    rows = [
        ("(before) line-at-a-time parser only (tests/unit/ami/line_parser.py)", "before parse"),
        ("(base, before) line parser -> headers_of -> from_ami(mapping) -> CenterState.apply", "before"),
        ("AmiParser (learned shapes) only", "parse"),
        ("AmiParser -> from_ami(message) -> CenterState.apply", "full"),
        ("the same, and the wallboard publisher's update every 0.1 s on the same core", "published"),
    ]
    print(table(
        ["pipeline (one core)", "events/s [min-max]", "µs/event", "vs base", "vs goal 100k/s",
         f"vs case-study peak {peak:.1f}/s"],
        [[label, f"{num(median[k])} [{spread(rates[k])}]", num(1e6 / median[k], 1), ratio(median[k] / base),
          ratio(median[k] / GOAL_EVENTS_PER_S), ratio(median[k] / peak)] for label, k in rows],
    ))  # fmt: skip
    snap = state.snapshot(state.horizon or 0.0)
    print(f"peak: {PEAK_CALLS_PER_S} new calls/s x {QUEUE_EVENTS_PER_CALL} queue events per answered call "
          f"(transcript) = {peak:.1f} events/s. State after: {state.applied:,} events applied, "
          f"{sum(g.waiting for g in snap.groups)} waiting, {len(snap.agents)} seats; {updates} wallboard updates "
          f"in the last round. Both pipelines build equal events (tests/unit/metrics/test_intake.py).")  # fmt: skip

    # What one wallboard publish costs on this state (the publisher renders on the loop).
    now = (state.horizon or 0.0) + 1.0
    day = kpi.day_start(now, utc_offset_seconds(catalog, now))

    def recompute() -> bytes:  # the render before the live sums: KPIs from every call, every seat
        today = [row for cut in (None, "group", "line", "tier") for row in state.kpis(day, now, cut, interval=None)]
        intervals = state.kpis(day, now, None, interval=kpi.INTERVAL_SECONDS)
        return sse_event(wallboard_payload(state.snapshot(now), today, intervals, catalog, now))

    wallboard = Wallboard(catalog)
    wallboard.update(state, now)  # a page is open: the next publish is an update
    bump = iter(range(10**6))

    def update() -> bytes:  # what the publisher sends after one more caller joined
        state.apply(CallerJoined(at=now - 0.5, queue="basic_zh", uniqueid=f"bench.{next(bump)}", caller_hash=None,
                                 position=1))  # fmt: skip
        return sse_event(wallboard.update(state, now).changes)

    publish: dict[str, tuple[float, int]] = {}
    for label, fn in (("(base) recompute from every call and seat (the render before)", recompute),
                      ("whole payload from the live sums (render_wallboard: page load)",
                       lambda: sse_event(render_wallboard(state, catalog, now))),
                      ("update after one more caller (what an open page receives)", update)):  # fmt: skip
        runs = [timed(fn) for _ in range(5)]
        publish[label] = (statistics.median(t for t, _ in runs), len(runs[-1][1]))
    base_s = next(iter(publish.values()))[0]
    print(
        f"\nOne wallboard publish on this state ({calls:,} calls today, {len(snap.agents):,} seats), "
        "including SSE encoding, median of 5:"
    )
    print(table(
        ["publish", "time (ms)", "vs base", "bytes (KiB)", "publisher pause (s)"],
        [[label, num(t * 1000, 1), ratio(t / base_s), num(size / 1024, 1), f"{max(PUBLISH_INTERVAL, 4 * t):.2f}"]
         for label, (t, size) in publish.items()],
    ))  # fmt: skip
    print(f"publisher pause: max(publish_interval {PUBLISH_INTERVAL} s, 4 x render) (render_budget 0.2)")
    return events, {"full_rate": median["full"], "base_rate": base, "frames": frames, "calls": calls}


# --------------------------------------------------------------------------- 2. store


def bench_store(events: list[DomainEvent], tmp: Path) -> dict[str, float]:
    print(f"\n## 2. SqliteEventStore.append (temp files in {tmp}, WAL, synchronous=NORMAL)")
    results = []
    for label, batch in (("(base) 1 event per append (1 transaction each)", 1),
                         (f"batches of {STORE_BATCH} (live pipeline)", STORE_BATCH)):  # fmt: skip
        subset = events
        path = tmp / f"store-{batch}.sqlite3"
        store = SqliteEventStore(path)
        started = time.perf_counter()
        stored = 0
        for i in range(0, len(subset), batch):
            stored += store.append(subset[i : i + batch])
        elapsed = time.perf_counter() - started
        store.close()
        assert stored == len(subset), (stored, len(subset))
        results.append((label, len(subset), elapsed, len(subset) / elapsed))
    base = results[0][3]
    print(table(
        ["append", "events", "time (s)", "events/s", "µs/event", "vs 1 per append"],
        [[label, num(n), f"{t:.2f}", num(rate), num(1e6 / rate, 1), ratio(rate / base)]
         for label, n, t, rate in results],
    ))  # fmt: skip
    print(f"same {len(events):,} domain events (from 1.) in both; each file new; every event stored once")
    return {"single_rate": results[0][3], "batched_rate": results[1][3]}


# --------------------------------------------------------------------------- 3. fake AMI server


def free_port() -> int:
    while True:
        with socket.socket() as s:
            s.bind((HOST, 0))
            port = int(s.getsockname()[1])
        if port not in RESERVED_PORTS:
            return port


def response(action_id: str, *pairs: tuple[str, str], status: str = "Success") -> bytes:
    return frame([("Response", status), ("ActionID", action_id), *pairs])


class FakeAmi:
    """Enough of Asterisk's manager port for AmiClient: Login, Ping, QueueStatus, Logoff."""

    def __init__(self) -> None:
        self.events_writer: asyncio.StreamWriter | None = None
        self.resynced = asyncio.Event()
        self.logins: Counter[str] = Counter()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"Asterisk Call Manager/11.0.0\r\n")
        parser = AmiParser(expect_banner=False)
        try:
            while data := await reader.read(READ_CHUNK):
                parser.receive_data(data)
                while (msg := parser.next_event()) is not NEED_DATA:
                    if isinstance(msg, AmiMessage) and not self._answer(msg, writer):
                        writer.close()
                        return
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            if self.events_writer is writer:
                self.events_writer = None
            writer.close()

    def _answer(self, msg: AmiMessage, writer: asyncio.StreamWriter) -> bool:
        action, aid = msg.get("Action", "").lower(), msg.get("ActionID", "")
        if action == "login":
            self.logins[msg.get("Username", "")] += 1
            writer.write(response(aid, ("Message", "Authentication accepted")))
            if msg.get("Events", "on").lower() != "off":
                self.events_writer = writer
        elif action == "queuestatus":
            writer.write(response(aid, ("EventList", "start"), ("Message", "Queue status will follow")))
            writer.write(frame([("Event", "QueueStatusComplete"), ("ActionID", aid), ("EventList", "Complete"),
                                ("ListItems", "0")]))  # fmt: skip
            if writer is self.events_writer:
                self.resynced.set()
        elif action == "ping":
            writer.write(response(aid, ("Ping", "Pong"), ("Timestamp", f"{time.time():.6f}")))
        elif action == "logoff":
            writer.write(response(aid, ("Message", "Thanks for all the fish."), status="Goodbye"))
            return False
        else:
            writer.write(response(aid, ("Message", "ok")))
        return True


@dataclass
class LatencyScript:
    """Join/leave frames whose (waiting basic_zh, waiting english) after each event is unique."""

    join: tuple[tuple[str, str], ...]
    leave: tuple[tuple[str, str], ...]
    waiting_a: list[str] = field(default_factory=list)  # uniqueids waiting in basic_zh, FIFO
    a: int = 0
    b: int = 0
    n: int = 0
    states: list[tuple[int, int]] = field(default_factory=list)

    def next_frame(self, now: float) -> bytes:
        """The next event's frame, stamped `now`; its resulting state goes to `states`."""
        k = self.n
        self.n += 1
        phase_pos = k % (PHASE + 1)
        stamp = f"{now:.6f}"
        caller = f"139{k:08d}"
        if phase_pos == 0:  # each phase opens with one join in english: b counts phases
            self.b += 1
            subs = {"Queue": "english", "Uniqueid": f"b.{k}", "Linkedid": f"b.{k}", "CallerIDNum": caller,
                    "Position": str(self.b), "Count": str(self.b), "Timestamp": stamp}  # fmt: skip
            headers = vary(self.join, subs)
        elif (k // (PHASE + 1)) % 2 == 0:  # joins in basic_zh
            uid = f"a.{k}"
            self.waiting_a.append(uid)
            self.a += 1
            subs = {"Queue": "basic_zh", "Uniqueid": uid, "Linkedid": uid, "CallerIDNum": caller,
                    "Channel": f"PJSIP/pstn-{k:08x}", "Position": str(self.a), "Count": str(self.a),
                    "Timestamp": stamp}  # fmt: skip
            headers = vary(self.join, subs)
        else:  # leaves from basic_zh, first come first served
            uid = self.waiting_a.pop(0)
            self.a -= 1
            subs = {"Queue": "basic_zh", "Uniqueid": uid, "Linkedid": uid, "Position": "1",
                    "Count": str(self.a), "Timestamp": stamp}  # fmt: skip
            headers = vary(self.leave, subs)
        self.states.append((self.a, self.b))
        return frame(headers)


# Before the page's own script: note when each SSE message arrives (listener added before onmessage).
ARRIVAL_JS = """(() => {
  const Native = window.EventSource;
  window.__arrival = [0, 0];
  window.EventSource = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", (m) => {
        window.__arrival = [performance.timeOrigin + performance.now(), m.data.length];
      });
    }
  };
})();"""

OBSERVER_JS = """() => {
  const a = document.querySelector('[data-queue="basic_zh"] [data-kpi="waiting"]');
  const b = document.querySelector('[data-queue="english"] [data-kpi="waiting"]');
  window.__seen = [];
  const record = () => window.__seen.push([performance.timeOrigin + performance.now(),
                                          Number(a.dataset.value), Number(b.dataset.value), ...window.__arrival]);
  new MutationObserver(record).observe(document.body, {subtree: true, attributes: true,
                                                       attributeFilter: ["data-value"]});
  return [Number(a.dataset.value), Number(b.dataset.value)];
}"""


@dataclass
class RunResult:
    rate: float
    sent: int
    latencies_ms: list[float]
    renders: int
    distinct_states: int
    unmatched: int
    send_lag_ms: float
    page_ms: list[float]  # per render: SSE message arrival -> DOM updated
    snapshot_bytes: int


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


async def run_rate(page: Any, ami: FakeAmi, script: LatencyScript, rate: float, seconds: float) -> RunResult:
    count = max(1, round(rate * seconds))
    first = script.n
    renders_before = int(await page.evaluate("Number(document.body.dataset.updates)"))
    writer = ami.events_writer
    assert writer is not None, "the metrics session is not connected"
    loop = asyncio.get_running_loop()
    sent: list[float] = []
    lag: list[float] = []
    t0 = loop.time() + 0.05
    for i in range(count):
        target = t0 + i / rate
        delay = target - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        lag.append(loop.time() - target)
        writer.write(script.next_frame(time.time()))
        sent.append(time.time())
        if writer.transport.get_write_buffer_size() > 1 << 16:
            await writer.drain()
    final = script.states[-1]
    with contextlib.suppress(Exception):
        await page.wait_for_function(
            f"() => window.__seen.length && window.__seen[window.__seen.length - 1][1] === {final[0]}"
            f" && window.__seen[window.__seen.length - 1][2] === {final[1]}", timeout=5000)  # fmt: skip
    seen = await page.evaluate("window.__seen.splice(0)")
    renders = int(await page.evaluate("Number(document.body.dataset.updates)")) - renders_before
    # Page states -> event index (unique by construction).
    index = {state: first + i for i, state in enumerate(script.states[first:])}
    observed: list[tuple[float, int]] = []
    unmatched = 0
    last: tuple[int, int] | None = None
    page_ms: list[float] = []
    sizes: list[int] = []
    for t_ms, a, b, arrived_ms, size in seen:
        if (a, b) == last:
            continue
        last = (a, b)
        if arrived_ms:
            page_ms.append(t_ms - arrived_ms)
            sizes.append(size)
        j = index.get((a, b))
        if j is None:
            unmatched += 1
            continue
        if observed and j < observed[-1][1]:
            unmatched += 1  # the page went back in time: should not happen
            continue
        observed.append((t_ms / 1000, j))
    latencies: list[float] = []
    o = 0
    for i in range(count):
        k = first + i
        while o < len(observed) and observed[o][1] < k:
            o += 1
        if o == len(observed):
            break  # never shown (counted as missing)
        latencies.append((observed[o][0] - sent[i]) * 1000)
    return RunResult(rate, count, latencies, renders, len(observed), unmatched, max(lag) * 1000, page_ms,
                     max(sizes, default=0))  # fmt: skip


def serve_app(config: str) -> int:
    """Child process: the real `ivr serve` (ivr.serve.serve) with the given settings."""
    import ivr.serve
    from ivr.metrics.adapters.live import LiveMetrics
    from ivr.settings import Settings

    settings = json.loads(config)
    interval = settings.pop("what_if_publish_interval", None)
    if interval is not None:  # what-if only: the shipped app passes publish_interval=0.25

        class Patched(LiveMetrics):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **{**kwargs, "publish_interval": interval})

        ivr.serve.LiveMetrics = Patched  # type: ignore[attr-defined]
    return ivr.serve.serve(Settings(**settings))


def start_app(config: dict[str, Any], log_path: Path) -> subprocess.Popen[bytes]:
    with open(log_path, "wb") as log_file:
        return subprocess.Popen(
            [sys.executable, __file__, "--serve-app", json.dumps(config)], cwd=REPO,
            stdout=log_file, stderr=subprocess.STDOUT,
        )  # fmt: skip


async def wait_healthy(port: int, deadline: float) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(f"http://{HOST}:{port}/healthz") as r:
                    if r.status == 200:
                        return
            await asyncio.sleep(0.1)
    raise TimeoutError("ivr serve did not become healthy")


def seed_store(path: Path, events: list[DomainEvent], end: float) -> tuple[int, float]:
    """Store `events` shifted in time so the last one is at `end`; (events stored, first event time)."""
    shift = end - max(e.at for e in events)
    store = SqliteEventStore(path)
    try:
        shifted = [dataclasses.replace(e, at=e.at + shift) for e in events]
        stored = sum(store.append(shifted[i : i + STORE_BATCH]) for i in range(0, len(shifted), STORE_BATCH))
    finally:
        store.close()
    return stored, min(e.at for e in shifted)


@dataclass
class AppRun:
    label: str
    runs: list[tuple[float, float]]  # (events/s, seconds)
    seed: list[DomainEvent] | None = None
    results: list[RunResult] = field(default_factory=list)
    note: str = ""


async def measure_app(app: AppRun, browser: Any, tmp: Path, publish_interval: float | None) -> None:
    """One `ivr serve` process, its fake AMI server and one wallboard page; fills app.results."""
    ami = FakeAmi()
    server = await asyncio.start_server(ami.handle, HOST, 0)
    ami_port = server.sockets[0].getsockname()[1]
    http_port, agi_port = free_port(), free_port()
    run_dir = tmp / f"run-{len(app.label)}-{ami_port}"
    run_dir.mkdir()
    config: dict[str, Any] = {
        "catalog": str(CATALOG), "templates": str(REPO / "dialplans"), "prompts": str(REPO / "prompts"),
        "run_dir": str(run_dir), "ami_port": ami_port, "agi_port": agi_port, "http_port": http_port,
        "demo_tokens": True, "log_level": "info",
    }  # fmt: skip
    if publish_interval is not None:
        config["what_if_publish_interval"] = publish_interval
    if app.seed:
        stored, first = await asyncio.to_thread(seed_store, run_dir / "events.sqlite3", app.seed, time.time() - 60)
        tz = zoneinfo.ZoneInfo(load_catalog(CATALOG).center.timezone)
        day = datetime.now(tz).replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
        today = 1 - max(0.0, min(1.0, (day - first) / (time.time() - 60 - first)))
        app.note = (f"{stored:,} events stored, from {time.time() - first:,.0f} s ago up to 60 s ago "
                    f"(~{today:.0%} of them in the center's today, {tz.key})")  # fmt: skip
    log_path = run_dir / "serve.log"
    print(f"  [{app.label}] fake AMI :{ami_port}, ivr serve :{http_port} (subprocess, log {log_path})"
          f"{'; ' + app.note if app.note else ''}", flush=True)  # fmt: skip
    proc = start_app(config, log_path)
    page = None
    try:
        await wait_healthy(http_port, time.monotonic() + 60)
        await asyncio.wait_for(ami.resynced.wait(), 10)
        templates = transcript_templates()
        script = LatencyScript(join=templates[0], leave=templates[4])
        page = await browser.new_page(viewport={"width": 1600, "height": 1000})
        await page.add_init_script(ARRIVAL_JS)
        await page.goto(f"http://{HOST}:{http_port}/wallboard#token=viewer-demo")
        await page.wait_for_selector('#stream-status[data-state="live"]', timeout=15000)
        for queue in ("basic_zh", "english"):
            await page.wait_for_selector(f'[data-queue="{queue}"] [data-kpi="waiting"][data-value="0"]', timeout=15000)
        # Browser clock vs ours: same machine, but timeOrigin + now() is its own clock.
        samples = []
        for _ in range(5):
            before = time.time()
            browser_ms = await page.evaluate("performance.timeOrigin + performance.now()")
            after = time.time()
            samples.append((after - before, browser_ms - (before + after) / 2 * 1000))
        rtt, offset_ms = min(samples)
        print(f"  [{app.label}] browser clock - our clock: {offset_ms:+.2f} ms (+/- {rtt * 500:.2f} ms), "
              "subtracted from every latency")  # fmt: skip
        await page.evaluate(OBSERVER_JS)
        for rate, seconds in app.runs:
            print(f"  [{app.label}] pushing {rate:g} events/s for {seconds:g} s ...", flush=True)
            result = await run_rate(page, ami, script, rate, seconds)
            result.latencies_ms = [x - offset_ms for x in result.latencies_ms]
            app.results.append(result)
            await asyncio.sleep(1.0)
    finally:
        if page is not None:
            await page.close()
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.to_thread(proc.wait, 15)
        except subprocess.TimeoutExpired:
            proc.kill()
            await asyncio.to_thread(proc.wait)
        server.close()
    for res in app.results:
        if res.unmatched:
            print(f"WARNING: {res.unmatched} page states at {res.rate:g}/s matched no event")
    noisy = [
        line
        for line in log_path.read_text(errors="replace").splitlines()
        if any(w in line.lower() for w in ("warning", "error", "traceback")) and "demo_tokens" not in line
    ]
    print(f"  [{app.label}] AMI logins {dict(ami.logins)}; ivr serve log: {len(noisy)} warning/error lines"
          + "".join(f"\n    {line[:200]}" for line in noisy[:5]))  # fmt: skip


async def bench_browser(apps: list[AppRun], tmp: Path, publish_interval: float | None) -> None:
    from playwright.async_api import async_playwright

    print("\n## 3. Event -> browser (fake AMI -> ivr serve -> SSE -> wallboard in headless Chromium)")
    if publish_interval is not None:
        print(f"WHAT-IF: LiveMetrics publish_interval patched to {publish_interval:g} s in the app (shipped: 0.25 s)")
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            for app in apps:
                await measure_app(app, browser, tmp, publish_interval)
        finally:
            await browser.close()
    base = apps[0].results[0]
    b50, b99 = pct(base.latencies_ms, 50), pct(base.latencies_ms, 99)
    rows = []
    for app in apps:
        for res in app.results:
            lat = res.latencies_ms
            p50, p99 = pct(lat, 50), pct(lat, 99)
            label = f"{'(base) ' if res is base else ''}{res.rate:g} events/s, {app.label}"
            rows.append([
                label, num(res.sent), num(len(lat)), num(min(lat), 1), num(p50, 1), num(p99, 1), num(max(lat), 1),
                f"{ratio(p50 / b50)} / {ratio(p99 / b99)}", ratio(p99 / GOAL_P99_MS), num(res.renders),
                f"{res.sent / max(1, res.renders):.1f}", num(statistics.median(res.page_ms), 1),
                num(res.snapshot_bytes / 1024, 1), f"{res.send_lag_ms:.1f}",
            ])  # fmt: skip
    print(table(
        ["push rate, app state", "events sent", "events shown", "min (ms)", "p50 (ms)", "p99 (ms)", "max (ms)",
         "p50 / p99 vs base", "p99 vs goal 200 ms", "page renders", "events per render",
         "page work p50 (ms)", "snapshot (KiB)", "max send lag (ms)"],
        rows,
    ))  # fmt: skip


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description="Metrics benchmarks: AMI frames -> reducer events/s, event store writes/s, "
        "event -> browser latency. Prints markdown tables with ratios to baselines of the same run.",
    )
    ap.add_argument("--quick", action="store_true", help="smoke run: smaller stream, 8 s browser runs (~50 s)")
    ap.add_argument("--calls", type=int, help="synthetic calls in the reducer stream (default 10,000; quick 2,500)")
    ap.add_argument("--rounds", type=int, default=3, help="reducer rounds, median reported (default 3)")
    ap.add_argument("--store-events", type=int, help="events per store run (default 20,000; quick 4,000)")
    ap.add_argument("--seconds", type=float, help="seconds per browser run (default 30; quick 8)")
    ap.add_argument("--rate", type=float, default=100.0, help="events/s of the loaded browser run (default 100)")
    ap.add_argument("--baseline-rate", type=float, default=10.0, help="events/s of the baseline run (default 10)")
    ap.add_argument("--publish-interval", type=float, metavar="S",
                    help="what-if: patch the app's LiveMetrics publish_interval (shipped: 0.25 s)")  # fmt: skip
    ap.add_argument("--preloaded-seconds", type=float, metavar="S",
                    help="seconds of the extra run against an app whose store holds the reducer stream's "
                    "events (default: half of --seconds; 0 skips it)")  # fmt: skip
    ap.add_argument("--skip-browser", action="store_true", help="only the reducer and store figures")
    ap.add_argument("--events-only", action="store_true",
                    help="only the event micro-benchmark: ns to build an event and its identity()")  # fmt: skip
    ap.add_argument("--serve-app", metavar="JSON", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.serve_app:
        return serve_app(args.serve_app)
    if args.events_only:
        bench_events()
        return 0

    calls = args.calls or (2_500 if args.quick else 10_000)
    store_events = args.store_events or (4_000 if args.quick else 20_000)
    seconds = args.seconds or (8.0 if args.quick else 30.0)
    started = time.monotonic()
    print(f"# bench/metrics.py{' --quick' if args.quick else ''}: Python {sys.version.split()[0]}, "
          f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}, ivr modules: {native.status()} "
          "(IVR_NATIVE=off: plain Python)")  # fmt: skip

    affinity = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(affinity)})  # (1) and (2) on one core
    try:
        events, _ = bench_reducer(calls, args.rounds)
        with tempfile.TemporaryDirectory(prefix="ivr-bench-store-") as tmp:
            bench_store(events[:store_events], Path(tmp))
    finally:
        os.sched_setaffinity(0, affinity)
    if not args.skip_browser:
        preloaded = args.preloaded_seconds if args.preloaded_seconds is not None else seconds / 2
        apps = [AppRun("empty center", [(args.baseline_rate, seconds), (args.rate, seconds)])]
        if preloaded > 0:
            seats = len({getattr(e, "agent", None) for e in events} - {None})
            apps.append(AppRun(f"{calls:,} calls + {seats:,} seats preloaded", [(args.rate, preloaded)], seed=events))
        with tempfile.TemporaryDirectory(prefix="ivr-bench-wallboard-") as tmp:
            run = bench_browser(apps, Path(tmp), args.publish_interval)
            budget = max(2 * seconds + preloaded + 30, 175 - (time.monotonic() - started))  # whole run < 3 min
            asyncio.run(asyncio.wait_for(run, timeout=budget))
        for app in apps[1:]:
            print(f"preloaded: {app.note}, replayed by the app at startup (restart recovery)")
    print(f"\ntotal {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
