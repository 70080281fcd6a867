"""The service catalog as typed, frozen objects.

The catalog (one YAML file) declares each fact of the center once: service
numbers, skill groups (Asterisk queues), agent seats, languages, IVR menus
(their schema is `ivr.catalog.menus`). Templates and the menu engine both read
these objects; nothing is declared twice.

Structure is checked by pydantic (unknown keys are errors: `extra="forbid"`).
Every string has a pattern or is `DisplayText` (one line of printable text, at
most 80 characters): catalog values are rendered into Asterisk config files
verbatim, so a value must not be able to start a line of its own.
Cross-references (a number's fallback queue, a seat's skills) are checked in
`ivr.catalog.load`, which reports every problem at once; those inside menus
(a digit's node, queue or language) by `ivr.menu.checks`, which the loader
runs when given it (`ivr.check.load_checked_catalog`).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field

from ivr.catalog.fields import CATALOG_MODEL_CONFIG, DisplayText, Identifier, LanguageCode
from ivr.catalog.menus import Menu
from ivr.catalog.scheduling import Contract, Scheduling

SeatId = Annotated[str, Field(pattern=r"^[1-9][0-9]{2,5}$")]
DialedNumber = Annotated[str, Field(pattern=r"^[0-9]{3,15}$")]

# An IANA zone name (`Asia/Shanghai`, `Etc/GMT-8`); `ivr.catalog.load` checks it exists.
TimeZoneName = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_+/-]{0,63}$")]
# An espeak-ng voice (`cmn-latn-pinyin`, `en+f3`): an argument of its command
# line, so never an option (`-...`) nor a path.
VoiceName = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_+-]{0,47}$")]


def _not_reserved_queue_id(value: str) -> str:
    # A queue is a section of queues.conf, whose [general] is app_queue's own settings.
    if value == "general":
        raise ValueError("'general' is reserved: it is the [general] section of queues.conf")
    return value


QueueId = Annotated[Identifier, AfterValidator(_not_reserved_queue_id)]

# app_queue strategies that make sense for a skill group.
Strategy = Literal["ringall", "leastrecent", "fewestcalls", "random", "rrmemory", "linear", "wrandom"]
# app_queue joinempty / leavewhenempty conditions.
EmptyCondition = Literal["paused", "penalty", "inuse", "ringing", "unavailable", "invalid", "unknown", "wrapup"]
CustomerTier = Literal["standard", "gold", "platinum", "vip", "group"]


Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
# "08:30-18:00" in the center's time zone; "00:00-24:00" is the whole day.
TimeRange = Annotated[str, Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]-(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$")]


class _Model(BaseModel):
    model_config = CATALOG_MODEL_CONFIG


class Calendar(_Model):
    """Opening hours of a line (see ivr.hours): weekly hours, public holidays
    (closed all day) and make-up working days (调休: open on a weekend)."""

    open: dict[Weekday, tuple[TimeRange, ...]]
    holidays: tuple[date, ...] = ()
    workdays: dict[date, tuple[TimeRange, ...]] = {}


class Center(_Model):
    name: DisplayText
    timezone: TimeZoneName = "Asia/Shanghai"
    # Seats with no recorded login state start logged in to their skills (a
    # demo floor); off, agents log in with *70 or a supervisor logs them in.
    auto_login: bool = False
    # Admission control: at most this many calls on the service numbers at
    # once (in the IVR, waiting and talking alike). The next caller is turned
    # away before the answer, so calls in progress keep the capacity they
    # hold: `when_full: reject` answers SIP 503 at once; `busy_prompt` plays
    # the `lines_busy` prompt as early media (never answered), then the 503.
    # None: no limit. Set it at the knee of this machine's capacity curve
    # (BENCHMARKS.md, bench/capacity.py).
    max_concurrent_calls: int | None = Field(None, ge=1, le=100_000)
    when_full: Literal["reject", "busy_prompt"] = "reject"


class Language(_Model):
    code: LanguageCode
    name: DisplayText
    # espeak-ng voice used by `ivr prompts build`.
    voice: VoiceName


class KpiTargets(_Model):
    """What good looks like for a group; the wallboard colours tiles against these."""

    service_level: float = Field(0.8, ge=0, le=1)
    answer_rate: float = Field(0.95, ge=0, le=1)
    abandon_rate: float = Field(0.05, ge=0, le=1)
    asa_seconds: float = Field(20, ge=0)
    aht_seconds: float = Field(300, ge=0)


class Widen(_Model):
    """After `after` seconds in the group, seats up to `max_penalty` may take the call
    (backup skills, outbound agents taking inbound overflow): an app_queue rule."""

    after: int = Field(ge=1, le=3600)
    max_penalty: int = Field(ge=0, le=10)


class Overflow(_Model):
    """After `after` seconds unanswered in the group, the caller moves to `queue`
    (keeping their priority): e.g. a minor language to English."""

    after: int = Field(ge=1, le=3600)
    queue: Identifier


class Announcements(_Model):
    """What a waiting caller hears, in their language (app_queue's own announcements)."""

    # Position and estimated wait, on joining and then every `every` seconds; 0 = never.
    every: int = Field(0, ge=0, le=600)
    # "Please hold, your call is important to us" every `periodic` seconds; 0 = never.
    periodic: int = Field(0, ge=0, le=600)


class Queue(_Model):
    """A skill group (技能组), rendered as one Asterisk queue."""

    id: QueueId
    name: DisplayText
    language: LanguageCode
    strategy: Strategy = "rrmemory"
    ring_timeout: int = Field(15, ge=1, le=120, description="seconds a seat rings before the next is tried")
    retry: int = Field(1, ge=0, le=60, description="seconds between rounds of ringing")
    wrapup: int = Field(10, ge=0, le=900, description="seconds after a call before the seat rings again")
    service_level_seconds: int = Field(20, ge=1, le=600)
    music_class: Identifier = "default"
    join_empty: tuple[EmptyCondition, ...] = ()
    leave_when_empty: tuple[EmptyCondition, ...] = ()
    targets: KpiTargets = KpiTargets.model_validate({})
    # Seats up to this penalty take calls at once (None: every member); `widen`
    # lets backup skills in as the wait grows.
    max_penalty: int | None = Field(None, ge=0, le=10)
    widen: tuple[Widen, ...] = ()
    overflow: Overflow | None = None
    # Where callers go when the group cannot take them (join_empty /
    # leave_when_empty conditions met, e.g. nobody logged in).
    when_empty: Identifier | None = None
    announce: Announcements = Announcements.model_validate({})


class ServiceNumber(_Model):
    """A dialled service number (服务专线) and the line it leads to."""

    number: DialedNumber
    id: Identifier
    name: DisplayText
    language: LanguageCode
    languages: tuple[LanguageCode, ...] = Field(min_length=1, description="languages the line offers")
    priority: int = Field(0, ge=0, le=100, description="queue caller priority; higher is answered first")
    fallback_queue: Identifier
    tier: CustomerTier = "standard"
    # The IVR menu callers hear (see `menus`); without one the call is routed at once.
    menu: Identifier | None = None
    # Which skill group serves each language on this line when a caller asks for an agent.
    language_queues: dict[LanguageCode, Identifier] = {}
    # Opening hours (a name in the catalog's `calendars`); None = always open.
    hours: Identifier | None = None
    # Ask the caller to rate the call (1-5) after the agent hangs up.
    survey: bool = False


class Seat(_Model):
    """An agent seat (座席): a softphone that registers as PJSIP endpoint `id`."""

    id: SeatId
    name: DisplayText
    # queue id -> penalty (proficiency): 0 is the strongest skill.
    skills: dict[Identifier, Annotated[int, Field(ge=0, le=10)]]
    # Hours, days and shift patterns this agent is employed for (None: the
    # catalog's `scheduling.default_contract`).
    contract: Contract | None = None


class TierPolicy(_Model):
    """Where a customer tier is served: its own skill group (or, without one,
    the line's queue for the language) at this queue priority."""

    queue: Identifier | None = None
    priority: int = Field(0, ge=0, le=100)


class UrgentQueue(_Model):
    queue: Identifier
    priority: int = Field(ge=0, le=100)


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
    # Opening hours that lines refer to by name (`numbers[].hours`).
    calendars: dict[Identifier, Calendar] = {}
    # Central scheduling: shift patterns, contracts, occupancy cap, shrinkage.
    scheduling: Scheduling = Scheduling.model_validate({})

    def contract(self, seat: Seat) -> Contract:
        return seat.contract or self.scheduling.default_contract

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
