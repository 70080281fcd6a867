"""The service catalog as typed, frozen objects.

The catalog (one YAML file) declares each fact of the center once: service
numbers, skill groups (Asterisk queues), agent seats, languages. Templates and
the menu engine both read these objects; nothing is declared twice.

Structure is checked by pydantic (unknown keys are errors: `extra="forbid"`);
cross-references (a number's fallback queue, a seat's skills) are checked in
`ivr.catalog.load`, which reports every problem at once.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from ivr.menu.model import Menu, TierPolicy, UrgentQueue

Identifier = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
LanguageCode = Annotated[str, Field(pattern=r"^[a-z]{2}$")]
SeatId = Annotated[str, Field(pattern=r"^[1-9][0-9]{2,5}$")]
DialedNumber = Annotated[str, Field(pattern=r"^[0-9]{3,15}$")]

# app_queue strategies that make sense for a skill group.
Strategy = Literal["ringall", "leastrecent", "fewestcalls", "random", "rrmemory", "linear", "wrandom"]
# app_queue joinempty / leavewhenempty conditions.
EmptyCondition = Literal["paused", "penalty", "inuse", "ringing", "unavailable", "invalid", "unknown", "wrapup"]
CustomerTier = Literal["standard", "gold", "platinum", "vip", "group"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Center(_Model):
    name: str = Field(min_length=1)
    timezone: str = "Asia/Shanghai"


class Language(_Model):
    code: LanguageCode
    name: str = Field(min_length=1)
    # espeak-ng voice used by `ivr prompts build`.
    voice: str = Field(min_length=1)


class KpiTargets(_Model):
    """What good looks like for a group; the wallboard colours tiles against these."""

    service_level: float = Field(0.8, ge=0, le=1)
    answer_rate: float = Field(0.95, ge=0, le=1)
    abandon_rate: float = Field(0.05, ge=0, le=1)
    asa_seconds: float = Field(20, ge=0)
    aht_seconds: float = Field(300, ge=0)


class Queue(_Model):
    """A skill group (技能组), rendered as one Asterisk queue."""

    id: Identifier
    name: str = Field(min_length=1)
    language: LanguageCode
    strategy: Strategy = "rrmemory"
    ring_timeout: int = Field(15, ge=1, le=120, description="seconds a seat rings before the next is tried")
    retry: int = Field(1, ge=0, le=60, description="seconds between rounds of ringing")
    wrapup: int = Field(10, ge=0, le=900, description="seconds after a call before the seat rings again")
    service_level_seconds: int = Field(20, ge=1, le=600)
    music_class: Identifier = "default"
    join_empty: tuple[EmptyCondition, ...] = ()
    leave_when_empty: tuple[EmptyCondition, ...] = ()
    max_wait: int = Field(0, ge=0, le=7200, description="seconds before the caller leaves the queue; 0 = no limit")
    targets: KpiTargets = KpiTargets.model_validate({})


class ServiceNumber(_Model):
    """A dialled service number (服务专线) and the line it leads to."""

    number: DialedNumber
    id: Identifier
    name: str = Field(min_length=1)
    language: LanguageCode
    languages: tuple[LanguageCode, ...] = Field(min_length=1, description="languages the line offers")
    priority: int = Field(0, ge=0, le=100, description="queue caller priority; higher is answered first")
    fallback_queue: Identifier
    tier: CustomerTier = "standard"
    # The IVR menu callers hear (see `menus`); without one the call is routed at once.
    menu: Identifier | None = None
    # Which skill group serves each language on this line when a caller asks for an agent.
    language_queues: dict[LanguageCode, Identifier] = {}


class Seat(_Model):
    """An agent seat (座席): a softphone that registers as PJSIP endpoint `id`."""

    id: SeatId
    name: str = Field(min_length=1)
    # queue id -> penalty (proficiency): 0 is the strongest skill.
    skills: dict[Identifier, Annotated[int, Field(ge=0, le=10)]]


class Catalog(_Model):
    center: Center
    languages: tuple[Language, ...] = Field(min_length=1)
    queues: tuple[Queue, ...] = Field(min_length=1)
    numbers: tuple[ServiceNumber, ...] = Field(min_length=1)
    seats: tuple[Seat, ...] = ()
    menus: dict[Identifier, Menu] = {}
    # Customer tier -> skill group and queue priority; a caller recognised by
    # caller ID keeps their tier on every line (see ivr.menu.engine).
    tiers: dict[CustomerTier, TierPolicy] = {}
    # Lost card / fraud: straight to this queue, above every tier, unverified.
    lost_card: UrgentQueue | None = None

    def queue(self, queue_id: str) -> Queue:
        for queue in self.queues:
            if queue.id == queue_id:
                return queue
        raise KeyError(queue_id)

    def number(self, number_or_id: str) -> ServiceNumber:
        for number in self.numbers:
            if number_or_id in (number.number, number.id):
                return number
        raise KeyError(number_or_id)

    def members(self, queue_id: str) -> list[tuple[Seat, int]]:
        """Seats with a skill in `queue_id`, with their penalty, in seat order."""
        return [(seat, seat.skills[queue_id]) for seat in self.seats if queue_id in seat.skills]
