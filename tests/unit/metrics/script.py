"""Builders of scripted event sequences for the metrics specs.

Times are offsets from T0, a 15-minute boundary, so interval arithmetic in
the tests stays readable.
"""

from __future__ import annotations

from ivr.metrics.events import (
    AgentCalled,
    AgentCompleted,
    AgentConnected,
    CallerAbandoned,
    CallerJoined,
    CallerLeft,
    DomainEvent,
)

T0 = 1_699_999_200.0  # 2023-11-14 22:00:00 UTC, a multiple of 900
QUEUE = "basic_zh"


def answered(
    uid: str,
    *,
    joined: float,
    hold: float,
    talk: float,
    agent: str = "1001",
    queue: str = QUEUE,
    caller: str | None = None,
    line: str = "main",
    tier: str = "standard",
    language: str = "zh",
) -> list[DomainEvent]:
    """A call that joins at T0+joined, waits `hold` s, talks `talk` s with `agent`."""
    at = T0 + joined
    ring = min(2.0, hold)
    return [
        CallerJoined(
            at=at,
            queue=queue,
            uniqueid=uid,
            caller_hash=caller,
            position=1,
            line=line,
            tier=tier,
            language=language,
        ),
        AgentCalled(at=at + hold - ring, queue=queue, uniqueid=uid, agent=agent),
        CallerLeft(at=at + hold, queue=queue, uniqueid=uid, position=1),
        AgentConnected(at=at + hold, queue=queue, uniqueid=uid, agent=agent, hold_time=hold, ring_time=ring),
        AgentCompleted(
            at=at + hold + talk,
            queue=queue,
            uniqueid=uid,
            agent=agent,
            hold_time=hold,
            talk_time=talk,
            reason="caller",
        ),
    ]


def abandoned(
    uid: str,
    *,
    joined: float,
    hold: float,
    queue: str = QUEUE,
    caller: str | None = None,
    line: str = "main",
    tier: str = "standard",
    language: str = "zh",
) -> list[DomainEvent]:
    """A call that joins at T0+joined and hangs up after `hold` s unanswered."""
    at = T0 + joined
    return [
        CallerJoined(
            at=at,
            queue=queue,
            uniqueid=uid,
            caller_hash=caller,
            position=1,
            line=line,
            tier=tier,
            language=language,
        ),
        CallerAbandoned(
            at=at + hold,
            queue=queue,
            uniqueid=uid,
            position=1,
            original_position=1,
            hold_time=hold,
        ),
        CallerLeft(at=at + hold, queue=queue, uniqueid=uid, position=1),
    ]


def by_time(*sequences: list[DomainEvent]) -> list[DomainEvent]:
    """Interleave several calls' events the way AMI would deliver them."""
    events = [e for seq in sequences for e in seq]
    return sorted(events, key=lambda e: e.at)  # stable: a call's same-time events keep order
