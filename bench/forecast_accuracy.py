"""Forecast accuracy: the seasonal baseline against the time-series model, on
demo history at the case study's scale.

Run: `.venv/bin/python bench/forecast_accuracy.py` (about 10 s; `--help` for
options). No PBX, no network.

The demo catalog (callcenter.yaml: 12 skill groups, the office calendar with
the 2026 holidays) and `ivr.scheduling.generator` make `--weeks` weeks (8) of
interval history at 108,000 calls a day (3.26 million a month, the case
study; a Monday peaks at 3.6 calls/s), unscaled: 8 weeks x 7 days x 96
intervals x 12 groups = 64,512 rows. `ivr.scheduling.forecast.evaluate`
trains on all but the last `--holdout-days` days (7) and forecasts those with
both methods; the figures are WAPE, sum |actual - forecast| / sum actual, per
group and over every group's cells, at interval (15 minutes) and day level,
and the model's as a ratio to the baseline's (below 1: the model is better).
`--runs N` repeats with N seeds (and prints the mean of each figure).

Times: the statsmodels import (once per process), each method's forecast of
the held-out days inside `evaluate`, and what an API call costs: `forecast(...,
method="best")` for the 7 days after the history, which evaluates both on the
last week and then forecasts with the winner.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import date, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from ivr.check import load_checked_catalog  # noqa: E402
from ivr.scheduling.forecast import ForecastReport, MethodScore, evaluate, forecast  # noqa: E402
from ivr.scheduling.generator import generate_history  # noqa: E402

CATALOG = REPO / "callcenter.yaml"


def _mean(values: list[float | None]) -> float:
    known = [v for v in values if v is not None]
    return statistics.fmean(known) if known else float("nan")


def _ratio(model: float, baseline: float) -> str:
    return f"{model / baseline:6.2f}" if baseline else "     -"


def _pair(reports: list[ForecastReport], figure: str, group: str | None = None) -> tuple[float, float]:
    """The mean of one figure (a MethodScore field; per group if given) over the runs: baseline, model."""

    def value(score: MethodScore) -> float | None:
        found = getattr(score, figure)
        return found[group] if group is not None else found  # type: ignore[no-any-return]

    return _mean([value(r.seasonal) for r in reports]), _mean([value(r.model) for r in reports])


def _row(label: str, calls: float, interval: tuple[float, float], day: tuple[float, float]) -> None:
    cells = "".join(f"  {base:>9.2%}{model:>9.2%}{_ratio(model, base):>8}" for base, model in (interval, day))
    print(f"{label:<14}{calls:>10,.0f}{cells}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weeks", type=int, default=8, help="weeks of history, held-out days included (default 8)")
    parser.add_argument("--calls-per-day", type=float, default=108_000, help="offered calls a day (default 108000)")
    parser.add_argument("--holdout-days", type=int, default=7, help="last days held out and forecast (default 7)")
    parser.add_argument("--first-day", type=date.fromisoformat, default=date(2026, 3, 2),
                        help="first day of the history, local (default 2026-03-02: the Qingming break is "
                             "in the training weeks)")  # fmt: skip
    parser.add_argument("--seed", type=int, default=95588, help="generator seed of the first run")
    parser.add_argument("--runs", type=int, default=1, help="runs with consecutive seeds, averaged (default 1)")
    args = parser.parse_args(argv)

    catalog = load_checked_catalog(CATALOG)
    started = time.perf_counter()
    # Timed apart: the first forecast of a process pays for it.
    import statsmodels.tsa.statespace.sarimax  # type: ignore[import-untyped]  # noqa: F401

    import_seconds = time.perf_counter() - started
    days = args.weeks * 7
    reports: list[ForecastReport] = []
    generate_seconds: list[float] = []
    best_seconds: list[float] = []
    for run in range(args.runs):
        started = time.perf_counter()
        history = list(generate_history(catalog, args.first_day, days, args.calls_per_day, seed=args.seed + run))
        generate_seconds.append(time.perf_counter() - started)
        reports.append(evaluate(history, catalog, args.holdout_days))
        started = time.perf_counter()
        forecast(history, catalog, args.first_day + timedelta(days=days), 7, "best")
        best_seconds.append(time.perf_counter() - started)

    first = reports[0]
    print(f"history: {days} days from {args.first_day} at {args.calls_per_day:,.0f} calls/day,"
          f" {len(first.actual_calls)} groups, {days * 96 * len(first.actual_calls):,} interval rows;"
          f" held out: {first.days} days from {first.first_day}; runs: {args.runs}")  # fmt: skip
    print()
    print(f"{'WAPE':<14}{'calls':>10}  {'interval level':^26}  {'day level':^26}")
    print(f"{'group':<14}{'held out':>10}" + f"  {'baseline':>9}{'model':>9}{'ratio':>8}" * 2)
    for group in first.actual_calls:
        calls = statistics.fmean(r.actual_calls[group] for r in reports)
        _row(group, calls, _pair(reports, "interval_wape", group), _pair(reports, "day_wape", group))
    calls = statistics.fmean(sum(r.actual_calls.values()) for r in reports)
    _row("total", calls, _pair(reports, "total_interval_wape"), _pair(reports, "total_day_wape"))
    print()
    chosen = [r.best for r in reports]
    print(f"best (lower total interval WAPE): {', '.join(chosen)}")
    fallbacks = sorted({g for r in reports for g in r.model_fallbacks})
    print(f"groups the model left to the baseline: {', '.join(fallbacks) or 'none'}")
    print()
    print(f"{'seconds':<44}{'mean':>8}{'max':>8}")
    for label, values in (
        ("generate history", generate_seconds),
        ("baseline: forecast the held-out days", [r.seasonal.seconds for r in reports]),
        ("model: fit 12 groups, forecast held-out days", [r.model.seconds for r in reports]),
        ("forecast(method='best'), 7 days (API call)", best_seconds),
    ):
        print(f"{label:<44}{statistics.fmean(values):>8.2f}{max(values):>8.2f}")
    print(f"{'statsmodels import (once per process)':<44}{import_seconds:>8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
