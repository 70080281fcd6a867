"""FastAGI worker processes on one port (`bench/agi_pool.py`, what the FastAGI
benchmark's (a2) runs): real processes, real loopback sockets.

Each worker imports its routes from ``tests.unit.agi.worker_routes``; every
route there answers with the id of the process that served the call. Waits
have deadlines; none waits for time to pass.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from bench.agi_pool import AgiWorkerPool, WorkerSpec, WorkerStartError
from ivr.agi import FastAgiServer
from tests.unit.agi.worker_routes import report_pid

REPO = Path(__file__).resolve().parents[3]
DEADLINE = 20.0
ROUTES = "tests.unit.agi.worker_routes:routes"


def header(script: str, n: int) -> bytes:
    return (
        f"agi_network: yes\nagi_network_script: {script}\nagi_request: agi://127.0.0.1/{script}\n"
        f"agi_channel: PJSIP/pstn-{n:08x}\nagi_uniqueid: 1732810412.{n}\nagi_arg_1: main\n\n"
    ).encode()


async def call(port: int, script: str = "route", n: int = 0) -> int:
    """One call as Asterisk makes it; returns the id of the process that served it."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        async with asyncio.timeout(DEADLINE):
            writer.write(header(script, n))
            line = await reader.readline()
            assert line.startswith(b"SET VARIABLE IVR_PID "), line
            writer.write(b"200 result=1\n")
            assert await reader.read() == b""  # the server closes after the handler
    finally:
        writer.close()
    return int(line.split()[-1])


async def until(pool: AgiWorkerPool, condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(DEADLINE):
        while not condition():
            await pool.changed()


@pytest.fixture
async def home() -> AsyncIterator[FastAgiServer]:
    """The pool's own server: serves every script, ``agent`` only here."""
    server = FastAgiServer("127.0.0.1", 0, {"route": report_pid, "agent": report_pid}, reuse_port=True)
    async with server:
        yield server


PoolFactory = Callable[..., Awaitable[AgiWorkerPool]]


@pytest.fixture
async def make_pool(home: FastAgiServer) -> AsyncIterator[PoolFactory]:
    pools: list[AgiWorkerPool] = []

    async def make(count: int = 2, **options: object) -> AgiWorkerPool:
        pool = AgiWorkerPool(home, count, ROUTES, handover=["agent"], **options)  # type: ignore[arg-type]
        pools.append(pool)
        await pool.start()
        return pool

    yield make
    for pool in pools:
        await pool.close()
        assert pool.pids == []


async def test_several_processes_accept_on_one_port_and_every_call_completes(
    home: FastAgiServer, make_pool: PoolFactory
) -> None:
    pool = await make_pool(2)
    assert len(pool.pids) == 2
    served: set[int] = set()
    calls = 0
    # The kernel spreads connections by a hash: keep calling until two processes answered.
    while len(served) < 2 and calls < 400:
        pids = await asyncio.gather(*(call(home.port, n=calls + i) for i in range(20)))
        served.update(pids)
        calls += 20
    assert len(served) >= 2
    assert served <= {os.getpid(), *pool.pids}


async def test_calls_for_handed_over_scripts_are_served_by_the_pools_process(
    home: FastAgiServer, make_pool: PoolFactory
) -> None:
    await make_pool(2)
    pids = await asyncio.gather(*(call(home.port, "agent", n) for n in range(40)))
    assert set(pids) == {os.getpid()}
    assert home.active_sessions == 0


async def test_a_worker_crash_does_not_take_the_port_down_and_the_worker_comes_back(
    home: FastAgiServer, make_pool: PoolFactory
) -> None:
    pool = await make_pool(2, restart_delay=0.05, loop="asyncio")
    victim = pool.pids[0]
    with capture_logs() as logs:
        os.kill(victim, signal.SIGKILL)
        await until(pool, lambda: victim not in pool.pids)
        pids = await asyncio.gather(*(call(home.port, n=n) for n in range(40)))
        assert victim not in pids
        await until(pool, lambda: len(pool.pids) == 2)
    assert pool.restarts == 1
    events = [e["event"] for e in logs]
    assert "agi_worker_exited" in events and "agi_worker_restarted" in events
    assert await call(home.port) in {os.getpid(), *pool.pids}


async def test_a_worker_that_cannot_build_its_routes_fails_the_start(home: FastAgiServer) -> None:
    pool = AgiWorkerPool(home, 2, "tests.unit.agi.worker_routes:broken", loop="asyncio")
    with pytest.raises(WorkerStartError, match="did not start"):
        await pool.start()
    assert pool.pids == []


async def test_closing_the_pool_stops_its_workers(home: FastAgiServer, make_pool: PoolFactory) -> None:
    pool = await make_pool(2)
    pids = pool.pids
    await pool.close()
    assert pool.pids == []
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert await call(home.port) == os.getpid()  # the port is still served


def test_a_worker_stops_when_the_pools_process_goes_away(tmp_path: Path) -> None:
    spec = WorkerSpec(host="127.0.0.1", port=0, routes=ROUTES, loop="asyncio", sys_path=[p for p in sys.path if p])
    worker = subprocess.Popen(
        [sys.executable, str(REPO / "bench" / "agi_pool.py")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert worker.stdin is not None and worker.stdout is not None
        worker.stdin.write(spec.to_json().encode() + b"\n")
        worker.stdin.flush()
        assert worker.stdout.readline().startswith(b"READY ")
        worker.stdin.close()  # what the pool's process ending looks like from here
        assert worker.wait(timeout=DEADLINE) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()


def test_worker_spec_travels_as_one_json_line() -> None:
    spec = WorkerSpec(host="127.0.0.1", port=4573, routes=ROUTES, config={"scripts": ["route"]}, handover=["agent"])
    line = spec.to_json()
    assert "\n" not in line
    assert WorkerSpec.from_json(line) == WorkerSpec(**json.loads(line))
    assert WorkerSpec.from_json(line).handover == ["agent"]
