"""Real parts for end-to-end tests: the Asterisk container, SIPp callers and
seats, the ivr service as a subprocess, and an AMI event log to wait on.

Tests never sleep to "wait enough": they wait for an AMI event, a process
exit or an HTTP answer, each with a deadline. The PBX uses its own ports and
container name, so a `make up` instance on the same machine is left alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import shutil
import signal
import socket
import struct
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ivr.settings import Settings

if TYPE_CHECKING:
    from ivr.ami import AmiClient, AmiMessage

REPO = Path(__file__).resolve().parents[2]
SIPP_DIR = REPO / "tests" / "sipp"
IMAGE = "ivr-asterisk:22"
CALLER_ADDRESS = "127.0.0.2"  # the simulated PSTN trunk
SEAT_ADDRESS = "127.0.0.1"
ROGUE_ADDRESS = "127.0.0.3"  # neither trunk nor a registered seat
DTMF_PCAPS = "/usr/share/sip-tester"  # RFC 2833 recordings shipped with Debian's sip-tester


SLOT = int(os.environ.get("IVR_E2E_SLOT", "0"))
"""Which set of ports and container name a test run uses (0-9): two runs on
one machine (a developer's suite beside a benchmark) each take their own."""


def test_settings(run_dir: Path, **overrides: object) -> Settings:
    shift = 100 * SLOT
    values: dict[str, object] = {
        "catalog": REPO / "callcenter.yaml",
        "templates": REPO / "dialplans",
        "prompts": REPO / "prompts",
        "run_dir": run_dir,
        "pbx_name": "ivr-test-asterisk" + (f"-{SLOT}" if SLOT else ""),
        "sip_port": 5160 + shift,
        "ami_port": 5138 + shift,
        "agi_port": 4673 + shift,
        "http_port": 8180 + shift,
        "rtp_start": 20000 + 10 * shift,
        "rtp_end": 20999 + 10 * shift,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def catalog_copy(
    path: Path, *, always_open: bool = False, closed_on: str | None = None, survey_lines: set[str] | None = None,
    adherence_tolerance: int | None = None, source: str | None = None,
) -> Path:
    """Write the real catalog (or the text `source`) to `path` with the office
    calendar open around the clock, or closed all day on `closed_on`
    (YYYY-MM-DD, a holiday), the post-call survey only on `survey_lines` (line
    ids) and the adherence tolerance (minutes) when given."""
    import yaml

    data = yaml.safe_load(source if source is not None else (REPO / "callcenter.yaml").read_text(encoding="utf-8"))
    if survey_lines is not None:
        for line in data["numbers"]:
            line["survey"] = line["id"] in survey_lines
    office = data["calendars"]["office"]
    if always_open:
        office.update(open={day: ["00:00-24:00"] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
                      holidays=[], workdays={})  # fmt: skip
    if closed_on:
        office.update(holidays=[closed_on], workdays={})
    if adherence_tolerance is not None:
        data["scheduling"]["adherence_tolerance_minutes"] = adherence_tolerance
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def free_port(address: str = "127.0.0.1", kind: int = socket.SOCK_DGRAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind((address, 0))
        return int(sock.getsockname()[1])


def _write_once(path: Path, data: bytes) -> None:
    if not path.exists():
        partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
        partial.write_bytes(data)
        os.replace(partial, path)


def wait_until(predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


# --------------------------------------------------------------------------- PBX


@dataclass
class Pbx:
    settings: Settings

    @property
    def name(self) -> str:
        return self.settings.pbx_name

    def start(self) -> None:
        run_dir = self.settings.run_dir
        subprocess.run(["docker", "rm", "-f", self.name], capture_output=True, check=False)
        subprocess.run(
            ["docker", "run", "-d", "--name", self.name, "--network", "host",
             "-v", f"{run_dir}:/srv/ivr", IMAGE],
            check=True, capture_output=True,
        )  # fmt: skip

    def stop(self) -> None:
        subprocess.run(["docker", "rm", "-f", self.name], capture_output=True, check=False)

    def restart(self) -> None:
        subprocess.run(["docker", "restart", "-t", "5", self.name], check=True, capture_output=True)

    def cli(self, command: str) -> str:
        result = subprocess.run(
            ["docker", "exec", self.name, "asterisk", "-C", "/srv/ivr/etc/asterisk.conf", "-rx", command],
            capture_output=True, text=True, check=False, timeout=20,
        )  # fmt: skip
        return result.stdout

    def logs(self) -> str:
        result = subprocess.run(["docker", "logs", self.name], capture_output=True, text=True, check=False)
        return result.stdout + result.stderr

    def registered_contacts(self, seat: str) -> int:
        """Registered contacts of a seat's AOR (`Contact:  1001/sip:...` lines)."""
        out = self.cli("pjsip show contacts")
        return sum(1 for line in out.splitlines() if line.strip().startswith(f"Contact:  {seat}/sip:"))


# --------------------------------------------------------------------------- AMI


@dataclass
class EventLog:
    """Collects every AMI event seen by a read-only AMI session, in a thread
    of its own, so synchronous tests can wait for events with a deadline."""

    settings: Settings
    events: list[AmiMessage] = field(default_factory=list)
    _cond: threading.Condition = field(default_factory=threading.Condition)
    _thread: threading.Thread | None = None
    _loop: asyncio.AbstractEventLoop | None = None
    _client: AmiClient | None = None
    _stopping: asyncio.Event | None = None

    def start(self) -> None:
        ready = threading.Event()

        def runner() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            loop.run_until_complete(self._main(ready))
            loop.close()

        self._thread = threading.Thread(target=runner, name="ami-event-log", daemon=True)
        self._thread.start()
        ready.wait(10)

    async def _main(self, ready: threading.Event) -> None:
        from ivr.ami import AmiClient

        self._stopping = asyncio.Event()
        client = AmiClient(
            "127.0.0.1", self.settings.ami_port, self.settings.ami_metrics_user,
            self.settings.ami_metrics_secret.get_secret_value(), name="test-events",
            backoff_initial=0.2, backoff_max=1.0,
        )  # fmt: skip
        self._client = client
        runner = asyncio.create_task(client.run())
        ready.set()

        async def pump() -> None:
            async for event in client.events():
                with self._cond:
                    self.events.append(event)
                    self._cond.notify_all()

        pumper = asyncio.create_task(pump())
        await self._stopping.wait()
        pumper.cancel()
        await client.close()
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await runner
        with contextlib.suppress(asyncio.CancelledError):
            await pumper

    def stop(self) -> None:
        if self._loop is not None and self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
        if self._thread is not None:
            self._thread.join(10)

    @property
    def connected(self) -> bool:
        """The event log's AMI session is logged in (it reconnects by itself)."""
        return self._client is not None and self._client.connected

    def mark(self) -> int:
        with self._cond:
            return len(self.events)

    def wait_for(
        self, predicate: Callable[[AmiMessage], bool], timeout: float = 20.0, since: int = 0, what: str = "event"
    ) -> AmiMessage:
        deadline = time.monotonic() + timeout
        index = since
        with self._cond:
            while True:
                while index < len(self.events):
                    event = self.events[index]
                    index += 1
                    if predicate(event):
                        return event
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    seen = ", ".join(sorted({e.name for e in self.events[since:]}))
                    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; saw: {seen}")
                self._cond.wait(remaining)

    def after(self, event: AmiMessage) -> int:
        """The mark just after `event` (one `wait_for` returned): to wait for what came later."""
        with self._cond:
            return next(i for i, seen in enumerate(self.events) if seen is event) + 1

    def find(self, predicate: Callable[[AmiMessage], bool], since: int = 0) -> list[AmiMessage]:
        with self._cond:
            return [e for e in self.events[since:] if predicate(e)]


def chan_var(event: AmiMessage, name: str, prefix: str = "") -> str | None:
    """A channel variable from `channelvars` on an AMI event (both spellings Asterisk uses)."""
    direct = event.get(f"{prefix}ChanVariable({name})")
    if direct is not None:
        return direct
    for value in event.get_all(f"{prefix}ChanVariable"):
        key, _, val = value.partition("=")
        if key == name:
            return val
    return None


def queue_log_outcome(settings: Settings, uniqueid: str) -> str | None:
    """The event that ended the call's visit to a queue in Asterisk's queue_log
    (COMPLETECALLER, ABANDON, EXITWITHTIMEOUT, ...), or None while it has none."""
    path = settings.run_dir / "log" / "queue_log"
    if not path.exists():
        return None
    for line in reversed(path.read_text(encoding="utf-8", errors="replace").splitlines()):
        fields = line.split("|")
        if len(fields) > 4 and fields[1] == uniqueid and fields[4] in QUEUE_LOG_OUTCOMES:
            return fields[4]
    return None


# The line that ends a FastAGI call (ivr.agi.server): an IVR call's trace is in it.
CALL_ENDS = ("agi_call_finished", "agi_caller_hung_up", "agi_handler_failed")


def call_trace(records: list[dict[str, object]]) -> dict[str, Any]:
    """The ``ivr`` trace (ivr.callflow.flow) of the one IVR call ended among `records`."""
    traces = [r["ivr"] for r in records if r.get("event") in CALL_ENDS and "ivr" in r]
    assert len(traces) == 1, [r.get("event") for r in records]
    trace: dict[str, Any] = traces[0]  # type: ignore[assignment]
    return trace


def played(trace: dict[str, Any]) -> list[str]:
    """The prompts a call's trace played, in order."""
    return [str(step)[len("play ") :] for step in trace["steps"] if str(step).startswith("play ")]


def pin_checks(trace: dict[str, Any]) -> list[bool]:
    """Each PIN check of a call, in order: verified or not."""
    return [step == "pin ok" for step in trace["steps"] if str(step).startswith("pin ")]


QUEUE_LOG_OUTCOMES = frozenset({"COMPLETECALLER", "COMPLETEAGENT", "ABANDON", "EXITWITHTIMEOUT", "EXITEMPTY",
                                "EXITWITHKEY", "BLINDTRANSFER", "ATTENDEDTRANSFER"})  # fmt: skip


# --------------------------------------------------------------------------- SIPp


@dataclass
class Sipp:
    """SIPp callers and seats. Logs go to `log_dir` for failed-test reports."""

    settings: Settings
    log_dir: Path

    def _base(self, scenario: str, address: str, port: int) -> list[str]:
        return [
            "sipp", "-sf", str(SIPP_DIR / scenario), "-i", address, "-p", str(port),
            "-nostdin", "-trace_err", "-error_file", str(self.log_dir / f"{scenario}.{port}.errors.log"),
        ]  # fmt: skip

    @property
    def pbx(self) -> str:
        return f"127.0.0.1:{self.settings.sip_port}"

    def register(
        self, seats: list[str], contact_port: int, *, password: Callable[[str], str] | None = None,
        expires: int = 3600, address: str = SEAT_ADDRESS, timeout: float = 20, rate: int = 200,
        scenario: str = "seat_register.xml",
    ) -> subprocess.CompletedProcess[str]:
        password = password or self.settings.seat_password
        csv = self.log_dir / f"seats-{contact_port}-{len(seats)}.csv"
        rows = [f"{s};[authentication username={s} password={password(s)}];{contact_port}" for s in seats]
        csv.write_text("SEQUENTIAL\n" + "\n".join(rows) + "\n")
        port = free_port(address)
        cmd = [*self._base(scenario, address, port),
            "-inf", str(csv), "-m", str(len(seats)), "-r", str(rate), "-key", "expires", str(expires),
            "-recv_timeout", "5000", self.pbx,
        ]  # fmt: skip
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False, cwd=self.log_dir)

    def seat_dials(self, seat: str, number: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
        """Seat `seat` dials `number` (a feature code) with digest auth; the PBX hangs up."""
        csv = self.log_dir / f"dial-{seat}.csv"
        auth = f"[authentication username={seat} password={self.settings.seat_password(seat)}]"
        csv.write_text(f"SEQUENTIAL\n{seat};{auth}\n")
        port = free_port(SEAT_ADDRESS)
        cmd = [*self._base("seat_dial.xml", SEAT_ADDRESS, port), "-inf", str(csv), "-s", number,
               "-mp", str(free_port()), "-m", "1", "-recv_timeout", "10000", self.pbx]  # fmt: skip
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False, cwd=self.log_dir)

    def unregister(self, seats: list[str]) -> None:
        """Remove every registration of the seats (Contact: *, Expires: 0)."""
        result = self.register(seats, 1, expires=0, scenario="seat_unregister.xml")
        assert result.returncode == 0, result.stdout[-1500:]

    @contextlib.contextmanager
    def seats_answering(
        self, port: int, talk_ms: int = 1500, scenario: str = "seat_answer.xml"
    ) -> Iterator[subprocess.Popen[bytes]]:
        """One UAS answering every INVITE sent to `port` (any seat registered there)."""
        cmd = [*self._base(scenario, SEAT_ADDRESS, port),
            "-mp", str(free_port()), "-d", str(talk_ms), self.pbx,
        ]  # fmt: skip
        with (self.log_dir / f"uas-{port}.out").open("wb") as out:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=self.log_dir)
        try:
            yield proc
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def dtmf_pcap(self, digit: str, index: int) -> Path:
        """Debian's RFC 2833 recording of `digit`, re-stamped as the index-th key of a call.

        Each recording starts at its own RTP sequence number and timestamp (the
        "1" at 7984/13280, the "9" at 8293/67840), and SIPp replays them as
        they are: a key whose numbers are behind the previous key's is dropped
        by Asterisk as late, one with the same timestamp taken for a
        retransmission. Rebasing every key onto one increasing sequence makes
        each a new event."""
        name = {"*": "star", "#": "pound"}.get(digit, digit)
        path = self.log_dir / f"dtmf-{index}-{name}.pcap"
        if path.exists():
            return path
        data = bytearray(Path(f"{DTMF_PCAPS}/dtmf_2833_{name}.pcap").read_bytes())
        offset = 24  # pcap global header; link type Ethernet
        first: tuple[int, int] | None = None
        while offset + 16 <= len(data):
            length = struct.unpack_from("<I", data, offset + 8)[0]
            packet = offset + 16
            udp = packet + 14 + (data[packet + 14] & 0x0F) * 4
            rtp = udp + 8
            seq, timestamp = struct.unpack_from("!HI", data, rtp + 2)
            first = first or (seq, timestamp)
            struct.pack_into("!HI", data, rtp + 2, (1000 + 50 * index + seq - first[0]) & 0xFFFF,
                             (160000 + 16000 * index + timestamp - first[1]) & 0xFFFFFFFF)  # fmt: skip
            struct.pack_into("!H", data, udp + 6, 0)  # UDP checksum: none (IPv4 allows it)
            offset = packet + length
        _write_once(path, bytes(data))
        return path

    def dtmf_scenario(self, keys: list[tuple[int, str]], hangup_after_ms: int | None = None) -> str:
        """Write a caller scenario that, after the answer, waits `ms` then sends
        `digit` as RFC 2833 events (SIPp's recorded pcaps) for each (ms, digit);
        then waits for the far end to hang up, or hangs up `hangup_after_ms` later."""
        base = (SIPP_DIR / "caller.xml").read_text()
        head, _, _tail = base.partition('  <recv request="BYE"/>')
        steps = []
        for index, (ms, digit) in enumerate(keys):
            pcap = self.dtmf_pcap(digit, index)
            if hangup_after_ms is None:
                # Wait up to `ms` for the far end to hang up (then answer it, label 99);
                # otherwise press the key. A BYE never arrives in the middle of a pause.
                steps.append(f'  <recv request="BYE" timeout="{ms}" ontimeout="{10 + index}" next="99"/>\n'
                             f'  <label id="{10 + index}"/>\n')  # fmt: skip
            else:
                steps.append(f'  <pause milliseconds="{ms}"/>\n')
            steps.append(f'  <nop><action><exec play_pcap_audio="{pcap}"/></action></nop>\n')
        if hangup_after_ms is None:
            tail = '  <recv request="BYE"/>\n  <label id="99"/>' + _tail
        else:
            abandon = (SIPP_DIR / "caller_abandon.xml").read_text()
            tail = f'  <pause milliseconds="{hangup_after_ms}"/>' + abandon.split("  <pause/>", 1)[1]
        text = head + "".join(steps) + tail
        # Named by content and written once, atomically: SIPp processes started
        # one after another read the same file, never a half-written one.
        path = self.log_dir / f"dtmf-{hashlib.sha256(text.encode()).hexdigest()[:16]}.xml"
        _write_once(path, text.encode())
        return str(path)

    def call(
        self, number: str, caller: str, *, address: str = CALLER_ADDRESS, max_wait_ms: int = 60000,
        keys: tuple[tuple[int, str], ...] = ((1500, "0"), (2000, "0"), (2500, "0")),
        hangup_after_ms: int | None = None,
        scenario: str | None = None, extra: list[str] | None = None,
    ) -> subprocess.Popen[bytes]:
        """Start one call in the background. By default the caller presses 0 (agent)
        1.5 s after the answer, during the greeting, and again 2 and 4.5 s later
        in case the IVR was not yet listening (a busy PBX answers before the AGI
        session starts; keys after the hand-off are ignored by the queue), and
        stays until the far end hangs up; `keys` are (ms after the previous key, digit) pairs sent as RFC 2833;
        with `hangup_after_ms` the caller hangs up that long after the last key."""
        if scenario is None:
            scenario = self.dtmf_scenario(list(keys), hangup_after_ms) if keys or hangup_after_ms else "caller.xml"
        port = free_port(address)
        cmd = [*self._base(scenario, address, port),
            "-s", number, "-key", "caller", caller, "-mi", address, "-mp", str(free_port(address)),
            "-m", "1", "-recv_timeout", str(max_wait_ms), *(extra or []), self.pbx,
        ]  # fmt: skip
        out = (self.log_dir / f"call-{number}-{caller}.out").open("wb")
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=self.log_dir)


# --------------------------------------------------------------------------- ivr service


@dataclass
class IvrService:
    settings: Settings
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None

    def env(self) -> dict[str, str]:
        s = self.settings
        env = dict(os.environ)
        env.update(
            IVR_CATALOG=str(s.catalog), IVR_TEMPLATES=str(s.templates), IVR_PROMPTS=str(s.prompts),
            IVR_RUN_DIR=str(s.run_dir), IVR_PBX_NAME=s.pbx_name, IVR_SIP_PORT=str(s.sip_port),
            IVR_AMI_PORT=str(s.ami_port), IVR_AGI_PORT=str(s.agi_port), IVR_HTTP_PORT=str(s.http_port),
            IVR_RTP_START=str(s.rtp_start), IVR_RTP_END=str(s.rtp_end), IVR_LOG_JSON="true",
            IVR_DEMO_TOKENS="true",
        )  # fmt: skip
        if s.event_store_path is not None:
            env["IVR_EVENT_STORE_PATH"] = str(s.event_store_path)
        return env

    def start(self) -> None:
        ivr = shutil.which("ivr") or str(REPO / ".venv" / "bin" / "ivr")
        out = self.log_path.open("ab")
        self.proc = subprocess.Popen([ivr, "serve"], stdout=out, stderr=subprocess.STDOUT, env=self.env(), cwd=REPO)
        # Ready: both AMI sessions logged in (the control one re-applies agent state first).
        wait_until(lambda: (h := self.health()) is not None and h["status"] == "ok", 30, "ivr serve to be ready")

    def get(self, path: str, token: str | None = "viewer-demo") -> tuple[int, bytes, dict[str, str]]:
        """GET from the service's HTTP API: (status, body, headers)."""
        request = urllib.request.Request(f"http://127.0.0.1:{self.settings.http_port}{path}")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.read(), dict(response.headers)
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read(), dict(exc.headers)

    def post(
        self, path: str, body: bytes | None, token: str | None = "supervisor-demo", timeout: float = 15
    ) -> tuple[int, Any]:
        import json

        request = urllib.request.Request(
            f"http://127.0.0.1:{self.settings.http_port}{path}", data=body or b"", method="POST",
            headers={"Content-Type": "application/json"},
        )  # fmt: skip
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    def get_json(self, path: str, token: str | None = "viewer-demo") -> Any:
        import json

        status, body, _ = self.get(path, token)
        assert status == 200, f"GET {path}: {status} {body[:300]!r}"
        return json.loads(body)

    def health(self) -> dict[str, object] | None:
        import json

        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"ivr serve exited with {self.proc.returncode}; see {self.log_path}")
        url = f"http://127.0.0.1:{self.settings.http_port}/healthz"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return json.loads(response.read())  # type: ignore[no-any-return]
        except urllib.error.HTTPError as exc:
            return json.loads(exc.read())  # type: ignore[no-any-return]
        except OSError:
            return None

    def kill(self) -> None:
        """SIGKILL, as a crash: nothing is flushed, nothing is closed."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()
        self.proc = None

    def reconcile(self, since: float) -> subprocess.CompletedProcess[str]:
        """`ivr reconcile --since` against this service's event store and queue_log."""
        ivr = shutil.which("ivr") or str(REPO / ".venv" / "bin" / "ivr")
        return subprocess.run([ivr, "reconcile", "--since", str(since)], capture_output=True, text=True,
                              env=self.env(), cwd=REPO, check=False, timeout=60)  # fmt: skip

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None
