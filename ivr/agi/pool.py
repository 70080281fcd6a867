"""FastAGI over several processes: worker processes accept on the server's port (``SO_REUSEPORT``).

Theory of operation
-------------------
One Python process serves FastAGI on one core. :class:`AgiWorkerPool` starts
``count`` more processes (:mod:`ivr.agi.worker`), each with its own event loop
and its own :class:`~ivr.agi.server.FastAgiServer` bound to the same loopback
port as the pool's own server (which must be made with ``reuse_port=True``).
The kernel spreads new connections over every listening socket; a process
that dies only takes its own socket (and the connections still queued on it)
out of the group: the port stays up as long as one listener is left, and the
pool's process, which listens too, is one. A worker that exits is started
again after a delay that grows while workers keep failing.

Workers build their own routes: the pool names a *route factory*
(``"package.module:function"``, see :data:`ivr.agi.worker.RouteFactory`) and
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
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
from collections.abc import Collection, Mapping
from typing import Any, Final

from ivr.agi.server import FastAgiServer
from ivr.agi.worker import WorkerSpec
from ivr.log import get_logger

__all__ = ["AgiWorkerPool", "WorkerStartError"]

log = get_logger(__name__)

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
                "-m",
                "ivr.agi.worker",
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
