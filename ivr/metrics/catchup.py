"""Catch-up from queue_log: the facts the live feed missed, and nothing it has.

Theory of operation
-------------------
AMI has no replay: what Asterisk announced while the service was down, while
the AMI link was cut or while Asterisk restarted never reaches the live
state, and Asterisk sometimes does not send an event at all (an
AgentComplete was seen missing with its COMPLETEAGENT line in queue_log).
queue_log is Asterisk's durable record of the same facts, in whole seconds.
The two never share an event value (AMI times are when the service received
an event), so a catch-up cannot rely on the store's duplicate check: it asks
the state, per call, what it already knows (`CallFacts`) and keeps only the
queue_log events that add a fact:

| queue_log event | added when the state does not know |
| --- | --- |
| CallerJoined (ENTERQUEUE, with IVRPATH's line, tier, language) | the join, or the call's line |
| AgentConnected (CONNECT) | that it was answered |
| AgentCompleted (COMPLETE*, transfers) | that it was completed |
| CallerAbandoned / CallerExited | that it was answered, abandoned or exited |
| AgentRingNoAnswer (RINGNOANSWER) | as many no-answers of that agent for the call |
| SurveyRated (SURVEY) | as many ratings of the call |

Counted facts (no-answers, ratings) are tallied per call across batches,
since a call's lines can arrive in different catch-up passes; the tally
forgets calls an hour after their last line. Seat events (ADDMEMBER, PAUSE
and the like) are not caught up: applied late they would put a seat back
into a state it has left, and the AMI resync after every login reads every
seat's state now; a seat's time during an outage is counted in the state it
was last known in.

Which lines are safe to compare is the caller's business (`QueueLogFollower`):
only lines AMI can no longer deliver, so that a fact is never added twice.
Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable

from .events import (
    AgentCompleted,
    AgentConnected,
    AgentRingNoAnswer,
    CallerAbandoned,
    CallerExited,
    CallerJoined,
    DomainEvent,
    SurveyRated,
)
from .reducer import CallFacts

Facts = Callable[[str, str], CallFacts | None]
"""(queue, uniqueid) -> what the state knows of that call (`CenterState.call_facts`)."""

TALLY_SECONDS = 3600.0


class CatchUp:
    """Decides which queue_log events the live state lacks (see the module docstring)."""

    def __init__(self, tally_seconds: float = TALLY_SECONDS) -> None:
        self._tally_seconds = tally_seconds
        self._no_answers: dict[tuple[str, str, str], int] = {}
        self._ratings: dict[tuple[str, str], int] = {}
        self._last_line: dict[tuple[str, str], float] = {}
        self._pruned_at = float("-inf")
        self.added: Counter[str] = Counter()
        """Events added so far, by type."""

    def missing(self, logged: Iterable[DomainEvent], facts: Facts) -> list[DomainEvent]:
        """The events of `logged` (queue_log's, in file order) that add a fact."""
        out: list[DomainEvent] = []
        newest = float("-inf")
        for event in logged:
            newest = max(newest, event.at)
            if self._adds(event, facts):
                out.append(event)
                self.added[type(event).__name__] += 1
        if newest - self._pruned_at >= self._tally_seconds / 4:  # amortised: a sweep per quarter
            self._forget_before(newest - self._tally_seconds)
            self._pruned_at = newest
        return out

    def _adds(self, event: DomainEvent, facts: Facts) -> bool:
        queue, uniqueid = getattr(event, "queue", None), getattr(event, "uniqueid", None)
        if not queue or not uniqueid:
            return False
        self._last_line[(queue, uniqueid)] = event.at
        known = facts(queue, uniqueid)
        if isinstance(event, CallerJoined):
            return known is None or not known.join_known or (not known.tagged and bool(event.line))
        if isinstance(event, AgentConnected):
            return known is None or not known.answered
        if isinstance(event, AgentCompleted):
            return known is None or not known.completed
        if isinstance(event, CallerAbandoned | CallerExited):
            return known is None or not (known.answered or known.ended_unanswered)
        if isinstance(event, AgentRingNoAnswer):
            key = (queue, uniqueid, event.agent)
            seen = self._no_answers[key] = self._no_answers.get(key, 0) + 1
            return seen > (0 if known is None else known.ring_no_answer.get(event.agent, 0))
        if isinstance(event, SurveyRated):
            rated = self._ratings[(queue, uniqueid)] = self._ratings.get((queue, uniqueid), 0) + 1
            return rated > (0 if known is None else known.surveys)
        return False  # seat events, dumps: see the module docstring

    def _forget_before(self, ts: float) -> None:
        old = [key for key, at in self._last_line.items() if at < ts]
        if not old:
            return
        gone = set(old)
        for key in old:
            del self._last_line[key]
            self._ratings.pop(key, None)
        for rna in [k for k in self._no_answers if (k[0], k[1]) in gone]:
            del self._no_answers[rna]
