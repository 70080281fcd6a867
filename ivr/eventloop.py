"""Which event loop a process runs on: uvloop when installed, else asyncio's own.

uvloop (libuv) serves the same FastAGI flow for less CPU per call than
asyncio's selector loop (see BENCHMARKS.md); everything in ivr runs on
either, and `IVR_EVENT_LOOP=asyncio` picks the stock loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, Literal, TypeVar, get_args

T = TypeVar("T")

EventLoopName = Literal["auto", "uvloop", "asyncio"]
EVENT_LOOPS: tuple[str, ...] = get_args(EventLoopName)


def run_event_loop(main: Coroutine[Any, Any, T], loop: str = "auto") -> T:
    """``asyncio.run(main)``, on uvloop when ``loop`` is ``"uvloop"``, or ``"auto"`` and it is installed."""
    if loop not in EVENT_LOOPS:
        main.close()
        raise ValueError(f"unknown event loop {loop!r}; one of {', '.join(EVENT_LOOPS)}")
    if loop != "asyncio":
        try:
            import uvloop
        except ImportError:
            if loop == "uvloop":
                main.close()
                raise
        else:
            return uvloop.run(main)
    return asyncio.run(main)
