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

from ivr.agi import AgiHangup, AgiSession
from ivr.callflow import stream_prompt
from ivr.log import get_logger

log = get_logger(__name__)

RATING_KEYS = "12345"
_QUEUE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_AGENT = re.compile(r"^[1-9][0-9]{2,5}$")
_UNIQUEID = re.compile(r"^[0-9]+\.[0-9]+$")
_LANGUAGE = re.compile(r"^[a-z]{2}$")


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


class SurveyFlow:
    """The FastAGI `survey` route (args: queue, agent)."""

    def __init__(self, sounds: str, default_language: str, timeout_ms: int = 5000) -> None:
        self._sounds = sounds
        self._default_language = default_language
        self._timeout_ms = timeout_ms

    async def handle(self, session: AgiSession) -> None:
        queue, agent = [*session.request.args, "", ""][:2]
        try:
            language = await session.get_variable("IVR_LANG") or ""
            line = await session.get_variable("IVR_LINE") or ""
            language = language if _LANGUAGE.match(language) else self._default_language
            SurveyRating(session.request.uniqueid, queue, agent, line, 5)  # context check before asking
            rating = await self._ask(session, language)
            if rating is None:
                log.info("ivr_survey_unanswered", queue=queue, agent=agent)
                return
            result = SurveyRating(session.request.uniqueid, queue, agent, line, rating)
            await session.exec("QueueLog", result.queue_log_args())
            await session.exec("UserEvent", result.user_event_args())
            log.info("ivr_survey_rated", queue=queue, agent=agent, line=line, rating=rating)
            await stream_prompt(session, self._sounds, f"{language}/survey_thanks")
        except SurveyContextError as exc:
            log.warning("ivr_survey_refused", reason=str(exc))
        except AgiHangup:
            log.info("ivr_survey_caller_hung_up", queue=queue, agent=agent)

    async def _ask(self, session: AgiSession, language: str) -> int | None:
        """Ask, then wait; an invalid key is asked again once, silence ends it."""
        for _attempt in range(2):
            key = await stream_prompt(session, self._sounds, f"{language}/survey_ask", "0123456789*#")
            if not key:
                key = await session.wait_for_digit(self._timeout_ms) or ""
            if not key:
                return None
            rating = rating_of(key)
            if rating is not None:
                return rating
            await stream_prompt(session, self._sounds, f"{language}/invalid_choice")
        return None
