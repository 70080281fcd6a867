"""Specs of the API and wallboard views, on the scripted morning of `day.py`."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from datetime import UTC

import pytest

from ivr.metrics import kpi, views
from ivr.metrics.views import kpi_status, kpis_csv, render_wallboard, sse_event

from .center import CATALOG
from .day import NOW, morning_state
from .script import T0

SHANGHAI = views.timezone_of(CATALOG)


@pytest.mark.parametrize(
    ("value", "target", "higher", "status"),
    [
        (0.80, 0.80, True, "green"),
        (0.72, 0.80, True, "amber"),  # missed by exactly 10 % of the target
        (0.71, 0.80, True, "red"),
        (20.0, 20.0, False, "green"),
        (22.0, 20.0, False, "amber"),
        (22.1, 20.0, False, "red"),
        (0.055, 0.05, False, "amber"),
        (None, 0.80, True, "none"),
        (0.5, None, True, "none"),
    ],
)
def test_status_is_green_on_target_amber_within_ten_percent_red_beyond(
    value: float | None, target: float | None, higher: bool, status: str
) -> None:
    assert kpi_status(value, target, higher_is_better=higher) == status


def test_queue_view_shows_floor_today_and_kpis_against_catalog_targets() -> None:
    state = morning_state()
    rows = state.today(NOW, views.utc_offset_seconds(CATALOG, NOW), "group")
    basic, english = views.queues_view(state.snapshot(NOW), rows, CATALOG)

    assert basic["queue"] == "basic_zh" and basic["name"] == "Mandarin basic service"
    assert (basic["waiting"], basic["agents"]["available"]) == (0, 2)
    assert basic["today"] | {} == {
        "offered": 6, "answered": 4, "abandoned": 1, "short_abandoned": 1, "exited": 0,
        "waiting": 0, "answered_in_service_level": 3,
    }  # fmt: skip
    kpis = basic["kpis"]
    assert kpis["service_level"] == {"value": 0.6, "target": 0.6, "status": "green"}
    assert kpis["answer_rate"] == {"value": 0.6667, "target": 0.7, "status": "amber"}
    assert kpis["abandon_rate"] == {"value": 0.2, "target": 0.05, "status": "red"}
    assert kpis["asa"] == {"value": 15.0, "target": 20.0, "status": "green"}
    assert kpis["aht"] == {"value": 165.0, "target": 160.0, "status": "amber"}
    assert kpis["waiting"]["status"] == "green"

    assert (english["waiting"], english["longest_wait"]) == (1, 90.0)
    assert english["agents"]["paused"] == 1
    assert english["kpis"]["longest_wait"] == {"value": 90.0, "target": 20.0, "status": "red"}
    assert english["kpis"]["waiting"]["status"] == "red"
    assert english["kpis"]["asa"]["status"] == "none"  # nobody answered yet


def test_agents_view_gives_state_time_in_state_and_pause_reason() -> None:
    agents = views.agents_view(morning_state().snapshot(NOW), CATALOG)
    assert [(a["agent"], a["name"], a["state"], a["time_in_state"], a["reason"]) for a in agents] == [
        ("1001", "Li Na", "available", 475.0, ""),  # free since c5 ended at +1315
        ("1002", "Wang Wei", "available", 625.0, ""),  # free since c6 ended at +1165
        ("1003", "Anna", "paused", 1690.0, "training"),
    ]


def test_interval_report_csv_has_a_header_and_one_row_per_interval_and_group() -> None:
    rows = morning_state().kpis(T0, T0 + 1800, "group")
    assert kpis_csv(rows, SHANGHAI) == (
        "interval_start,interval_end,group,offered,answered,abandoned,short_abandoned,exited,"
        "answered_in_service_level,service_level_pct,answer_rate_pct,abandon_rate_pct,"
        "asa_seconds,aht_seconds,average_talk_seconds,longest_wait_seconds\r\n"
        "2023-11-15T06:00:00+08:00,2023-11-15T06:15:00+08:00,basic_zh,4,2,1,1,0,1,"
        "33.3,50.0,33.3,20.0,150.0,150.0,40.0\r\n"
        "2023-11-15T06:15:00+08:00,2023-11-15T06:30:00+08:00,basic_zh,2,2,0,0,0,2,"
        "100.0,100.0,0.0,10.0,180.0,180.0,15.0\r\n"
        "2023-11-15T06:15:00+08:00,2023-11-15T06:30:00+08:00,english,1,0,0,0,0,0,"
        "0.0,0.0,0.0,,,,0.0\r\n"
    )


def test_csv_quotes_per_rfc_4180_and_defuses_formula_cells() -> None:
    (row,) = morning_state().kpis(T0, T0 + 900, None, interval=None)
    odd = dataclasses.replace(row, key='=cmd,"x"')
    text = kpis_csv([odd], UTC)
    assert '"\'=cmd,""x"""' in text
    (parsed,) = list(csv.DictReader(io.StringIO(text)))[:1]
    assert parsed["group"] == '\'=cmd,"x"'


def test_kpis_view_keeps_every_row_field_with_local_interval_bounds() -> None:
    rows = morning_state().kpis(T0, T0 + 900, "group")
    (item,) = views.kpis_view(rows, SHANGHAI)
    assert item["interval_start"] == "2023-11-15T06:00:00+08:00"
    assert (item["key"], item["offered"], item["service_level"]) == ("basic_zh", 4, 1 / 3)
    json.dumps(item)


def test_wallboard_payload_has_totals_queues_agents_lines_tiers_and_intervals() -> None:
    payload = render_wallboard(morning_state(), CATALOG, NOW)
    json.dumps(payload, allow_nan=False)
    assert payload["version"] == 1 and payload["at"] == NOW
    assert payload["center"] == {"name": "Test Center", "timezone": "Asia/Shanghai"}
    totals = payload["totals"]
    assert (totals["waiting"], totals["offered"], totals["answered"]) == (1, 7, 4)
    assert [q["queue"] for q in payload["queues"]] == ["basic_zh", "english"]
    assert [a["agent"] for a in payload["agents"]] == ["1001", "1002", "1003"]
    assert [(x["line"], x["number"], x["offered"]) for x in payload["lines"]] == [
        ("main", "95588", 5), ("vip", "4006695588", 1), ("platinum", "4000095588", 1),
    ]  # fmt: skip
    assert [(x["tier"], x["offered"]) for x in payload["tiers"]] == [
        ("standard", 5), ("platinum", 1), ("vip", 1),
    ]  # fmt: skip
    intervals = payload["intervals"]
    assert len(intervals) == 26  # 00:00 .. 06:15 local, every 15 minutes
    assert (intervals[0]["label"], intervals[-2]["label"], intervals[-1]["label"]) == (
        "00:00", "06:00", "06:15",
    )  # fmt: skip
    assert [(x["offered"], x["answered"]) for x in intervals[-2:]] == [(4, 2), (3, 2)]


def test_unknown_queue_and_line_are_shown_after_the_catalog_ones() -> None:
    from ivr.metrics.events import CallerJoined

    state = morning_state()
    state.apply(
        CallerJoined(
            at=NOW - 5, queue="zz_test", uniqueid="x1", caller_hash=None, position=1,
            line="",
        )
    )  # fmt: skip
    payload = render_wallboard(state, CATALOG, NOW)
    assert payload["queues"][-1]["queue"] == "zz_test"
    assert payload["queues"][-1]["kpis"]["service_level"]["status"] == "none"
    assert payload["lines"][-1]["line"] == "unknown"


def test_sse_event_is_one_data_line_of_compact_json() -> None:
    body = sse_event({"a": "第一\nline", "n": 1})
    assert body == 'data: {"a":"第一\\nline","n":1}\n\n'.encode()
    assert sse_event({}, event="snapshot", event_id="7").startswith(b"event: snapshot\nid: 7\n")
    with pytest.raises(ValueError):
        sse_event({}, event="a\nb")


def test_the_wallboard_from_live_sums_equals_one_recomputed_from_every_call() -> None:
    state = morning_state()
    day = kpi.day_start(NOW, views.utc_offset_seconds(CATALOG, NOW))
    today = [row for cut in (None, "group", "line", "tier") for row in state.kpis(day, NOW, cut, interval=None)]
    intervals = state.kpis(day, NOW, None, interval=kpi.INTERVAL_SECONDS)

    recomputed = views.wallboard_payload(state.snapshot(NOW), today, intervals, CATALOG, NOW)

    assert render_wallboard(state, CATALOG, NOW) == recomputed
    assert list(render_wallboard(state, CATALOG, NOW)) == list(recomputed) == list(views.WALLBOARD_SECTIONS)
