"""Soak: a steady mixed load through the real PBX for half an hour.

Run: `IVR_E2E_SLOT=4 .venv/bin/python bench/soak.py` (root, Docker engine up,
the ivr-asterisk:22 image built; `--minutes 5` for a short run, `--help`).

One Asterisk container and one `ivr serve` (bench/pbx_load.py), every demo
seat and `--seats` extra basic_zh seats answering, except the corporate
group's own seats: its callers wait and give up. The mix, in fixed shares of
`--rate` calls/s, each path a SIPp process for the whole run:
- menu: 95588, 1 then #, hang up in the IVR;
- selfservice: a demo customer's balance behind card digits and PIN;
- lost_card: 95588, 3: the lost-card group (priority 10), a seat answers;
- queue: 95588, 0: basic_zh, a seat answers;
- abandon: 4008795588, 0: the corporate group, nobody logged in there, the
  caller hangs up after 4 s of waiting;
- survey: 4000095588, 0: platinum, a seat answers and hangs up, the caller
  rates the call 5.
Besides, every `--pause-every` seconds one seat is paused and unpaused again
through the API (POST /api/agents/{seat}/pause, /unpause) and another with
the feature codes *721 and *73.

Reported: calls per path (created, completed, failed; expected 0 failed),
the pause actions that failed, `ivr reconcile --since <start>` at the end
(KPIs from the event store against Asterisk's queue_log: expected "no
difference", within `--settle` seconds: the service adds from queue_log what
AMI never delivered 30 s after Asterisk logged it), and the resident memory of the service and of Asterisk sampled
every minute, with the growth from the first sample to the last.

With `IVR_TRACEMALLOC=<frames>` in the environment (0: no tracing) the service
is sent SIGUSR2 at every sample: it writes `memory-<time>.json` (objects by
type, malloc, SQLite and resident memory by mapping), `.pymalloc` and, when
tracing, `.tracemalloc` snapshots into its run directory (`--keep` keeps them;
see `ivr/serve.py`).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.pbx_load import CallerPath, LoadPbx, Stream, StreamResult, Usage, running, split_rate  # noqa: E402

DEMO_CUSTOMER, CARD_LAST4, PIN = "13900000004", "4321", "246810"  # ivr/directory/demo.py
GROUP_SEATS = frozenset({"1021", "1022"})  # not registered: corporate callers wait, then give up
API_SEAT, CODE_SEAT = "2001", "2002"


def _typed(digits: str, first_ms: int = 1800) -> list[tuple[int, str]]:
    return [(first_ms, digits[0]), *((400, d) for d in digits[1:])]


PATHS = {
    "menu": CallerPath("menu", "95588", "13811180001", ((1500, "1"), (2500, "#")), hangup_after_ms=2500),
    "selfservice": CallerPath("selfservice", "95588", DEMO_CUSTOMER,
                              ((1500, "1"), (1500, "1"), *_typed(CARD_LAST4), *_typed(PIN)), hangup_after_ms=9000),
    "lost_card": CallerPath("lost_card", "95588", "13811180002", ((1500, "3"), (2000, "3"), (2500, "3"))),
    "queue": CallerPath("queue", "95588", "13811180003", ((1500, "0"), (2000, "0"), (2500, "0"))),
    "abandon": CallerPath("abandon", "4008795588", "13811180004", ((1500, "0"),), hangup_after_ms=4000),
    "survey": CallerPath("survey", "4000095588", "13811180005", ((1500, "0"), (2000, "0"), (4000, "5"))),
}  # fmt: skip
WEIGHTS: dict[str, float] = {"menu": 3, "selfservice": 2, "lost_card": 1, "queue": 3, "abandon": 1, "survey": 1}


@dataclass
class Sample:
    minute: int
    usage: Usage
    active_calls: int


@dataclass
class Pauses:
    done: int = 0
    failed: list[str] = field(default_factory=list)


def pause_cycle(load: LoadPbx, every: float, stop: threading.Event, pauses: Pauses) -> None:
    """Pause and unpause one seat through the API and another with feature codes, every `every` s."""

    def api(action: str, body: dict[str, str] | None) -> bool:
        status, _ = load.service.post(f"/api/agents/{API_SEAT}/{action}", json.dumps(body).encode() if body else None)
        return status == 200

    def code(digits: str) -> bool:
        return load.sipp.seat_dials(CODE_SEAT, digits).returncode == 0

    while not stop.wait(every):
        for what, ok in (("api pause", api("pause", {"reason": "break"})), ("*721", code("*721"))):
            if not ok:
                pauses.failed.append(what)
        if stop.wait(every / 3):
            return
        for what, ok in (("api unpause", api("unpause", None)), ("*73", code("*73"))):
            if not ok:
                pauses.failed.append(what)
        pauses.done += 1


def soak(args: argparse.Namespace, work: Path) -> int:
    seconds = args.minutes * 60
    load = LoadPbx(work, extra_seats=args.seats, talk_ms=args.talk_ms, survey_lines=frozenset({"platinum"}),
                   unregistered=GROUP_SEATS)  # fmt: skip
    samples: list[Sample] = []
    pauses = Pauses()
    with running(load), load.seats_answering():
        t0 = time.time() - 1
        streams = [
            Stream(load.sipp, PATHS[name], share, max(1, round(share * seconds)), work / "streams" / name)
            for name, share in split_rate(args.rate, WEIGHTS).items()
        ]
        stop = threading.Event()
        pauser = threading.Thread(target=pause_cycle, args=(load, args.pause_every, stop, pauses), daemon=True)
        start = time.monotonic()
        try:
            for stream in streams:
                stream.start()
            pauser.start()
            minute = 0
            while any(s.proc is not None and s.proc.poll() is None for s in streams):
                samples.append(Sample(minute, load.usage(), load.active_calls()))
                if os.environ.get("IVR_TRACEMALLOC") and load.service.proc is not None:
                    os.kill(load.service.proc.pid, signal.SIGUSR2)  # a heap snapshot in the run dir (ivr/serve.py)
                now = samples[-1]
                print(f"minute {minute:3d}: {now.active_calls:4d} calls, "
                      f"Asterisk {now.usage.asterisk_rss_mib:7.1f} MiB, "
                      f"service {now.usage.service_rss_mib:7.1f} MiB", flush=True)  # fmt: skip
                minute += 1
                deadline = start + 60 * minute
                while time.monotonic() < deadline and any(s.proc is not None and s.proc.poll() is None
                                                          for s in streams):  # fmt: skip
                    time.sleep(1)
                if time.monotonic() > start + seconds + 600:
                    break
            results = [stream.wait(60) for stream in streams]
        finally:
            stop.set()
            for stream in streams:
                stream.stop()
        pauser.join(60)
        load.wait_quiet(180)
        samples.append(Sample(len(samples), load.usage(), 0))
        if os.environ.get("IVR_TRACEMALLOC") and load.service.proc is not None:
            os.kill(load.service.proc.pid, signal.SIGUSR2)
        reconciled = reconcile_settled(load, t0, args.settle)
    return report(args, results, samples, pauses, reconciled)


@dataclass(frozen=True)
class Reconciled:
    first: str  # the first `ivr reconcile` output, right after the last call
    last: str
    returncode: int
    seconds: float  # until no difference (or the deadline)


def reconcile_settled(load: LoadPbx, since: float, deadline: float) -> Reconciled:
    """`ivr reconcile` until it finds no difference, within `deadline` seconds.

    The service adds an event that AMI never delivered from queue_log, `settle`
    seconds (30) after Asterisk logged it (ivr/metrics/adapters/follow.py): a
    reconcile right after the last call can see that gap before it closes."""
    start = time.monotonic()
    first = ""
    while True:
        result = load.reconcile(since)
        output = (result.stdout + result.stderr).strip()
        first = first or output
        elapsed = time.monotonic() - start
        if result.returncode == 0 or elapsed > deadline:
            return Reconciled(first, output, result.returncode, elapsed)
        time.sleep(5)


def report(
    args: argparse.Namespace, results: list[StreamResult], samples: list[Sample], pauses: Pauses, rec: Reconciled
) -> int:
    print(f"\nsoak: {args.minutes:g} min at {args.rate:g} calls/s")
    print(f"{'path':>12}{'created':>9}{'completed':>10}{'failed':>8}{'busy':>6}")
    for r in results:
        print(f"{r.path:>12}{r.created:9d}{r.completed:10d}{r.failed:8d}{r.busy:6d}")
    failed = sum(r.failed + r.busy for r in results)
    print(f"{'total':>12}{sum(r.created for r in results):9d}{sum(r.completed for r in results):10d}"
          f"{sum(r.failed for r in results):8d}{sum(r.busy for r in results):6d}")  # fmt: skip
    print(f"pause cycles: {pauses.done}, failed actions: {pauses.failed or 'none'}")
    if rec.first != rec.last:
        print(f"reconcile right after the last call:\n{rec.first}")
    print(f"reconcile (exit {rec.returncode}, {rec.seconds:.0f} s after the last call ended):\n{rec.last}")
    first, last = samples[0].usage, samples[-1].usage
    peak_ast = max(s.usage.asterisk_rss_mib for s in samples)
    peak_ivr = max(s.usage.service_rss_mib for s in samples)
    # Growth after the first minute (warm-up: caches, the first calls' allocations).
    warm = samples[min(1, len(samples) - 1)].usage
    print("memory (MiB)  first  after 1 min  last  peak  growth after 1 min")
    print(f"  Asterisk  {first.asterisk_rss_mib:7.1f}{warm.asterisk_rss_mib:9.1f}{last.asterisk_rss_mib:8.1f}"
          f"{peak_ast:7.1f}{last.asterisk_rss_mib - warm.asterisk_rss_mib:+9.1f}")  # fmt: skip
    print(f"  service   {first.service_rss_mib:7.1f}{warm.service_rss_mib:9.1f}{last.service_rss_mib:8.1f}"
          f"{peak_ivr:7.1f}{last.service_rss_mib - warm.service_rss_mib:+9.1f}")  # fmt: skip
    cpu_ast, cpu_ivr = last.asterisk_cpu - first.asterisk_cpu, last.service_cpu - first.service_cpu
    completed = sum(r.completed for r in results)
    if completed:
        print(f"CPU per completed call: Asterisk {1000 * cpu_ast / completed:.1f} ms, "
              f"service {1000 * cpu_ivr / completed:.1f} ms")  # fmt: skip
    ok = failed == 0 and not pauses.failed and rec.returncode == 0 and "no difference" in rec.last
    print("soak: OK" if ok else "soak: FAILED")
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30, help="length of the offered load (default 30)")
    parser.add_argument("--rate", type=float, default=4, help="offered calls/s over every path (default 4)")
    parser.add_argument("--seats", type=int, default=40, help="extra basic_zh seats answering (default 40)")
    parser.add_argument("--talk-ms", type=int, default=1500, help="talk time of an answered call")
    parser.add_argument("--pause-every", type=float, default=60, help="seconds between pause cycles")
    parser.add_argument("--settle", type=float, default=90,
                        help="seconds to wait for `ivr reconcile` to find no difference (default 90)")  # fmt: skip
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, SIPp traces)")
    args = parser.parse_args()
    if os.environ.get("IVR_E2E_SLOT") is None:
        print("set IVR_E2E_SLOT (0-9): the PBX's ports and container name", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="ivr-soak-"))
    print(f"work directory: {work}", flush=True)
    try:
        return soak(args, work)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
