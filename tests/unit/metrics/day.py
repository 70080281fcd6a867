"""A scripted morning with hand-computed numbers, shared by the view and Prometheus specs.

T0 is 06:00 in Shanghai (22:00 UTC); "now" is 06:29:50. Seats 1001 and 1002
log in to basic_zh at T0, 1003 to english and pauses for training at T0+100.

| call | queue | line / tier | joined | outcome |
| --- | --- | --- | --- | --- |
| c1 | basic_zh | main / standard | +0 | answered by 1001 after 10 s, talk 100 s |
| c2 | basic_zh | vip / vip | +60 | answered by 1002 after 30 s, talk 200 s |
| c3 | basic_zh | main / standard | +120 | abandoned after 40 s |
| c4 | basic_zh | main / standard | +130 | abandoned after 3 s (short) |
| c5 | basic_zh | main / standard | +1000 | answered by 1001 after 15 s, talk 300 s |
| c6 | basic_zh | platinum / platinum | +1100 | answered by 1002 after 5 s, talk 60 s |
| c7 | english | main / standard | +1700 | still waiting at now |

basic_zh today: offered 6, answered 4, abandoned 1, short 1; in 20 s: c1, c5,
c6 = 3 of 6 - 1 = 5 -> service level 0.60; answer rate 4/6; abandon rate
1/5 = 0.20; ASA (10+30+15+5)/4 = 15 s; AHT (100+200+300+60)/4 = 165 s (no
wrap-up in basic_zh). english: offered 1, waiting 1, longest wait now 90 s.
"""

from __future__ import annotations

from ivr.metrics.events import CallerJoined, DomainEvent, MemberAdded, MemberPaused
from ivr.metrics.reducer import CenterState, group_configs

from .center import CATALOG
from .script import T0, abandoned, answered, by_time

NOW = T0 + 1790


def morning() -> list[DomainEvent]:
    seats: list[DomainEvent] = [
        MemberAdded(at=T0, queue="basic_zh", agent="1001"),
        MemberAdded(at=T0, queue="basic_zh", agent="1002"),
        MemberAdded(at=T0, queue="english", agent="1003"),
        MemberPaused(at=T0 + 100, queue="english", agent="1003", paused=True, reason="training"),
    ]
    waiting: list[DomainEvent] = [
        CallerJoined(
            at=T0 + 1700, queue="english", uniqueid="c7", caller_hash=None, position=1,
            line="main", tier="standard", language="en",
        )
    ]  # fmt: skip
    return by_time(
        seats,
        answered("c1", joined=0, hold=10, talk=100, agent="1001", caller="h1"),
        answered("c2", joined=60, hold=30, talk=200, agent="1002", line="vip", tier="vip"),
        abandoned("c3", joined=120, hold=40),
        abandoned("c4", joined=130, hold=3),
        answered("c5", joined=1000, hold=15, talk=300, agent="1001"),
        answered("c6", joined=1100, hold=5, talk=60, agent="1002", line="platinum", tier="platinum"),
        waiting,
    )


def morning_state() -> CenterState:
    state = CenterState(group_configs(CATALOG))
    state.apply_all(morning())
    return state
