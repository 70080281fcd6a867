"""The post-call survey (满意度调查): after the agent hangs up, the caller rates the call.

Theory of operation: on lines with `survey: true` the dialplan sends a caller
whose agent hung up (Queue option `c`, QUEUESTATUS=CONTINUE) to the FastAGI
`survey` route with the queue that answered and the agent (MEMBERNAME). The
caller hears `survey_ask` in their language (IVR_LANG) and presses 1-5; an
invalid key is asked again once, silence ends the survey unrated. A rating is
recorded twice, on the PBX, so that both metrics sources see it:
- `QueueLog(queue,uniqueid,agent,SURVEY,rating|line)` in Asterisk's queue_log
  (`ivr reconcile` reads it);
- `UserEvent(IvrSurvey, Queue, Agent, Rating, CallUniqueid, Line)` on AMI
  (the metrics pipeline, `ivr.metrics.intake`).
Everything put into those application arguments is validated first: they are
parsed by Asterisk, where a comma or `${` would change their meaning.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

RATING_KEYS = "12345"
_QUEUE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_AGENT = re.compile(r"^[1-9][0-9]{2,5}$")
_UNIQUEID = re.compile(r"^[0-9]+\.[0-9]+$")


class SurveyContextError(ValueError):
    """The dialplan passed a queue, agent, line or call id that cannot be recorded."""


def rating_of(key: str) -> int | None:
    """A key the caller pressed -> rating 1..5, or None."""
    return int(key) if len(key) == 1 and key in RATING_KEYS else None


@dataclass(frozen=True, slots=True)
class SurveyRating:
    uniqueid: str
    queue: str
    agent: str
    line: str
    rating: int

    def __post_init__(self) -> None:
        checks = ((_UNIQUEID, self.uniqueid, "call id"), (_QUEUE, self.queue, "queue"), (_AGENT, self.agent, "agent"))
        for pattern, value, what in checks:
            if not pattern.match(value):
                raise SurveyContextError(f"bad {what} {value!r}")
        if self.line and not _QUEUE.match(self.line):
            raise SurveyContextError(f"bad line {self.line!r}")
        if rating_of(str(self.rating)) is None:
            raise SurveyContextError(f"rating {self.rating} outside 1..5")

    def queue_log_args(self) -> str:
        """QueueLog(queuename,uniqueid,agent,event,additionalinfo): `|` separates the data fields."""
        return f"{self.queue},{self.uniqueid},{self.agent},SURVEY,{self.rating}|{self.line}"

    def user_event_args(self) -> str:
        return (
            f"IvrSurvey,Queue: {self.queue},Agent: {self.agent},Rating: {self.rating},"
            f"CallUniqueid: {self.uniqueid},Line: {self.line}"
        )
