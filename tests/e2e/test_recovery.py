"""Nothing lost, nothing stalled: faults during live calls, end to end.

Each test makes real calls through the real PBX, breaks something while
they are up, and then asks two things: were the calls served (the callers'
SIPp scenarios end normally), and do the service's KPIs, after it healed,
tell the same story as Asterisk's own queue_log (`ivr reconcile`: no
difference), with every call on its line (never `unknown`). The faults:

- the ivr service killed (SIGKILL) while calls are in the IVR and in queue;
  calls arriving while it is down take the dialplan's fallback;
- the AMI links cut (the sockets destroyed, `ss -K`) as soon as they come up,
  for as long as calls live, neither side stopped;
- the event store's database locked by another process, then its disk full
  (a small tmpfs): the service keeps answering, says so on /healthz, and
  stores what it held once the store works again;
- Asterisk restarted with calls up.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import EventLog, IvrService, Pbx, Sipp, free_port, queue_log_outcome, wait_until

pytestmark = pytest.mark.e2e
_callers = itertools.count(1)
SEATS = ["1002", "1003", "1017", "1019", "1021"]  # basic_zh x2, vip, platinum, group
FOUR_LINES = ["95588", "4006695588", "4000095588", "4008795588"]


def caller() -> str:
    return f"1390077{next(_callers):04d}"


SEAT_PORT: list[int] = []


@pytest.fixture(scope="module")
def seats(pbx: Pbx, settings, sipp_logs) -> Iterator[Sipp]:  # type: ignore[no-untyped-def]
    """Seats of every line's first group, answering every call, talking 2.5 s."""
    sipp = Sipp(settings, sipp_logs)
    port = free_port()
    SEAT_PORT[:] = [port]
    with sipp.seats_answering(port, talk_ms=2500):
        assert sipp.register(SEATS, port).returncode == 0
        yield sipp
        sipp.unregister(SEATS)


def quiet(pbx: Pbx) -> float:
    """Wait for earlier calls to end; the start of this test's window."""
    wait_until(lambda: "0 active calls" in pbx.cli("core show channels count"), 60, "earlier calls to end")
    return time.time() - 1


def place(sipp: Sipp, events: EventLog, numbers: list[str], *, joined: int | None = None) -> list[str]:
    """Call each number (the caller asks for an agent); wait until `joined` of
    them (default all) joined a queue. Returns the calls' uniqueids so far."""
    mark = events.mark()
    callers = [caller() for _ in numbers]
    for number, who in zip(numbers, callers, strict=True):
        PROCS.append(sipp.call(number, who))
    want = len(numbers) if joined is None else joined

    def joins() -> list[str]:
        found = events.find(lambda e: e.name == "QueueCallerJoin" and e.get("CallerIDNum") in callers, since=mark)
        return [e.get("Uniqueid") or "" for e in found]

    wait_until(lambda: len(joins()) >= want, 60, f"{want} of {len(numbers)} calls to join a queue")
    return joins()


PROCS: list[subprocess.Popen[bytes]] = []


@pytest.fixture(autouse=True)
def _callers_end() -> Iterator[None]:
    PROCS.clear()
    yield
    for proc in PROCS:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(5)
        if proc.poll() is None:
            proc.kill()


def all_served(timeout: float = 120) -> None:
    for proc in PROCS:
        assert proc.wait(timeout) == 0, "a caller's call failed"


def reconciled(service: IvrService, since: float) -> bool:
    result = service.reconcile(since)
    RECONCILE_OUTPUT[:] = [result.stdout + result.stderr]
    return result.returncode == 0 and "reconcile: no difference" in result.stdout


RECONCILE_OUTPUT: list[str] = [""]


def heals(service: IvrService, since: float) -> None:
    try:
        wait_until(lambda: reconciled(service, since), 120, "the live KPIs to equal queue_log", interval=2)
    except AssertionError:
        raise AssertionError(RECONCILE_OUTPUT[0]) from None


def offered_by_line(service: IvrService, since: float) -> dict[str, int]:
    rows = service.get_json(f"/api/kpis?from={since}&interval=0&group_by=line")["rows"]
    return {row["key"]: row["offered"] for row in rows if row["offered"]}


def caught_up(service: IvrService) -> int:
    health = service.health() or {}
    return int(health["queue_log"]["caught_up_events"])  # type: ignore[index]


def test_a_killed_service_catches_up_what_asterisk_logged_and_keeps_every_calls_line(
    pbx: Pbx, ivr_service: IvrService, seats: Sipp, events: EventLog
) -> None:
    t0 = quiet(pbx)
    place(seats, events, ["95588"] * 3, joined=2)
    ivr_service.kill()
    # While it is down the dialplan sends callers to their line's fallback queue.
    place(seats, events, FOUR_LINES)
    ivr_service.start()
    all_served()
    heals(ivr_service, t0)
    assert offered_by_line(ivr_service, t0) == {"main": 4, "vip": 1, "platinum": 1, "group": 1}
    assert caught_up(ivr_service) > 0


@contextlib.contextmanager
def ami_links_cut(ami_port: int) -> Iterator[list[int]]:
    """While inside, destroy every established AMI client socket (`ss -K`: the
    kernel resets it, both ends keep running) as soon as one comes up, so the
    links are down but for the moments between a reconnect and the next cut.
    Yields a one-item list: how many sockets were cut."""
    cut = [0]
    stop = threading.Event()

    def cutter() -> None:
        while not stop.is_set():
            out = subprocess.run(["ss", "-K", "-tnH", "state", "established", "dport", "=", f":{ami_port}"],
                                 capture_output=True, text=True, check=True).stdout  # fmt: skip
            cut[0] += len(out.splitlines())

    thread = threading.Thread(target=cutter, name="ami-cutter", daemon=True)
    thread.start()
    try:
        yield cut
    finally:
        stop.set()
        thread.join(10)


def test_cut_ami_links_lose_no_kpi_event(pbx: Pbx, ivr_service: IvrService, seats: Sipp, events: EventLog) -> None:
    t0 = quiet(pbx)
    before = caught_up(ivr_service)
    reconnects = int(ivr_service.health()["pbx"]["reconnects"])  # type: ignore[index]
    # The calls live and end while the links are down: none of their queue events
    # can reach the service over AMI (the test's own AMI session is cut too).
    with ami_links_cut(ivr_service.settings.ami_port) as cut:
        for number in ("95588", "95588", "4006695588"):
            PROCS.append(seats.call(number, caller()))
        all_served()
    assert cut[0] >= 2
    wait_until(lambda: (h := ivr_service.health()) is not None and h["status"] == "ok", 30, "AMI links back")
    wait_until(lambda: events.connected, 30, "the test's own AMI session back")
    assert int(ivr_service.health()["pbx"]["reconnects"]) > reconnects  # type: ignore[index]
    heals(ivr_service, t0)
    assert offered_by_line(ivr_service, t0) == {"main": 2, "vip": 1}
    assert caught_up(ivr_service) > before


def test_a_locked_event_store_stalls_no_call_and_loses_no_event(
    pbx: Pbx, ivr_service: IvrService, seats: Sipp, events: EventLog
) -> None:
    t0 = quiet(pbx)
    locker = sqlite3.connect(ivr_service.settings.event_store, timeout=0, isolation_level=None)
    try:
        locker.execute("BEGIN EXCLUSIVE")
        uniqueids = place(seats, events, ["95588", "4006695588"])
        wait_until(lambda: store_failing(ivr_service, "locked"), 60, "/healthz to report the locked store")
        all_served()
        assert all(queue_log_outcome(ivr_service.settings, u) for u in uniqueids)
    finally:
        locker.close()
    wait_until(lambda: (h := ivr_service.health()) is not None and h["status"] == "ok", 30, "the store back")
    heals(ivr_service, t0)


def store_failing(service: IvrService, why: str) -> bool:
    health = service.health() or {}
    store = health.get("store") or {}
    return health.get("status") == "degraded" and not store["ok"] and why in (store["error"] or "")  # type: ignore[index,operator]


@contextlib.contextmanager
def small_disk(path: Path, size: str = "8m") -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True, capture_output=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False, capture_output=True)


def fill(disk: Path) -> Path:
    """Fill the disk to its last byte; returns the file that does it."""
    filler = disk / "filler"
    with filler.open("wb", buffering=0) as handle:
        try:
            while True:
                handle.write(b"\0" * 4096)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return filler


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small disk needs root (CI runs as root)")
def test_a_full_disk_under_the_event_store_stalls_no_call_and_loses_no_event(
    pbx: Pbx, ivr_service: IvrService, seats: Sipp, events: EventLog, tmp_path: Path
) -> None:
    t0 = quiet(pbx)
    ivr_service.stop()
    try:
        with small_disk(tmp_path / "disk") as disk:
            settings = ivr_service.settings.model_copy(update={"event_store_path": disk / "events.sqlite3"})
            service = IvrService(settings, ivr_service.log_path)
            service.start()  # a new store: it catches up what queue_log has of the last days
            try:
                filler = fill(disk)
                place(seats, events, ["95588", "4006695588"])
                wait_until(lambda: store_failing(service, "full"), 60, "/healthz to report the full disk")
                all_served()
                filler.unlink()
                wait_until(lambda: (h := service.health()) is not None and h["status"] == "ok", 30, "the store back")
                heals(service, t0)
            finally:
                service.stop()
    finally:
        ivr_service.start()


def test_asterisk_restarted_with_calls_up_loses_no_kpi_event(
    pbx: Pbx, ivr_service: IvrService, seats: Sipp, events: EventLog, settings
) -> None:  # type: ignore[no-untyped-def]
    t0 = quiet(pbx)
    place(seats, events, ["95588", "95588", "95588", "4006695588"], joined=3)
    mark = events.mark()
    pbx.restart()
    events.wait_for(lambda e: e.name == "FullyBooted", since=mark, timeout=60, what="FullyBooted after restart")
    wait_until(lambda: (h := ivr_service.health()) is not None and h["status"] == "ok", 30, "AMI back")
    for proc in PROCS:  # the restart hung every call up; the callers' scenarios may end either way
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(60)
    heals(ivr_service, t0)
    assert set(offered_by_line(ivr_service, t0)) == {"main", "vip"}
    # Registrations may not survive the restart: the seats register again for what follows.
    assert seats.register(SEATS, SEAT_PORT[0]).returncode == 0
