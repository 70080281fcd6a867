"""One FastAGI worker process: ``python -m ivr.agi.worker``, started by :class:`ivr.agi.pool.AgiWorkerPool`.

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
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import asdict, dataclass, field
from typing import Any, cast

import structlog

from ivr import log as logging_setup
from ivr.agi.server import FastAgiServer, Handler, Handover
from ivr.eventloop import run_event_loop

__all__ = ["RouteFactory", "WorkerSpec", "load_route_factory", "main"]

log = structlog.get_logger(__name__)

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


if __name__ == "__main__":
    sys.exit(main())
