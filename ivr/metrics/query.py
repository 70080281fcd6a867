"""Bounds of a KPI report request (pure: the time and the catalog's sizes are passed in).

A report is computed on the event loop that also answers FastAGI and AMI, so
what one request may ask for is bounded before any work starts:
- `from` and `to` are finite epoch seconds between 1970 and 2100 (outside,
  dates cannot be formatted, and float steps stop adding up past ~1e16);
- the range is at most `MAX_RANGE_DAYS` days (the service keeps
  `RECOVERY_DAYS` of history in memory; older days come from `ivr reconcile`);
- the report has at most `MAX_ROWS` rows, counted before it is built as
  intervals x the most keys the cut can have (seats for `agent`, queues for
  `group`, ...), so a long range needs a wider interval or a narrower cut.
Each refusal names the field, the limit and what to change.
"""

from __future__ import annotations

import math
from collections.abc import Sized
from dataclasses import dataclass
from typing import Final, Literal, Protocol, get_args

from ivr.catalog.model import CustomerTier

EARLIEST: Final = 0.0  # 1970-01-01T00:00:00Z
LATEST: Final = 4_102_444_800.0  # 2100-01-01T00:00:00Z
MAX_RANGE_DAYS: Final = 31
MAX_ROWS: Final = 20_000

Cut = Literal["group", "agent", "line", "tier", "language", "none"]
TIERS: Final = get_args(CustomerTier)


class CatalogSizes(Protocol):
    @property
    def queues(self) -> Sized: ...
    @property
    def seats(self) -> Sized: ...
    @property
    def numbers(self) -> Sized: ...
    @property
    def languages(self) -> Sized: ...


class RangeRefused(ValueError):
    """A report request outside the bounds; `field` and `limit` go to the HTTP error."""

    def __init__(self, field: str, reason: str, limit: float | int) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason
        self.limit = limit


@dataclass(frozen=True, slots=True)
class CutSizes:
    """The most keys each cut can have in this center (from the catalog)."""

    queues: int
    seats: int
    lines: int
    tiers: int
    languages: int

    @classmethod
    def of(cls, catalog: CatalogSizes) -> CutSizes:
        return cls(
            queues=len(catalog.queues), seats=len(catalog.seats), lines=len(catalog.numbers),
            tiers=len(TIERS), languages=len(catalog.languages),
        )  # fmt: skip

    def keys(self, cut: Cut) -> int:
        # `unknown` is one more key for the line, tier and language cuts.
        return {
            "none": 1,
            "group": self.queues,
            "agent": self.seats,
            "line": self.lines + 1,
            "tier": self.tiers + 1,
            "language": self.languages + 1,
        }[cut]


@dataclass(frozen=True, slots=True)
class KpiWindow:
    start: float
    end: float
    interval: int  # seconds; 0 = one row per key for the whole window
    rows_at_most: int


def kpi_window(
    from_: float | None,
    to: float | None,
    interval: int,
    cut: Cut,
    *,
    now: float,
    day_start: float,
    sizes: CutSizes,
) -> KpiWindow:
    """The validated window of a report (default: today so far), or `RangeRefused`."""
    start = day_start if from_ is None else from_
    end = now if to is None else to
    for field, value in (("from", start), ("to", end)):
        if not math.isfinite(value) or not EARLIEST <= value <= LATEST:
            raise RangeRefused(field, f"must be epoch seconds between {EARLIEST:.0f} and {LATEST:.0f}", LATEST)
    if end <= start:
        raise RangeRefused("to", "must be after from", start)
    if end - start > MAX_RANGE_DAYS * 86400:
        raise RangeRefused("to", f"the range may span at most {MAX_RANGE_DAYS} days", MAX_RANGE_DAYS * 86400)
    if interval % 900:
        raise RangeRefused("interval", "must be a multiple of 900", 900)
    slots = math.ceil((end - (start // interval * interval)) / interval) if interval else 1
    rows = slots * max(1, sizes.keys(cut))
    if rows > MAX_ROWS:
        raise RangeRefused(
            "interval",
            f"the report would have up to {rows} rows, more than {MAX_ROWS}: "
            "widen the interval, shorten the range or choose another cut",
            MAX_ROWS,
        )
    return KpiWindow(start, end, interval, rows)
