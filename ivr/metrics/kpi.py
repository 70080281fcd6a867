"""The KPI glossary as code: every contact-center number is defined here, once.

Theory of operation: the reducer only counts and sums (calls offered, seconds
on call, ...); turning those counts into the numbers the center is run by
happens in the functions below, so a definition can be read, argued about and
changed in one place. Each function returns `None` when its denominator is
zero: "no calls" is not "0 % answered".

Choices the glossary in docs/domain.md leaves open, decided here:
- A call is attributed to the interval, group, line, tier and language of the
  moment it *joined* the queue (its CallerJoined), whatever happens later.
- Short abandons (caller hung up within `SHORT_ABANDON_SECONDS`) are offered
  calls, but are counted apart from `abandoned` and removed from the
  denominators of abandon rate and service level: they are mostly misdials
  and the center could not have answered them.
- Calls the queue itself sent away (queue_log EXITWITHTIMEOUT/EXITEMPTY/...)
  are `exited`: neither answered nor abandoned, but they count against
  service level and answer rate. AMI cannot tell them from abandons.
- Calls still waiting stay in `offered`; rates of an interval still in
  progress therefore dip until the waiting calls are decided.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

SHORT_ABANDON_SECONDS = 5.0
"""An abandon with a wait strictly below this is a short abandon."""

FCR_WINDOWS: tuple[int, ...] = (24 * 3600, 7 * 24 * 3600)
"""First-call-resolution windows: a repeat call within 24 h / 7 d."""

INTERVAL_SECONDS = 900
"""Operational reporting interval: 15 minutes aligned to the clock."""


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator > 0 else None


def is_short_abandon(hold_time: float) -> bool:
    """Short abandon (短时放弃): the caller gave up within `SHORT_ABANDON_SECONDS`."""
    return hold_time < SHORT_ABANDON_SECONDS


def answered_within(hold_time: float, threshold: float) -> bool:
    """Answered within the service-level threshold T (inclusive, as app_queue counts it)."""
    return hold_time <= threshold


def answer_rate(answered: int, offered: int) -> float | None:
    """Answer rate (来电接通率) = answered / offered; offered = joined a queue."""
    return _ratio(answered, offered)


def abandon_rate(abandoned: int, offered: int, short_abandoned: int) -> float | None:
    """Abandon rate = abandoned (short excluded) / (offered - short abandons)."""
    return _ratio(abandoned, offered - short_abandoned)


def service_level(answered_in_threshold: int, offered: int, short_abandoned: int) -> float | None:
    """Service level = answered within T / (offered - short abandons).

    Abandons after the short threshold, timeouts and calls still waiting all
    count against it.
    """
    return _ratio(answered_in_threshold, offered - short_abandoned)


def average_speed_of_answer(total_hold_of_answered: float, answered: int) -> float | None:
    """ASA = mean time answered calls waited in queue before an agent connected."""
    return _ratio(total_hold_of_answered, answered)


def average_talk_time(total_talk: float, handled: int) -> float | None:
    """Average talk time (通话时长) = talk seconds / handled (completed) calls."""
    return _ratio(total_talk, handled)


def average_handle_time(total_talk: float, total_wrapup: float, handled: int) -> float | None:
    """AHT = (talk + wrap-up actually spent) / handled calls.

    Hold inside the conversation is part of talk: AMI queue events do not
    split it out.
    """
    return _ratio(total_talk + total_wrapup, handled)


def utilization(on_call: float, wrap_up: float, logged_in: float) -> float | None:
    """Agent utilization (员工利用率) = (talk + wrap-up time) / logged-in time."""
    return _ratio(on_call + wrap_up, logged_in)


def occupancy(on_call: float, wrap_up: float, available: float, ringing: float) -> float | None:
    """Occupancy = (talk + wrap-up) / (available + ringing + talk + wrap-up).

    The busy share of the time a seat was ready for or working on calls.
    """
    return _ratio(on_call + wrap_up, available + ringing + on_call + wrap_up)


def in_seat_rate(logged_in_not_paused: float, scheduled: float) -> float | None:
    """In-seat rate (在位率) = logged-in and not paused time / scheduled time."""
    return _ratio(logged_in_not_paused, scheduled)


def first_call_resolution(resolved: int, repeated: int) -> float | None:
    """FCR (问题一次性解决率) = resolved / decided answered calls.

    Resolved: no repeat call from the same caller within the window.
    A call is decided once a repeat is seen (not resolved) or its window has
    passed with none (resolved); undecided calls are reported as pending.
    """
    return _ratio(resolved, resolved + repeated)


def csat_mean(total_rating: int, surveys: int) -> float | None:
    """Satisfaction (客户服务满意度) as the mean survey rating, 1..5."""
    return _ratio(total_rating, surveys)


def csat_top_two_box(satisfied: int, surveys: int) -> float | None:
    """Satisfaction as the share of ratings 4 or 5 ("satisfied")."""
    return _ratio(satisfied, surveys)


def is_satisfied(rating: int) -> bool:
    return rating >= 4


def interval_start(at: float, interval: int = INTERVAL_SECONDS) -> float:
    """Start of the clock-aligned interval containing `at` (epoch-aligned; any
    whole-quarter-hour time zone offset keeps 15-minute intervals aligned)."""
    return float(at // interval * interval)


def center_day_start(now: float, timezone: str) -> float:
    """Epoch seconds of local midnight of the day containing `now` in the center's
    time zone (IANA name; UTC if unknown): the one definition of "today"."""
    try:
        zone: tzinfo = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = UTC
    offset = datetime.fromtimestamp(now, zone).utcoffset()
    return day_start(now, int(offset.total_seconds()) if offset is not None else 0)


def day_start(now: float, utc_offset_seconds: int) -> float:
    """Epoch seconds of local midnight of the day containing `now`."""
    local = now + utc_offset_seconds
    return float(local // 86400 * 86400 - utc_offset_seconds)
