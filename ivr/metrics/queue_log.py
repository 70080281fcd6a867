"""Asterisk queue_log parser: the durable record, as the same domain events.

Theory of operation: each line is `epoch|uniqueid|queue|agent|EVENT|d1|...|dN`
(Asterisk's file backend writes as many data fields as the event has). A
table maps each EVENT to a builder; a builder returns a domain event, None
for events that carry nothing the KPIs use, or raises `_Malformed`. Malformed
lines are reported with their line number and a reason, never raised, and the
report never includes the line itself: ENTERQUEUE carries the caller number.

Field formats are those app_queue.c writes (Asterisk 22):

| EVENT | data | domain event |
| --- | --- | --- |
| ENTERQUEUE | url, callerid, position[, name] | CallerJoined |
| CONNECT | holdtime, bridged uniqueid, ringtime | AgentConnected |
| COMPLETECALLER / COMPLETEAGENT | holdtime, calltime, origposition | AgentCompleted |
| BLINDTRANSFER | exten, context, holdtime, calltime, origposition | AgentCompleted(transfer) |
| ATTENDEDTRANSFER | method[, details...], holdtime, calltime, origposition | AgentCompleted |
| ABANDON | position, origposition, waittime | CallerAbandoned |
| EXITWITHTIMEOUT / EXITEMPTY | position, origposition, waittime | CallerExited |
| EXITWITHKEY | key, position, origposition, waittime | CallerExited(key) |
| WITHDRAW | position, origposition, waittime[, info] | CallerExited(withdraw) |
| RINGNOANSWER | ringtime in ms | AgentRingNoAnswer |
| AGENTDUMP | - | AgentDumped |
| ADDMEMBER / REMOVEMEMBER | "PAUSED" or empty | MemberAdded / MemberRemoved |
| PAUSE / UNPAUSE | reason | MemberPaused |

PAUSEALL/UNPAUSEALL are skipped: Asterisk follows each with one PAUSE/UNPAUSE
line per queue. Custom events written by the dialplan with QueueLog():

- `SURVEY`: rating (1-5)[, line] -> SurveyRated;
- `IVRPATH`: line, tier, language[, route], logged before Queue() for the
  same uniqueid; it produces no event but tags the following ENTERQUEUE,
  since queue_log itself knows nothing of lines, tiers or languages.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from .events import (
    AgentCompleted,
    AgentConnected,
    AgentDumped,
    AgentRingNoAnswer,
    CallerAbandoned,
    CallerExited,
    CallerJoined,
    DomainEvent,
    ExitReason,
    MemberAdded,
    MemberPaused,
    MemberRemoved,
    SurveyRated,
    seat_id,
)
from .intake import CallerKeyer


@dataclass(frozen=True, slots=True)
class LineProblem:
    """A queue_log line that could not be read: where and why (never its content)."""

    line_no: int
    reason: str


@dataclass(slots=True)
class QueueLogParse:
    events: list[DomainEvent] = field(default_factory=list)
    problems: list[LineProblem] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    """Well-formed lines of events the KPIs do not use, by EVENT."""


class _Malformed(Exception):
    pass


@dataclass(frozen=True, slots=True)
class _Line:
    at: float
    uniqueid: str
    queue: str
    agent: str
    event: str
    data: tuple[str, ...]

    def need(self, n: int) -> None:
        if len(self.data) < n:
            raise _Malformed(f"{self.event}: expected {n} data fields, got {len(self.data)}")

    def integer(self, i: int) -> int:
        self.need(i + 1)
        try:
            return int(self.data[i])
        except ValueError:
            raise _Malformed(f"{self.event}: data field {i + 1} is not an integer") from None

    def seconds(self, i: int) -> float:
        value = self.integer(i)
        if value < 0:
            raise _Malformed(f"{self.event}: data field {i + 1} is negative")
        return float(value)

    def seat(self) -> str:
        if not self.agent or self.agent == "NONE":
            raise _Malformed(f"{self.event}: no agent")
        return seat_id(self.agent)


@dataclass(slots=True)
class _Context:
    caller_key: CallerKeyer
    tags: dict[str, tuple[str, str, str]] = field(default_factory=dict)


def _enterqueue(ln: _Line, ctx: _Context) -> DomainEvent:
    line, tier, language = ctx.tags.pop(ln.uniqueid, ("", "", ""))
    return CallerJoined(
        at=ln.at,
        queue=ln.queue,
        uniqueid=ln.uniqueid,
        caller_hash=ctx.caller_key(ln.data[1]) if len(ln.data) > 1 else None,
        position=ln.integer(2),
        line=line,
        tier=tier,
        language=language,
    )


def _connect(ln: _Line, ctx: _Context) -> DomainEvent:
    return AgentConnected(
        at=ln.at,
        queue=ln.queue,
        uniqueid=ln.uniqueid,
        agent=ln.seat(),
        hold_time=ln.seconds(0),
        ring_time=ln.seconds(2) if len(ln.data) > 2 and ln.data[2] else 0.0,
    )


def _completed(reason: str, hold_at: int) -> Callable[[_Line, _Context], DomainEvent]:
    def build(ln: _Line, ctx: _Context) -> DomainEvent:
        # Transfers put variable details first: count the numbers from the end.
        i = len(ln.data) - 3 if hold_at < 0 else hold_at
        ln.need(max(i, 0) + 3)
        return AgentCompleted(
            at=ln.at,
            queue=ln.queue,
            uniqueid=ln.uniqueid,
            agent=ln.seat(),
            hold_time=ln.seconds(i),
            talk_time=ln.seconds(i + 1),
            reason=reason,
        )

    return build


def _abandon(ln: _Line, ctx: _Context) -> DomainEvent:
    return CallerAbandoned(
        at=ln.at,
        queue=ln.queue,
        uniqueid=ln.uniqueid,
        position=ln.integer(0),
        original_position=ln.integer(1),
        hold_time=ln.seconds(2),
    )


def _exited(reason: ExitReason, first: int = 0) -> Callable[[_Line, _Context], DomainEvent]:
    def build(ln: _Line, ctx: _Context) -> DomainEvent:
        return CallerExited(
            at=ln.at,
            queue=ln.queue,
            uniqueid=ln.uniqueid,
            reason=reason,
            position=ln.integer(first),
            original_position=ln.integer(first + 1),
            hold_time=ln.seconds(first + 2),
        )

    return build


def _ring_no_answer(ln: _Line, ctx: _Context) -> DomainEvent:
    return AgentRingNoAnswer(
        at=ln.at,
        queue=ln.queue,
        uniqueid=ln.uniqueid,
        agent=ln.seat(),
        ring_time=ln.seconds(0) / 1000.0,  # logged in milliseconds
    )


def _agent_dump(ln: _Line, ctx: _Context) -> DomainEvent:
    return AgentDumped(at=ln.at, queue=ln.queue, uniqueid=ln.uniqueid, agent=ln.seat())


def _add_member(ln: _Line, ctx: _Context) -> DomainEvent:
    paused = bool(ln.data) and ln.data[0] == "PAUSED"
    return MemberAdded(at=ln.at, queue=ln.queue, agent=ln.seat(), paused=paused)


def _remove_member(ln: _Line, ctx: _Context) -> DomainEvent:
    return MemberRemoved(at=ln.at, queue=ln.queue, agent=ln.seat())


def _pause(paused: bool) -> Callable[[_Line, _Context], DomainEvent]:
    def build(ln: _Line, ctx: _Context) -> DomainEvent:
        reason = ln.data[0] if ln.data else ""
        return MemberPaused(at=ln.at, queue=ln.queue, agent=ln.seat(), paused=paused, reason=reason)

    return build


def _survey(ln: _Line, ctx: _Context) -> DomainEvent:
    rating = ln.integer(0)
    if not 1 <= rating <= 5:
        raise _Malformed("SURVEY: rating outside 1..5")
    return SurveyRated(
        at=ln.at,
        uniqueid=ln.uniqueid,
        queue=ln.queue,
        agent=ln.seat(),
        line=ln.data[1] if len(ln.data) > 1 else "",
        rating=rating,
    )


def _ivr_path(ln: _Line, ctx: _Context) -> None:
    ln.need(3)
    ctx.tags[ln.uniqueid] = (ln.data[0], ln.data[1], ln.data[2])
    return None


_Builder = Callable[[_Line, _Context], DomainEvent | None]

BUILDERS: Mapping[str, _Builder] = {
    "ENTERQUEUE": _enterqueue,
    "CONNECT": _connect,
    "COMPLETECALLER": _completed("caller", 0),
    "COMPLETEAGENT": _completed("agent", 0),
    "BLINDTRANSFER": _completed("transfer", 2),
    "ATTENDEDTRANSFER": _completed("transfer", -1),
    "ABANDON": _abandon,
    "EXITWITHTIMEOUT": _exited("timeout"),
    "EXITEMPTY": _exited("empty"),
    "EXITWITHKEY": _exited("key", first=1),
    "WITHDRAW": _exited("withdraw"),
    "RINGNOANSWER": _ring_no_answer,
    "AGENTDUMP": _agent_dump,
    "ADDMEMBER": _add_member,
    "REMOVEMEMBER": _remove_member,
    "PAUSE": _pause(True),
    "UNPAUSE": _pause(False),
    "SURVEY": _survey,
    "IVRPATH": _ivr_path,
}


def _split(raw: str) -> _Line:
    fields = raw.rstrip("\r\n").split("|")
    if len(fields) < 5:
        raise _Malformed(f"expected at least 5 fields, got {len(fields)}")
    epoch, uniqueid, queue, agent, event, *data = fields
    try:
        at = float(epoch)
    except ValueError:
        raise _Malformed("time is not a number") from None
    if not math.isfinite(at):
        raise _Malformed("time is not a number")
    if not event:
        raise _Malformed("no event name")
    return _Line(at, uniqueid, queue, agent, event.upper(), tuple(data))


class QueueLogParser:
    """An incremental parser: feed lines as the file grows, get their events.

    Keeps what spans lines (the IVRPATH tags waiting for their ENTERQUEUE) and
    the line count, so problems are reported with the file's own line numbers.
    """

    def __init__(self, caller_key: CallerKeyer, first_line_no: int = 1) -> None:
        self._ctx = _Context(caller_key)
        self.next_line_no = first_line_no

    def feed(self, lines: Iterable[str], into: QueueLogParse | None = None) -> QueueLogParse:
        result = into if into is not None else QueueLogParse()
        for raw in lines:
            line_no = self.next_line_no
            self.next_line_no += 1
            if not raw.strip():
                continue
            try:
                ln = _split(raw)
                builder = BUILDERS.get(ln.event)
                if builder is None:
                    result.skipped[ln.event] += 1
                    continue
                event = builder(ln, self._ctx)
            except _Malformed as exc:
                result.problems.append(LineProblem(line_no, str(exc)))
                continue
            if event is not None:
                result.events.append(event)
        if len(self._ctx.tags) > _MAX_PENDING_TAGS:  # IVRPATH lines whose call never queued
            for uniqueid in list(self._ctx.tags)[: len(self._ctx.tags) // 2]:
                del self._ctx.tags[uniqueid]
        return result


_MAX_PENDING_TAGS = 10_000


def line_time(raw: str) -> float | None:
    """The time at the start of a queue_log line, or None if it has none."""
    head, sep, _ = raw.partition("|")
    if not sep:
        return None
    try:
        at = float(head)
    except ValueError:
        return None
    return at if math.isfinite(at) else None


def parse_queue_log(lines: Iterable[str], caller_key: CallerKeyer) -> QueueLogParse:
    """Parse queue_log lines (a file object works) into domain events and a problem report."""
    return QueueLogParser(caller_key).feed(lines)
