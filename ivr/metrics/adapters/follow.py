"""Follow Asterisk's queue_log and catch the live state up with what AMI missed.

Theory of operation
-------------------
`QueueLogFollower.run()` is one task of the metrics feature. At start it
seeks the file to a little before the newest event the state has (the
store's, after restart recovery): the lines since then may hold what
happened while the service was down. Then, every `poll_interval` seconds or
at once when the AMI link comes up, it reads what was appended (in a worker
thread), parses it incrementally (`QueueLogParser`, which carries the
IVRPATH tags to their ENTERQUEUE) and holds the events until AMI can no
longer deliver them:

- an event logged before the current AMI login (its whole second ended
  before it) was either delivered on an earlier connection or is lost, since
  AMI has no replay: it is compared at once;
- a newer one waits `settle` seconds, so the live feed, which normally
  delivers it within milliseconds, always comes first.

The ready events go through `CatchUp.missing` (the facts the state lacks)
and `LiveMetrics.catch_up` (applied, stored, counted). So after any fault
(the service killed, the AMI link cut, Asterisk restarted) the live KPIs
converge on queue_log within a poll of the reconnection, and an event
Asterisk never sent on AMI is added `settle` seconds after it was logged.

The file is read from an open handle: when Asterisk's logger rotates it
(rename), the rest of the old file is read before the new one is opened;
when it is truncated, reading starts over at its beginning. A missing or
unreadable file is reported (`status()`, the health endpoint, one log line
per change) and retried on every poll; the service serves calls regardless.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from ivr.log import get_logger

from ..catchup import CatchUp
from ..events import DomainEvent
from ..intake import CallerKeyer
from ..queue_log import QueueLogParse, QueueLogParser, line_time
from .live import LiveMetrics

log = get_logger(__name__)

START_MARGIN = 120.0
"""Seconds before the state's newest event where reading starts: the events
applied but not yet stored when the service stopped, and queue_log's own
slight disorder (threads write it)."""


@dataclass(slots=True)
class FollowerStatus:
    path: str
    readable: bool = False
    error: str | None = None
    offset: int = 0
    lines_read: int = 0
    problems: int = 0
    pending: int = 0
    caught_up: dict[str, int] = field(default_factory=dict)
    last_caught_up_at: float | None = None
    started_at: float | None = None


def seek_time(handle: IO[bytes], since: float) -> int:
    """Move `handle` to the start of the first line logged at or after `since`
    (binary search on byte offsets; queue_log is in time order but for threads
    racing by a second, which the caller's margin covers). Returns the offset."""

    def line_start(offset: int) -> int:  # the first line start at or after offset
        if offset == 0:
            handle.seek(0)
        else:
            handle.seek(offset - 1)
            handle.readline()
        return handle.tell()

    handle.seek(0, os.SEEK_END)
    lo, hi = 0, handle.tell()
    while lo < hi:
        mid = (lo + hi) // 2
        line_start(mid)
        raw = handle.readline()
        at = line_time(raw.decode("utf-8", "replace")) if raw else None
        if not raw or (at is not None and at >= since):
            hi = mid
        else:
            lo = mid + 1
    return line_start(lo)


class QueueLogFollower:
    """Tails queue_log into `LiveMetrics.catch_up` (see the module docstring)."""

    def __init__(
        self,
        path: Path,
        live: LiveMetrics,
        caller_key: CallerKeyer,
        *,
        settle: float = 30.0,
        poll_interval: float = 2.0,
        chunk_bytes: int = 1 << 20,  # a first catch-up of days of queue_log yields to calls between chunks
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._path = path
        self._live = live
        self._parser = QueueLogParser(caller_key)
        self._catchup = CatchUp()
        self._settle = settle
        self._poll_interval = poll_interval
        self._chunk_bytes = chunk_bytes
        self._clock = clock
        self._handle: IO[bytes] | None = None
        self._partial = b""
        self._since: float | None = None
        self._pending: list[DomainEvent] = []
        self._link_up_at: float | None = None
        self._wake = asyncio.Event()
        self.status = FollowerStatus(path=str(path))

    def link_up(self, at: float) -> None:
        """The AMI link logged in at `at`: what queue_log has from before is final."""
        self._link_up_at = at
        self._wake.set()

    async def run(self, since: float | None) -> None:
        """Follow from `since` (epoch seconds; None: the file's start) until cancelled."""
        self._since = since
        self.status.started_at = self._clock()
        try:
            while True:
                try:
                    await self.poll()
                except Exception as exc:  # never let a bad read stop the metrics feature
                    self._report(f"{type(exc).__name__}: {exc}")
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._poll_interval)
        finally:
            self._close()

    async def poll(self) -> int:
        """Read what was appended, catch up what is ready; returns how many events were added."""
        added = 0
        while True:
            lines = await asyncio.to_thread(self._read_lines)
            if lines:
                parsed = self._parser.feed(lines, QueueLogParse())
                self._pending.extend(parsed.events)
                self.status.lines_read += len(lines)
                if parsed.problems:
                    self.status.problems += len(parsed.problems)
                    log.warning("queue_log_unreadable_lines", count=len(parsed.problems),
                                first_reason=parsed.problems[0].reason)  # fmt: skip
            added += self._catch_up_ready()
            if len(lines) == 0 or self._handle is None:
                break
            await asyncio.sleep(0)  # a long file: let calls be served between chunks
        return added

    def _catch_up_ready(self) -> int:
        now = self._clock()
        safe = now - self._settle
        if self._link_up_at is not None:
            safe = max(safe, self._link_up_at - 1.0)
        ready = [e for e in self._pending if e.at < safe]
        if not ready:
            self.status.pending = len(self._pending)
            return 0
        self._pending = [e for e in self._pending if e.at >= safe]
        self.status.pending = len(self._pending)
        missing = self._catchup.missing(ready, self._live.state.call_facts)
        added = self._live.catch_up(missing)
        if added:
            self.status.caught_up = dict(self._catchup.added)
            self.status.last_caught_up_at = now
            log.info("metrics_caught_up_from_queue_log", events=added,
                     by_type=dict(sorted(self._count(missing).items())))  # fmt: skip
        return added

    @staticmethod
    def _count(events: list[DomainEvent]) -> dict[str, int]:
        counts: dict[str, int] = {}
        for event in events:
            name = type(event).__name__
            counts[name] = counts.get(name, 0) + 1
        return counts

    # -- the file (worker thread) ---------------------------------------------

    def _read_lines(self) -> list[str]:
        handle = self._handle
        if handle is None:
            handle = self._open()
            if handle is None:
                return []
        data = handle.read(self._chunk_bytes)
        if not data:
            self._follow_rotation(handle)
            return []
        data = self._partial + data
        cut = data.rfind(b"\n") + 1
        self._partial = data[cut:]
        self.status.offset = handle.tell() - len(self._partial)
        return data[:cut].decode("utf-8", "replace").splitlines()

    def _open(self) -> IO[bytes] | None:
        try:
            handle = self._path.open("rb")
        except OSError as exc:
            self._report(f"cannot open: {exc.strerror or exc}")
            return None
        if self._since is not None:
            seek_time(handle, self._since)
            self._since = None  # a reopened (rotated) file is read whole
        self._handle, self._partial = handle, b""
        if not self.status.readable:
            log.info("queue_log_following", path=str(self._path), offset=handle.tell())
        self.status.readable, self.status.error = True, None
        return handle

    def _follow_rotation(self, handle: IO[bytes]) -> None:
        try:
            now = os.stat(self._path)
        except OSError:
            return  # renamed and not yet recreated: keep the old handle
        mine = os.fstat(handle.fileno())
        if (now.st_ino, now.st_dev) != (mine.st_ino, mine.st_dev) or now.st_size < handle.tell():
            log.info("queue_log_reopened", path=str(self._path),
                     reason="rotated" if now.st_ino != mine.st_ino else "truncated")  # fmt: skip
            self._close()

    def _close(self) -> None:
        if self._handle is not None:
            with contextlib.suppress(OSError):
                self._handle.close()
            self._handle = None
        self._partial = b""

    def _report(self, error: str) -> None:
        if error != self.status.error:
            log.warning("queue_log_not_followed", path=str(self._path), error=error)
        self.status.readable, self.status.error = False, error
