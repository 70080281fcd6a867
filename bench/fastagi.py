"""FastAGI: one 8-command menu flow served several ways, calls/s and per-command turnaround.

Run: `.venv/bin/python bench/fastagi.py` (~20 s; `--quick` for a smoke run, `--help`).

The same load generator (this process) plays Asterisk's side for:

(a)  ``ivr.agi.FastAgiServer`` with a handler going through ``AgiSession``, on
     uvloop, one process: as ``ivr serve`` runs it (compiled by mypyc when
     ``ivr native build`` has run: the first line printed says which);
(a0) the same as plain Python (``IVR_NATIVE=off``);
(a1) the same on asyncio's own loop (the loop (b) runs on);
(a2) the same with ``--workers`` worker processes (``bench/agi_pool.py``) accepting
     on the same port (SO_REUSEPORT) beside the main one;
(a3) (a) without the check of the FastAGI token (``ivr.agi.auth``) that
     every call's header carries: what that check costs;
(b)  panoramisk 1.4's ``panoramisk.fast_agi.Application`` with an equivalent
     coroutine handler calling ``request.send_command``, on asyncio, as before;
(b') the same on uvloop;
(c)  pyst2 0.5.1's classic ``asterisk.agi.AGI``: ``bench/agi_flow.py`` started
     once per call, spoken to over its stdin/stdout as Asterisk's ``AGI()``
     does for a local script.

Every FastAGI server runs in its own process (tree) (this file with
``--serve``), logging at ``info`` as deployed (stderr to a file); the
generator opens ``--concurrency`` loopback connections at a time, sends an
Asterisk 22 ``agi_*`` header and answers each command as Asterisk would. The
generator runs on uvloop by default (``--generator-loop asyncio`` for the
stock loop): it is the same for every server, and on the stock loop it alone
needs a core near 3,700 calls/s, which would cap any server at ~1.8x (b).

Figures:

* calls/s: completed calls / wall time, from the first connect (or fork) to
  the last close (or exit); a call completes when the server closes after
  the 8th answer, every command having arrived in order.
* turnaround: for commands 2..8 of each call, the time from the generator
  writing the answer to the previous command to the next command line
  arriving, i.e. the server's turnaround per command as Asterisk sees it
  (7 samples per call). Measured under load (``--concurrency``) and
  unloaded (one call at a time); p50 and p99.
* setup: connect (or fork) to the first command line arriving.
* server CPU per call: user+system time of the server's processes (for
  pyst2, of the reaped per-call processes) over the loaded run.

A robustness check follows (not timed): while (a) serves load, clients
connect and close before the header ends; (a) must finish every call. The
same client is then sent to a fresh panoramisk server in its own process,
bounded in time and killed afterwards (its header loop spins on EOF).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import itertools
import logging
import math
import os
import resource
import signal
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from ivr.agi import AgiAuth, AgiSession, Handler
from ivr.eventloop import run_event_loop

PYST2_SCRIPT = Path(__file__).with_name("agi_flow.py")
HOST = "127.0.0.1"
CALL_TIMEOUT = 10.0
RUN_TIMEOUT = 60.0
# (a2)'s worker processes beside its main process (BENCHMARKS.md: on 2 cores shared
# with the generator, one process serves as many calls/s for less CPU).
DEFAULT_WORKERS = 1

# (command the server must send, what Asterisk 22 answers), in flow order.
FLOW: tuple[tuple[bytes, bytes], ...] = (
    (b"ANSWER", b"200 result=0\n"),
    (b"SET VARIABLE", b"200 result=1\n"),
    (b"GET VARIABLE", b"200 result=1 (13800138000)\n"),
    (b"STREAM FILE", b"200 result=0 endpos=8000\n"),
    (b"GET DATA", b"200 result=2\n"),
    (b"SET VARIABLE", b"200 result=1\n"),
    (b"SET VARIABLE", b"200 result=1\n"),
    (b"VERBOSE", b"200 result=1\n"),
)

# The shape of tests/unit/agi/asterisk22_header.txt (Asterisk 22.10.1).
_CHANNEL_HEADER = (
    "agi_channel: PJSIP/pstn-{n:08x}\nagi_language: en\nagi_type: PJSIP\n"
    "agi_uniqueid: 1732810412.{n}\nagi_version: 22.10.1\nagi_callerid: 13800138000\n"
    "agi_calleridname: unknown\nagi_callingpres: 0\nagi_callingani2: 0\nagi_callington: 0\n"
    "agi_callingtns: 0\nagi_dnid: 95588\nagi_rdnis: unknown\nagi_context: ivr-main\n"
    "agi_extension: 95588\nagi_priority: 3\nagi_enhanced: 0.0\nagi_accountcode: \n"
    "agi_threadid: 140229382403776\nagi_arg_1: main\n\n"
)
_NETWORK_HEADER = (
    "agi_network: yes\nagi_network_script: route\nagi_request: agi://127.0.0.1:4573/route\n" + _CHANNEL_HEADER
)
_LOCAL_HEADER = "agi_request: /var/lib/asterisk/agi-bin/agi_flow.py\n" + _CHANNEL_HEADER


# Every call carries the token the dialplan computes (ivr/agi/auth.py) for a
# uniqueid of its own (a token is accepted once): (a)..(a1) and (a2)'s main
# process check it, (a3) and (a2)'s workers do not.
_BENCH_AGI_KEY = b"0123456789abcdef" * 4
_call_ids = itertools.count(1)


@functools.cache
def _bench_auth() -> AgiAuth:
    return AgiAuth(_BENCH_AGI_KEY)


def fastagi_header(n: int, token: bool = True) -> bytes:
    """Asterisk 22's header for call ``n``; with ``token``, the script carries the FastAGI token.

    panoramisk routes by the whole ``agi_network_script``: it gets none.
    """
    if not token:
        return _NETWORK_HEADER.format(n=n).encode()
    uniqueid = f"1732810412.{next(_call_ids)}"
    query = _bench_auth().query(uniqueid, int(time.time()), "route", ("main",))
    text = _NETWORK_HEADER.format(n=n).replace(f"1732810412.{n}", uniqueid, 1)
    return text.replace("route\n", f"route?{query}\n", 2).encode()


def local_agi_header(n: int) -> bytes:
    return _LOCAL_HEADER.format(n=n).encode()


# --------------------------------------------------------------------------- Asterisk's side


@dataclass
class Stats:
    completed: int = 0
    failed: int = 0
    turnaround_ns: list[int] = field(default_factory=list)
    setup_ns: list[int] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)


class Call:
    """Asterisk's side of one AGI conversation: answers each expected command and times the server."""

    def __init__(self, stats: Stats) -> None:
        self.stats = stats
        self.step = 0
        self.buffer = b""
        self.started = time.perf_counter_ns()
        self.answered_at = 0
        self.error: str | None = None
        self.write: Callable[[bytes], None] = lambda data: None
        self.close: Callable[[], None] = lambda: None
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._turnaround: list[int] = []
        self._setup = 0

    def feed(self, data: bytes) -> None:
        now = time.perf_counter_ns()
        self.buffer += data
        while (newline := self.buffer.find(b"\n")) >= 0:
            line, self.buffer = self.buffer[:newline], self.buffer[newline + 1 :]
            if self.step >= len(FLOW):
                self.fail("line after the flow ended")
                return
            name, answer = FLOW[self.step]
            if not line.startswith(name):
                self.fail(f"expected {name.decode()}, got {line[:40]!r}")
                return
            if self.step == 0:
                self._setup = now - self.started
            else:
                self._turnaround.append(now - self.answered_at)
            self.step += 1
            self.write(answer)
            self.answered_at = time.perf_counter_ns()

    def fail(self, error: str) -> None:
        if self.error is None:
            self.error = error
        self.close()
        self.finish()

    def finish(self) -> None:
        if self.done.done():
            return
        if self.error is None and self.step != len(FLOW):
            self.error = f"closed after {self.step} of {len(FLOW)} commands"
        self.done.set_result(None)

    def record(self) -> None:
        if self.error is None and self.step == len(FLOW):
            self.stats.completed += 1
            self.stats.setup_ns.append(self._setup)
            self.stats.turnaround_ns.extend(self._turnaround)
        else:
            self.stats.failed += 1
            self.stats.errors[self.error or "unknown"] += 1


class FastAgiPeer(asyncio.Protocol):
    def __init__(self, call: Call, header: bytes) -> None:
        self.call = call
        self.header = header

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        tcp = cast(asyncio.Transport, transport)
        self.call.write = tcp.write
        self.call.close = tcp.close
        tcp.write(self.header)

    def data_received(self, data: bytes) -> None:
        self.call.feed(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.call.finish()


class LocalAgiPeer(asyncio.SubprocessProtocol):
    def __init__(self, call: Call, header: bytes) -> None:
        self.call = call
        self.header = header

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio's without subclassing them.
        stdin = cast(asyncio.SubprocessTransport, transport).get_pipe_transport(0)
        assert stdin is not None
        stdin = cast(asyncio.WriteTransport, stdin)
        self.call.write = stdin.write
        self.call.close = transport.close
        stdin.write(self.header)

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        if fd == 1:
            self.call.feed(data)

    def connection_lost(self, exc: Exception | None) -> None:  # process exited and pipes closed
        self.call.finish()


CallMaker = Callable[[int, Stats], Awaitable[None]]


def fastagi_calls(port: int, timeout: float = CALL_TIMEOUT, *, token: bool = True) -> CallMaker:
    async def one_call(n: int, stats: Stats) -> None:
        call = Call(stats)
        loop = asyncio.get_running_loop()
        transport: asyncio.BaseTransport | None = None
        try:
            async with asyncio.timeout(timeout):
                head = fastagi_header(n, token)
                transport, _ = await loop.create_connection(lambda: FastAgiPeer(call, head), HOST, port)
                await call.done
        except TimeoutError:
            call.error = call.error or f"no end of call within {timeout} s"
        except OSError as exc:
            call.error = call.error or type(exc).__name__
        finally:
            if transport is not None:
                transport.close()
        call.record()

    return one_call


async def pyst2_call(n: int, stats: Stats) -> None:
    call = Call(stats)
    loop = asyncio.get_running_loop()
    transport: asyncio.BaseTransport | None = None
    try:
        async with asyncio.timeout(CALL_TIMEOUT):
            transport, _ = await loop.subprocess_exec(
                lambda: LocalAgiPeer(call, local_agi_header(n)),
                sys.executable,
                str(PYST2_SCRIPT),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.DEVNULL,  # pyst2 traces every command there
            )
            await call.done
    except TimeoutError:
        call.error = call.error or f"no end of call within {CALL_TIMEOUT} s"
    finally:
        if transport is not None:
            transport.close()
    call.record()


async def drive(make_call: CallMaker, calls: int, concurrency: int, stats: Stats) -> float:
    """Run ``calls`` calls, ``concurrency`` at a time; return the wall time in seconds."""
    numbers = iter(range(calls))

    async def worker() -> None:
        for n in numbers:
            await make_call(n, stats)

    started = time.perf_counter()
    async with asyncio.timeout(RUN_TIMEOUT):
        await asyncio.gather(*(worker() for _ in range(min(concurrency, calls))))
    return time.perf_counter() - started


# --------------------------------------------------------------------------- server processes


def _cpu_seconds(pid: int) -> float:
    """User+system CPU of ``pid`` and of its live descendants (worker processes)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:  # gone
        return 0.0
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return own + sum(_cpu_seconds(int(child)) for child in children)


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass(frozen=True)
class ServerKind:
    """One FastAGI server under test, run as ``--serve`` in its own process (tree)."""

    name: str
    impl: str  # "ours" or "panoramisk"
    loop: str  # "asyncio" or "uvloop"
    workers: int = 0  # ours: worker processes beside the main one
    level: str = "info"
    plain_python: bool = False  # ours: IVR_NATIVE=off, the mypyc-compiled modules not used
    auth: bool = True  # ours: the FastAGI token checked (as ivr serve does)

    def argv(self) -> list[str]:
        auth = [] if self.auth else ["--no-auth"]
        return ["--serve", self.impl, "--serve-loop", self.loop, "--workers", str(self.workers), "--level", self.level,
                *auth]  # fmt: skip


class ServerProcess:
    """A server kind in a child process; stderr (its log, and its workers') goes to a file."""

    def __init__(self, kind: ServerKind, log_path: Path) -> None:
        self.kind = kind
        self.log_path = log_path
        self.proc: asyncio.subprocess.Process | None = None
        self.port = 0

    async def start(self) -> None:
        with self.log_path.open("wb") as log_file:
            env = {**os.environ, "IVR_NATIVE": "off"} if self.kind.plain_python else None
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, __file__, *self.kind.argv(), stdout=asyncio.subprocess.PIPE, stderr=log_file, env=env
            )
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), 30)
        if not line.startswith(b"PORT "):
            raise RuntimeError(f"{self.kind.name} server did not start: {line!r}, see {self.log_path}")
        self.port = int(line.split()[1])

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def stop(self) -> None:
        if self.proc is None or self.proc.returncode is not None:
            return
        self.proc.terminate()
        try:
            await asyncio.wait_for(self.proc.wait(), 10)
        except TimeoutError:  # a frozen event loop still dies on SIGTERM, but be sure
            self.proc.kill()
            await self.proc.wait()

    def error_lines(self) -> int:
        text = self.log_path.read_text(errors="replace")
        return sum(1 for line in text.splitlines() if "Traceback" in line or "[error" in line or "ERROR:" in line)


def serve(args: argparse.Namespace) -> None:
    if args.serve == "panoramisk":
        run_event_loop(_serve_panoramisk(), args.serve_loop)
    else:
        run_event_loop(_serve_ours(args.level, args.workers, args.serve_loop, not args.no_auth), args.serve_loop)


async def menu(session: AgiSession) -> None:
    """The flow, as (a) serves it."""
    await session.answer()
    await session.set_variable("IVR_LINE", "main")
    await session.get_variable("CALLERID(num)")
    await session.stream_file("ivr/welcome", "")
    await session.get_data("ivr/menu", 3000, 1)
    await session.set_variable("IVR_QUEUE", "basic_zh")
    await session.set_variable("IVR_PRIORITY", "0")
    await session.verbose("done", 1)


@contextlib.asynccontextmanager
async def worker_routes(config: Mapping[str, Any]) -> AsyncIterator[Mapping[str, Handler]]:
    """Route factory for (a)'s worker processes (``fastagi:worker_routes``)."""
    yield {"route": menu}


async def _serve_ours(level: str, workers: int, loop: str, auth: bool) -> None:
    from agi_pool import AgiWorkerPool  # bench/, beside this file

    from ivr import log as ivr_log
    from ivr.agi import FastAgiServer

    ivr_log.configure(level)  # "info" is ivr serve's default level; same renderer
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    checker = AgiAuth(_BENCH_AGI_KEY) if auth else None
    server = FastAgiServer(HOST, 0, {"route": menu}, reuse_port=workers > 0, auth=checker)
    async with server, AgiWorkerPool(server, workers, "fastagi:worker_routes", log_level=level, loop=loop):
        print(f"PORT {server.port}", flush=True)
        await stop.wait()


async def _serve_panoramisk() -> None:
    from panoramisk.fast_agi import Application

    logging.basicConfig(level=logging.INFO, stream=sys.stderr)

    async def menu(request: Any) -> None:  # add_route needs a coroutine function on 3.11
        await request.send_command("ANSWER")
        await request.send_command("SET VARIABLE IVR_LINE main")
        await request.send_command("GET VARIABLE CALLERID(num)")
        await request.send_command('STREAM FILE ivr/welcome ""')
        await request.send_command("GET DATA ivr/menu 3000 1")
        await request.send_command("SET VARIABLE IVR_QUEUE basic_zh")
        await request.send_command("SET VARIABLE IVR_PRIORITY 0")
        await request.send_command('VERBOSE "done" 1')

    app = Application(loop=asyncio.get_running_loop())
    app.add_route("route", menu)
    server = await asyncio.start_server(app.handler, HOST, 0)
    print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
    await asyncio.Event().wait()


# --------------------------------------------------------------------------- runs


@dataclass
class Result:
    name: str
    calls: int
    make_call: CallMaker
    cpu_seconds: Callable[[], float]  # of whatever serves the calls
    stats: Stats = field(default_factory=Stats)
    unloaded: Stats = field(default_factory=Stats)
    seconds: float = 0.0
    server_cpu: float = 0.0
    generator_cpu: float = 0.0

    @property
    def calls_per_s(self) -> float:
        return self.stats.completed / self.seconds


def percentile(values: list[int], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)] if ordered else math.nan


async def measure(results: list[Result], unloaded_calls: int, rounds: int, concurrency: int) -> None:
    """Unloaded pass (also the warm-up), then the loaded calls in ``rounds`` interleaved slices.

    Interleaving spreads any background load on the machine over every contender alike.
    """
    for r in results:
        await drive(r.make_call, unloaded_calls, 1, r.unloaded)
    for round_ in range(rounds):
        for r in results:
            share = r.calls // rounds + (1 if round_ < r.calls % rounds else 0)
            cpu0, gen0 = r.cpu_seconds(), time.process_time()
            r.seconds += await drive(r.make_call, share, concurrency, r.stats)
            r.server_cpu += r.cpu_seconds() - cpu0
            r.generator_cpu += time.process_time() - gen0


async def _close_before_header_end(port: int, data: bytes) -> None:
    _reader, writer = await asyncio.open_connection(HOST, port)
    writer.write(data)
    await writer.drain()
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()


# Closed with nothing sent (TCP health check), mid-header at a line end, mid-line.
_TRUNCATED = (b"", fastagi_header(0)[:160].rpartition(b"\n")[0] + b"\n", fastagi_header(0)[:75])


async def robustness_ours(port: int, calls: int, concurrency: int) -> str:
    stats = Stats()
    quarter_done = asyncio.Event()
    one_call = fastagi_calls(port)

    async def counted_call(n: int, stats: Stats) -> None:
        await one_call(n, stats)
        if stats.completed + stats.failed >= calls // 4:
            quarter_done.set()

    load = asyncio.create_task(drive(counted_call, calls, concurrency, stats))
    await quarter_done.wait()
    for data in _TRUNCATED:
        await _close_before_header_end(port, data)
    done_at_probe = stats.completed
    await load
    after = Stats()
    started = time.perf_counter()
    await fastagi_calls(port, timeout=2.0)(0, after)
    fresh_ms = (time.perf_counter() - started) * 1000
    ok = stats.failed == 0 and stats.completed == calls and after.completed == 1
    verdict = "kept serving" if ok else f"FAILED ({dict(stats.errors)}, {dict(after.errors)})"
    return (
        f"(a) ours: {len(_TRUNCATED)} clients closed before the header end while {concurrency} calls were in "
        f"flight; {stats.completed - done_at_probe} of the {calls} calls completed after them, "
        f"{stats.failed} failed; a fresh call then took {fresh_ms:.1f} ms: {verdict}"
    )


async def robustness_panoramisk(window: float, log_dir: Path) -> str:
    server = ServerProcess(ServerKind("panoramisk", "panoramisk", "asyncio"), log_dir / "panoramisk-freeze.log")
    await server.start()
    try:
        before = Stats()
        await fastagi_calls(server.port, timeout=2.0, token=False)(0, before)
        await _close_before_header_end(server.port, _TRUNCATED[1])
        cpu0, t0 = _cpu_seconds(server.pid), time.perf_counter()
        after = Stats()
        await fastagi_calls(server.port, timeout=window, token=False)(1, after)
        busy = (_cpu_seconds(server.pid) - cpu0) / (time.perf_counter() - t0)
    finally:
        assert server.proc is not None
        server.proc.kill()
        await server.proc.wait()
    if before.completed != 1:
        return f"(b) panoramisk: could not serve a call before the check ({dict(before.errors)})"
    if after.completed == 1:
        return "(b) panoramisk: kept serving"
    return (
        f"(b) panoramisk (separate process): served a call, then one client closed mid-header: froze "
        f"(no call served for {window:.0f} s, server at {busy:.0%} of a core); killed"
    )


# --------------------------------------------------------------------------- report


def _us(ns: float) -> str:
    return f"{ns / 1000:,.0f}"


def print_report(results: list[Result], concurrency: int, generator_loop: str) -> None:
    ours, pano, pyst = results[0], next(r for r in results if r.name.startswith("(b)")), results[-1]
    print(
        f"\nLoaded: concurrency {concurrency}; FastAGI servers interleaved in rounds; generator on {generator_loop}; "
        "turnaround = answer written -> next command received (7 per call)\n"
    )
    print(
        "| server | calls | calls/s | turnaround p50 (µs) | turnaround p99 (µs) | setup p50 (ms) "
        "| server CPU/call (ms) | generator CPU | calls/s vs panoramisk | calls/s vs pyst2 |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in results:
        s = r.stats
        print(
            f"| {r.name} | {s.completed}/{r.calls} | {r.calls_per_s:,.0f} | {_us(percentile(s.turnaround_ns, 0.5))} "
            f"| {_us(percentile(s.turnaround_ns, 0.99))} | {percentile(s.setup_ns, 0.5) / 1e6:.2f} "
            f"| {r.server_cpu * 1000 / max(1, s.completed):.2f} | {r.generator_cpu / r.seconds:.0%} "
            f"| {r.calls_per_s / pano.calls_per_s:.2f} | {r.calls_per_s / pyst.calls_per_s:.1f} |"
        )
    print("\nUnloaded: one call at a time\n")
    print("| server | calls | turnaround p50 (µs) | turnaround p99 (µs) | setup p50 (ms) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for r in results:
        u = r.unloaded
        print(
            f"| {r.name} | {u.completed}/{u.completed + u.failed} | {_us(percentile(u.turnaround_ns, 0.5))} "
            f"| {_us(percentile(u.turnaround_ns, 0.99))} | {percentile(u.setup_ns, 0.5) / 1e6:.2f} |"
        )
    vs_pano, vs_pyst = ours.calls_per_s / pano.calls_per_s, ours.calls_per_s / pyst.calls_per_s
    print(f"\nGoal (a) >= 2x (b) panoramisk calls/s: {vs_pano:.2f}x, {'met' if vs_pano >= 2 else 'NOT met'}")
    print(f"Goal (a) >= 50x (c) pyst2 calls/s: {vs_pyst:.1f}x, {'met' if vs_pyst >= 50 else 'NOT met'}")
    base = pano.server_cpu / max(1, pano.stats.completed)
    shares = ", ".join(
        f"{r.name.split()[0]} {r.server_cpu / max(1, r.stats.completed) / base:.2f}" for r in results if r is not pano
    )
    print(f"Server CPU per call, (b) panoramisk as 1: {shares}")
    for r in results:
        if r.stats.failed or r.unloaded.failed:
            print(f"FAILED calls in {r.name}: {dict(r.stats.errors + r.unloaded.errors)}")


def server_kinds(workers: int) -> list[ServerKind]:
    """(a) as deployed first, then ours on asyncio and over processes, (b) panoramisk as before, (b') on uvloop."""
    return [
        ServerKind("(a) ivr.agi, 1 process, uvloop", "ours", "uvloop"),
        ServerKind("(a0) ivr.agi as plain Python, 1 process, uvloop", "ours", "uvloop", plain_python=True),
        ServerKind("(a1) ivr.agi, 1 process, asyncio", "ours", "asyncio"),
        ServerKind(f"(a2) ivr.agi, {workers + 1} processes, uvloop", "ours", "uvloop", workers),
        ServerKind("(a3) ivr.agi without the token check, 1 process, uvloop", "ours", "uvloop", auth=False),
        ServerKind("(b) panoramisk 1.4, asyncio", "panoramisk", "asyncio"),
        ServerKind("(b') panoramisk 1.4, uvloop", "panoramisk", "uvloop"),
    ]


async def main(args: argparse.Namespace) -> int:
    if args.quick:
        calls, pyst2_calls, unloaded, unloaded_pyst2, rounds, robust_calls, window = 300, 20, 50, 5, 2, 100, 2.0
    else:
        calls, pyst2_calls, unloaded, unloaded_pyst2, rounds, robust_calls, window = (
            args.calls, args.pyst2_calls, 300, 20, args.rounds, 400, 3.0
        )  # fmt: skip
    log_dir = Path(args.log_dir)
    c = args.concurrency
    from ivr import native

    print(
        f"Python {sys.version.split()[0]}, {os.cpu_count()} cores; generator on {args.generator_loop}; "
        f"server logs in {log_dir}/; ivr modules: {native.status()}",
        flush=True,
    )

    kinds = server_kinds(args.workers)
    servers = [ServerProcess(kind, log_dir / f"server-{i}.log") for i, kind in enumerate(kinds)]
    try:
        for server in servers:
            await server.start()
        fastagi = [
            Result(
                s.kind.name, calls, fastagi_calls(s.port, token=s.kind.impl == "ours"),
                functools.partial(_cpu_seconds, s.pid),
            )
            for s in servers
        ]  # fmt: skip
        # The FastAGI servers interleaved; pyst2 in one block (short slices would starve its concurrency).
        await measure(fastagi, unloaded, rounds, c)
        for r in fastagi:
            print(f"{r.name}: {r.calls_per_s:,.0f} calls/s", flush=True)
        robust_ours = await robustness_ours(servers[0].port, robust_calls, c)
    finally:
        for server in servers:
            await server.stop()

    pyst = Result("(c) pyst2 AGI, process per call", pyst2_calls, pyst2_call, _children_cpu_seconds)
    await measure([pyst], unloaded_pyst2, 1, c)
    print(f"{pyst.name}: {pyst.calls_per_s:,.1f} calls/s", flush=True)

    robust_pano = await robustness_panoramisk(window, log_dir)

    results = [*fastagi, pyst]
    print_report(results, c, args.generator_loop)
    print("\nRobustness (not timed):")
    print(f"- {robust_ours}")
    print(f"- {robust_pano}")
    for server in servers:
        if errors := server.error_lines():
            print(f"server log {server.log_path}: {errors} error lines")
    failed = any(r.stats.failed or r.unloaded.failed for r in results) or "kept serving" not in robust_ours
    return 1 if failed else 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="FastAGI calls/s and per-command turnaround: ivr.agi vs panoramisk vs pyst2 (one run)."
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: 300/300/20 calls, a few seconds")
    parser.add_argument("--concurrency", type=int, default=20, help="calls in flight at once (default 20)")
    parser.add_argument("--calls", type=int, default=8000, help="calls for each FastAGI server (default 8000)")
    parser.add_argument(
        "--rounds", type=int, default=8,
        help="interleaved slices the FastAGI servers' calls are run in (default 8: 1000 calls each)",
    )  # fmt: skip
    parser.add_argument("--pyst2-calls", type=int, default=100, help="calls for (c), one process each (default 100)")
    parser.add_argument(
        "--workers", type=int, default=DEFAULT_WORKERS,
        help=f"(a2)'s worker processes beside its main one (default {DEFAULT_WORKERS})",
    )  # fmt: skip
    parser.add_argument(
        "--generator-loop", choices=("uvloop", "asyncio"), default="uvloop",
        help="event loop of the load generator playing Asterisk, the same for every server (default uvloop)",
    )  # fmt: skip
    parser.add_argument("--log-dir", default="/tmp/ivr-bench-fastagi", help="where server logs go")
    parser.add_argument("--serve", choices=("ours", "panoramisk"), help=argparse.SUPPRESS)
    parser.add_argument("--serve-loop", choices=("asyncio", "uvloop"), default="asyncio", help=argparse.SUPPRESS)
    parser.add_argument("--level", default="info", help=argparse.SUPPRESS)
    parser.add_argument("--no-auth", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


if __name__ == "__main__":
    arguments = parse_args()
    if arguments.serve:
        serve(arguments)
    else:
        Path(arguments.log_dir).mkdir(parents=True, exist_ok=True)
        sys.exit(run_event_loop(main(arguments), arguments.generator_loop))
