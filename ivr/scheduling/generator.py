"""Demo ACD interval history: what each skill group of a bank credit-card
hotline saw, 15 minutes at a time, for the forecast, staffing and shift plan
to work on when no real history exists yet.

Theory of operation. For every local day and every 15-minute interval of the
center's time zone (`catalog.center.timezone`), each group's expected calls
are

    scale x trend(day) x day_noise(day) x day_factor(day) x mix(group)
          x curve(day type, minute) x open(group, day, minute)

and the interval's figures are drawn from that expectation:

- offered ~ Poisson(expected): arrivals in an interval are a Poisson process;
- callers' patience is exponential (mean `PATIENCE_SECONDS` per group) and
  so, in this model, is the wait the queue would have made them do (its mean
  grows with the square of the load: short at night, longest at the peaks,
  and varies from interval to interval as staffing misses). A caller
  abandons when patience runs out first: abandoned ~ Binomial(offered,
  m / (m + p)); the time each spent waiting is min(patience, wait), again
  exponential, so wait_seconds ~ Gamma(offered, m p / (m + p)). Hence
  E[wait_seconds] / E[abandoned] = p: `wait_seconds / abandoned` recovers
  the patience (the Erlang A estimator);
- answered = handled = offered - abandoned, and handle_seconds is the sum of
  the handled calls' talk + wrap-up times, each Gamma with mean the group's
  AHT (a little longer at night) and a coefficient of variation of 0.9.

Where the shape comes from (figures of docs/domain.md and the case study):
- volume: 3.26 million calls a month is about 108,000 a day; `calls_per_day`
  is the mean offered volume over an ordinary week (no holiday) at
  `first_day`, so asking for 108,000 gives the case study's center (its
  figure counts answered calls; ~6 % of these offered calls abandon). The
  working-day curve puts ~10 % of the day in its peak hour, and a Monday of
  the case study peaks at 3.6 calls/s expected (domain.md's figure; Poisson
  intervals go above it);
- the working-day curve: night low (01:00-06:00 carries under 2 % of the
  day), a ramp from 07:30, peaks 10:00-11:30 and 14:00-16:30, a lunch dip,
  an evening shoulder 19:00-21:00 (people call after work), then the night;
  weekends and holidays use a flatter, later rest-day curve;
- the week: Monday the busiest (+15 % over a Wednesday: the weekend's
  questions), Saturday and Sunday lower (`WEEKDAY_FACTOR`); public holidays
  much lower (`HOLIDAY_FACTOR`), and the first working day after a long
  holiday (three rest days or more) higher (`AFTER_LONG_HOLIDAY`); a
  make-up working day (调休, on a weekend) is an average working day with
  the working-day curve. Which days are which comes from the calendar named
  by `catalog.scheduling.calendar` (`ivr.scheduling.forecast.day_kind`,
  shared with the forecast so both read the calendar the same way);
- a slow trend (`TREND_PER_YEAR`, the center grew for years) and a
  day-to-day effect, autocorrelated (a busy day tends to follow a busy day:
  statements, news, system incidents), of about 3 %;
- the group mix (`GROUP_MIX`): Mandarin basic service most of the traffic,
  English ~5 %, each minor language ~1 %, VIP ~8 %, platinum ~6 %, group
  customers ~5 % and only while their line is open (`line_hours` of the
  forecast: the group line's office hours, closed on holidays, so a
  working day's share), lost card ~4 % around the clock (flatter
  curve), collections and care small inbound (customers calling back) in
  the daytime only. A queue the table does not know gets 1 %.
- AHT: the queue's `targets.aht_seconds` when the catalog sets it, else a
  per-group default (`DEFAULT_AHT_SECONDS`: minor languages and collections
  take longer), else the catalog's default target.

Pure and deterministic: the same arguments and seed give the same history
(numpy's PCG64 generator).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from ivr.catalog.model import Calendar, Catalog, Queue
from ivr.hours.opening import zone
from ivr.scheduling.forecast import center_calendar, day_kind, is_after_long_holiday, line_hours, open_ranges
from ivr.scheduling.model import INTERVAL_SECONDS, IntervalStat

# Offered calls by weekday (Monday first), relative to a Wednesday.
WEEKDAY_FACTOR = (1.15, 1.05, 1.00, 0.99, 1.02, 0.78, 0.68)
# A public holiday (or a weekend day inside a holiday period), relative to a Wednesday.
HOLIDAY_FACTOR = 0.42
# A make-up working day (调休) is an average working day.
MAKEUP_FACTOR = sum(WEEKDAY_FACTOR[:5]) / 5
# The first working day after three rest days or more that include a holiday.
AFTER_LONG_HOLIDAY = 1.25
TREND_PER_YEAR = 0.08
# The day-to-day effect: log-scale AR(1) with this coefficient and stationary deviation.
DAY_EFFECT_AR = 0.5
DAY_EFFECT_SIGMA = 0.03

# Piecewise-linear intraday curves: (minute after local midnight, relative rate).
WORKDAY_CURVE = (
    (0, 0.9), (60, 0.45), (180, 0.25), (300, 0.25), (360, 0.45), (450, 1.4), (510, 4.2), (570, 8.0), (600, 10.6),
    (690, 10.4), (720, 7.6), (750, 6.2), (810, 7.8), (840, 10.0), (990, 9.6), (1050, 7.0), (1110, 4.8), (1140, 4.3),
    (1260, 3.9), (1320, 2.6), (1380, 1.6), (1440, 0.9),
)  # fmt: skip
REST_DAY_CURVE = (
    (0, 1.0), (60, 0.55), (180, 0.3), (300, 0.3), (420, 0.6), (510, 2.0), (570, 4.6), (630, 6.6), (690, 6.8),
    (750, 5.6), (810, 6.0), (870, 6.6), (990, 6.4), (1080, 5.0), (1140, 4.6), (1260, 4.2), (1320, 3.0), (1380, 1.8),
    (1440, 1.0),
)  # fmt: skip
# Share of lost-card calls spread evenly over the 24 hours (a card is lost at any time).
AROUND_THE_CLOCK_SHARE = 0.5
# Inbound callbacks of the outbound groups arrive while their agents call (08:00-21:00).
DAYTIME = (8 * 60, 21 * 60)

GROUP_MIX = {
    "basic_zh": 0.655, "english": 0.05, "japanese": 0.01, "korean": 0.01, "french": 0.01, "russian": 0.01,
    "vip": 0.08, "platinum": 0.06, "group": 0.05, "lost_card": 0.04, "collections": 0.015, "care": 0.01,
}  # fmt: skip
UNKNOWN_GROUP_SHARE = 0.01
AROUND_THE_CLOCK_GROUPS = frozenset({"lost_card"})
DAYTIME_GROUPS = frozenset({"collections", "care"})
DEFAULT_AHT_SECONDS = {
    "basic_zh": 240, "english": 330, "japanese": 420, "korean": 420, "french": 420, "russian": 420, "vip": 300,
    "platinum": 300, "group": 360, "lost_card": 360, "collections": 420, "care": 240,
}  # fmt: skip
# Mean patience (seconds) of each group's callers: urgent and premium callers wait longer.
PATIENCE_SECONDS = {
    "basic_zh": 90, "english": 80, "japanese": 75, "korean": 75, "french": 75, "russian": 75, "vip": 120,
    "platinum": 110, "group": 120, "lost_card": 150, "collections": 60, "care": 60,
}  # fmt: skip
DEFAULT_PATIENCE_SECONDS = 90
# Handle time of one call: coefficient of variation (talk times are skewed);
# a group's AHT varies from day to day by this much (lognormal sigma).
HANDLE_CV = 0.9
AHT_DAY_SIGMA = 0.02
# The queue's mean wait at the day's peak, as a share of the group's ASA target,
# and its spread from interval to interval (lognormal sigma).
PEAK_WAIT_OF_ASA = 0.45
WAIT_SIGMA = 0.35


@dataclass(frozen=True, slots=True)
class _Group:
    id: str
    share: float
    aht: float
    patience: float
    asa: float
    # The calendars of the lines that feed the group, when they all have opening hours.
    hours: tuple[Calendar, ...]
    # When the group takes calls on an ordinary working day (minutes after midnight).
    usual: tuple[tuple[int, int], ...]


def _groups(catalog: Catalog) -> list[_Group]:
    lines = line_hours(catalog)
    out = []
    for queue in catalog.queues:
        hours = lines.get(queue.id, ())
        # A Wednesday's hours as the calendars' weekly tables say (holidays aside).
        weekly = [Calendar(open=calendar.open) for calendar in hours]
        usual = open_ranges(weekly, date(2001, 1, 3)) if hours else [DAYTIME]
        out.append(
            _Group(
                id=queue.id,
                share=GROUP_MIX.get(queue.id, UNKNOWN_GROUP_SHARE),
                aht=_aht_target(queue),
                patience=PATIENCE_SECONDS.get(queue.id, DEFAULT_PATIENCE_SECONDS),
                asa=max(queue.targets.asa_seconds, 1.0),
                hours=hours,
                usual=tuple(usual),
            )
        )
    return out


def _aht_target(queue: Queue) -> float:
    if "aht_seconds" in queue.targets.model_fields_set:
        return queue.targets.aht_seconds
    return DEFAULT_AHT_SECONDS.get(queue.id, queue.targets.aht_seconds)


def _curve(knots: tuple[tuple[int, float], ...], minutes: np.ndarray) -> np.ndarray:
    """The curve at each interval's middle, normalised to a mean of 1 over the day."""
    xs, ys = zip(*knots, strict=True)
    half = INTERVAL_SECONDS / 60 / 2
    values = np.interp(minutes + half, xs, ys)
    full_day = np.interp(np.arange(0, 1440, INTERVAL_SECONDS // 60) + half, xs, ys)
    return np.asarray(values / full_day.mean())


def _day_factor(calendar: Calendar | None, day: date) -> tuple[float, bool]:
    """How busy `day` is relative to a Wednesday, and whether it follows the working-day curve."""
    kind = day_kind(calendar, day)
    if kind == "holiday":
        return HOLIDAY_FACTOR, False
    factor = MAKEUP_FACTOR if kind == "makeup" else WEEKDAY_FACTOR[day.weekday()]
    if is_after_long_holiday(calendar, day):
        factor *= AFTER_LONG_HOLIDAY
    return factor, kind in ("workday", "makeup")


def _open(minutes: np.ndarray, ranges: Iterable[tuple[int, int]]) -> np.ndarray:
    mask = np.zeros(minutes.shape, dtype=bool)
    for start, end in ranges:
        mask |= (minutes >= start) & (minutes < end)
    return mask


def _intervals(day: date, tz: ZoneInfo) -> tuple[np.ndarray, np.ndarray]:
    """Epoch starts of the day's local intervals and their local minute of the day (DST-aware)."""
    first = datetime.combine(day, time(0), tz).timestamp()
    last = datetime.combine(day + timedelta(days=1), time(0), tz).timestamp()
    starts = np.arange(first, last, INTERVAL_SECONDS, dtype=float)
    minutes = np.array([_minute_of(datetime.fromtimestamp(s, tz)) for s in starts], dtype=float)
    return starts, minutes


def _minute_of(local: datetime) -> int:
    return local.hour * 60 + local.minute


def _rates(groups: list[_Group], day: date, minutes: np.ndarray, factor: float, working: bool) -> np.ndarray:
    """Expected calls per group (rows) and interval (columns) before scale, trend and noise."""
    curve = _curve(WORKDAY_CURVE if working else REST_DAY_CURVE, minutes)
    # A group open only part of the day keeps its share of a working day's calls
    # (its line's customers call when it is open), so its rate is divided by the
    # share of a working day's curve that falls in those hours.
    reference = np.arange(0, 1440, INTERVAL_SECONDS // 60, dtype=float)
    working_curve = _curve(WORKDAY_CURVE, reference)
    out = np.empty((len(groups), len(minutes)))
    for row, group in enumerate(groups):
        shape = curve
        if group.id in AROUND_THE_CLOCK_GROUPS:
            shape = AROUND_THE_CLOCK_SHARE + (1 - AROUND_THE_CLOCK_SHARE) * curve
        if group.hours or group.id in DAYTIME_GROUPS:
            mask = _open(minutes, open_ranges(group.hours, day) if group.hours else [DAYTIME])
            usual = _open(reference, group.usual)
            shape = shape * mask / max(working_curve[usual].mean() * usual.mean(), 1e-9)
        out[row] = group.share * factor * shape * INTERVAL_SECONDS / 86_400
    return out


def _reference_day_total(groups: list[_Group]) -> float:
    """Expected calls of an average day of an ordinary week (no holiday), before scale."""
    weekly = [replace(g, hours=tuple(Calendar(open=c.open) for c in g.hours)) for g in groups]
    minutes = np.arange(0, 1440, INTERVAL_SECONDS // 60, dtype=float)
    monday = date(2001, 1, 1)
    days = [monday + timedelta(days=offset) for offset in range(7)]
    return sum(float(_rates(weekly, day, minutes, WEEKDAY_FACTOR[day.weekday()], day.weekday() < 5).sum())
               for day in days) / 7  # fmt: skip


def generate_history(
    catalog: Catalog, first_day: date, days: int, calls_per_day: float, seed: int = 95588
) -> Iterator[IntervalStat]:
    """Every group's figures for every 15-minute interval of `days` local days from
    `first_day`, in time order (groups in catalog order within an interval)."""
    if days < 0 or calls_per_day < 0:
        raise ValueError("days and calls_per_day must not be negative")
    tz = zone(catalog.center.timezone)
    calendar = center_calendar(catalog)
    groups = _groups(catalog)
    scale = calls_per_day / _reference_day_total(groups)
    rng = np.random.default_rng(seed)
    innovation = DAY_EFFECT_SIGMA * math.sqrt(1 - DAY_EFFECT_AR**2)
    effect = rng.normal(0.0, DAY_EFFECT_SIGMA)
    aht = np.array([g.aht for g in groups])[:, None]
    patience = np.array([g.patience for g in groups], dtype=float)[:, None]
    asa = np.array([g.asa for g in groups])[:, None]
    for offset in range(days):
        day = first_day + timedelta(days=offset)
        if offset:
            effect = DAY_EFFECT_AR * effect + rng.normal(0.0, innovation)
        starts, minutes = _intervals(day, tz)
        factor, working = _day_factor(calendar, day)
        trend = (1 + TREND_PER_YEAR) ** (offset / 365.25)
        level = scale * trend * math.exp(effect - DAY_EFFECT_SIGMA**2 / 2)
        expected = level * _rates(groups, day, minutes, factor, working)
        offered = rng.poisson(expected)
        # The queue's mean wait: grows with the square of the load, peaks at a share of the ASA target.
        peak = np.maximum(expected.max(axis=1, keepdims=True), 1e-9)
        load = expected / peak
        wait = asa * PEAK_WAIT_OF_ASA * (0.1 + load**2) * rng.lognormal(0.0, WAIT_SIGMA, expected.shape)
        abandoned = rng.binomial(offered, wait / (wait + patience))
        waited = _gamma_sums(rng, offered, wait * patience / (wait + patience))
        handled = offered - abandoned
        # Night calls run longer (fewer, harder cases); each group's AHT drifts a little from day to day.
        night = np.interp(minutes, (0, 360, 480, 1320, 1440), (1.1, 1.1, 1.0, 1.0, 1.1))
        mean_handle = aht * night * rng.lognormal(0.0, AHT_DAY_SIGMA, (len(groups), 1))
        handle = _gamma_sums(rng, handled / HANDLE_CV**2, mean_handle * HANDLE_CV**2, counts=handled)
        for column, start in enumerate(starts):
            for row, group in enumerate(groups):
                yield IntervalStat(
                    group=group.id,
                    start=float(start),
                    offered=int(offered[row, column]),
                    answered=int(handled[row, column]),
                    abandoned=int(abandoned[row, column]),
                    handle_seconds=round(float(handle[row, column]), 1),
                    handled=int(handled[row, column]),
                    wait_seconds=round(float(waited[row, column]), 1),
                )


def _gamma_sums(
    rng: np.random.Generator, shape: np.ndarray, scale: np.ndarray, counts: np.ndarray | None = None
) -> np.ndarray:
    """Gamma(shape, scale) draws, 0 where there is nothing to sum (shape 0 or no calls)."""
    counts = shape if counts is None else counts
    positive = counts > 0
    out = np.zeros(np.broadcast(shape, scale).shape)
    out[positive] = rng.gamma(np.broadcast_to(shape, out.shape)[positive], np.broadcast_to(scale, out.shape)[positive])
    return out


def day_totals(history: Iterable[IntervalStat], timezone: str) -> dict[date, dict[str, int]]:
    """Offered calls per local day and group."""
    tz = zone(timezone)
    totals: dict[date, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for stat in history:
        totals[datetime.fromtimestamp(stat.start, tz).date()][stat.group] += stat.offered
    return {day: dict(groups) for day, groups in sorted(totals.items())}
