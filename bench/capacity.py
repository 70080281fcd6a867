"""Capacity curve through the real PBX, and what overload does to it.

Run: `IVR_E2E_SLOT=4 .venv/bin/python bench/capacity.py` (root, Docker engine
up, the ivr-asterisk:22 image built; `--help` for the options).

One Asterisk container and one `ivr serve` (bench/pbx_load.py) take SIPp
callers on three paths at once, in fixed shares of the offered rate:
- ivr: 95588, the caller walks the menu (1, then #) and hangs up: FastAGI only;
- selfservice: 95588 from a demo customer: bill and balance, card digits and
  PIN (scrypt in the service), the balance read out, then the caller hangs up;
- queue: 95588, 0 for an agent; a SIPp seat answers and hangs up after
  `--talk-ms`.
Each step offers a rate for `--step` seconds, then waits for every call to
end. For each step: calls/s offered, peak concurrent calls (SIPp's
CurrentCall, summed over the paths), failed calls, setup time (INVITE to 200
OK) p50/p99, CPU time per completed call of Asterisk and of the service
(/proc utime + stime over the step), and their resident memory at its end.
Figures are printed absolute and as ratios to the first (lowest) step of the
same run. The knee is the highest rate with no failed call and a setup p99
under `--knee-p99-ms`.

`--overload RATE` then runs one step at RATE (about twice the knee) on a
fresh PBX without the admission limit, and again with
`center.max_concurrent_calls` at each `--limit`, for each answer in `--when-full`
(reject, busy_prompt): calls turned away (503), time to that answer, calls
answered then broken (half-served), and the share of admitted calls that
completed.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.pbx_load import (  # noqa: E402
    CallerPath,
    Limit,
    LoadPbx,
    Stream,
    StreamResult,
    Usage,
    percentile,
    running,
    split_rate,
)

DEMO_CUSTOMER, CARD_LAST4, PIN = "13900000004", "4321", "246810"  # ivr/directory/demo.py


def _typed(digits: str, first_ms: int = 1800) -> list[tuple[int, str]]:
    return [(first_ms, digits[0]), *((400, d) for d in digits[1:])]


PATHS = {
    "ivr": CallerPath("ivr", "95588", "13811190001", ((1500, "1"), (2500, "#")), hangup_after_ms=2500),
    "selfservice": CallerPath("selfservice", "95588", DEMO_CUSTOMER,
                              ((1500, "1"), (1500, "1"), *_typed(CARD_LAST4), *_typed(PIN)), hangup_after_ms=9000),
    "queue": CallerPath("queue", "95588", "13811190002", ((1500, "0"), (2000, "0"), (2500, "0"))),
}  # fmt: skip


@dataclass(frozen=True)
class Step:
    rate: float
    seconds: float
    streams: tuple[StreamResult, ...]
    before: Usage
    after: Usage

    @property
    def created(self) -> int:
        return sum(s.created for s in self.streams)

    @property
    def completed(self) -> int:
        return sum(s.completed for s in self.streams)

    @property
    def failed(self) -> int:
        return sum(s.failed for s in self.streams)

    @property
    def busy(self) -> int:
        return sum(s.busy for s in self.streams)

    @property
    def half_served(self) -> int:
        return sum(s.half_served for s in self.streams)

    @property
    def concurrent(self) -> int:
        rows = [s.concurrent_rows for s in self.streams]
        return max((sum(r[i] for r in rows if i < len(r)) for i in range(max(map(len, rows)))), default=0)

    @property
    def setup_ms(self) -> list[float]:
        return [v for s in self.streams for v in s.setup_ms]

    @property
    def busy_ms(self) -> list[float]:
        return [v for s in self.streams for v in s.busy_ms]

    def cpu_ms_per_call(self, who: str) -> float:
        spent = getattr(self.after, f"{who}_cpu") - getattr(self.before, f"{who}_cpu")
        return 1000 * spent / self.completed if self.completed else math.nan


def run_step(load: LoadPbx, rate: float, seconds: float, weights: dict[str, float], folder: Path) -> Step:
    streams = [
        Stream(load.sipp, PATHS[name], share, max(1, round(share * seconds)), folder / name)
        for name, share in split_rate(rate, weights).items()
    ]
    before = load.usage()
    try:
        for stream in streams:
            stream.start()
        results = tuple(stream.wait(seconds + 240) for stream in streams)
    finally:
        for stream in streams:
            stream.stop()
    after = load.usage()
    load.wait_quiet()
    return Step(rate, seconds, results, before, after)


def curve(args: argparse.Namespace, work: Path) -> list[Step]:
    steps: list[Step] = []
    load = LoadPbx(work / "curve", extra_seats=args.seats, talk_ms=args.talk_ms)
    with running(load), load.seats_answering():
        for rate in args.rates:
            step = run_step(load, rate, args.step, args.weights, work / "curve" / f"rate-{rate:g}")
            steps.append(step)
            print(row(step), flush=True)
    return steps


HEADER = (f"{'calls/s':>8}{'calls':>7}{'peak conc':>10}{'failed':>7}{'busy':>6}{'setup p50':>10}"
          f"{'p99 ms':>8}{'ast ms/call':>12}{'ivr ms/call':>12}{'ast MiB':>8}{'ivr MiB':>8}")  # fmt: skip


def row(step: Step) -> str:
    return (f"{step.rate:8g}{step.created:7d}{step.concurrent:10d}{step.failed:7d}{step.busy:6d}"
            f"{percentile(step.setup_ms, 0.5):10.0f}{percentile(step.setup_ms, 0.99):8.0f}"
            f"{step.cpu_ms_per_call('asterisk'):12.2f}{step.cpu_ms_per_call('service'):12.2f}"
            f"{step.after.asterisk_rss_mib:8.1f}{step.after.service_rss_mib:8.1f}")  # fmt: skip


def ratios(steps: list[Step]) -> None:
    base = steps[0]

    def ratio(value: float, baseline: float) -> str:
        return f"{value / baseline:8.2f}" if baseline else f"{'-':>8}"

    print(f"\nratios to the {base.rate:g} calls/s step")
    print(f"{'calls/s':>8}{'conc':>8}{'p50':>8}{'p99':>8}{'ast cpu':>8}{'ivr cpu':>8}{'ast MiB':>8}{'ivr MiB':>8}")
    for s in steps:
        print(f"{s.rate / base.rate:8.2f}{ratio(s.concurrent, base.concurrent)}"
              f"{ratio(percentile(s.setup_ms, 0.5), percentile(base.setup_ms, 0.5))}"
              f"{ratio(percentile(s.setup_ms, 0.99), percentile(base.setup_ms, 0.99))}"
              f"{ratio(s.cpu_ms_per_call('asterisk'), base.cpu_ms_per_call('asterisk'))}"
              f"{ratio(s.cpu_ms_per_call('service'), base.cpu_ms_per_call('service'))}"
              f"{ratio(s.after.asterisk_rss_mib, base.after.asterisk_rss_mib)}"
              f"{ratio(s.after.service_rss_mib, base.after.service_rss_mib)}")  # fmt: skip


def per_path(steps: list[Step]) -> None:
    print("\nper path: created/completed/failed, setup p99 ms")
    names = [s.path for s in steps[0].streams]
    print(f"{'calls/s':>8}" + "".join(f"{name:>28}" for name in names))
    for step in steps:
        cells = [f"{s.created}/{s.completed}/{s.failed}, {percentile(s.setup_ms, 0.99):.0f}" for s in step.streams]
        print(f"{step.rate:8g}" + "".join(f"{c:>28}" for c in cells))


def knee(steps: list[Step], p99_ms: float) -> Step | None:
    good = [s for s in steps if s.failed == 0 and percentile(s.setup_ms, 0.99) < p99_ms]
    return max(good, key=lambda s: s.rate, default=None)


def overload(args: argparse.Namespace, work: Path) -> None:
    print(f"\noverload: {args.overload:g} calls/s for {args.step:g} s")
    print(f"{'limit':>14}{'calls':>7}{'peak conc':>10}{'completed':>10}{'busy':>6}{'failed':>7}{'half':>6}"
          f"{'busy p50':>9}{'p99 ms':>8}{'setup p99':>10}{'served':>8}{'ast ms/call':>12}")  # fmt: skip
    phases = [] if args.no_unlimited else [("none", Limit())]
    phases += [(f"{n} {w}", Limit(n, w)) for n in args.limit for w in args.when_full]
    for name, limit in phases:
        folder = work / f"overload-{name.replace(' ', '-')}"
        load = LoadPbx(folder, extra_seats=args.seats, talk_ms=args.talk_ms, limit=limit)
        with running(load), load.seats_answering():
            step = run_step(load, args.overload, args.step, args.weights, folder / "step")
        admitted = step.created - step.busy
        served = step.completed / admitted if admitted else math.nan
        print(f"{name:>14}{step.created:7d}{step.concurrent:10d}{step.completed:10d}{step.busy:6d}{step.failed:7d}"
              f"{step.half_served:6d}{percentile(step.busy_ms, 0.5):9.0f}{percentile(step.busy_ms, 0.99):8.0f}"
              f"{percentile(step.setup_ms, 0.99):10.0f}{served:8.1%}{step.cpu_ms_per_call('asterisk'):12.2f}",
              flush=True)  # fmt: skip


def _weights(text: str) -> dict[str, float]:
    pairs = dict(part.split("=", 1) for part in text.split(","))
    unknown = set(pairs) - set(PATHS)
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown path(s) {', '.join(sorted(unknown))}: use {', '.join(PATHS)}")
    return {name: float(value) for name, value in pairs.items()}


def _answers(text: str) -> list[str]:
    answers = text.split(",")
    if not set(answers) <= {"reject", "busy_prompt"}:
        raise argparse.ArgumentTypeError("use reject, busy_prompt or both")
    return answers


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rates",
        type=lambda t: [float(r) for r in t.split(",")],
        default=[2, 5, 10, 15, 20, 25],
        help="offered calls/s per step, comma-separated, lowest first (default 2,5,10,15,20,25)",
    )
    parser.add_argument("--step", type=float, default=30, help="seconds of offered load per step (default 30)")
    parser.add_argument(
        "--weights",
        type=_weights,
        default={"ivr": 2, "selfservice": 1, "queue": 1},
        help="share of each path (default ivr=2,selfservice=1,queue=1)",
    )
    parser.add_argument("--seats", type=int, default=100, help="extra basic_zh seats answering (default 100)")
    parser.add_argument("--talk-ms", type=int, default=1500, help="talk time of an answered queue call")
    parser.add_argument("--knee-p99-ms", type=float, default=1000, help="setup p99 above this is past the knee")
    parser.add_argument("--overload", type=float, default=0, help="calls/s of the overload step (0: none)")
    parser.add_argument("--limit", type=lambda t: [int(n) for n in t.split(",")], default=[],
                        help="center.max_concurrent_calls for the overload steps, comma-separated")  # fmt: skip
    parser.add_argument("--no-unlimited", action="store_true", help="skip the overload step without a limit")
    parser.add_argument("--when-full", type=_answers, default=["reject"],
                        help="center.when_full for the limited overload steps: reject, busy_prompt or both, "
                        "comma-separated (default reject)")  # fmt: skip
    parser.add_argument("--skip-curve", action="store_true", help="only the overload steps")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, SIPp traces)")
    args = parser.parse_args()
    if os.environ.get("IVR_E2E_SLOT") is None:
        print("set IVR_E2E_SLOT (0-9): the PBX's ports and container name", file=sys.stderr)
        return 2
    if args.overload and (not args.limit or min(args.limit) < 1):
        parser.error("--overload needs --limit (calls, at least 1)")
    work = Path(tempfile.mkdtemp(prefix="ivr-capacity-"))
    print(f"work directory: {work}")
    try:
        if not args.skip_curve:
            print(HEADER, flush=True)
            steps = curve(args, work)
            ratios(steps)
            per_path(steps)
            best = knee(steps, args.knee_p99_ms)
            print(f"\nknee: {best.rate:g} calls/s, {best.concurrent} concurrent calls" if best else "\nknee: below the "
                  "lowest step")  # fmt: skip
        if args.overload:
            overload(args, work)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
