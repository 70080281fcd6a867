"""What the FastAGI server counts: sessions, faults and hang-ups per script, command latency per command.

Theory of operation
-------------------
The server records into one :class:`AgiStats` on the event loop's thread;
a Prometheus collector (:mod:`ivr.agi.prometheus`) reads it when scraped.
Recording is the hot path (every command of every call), so it is plain
arithmetic on lists indexed by small integers: a command's label is looked
up once per command name (:meth:`AgiStats.command_index`), its latency lands
in a bucket found by bisection, and nothing is cumulated until a scrape
asks. No lock: recording and collecting both run on the loop's thread.

Labels are bounded by code, never by traffic: ``script`` is one of the
scripts the server was given (anything else counts as ``other``), and
``command`` one of :data:`COMMANDS` (anything else counts as ``other``).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Final

__all__ = ["BUCKETS", "COMMANDS", "OTHER", "AgiStats", "CommandLatency", "ScriptCounts"]

OTHER: Final = "other"
# The command verbs a label may name: what the flows send, and what res_agi.c knows besides.
COMMANDS: Final = (
    "ANSWER",
    "CHANNEL STATUS",
    "EXEC",
    "GET DATA",
    "GET FULL VARIABLE",
    "GET OPTION",
    "GET VARIABLE",
    "HANGUP",
    "NOOP",
    "RECORD FILE",
    "SAY DIGITS",
    "SAY NUMBER",
    "SET CALLERID",
    "SET CONTEXT",
    "SET EXTENSION",
    "SET MUSIC",
    "SET PRIORITY",
    "SET VARIABLE",
    "STREAM FILE",
    "VERBOSE",
    "WAIT FOR DIGIT",
)
# Upper bounds (seconds) of the latency buckets. A command lasts from a few
# milliseconds (SET VARIABLE) to as long as a prompt plays or a caller takes
# to press a key (STREAM FILE, GET DATA, WAIT FOR DIGIT): both ends matter.
BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
# Command names already mapped to their label's index; bounded, as names come from code.
_NAMES_MAX: Final = 256


@dataclass(frozen=True)
class ScriptCounts:
    """Calls of one script since the server started."""

    script: str
    sessions: int
    failures: int
    hangups: int


@dataclass(frozen=True)
class CommandLatency:
    """One command's latency histogram: cumulative counts per bucket bound, then +Inf."""

    command: str
    cumulative: tuple[tuple[float, int], ...]
    count: int
    sum: float


class AgiStats:
    """Counters of one FastAGI server (see the module's docstring)."""

    __slots__ = ("_command_counts", "_command_sums", "_failures", "_hangups", "_names", "_scripts", "_sessions")

    def __init__(self, scripts: Iterable[str] = ()) -> None:
        names = [*dict.fromkeys(scripts)]
        if OTHER not in names:
            names.append(OTHER)
        self._scripts: dict[str, int] = {name: index for index, name in enumerate(names)}
        self._sessions = [0] * len(names)
        self._failures = [0] * len(names)
        self._hangups = [0] * len(names)
        labels = (*COMMANDS, OTHER)
        self._names: dict[str, int] = {name: index for index, name in enumerate(labels)}
        self._command_counts = [[0] * (len(BUCKETS) + 1) for _ in labels]
        self._command_sums = [0.0] * len(labels)

    # -- recording (the server, per call and per command) -----------------------

    def script_index(self, script: str) -> int:
        """The counters' slot for ``script``: its own when the server serves it, else ``other``'s."""
        index = self._scripts.get(script)
        return self._scripts[OTHER] if index is None else index

    def session_started(self, script: int) -> None:
        self._sessions[script] += 1

    def failed(self, script: int) -> None:
        """A fault ended the call: our bug, a protocol error, a timeout, an unknown script."""
        self._failures[script] += 1

    def hung_up(self, script: int) -> None:
        """The caller hung up before the script ended (not an error)."""
        self._hangups[script] += 1

    def command_index(self, name: str) -> int:
        """The histogram's slot for a command name (any case): its verb's, or ``other``'s."""
        index = self._names.get(name)
        if index is None:
            index = self._names.get(name.upper().strip(), self._names[OTHER])
            if len(self._names) < _NAMES_MAX:
                self._names[name] = index
        return index

    def observe(self, command: int, seconds: float) -> None:
        self._command_counts[command][bisect_left(BUCKETS, seconds)] += 1
        self._command_sums[command] += seconds

    # -- reading (a scrape) -------------------------------------------------------

    def scripts(self) -> Iterator[ScriptCounts]:
        for name, index in self._scripts.items():
            yield ScriptCounts(name, self._sessions[index], self._failures[index], self._hangups[index])

    def commands(self) -> Iterator[CommandLatency]:
        """Every command label, observed or not (a series that exists from the start)."""
        labels = (*COMMANDS, OTHER)
        for index, name in enumerate(labels):
            counts = self._command_counts[index]
            running = 0
            cumulative: list[tuple[float, int]] = []
            for bound, count in zip((*BUCKETS, float("inf")), counts, strict=True):
                running += count
                cumulative.append((bound, running))
            yield CommandLatency(name, tuple(cumulative), running, self._command_sums[index])
