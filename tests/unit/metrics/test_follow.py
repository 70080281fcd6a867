"""Specs of the queue_log follower: it reads what Asterisk appends, waits until AMI
can no longer deliver an event, and catches the live state up with what it lacks."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

from ivr.metrics.adapters.follow import QueueLogFollower, seek_time
from ivr.metrics.adapters.live import LiveMetrics
from ivr.metrics.adapters.store import SqliteEventStore
from ivr.metrics.events import CallerJoined
from ivr.metrics.intake import CallerKeyer
from ivr.metrics.reducer import CenterState

KEY = CallerKeyer(b"test-salt-0123456789")
T = 1_700_000_000


def call_lines(uid: str, at: int, queue: str = "basic_zh", line: str = "main") -> list[str]:
    """One answered call as app_queue and the dialplan log it."""
    return [
        f"{at}|{uid}|{queue}|NONE|IVRPATH|{line}|standard|zh|menu",
        f"{at}|{uid}|{queue}|NONE|ENTERQUEUE||13800000000|1",
        f"{at + 5}|{uid}|{queue}|PJSIP/1001|CONNECT|5|{uid}.1|2",
        f"{at + 65}|{uid}|{queue}|PJSIP/1001|COMPLETECALLER|5|60|1",
    ]


def write(path: Path, lines: list[str]) -> None:
    with path.open("a", encoding="utf-8") as handle:
        handle.writelines(line + "\n" for line in lines)


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def follower_on(tmp_path: Path, clock: Clock, **options: float) -> tuple[QueueLogFollower, LiveMetrics]:
    store = SqliteEventStore(tmp_path / "events.db")
    live = LiveMetrics(store, CenterState(), KEY, clock=clock)
    return QueueLogFollower(tmp_path / "queue_log", live, KEY, clock=clock, **options), live


def offered(live: LiveMetrics) -> dict[str, int]:
    return {row.key or "": row.offered for row in live.state.kpis(T - 3600, T + 7200, "line", interval=None)}


def test_seek_time_finds_the_first_line_at_or_after_a_time() -> None:
    text = "".join(f"{T + i}|u{i}|q|NONE|ENTERQUEUE||1|1\n" for i in range(0, 1000, 3)).encode()
    handle = io.BytesIO(text)
    for since in (T - 5, T, T + 1, T + 500, T + 997, T + 5000):
        offset = seek_time(handle, since)
        rest = text[offset:].decode().splitlines()
        assert offset == 0 or text[offset - 1 : offset] == b"\n"
        assert all(int(line.split("|")[0]) >= since for line in rest)
        before = text[:offset].decode().splitlines()
        assert all(int(line.split("|")[0]) < since for line in before)


def test_calls_logged_before_the_ami_login_are_caught_up_at_once_with_their_line(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = Clock(T + 100)
        follower, live = follower_on(tmp_path, clock)
        write(tmp_path / "queue_log", call_lines("a.1", T, line="vip"))
        follower.link_up(T + 90)  # the service came back after the call
        assert await follower.poll() == 3
        assert offered(live) == {"vip": 1}
        assert await follower.poll() == 0  # nothing twice
        assert live.backlog == 3  # queued for the store like any event
        assert follower.status.caught_up == {"AgentCompleted": 1, "AgentConnected": 1, "CallerJoined": 1}

    asyncio.run(scenario())


def test_a_recent_line_waits_for_the_live_feed_and_is_not_added_if_it_came(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = Clock(T + 10)
        follower, live = follower_on(tmp_path, clock, settle=30.0)
        follower.link_up(T - 100)  # logged in long before: AMI should deliver it
        write(tmp_path / "queue_log", call_lines("a.1", T)[:2])
        assert await follower.poll() == 0 and follower.status.pending == 1
        live.state.apply(
            CallerJoined(at=T + 0.3, queue="basic_zh", uniqueid="a.1", caller_hash=None, position=1,
                         line="main", tier="standard", language="zh")
        )  # fmt: skip
        clock.now = T + 40
        assert await follower.poll() == 0 and follower.status.pending == 0
        assert offered(live) == {"main": 1}

    asyncio.run(scenario())


def test_an_event_ami_never_delivered_is_added_after_the_settle_time(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = Clock(T + 66)
        follower, live = follower_on(tmp_path, clock, settle=30.0)
        follower.link_up(T - 100)
        write(tmp_path / "queue_log", call_lines("a.1", T))
        assert await follower.poll() == 2  # the join and the answer are old enough
        clock.now = T + 96
        assert await follower.poll() == 1  # and now the completion
        row = live.state.kpis(T - 3600, T + 7200, "group", interval=None)[0]
        assert (row.offered, row.answered, row.handled) == (1, 1, 1)

    asyncio.run(scenario())


def test_a_missing_file_is_reported_and_followed_once_it_appears(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = Clock(T + 100)
        follower, _ = follower_on(tmp_path, clock)
        follower.link_up(T + 90)
        assert await follower.poll() == 0
        assert not follower.status.readable and "cannot open" in (follower.status.error or "")
        write(tmp_path / "queue_log", call_lines("a.1", T))
        assert await follower.poll() == 3
        assert follower.status.readable and follower.status.error is None

    asyncio.run(scenario())


def test_a_rotated_file_is_read_to_its_end_before_the_new_one(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = Clock(T + 1000)
        follower, live = follower_on(tmp_path, clock)
        follower.link_up(T + 900)
        path = tmp_path / "queue_log"
        write(path, call_lines("a.1", T))
        assert await follower.poll() == 3
        write(path, call_lines("a.2", T + 100))  # appended, then the logger rotates
        path.rename(tmp_path / "queue_log.1")
        write(path, call_lines("a.3", T + 200))
        await follower.poll()
        await follower.poll()
        assert offered(live) == {"main": 3}

    asyncio.run(scenario())


def test_a_partial_last_line_is_read_when_it_is_complete(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = Clock(T + 1000)
        follower, _ = follower_on(tmp_path, clock)
        follower.link_up(T + 900)
        path = tmp_path / "queue_log"
        lines = call_lines("a.1", T)
        path.write_text("\n".join(lines[:2]) + "\n" + lines[2][:10], encoding="utf-8")
        assert await follower.poll() == 1
        with path.open("a", encoding="utf-8") as handle:
            handle.write(lines[2][10:] + "\n" + lines[3] + "\n")
        assert await follower.poll() == 2
        assert follower.status.problems == 0

    asyncio.run(scenario())


def test_following_starts_near_the_newest_known_event(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = Clock(T + 10_000)
        follower, live = follower_on(tmp_path, clock, poll_interval=0.01)
        write(tmp_path / "queue_log", call_lines("old.1", T) + call_lines("new.1", T + 5000))
        follower.link_up(T + 9000)
        task = asyncio.create_task(follower.run(since=T + 4900))
        for _ in range(500):  # a few polls: the run loop, not a single poll()
            if follower.status.lines_read >= 4:
                break
            await asyncio.sleep(0.01)
        task.cancel()
        assert offered(live) == {"main": 1}

    asyncio.run(scenario())
