"""Route factories for the worker-pool tests: imported by each worker process by name."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Mapping
from typing import Any

from ivr.agi import AgiSession, Handler


async def report_pid(session: AgiSession) -> None:
    """Tells the peer which process served the call."""
    await session.set_variable("IVR_PID", str(os.getpid()))


@contextlib.asynccontextmanager
async def routes(config: Mapping[str, Any]) -> AsyncIterator[Mapping[str, Handler]]:
    yield {name: report_pid for name in config.get("scripts", ["route"])}


@contextlib.asynccontextmanager
async def broken(config: Mapping[str, Any]) -> AsyncIterator[Mapping[str, Handler]]:
    raise RuntimeError("this factory cannot build its routes")
    yield {}
