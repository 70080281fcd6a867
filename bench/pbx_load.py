"""Load through the real PBX, shared by `bench/capacity.py` and `bench/soak.py`.

A `LoadPbx` is one Asterisk container and one `ivr serve` (the e2e harness's
classes, on the ports of `IVR_E2E_SLOT`) over a copy of the demo catalog that
is open around the clock, with `extra_seats` more basic_zh seats, no wrap-up
in any group (so a few SIPp seats can take many calls) and the admission
limit (`center.max_concurrent_calls`) only when asked. Every seat is registered to one SIPp UAS that
answers at once and hangs up after `talk_ms`.

A `Stream` is one SIPp caller process at a steady rate on one path (keys
pressed as RFC 2833 events, or a hang-up after the last key). Its scenario is
the harness's, with one change: a 503 before the answer is an expected ending
(the center is full), ACKed and timed as response time 2, where the 200 OK is
response time 1. SIPp writes its per-call response times (`-trace_rtt`) and
periodic counters (`-trace_stat`) into the stream's own folder; `StreamResult`
reads them back.

CPU time and memory are read from the host's /proc: Asterisk is the
container's first process (the entrypoint execs it), the service is the
`ivr serve` subprocess. CPU is user + system time, so a figure does not depend
on what else runs on the machine (wall time would).
"""

from __future__ import annotations

import csv
import hashlib
import os
import statistics
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ivr.catalog.load import load_catalog
from ivr.check import check
from ivr.directory.demo import generate_demo_directory
from ivr.prompts import build_prompts
from ivr.render import write_config
from ivr.settings import Settings
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

BENCH_SEAT_FIRST = 2001
TICK = os.sysconf("SC_CLK_TCK")


class LoadError(Exception):
    """The PBX, the service or a SIPp process did not do what the run needs."""


# --------------------------------------------------------------------------- /proc


def process_cpu_seconds(pid: int) -> float:
    """user + system CPU seconds of a process and of its live children."""
    total = 0.0
    for stat in [Path(f"/proc/{pid}/stat"), *_children_stats(pid)]:
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / TICK
    return total


def _children_stats(pid: int) -> list[Path]:
    children = Path(f"/proc/{pid}/task/{pid}/children")
    try:
        return [Path(f"/proc/{child}/stat") for child in children.read_text().split()]
    except OSError:
        return []


def process_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise LoadError(f"no VmRSS for process {pid}")


def container_pid(name: str) -> int:
    out = subprocess.run(["docker", "inspect", "-f", "{{.State.Pid}}", name], capture_output=True, text=True,
                         check=True)  # fmt: skip
    return int(out.stdout.strip())


@dataclass(frozen=True)
class Usage:
    """CPU seconds and resident memory of Asterisk and of the service at one moment."""

    asterisk_cpu: float
    service_cpu: float
    asterisk_rss_mib: float
    service_rss_mib: float


# --------------------------------------------------------------------------- the PBX and the service


@dataclass(frozen=True)
class Limit:
    """The admission limit to put in the catalog copy (None: the demo's own value removed)."""

    max_concurrent_calls: int | None = None
    when_full: str = "reject"


@dataclass
class LoadPbx:
    work: Path
    extra_seats: int = 100
    talk_ms: int = 1500
    limit: Limit = field(default_factory=Limit)
    survey_lines: frozenset[str] = frozenset()
    unregistered: frozenset[str] = frozenset()  # seats left without a phone
    settings: Settings = field(init=False)
    pbx: Pbx = field(init=False)
    service: IvrService = field(init=False)
    sipp: Sipp = field(init=False)
    seats: list[str] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        run_dir = self.work / "run"
        run_dir.mkdir(parents=True, exist_ok=True)
        run_dir.chmod(0o755)
        (self.work / "sipp").mkdir(exist_ok=True)
        catalog = self._catalog(self.work / "callcenter.yaml")
        self.settings = test_settings(run_dir, catalog=catalog)
        self.pbx = Pbx(self.settings)
        self.service = IvrService(self.settings, self.work / "ivr-serve.log")
        self.sipp = Sipp(self.settings, self.work / "sipp")

    def _catalog(self, path: Path) -> Path:
        catalog_copy(path, always_open=True, survey_lines=set(self.survey_lines))
        data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
        data["center"].pop("max_concurrent_calls", None)
        data["center"].pop("when_full", None)
        if self.limit.max_concurrent_calls is not None:
            data["center"]["max_concurrent_calls"] = self.limit.max_concurrent_calls
            data["center"]["when_full"] = self.limit.when_full
        for queue in data["queues"]:
            queue["wrapup"] = 0  # a seat takes its next call at once: few seats carry the load
        data["seats"] += [
            {"id": str(BENCH_SEAT_FIRST + i), "name": f"Bench seat {i + 1}", "skills": {"basic_zh": 0}}
            for i in range(self.extra_seats)
        ]
        path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
        return path

    def start(self) -> None:
        s = self.settings
        write_config(check(s), s.etc_dir)
        catalog = load_catalog(s.catalog)
        build_prompts(s.prompts, s.sounds_dir, catalog.languages)
        generate_demo_directory(s.directory_db)
        self.seats = [seat.id for seat in catalog.seats]
        self.pbx.start()
        wait_until(lambda: "System uptime" in self.pbx.cli("core show uptime"), 60, "Asterisk to boot")
        wait_until(lambda: "Objects found" in self.pbx.cli("pjsip show endpoints"), 60, "PJSIP endpoints")
        self.service.start()

    def stop(self) -> None:
        self.service.stop()
        self.pbx.stop()

    @contextmanager
    def seats_answering(self) -> Iterator[None]:
        port = free_port()
        with self.sipp.seats_answering(port, talk_ms=self.talk_ms):
            seats = [seat for seat in self.seats if seat not in self.unregistered]
            result = self.sipp.register(seats, port, timeout=120)
            if result.returncode != 0:
                raise LoadError(f"seat registration failed: {result.stdout[-800:]}")
            yield

    def usage(self) -> Usage:
        if self.service.proc is None:
            raise LoadError("the service is not running")
        asterisk, service = container_pid(self.settings.pbx_name), self.service.proc.pid
        return Usage(process_cpu_seconds(asterisk), process_cpu_seconds(service), process_rss_mib(asterisk),
                     process_rss_mib(service))  # fmt: skip

    def active_calls(self) -> int:
        out = self.pbx.cli("core show channels count")
        for line in out.splitlines():
            if "active call" in line:
                return int(line.split()[0])
        raise LoadError(f"unexpected `core show channels count`: {out!r}")

    def wait_quiet(self, timeout: float = 120) -> None:
        wait_until(lambda: self.active_calls() == 0, timeout, "every call to end", interval=1.0)

    def reconcile(self, since: float) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(REPO / ".venv" / "bin" / "ivr"), "reconcile", "--since", str(since)],
            capture_output=True, text=True, env=self.service.env(), cwd=REPO, check=False, timeout=300,
        )  # fmt: skip


@contextmanager
def running(load: LoadPbx) -> Iterator[LoadPbx]:
    try:
        load.start()
        yield load
    finally:
        load.stop()


# --------------------------------------------------------------------------- callers


BUSY_LABEL = "98"
END_LABEL = "97"


def caller_scenario(sipp: Sipp, keys: list[tuple[int, str]], hangup_after_ms: int | None) -> str:
    """The harness's caller with keys, where a 503 before the answer ends the
    call cleanly (ACK) and is timed as response time 2."""
    text = Path(sipp.dtmf_scenario(keys, hangup_after_ms) if keys or hangup_after_ms else
                REPO / "tests" / "sipp" / "caller.xml").read_text()  # fmt: skip
    answered = '<recv response="200" rtd="true"/>'
    if answered not in text:
        raise LoadError("the harness caller scenario changed: no timed 200 OK")
    text = text.replace(answered, f'<recv response="503" optional="true" rtd="2" next="{BUSY_LABEL}"/>\n'
                                  '  <recv response="200" rtd="1"/>')  # fmt: skip
    # The answered call, at its end, jumps over the busy ending.
    busy = f"""  <nop next="{END_LABEL}"><action><log message="answered"/></action></nop>
  <label id="{BUSY_LABEL}"/>
  <send>
    <![CDATA[
      ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      CSeq: 1 ACK
      Contact: <sip:[caller]@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <label id="{END_LABEL}"/>
</scenario>"""
    text = text.replace("</scenario>", busy)
    path = sipp.log_dir / f"load-{hashlib.sha256(text.encode()).hexdigest()[:16]}.xml"
    path.write_text(text)
    return str(path)


@dataclass(frozen=True)
class CallerPath:
    """One caller path: the number, the caller id, the keys and when the caller hangs up."""

    name: str
    number: str
    caller: str
    keys: tuple[tuple[int, str], ...]
    hangup_after_ms: int | None = None  # None: the far end ends the call


@dataclass(frozen=True)
class StreamResult:
    path: str
    created: int
    answered: int  # a 200 OK came
    completed: int  # answered and ended as the scenario says
    busy: int  # ended by a 503 before the answer (the center was full)
    failed: int  # SIPp's failed calls: no answer in time, or broken after it
    max_concurrent: int
    concurrent_rows: tuple[int, ...]  # CurrentCall per stat period
    setup_ms: tuple[float, ...]  # INVITE -> 200 OK per answered call
    busy_ms: tuple[float, ...]  # INVITE -> 503 per call turned away

    @property
    def half_served(self) -> int:
        """Answered, then failed: what overload must never produce."""
        return self.answered - self.completed


@dataclass
class Stream:
    """One SIPp caller process: `count` calls of `path` at `rate` calls/s."""

    sipp: Sipp
    path: CallerPath
    rate: float
    count: int
    folder: Path
    max_call_ms: int = 120_000
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        scenario = caller_scenario(self.sipp, list(self.path.keys), self.path.hangup_after_ms)
        port = free_port(CALLER_ADDRESS)
        cmd = [
            "sipp", "-sf", scenario, "-i", CALLER_ADDRESS, "-p", str(port), "-nostdin",
            "-s", self.path.number, "-key", "caller", self.path.caller,
            "-mi", CALLER_ADDRESS, "-mp", str(free_port(CALLER_ADDRESS)),
            # calls per 1,000 s: fractional rates without rounding
            "-r", str(max(1, round(self.rate * 1000))), "-rp", "1000000", "-m", str(self.count),
            "-l", str(max(10, int(self.rate * self.max_call_ms / 1000) * 2)),
            "-recv_timeout", str(self.max_call_ms),
            "-trace_stat", "-stf", "stat.csv", "-fd", "1", "-trace_rtt", "-rtt_freq", "1",
            "-trace_err", "-error_file", "errors.log",
            self.sipp.pbx,
        ]  # fmt: skip
        with (self.folder / "sipp.out").open("wb") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=self.folder)

    def wait(self, timeout: float) -> StreamResult:
        if self.proc is None:
            raise LoadError("stream not started")
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.terminate()
            self.proc.wait(10)
        return self.result()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def result(self) -> StreamResult:
        rows = _csv_rows(self.folder / "stat.csv")
        if not rows:
            raise LoadError(f"{self.path.name}: SIPp wrote no statistics; see {self.folder}/sipp.out")
        last = rows[-1]
        setup: list[float] = []
        busy: list[float] = []
        for rtt in self.folder.glob("*_rtt.csv"):
            for row in _csv_rows(rtt):
                (setup if row.get("rtd_no", "").strip() in ("1", "rtd1") else busy).append(
                    float(row["response_time_ms"]))  # fmt: skip
        concurrent = tuple(int(r["CurrentCall"]) for r in rows)
        created, ok, failed = (int(last[k]) for k in ("TotalCallCreated", "SuccessfulCall(C)", "FailedCall(C)"))
        return StreamResult(self.path.name, created, len(setup), ok - len(busy), len(busy), failed,
                            max(concurrent), concurrent, tuple(setup), tuple(busy))  # fmt: skip


def _csv_rows(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with path.open(newline="") as handle:
        return [row for row in csv.DictReader(handle, delimiter=";") if row]


def percentile(values: tuple[float, ...] | list[float], q: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return float(values[0])
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


def split_rate(rate: float, weights: dict[str, float]) -> dict[str, float]:
    total = sum(weights.values())
    return {name: rate * w / total for name, w in weights.items() if w > 0}
