"""The FastAGI `route` handler: which queue a call on a line goes to.

`choose_queue` is pure (catalog + line -> choice); `handle_route` only reads
the AGI request and sets the channel variables the dialplan queues on:
IVR_QUEUE, IVR_PRIORITY and __IVR_ROUTE=agi (inherited by the agent leg, so
queue events show that the call passed the service).
"""

from __future__ import annotations

from dataclasses import dataclass

from ivr.agi import AgiSession
from ivr.catalog.model import Catalog
from ivr.log import get_logger

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class QueueChoice:
    queue: str
    priority: int
    language: str
    tier: str


class UnknownLine(LookupError):
    pass


def choose_queue(catalog: Catalog, line_id: str) -> QueueChoice:
    try:
        line = catalog.number(line_id)
    except KeyError:
        raise UnknownLine(line_id) from None
    return QueueChoice(line.fallback_queue, line.priority, line.language, line.tier)


async def apply_choice(session: AgiSession, choice: QueueChoice) -> None:
    await session.set_variable("IVR_QUEUE", choice.queue)
    await session.set_variable("IVR_PRIORITY", str(choice.priority))
    await session.set_variable("__IVR_TIER", choice.tier)
    await session.set_variable("__IVR_LANG", choice.language)
    await session.set_variable("CHANNEL(language)", choice.language)
    await session.set_variable("__IVR_ROUTE", "agi")


def route_handler(catalog: Catalog):  # type: ignore[no-untyped-def]
    async def handle_route(session: AgiSession) -> None:
        line_id = session.request.args[0] if session.request.args else ""
        try:
            choice = choose_queue(catalog, line_id)
        except UnknownLine:
            # The dialplan's own fallback values stay in place.
            log.warning("agi_route_unknown_line", line=line_id)
            return
        await apply_choice(session, choice)
        log.info("agi_route_chosen", line=line_id, queue=choice.queue, priority=choice.priority)

    return handle_route
