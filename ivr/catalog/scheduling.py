"""Central scheduling (集中排班) as catalog data: shift patterns, contracts,
occupancy cap, shrinkage and the adherence tolerance.

    scheduling:
      occupancy_cap: 0.85          # plan no group busier than this
      shrinkage: {training: 0.03, meeting: 0.02, absence: 0.05}
      adherence_tolerance_minutes: 5
      default_contract: {hours_per_week: 40, days_per_week: 5}
      patterns:
        - {id: day, name: Day shift, length_minutes: 540, earliest_start: "08:00",
           latest_start: "10:00", breaks: [{minutes: 15, earliest: 90, latest: 180}],
           meal: {minutes: 60, earliest: 210, latest: 330}}

Breaks and meals are placed by the shift planner inside each shift, so they
are not shrinkage; shrinkage is the share of scheduled time lost to what a
plan does not place (training, meetings, absence, extra pauses). Measured
pause time by reason (`ivr staffing`) is shown beside the catalog's figures.

This is schema only: `ivr.scheduling` reads it.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, model_validator

from ivr.catalog.fields import CATALOG_MODEL_CONFIG, DisplayText, Identifier

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
ALL_WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# "HH:MM" in the center's time zone, on the quarter hour (the planning interval).
QuarterHour = Annotated[str, Field(pattern=r"^([01][0-9]|2[0-3]):(00|15|30|45)$")]
# What a plan's shrinkage covers: the pause reasons of ivr.agents.control that
# a plan does not place itself, plus absence (sick leave, leave: no pause at all).
ShrinkageReason = Literal["training", "meeting", "outbound", "break", "meal", "absence"]


def minutes_of(text: str) -> int:
    """'08:30' -> 510."""
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


class _Model(BaseModel):
    model_config = CATALOG_MODEL_CONFIG


class BreakRule(_Model):
    """A break of `minutes` that starts between `earliest` and `latest` minutes
    after the shift starts (on the quarter hour)."""

    minutes: int = Field(ge=5, le=120)
    earliest: int = Field(ge=0, le=960)
    latest: int = Field(ge=0, le=960)

    @model_validator(mode="after")
    def _window(self) -> BreakRule:
        if self.latest < self.earliest:
            raise ValueError(f"latest ({self.latest}) is before earliest ({self.earliest})")
        if self.minutes % 15 or self.earliest % 15 or self.latest % 15:
            raise ValueError("minutes, earliest and latest must be multiples of 15 (the planning interval)")
        return self


class ShiftPattern(_Model):
    """A shift an agent may work: its length (breaks and meal included), the
    window its start may fall in (every `start_step_minutes`), its breaks and
    meal, and the weekdays it is worked. A start after 24:00 minus the length
    runs past midnight into the next day."""

    id: Identifier
    name: DisplayText
    length_minutes: int = Field(ge=120, le=720)
    earliest_start: QuarterHour
    latest_start: QuarterHour
    start_step_minutes: Literal[15, 30, 60] = 30
    breaks: tuple[BreakRule, ...] = ()
    # Unpaid: a meal does not count in contract hours.
    meal: BreakRule | None = None
    days: tuple[Weekday, ...] = ALL_WEEKDAYS
    # Relative cost of an hour of this pattern (night work costs more).
    cost_per_hour: float = Field(1.0, gt=0, le=10)
    # False: the planner never uses it; a supervisor may place it by hand (a cover shift).
    plannable: bool = True

    @model_validator(mode="after")
    def _fits(self) -> ShiftPattern:
        if minutes_of(self.latest_start) < minutes_of(self.earliest_start):
            raise ValueError(f"latest_start {self.latest_start} is before earliest_start {self.earliest_start}")
        if self.length_minutes % 15:
            raise ValueError("length_minutes must be a multiple of 15 (the planning interval)")
        for rule in (*self.breaks, *([self.meal] if self.meal else [])):
            if rule.latest + rule.minutes > self.length_minutes:
                raise ValueError(f"a break ending at minute {rule.latest + rule.minutes} does not fit the shift")
        return self

    @property
    def paid_minutes(self) -> int:
        return self.length_minutes - (self.meal.minutes if self.meal else 0)


class Contract(_Model):
    """What an agent is employed for: paid hours and working days a week, the
    patterns they may work (all if empty) and fixed days off."""

    hours_per_week: float = Field(40, ge=4, le=60)
    days_per_week: int = Field(5, ge=1, le=6)
    patterns: tuple[Identifier, ...] = ()
    days_off: tuple[Weekday, ...] = ()


class Scheduling(_Model):
    # Plan no group's agents busier than this (Erlang C/A give the minimum; the cap adds agents).
    occupancy_cap: float = Field(0.85, gt=0.3, le=1.0)
    # Share of scheduled time lost, by reason; staffing divides by (1 - total).
    shrinkage: dict[ShrinkageReason, Annotated[float, Field(ge=0, le=0.5)]] = {}
    adherence_tolerance_minutes: int = Field(5, ge=0, le=60)
    default_contract: Contract = Contract.model_validate({})
    patterns: tuple[ShiftPattern, ...] = ()
    # The calendar (of `calendars`) whose public holidays and make-up working
    # days (调休) are the center's: the forecast treats those days apart.
    calendar: Identifier | None = None

    @model_validator(mode="after")
    def _total_shrinkage(self) -> Scheduling:
        if sum(self.shrinkage.values()) >= 0.8:
            raise ValueError("shrinkage adds up to 80 % or more: nobody would be left on the phones")
        return self

    @property
    def shrinkage_total(self) -> float:
        return sum(self.shrinkage.values())

    def pattern(self, pattern_id: str) -> ShiftPattern:
        for pattern in self.patterns:
            if pattern.id == pattern_id:
                return pattern
        raise KeyError(pattern_id)
