"""The FastAGI `survey` flow: ask the caller for a rating in their language, record it on
the PBX (queue_log and a UserEvent, see `rating.py`)."""

from __future__ import annotations

import re

from ivr.agi import AgiHangup, AgiSession
from ivr.callflow.flow import stream_prompt
from ivr.log import bind_call, get_logger

from .rating import SurveyContextError, SurveyRating, rating_of

log = get_logger(__name__)
_LANGUAGE = re.compile(r"^[a-z]{2}$")


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
            # The server writes the call's one hang-up line (info): with the survey's context.
            bind_call(queue=queue, agent=agent)
            raise

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
