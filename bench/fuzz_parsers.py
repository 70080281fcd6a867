"""Fuzz the AGI and AMI sans-IO parsers and the catalog loader.

Run: `.venv/bin/python bench/fuzz_parsers.py` (10,000 cases per target,
a few minutes; `--cases N`, `--targets agi,ami,catalog`, `--seed N`,
`--help`). Prints, per target: cases run, crashes, hangs, inconsistencies and
the slowest case; exits 1 if any target had a crash or a hang.

What is generated (hypothesis, no shrinking: every case runs once and each
distinct failure keeps its shortest input as the reproducer):

* agi: the Asterisk 22 header and recorded-style answers (tests/unit/agi),
  truncated and mutated (bytes flipped, inserted, deleted, duplicated, spliced,
  protocol tokens such as ``HANGUP``, ``520-``, over-long lines, 130 header
  lines, GBK and invalid UTF-8), or plain random bytes; fed to
  ``AgiConnection`` cut at random points, playing the script side (a command
  after the request and after each response) until ``ConnectionClosed`` or a
  ``RemoteProtocolError``.
* ami: the recorded transcript tests/fixtures/ami/*.txt plus legacy
  ``Response: Follows`` output, mutated likewise or random; fed to
  ``AmiParser`` (default limits and tiny ones) in random chunks; every
  message's accessors are read and compared with its plain header list.
* catalog: callcenter.yaml with lines deleted, duplicated, swapped or
  re-indented, YAML specials inserted (anchors, aliases, merge keys, tags,
  billion-laughs, deep nesting, 5,000-digit numbers, duplicate keys, BOM,
  NUL), the parsed catalog with one value replaced by a random one, random
  YAML documents, random text and random bytes; written to a file and loaded
  with ``load_catalog``.

Outcomes. Accepted: AGI events and ``RemoteProtocolError``; AMI events
(``MalformedLine`` included; the parser never raises); a ``Catalog`` or a
``CatalogError``. Anything else raised is a crash. A case over
``--hang-seconds`` (2 s) is a hang; one over ``--kill-seconds`` is killed.
Each case runs in a worker process (limited to ``--memory-mib`` of address
space, so a memory bomb is a ``MemoryError``, not a dead host) that is
restarted after a kill. An inconsistency is an input whose events differ
between fed whole and fed in chunks (or, for AMI, a message accessor that
disagrees with the message's headers): reported, not counted as a crash.
"""

from __future__ import annotations

import argparse
import itertools
import multiprocessing
import multiprocessing.connection
import os
import random
import resource
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

AGI_HEADER = (ROOT / "tests/unit/agi/asterisk22_header.txt").read_bytes()
AMI_FIXTURES = sorted((ROOT / "tests/fixtures/ami").glob("*.txt"))
CATALOG_TEXT = (ROOT / "callcenter.yaml").read_text(encoding="utf-8")

TARGETS = ("agi", "ami", "catalog")


# --------------------------------------------------------------------------- corpus

AGI_REPLIES: tuple[bytes, ...] = (
    b"200 result=0\n",
    b"200 result=0 endpos=14560\n",
    b"200 result=1234\n",
    b"200 result=12 (timeout)\n",
    b"520-Invalid command syntax.  Proper usage follows:\n"
    b" Usage: GET DATA <file to be streamed> [timeout] [maxdigits]\n\n"
    b"Stream the given file, and receive DTMF data.\n\n520 End of proper usage.\n",
    b"200 result=1 (gold (vip))\n",
    b"HANGUP\n200 result=-1\n",
    b"511 Command Not Permitted on a dead channel or intercept routine\n",
    b"510 Invalid or unknown command\n",
    b"200 result=49 endpos=3200\r\n",
)
AGI_TRANSCRIPTS: tuple[bytes, ...] = (
    AGI_HEADER + b"".join(AGI_REPLIES),
    AGI_HEADER,
    AGI_HEADER.replace(b"\n", b"\r\n") + b"200 result=0\r\n",
    b"agi_network: yes\nagi_calleridname: " + "张伟".encode("gbk") + b"\n\n200 result=0\n",
    b"agi_arg_2: b\nagi_arg_1: a\nagi_arg_10: j\n\nHANGUP\n",
)
AGI_TOKENS: tuple[bytes, ...] = (
    b"\n", b"\r\n", b"\n\n", b"\r", b"HANGUP\n", b"200 result=", b"200 ", b"520-", b"520 End\n", b"511 x\n",
    b"agi_arg_1: ", b"agi_", b": ", b":", b"(", b")", b" endpos=", b"-1", b"\xff\xfe", "张".encode("gbk"),
    b"\x00", b"\xc3", b"A" * 9000, b"agi_x: y\n" * 130, b"result=99999999999999999999", b" " * 40,
)  # fmt: skip
# What the script side sends after the request and after each response.
AGI_COMMANDS: tuple[tuple[str, ...], ...] = (
    ("ANSWER",),
    ("STREAM FILE", "welcome", ""),
    ("GET DATA", "enter-card", "5000", "4"),
    ("GET VARIABLE", "IVR_TIER"),
    ("WAIT FOR DIGIT", "5000"),
    ("SET VARIABLE", "IVR_DONE", "1"),
)


def _ami_message(*lines: str) -> bytes:
    return ("".join(f"{line}\r\n" for line in lines) + "\r\n").encode()


AMI_LEGACY = (
    b"Response: Follows\r\nPrivilege: Command\r\nActionID: a-7\r\n"
    b"Channel              Location             State   Application(Data)\r\n"
    b"0 active channels\r\n\r\nUptime: 12 seconds\r\n--END COMMAND--\r\n\r\n"
)
AMI_TRANSCRIPTS: tuple[bytes, ...] = (
    *(path.read_bytes() for path in AMI_FIXTURES),
    b"Asterisk Call Manager/9.0.0\r\n"
    + _ami_message("Response: Success", "ActionID: ivr-1", "Message: Authentication accepted")
    + _ami_message("Event: FullyBooted", "Privilege: system,all", "Uptime: 12", "Status: Fully Booted")
    + AMI_LEGACY
    + _ami_message("Event: QueueCallerJoin", "ChanVariable(IVR_LINE): main", "Queue: vip", "Position: 1")
    + _ami_message("Event: QueueCallerJoin", "ChanVariable(IVR_LINE): main", "Queue: vip", "Position: 2")
    + _ami_message("Event: QueueCallerJoin", "ChanVariable(IVR_LINE): main", "Queue: vip", "Position: 3"),
)
AMI_TOKENS: tuple[bytes, ...] = (
    b"\r\n", b"\n", b"\r\n\r\n", b"\r", b"Response: Follows\r\n", b"--END COMMAND--", b"Event: QueueCallerJoin\r\n",
    b": ", b":", b"ChanVariable: A=b\r\n", b"ChanVariable(X): y\r\n", b"ActionID: ", b"\xff", b"\xc3", b"\x00",
    "é张".encode(), b"A" * 70000, b"Key: v\r\n" * 200, b" Key : v\r\n", b"Asterisk Call Manager/9.0.0\r\n",
)  # fmt: skip
AMI_NAMES: tuple[str, ...] = ("Queue", "Uniqueid", "Channel", "ActionID", "event")

CATALOG_TOKENS: tuple[str, ...] = (
    "&a [1, 2]", "*a", "<<: *a", "!!python/object/apply:os.system ['true']", "!!binary AAAA", "!!set {a, b}",
    "? [complex, key]", "- ", ": ", "{", "[", "'", '"', "\t", "\x00", "\ufeff", "9" * 5000, "-9" * 2500 + "9",
    "1e999", ".nan", "-.inf", "~", "null", "yes", "2001-01-01", "0x1F", "0o17", "1_000", "[" * 3000,
    "{a: " * 2000, "%YAML 1.1", "--- ", "...", "\u2028", "\ud7ff", "x" * 100_000, "- " * 3000 + "x",
    "id: dup\n  id: dup", "!!str", "!custom x", "|\n  block", ">-\n  folded",
)  # fmt: skip


def billion_laughs(levels: int, fanout: int) -> str:
    """YAML aliases that expand to fanout ** levels scalars."""
    lines = ["lol0: &l0 [lol]"]
    for n in range(1, levels + 1):
        refs = ", ".join([f"*l{n - 1}"] * fanout)
        lines.append(f"lol{n}: &l{n} [{refs}]")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- strategies


@st.composite
def mutated_bytes(draw: st.DrawFn, corpus: Sequence[bytes], tokens: Sequence[bytes]) -> bytes:
    data = bytearray(draw(st.sampled_from(corpus)))
    for _ in range(draw(st.integers(0, 8))):
        op = draw(st.sampled_from(("flip", "insert", "token", "delete", "duplicate", "truncate", "splice")))
        pos = draw(st.integers(0, len(data)))
        if op == "flip" and data:
            data[min(pos, len(data) - 1)] = draw(st.integers(0, 255))
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        elif op == "token":
            data[pos:pos] = draw(st.sampled_from(tokens))
        elif op == "delete":
            del data[pos : pos + draw(st.integers(1, 64))]
        elif op == "duplicate":
            data[pos:pos] = data[pos : pos + draw(st.integers(1, 256))]
        elif op == "truncate":
            del data[pos:]
        elif op == "splice":
            other = draw(st.sampled_from(corpus))
            start = draw(st.integers(0, len(other)))
            data[pos:] = other[start:]
    return bytes(data)


def wire_input(corpus: Sequence[bytes], tokens: Sequence[bytes]) -> st.SearchStrategy[bytes]:
    return st.one_of(
        mutated_bytes(corpus, tokens),
        mutated_bytes(corpus, tokens),
        mutated_bytes(corpus, tokens),
        st.binary(max_size=512),
        st.lists(st.sampled_from(tokens), max_size=12).map(b"".join),
    )


@st.composite
def cut_points(draw: st.DrawFn, size: int) -> list[int]:
    """Where to cut `size` bytes into chunks: none, byte by byte, or random points."""
    how = draw(st.sampled_from(("whole", "bytes", "random", "random")))
    if how == "whole" or size == 0:
        return []
    if how == "bytes" and size <= 4096:
        return list(range(1, size))
    return sorted(set(draw(st.lists(st.integers(1, max(1, size - 1)), max_size=32))))


@st.composite
def agi_case(draw: st.DrawFn) -> tuple[bytes, list[int]]:
    data = draw(wire_input(AGI_TRANSCRIPTS, AGI_TOKENS))
    return data, draw(cut_points(len(data)))


@st.composite
def ami_case(draw: st.DrawFn) -> tuple[bytes, list[int], bool, bool]:
    data = draw(wire_input(AMI_TRANSCRIPTS, AMI_TOKENS))
    return data, draw(cut_points(len(data))), draw(st.booleans()), draw(st.booleans())


json_values: st.SearchStrategy[Any] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=20)
    | st.sampled_from(("zh", "vip", "basic_zh", "main", "1001", "Asia/Shanghai", "", "95588", "09:00-18:00")),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)
CATALOG_DATA = yaml.safe_load(CATALOG_TEXT)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, (*prefix, index))


CATALOG_PATHS = [path for path in _paths(CATALOG_DATA) if path]


@st.composite
def catalog_value_replaced(draw: st.DrawFn) -> bytes:
    """The demo catalog with one to three values (or keys) replaced: reaches validation and cross-checks."""
    data = yaml.safe_load(CATALOG_TEXT)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(CATALOG_PATHS))
        parent = data
        try:
            for part in path[:-1]:
                parent = parent[part]
            last = path[-1]
            if draw(st.booleans()) or not isinstance(parent, dict):
                parent[last] = draw(json_values)
            else:
                parent[draw(st.text(max_size=12))] = parent.pop(last)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier replacement removed this path
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False).encode("utf-8")


@st.composite
def catalog_text_mutated(draw: st.DrawFn) -> bytes:
    lines = CATALOG_TEXT.splitlines()
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(("delete", "duplicate", "swap", "indent", "token", "replace", "bomb")))
        i = draw(st.integers(0, len(lines) - 1)) if lines else 0
        if not lines:
            lines.append("")
        elif op == "delete":
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, lines[i])
        elif op == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "indent":
            lines[i] = " " * draw(st.integers(0, 8)) + lines[i].lstrip()
        elif op == "token":
            col = draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:col] + draw(st.sampled_from(CATALOG_TOKENS)) + lines[i][col:]
        elif op == "replace":
            key, sep, _ = lines[i].partition(": ")
            lines[i] = key + (sep or ": ") + draw(st.sampled_from(CATALOG_TOKENS) | st.text(max_size=30))
        elif op == "bomb" and draw(st.integers(0, 9)) == 0:  # rare: most of them take seconds today
            lines.append(billion_laughs(draw(st.integers(1, 9)), draw(st.integers(2, 10))))
    return "\n".join(lines).encode("utf-8", errors="surrogatepass") + b"\n"


def catalog_input() -> st.SearchStrategy[bytes]:
    return st.one_of(
        catalog_text_mutated(),
        catalog_text_mutated(),
        catalog_value_replaced(),
        catalog_value_replaced(),
        json_values.map(lambda v: yaml.safe_dump(v, allow_unicode=True).encode("utf-8")),
        st.text(max_size=400).map(lambda t: t.encode("utf-8", errors="surrogatepass")),
        mutated_bytes(
            (CATALOG_TEXT.encode("utf-8"),), tuple(t.encode("utf-8", "surrogatepass") for t in CATALOG_TOKENS)
        ),
    )


STRATEGIES: dict[str, Callable[[], st.SearchStrategy[Any]]] = {
    "agi": agi_case,
    "ami": ami_case,
    "catalog": catalog_input,
}


# --------------------------------------------------------------------------- exercising one case (worker side)


class Inconsistent(Exception):
    """Not a crash: the same input read two ways gave two answers."""


class Livelock(Exception):
    """The parser keeps returning events without consuming input."""


def split(data: bytes, cuts: Sequence[int]) -> list[bytes]:
    points = [0, *cuts, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(points) if b > a]


def drive_agi(chunks: Sequence[bytes]) -> list[str]:
    """Play the script side over `chunks`; the events as text, ending with the error if any."""
    from ivr.agi.protocol import (
        NEED_DATA,
        AgiConnection,
        AgiRequest,
        AgiResponse,
        ConnectionClosed,
        ConnectionState,
        RemoteProtocolError,
    )

    conn = AgiConnection()
    pending = iter(chunks)
    trace: list[str] = []
    commands = 0
    eof = False
    for _ in range(10 * sum(map(len, chunks)) + 100):
        try:
            event = conn.next_event()
        except RemoteProtocolError:
            trace.append("RemoteProtocolError")
            try:
                conn.next_event()
            except RemoteProtocolError:
                return trace
            raise AssertionError("next_event() after a RemoteProtocolError did not raise it again") from None
        if event is NEED_DATA:
            if eof:
                raise AssertionError("NEED_DATA after end of file: the caller would wait forever")
            chunk = next(pending, b"")
            eof = not chunk
            conn.receive_data(chunk)
            continue
        if isinstance(event, AgiRequest):
            trace.append(repr((sorted(event.env.items()), event.args, event.network_script, event.uniqueid)))
        elif isinstance(event, AgiResponse):
            trace.append(repr((event, event.ok, event.result_int, event.failed, event.dead_channel)))
        else:
            trace.append(repr(event))
        if isinstance(event, ConnectionClosed):
            if not isinstance(conn.next_event(), ConnectionClosed):
                raise AssertionError("next_event() after ConnectionClosed is not ConnectionClosed")
            return trace
        if conn.state is ConnectionState.IDLE and isinstance(event, AgiRequest | AgiResponse):
            line = conn.send_command(*AGI_COMMANDS[commands % len(AGI_COMMANDS)])
            commands += 1
            assert line.endswith(b"\n") and line.count(b"\n") == 1
    raise Livelock(f"no end after {10 * sum(map(len, chunks)) + 100} events")


def exercise_agi(case: tuple[bytes, list[int]]) -> None:
    data, cuts = case
    chunked = drive_agi(split(data, cuts))
    whole = drive_agi([data] if data else [])
    if chunked != whole:
        raise Inconsistent(f"fed whole: {whole[-3:]!r}; fed in {len(cuts) + 1} chunks: {chunked[-3:]!r}")


def describe_ami(event: object) -> tuple[str, Any]:
    """Read everything a consumer may read; check the shaped accessors against the header list."""
    from ivr.ami.protocol import AmiMessage, MalformedLine

    if isinstance(event, MalformedLine):
        # Only the reason: the excerpt is what was buffered when the line was cut, which depends on the chunking.
        return "MalformedLine", event.reason
    if not isinstance(event, AmiMessage):
        return type(event).__name__, repr(event)
    names = AMI_NAMES
    firsts = event.first_values(names)
    event.first_values(names)  # the second call of a shape compiles its capture
    firsts_again = event.first_values(names)
    headers = event.headers
    expected_first = tuple(next((v for k, v in headers if k.lower() == n.lower()), "") for n in names)
    expected_last = tuple(next((v for k, v in reversed(headers) if k.lower() == n.lower()), None) for n in names)
    if firsts != expected_first or firsts_again != expected_first:
        raise Inconsistent(f"first_values {firsts!r} / {firsts_again!r} but headers say {expected_first!r}")
    if tuple(event.get(n) for n in names) != expected_last:
        raise Inconsistent(f"get() disagrees with headers {headers!r}")
    if tuple(event.first(n) or "" for n in names) != expected_first:
        raise Inconsistent(f"first() disagrees with headers {headers!r}")
    prefixed = [(k, v) for k, v in headers if k.lower().startswith("chan")]
    if event.with_prefix("Chan") != prefixed:
        raise Inconsistent(f"with_prefix() disagrees with headers {headers!r}")
    event.as_multidict()
    event.as_dict()
    event.channel_variables()
    event.channel_variables("Dest")
    event.get_all("ChanVariable")
    _ = (event.kind, event.name, event.action_id, hash(event), repr(event), "Event" in event)
    if event != type(event)(headers):
        raise Inconsistent("a message is not equal to a message built from its headers")
    return "AmiMessage", headers


def drive_ami(chunks: Sequence[bytes], expect_banner: bool, small: bool) -> list[tuple[str, Any]]:
    from ivr.ami.protocol import NEED_DATA, AmiParser

    limits = {"max_line_bytes": 64, "max_message_lines": 8} if small else {}
    parser = AmiParser(expect_banner=expect_banner, **limits)
    trace = []
    bound = sum(map(len, chunks)) + 10
    for chunk in chunks:
        parser.receive_data(chunk)
        for _ in range(bound):
            event = parser.next_event()
            if event is NEED_DATA:
                break
            trace.append(describe_ami(event))
        else:
            raise Livelock(f"more than {bound} events from {bound - 10} bytes")
    _ = parser.in_message
    return trace


def exercise_ami(case: tuple[bytes, list[int], bool, bool]) -> None:
    data, cuts, expect_banner, small = case
    chunked = drive_ami(split(data, cuts), expect_banner, small)
    whole = drive_ami([data], expect_banner, small)
    if chunked != whole:
        diff = next((i for i, (a, b) in enumerate(zip(whole, chunked, strict=False)) if a != b), None)
        if diff is None:
            raise Inconsistent(f"fed whole: {len(whole)} events; fed in {len(cuts) + 1} chunks: {len(chunked)}")
        raise Inconsistent(f"event {diff}: fed whole {whole[diff]!r}; fed in {len(cuts) + 1} chunks {chunked[diff]!r}")


_CATALOG_DIR: list[Path] = []


def exercise_catalog(content: bytes) -> None:
    from ivr.catalog.errors import CatalogError
    from ivr.catalog.load import load_catalog
    from ivr.catalog.model import Catalog

    if not _CATALOG_DIR:
        _CATALOG_DIR.append(Path(tempfile.mkdtemp(prefix="fuzz-catalog-")))
    path = _CATALOG_DIR[0] / "callcenter.yaml"
    path.write_bytes(content)
    try:
        catalog = load_catalog(path)
    except CatalogError as exc:
        str(exc)  # the report must render
        return
    assert isinstance(catalog, Catalog), type(catalog)


EXERCISE: dict[str, Callable[[Any], None]] = {"agi": exercise_agi, "ami": exercise_ami, "catalog": exercise_catalog}


def _worker_main(conn: multiprocessing.connection.Connection, memory_mib: int) -> None:
    if memory_mib:
        limit = memory_mib * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    # Imported before the first case, so that no case is timed with an import.
    import ivr.agi.protocol
    import ivr.ami.protocol
    import ivr.catalog.load  # noqa: F401

    while True:
        try:
            target, payload = conn.recv()
        except EOFError:
            return
        started = time.perf_counter()
        try:
            EXERCISE[target](payload)
            outcome: tuple[Any, ...] = ("ok",)
        except Inconsistent as exc:
            outcome = ("inconsistent", str(exc)[:600])
        except BaseException as exc:  # the point: anything else is a crash
            tail = traceback.format_exception(exc)[-6:]
            outcome = ("crash", f"{type(exc).__name__}: {str(exc)[:300]}", "".join(tail)[-2000:], _where(exc))
        conn.send((time.perf_counter() - started, *outcome))


def _where(exc: BaseException) -> str:
    """The innermost frame in ivr/ (else the innermost frame): a crash's identity."""
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if "/ivr/" in f.filename] or frames
    last = ours[-1] if ours else None
    return (
        f"{type(exc).__name__} at {Path(last.filename).name}:{last.lineno} ({last.name})"
        if last
        else type(exc).__name__
    )


class Worker:
    """One case at a time in a child process; a case over the kill limit costs a restart, not the run."""

    def __init__(self, memory_mib: int) -> None:
        self._memory_mib = memory_mib
        self._context = multiprocessing.get_context("fork")
        self._start()

    def _start(self) -> None:
        self._conn, child = self._context.Pipe()
        self._process = self._context.Process(target=_worker_main, args=(child, self._memory_mib), daemon=True)
        self._process.start()
        child.close()

    def run(self, target: str, payload: Any, kill_after: float) -> tuple[Any, ...]:
        started = time.perf_counter()
        self._conn.send((target, payload))
        if self._conn.poll(kill_after):
            try:
                return tuple(self._conn.recv())
            except EOFError:
                pass  # the worker died (the kernel's OOM killer, a C-level crash)
            self._process.join(1)
            code = self._process.exitcode
            self._restart()
            return (time.perf_counter() - started, "crash", f"worker died (exit code {code})", "", f"died {code}")
        self._restart()
        return (time.perf_counter() - started, "killed")

    def _restart(self) -> None:
        self._process.kill()
        self._process.join()
        self._conn.close()
        self._start()

    def close(self) -> None:
        self._conn.close()
        self._process.kill()
        self._process.join()


# --------------------------------------------------------------------------- driving a target (parent side)


@dataclass
class Finding:
    kind: str  # crash, hang, inconsistent
    key: str
    summary: str
    tail: str
    payload: Any
    size: int
    count: int = 1


@dataclass
class Report:
    target: str
    cases: int = 0
    crashes: int = 0
    hangs: int = 0
    inconsistencies: int = 0
    slowest: float = 0.0
    slowest_size: int = 0
    seconds: float = 0.0
    stopped_early: bool = False
    findings: dict[str, Finding] = field(default_factory=dict)

    def note(self, kind: str, key: str, summary: str, tail: str, payload: Any) -> None:
        size = _size(payload)
        found = self.findings.get(f"{kind}:{key}")
        if found is None:
            self.findings[f"{kind}:{key}"] = Finding(kind, key, summary, tail, payload, size)
            return
        found.count += 1
        if size < found.size:
            found.summary, found.tail, found.payload, found.size = summary, tail, payload, size

    @property
    def failed(self) -> bool:
        return bool(self.crashes or self.hangs)


def _size(payload: Any) -> int:
    return len(payload[0]) if isinstance(payload, tuple) else len(payload)


class _TimeUp(BaseException):
    """Ends a hypothesis run at the time limit (not an Exception: hypothesis lets it through)."""


def run_target(
    target: str,
    cases: int,
    *,
    seed_value: int,
    hang_seconds: float = 2.0,
    kill_seconds: float = 10.0,
    time_limit: float = 900.0,
    memory_mib: int = 3072,
    worker: Worker | None = None,
    progress: Callable[[Report], None] | None = None,
) -> Report:
    report = Report(target)
    own_worker = worker is None
    worker = worker or Worker(memory_mib)
    started = time.monotonic()

    @seed(seed_value)
    @settings(
        max_examples=cases,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    @given(payload=STRATEGIES[target]())
    def one(payload: Any) -> None:
        if time.monotonic() - started > time_limit:
            report.stopped_early = True
            raise _TimeUp
        elapsed, outcome, *detail = worker.run(target, payload, kill_seconds)
        report.cases += 1
        if elapsed > report.slowest:
            report.slowest, report.slowest_size = elapsed, _size(payload)
        if outcome == "killed":
            report.hangs += 1
            report.note("hang", "killed", f"killed after {elapsed:.1f} s", "", payload)
        elif elapsed > hang_seconds:
            report.hangs += 1
            report.note("hang", "slow", f"took {elapsed:.1f} s (> {hang_seconds} s)", "", payload)
        if outcome == "crash":
            report.crashes += 1
            summary, tail, where = detail
            report.note("crash", where, summary, tail, payload)
        elif outcome == "inconsistent":
            report.inconsistencies += 1
            report.note("inconsistent", detail[0][:60], detail[0], "", payload)
        if progress is not None and report.cases % 1000 == 0:
            progress(report)

    try:
        one()
    except _TimeUp:
        pass
    finally:
        report.seconds = time.monotonic() - started
        if own_worker:
            worker.close()
    return report


def _show(payload: Any, limit: int = 300) -> str:
    data = payload[0] if isinstance(payload, tuple) else payload
    text = repr(data[:limit]) + (f"... ({len(data)} bytes)" if len(data) > limit else "")
    if isinstance(payload, tuple) and len(payload) > 1:
        text += f" chunks at {payload[1][:20]}{'...' if len(payload[1]) > 20 else ''}"
        if len(payload) > 2:
            text += f" expect_banner={payload[2]} small_limits={payload[3]}"
    return text


def save_findings(report: Report, directory: Path) -> None:
    """Each finding's shortest input, whole, as `<target>-<kind>-<n>.bin` (and its chunking as `.cuts`)."""
    directory.mkdir(parents=True, exist_ok=True)
    for n, finding in enumerate(report.findings.values(), 1):
        stem = directory / f"{report.target}-{finding.kind}-{n}"
        payload = finding.payload
        data = payload[0] if isinstance(payload, tuple) else payload
        stem.with_suffix(".bin").write_bytes(data)
        if isinstance(payload, tuple):
            stem.with_suffix(".cuts").write_text(repr(payload[1:]) + "\n")
        print(f"    saved: {stem}.bin")


def print_report(report: Report, hang_seconds: float) -> None:
    print(
        f"{report.target}: {report.cases} cases in {report.seconds:.0f} s; crashes {report.crashes}, "
        f"hangs (> {hang_seconds:g} s) {report.hangs}, inconsistencies {report.inconsistencies}; "
        f"slowest case {report.slowest * 1000:.1f} ms ({report.slowest_size} bytes)"
        + ("; STOPPED at the time limit" if report.stopped_early else "")
    )
    for finding in sorted(report.findings.values(), key=lambda f: (f.kind, -f.count)):
        print(f"  [{finding.kind}] x{finding.count}: {finding.summary}")
        print(f"    shortest input: {_show(finding.payload)}")
        if finding.tail:
            print("    " + finding.tail.rstrip().replace("\n", "\n    "))


def compiled_state() -> str:
    import ivr.agi.protocol
    import ivr.ami.protocol

    kinds = {Path(m.__file__ or "").suffix for m in (ivr.agi.protocol, ivr.ami.protocol)}
    return "compiled (mypyc)" if kinds == {".so"} else "plain Python" if kinds == {".py"} else f"mixed {kinds}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=10_000, help="cases per target (default 10000)")
    parser.add_argument("--targets", default=",".join(TARGETS), help="comma-separated: agi,ami,catalog")
    parser.add_argument("--seed", type=int, default=None, help="hypothesis seed (default: random, printed)")
    parser.add_argument("--hang-seconds", type=float, default=2.0, help="a case slower than this is a hang")
    parser.add_argument("--kill-seconds", type=float, default=10.0, help="a case is killed after this")
    parser.add_argument("--time-limit", type=float, default=900.0, help="seconds per target before stopping")
    parser.add_argument("--memory-mib", type=int, default=3072, help="address-space limit of the worker")
    parser.add_argument("--save-dir", default=tempfile.gettempdir() + "/fuzz-parsers-findings",
                        help="where each finding's whole input is written")  # fmt: skip
    args = parser.parse_args(argv)
    seed_value = args.seed if args.seed is not None else random.randrange(2**32)
    targets = [t for t in args.targets.split(",") if t]
    unknown = set(targets) - set(TARGETS)
    if unknown:
        parser.error(f"unknown targets: {sorted(unknown)}")
    print(f"fuzz_parsers: seed {seed_value}, {args.cases} cases per target; ivr parsers: {compiled_state()}")
    print(f"python {sys.version.split()[0]}, pid {os.getpid()}")
    reports = []
    for target in targets:
        report = run_target(
            target, args.cases, seed_value=seed_value, hang_seconds=args.hang_seconds,
            kill_seconds=args.kill_seconds, time_limit=args.time_limit, memory_mib=args.memory_mib,
            progress=lambda r: print(f"  {r.target}: {r.cases} cases, {r.crashes} crashes, {r.hangs} hangs",
                                     flush=True),
        )  # fmt: skip
        print_report(report, args.hang_seconds)
        if report.findings:
            save_findings(report, Path(args.save_dir))
        sys.stdout.flush()
        reports.append(report)
    print()
    print("| target | cases | crashes | hangs | inconsistencies | slowest case (ms) | run time (s) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in reports:
        print(
            f"| {r.target} | {r.cases:,} | {r.crashes} | {r.hangs} | {r.inconsistencies} | "
            f"{r.slowest * 1000:,.1f} | {r.seconds:,.0f} |"
        )
    return 1 if any(r.failed for r in reports) else 0


if __name__ == "__main__":
    sys.exit(main())
