"""The service's memory: what it gives back, and an opt-in look inside.

`hand_large_blocks_back` (called by `ivr serve` at start): a PIN check is one
scrypt of ~16 MiB in a worker thread; glibc would keep each worker thread's
last 16-33 MiB resident (BENCHMARKS.md, the soak).

`snapshot_on_signal`: off by default. With `IVR_TRACEMALLOC=<frames>` in the
environment (or PYTHONTRACEMALLOC), SIGUSR2 makes the process write its
memory facts, and from the second signal on a tracemalloc snapshot, into the
run directory (`write_memory_snapshot`; `bench/soak.py` signals once a minute
when it sees the variable).
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import json
import os
import signal
import sys
import time
import tracemalloc
from collections import Counter
from pathlib import Path
from typing import Final

from ivr.log import get_logger

log = get_logger(__name__)


def snapshot_on_signal(loop: asyncio.AbstractEventLoop, run_dir: Path) -> bool:
    """SIGUSR2 writes a memory snapshot into `run_dir` when the environment asks for it."""
    frames = os.environ.get("IVR_TRACEMALLOC", "")
    if not (frames.isdigit() or tracemalloc.is_tracing()):
        return False
    loop.add_signal_handler(signal.SIGUSR2, write_memory_snapshot, run_dir, int(frames or 1))
    return True


def write_memory_snapshot(run_dir: Path, frames: int) -> None:
    """SIGUSR2 with `IVR_TRACEMALLOC=<frames>` (or PYTHONTRACEMALLOC) in the environment.

    Writes `memory-<unix time>.json` (objects the collector tracks, by type,
    but for those frozen at start-up; glibc malloc figures; SQLite's memory;
    resident memory by kind of mapping), `memory-<unix time>.pymalloc`
    (`sys._debugmallocstats`) into the run directory and, while tracemalloc
    traces, `memory-<unix time>.tracemalloc` (a `tracemalloc.Snapshot`). With frames > 0 the first signal starts
    tracing if it is off: allocations from then on are traced, without the
    cost of tracing the start-up imports. `IVR_TRACEMALLOC=0`: the JSON only.
    """
    stamp = f"{time.time():.0f}"
    if tracemalloc.is_tracing():
        tracemalloc.take_snapshot().dump(str(run_dir / f"memory-{stamp}.tracemalloc"))
    elif frames > 0:
        tracemalloc.start(frames)
    types = Counter(type(o).__qualname__ for o in gc.get_objects())
    facts = {"objects": dict(types.most_common(60)), "malloc": _mallinfo2(), "sqlite_memory_used": _sqlite_memory(),
             "rss_kib": _rss_by_mapping(), "tracemalloc_overhead": tracemalloc.get_tracemalloc_memory()}  # fmt: skip
    (run_dir / f"memory-{stamp}.json").write_text(json.dumps(facts, indent=1))
    _write_pymalloc_stats(run_dir / f"memory-{stamp}.pymalloc")
    log.info("memory_snapshot", run_dir=str(run_dir), stamp=stamp)


def _write_pymalloc_stats(path: Path) -> None:
    """`sys._debugmallocstats()` (it prints to the C stderr) into `path`."""
    saved = os.dup(2)
    try:
        with path.open("wb") as out:
            os.dup2(out.fileno(), 2)
            sys._debugmallocstats()
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _rss_by_mapping() -> dict[str, int]:
    """Resident KiB: the main malloc heap, glibc's thread arenas (64 MiB-aligned
    anonymous heaps), other anonymous memory (pymalloc arenas, large blocks), files."""
    out = {"heap": 0, "thread_arenas": 0, "anonymous": 0, "files": 0}
    kind = "files"
    for line in Path("/proc/self/smaps").read_text().splitlines():
        head = line.split(maxsplit=6)
        if "-" in head[0] and len(head) >= 5:
            start = int(head[0].split("-")[0], 16)
            name = head[5] if len(head) > 5 else ""
            if name:
                kind = "heap" if name == "[heap]" else "files"
            else:
                kind = "thread_arenas" if start % (64 << 20) == 0 else "anonymous"
        elif head[0] == "Rss:":
            out[kind] += int(head[1])
    return out


_MALLINFO2 = ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")


class _Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in _MALLINFO2]


def _mallinfo2() -> dict[str, int]:
    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = _Mallinfo2
    info = libc.mallinfo2()
    return {name: int(getattr(info, name)) for name in _MALLINFO2}


def _sqlite_memory() -> int:
    import sqlite3  # noqa: F401  (loads libsqlite3)

    lib = ctypes.CDLL("libsqlite3.so.0")
    lib.sqlite3_memory_used.restype = ctypes.c_int64
    return int(lib.sqlite3_memory_used())


# glibc's default; setting it turns off the threshold's growth (mallopt(3)).
MMAP_THRESHOLD: Final = 128 * 1024
_M_MMAP_THRESHOLD: Final = -3


def hand_large_blocks_back() -> bool:
    """Keep glibc from holding freed large blocks in its per-thread arenas.

    A PIN check is one scrypt (~16 MiB, `ivr.directory.store`) in a worker
    thread. glibc serves a block that large with mmap, but after the first one
    is freed it raises its mmap threshold to that size, so every later check
    takes its 16 MiB from the thread's arena, which keeps it resident once
    freed: 16 to 33 MiB per worker thread (84 MiB in 3 threads in the soak,
    up to 112 MiB with 6). A fixed threshold keeps large blocks in mmap, which
    frees return to the system; the price is mapping and faulting the 16 MiB
    in at every check: 48.7 ms of CPU a check instead of 42.0 (2 threads).
    False where mallopt is not glibc's."""
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD))
