"""The forecast (集中排班, step one): calls and AHT per skill group and
15-minute interval for the days to plan, from the interval history.

Theory of operation. The history (`IntervalStat`) is folded into arrays:
offered calls, handle seconds and handled calls per group, local day and
interval of the day (the center's time zone). Days are told apart through
the center's calendar (`catalog.scheduling.calendar`, see `day_kind`): an
ordinary working day, Saturday, Sunday, a holiday (a public holiday, or a
weekend day in the same run of rest days as one: the weekend inside Golden
Week behaves like the holiday), a make-up working day (调休), and the first
working day after a long holiday (three rest days or more), which is busier.
A group fed only by lines with opening hours (`line_hours`: the group
customers' account team) gets no calls while they are closed, whatever the
method.

Two methods forecast the calls:

- "seasonal", the baseline: each interval is the mean of the same weekday's
  same interval over the last `SEASONAL_WEEKS` ordinary weeks. A holiday is
  the mean of the past holidays in the history, or, without any, a Sunday
  scaled by `HOLIDAY_TO_SUNDAY`; a make-up day is the mean of the recent
  ordinary working days; the day after a long holiday is its weekday scaled
  by `AFTER_HOLIDAY_UPLIFT` (rules of thumb of Chinese card centers; the
  model estimates both from the history when it holds such days).
- "model": a regression with AR(1) errors (statsmodels SARIMAX) on each
  group's log daily totals over the last `MODEL_WEEKS` weeks: intercept,
  weekday dummies, and holiday / make-up / after-holiday dummies when the
  group's history holds such days (without, the baseline's rules of thumb:
  a holiday is the group's Sunday, or its own weekday, scaled); the AR(1)
  errors carry a busy or quiet spell into the next days. The day total is
  then spread over the day with the group's intraday profile for the day
  type (working day, Saturday, Sunday, holiday), pooled over the last
  `PROFILE_WEEKS` weeks: pooling many days smooths the Poisson noise that
  per-weekday averages keep, which is most of the model's gain at interval
  level. Days a group never works (its line closed, or never a call on
  that weekday) are left out of the fit. A group the model cannot
  fit (no calls, a weekday never seen) falls back to the baseline.

  Chosen by measurement (scratch runs with bench/forecast_accuracy.py's
  setting: 8 weeks at 108,000 calls a day, the last 7 held out, 7 windows
  of 2026 among them the Qingming, Mid-Autumn, Golden Week and Spring
  Festival weeks, 3 seeds each; WAPE interval / day, all groups): this
  model 6.9 % / 2.9 %; the baseline 7.5 % / 3.3 %; the same with a linear
  trend 7.1 % / 3.3 % (eight weeks are too few to tell a trend from
  noise); least squares without AR errors 6.9 % / 3.0 %; ARIMA(0,1,1)
  errors 7.1 % / 3.2 %; Holt-Winters (damped trend, multiplicative
  weekly season, statsmodels ExponentialSmoothing) on totals with the
  calendar's days imputed 7.0 % / 3.1 %, as good on ordinary weeks but
  worse around holidays; seasonal ARIMA (1,0,0)(0,1,1)7 9.7 % / 6.6 %.

"best" measures both on the last `BEST_HOLDOUT_DAYS` days before
`first_day` (`evaluate`), then forecasts with the one whose WAPE at
interval level, over all groups, was lower (ties go to the baseline).

AHT is a recency-weighted mean per group and interval of the day (half-life
`AHT_HALF_LIFE_DAYS`), pulled towards the group's daily AHT when the
interval saw few calls (`AHT_PRIOR_CALLS`), that towards the catalog's
`targets.aht_seconds` when the group saw none.

Only history before `first_day` is used. An interval without a row had no
calls; a day without any row is missing, and the history's first and last
days are left out when they are cut short (`_complete`: today so far).
Pure: no clock, no I/O; `evaluate` reads a performance counter only to
report how long each method took.
"""

from __future__ import annotations

import time as perf
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

import numpy as np

from ivr.catalog.model import Calendar, Catalog, KpiTargets
from ivr.hours.opening import hours_on, zone
from ivr.scheduling.model import INTERVAL_SECONDS, INTERVALS_PER_DAY, Demand, IntervalStat

DayKind = Literal["workday", "saturday", "sunday", "holiday", "makeup"]
Method = Literal["seasonal", "model"]

SEASONAL_WEEKS = 4
MODEL_WEEKS = 12
PROFILE_WEEKS = 8
AHT_WEEKS = 4
AHT_HALF_LIFE_DAYS = 7.0
AHT_PRIOR_CALLS = 20.0
# Priors for days the history has no example of.
HOLIDAY_TO_SUNDAY = 0.6
AFTER_HOLIDAY_UPLIFT = 1.2
# The model needs two weeks of complete days; "best" a week more to measure on.
MIN_MODEL_DAYS = 14
BEST_HOLDOUT_DAYS = 7
# The first or last day of the history is cut short when its rows start later
# or stop earlier than usual by more than this (an hour).
EDGE_SLACK_INTERVALS = 4
# A long holiday: this many consecutive rest days, one of them a holiday at least.
LONG_HOLIDAY_DAYS = 3
# A group with more calls a day than this on average does not have a day
# without any by chance: such a day is an outage, left out of the model.
ZERO_DAY_MEAN = 20.0
_WEEKEND = (5, 6)


class ForecastError(ValueError):
    """The history cannot support the forecast asked for (empty, too short)."""


# --- the center's calendar -------------------------------------------------


def center_calendar(catalog: Catalog) -> Calendar | None:
    """The calendar whose holidays and make-up days are the center's (None: no holidays)."""
    name = catalog.scheduling.calendar
    if name is None:
        return None
    try:
        return catalog.calendars[name]
    except KeyError:
        raise ForecastError(f"scheduling.calendar: unknown calendar '{name}'") from None


def _is_rest(calendar: Calendar | None, day: date) -> bool:
    if calendar is None:
        return day.weekday() in _WEEKEND
    if day in calendar.workdays:
        return False
    return day in calendar.holidays or day.weekday() in _WEEKEND


def _rest_run(calendar: Calendar | None, day: date) -> list[date]:
    """The run of consecutive rest days around `day` (empty if `day` is not one)."""
    if not _is_rest(calendar, day):
        return []
    first = last = day
    while _is_rest(calendar, first - timedelta(days=1)) and (day - first).days < 31:
        first -= timedelta(days=1)
    while _is_rest(calendar, last + timedelta(days=1)) and (last - day).days < 31:
        last += timedelta(days=1)
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def _has_holiday(calendar: Calendar | None, days: Iterable[date]) -> bool:
    return calendar is not None and any(day in calendar.holidays for day in days)


def day_kind(calendar: Calendar | None, day: date) -> DayKind:
    """What kind of day `day` is for the center's traffic."""
    weekday = day.weekday()
    if calendar is not None and day in calendar.workdays:
        return "makeup" if weekday in _WEEKEND or day in calendar.holidays else "workday"
    if _has_holiday(calendar, _rest_run(calendar, day)):
        return "holiday"
    return "saturday" if weekday == 5 else "sunday" if weekday == 6 else "workday"


def is_after_long_holiday(calendar: Calendar | None, day: date) -> bool:
    """The first working day after `LONG_HOLIDAY_DAYS` rest days or more that include a holiday."""
    if _is_rest(calendar, day):
        return False
    run = _rest_run(calendar, day - timedelta(days=1))
    return len(run) >= LONG_HOLIDAY_DAYS and _has_holiday(calendar, run)


def line_hours(catalog: Catalog) -> dict[str, tuple[Calendar, ...]]:
    """The groups that take calls only while a line is open: those whose every
    feeding line (the numbers with the group as fallback queue) has opening
    hours, with those lines' calendars (the group line's account team works
    office hours; a group fed by an always-open line is not listed)."""
    feeds: dict[str, list[str | None]] = {}
    for number in catalog.numbers:
        feeds.setdefault(number.fallback_queue, []).append(number.hours)
    out = {}
    for group, hours in feeds.items():
        calendars = tuple(catalog.calendars[name] for name in hours if name is not None and name in catalog.calendars)
        if calendars and len(calendars) == len(hours):
            out[group] = calendars
    return out


def open_ranges(calendars: Iterable[Calendar], day: date) -> list[tuple[int, int]]:
    """When any of `calendars` is open on `day`, as (start, end) minutes after local midnight."""
    return [span for calendar in calendars for span in hours_on(calendar, day)]


# --- the history as arrays -------------------------------------------------


@dataclass(frozen=True, slots=True)
class _History:
    groups: tuple[str, ...]
    first: date
    # [group, day, interval of the day]
    offered: np.ndarray
    handle: np.ndarray
    handled: np.ndarray
    complete: np.ndarray  # [day] bool

    @property
    def days(self) -> int:
        return int(self.offered.shape[1])

    def day(self, index: int) -> date:
        return self.first + timedelta(days=index)

    def index(self, day: date) -> int:
        return (day - self.first).days


def _slot_of(start: float, tz: ZoneInfo) -> tuple[date, int]:
    local = datetime.fromtimestamp(start, tz)
    return local.date(), (local.hour * 60 + local.minute) * 60 // INTERVAL_SECONDS


def _fold(history: Iterable[IntervalStat], catalog: Catalog, tz: ZoneInfo) -> _History:
    slots: dict[float, tuple[date, int]] = {}
    rows: list[tuple[str, date, int, int, float, int]] = []
    for stat in history:
        where = slots.get(stat.start)
        if where is None:
            where = slots[stat.start] = _slot_of(stat.start, tz)
        rows.append((stat.group, where[0], where[1], stat.offered, stat.handle_seconds, stat.handled))
    if not rows:
        raise ForecastError("no history to forecast from: the interval history is empty")
    known = [queue.id for queue in catalog.queues]
    seen = {row[0] for row in rows}
    groups = tuple([g for g in known if g in seen] + sorted(seen - set(known)))
    number = {group: n for n, group in enumerate(groups)}
    first = min(day for day, _ in slots.values())
    last = max(day for day, _ in slots.values())
    shape = (len(groups), (last - first).days + 1, INTERVALS_PER_DAY)
    g = np.array([number[row[0]] for row in rows])
    d = np.array([(row[1] - first).days for row in rows])
    s = np.array([row[2] for row in rows])
    arrays = []
    for column in (3, 4, 5):
        out = np.zeros(shape)
        np.add.at(out, (g, d, s), np.array([row[column] for row in rows], dtype=float))
        arrays.append(out)
    present = np.zeros(shape[1:], dtype=bool)
    present[d, s] = True
    return _History(groups, first, arrays[0], arrays[1], arrays[2], _complete(present))


def _complete(present: np.ndarray) -> np.ndarray:
    """Which days [day] count, from which intervals have rows [day, interval].

    An interval without calls may have no row (the store does not write it), so
    a missing row is a zero; but a day with no row at all is missing, and the
    first and last days are cut short (the recording started, or today is not
    over) when their rows start later or stop earlier than the other days'
    usually do, by more than `EDGE_SLACK_INTERVALS`."""
    complete = np.asarray(present.any(axis=1), dtype=bool)
    days = len(complete)
    if days < 3:
        return complete
    firsts = np.argmax(present, axis=1)
    lasts = INTERVALS_PER_DAY - 1 - np.argmax(present[:, ::-1], axis=1)
    inner = complete[1:-1]
    if inner.any():
        if firsts[0] > np.median(firsts[1:-1][inner]) + EDGE_SLACK_INTERVALS:
            complete[0] = False
        if lasts[-1] < np.median(lasts[1:-1][inner]) - EDGE_SLACK_INTERVALS:
            complete[-1] = False
    return complete


def _upto(history: _History, end: int) -> _History:
    """The history of the days before day index `end`."""
    end = max(0, min(end, history.days))
    return _History(
        history.groups, history.first, history.offered[:, :end], history.handle[:, :end],
        history.handled[:, :end], history.complete[:end],
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class _Days:
    """The calendar's reading of every day from the history's first to the last
    forecast day, and when each group's line is open."""

    kinds: list[DayKind]
    after: list[bool]
    open: np.ndarray  # [group, day, interval] bool

    @classmethod
    def of(cls, catalog: Catalog, groups: tuple[str, ...], first: date, count: int) -> _Days:
        calendar = center_calendar(catalog)
        days = [first + timedelta(days=n) for n in range(count)]
        is_open = np.ones((len(groups), count, INTERVALS_PER_DAY), dtype=bool)
        minutes = np.arange(INTERVALS_PER_DAY) * INTERVAL_SECONDS // 60
        lines = line_hours(catalog)
        for g, group in enumerate(groups):
            if group in lines:
                for n, day in enumerate(days):
                    is_open[g, n] = False
                    for start, end in open_ranges(lines[group], day):
                        is_open[g, n] |= (minutes >= start) & (minutes < end)
        kinds = [day_kind(calendar, d) for d in days]
        return cls(kinds, [is_after_long_holiday(calendar, d) for d in days], is_open)

    def ordinary(self, index: int) -> bool:
        return self.kinds[index] in ("workday", "saturday", "sunday") and not self.after[index]


# --- the baseline ----------------------------------------------------------


def _mean_of(history: _History, picked: list[int]) -> np.ndarray:
    return np.asarray(history.offered[:, picked].mean(axis=1))


def _recent(history: _History, keep: Callable[[int], bool], limit: int) -> list[int]:
    """The `limit` most recent complete history days that `keep` accepts."""
    out = []
    for index in range(history.days - 1, -1, -1):
        if history.complete[index] and keep(index):
            out.append(index)
            if len(out) == limit:
                break
    return out


def _seasonal_weekday(history: _History, days: _Days, weekday: int) -> np.ndarray:
    def weekday_of(index: int) -> int:
        return (history.first.weekday() + index) % 7

    for keep in (
        lambda i: days.ordinary(i) and weekday_of(i) == weekday,
        lambda i: days.ordinary(i) and (weekday_of(i) < 5) == (weekday < 5),
        days.ordinary,
        lambda i: True,
    ):
        picked = _recent(history, keep, SEASONAL_WEEKS)
        if picked:
            return _mean_of(history, picked)
    raise ForecastError("no complete day in the history")


def _seasonal_day(history: _History, days: _Days, target: int) -> np.ndarray:
    """The baseline's calls per group and interval on day index `target`."""
    kind = days.kinds[target]
    if kind == "holiday":
        past = _recent(history, lambda i: days.kinds[i] == "holiday", 7 * SEASONAL_WEEKS)
        out = _mean_of(history, past) if past else HOLIDAY_TO_SUNDAY * _seasonal_weekday(history, days, 6)
    elif kind == "makeup":
        working = _recent(
            history, lambda i: days.ordinary(i) and (history.first.weekday() + i) % 7 < 5, 5 * SEASONAL_WEEKS
        )
        out = _mean_of(history, working) if working else _seasonal_weekday(history, days, 2)
    else:
        out = _seasonal_weekday(history, days, history.day(target).weekday())
    if days.after[target]:
        out = out * AFTER_HOLIDAY_UPLIFT
    return np.asarray(out * days.open[:, target])


def _seasonal(history: _History, days: _Days, first: int, count: int) -> np.ndarray:
    return np.stack([_seasonal_day(history, days, first + n) for n in range(count)], axis=1)


# --- the model ---------------------------------------------------------------


def _profile_class(days: _Days, index: int, with_holidays: bool) -> str:
    kind = days.kinds[index]
    if kind == "makeup":
        return "workday"
    if kind == "holiday" and not with_holidays:
        return "sunday"
    return kind


def _profiles(history: _History, days: _Days) -> dict[str, np.ndarray]:
    """Each day type's share of the day per group and interval, pooled over recent weeks."""
    start = max(0, history.days - 7 * PROFILE_WEEKS)
    recent = [i for i in range(start, history.days) if history.complete[i]]
    everything = history.offered[:, recent].sum(axis=1)
    fallback = _shares(everything, np.full(INTERVALS_PER_DAY, 1.0 / INTERVALS_PER_DAY))
    out = {}
    for name in ("workday", "saturday", "sunday", "holiday"):
        picked = [i for i in recent if _profile_class(days, i, True) == name]
        if name == "holiday" and not picked:
            continue
        out[name] = _shares(history.offered[:, picked].sum(axis=1), fallback) if picked else fallback
    return out


def _shares(counts: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    totals = counts.sum(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = counts / totals
    return np.asarray(np.where(totals > 0, shares, fallback))


# The model's regressors: intercept, Tuesday..Sunday (Monday is the reference),
# a holiday, a make-up working day, the first working day after a long holiday.
_HOLIDAY, _MAKEUP, _AFTER, _COLUMNS = 7, 8, 9, 10


@dataclass(frozen=True, slots=True)
class _DayRow:
    kind: DayKind
    weekday: int
    after: bool

    @property
    def closure_class(self) -> str:
        """What the day is compared with to tell a closed day: a holiday, a make-up day or its weekday."""
        return self.kind if self.kind in ("holiday", "makeup") else str(self.weekday)

    def training(self) -> np.ndarray:
        x = np.zeros(_COLUMNS)
        x[0] = 1.0
        if self.kind == "holiday":
            x[_HOLIDAY] = 1.0
        elif self.kind == "makeup":
            x[1:5] = 0.2  # the mean of Monday to Friday
            x[_MAKEUP] = 1.0
        elif self.weekday:
            x[self.weekday] = 1.0
        if self.after:
            x[_AFTER] = 1.0
        return x

    def to_forecast(self, known: set[int]) -> tuple[np.ndarray, float] | None:
        """The day's regressors from what the group's history can tell (`known`
        columns), and the prior that stands for what it cannot; None if nothing can."""
        x = np.zeros(_COLUMNS)
        x[0], factor = 1.0, 1.0

        def weekday(day: int) -> bool:
            if day and day not in known:
                return False
            x[day] = 1.0 if day else x[day]
            return True

        if self.kind == "holiday":
            if _HOLIDAY in known:
                x[_HOLIDAY] = 1.0
            elif weekday(6) or weekday(self.weekday):
                factor = HOLIDAY_TO_SUNDAY
            else:
                return None
        elif self.kind == "makeup":
            working = [day for day in range(1, 5) if day in known]
            x[working] = 1.0 / (1 + len(working))
            if _MAKEUP in known:
                x[_MAKEUP] = 1.0
        elif not weekday(self.weekday):
            return None
        if self.after:
            if _AFTER in known:
                x[_AFTER] = 1.0
            else:
                factor *= AFTER_HOLIDAY_UPLIFT
        return x, factor


def _fit_log_totals(y: np.ndarray, x: np.ndarray, x_future: np.ndarray) -> np.ndarray:
    """Regression with AR(1) errors of y on x, forecast at x_future (NaN in y: days left out).

    SARIMAX with the regression coefficients in the state vector (a diffuse
    start: the Kalman filter computes them by generalised least squares) and
    the scale concentrated out, so that the likelihood is optimised over the
    AR coefficient alone: about 15 ms a group instead of 250 ms for the
    numerical optimisation over every coefficient, with the same accuracy
    (measured as in the module's docstring)."""
    from statsmodels.tsa.statespace.sarimax import SARIMAX  # type: ignore[import-untyped]

    seen = ~np.isnan(y)
    coef, *_ = np.linalg.lstsq(x[seen], y[seen], rcond=None)
    residual = y[seen] - x[seen] @ coef
    if float(np.sqrt(np.mean(residual**2))) < 1e-9 * max(1.0, float(np.abs(y[seen]).max())):
        # An exact fit (a perfectly periodic history): nothing is left for the errors to model.
        return np.asarray(x_future @ coef)
    # The AR coefficient starts from the residuals' lag-one correlation.
    rest = np.where(seen, y - x @ coef, 0.0)
    pairs = seen[:-1] & seen[1:]
    phi = 0.0
    if pairs.sum() > 2:
        phi = float(np.nan_to_num(np.clip(np.corrcoef(rest[:-1][pairs], rest[1:][pairs])[0, 1], -0.9, 0.9)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # statsmodels' convergence chatter: the result is checked below
        model = SARIMAX(y, exog=x, order=(1, 0, 0), mle_regression=False, concentrate_scale=True)
        fitted = model.fit(start_params=[phi], method="powell", disp=False)
        predicted = fitted.forecast(steps=len(x_future), exog=x_future)
    return np.asarray(predicted)


@dataclass(frozen=True, slots=True)
class _ModelRun:
    calls: np.ndarray  # [group, day, interval]
    fallbacks: tuple[str, ...]


def _model(history: _History, days: _Days, first: int, count: int) -> _ModelRun:
    start = max(0, history.days - 7 * MODEL_WEEKS)
    window = list(range(start, history.days))
    usable = int(history.complete[window].sum())
    if usable < MIN_MODEL_DAYS:
        raise ForecastError(
            f"the model needs {MIN_MODEL_DAYS} complete days of history before the forecast, it has {usable}"
        )
    indexes = window + list(range(history.days, first + count))
    rows = [_DayRow(days.kinds[i], (history.first.weekday() + i) % 7, days.after[i]) for i in indexes]
    profiles = _profiles(history, days)
    totals = history.offered[:, window].sum(axis=2)
    out = np.zeros((len(history.groups), count, INTERVALS_PER_DAY))
    fallbacks = []
    baseline: np.ndarray | None = None
    for g, group in enumerate(history.groups):
        # A day the group's line is closed all day is no data: left out, forecast as nothing.
        opened = np.asarray(days.open[g, indexes].any(axis=1), dtype=bool)
        daily = _group_daily(totals[g], history.complete[window], opened, rows)
        if daily is None:
            fallbacks.append(group)
            if baseline is None:
                baseline = _seasonal(history, days, first, count)
            out[g] = baseline[g]
            continue
        daily = daily[-count:]
        for n in range(count):
            name = _profile_class(days, first + n, "holiday" in profiles)
            out[g, n] = daily[n] * _shares(profiles[name][g] * days.open[g, first + n], profiles[name][g])
    return _ModelRun(out, tuple(fallbacks))


def _group_daily(
    totals: np.ndarray, complete: np.ndarray, opened: np.ndarray, rows: list[_DayRow]
) -> np.ndarray | None:
    """One group's daily totals on the `rows` after its history's `totals` (None:
    the model cannot say). `opened`: whether the group's line opens on each row's day."""
    trained = len(totals)
    usable = complete & opened[:trained]
    if not totals[usable].any():
        return None
    # A class of days on which the group never had a call (a weekday its team
    # does not work) is forecast as zeros, and left out of the fit; so is a
    # day without calls in a group that has many (an outage, not traffic).
    busy: dict[str, bool] = {}
    for r in np.flatnonzero(usable):
        busy[rows[r].closure_class] = busy.get(rows[r].closure_class, False) or bool(totals[r] > 0)
    closed = {name for name, calls in busy.items() if not calls}
    if "6" in closed and "holiday" not in busy:
        closed.add("holiday")
    if {"0", "1", "2", "3", "4"} <= closed and "makeup" not in busy:
        closed.add("makeup")
    outage = totals == 0 if totals[usable].mean() > ZERO_DAY_MEAN else np.zeros(trained, dtype=bool)
    fit = usable & ~outage & np.array([row.closure_class not in closed for row in rows[:trained]])
    if fit.sum() < MIN_MODEL_DAYS // 2:
        return None
    x = np.array([row.training() for row in rows[:trained]])
    known = {c for c in range(_COLUMNS) if x[fit, c].any()}
    future, factors = [], []
    for row, is_open in zip(rows[trained:], opened[trained:], strict=True):
        shut = row.closure_class in closed or not is_open
        encoded = (np.eye(_COLUMNS)[0], 0.0) if shut else row.to_forecast(known)
        if encoded is None:
            return None
        future.append(encoded[0])
        factors.append(encoded[1])
    columns = sorted(known | {0})
    try:
        y = np.where(fit, np.log1p(totals), np.nan)
        predicted = np.expm1(_fit_log_totals(y, x[:, columns], np.array(future)[:, columns])) * np.array(factors)
    except (ValueError, np.linalg.LinAlgError):
        return None
    if not np.all(np.isfinite(predicted)):
        return None
    return np.asarray(np.clip(predicted, 0.0, None))


# --- AHT -------------------------------------------------------------------------


def _aht(history: _History, catalog: Catalog) -> np.ndarray:
    """AHT per group and interval of the day: recent and weighted, then the group's, then the target."""
    start = max(0, history.days - 7 * AHT_WEEKS)
    ages = history.days - 1 - np.arange(start, history.days, dtype=float)
    weights = 0.5 ** (ages / AHT_HALF_LIFE_DAYS)
    handle = np.einsum("gds,d->gs", history.handle[:, start:], weights)
    handled = np.einsum("gds,d->gs", history.handled[:, start:], weights)
    default = KpiTargets.model_validate({}).aht_seconds
    targets = {queue.id: queue.targets.aht_seconds for queue in catalog.queues}
    out = np.empty((len(history.groups), INTERVALS_PER_DAY))
    for g, group in enumerate(history.groups):
        total = handled[g].sum()
        daily = handle[g].sum() / total if total > 0 else targets.get(group, default)
        out[g] = (handle[g] + AHT_PRIOR_CALLS * daily) / (handled[g] + AHT_PRIOR_CALLS)
    return out


# --- forecast and evaluation -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class MethodScore:
    """How one method did on the held-out days: WAPE = sum |actual - forecast| / sum actual
    (None for a group with no calls held out), per group and over every group's cells."""

    method: Method
    interval_wape: Mapping[str, float | None]
    day_wape: Mapping[str, float | None]
    total_interval_wape: float
    total_day_wape: float
    seconds: float


@dataclass(frozen=True, slots=True)
class ForecastReport:
    first_day: str  # the first held-out day, ISO date (local)
    days: int
    train_days: int
    actual_calls: Mapping[str, int]
    seasonal: MethodScore
    model: MethodScore
    # What forecast(method="best") uses after this measurement.
    best: Method
    # Groups the model could not fit, forecast by the baseline instead.
    model_fallbacks: tuple[str, ...] = ()

    def score(self, method: Method) -> MethodScore:
        return self.seasonal if method == "seasonal" else self.model


def _wape(actual: np.ndarray, forecast: np.ndarray) -> float | None:
    total = float(actual.sum())
    return float(np.abs(actual - forecast).sum()) / total if total > 0 else None


def _score(
    method: Method, groups: tuple[str, ...], actual: np.ndarray, predicted: np.ndarray, seconds: float
) -> MethodScore:
    actual_days, predicted_days = actual.sum(axis=2), predicted.sum(axis=2)
    return MethodScore(
        method=method,
        interval_wape={g: _wape(actual[i], predicted[i]) for i, g in enumerate(groups)},
        day_wape={g: _wape(actual_days[i], predicted_days[i]) for i, g in enumerate(groups)},
        total_interval_wape=_wape(actual, predicted) or 0.0,
        total_day_wape=_wape(actual_days, predicted_days) or 0.0,
        seconds=seconds,
    )


def _evaluate(history: _History, catalog: Catalog, holdout_days: int) -> ForecastReport:
    if holdout_days < 1:
        raise ForecastError("holdout_days must be at least 1")
    first = history.days - holdout_days
    train = _upto(history, first)
    trained = int(train.complete.sum())
    if trained < MIN_MODEL_DAYS:
        raise ForecastError(
            f"evaluating on {holdout_days} days needs {MIN_MODEL_DAYS} complete days of history before them,"
            f" the history has {trained}"
        )
    days = _Days.of(catalog, history.groups, history.first, history.days)
    actual = history.offered[:, first:]
    started = perf.perf_counter()
    seasonal = _seasonal(train, days, first, holdout_days)
    seasonal_seconds = perf.perf_counter() - started
    started = perf.perf_counter()
    model = _model(train, days, first, holdout_days)
    model_seconds = perf.perf_counter() - started
    scores = (
        _score("seasonal", history.groups, actual, seasonal, seasonal_seconds),
        _score("model", history.groups, actual, model.calls, model_seconds),
    )
    best: Method = "model" if scores[1].total_interval_wape < scores[0].total_interval_wape else "seasonal"
    return ForecastReport(
        first_day=history.day(first).isoformat(),
        days=holdout_days,
        train_days=trained,
        actual_calls={g: int(actual[i].sum()) for i, g in enumerate(history.groups)},
        seasonal=scores[0],
        model=scores[1],
        best=best,
        model_fallbacks=model.fallbacks,
    )


def evaluate(history: Iterable[IntervalStat], catalog: Catalog, holdout_days: int) -> ForecastReport:
    """Train on all but the last `holdout_days` local days of the history, forecast
    them with both methods, and report each method's WAPE."""
    return _evaluate(_fold(history, catalog, zone(catalog.center.timezone)), catalog, holdout_days)


def forecast(
    history: Iterable[IntervalStat],
    catalog: Catalog,
    first_day: date,
    days: int,
    method: Literal["seasonal", "model", "best"] = "best",
) -> list[Demand]:
    """Calls and AHT per group and 15-minute interval for `days` local days from
    `first_day`, in time order (groups in catalog order within an interval),
    from the history before `first_day`."""
    if days < 1:
        raise ForecastError("days must be at least 1")
    tz = zone(catalog.center.timezone)
    folded = _fold(history, catalog, tz)
    train = _upto(folded, folded.index(first_day))
    if not train.complete.any():
        raise ForecastError(f"no complete day of history before {first_day.isoformat()} to forecast from")
    first = train.index(first_day)
    chosen: Method
    if method == "best":
        enough = int(train.complete.sum()) >= MIN_MODEL_DAYS + BEST_HOLDOUT_DAYS
        chosen = _evaluate(train, catalog, BEST_HOLDOUT_DAYS).best if enough else "seasonal"
    else:
        chosen = method
    calendar_days = _Days.of(catalog, train.groups, train.first, first + days)
    if chosen == "model":
        calls = _model(train, calendar_days, first, days).calls
    else:
        calls = _seasonal(train, calendar_days, first, days)
    aht = _aht(train, catalog)
    out = []
    for n in range(days):
        day = first_day + timedelta(days=n)
        start = datetime.combine(day, time(0), tz).timestamp()
        end = datetime.combine(day + timedelta(days=1), time(0), tz).timestamp()
        for at in np.arange(start, end, INTERVAL_SECONDS):
            _, slot = _slot_of(float(at), tz)
            for g, group in enumerate(train.groups):
                out.append(Demand(group, float(at), float(calls[g, n, slot]), float(aht[g, slot])))
    return out
