"""FastAGI over several processes, for the benchmark: worker processes accept on the server's port (``SO_REUSEPORT``).

Not part of ``ivr serve`` (one process serves FastAGI there); ``bench/fastagi.py``
(a2) measures what more processes would give, and ``tests/unit/agi/test_agi_pool.py``
keeps this working. The pool and the worker are one file: the pool starts this
file as a script (``python bench/agi_pool.py``), which is the worker.

Theory of operation
-------------------
One Python process serves FastAGI on one core. :class:`AgiWorkerPool` starts
``count`` more processes (this file run as a script: :func:`main`), each
with its own event loop and its own :class:`~ivr.agi.server.FastAgiServer` bound to the same loopback
port as the pool's own server (which must be made with ``reuse_port=True``).
The kernel spreads new connections over every listening socket; a process
that dies only takes its own socket (and the connections still queued on it)
out of the group: the port stays up as long as one listener is left, and the
pool's process, which listens too, is one. A worker that exits is started
again after a delay that grows while workers keep failing.

Workers build their own routes: the pool names a *route factory*
(``"package.module:function"``, see :data:`RouteFactory`) and
JSON config for it, so nothing but data crosses the process boundary. Routes
that need state only the pool's process has (the AMI control session, say)
stay there: their scripts are listed in ``handover``, and a worker that
accepts such a call sends the socket itself, with the header it read, to the
pool's process over a Unix socket pair (``SCM_RIGHTS``); that process serves
it with :meth:`~ivr.agi.server.FastAgiServer.adopt`, as if it had accepted it.
If the hand-over fails, the worker answers ``FAILURE`` and the dialplan routes
the caller on (``AGISTATUS=FAILURE``).

Each worker's standard input stays open for its lifetime: when the pool's
process goes away, however it ends, the workers read end of file and stop.

The worker
----------
The pool writes one JSON line (:class:`WorkerSpec`) on the worker's standard
input and keeps that pipe open for the worker's lifetime. The worker imports
the route factory named in the spec, builds its routes, serves them on the
pool's port with ``SO_REUSEPORT`` and writes ``READY <pid>`` on its standard
output. Calls for a script in ``handover`` are passed, socket and all, to the
pool's process over the inherited Unix socket ``handover_fd``.

It stops on SIGTERM or SIGINT, and when its standard input reaches end of
file: the pool's process has gone, and a worker must not outlive it holding
the port.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Callable, Collection, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import asdict, dataclass, field
from typing import Any, Final, cast

import structlog

from ivr import log as logging_setup
from ivr.agi.server import FastAgiServer, Handler, Handover
from ivr.eventloop import run_event_loop

__all__ = ["AgiWorkerPool", "RouteFactory", "WorkerSpec", "WorkerStartError", "load_route_factory", "main"]

log = structlog.get_logger(__name__)

# What the pool starts as each worker: this file, run as a script.
_WORKER_SCRIPT: Final = os.path.abspath(__file__)

# -- the worker ------------------------------------------------------------------

# A worker's routes: built from the spec's JSON ``config`` in the worker process,
# kept open (databases, files) while it serves, closed when it stops.
RouteFactory = Callable[[Mapping[str, Any]], AbstractAsyncContextManager[Mapping[str, Handler]]]


@dataclass(frozen=True)
class WorkerSpec:
    """Everything a worker needs, sent as one JSON line."""

    host: str
    port: int
    routes: str  # "package.module:factory", a RouteFactory
    config: Mapping[str, Any] = field(default_factory=dict)  # JSON, given to the factory
    header_timeout: float = 5.0
    command_timeout: float = 10.0
    handover: Sequence[str] = ()
    handover_fd: int = -1
    log_level: str = "info"
    log_json: bool = False
    loop: str = "auto"  # "auto" (uvloop when installed), "uvloop" or "asyncio"
    index: int = 0
    sys_path: Sequence[str] = ()  # prepended to sys.path, so the factory imports as in the pool's process

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=True)

    @classmethod
    def from_json(cls, line: str | bytes) -> WorkerSpec:
        return cls(**json.loads(line))


def load_route_factory(name: str) -> RouteFactory:
    """Import ``package.module:attribute``."""
    module_name, colon, attribute = name.partition(":")
    if not colon or not module_name or not attribute:
        raise ValueError(f"route factory must be 'package.module:function', not {name!r}")
    factory = getattr(importlib.import_module(module_name), attribute)
    if not callable(factory):
        raise TypeError(f"route factory {name!r} is not callable")
    return cast(RouteFactory, factory)


class _Channel:
    """The worker's end of the hand-over Unix socket (SOCK_SEQPACKET: one message per call)."""

    def __init__(self, fd: int) -> None:
        self._sock = socket.socket(fileno=fd)
        self._sock.setblocking(False)

    def send(self, fd: int, data: bytes) -> None:
        # Never blocks: a full channel (the pool's process not reading) fails this call.
        socket.send_fds(self._sock, [data], [fd])

    def close(self) -> None:
        self._sock.close()


@contextlib.asynccontextmanager
async def _stop_signals() -> AsyncIterator[asyncio.Event]:
    """An event set on SIGTERM, SIGINT or end of file on standard input."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    stdin = sys.stdin.fileno()
    os.set_blocking(stdin, False)

    def on_stdin() -> None:
        try:
            if os.read(stdin, 4096):
                return  # nothing more is expected; ignore it
        except BlockingIOError:
            return
        except OSError:
            pass
        loop.remove_reader(stdin)
        stop.set()

    loop.add_reader(stdin, on_stdin)
    try:
        yield stop
    finally:
        loop.remove_reader(stdin)
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


async def serve(spec: WorkerSpec) -> None:
    factory = load_route_factory(spec.routes)
    channel = _Channel(spec.handover_fd) if spec.handover_fd >= 0 else None
    handover = Handover(frozenset(spec.handover), channel.send) if channel is not None and spec.handover else None
    try:
        async with _stop_signals() as stop, factory(spec.config) as routes:
            server = FastAgiServer(
                spec.host,
                spec.port,
                routes,
                header_timeout=spec.header_timeout,
                command_timeout=spec.command_timeout,
                reuse_port=True,
                handover=handover,
            )
            async with server:
                log.info("agi_worker_ready", pid=os.getpid(), port=server.port)
                sys.stdout.write(f"READY {os.getpid()}\n")
                sys.stdout.flush()
                # Nothing else is read from that pipe: anything printed later goes with the logs.
                os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
                await stop.wait()
    finally:
        if channel is not None:
            channel.close()


def main() -> int:
    spec = WorkerSpec.from_json(sys.stdin.buffer.readline())
    sys.path[:0] = [p for p in spec.sys_path if p not in sys.path]
    logging_setup.configure(spec.log_level, json=spec.log_json)
    structlog.contextvars.bind_contextvars(agi_worker=spec.index)
    try:
        run_event_loop(serve(spec), spec.loop)
    except Exception:
        log.exception("agi_worker_failed", worker=spec.index)
        return 1
    return 0


# -- the pool --------------------------------------------------------------------


# Header plus anything read after it: Asterisk's headers are ~1 KiB.
_MAX_HANDOVER_BYTES: Final = 256 * 1024
_STOP_TIMEOUT: Final = 5.0


class WorkerStartError(RuntimeError):
    """A worker process did not report ready (bad route factory, port not shareable, ...)."""


class _Worker:
    """One worker process and the pool's end of its hand-over channel."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.process: asyncio.subprocess.Process | None = None
        self.channel: socket.socket | None = None
        self.ready = False
        self.restarts = 0

    @property
    def pid(self) -> int | None:
        """The process id while the worker is serving."""
        process = self.process
        return process.pid if process is not None and process.returncode is None and self.ready else None


class AgiWorkerPool:
    """``count`` worker processes serving FastAGI on ``server``'s port beside it.

    ``routes`` names the route factory the workers call with ``config``;
    ``handover`` lists the scripts only ``server`` serves. ``loop`` is the
    workers' event loop: ``"auto"`` (uvloop when installed), ``"uvloop"`` or
    ``"asyncio"``.
    """

    def __init__(
        self,
        server: FastAgiServer,
        count: int,
        routes: str,
        *,
        config: Mapping[str, Any] | None = None,
        handover: Collection[str] = (),
        log_level: str = "info",
        log_json: bool = False,
        loop: str = "auto",
        start_timeout: float = 20.0,
        restart_delay: float = 0.5,
        max_restart_delay: float = 10.0,
    ) -> None:
        if count < 0:
            raise ValueError(f"worker count must be >= 0, not {count}")
        self._server = server
        self._count = count
        self._routes = routes
        self._config = dict(config or {})
        self._handover = tuple(sorted(handover))
        self._log_level = log_level
        self._log_json = log_json
        self._loop_name = loop
        self._start_timeout = start_timeout
        self._restart_delay = restart_delay
        self._max_restart_delay = max_restart_delay
        self._workers = [_Worker(i) for i in range(count)]
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False
        self._started = False
        self._change = asyncio.Event()

    @property
    def pids(self) -> list[int]:
        """Process ids of the workers serving now."""
        return [pid for w in self._workers if (pid := w.pid) is not None]

    @property
    def restarts(self) -> int:
        """Workers started again after they exited, since the pool started."""
        return sum(w.restarts for w in self._workers)

    async def changed(self) -> None:
        """Wait until a worker starts serving or exits."""
        await self._change.wait()

    def _notify(self) -> None:
        change, self._change = self._change, asyncio.Event()
        change.set()

    async def start(self) -> None:
        """Start every worker and wait until each is serving; raises :class:`WorkerStartError`."""
        if self._started:
            raise RuntimeError("worker pool already started")
        self._started = True
        try:
            # Every spawn runs to its end before any failure is acted on: none is left half-started.
            outcomes = await asyncio.gather(*(self._spawn(w) for w in self._workers), return_exceptions=True)
            for outcome in outcomes:
                if isinstance(outcome, BaseException):
                    raise outcome
        except BaseException:
            await self.close()
            raise
        for worker in self._workers:
            self._own(self._supervise(worker))
        log.info("agi_workers_started", count=self._count, pids=self.pids, port=self._server.port)

    async def close(self) -> None:
        """Stop every worker (SIGTERM, then SIGKILL after a few seconds) and wait for them."""
        self._closing = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.gather(*(self._stop(w) for w in self._workers))

    async def __aenter__(self) -> AgiWorkerPool:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- processes ------------------------------------------------------------

    async def _spawn(self, worker: _Worker) -> None:
        loop = asyncio.get_running_loop()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            ours.setblocking(False)
            spec = WorkerSpec(
                host=self._server.host,
                port=self._server.port,
                routes=self._routes,
                config=self._config,
                header_timeout=self._server.header_timeout,
                command_timeout=self._server.command_timeout,
                handover=self._handover,
                handover_fd=theirs.fileno(),
                log_level=self._log_level,
                log_json=self._log_json,
                loop=self._loop_name,
                index=worker.index,
                sys_path=[p for p in sys.path if p],
            )
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                _WORKER_SCRIPT,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                pass_fds=(theirs.fileno(),),
                # Out of the terminal's process group: a Ctrl-C stops the pool's
                # process, which then stops its workers, rather than all at once.
                start_new_session=True,
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        worker.process, worker.channel, worker.ready = process, ours, False
        loop.add_reader(ours.fileno(), self._on_handover, ours)
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write(spec.to_json().encode() + b"\n")
        try:
            async with asyncio.timeout(self._start_timeout):
                await process.stdin.drain()
                line = await process.stdout.readline()
        except TimeoutError:
            line = b""
        if not line.startswith(b"READY "):
            await self._stop(worker)
            raise WorkerStartError(
                f"FastAGI worker {worker.index} did not start (exit status {process.returncode}); see its log"
            )
        worker.ready = True
        self._notify()

    async def _supervise(self, worker: _Worker) -> None:
        delay = self._restart_delay
        while not self._closing:
            process = worker.process
            assert process is not None
            started = asyncio.get_running_loop().time()
            status = await process.wait()
            self._notify()
            self._close_channel(worker)
            if self._closing:
                return
            log.warning("agi_worker_exited", worker=worker.index, pid=process.pid, status=status)
            # A worker that ran for a while gets a quick restart; one that keeps failing, a slower one.
            if asyncio.get_running_loop().time() - started > 10 * self._max_restart_delay:
                delay = self._restart_delay
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._max_restart_delay)
            try:
                await self._spawn(worker)
            except (WorkerStartError, OSError) as exc:
                log.error("agi_worker_restart_failed", worker=worker.index, error=str(exc))
                continue
            worker.restarts += 1
            log.info("agi_worker_restarted", worker=worker.index, pid=worker.pid)

    async def _stop(self, worker: _Worker) -> None:
        process = worker.process
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(_STOP_TIMEOUT):
                    await process.wait()
            except TimeoutError:
                log.warning("agi_worker_killed", worker=worker.index, pid=process.pid)
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        if process is not None and process.stdin is not None:
            process.stdin.close()
        self._close_channel(worker)
        self._notify()

    def _close_channel(self, worker: _Worker) -> None:
        channel, worker.channel = worker.channel, None
        if channel is not None:
            asyncio.get_running_loop().remove_reader(channel.fileno())
            channel.close()

    # -- hand-over ------------------------------------------------------------

    def _on_handover(self, channel: socket.socket) -> None:
        while True:
            try:
                data, fds, flags, _ = socket.recv_fds(channel, _MAX_HANDOVER_BYTES, 1)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                log.warning("agi_handover_channel_failed", error=str(exc))
                return
            if not data and not fds:
                return  # the worker closed its end: it is exiting; _supervise cleans up
            if len(fds) != 1 or flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC) or self._closing:
                for fd in fds:
                    os.close(fd)
                if not self._closing:
                    log.warning("agi_handover_malformed", fds=len(fds), flags=flags)
                continue
            sock = socket.socket(fileno=fds[0])
            self._own(self._adopt(sock, data))

    async def _adopt(self, sock: socket.socket, data: bytes) -> None:
        try:
            await self._server.adopt(sock, data)
        except (OSError, RuntimeError) as exc:
            sock.close()
            log.warning("agi_handover_refused", error=str(exc))

    def _own(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


if __name__ == "__main__":
    sys.exit(main())
