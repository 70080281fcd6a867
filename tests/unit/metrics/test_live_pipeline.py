"""Specs of the live pipeline: AMI in, store, state and subscriber updates out."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ivr.ami.protocol import AmiMessage
from ivr.metrics.adapters.live import LiveMetrics, headers_of
from ivr.metrics.adapters.store import SqliteEventStore
from ivr.metrics.events import DomainEvent
from ivr.metrics.intake import CallerKeyer
from ivr.metrics.reducer import CenterState, SeatState, group_configs
from ivr.metrics.wallboard import Wallboard

from .center import CATALOG, as_stream, transcript_messages

KEY = CallerKeyer(b"test-salt-0123456789")
JOINED_AT = 1795884243.437093
COMPLETED_AT = 1795884245.442885
LAST_EVENT_AT = 1795884245.444225  # the final QueueMemberStatus
DEADLINE = 5.0


def pipeline(store: Any, *, clock: float = LAST_EVENT_AT + 1, **options: Any) -> LiveMetrics:
    state = CenterState(group_configs(CATALOG))
    return LiveMetrics(store, state, KEY, clock=lambda: clock, **options)


async def run(live: LiveMetrics, stream: AsyncIterator[tuple[Any, float]]) -> None:
    async with asyncio.timeout(DEADLINE):
        await live.consume(stream)


def test_headers_of_keeps_every_repeated_chan_variable() -> None:
    message = AmiMessage(
        (
            ("Event", "QueueCallerJoin"),
            ("ChanVariable", "IVR_LINE=main"),
            ("ChanVariable", "IVR_TIER=standard"),
            ("chanvariable", "IVR_LANG=zh"),
            ("Queue", "basic_zh"),
        )
    )
    headers = headers_of(message)
    assert headers["ChanVariable"] == ["IVR_LINE=main", "IVR_TIER=standard", "IVR_LANG=zh"]
    assert headers["Queue"] == "basic_zh"
    plain = {"Event": "QueueCallerJoin"}
    assert headers_of(plain) is plain


def test_group_configs_take_threshold_wrapup_and_targets_from_the_catalog() -> None:
    configs = group_configs(CATALOG)
    assert set(configs) == {"basic_zh", "english"}
    basic = configs["basic_zh"]
    assert (basic.service_level_seconds, basic.wrapup_seconds) == (20.0, 0.0)
    assert basic.targets["aht_seconds"] == 160
    assert configs["english"].wrapup_seconds == 10.0


async def test_recorded_fallback_call_gives_the_expected_floor_and_today(tmp_path: Path) -> None:
    with SqliteEventStore(tmp_path / "events.db") as store:
        live = pipeline(store)
        await run(live, as_stream(transcript_messages()))
        stored = [event for _, event in store.read()]

    assert live.stats.messages == 31
    assert live.stats.events == len(stored) == 8  # join, called, 3 member status, leave, connect, complete
    assert live.stats.rejected == 0 and live.backlog == 0

    # English has a 10 s wrap-up; basic_zh none: 1001 is available right after the call.
    snapshot = live.state.snapshot(LAST_EVENT_AT + 1)
    (basic,) = [g for g in snapshot.groups if g.group == "basic_zh"]
    assert (basic.waiting, basic.available, basic.on_call) == (0, 1, 0)
    (seat,) = snapshot.agents
    assert (seat.agent, seat.state) == ("1001", SeatState.AVAILABLE)

    (row,) = live.state.kpis(JOINED_AT - 1, LAST_EVENT_AT + 1, "group", interval=None)
    assert (row.key, row.offered, row.answered, row.abandoned) == ("basic_zh", 1, 1, 0)
    assert (row.service_level, row.asa, row.aht) == (1.0, 0.0, 2.0)
    (line,) = live.state.kpis(JOINED_AT - 1, LAST_EVENT_AT + 1, "line", interval=None)
    (tier,) = live.state.kpis(JOINED_AT - 1, LAST_EVENT_AT + 1, "tier", interval=None)
    (language,) = live.state.kpis(JOINED_AT - 1, LAST_EVENT_AT + 1, "language", interval=None)
    assert (line.key, tier.key, language.key) == ("main", "standard", "zh")


async def test_seat_is_on_call_between_connect_and_complete(tmp_path: Path) -> None:
    messages = transcript_messages()
    upto_connect = [m for m in messages if m.get("Timestamp", "0") < "1795884244"]
    with SqliteEventStore(tmp_path / "events.db") as store:
        live = pipeline(store, clock=JOINED_AT + 1)
        await run(live, as_stream(upto_connect))
    (seat,) = live.state.snapshot(JOINED_AT + 1).agents
    assert seat.state is SeatState.ON_CALL


async def test_restart_recovery_replays_the_store_into_identical_kpis(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    with SqliteEventStore(path) as store:
        before = pipeline(store)
        await run(before, as_stream(transcript_messages()))

    with SqliteEventStore(path) as store:  # the process restarted
        after = pipeline(store)
        assert await after.recover() == 8
        windowed = pipeline(store)
        assert await windowed.recover(since=JOINED_AT - 3600) == 8

    now = LAST_EVENT_AT + 30
    for restored in (after, windowed):
        assert restored.state.snapshot(now) == before.state.snapshot(now)
        for cut in (None, "group", "agent", "line", "tier", "language"):
            assert restored.state.kpis(JOINED_AT - 900, now, cut) == before.state.kpis(JOINED_AT - 900, now, cut)


async def test_recover_refuses_to_run_while_consuming(tmp_path: Path) -> None:
    release = asyncio.Event()

    async def idle() -> AsyncIterator[tuple[Any, float]]:
        await release.wait()
        yield {"Event": "Noop"}, 0.0

    with SqliteEventStore(tmp_path / "events.db") as store:
        live = pipeline(store)
        async with asyncio.TaskGroup() as tasks:
            task = tasks.create_task(live.consume(idle()))
            await asyncio.sleep(0)
            with pytest.raises(RuntimeError):
                await live.recover()
            release.set()
            async with asyncio.timeout(DEADLINE):
                await task


class RecordingStore:
    """An EventStore in memory that records the thread of each append and can fail."""

    def __init__(self, failures: int = 0, delay: float = 0.0) -> None:
        self.events: list[DomainEvent] = []
        self.threads: set[int] = set()
        self.failures = failures
        self.delay = delay
        self.batches: list[int] = []

    def append(self, events: Iterable[DomainEvent]) -> int:
        self.threads.add(threading.get_ident())
        if self.failures:
            self.failures -= 1
            raise OSError("disk full")
        if self.delay:
            threading.Event().wait(self.delay)  # a slow disk, in the worker thread
        batch = list(events)
        self.batches.append(len(batch))
        self.events.extend(batch)
        return len(batch)

    def read(self, since_seq: int = 0) -> Iterator[tuple[int, DomainEvent]]:
        yield from enumerate(self.events[since_seq:], start=since_seq + 1)

    def read_range(self, from_ts: float, to_ts: float) -> Iterator[DomainEvent]:
        return iter(sorted((e for e in self.events if from_ts <= e.at < to_ts), key=lambda e: e.at))

    def close(self) -> None:
        pass


async def test_store_appends_run_in_a_worker_thread_in_bounded_batches() -> None:
    store = RecordingStore()
    live = pipeline(store, batch_max=3)
    await run(live, as_stream(transcript_messages()))
    assert threading.get_ident() not in store.threads
    assert len(store.events) == 8 and max(store.batches) <= 3


async def test_a_failing_store_is_retried_and_the_floor_view_stays_current() -> None:
    store = RecordingStore(failures=2)
    live = pipeline(store, flush_interval=0.001)
    await run(live, as_stream(transcript_messages()))
    assert live.stats.store_errors == 2
    assert len(store.events) == 8 and live.backlog == 0
    assert live.state.applied == 8


async def test_slow_subscriber_keeps_only_the_newest_updates_and_never_blocks() -> None:
    store = RecordingStore(delay=0.01)
    live = pipeline(store, subscriber_queue=2, publish_interval=0.0)
    slow = live.subscribe()  # never read while the pipeline runs
    fast_seen: list[dict[str, Any]] = []

    async def fast_reader() -> None:
        with live.subscribe() as fast:
            async for update in fast:
                fast_seen.append(update)

    async def spaced() -> AsyncIterator[tuple[Any, float]]:
        for message in transcript_messages():
            yield message, 0.0
            await asyncio.sleep(0.002)  # give the publisher a chance between events

    async with asyncio.TaskGroup() as tasks:
        reader = tasks.create_task(fast_reader())
        await run(live, spaced())
        async with asyncio.timeout(DEADLINE):
            await reader

    assert live.stats.published >= 3
    kept = [u async for u in slow]
    assert len(kept) == 2  # the newest update, then nothing more: the stream ended
    assert slow.dropped == live.stats.published - 2  # every publish was offered to it
    assert live.stats.dropped >= slow.dropped
    assert kept[-1] == fast_seen[-1] == live.latest()
    assert len(store.events) == 8


async def test_publish_never_waits_for_a_full_subscriber() -> None:
    live = pipeline(RecordingStore(), subscriber_queue=1)
    with live.subscribe() as stuck:
        for message in transcript_messages():
            live.feed(message, 0.0)
            live.publish()
        assert stuck.dropped == live.stats.published - 1  # the first primed it
        newest = await stuck.next_update(timeout=1.0)
    assert newest == live.latest()


async def test_close_flushes_the_backlog_and_ends_every_subscription() -> None:
    store = RecordingStore()
    live = pipeline(store, flush_interval=60.0)  # nothing would flush before close
    forever, all_fed = asyncio.Event(), asyncio.Event()

    async def source() -> AsyncIterator[tuple[Any, float]]:
        for message in transcript_messages():
            yield message, 0.0
        all_fed.set()
        await forever.wait()  # AMI stays connected
        yield {}, 0.0

    with live.subscribe() as subscription:
        async with asyncio.TaskGroup() as tasks:
            task = tasks.create_task(live.consume(source()))
            async with asyncio.timeout(DEADLINE):
                await all_fed.wait()
                await live.close()
                await task
        async with asyncio.timeout(DEADLINE):
            updates = [u async for u in subscription]
    assert len(store.events) == 8
    assert updates and updates[-1] == live.latest()


async def test_non_queue_ami_events_are_read_but_produce_nothing() -> None:
    live = pipeline(RecordingStore())
    newchannel = next(m for m in transcript_messages() if m.name == "Newchannel")
    assert live.feed(newchannel, 0.0) is None
    assert (live.stats.messages, live.stats.events, live.stats.rejected) == (1, 0, 0)


async def test_malformed_queue_event_is_counted_as_rejected() -> None:
    live = pipeline(RecordingStore())
    assert live.feed({"Event": "AgentConnect", "Queue": "basic_zh"}, 0.0) is None
    assert live.stats.rejected == 1
    assert live.rejects["AgentConnect:missing:Uniqueid"] == 1


async def test_a_failing_source_still_flushes_the_store_then_raises() -> None:
    store = RecordingStore()
    live = pipeline(store, flush_interval=60.0)

    async def broken() -> AsyncIterator[tuple[Any, float]]:
        for message in transcript_messages():
            yield message, 0.0
        raise ConnectionError("AMI went away")

    with live.subscribe() as subscription, pytest.raises(ConnectionError):
        await run(live, broken())
    assert len(store.events) == 8
    assert [u async for u in subscription]  # ended, not hanging


# --------------------------------------------------------------------------- a renderer of updates


def _applied(page: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """An update applied as the wallboard page applies it."""
    page = {**page}
    for key, value in changes.items():
        if key == "agents_changed":
            where = {row["agent"]: i for i, row in enumerate(page["agents"])}
            page["agents"] = list(page["agents"])
            for row in value:
                page["agents"][where[row["agent"]]] = row
        else:
            page[key] = value
    return page


async def test_a_subscriber_gets_the_whole_snapshot_then_what_changed() -> None:
    live = pipeline(RecordingStore(), render=Wallboard(CATALOG))
    with live.subscribe() as page:
        first = await page.next_update(timeout=1.0)
        assert first is not None and "agents" in first  # a whole snapshot
        shown = first
        for message in transcript_messages():
            if live.feed(message, 0.0) is not None:
                live.publish()
                changes = await page.next_update(timeout=1.0)
                assert changes is not None and "center" not in changes  # only what changed
                shown = _applied(shown, changes)
    assert shown == live.latest()


async def test_a_subscriber_that_fell_behind_gets_a_whole_snapshot_for_what_it_missed() -> None:
    live = pipeline(RecordingStore(), render=Wallboard(CATALOG), subscriber_queue=2)
    with live.subscribe() as slow:
        for message in transcript_messages():
            if live.feed(message, 0.0) is not None:
                live.publish()
        assert slow.dropped > 0
        older = await slow.next_update(timeout=1.0)
        newest = await slow.next_update(timeout=1.0)
    assert older is not None and newest is not None
    assert "agents" in older  # whole: what it was built on was dropped
    assert _applied(older, newest) == live.latest()
