"""The live metrics pipeline: AMI events in; durable store, live state and updates out.

Theory of operation
-------------------
`LiveMetrics.consume(events)` runs three tasks it owns, in one TaskGroup:

- the **reader** takes `(AMI message, received_at)` pairs, turns each into a
  domain event with `intake.from_ami` (via `headers_of`, which keeps repeated
  `ChanVariable` lines), applies it to the `CenterState` at once and queues it
  for the store. It never awaits anything but the next event, so a slow disk
  or a slow wallboard cannot hold AMI intake back; it yields to the loop every
  `batch_max` events so a source that never suspends cannot starve the others.
- the **writer** appends queued events to the `EventStore` in batches of at
  most `batch_max`, at the latest `flush_interval` seconds after the first
  queued event, in a worker thread (`asyncio.to_thread`): SQLite never runs
  on the event loop. A failed append is retried, oldest first; the backlog is
  capped at `max_backlog` events, beyond which the oldest are dropped and
  counted (queue_log reconciliation recovers them).
- the **publisher** asks the renderer for an update at most once per
  `publish_interval`, when something changed or `refresh_interval` has
  passed (so waits and today's numbers move on a quiet floor), and offers it
  to every subscriber. A renderer (`Renderer`, e.g. `wallboard.Wallboard`)
  gives what changed since its previous update and, on demand, the whole
  snapshot as of that update; a plain `render(state, now)` function makes
  every update a whole snapshot. A new subscriber gets the whole snapshot of
  the latest update, then the updates after it. Rendering runs on the loop,
  so the pause after a render is stretched to keep rendering under
  `render_budget` of the loop's time (a 0.5 s render at 0.2: one per 2 s).
  Each subscriber has a bounded queue; when it is full, what it holds is
  dropped (and counted) for the whole snapshot of the newest update, which
  the next updates then apply to. Publishing never waits for a subscriber.

Order: the state is updated before the event is stored, so the floor view
never waits for the disk. A crash loses at most the unflushed tail (about
`flush_interval` of events), which queue_log reconciliation restores.

All state mutation happens on the event loop thread; `recover()` reads the
store in a worker thread but applies pages on the loop, so a Prometheus
scrape or a subscriber rendering a snapshot never sees the state mid-update.

Every wait is bounded: the reader's wait for the next AMI event is the only
open-ended one, and `close()` ends it by cancelling the reader.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import time
from collections import Counter, deque
from collections.abc import AsyncIterable, Callable, Iterable, Iterator, Mapping, Sequence
from typing import Protocol, runtime_checkable

from ivr.ami.protocol import AmiMessage
from ivr.log import get_logger

from ..events import DomainEvent
from ..intake import CallerKeyer, HeaderValue, from_ami
from ..reducer import CenterState
from ..stats import PipelineStats
from ..views import agents_view, snapshot_view
from ..wallboard import Render, Snapshot, Update
from .store import EventStore

log = get_logger(__name__)


@runtime_checkable
class Renderer(Protocol):
    """Renders successive updates of one live view (`wallboard.Wallboard`)."""

    def update(self, state: CenterState, now: float) -> Update: ...


class _WholeSnapshots:
    """A `Renderer` from a `render` function: every update is a whole snapshot."""

    def __init__(self, render: Render) -> None:
        self._render = render

    def update(self, state: CenterState, now: float) -> Update:
        snapshot = self._render(state, now)
        return Update(snapshot, lambda: snapshot)


class HasHeaders(Protocol):
    """An AMI message as `ivr.ami.protocol.AmiMessage`: header pairs in wire order."""

    @property
    def headers(self) -> Sequence[tuple[str, str]]: ...


AmiLike = HasHeaders | Mapping[str, HeaderValue]
AmiEvent = tuple[AmiLike, float]
"""What `consume` reads: an AMI message (or its headers) and when it was received."""


def headers_of(message: AmiLike) -> Mapping[str, HeaderValue]:
    """The headers of an AMI message in the shape `intake.from_ami` takes.

    Header pairs become a mapping; a key that repeats (`ChanVariable`, one
    line per channel variable) maps to the list of its values in wire order,
    so none is lost. Keys merge case-insensitively under their first spelling.
    A mapping is returned as it is.
    """
    if isinstance(message, Mapping):
        return message
    out: dict[str, HeaderValue] = {}
    spelling: dict[str, str] = {}
    for key, value in message.headers:
        name = spelling.setdefault(key.lower(), key)
        previous = out.get(name)
        if previous is None:
            out[name] = value
        elif isinstance(previous, list):
            previous.append(value)
        else:
            out[name] = [str(previous), value]
    return out


def default_render(state: CenterState, now: float) -> Snapshot:
    """A minimal update (the floor view); the service renders with `wallboard.Wallboard`."""
    snapshot = state.snapshot(now)
    return {"at": now, "queues": snapshot_view(snapshot), "agents": agents_view(snapshot)}


_CLOSED = Update({}, dict)  # sentinel queued to end a subscription


class Subscription:
    """A subscriber's bounded queue of updates; iterate it, or call `next_update`.

    Use as a context manager (or call `close()`) so the pipeline forgets it.
    Iteration ends when the pipeline closes.
    """

    def __init__(self, owner: LiveMetrics, maxsize: int) -> None:
        self._owner = owner
        self._queue: asyncio.Queue[tuple[Update, bool]] = asyncio.Queue(maxsize)
        self._closed = False
        self._ended = False
        self.dropped = 0
        """Updates this subscriber missed because it did not keep up."""

    def offer(self, update: Update, *, whole: bool = False) -> bool:
        """Queue an update without waiting (`whole`: as its whole snapshot).

        When the queue is full the oldest update is dropped, and the oldest
        one left is delivered whole, since it can no longer be applied to
        what the subscriber has. False if one was dropped.
        """
        if self._closed or self._ended:
            return True
        kept = not self._queue.full()
        if not kept:
            self._queue.get_nowait()
            self.dropped += 1
            held = [self._queue.get_nowait() for _ in range(self._queue.qsize())]
            if held:
                held[0] = (held[0][0], True)
            else:
                whole = True
            for item in held:
                self._queue.put_nowait(item)
        self._queue.put_nowait((update, whole))
        return kept

    # A timeout here is a keepalive tick for the caller (None), not an error.
    async def next_update(self, timeout: float) -> Snapshot | None:  # noqa: ASYNC109
        """The next update, or None if none came within `timeout` seconds.

        Raises `StopAsyncIteration` once the subscription or the pipeline is closed.
        """
        if self._queue.empty() and (self._closed or self._ended):
            raise StopAsyncIteration
        try:
            update, whole = await asyncio.wait_for(self._queue.get(), timeout)
        except TimeoutError:
            return None
        if update is _CLOSED:
            raise StopAsyncIteration
        return update.full() if whole else update.changes

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Snapshot:
        while True:
            update = await self.next_update(timeout=60.0)
            if update is not None:
                return update

    def end(self) -> None:
        """Called by the pipeline when it stops: iteration ends after queued updates."""
        self._ended = True
        if self._queue.empty():  # wake a reader waiting in next_update
            self._queue.put_nowait((_CLOSED, False))

    def close(self) -> None:
        self._closed = True
        self._owner._unsubscribe(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LiveMetrics:
    """The live metrics pipeline of one service process (see the module docstring)."""

    def __init__(
        self,
        store: EventStore,
        state: CenterState,
        caller_key: CallerKeyer,
        *,
        render: Render | Renderer = default_render,
        clock: Callable[[], float] = time.time,
        batch_max: int = 500,
        flush_interval: float = 0.05,
        max_backlog: int = 200_000,
        publish_interval: float = 1.0,
        refresh_interval: float = 5.0,
        subscriber_queue: int = 8,
        render_budget: float = 0.2,
        store_timeout: float = 30.0,
        close_timeout: float = 10.0,
    ) -> None:
        if batch_max < 1 or subscriber_queue < 1 or max_backlog < batch_max:
            raise ValueError("batch_max, subscriber_queue >= 1 and max_backlog >= batch_max")
        self.store = store
        self.state = state
        self._caller_key = caller_key
        self._renderer: Renderer = render if isinstance(render, Renderer) else _WholeSnapshots(render)
        self._clock = clock
        self._batch_max = batch_max
        self._flush_interval = flush_interval
        self._max_backlog = max_backlog
        self._publish_interval = publish_interval
        self._refresh_interval = refresh_interval
        self._subscriber_queue = subscriber_queue
        self._render_budget = min(1.0, max(0.01, render_budget))
        self._store_timeout = store_timeout
        self._close_timeout = close_timeout
        self.stats = PipelineStats()
        self.rejects: Counter[str] = Counter()
        self.store_error: str | None = None
        """Why the last append failed, while the store is failing (None when it works)."""
        self.listeners: list[Callable[[DomainEvent], None]] = []
        """Called on the loop with every event applied live (fed or caught up from
        queue_log), after the state has it; not with duplicates the state dropped,
        nor with events replayed by `recover()`.
        A listener must be quick and must not raise (a failure is logged)."""
        self._backlog: deque[DomainEvent] = deque()
        self._subscribers: set[Subscription] = set()
        self._latest: Update | None = None
        self._dirty = True
        self._running = False
        self._source_error: Exception | None = None
        self._have_backlog = asyncio.Event()
        self._batch_full = asyncio.Event()
        self._changed = asyncio.Event()
        self._stop = asyncio.Event()
        self._stopping = asyncio.Event()
        self._done = asyncio.Event()
        self._done.set()

    # -- intake ------------------------------------------------------------

    def feed(self, message: AmiLike, received_at: float) -> DomainEvent | None:
        """Convert and apply one AMI message now; queue its event for the store."""
        self.stats.messages += 1
        before = self.rejects.total()
        headers = message if isinstance(message, AmiMessage) else headers_of(message)
        event = from_ami(headers, received_at, self._caller_key, self.rejects)
        if event is None:
            self.stats.rejected += self.rejects.total() - before
            return None
        self.stats.events += 1
        applied = self.state.applied
        try:
            self.state.apply(event)
        except Exception as exc:  # a reducer bug must not stop the center's metrics
            self.rejects[f"{type(event).__name__}:apply_failed"] += 1
            log.error("metrics_apply_failed", event_type=type(event).__name__, error=repr(exc))
        self._queue_for_store(event)
        if self.state.applied != applied:  # not a duplicate, not too late
            self._tell_listeners(event)
        self._dirty = True
        self._changed.set()
        return event

    def _tell_listeners(self, event: DomainEvent) -> None:
        for listener in self.listeners:
            try:
                listener(event)
            except Exception as exc:
                log.error("metrics_listener_failed", event_type=type(event).__name__, error=repr(exc))

    def catch_up(self, events: Iterable[DomainEvent]) -> int:
        """Fold in events the live feed missed (from queue_log): each completes
        its call's record without taking a seat over (`CenterState.backfill`),
        is stored and told to the listeners. Returns how many were applied."""
        applied = 0
        for event in events:
            try:
                fresh = self.state.backfill(event)
            except Exception as exc:  # a reducer bug must not stop the center's metrics
                self.rejects[f"{type(event).__name__}:apply_failed"] += 1
                log.error("metrics_apply_failed", event_type=type(event).__name__, error=repr(exc))
                continue
            if fresh:
                applied += 1
                self._queue_for_store(event)
                self._tell_listeners(event)
        if applied:
            self.stats.caught_up += applied
            self._dirty = True
            self._changed.set()
        return applied

    def _queue_for_store(self, event: DomainEvent) -> None:
        self._backlog.append(event)
        overflow = len(self._backlog) - self._max_backlog
        if overflow > 0:
            for _ in range(overflow):
                self._backlog.popleft()
            self.stats.store_dropped += overflow
            log.warning("metrics_store_backlog_dropped", dropped=overflow)
        self._have_backlog.set()
        if len(self._backlog) >= self._batch_max:
            self._batch_full.set()

    @property
    def backlog(self) -> int:
        """Events applied but not yet stored."""
        return len(self._backlog)

    # -- running -------------------------------------------------------------

    async def consume(self, events: AsyncIterable[AmiEvent]) -> None:
        """Run the pipeline until `events` ends or `close()` is called.

        On the way out the backlog is flushed (bounded by `close_timeout`),
        a last snapshot published and every subscription ended.
        """
        if self._running:
            raise RuntimeError("LiveMetrics.consume is already running")
        self._running = True
        self._done.clear()
        self._stop.clear()
        self._stopping.clear()
        try:
            async with asyncio.TaskGroup() as tasks:
                writer = tasks.create_task(self._write_loop(), name="metrics-store-writer")
                publisher = tasks.create_task(self._publish_loop(), name="metrics-publisher")
                reader = tasks.create_task(self._read_loop(events), name="metrics-ami-reader")
                stop = tasks.create_task(self._stop.wait(), name="metrics-stop")
                await asyncio.wait((reader, stop), return_when=asyncio.FIRST_COMPLETED)
                reader.cancel()
                stop.cancel()
                self._stopping.set()
                self._have_backlog.set()
                self._batch_full.set()  # flush now, without waiting out flush_interval
                self._changed.set()
                await asyncio.wait((writer, publisher), timeout=self._close_timeout)
                for task in (writer, publisher):
                    task.cancel()
        finally:
            self._running = False
            error, self._source_error = self._source_error, None
            if self._backlog:
                log.warning("metrics_backlog_unstored", events=len(self._backlog))
            for subscription in list(self._subscribers):
                subscription.end()
            self._done.set()
        if error is not None:
            raise error

    async def close(self) -> None:
        """Stop `consume` (flushing the backlog); returns when it has ended."""
        self._stop.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._done.wait(), self._close_timeout + 1.0)

    async def _read_loop(self, events: AsyncIterable[AmiEvent]) -> None:
        count = 0
        try:
            async for message, received_at in events:
                self.feed(message, received_at)
                count += 1
                if count % self._batch_max == 0:
                    await asyncio.sleep(0)  # let the writer and publisher run
        except Exception as exc:
            # Stop cleanly (flush, end subscriptions), then consume() re-raises it.
            self._source_error = exc
            log.error("metrics_source_failed", error=repr(exc))

    async def _write_loop(self) -> None:
        while True:
            if not self._backlog:
                if self._stopping.is_set():
                    return
                self._have_backlog.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._have_backlog.wait(), 1.0)
                continue
            if len(self._backlog) < self._batch_max and not self._stopping.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._batch_full.wait(), self._flush_interval)
            if not await self._flush_once():
                # Store failing: back off and retry, also while stopping (consume()
                # gives up after close_timeout and logs what is left unstored).
                await asyncio.sleep(min(1.0, self._flush_interval * 20))

    async def _flush_once(self) -> bool:
        """Store up to `batch_max` queued events; True on success."""
        batch = list(itertools.islice(self._backlog, self._batch_max))
        if not batch:
            return True
        try:
            stored = await asyncio.wait_for(asyncio.to_thread(self.store.append, batch), self._store_timeout)
        except Exception as exc:  # any store failure: keep the batch, retry later
            self.stats.store_errors += 1
            if self.store_error is None:
                log.error("metrics_store_failing", error=repr(exc), batch=len(batch), backlog=len(self._backlog))
            else:
                log.warning("metrics_store_append_failed", error=repr(exc), batch=len(batch))
            self.store_error = repr(exc)
            return False
        if self.store_error is not None:
            log.info("metrics_store_recovered", backlog=len(self._backlog))
            self.store_error = None
        # Only this task removes from the left; the reader only appends.
        for _ in range(min(len(batch), len(self._backlog))):
            self._backlog.popleft()
        self.stats.stored += stored
        if len(self._backlog) < self._batch_max:
            self._batch_full.clear()
        return True

    async def _publish_loop(self) -> None:
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), self._refresh_interval)
            self._changed.clear()
            pause = self._publish_interval
            if self._subscribers:  # with none, latest() renders on demand
                started = time.perf_counter()
                self.publish()
                rendering = time.perf_counter() - started
                # Rendering runs on the loop: keep it under render_budget of the loop's time.
                pause = max(pause, rendering * (1 / self._render_budget - 1))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), pause)
        if self._subscribers:
            self.publish()

    # -- subscribers -----------------------------------------------------------

    def latest(self) -> Snapshot:
        """The whole snapshot now (published first if the state changed since the last one)."""
        return self._current().full()

    def _current(self) -> Update:
        if self._latest is None or self._dirty:
            return self.publish()
        return self._latest

    def publish(self) -> Update:
        """Render an update now and offer it to every subscriber (never waits)."""
        update = self._renderer.update(self.state, self._clock())
        self._latest, self._dirty = update, False
        self.stats.published += 1
        for subscription in list(self._subscribers):
            if not subscription.offer(update):
                self.stats.dropped += 1
        return update

    def subscribe(self) -> Subscription:
        """A new subscription: the current whole snapshot, then every update after it."""
        subscription = Subscription(self, self._subscriber_queue)
        subscription.offer(self._current(), whole=True)
        self._subscribers.add(subscription)
        if not self._running and self._done.is_set() and self._stopping.is_set():
            subscription.end()
        return subscription

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def _unsubscribe(self, subscription: Subscription) -> None:
        self._subscribers.discard(subscription)

    # -- restart recovery --------------------------------------------------------

    async def recover(self, since: float | None = None, page: int = 5000) -> int:
        """Replay stored events into the (fresh) state; returns how many were applied.

        `since` (epoch seconds) replays only events from then on: pass the
        start of today minus the longest FCR window to bound the replay. The
        store is read in a worker thread; pages are applied on the loop.
        """
        if self._running:
            raise RuntimeError("recover() must run before consume()")
        source: Iterator[DomainEvent]
        if since is None:
            source = (event for _, event in self.store.read())
        else:
            window = await asyncio.to_thread(_take, self.store.read_range(since, math.inf), None)
            source = iter(window)
        applied = 0
        while True:
            chunk = await asyncio.to_thread(_take, source, page)
            if not chunk:
                break
            self.state.apply_all(chunk)
            applied += len(chunk)
            await asyncio.sleep(0)
        self.stats.recovered += applied
        self._dirty = True
        self._changed.set()
        log.info("metrics_recovered", events=applied, horizon=self.state.horizon)
        return applied


def _take(events: Iterator[DomainEvent], limit: int | None) -> list[DomainEvent]:
    return list(itertools.islice(events, limit))
