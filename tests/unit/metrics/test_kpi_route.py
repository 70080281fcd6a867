"""Specs of GET /api/kpis: bounded ranges (a clear 400 naming the limit), reports
built in slices that let the event loop serve calls, streamed JSON and CSV equal
to the reducer's rows."""

from __future__ import annotations

import asyncio
import csv
import io
import time
from collections.abc import AsyncIterator, Callable
from zoneinfo import ZoneInfo

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from ivr.app import CATALOG as CATALOG_KEY
from ivr.metrics.adapters.http import STATE, kpis_handler
from ivr.metrics.events import CallerJoined
from ivr.metrics.query import MAX_RANGE_DAYS, MAX_ROWS, CutSizes, RangeRefused, kpi_window
from ivr.metrics.reducer import CenterState, group_configs
from ivr.metrics.views import kpis_view
from ivr.web import error_middleware

from .center import CATALOG
from .day import NOW, morning_state
from .script import T0

Client = TestClient[web.Request, web.Application]
SIZES = CutSizes(queues=8, seats=1795, lines=4, tiers=5, languages=6)
SEATS = tuple(CATALOG.seats[0].model_copy(update={"id": str(1000 + n)}) for n in range(1795))  # the case study's floor
DAY = 86400


def served_app(state: CenterState, *, clock: Callable[[], float]) -> web.Application:
    app = web.Application(middlewares=[error_middleware])
    app[STATE], app[CATALOG_KEY] = state, CATALOG.model_copy(update={"seats": SEATS})
    app.router.add_get("/api/kpis", kpis_handler(clock=clock))
    return app


@pytest.fixture
async def client() -> AsyncIterator[Client]:
    app = served_app(morning_state(), clock=lambda: NOW)
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


async def refusal(client: Client, query: str) -> dict[str, object]:
    response = await client.get(f"/api/kpis?{query}")
    body = await response.json()
    assert response.status == 400, body
    assert body["error_id"] == "invalid_request"
    errors = body["details"]["errors"]
    assert isinstance(errors, list) and len(errors) == 1
    return errors[0]  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    "query",
    ["from=nan", "from=-inf", "to=inf", "from=-1e300&to=0", "from=1e19", "from=1000000000000", "to=1e19"],
)
async def test_a_range_that_is_not_finite_epoch_seconds_between_1970_and_2100_is_400(
    client: Client, query: str
) -> None:
    error = await refusal(client, query)
    assert error["field"] in ("from", "to")


async def test_a_range_longer_than_31_days_is_400_with_the_limit(client: Client) -> None:
    error = await refusal(client, f"from={NOW - 32 * DAY}&to={NOW}&group_by=none")
    assert error["field"] == "to" and error["limit"] == MAX_RANGE_DAYS * DAY
    assert "31 days" in str(error["reason"])


async def test_a_report_of_more_rows_than_the_limit_is_400_saying_what_to_change(client: Client) -> None:
    # 1,795 seats x 96 intervals of one day: 172,320 possible rows.
    error = await refusal(client, f"from={NOW - DAY}&to={NOW}&group_by=agent&interval=900")
    assert error["field"] == "interval" and error["limit"] == MAX_ROWS
    assert "widen the interval" in str(error["reason"])


async def test_thirty_one_days_by_15_minutes_for_the_center_is_served(client: Client) -> None:
    response = await client.get(f"/api/kpis?from={NOW - 31 * DAY}&to={NOW}&group_by=none")
    assert response.status == 200
    body = await response.json()
    assert len(body["rows"]) == 31 * 96 + 1  # every interval, empty ones too


async def test_the_streamed_json_equals_the_reducers_rows(client: Client) -> None:
    response = await client.get(f"/api/kpis?from={T0}&to={NOW}&group_by=group&interval=900")
    body = await response.json()
    expected = kpis_view(morning_state().kpis(T0, NOW, "group", interval=900), ZoneInfo("Asia/Shanghai"))
    assert body == {"from": T0, "to": NOW, "rows": expected}
    assert [r["key"] for r in body["rows"]] == ["basic_zh", "basic_zh", "english"]


async def test_the_csv_has_one_header_then_every_row(client: Client) -> None:
    response = await client.get(f"/api/kpis?from={NOW - 2 * DAY}&to={NOW}&group_by=none&format=csv")
    assert response.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(await response.text())))
    assert rows[0][:3] == ["interval_start", "interval_end", "group"]
    assert sum(1 for row in rows if row[0] == "interval_start") == 1
    assert len(rows) == 1 + 2 * 96 + 1


def test_the_window_defaults_to_today_so_far() -> None:
    window = kpi_window(None, None, 900, "group", now=NOW, day_start=NOW - 100, sizes=SIZES)
    assert (window.start, window.end, window.interval) == (NOW - 100, NOW, 900)


def test_the_row_estimate_counts_intervals_times_the_keys_of_the_cut() -> None:
    window = kpi_window(0.0, 3600.0, 900, "line", now=NOW, day_start=0, sizes=SIZES)
    assert window.rows_at_most == 4 * (4 + 1)  # four lines and `unknown`
    assert kpi_window(0.0, 30 * DAY, 0, "agent", now=NOW, day_start=0, sizes=SIZES).rows_at_most == 1795
    with pytest.raises(RangeRefused, match="multiple of 900"):
        kpi_window(0.0, 3600.0, 600, "none", now=NOW, day_start=0, sizes=SIZES)


def busy_day(calls: int) -> CenterState:
    state = CenterState(group_configs(CATALOG))
    for n in range(calls):
        state.apply(
            CallerJoined(
                at=T0 + n * 0.5, queue="basic_zh", uniqueid=f"u{n}", caller_hash=None, position=1,
                line="main", tier="standard", language="zh",
            )
        )  # fmt: skip
    return state


async def test_a_report_over_a_busy_day_lets_the_event_loop_run_between_slices() -> None:
    state = busy_day(20_000)
    app = served_app(state, clock=lambda: T0 + DAY - 1)
    ticks = 0

    async def other_work() -> None:  # stands in for FastAGI and AMI on the same loop
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    async with TestClient(TestServer(app)) as client:
        ticker = asyncio.create_task(other_work())
        try:
            response = await client.get(f"/api/kpis?from={T0}&to={T0 + DAY - 1}&group_by=none&interval=0")
            body = await response.json()
        finally:
            ticker.cancel()
    assert body["rows"][0]["offered"] == 20_000
    # At least one tick per slice of 2,000 calls: the loop was never held for the whole report.
    assert ticks >= 20_000 // 2000


def test_the_sliced_report_equals_the_whole_one() -> None:
    state = busy_day(5_000)
    steps = list(state.kpi_steps(T0, T0 + DAY, "group", interval=900, chunk=100))
    assert steps[:-1] == [None] * (len(steps) - 1) and len(steps) > 50
    assert steps[-1] == state.kpis(T0, T0 + DAY, "group", interval=900)


def test_kpi_steps_of_a_day_take_a_bounded_time_per_slice_measured_not_asserted() -> None:
    # Documentation of the slice size, not a timing assertion: print it.
    state = busy_day(20_000)
    started = time.perf_counter()
    slices = sum(1 for _ in state.kpi_steps(T0, T0 + DAY, None, interval=900))
    print(f"{slices} slices, {(time.perf_counter() - started) / slices * 1000:.2f} ms per slice")
    assert slices >= 10
