"""Control-plane cost: CPU per IVR call of `ivr serve` and of Asterisk, through the real PBX.

Run (root, Docker engine up, images built by `make test` once):

    .venv/bin/python bench/service_cpu.py            # 600 calls at 20/s per configuration
    .venv/bin/python bench/service_cpu.py --calls 300 --rate 30 --profile /tmp/prof

It starts a PBX (the e2e harness's `Pbx`, slot ``IVR_E2E_SLOT``, 3 unless set,
so its container name and ports are its own) and, per configuration, a fresh
`ivr serve` (`IvrService`, JSON logs as deployed), then one SIPp process
places ``--calls`` IVR-only calls into 95588 at ``--rate`` calls/s: each
caller presses 1 (billing) after the greeting and hangs up while the billing
menu plays, so every call ends inside the IVR, never in a queue (the path the
e2e test `test_hang_up_mid_menu_leaves_no_session_task_or_error` takes).

CPU is user+system time from ``/proc/<pid>/stat``: of the `ivr serve`
process, and of Asterisk (the container's main process, read on the host),
from just before SIPp starts to the moment the service has no AGI session
left. The same window's idle share (the rate measured over ``--idle``
seconds before the calls, times the window) is printed beside it and taken
off in the "net" column. Wall time is not a figure here: the box is shared.

Configurations, in the same run, on the same PBX: ``baseline`` is the
service as it was at git revision ``--baseline`` (default ``34bb397``, the
tree the issue measured: per-step log lines through structlog's own pipeline,
worker-thread lookups, one SET VARIABLE per variable, ...), exported with
``git archive`` and compiled the same way; ``current`` is the work tree as it
is (a copy, compiled); ``floor`` is no `ivr serve` at all but a bare
FastAGI server from the current tree that makes the same three exchanges per
call with no call flow (`FloorService`): what the transport itself costs,
one TCP connection and three command exchanges per call. They alternate for
``--rounds`` rounds (baseline, current, floor, baseline, ...; a fresh process
each time) so that drift in the box's load falls on all; every run is
printed, then the median of each configuration with its ratio to the
baseline's median.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("IVR_E2E_SLOT", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.pbx_load import container_pid
from tests.e2e.harness import (
    CALLER_ADDRESS,
    REPO,
    IvrService,
    Pbx,
    Sipp,
    catalog_copy,
    free_port,
    test_settings,
    wait_until,
)

CLK_TCK = os.sysconf("SC_CLK_TCK")
NUMBER = "95588"
CALLER = "13811119999"  # not in the demo directory: a caller the IVR does not recognise
# Press 1 (billing) 1.5 s after the answer, hang up 1.5 s later, in the billing menu.
KEYS = ((1500, "1"),)
HANGUP_AFTER_MS = 1500
CONFIGURATIONS = ("baseline", "current", "floor")
# The tree bench/service_cpu.py was written against (issue #16's measurements).
BASELINE_REVISION = "34bb397"


class FloorService(IvrService):
    """The transport's floor: not `ivr serve` but a bare FastAGI server (this file,
    ``--serve-floor``, from the current tree) that makes the three exchanges
    the route makes for this call (one MSet of three variables, STREAM FILE of
    a prompt with every key as escape digits until the caller hangs up) with no
    call flow, no lookup, no metrics, no AMI; the same token check and one log
    line per call. Its /healthz says only how many AGI sessions are open."""

    def start(self) -> None:
        out = self.log_path.open("ab")
        command = [sys.executable, str(Path(__file__).resolve()), "--serve-floor"]
        self.proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=self.env(), cwd=REPO)
        wait_until(lambda: (h := self.health()) is not None and h["status"] == "ok", 30, "the floor server")


def serve_floor() -> int:
    """`FloorService`'s process: settings from the environment, as `ivr serve` reads them."""
    import asyncio

    import uvloop
    from aiohttp import web

    from ivr.agi import AgiAuth, AgiSession, FastAgiServer
    from ivr.callflow import KEYS as ESCAPE_KEYS
    from ivr.log import configure
    from ivr.render import ContainerPaths
    from ivr.settings import Settings

    settings = Settings()
    configure("info", json=True)
    prompt = f"{ContainerPaths().sounds}/zh/main_menu"

    async def call(session: AgiSession) -> None:
        await session.set_variables((("__IVR_TIER", "standard"), ("__IVR_LANG", "zh"), ("CHANNEL(language)", "zh")))
        while True:
            await session.stream_file(prompt, ESCAPE_KEYS)

    async def main() -> None:
        auth = AgiAuth.from_key_file(settings.agi_key_file)
        server = FastAgiServer(settings.agi_host, settings.agi_port, {"route": call}, command_timeout=30.0, auth=auth)
        await server.start()

        async def health(_request: web.Request) -> web.Response:
            return web.json_response({"status": "ok", "agi": {"active_sessions": server.active_sessions}})

        app = web.Application()
        app.router.add_get("/healthz", health)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, settings.http_host, settings.http_port).start()
        await asyncio.Event().wait()

    uvloop.run(main())
    return 0


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process (all its threads), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def system_seconds(pid: int) -> float:
    """stime alone: the kernel's share (socket I/O, wake-ups, scheduling)."""
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[12]) / CLK_TCK


def context_switches(pid: int) -> int:
    """Voluntary and involuntary context switches of every thread of the process."""
    total = 0
    for status in Path(f"/proc/{pid}/task").glob("*/status"):
        try:
            text = status.read_text()
        except OSError:  # a thread that ended meanwhile
            continue
        total += sum(int(line.split()[1]) for line in text.splitlines() if "ctxt_switches:" in line)
    return total


@dataclass(frozen=True)
class Run:
    name: str
    calls: int
    successful: int
    failed: int
    window: float
    service_cpu: float
    service_idle: float
    asterisk_cpu: float
    asterisk_idle: float
    service_system: float
    service_switches: int

    def per_call_ms(self, cpu: float, idle: float) -> float:
        return 1000 * (cpu - idle) / max(self.successful + self.failed, 1)

    @property
    def service_ms(self) -> float:
        return self.per_call_ms(self.service_cpu, self.service_idle)

    @property
    def asterisk_ms(self) -> float:
        return self.per_call_ms(self.asterisk_cpu, self.asterisk_idle)


def sipp_counts(stat_file: Path) -> tuple[int, int]:
    """(successful, failed) calls from SIPp's -trace_stat file (its last line)."""
    lines = [line for line in stat_file.read_text().splitlines() if line.strip()]
    header, last = lines[0].split(";"), lines[-1].split(";")
    row = dict(zip(header, last, strict=False))
    return int(row["SuccessfulCall(C)"]), int(row["FailedCall(C)"])


def active_sessions(service: IvrService) -> int:
    health = service.health()
    return -1 if health is None else int(health["agi"]["active_sessions"])  # type: ignore[index]


def run_calls(
    name: str, service: IvrService, sipp: Sipp, asterisk_pid: int, calls: int, rate: float, idle: float,
    profile: Path | None, profiler: str = "py-spy",
) -> Run:  # fmt: skip
    assert service.proc is not None
    pid = service.proc.pid
    # Idle rates: what both processes burn with no call, over `idle` seconds.
    s0, a0, t0 = cpu_seconds(pid), cpu_seconds(asterisk_pid), time.monotonic()
    time.sleep(idle)
    s1, a1, t1 = cpu_seconds(pid), cpu_seconds(asterisk_pid), time.monotonic()
    service_idle_rate, asterisk_idle_rate = (s1 - s0) / (t1 - t0), (a1 - a0) / (t1 - t0)

    scenario = sipp.dtmf_scenario(list(KEYS), HANGUP_AFTER_MS)
    stat_file = sipp.log_dir / f"stat-{name}.csv"
    stat_file.unlink(missing_ok=True)
    port = free_port(CALLER_ADDRESS)
    cmd = [
        *sipp._base(scenario, CALLER_ADDRESS, port),
        "-s", NUMBER, "-key", "caller", CALLER, "-mi", CALLER_ADDRESS, "-mp", str(free_port(CALLER_ADDRESS)),
        "-m", str(calls), "-r", str(rate), "-l", str(int(rate * 20) + 50), "-recv_timeout", "30000",
        "-trace_stat", "-stf", str(stat_file), "-fd", "1", sipp.pbx,
    ]  # fmt: skip
    spy: subprocess.Popen[bytes] | None = None
    if profile is not None:
        # perf: on-CPU time only, the kernel's included (what this bench counts), C frames.
        # py-spy --gil: Python frames of the thread holding the GIL (CPU in Python).
        profile.mkdir(parents=True, exist_ok=True)
        py_spy = str(Path(sys.executable).with_name("py-spy"))
        command = (
            ["perf", "record", "-F", "997", "-g", "-p", str(pid), "-o", str(profile / f"{name}.perf.data")]
            if profiler == "perf"
            else [py_spy, "record", "--pid", str(pid), "--gil", "--rate", "200", "--format", "raw",
                  "-o", str(profile / f"{name}.{profiler}.txt"),
                  *(["--native"] if profiler == "py-spy-native" else ["--nonblocking"])]
        )  # fmt: skip
        log = (profile / f"{name}.{profiler}.log").open("wb")
        spy = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log)
    s2, a2, t2 = cpu_seconds(pid), cpu_seconds(asterisk_pid), time.monotonic()
    k2, w2 = system_seconds(pid), context_switches(pid)
    with (sipp.log_dir / f"sipp-{name}.out").open("wb") as out:
        result = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=sipp.log_dir, timeout=calls / rate + 300)
    wait_until(lambda: active_sessions(service) == 0, 60, "the last AGI session to end")
    s3, a3, t3 = cpu_seconds(pid), cpu_seconds(asterisk_pid), time.monotonic()
    k3, w3 = system_seconds(pid), context_switches(pid)
    if spy is not None:
        spy.send_signal(signal.SIGINT)
        spy.wait(30)
    successful, failed = sipp_counts(stat_file)
    if result.returncode not in (0, 1):
        print(f"  sipp exited with {result.returncode}; see {sipp.log_dir}", file=sys.stderr)
    window = t3 - t2
    return Run(name, calls, successful, failed, window, s3 - s2, service_idle_rate * window,
               a3 - a2, asterisk_idle_rate * window, k3 - k2, w3 - w2)  # fmt: skip


def snapshot(tree: Path, *, revision: str | None = None, copy: bool = True) -> bool:
    """Put the `ivr` package in `tree` and compile it there: a service runs from this copy.

    `revision`: the package as it was at that git revision (``git archive``);
    else the work tree's, copied. The work tree is shared: a rebuild of the
    compiled group in place (another engineer's `ivr native build`) kills a
    service that has it loaded (SIGSEGV), and half-finished edits would be
    measured. Returns whether the copy runs compiled (a failed build leaves it
    plain Python: say so)."""
    tree.mkdir(parents=True, exist_ok=True)
    if revision is not None:
        archive = subprocess.run(["git", "archive", revision, "ivr"], cwd=REPO, capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
    elif copy:
        shutil.copytree(REPO / "ivr", tree / "ivr", ignore=shutil.ignore_patterns("__pycache__"))
    env = {**os.environ, "PYTHONPATH": str(tree)}
    check = [sys.executable, "-c", "import ivr.native as n, sys; sys.exit(0 if n.is_fresh() else 1)"]
    if subprocess.run(check, env=env, check=False, cwd=tree).returncode != 0:
        build = "import sys; from ivr.cli import main; sys.exit(main(['native', 'build']))"
        subprocess.run([sys.executable, "-c", build], env=env, check=False, cwd=tree)
    return subprocess.run(check, env=env, check=False, cwd=tree).returncode == 0


def prepare(run_dir: Path) -> Pbx:
    from ivr.catalog.load import load_catalog
    from ivr.check import check
    from ivr.directory.demo import generate_demo_directory
    from ivr.prompts import build_prompts
    from ivr.render import write_config

    catalog = catalog_copy(run_dir.parent / "callcenter.yaml", always_open=True)
    settings = test_settings(run_dir, catalog=catalog)
    write_config(check(settings), settings.run_dir / "etc")
    build_prompts(settings.prompts, settings.sounds_dir, load_catalog(settings.catalog).languages)
    generate_demo_directory(settings.directory_db)
    pbx = Pbx(settings)
    pbx.start()
    wait_until(lambda: "fully booted" in pbx.cli("core waitfullybooted").lower(), 90, "Asterisk fully booted", 1.0)
    return pbx


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=600, help="calls per run (default 600)")
    parser.add_argument("--rate", type=float, default=20.0, help="new calls per second (default 20)")
    parser.add_argument("--idle", type=float, default=10.0, help="seconds of idle measurement before the calls")
    parser.add_argument("--rounds", type=int, default=2, help="runs of each configuration, alternating (default 2)")
    parser.add_argument("--only", choices=CONFIGURATIONS, help="run one configuration")
    parser.add_argument("--baseline", default=BASELINE_REVISION,
                        help=f"git revision of the baseline service (default {BASELINE_REVISION})")  # fmt: skip
    parser.add_argument("--profile", type=Path, help="record a profile of the service per run here")
    parser.add_argument(
        "--profiler",
        choices=("py-spy", "py-spy-native", "perf"),
        default="py-spy",
        help="py-spy --gil (Python frames, default; -native adds C frames, pausing the service for each sample) "
        "or perf (on-CPU, kernel included)",
    )
    parser.add_argument("--keep", action="store_true", help="leave the PBX running at the end")
    parser.add_argument("--tree", type=Path, help="run `current` from this copy (a previous run's tree/) as it is")
    parser.add_argument("--serve-floor", action="store_true", help="(internal) be the floor configuration's server")
    args = parser.parse_args()
    if args.serve_floor:
        return serve_floor()
    if os.geteuid() != 0:
        print("needs root (SIPp plays RTP DTMF through a raw socket) and Docker", file=sys.stderr)
        return 2

    base = Path(tempfile.mkdtemp(prefix="ivr-service-cpu-"))
    run_dir = base / "run"
    run_dir.mkdir()
    run_dir.chmod(0o755)
    logs = base / "sipp"
    logs.mkdir()
    slot = os.environ["IVR_E2E_SLOT"]
    names = [name for name in CONFIGURATIONS if args.only in (None, name)]
    print(f"slot {slot}, {args.calls} calls at {args.rate:g}/s per run, {args.rounds} round(s); files in {base}")
    trees: dict[str, Path] = {}
    for name in names:
        if name == "floor":
            continue  # runs from the current tree
        tree = args.tree if name == "current" and args.tree else base / f"tree-{name}"
        revision = args.baseline if name == "baseline" else None
        compiled = snapshot(tree, revision=revision, copy=not (name == "current" and args.tree))
        trees[name] = tree
        source = f"git revision {revision}" if revision else "the work tree"
        how = "compiled (mypyc)" if compiled else "PLAIN PYTHON (build failed)"
        print(f"{name}: {source}, runs from {tree}, {how}")
    if "floor" in names:
        if "current" not in trees:
            trees["current"] = args.tree or base / "tree-current"
            snapshot(trees["current"], copy=args.tree is None)
        trees["floor"] = trees["current"]
    pbx = prepare(run_dir)
    settings = {name: pbx.settings for name in names}
    if "baseline" in names:
        # The baseline's own catalog: the schema moves on (keys it would refuse).
        text = subprocess.run(["git", "show", f"{args.baseline}:callcenter.yaml"], cwd=REPO, capture_output=True,
                              text=True, check=True).stdout  # fmt: skip
        catalog = catalog_copy(base / "callcenter-baseline.yaml", always_open=True, source=text)
        settings["baseline"] = pbx.settings.model_copy(update={"catalog": catalog})
    asterisk_pid = container_pid(pbx.name)
    sipp = Sipp(pbx.settings, logs)
    runs: list[Run] = []
    try:
        for round_ in range(1, args.rounds + 1):
            for name in names:
                os.environ["PYTHONPATH"] = str(trees[name])  # the service (a child) imports ivr from its copy
                label = f"{name}-{round_}"
                kind = FloorService if name == "floor" else IvrService
                service = kind(settings[name], base / f"ivr-serve-{label}.log")
                service.start()
                try:
                    # One warm-up call: imports, first-use caches, the first AMI events.
                    run_calls(f"{label}-warmup", service, sipp, asterisk_pid, 5, 5, 1.0, None)
                    run = run_calls(label, service, sipp, asterisk_pid, args.calls, args.rate, args.idle,
                                    args.profile, args.profiler)  # fmt: skip
                finally:
                    service.stop()
                runs.append(run)
                log_lines = sum(1 for _ in service.log_path.open("rb"))
                calls = max(run.successful + run.failed, 1)
                kernel, switches = 1000 * run.service_system / calls, run.service_switches / calls
                print(f"  {label}: {run.successful} successful, {run.failed} failed calls, window {run.window:.1f} s, "
                      f"service log {log_lines} lines; service per call: system (kernel) {kernel:.3f} ms, "
                      f"{switches:.1f} context switches")  # fmt: skip
    finally:
        if not args.keep:
            pbx.stop()
    report(runs)
    return 0 if runs and all(r.failed == 0 for r in runs) else 1


def report(runs: list[Run]) -> None:
    if not runs:
        return
    print()
    print("| run | calls ok/failed | service CPU ms/call (raw, idle) | Asterisk CPU ms/call (raw, idle) "
          "| service/Asterisk |")  # fmt: skip
    print("| --- | ---: | ---: | ---: | ---: |")
    for run in runs:
        ms = 1000 / max(run.successful + run.failed, 1)
        print(
            f"| {run.name} | {run.successful}/{run.failed} "
            f"| **{run.service_ms:.3f}** ({ms * run.service_cpu:.3f}, {ms * run.service_idle:.3f}) "
            f"| **{run.asterisk_ms:.2f}** ({ms * run.asterisk_cpu:.2f}, {ms * run.asterisk_idle:.2f}) "
            f"| {run.service_ms / run.asterisk_ms:.3f} |"
        )
    medians = {
        name: (statistics.median(r.service_ms for r in group), statistics.median(r.asterisk_ms for r in group))
        for name in CONFIGURATIONS
        if (group := [r for r in runs if r.name.rsplit("-", 1)[0] == name])
    }
    first = next(iter(medians.values()))[0]
    print()
    print("| configuration (median of its runs) | service CPU ms/call | Asterisk CPU ms/call | service/Asterisk "
          "| service vs baseline |")  # fmt: skip
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, (service_ms, asterisk_ms) in medians.items():
        print(f"| {name} | **{service_ms:.3f}** | {asterisk_ms:.2f} | {service_ms / asterisk_ms:.3f} "
              f"| {service_ms / first:.2f} |")  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())
