"""Specs of the shipped Grafana dashboard: every PromQL expression in it asks for
series the service exports (read from a real exposition of its collectors),
with labels those series carry, and the provisioning files point at it."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from ivr.metrics.counters import CallCounters
from ivr.metrics.events import CallerExited, SurveyRated
from ivr.metrics.prometheus import AmiSessionCollector, CallCounterCollector, CenterCollector, exposition
from ivr.metrics.stats import PipelineStats
from tests.unit.metrics.center import CATALOG
from tests.unit.metrics.day import NOW, morning, morning_state

REPO = Path(__file__).resolve().parents[2]
GRAFANA = REPO / "deploy" / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "ivr-center.json"

# Series the dashboard may use that this service's metrics collectors do not
# make, in one place: Prometheus's own `up`, and the FastAGI server's series
# (exported by ivr/agi, not by the collectors built below).
EXTERNAL_SERIES: dict[str, frozenset[str]] = {
    "up": frozenset({"job", "instance"}),
    "ivr_agi_sessions_total": frozenset({"script"}),
    "ivr_agi_failures_total": frozenset({"script"}),
    "ivr_agi_hangups_total": frozenset({"script"}),
    "ivr_agi_command_seconds_bucket": frozenset({"command", "le"}),
    "ivr_agi_command_seconds_sum": frozenset({"command"}),
    "ivr_agi_command_seconds_count": frozenset({"command"}),
}
PROMETHEUS_LABELS = frozenset({"job", "instance"})  # added by every scrape
KEYWORDS = frozenset(
    {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool", "offset",
     "inf", "nan", "sum", "min", "max", "avg", "count", "stddev", "stdvar", "topk", "bottomk", "quantile",
     "count_values", "group"}
)  # fmt: skip


@dataclass
class FakeSession:
    name: str = "metrics"
    logins: int = 1
    reconnects: int = 0
    connected: bool = True
    dropped_events: int = 0


def exported_series() -> dict[str, frozenset[str]]:
    """Sample name -> label names, from the exposition of a center with a morning of calls."""
    counters = CallCounters.of(CATALOG)
    counters.observe_all(morning(), now=NOW)
    counters.observe_all(  # one call moved on, one rated: every family has samples
        [
            CallerExited(at=NOW, queue="english", uniqueid="c7", reason="timeout", position=1, original_position=1,
                         hold_time=90),
            SurveyRated(at=NOW, uniqueid="c1", queue="basic_zh", agent="1001", line="main", rating=5),
        ],
        now=NOW,
    )  # fmt: skip
    text = exposition(
        CenterCollector(morning_state(), CATALOG, clock=lambda: NOW, pipeline=PipelineStats(),
                        subscribers=lambda: 0, backlog=lambda: 0),
        CallCounterCollector(counters, clock=lambda: NOW + 60),
        AmiSessionCollector([FakeSession()]),
    ).decode()  # fmt: skip
    series: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            series.setdefault(sample.name, set()).update(sample.labels)
    return {name: frozenset(labels) for name, labels in series.items()}


def expressions(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(where, PromQL) for every panel target and every query variable."""
    for panel in dashboard["panels"]:
        for target in panel.get("targets", ()):
            yield f"panel {panel['title']!r} {target['refId']}", target["expr"]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            found = re.fullmatch(r"label_values\((\w+),\s*(\w+)\)", variable["definition"])
            assert found, f"variable {variable['name']}: unexpected query {variable['definition']!r}"
            yield f"variable {variable['name']!r}", f"{found[1]}{{{found[2]}!=''}}"


def metric_names(expr: str) -> set[str]:
    """The series names a PromQL expression selects (not functions, keywords or labels)."""
    bare = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    bare = re.sub(r"\{[^}]*\}", " ", bare)
    bare = re.sub(r"\[[^\]]*\]", " ", bare)
    bare = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", bare)
    bare = re.sub(r"\$\{?\w+\}?", " ", bare)
    names = set()
    for found in re.finditer(r"(?<![\w.])[a-zA-Z_:][\w:]*", bare):
        if bare[found.end() :].lstrip().startswith("(") or found[0] in KEYWORDS:
            continue
        names.add(found[0])
    return names


def matchers(expr: str) -> Iterator[tuple[str, set[str]]]:
    """(series name, label names it is matched on) for every `name{...}` in the expression."""
    for found in re.finditer(r"([a-zA-Z_:][\w:]*)\s*\{([^}]*)\}", expr):
        yield found[1], set(re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", found[2]))


def grouping_labels(expr: str) -> set[str]:
    return {
        label.strip()
        for group in re.findall(r"\b(?:by|without)\s*\(([^)]*)\)", expr)
        for label in group.split(",")
        if label.strip()
    }


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def known() -> dict[str, frozenset[str]]:
    return {**exported_series(), **EXTERNAL_SERIES}


def test_every_series_in_the_dashboard_is_one_the_service_exports(
    dashboard: dict[str, Any], known: dict[str, frozenset[str]]
) -> None:
    unknown = {
        (where, name) for where, expr in expressions(dashboard) for name in metric_names(expr) if name not in known
    }
    assert not unknown, f"series the service does not export: {sorted(unknown)}"


def test_every_label_the_dashboard_matches_or_groups_by_is_on_its_series(
    dashboard: dict[str, Any], known: dict[str, frozenset[str]]
) -> None:
    for where, expr in expressions(dashboard):
        labels = set().union(*(known[name] for name in metric_names(expr))) | PROMETHEUS_LABELS
        for name, matched in matchers(expr):
            assert matched <= known[name] | PROMETHEUS_LABELS, f"{where}: {name} has no label {matched - known[name]}"
        assert grouping_labels(expr) <= labels, f"{where}: grouped by {grouping_labels(expr) - labels}"


def test_rates_and_increases_are_taken_of_counters_only(dashboard: dict[str, Any]) -> None:
    for where, expr in expressions(dashboard):
        for name in re.findall(r"\b(?:rate|increase|irate)\(\s*([a-zA-Z_:][\w:]*)", expr):
            assert name.endswith(("_total", "_bucket", "_sum", "_count")), f"{where}: rate of a gauge {name}"


def test_percentiles_come_from_histogram_buckets(dashboard: dict[str, Any]) -> None:
    quantiles = [expr for _, expr in expressions(dashboard) if "histogram_quantile" in expr]
    assert quantiles
    assert all("_bucket" in expr and "by (le" in expr for expr in quantiles)
    assert any("ivr_queue_wait_seconds_bucket" in expr for expr in quantiles)


def test_the_dashboard_has_the_panels_a_supervisor_needs(dashboard: dict[str, Any]) -> None:
    used = {name for _, expr in expressions(dashboard) for name in metric_names(expr)}
    for series in (
        "ivr_calls_offered_total", "ivr_calls_answered_total", "ivr_calls_abandoned_total",
        "ivr_calls_answered_in_service_level_total", "ivr_queue_wait_seconds_bucket", "ivr_queue_talk_seconds_sum",
        "ivr_agent_state", "ivr_queue_callers_waiting", "ivr_ami_reconnects_total", "ivr_pipeline_store_backlog",
    ):  # fmt: skip
        assert series in used, f"no panel uses {series}"


def test_panels_use_the_dashboard_data_source_and_fit_the_grid(dashboard: dict[str, Any]) -> None:
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        if panel["type"] != "row":
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
    assert not re.search(r"\d{11}", DASHBOARD.read_text()), "a phone number in the dashboard"


def test_provisioning_points_grafana_at_the_dashboard_and_a_prometheus() -> None:
    dashboards = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "ivr.yaml").read_text())
    sources = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yaml").read_text())

    (provider,) = dashboards["providers"]
    assert provider["type"] == "file" and provider["options"]["path"]
    (source,) = sources["datasources"]
    assert source["type"] == "prometheus" and source["url"].startswith("http://127.0.0.1:")


def test_the_name_parser_finds_series_not_functions_or_labels() -> None:
    expr = 'histogram_quantile(0.9, sum by (le, queue) (rate(a_bucket{q=~"$queue"}[5m]))) / on(queue) b_total or c'
    assert metric_names(expr) == {"a_bucket", "b_total", "c"}
    assert dict(matchers(expr)) == {"a_bucket": {"q"}}
    assert grouping_labels(expr) == {"le", "queue"}
