"""A real Prometheus server (Debian's package, image `ivr-prometheus:sid`) scrapes
the service every second while a scripted mix of real calls runs; PromQL then
gives back the mix's hand-worked figures from the `_total` counters and the
wait histogram.

The mix (the real catalog's thresholds and buckets 1, 2, 5, 10, 15, 20 ... s):

| call | queue (SL) | what happens | wait (AMI whole seconds) |
| --- | --- | --- | --- |
| 95588 | basic_zh (20 s) | seat 1001 answers at once | 0-5 s: answered in SL |
| 4006695588 | vip (10 s) | seat 1016 rings 11 s, then answers | 11-15 s: answered late |
| 4000095588 | platinum (15 s) | seat 1019 answers at once, then a rating of 5 | 0-5 s: answered in SL |
| 4008795588 | group (nobody there) | the caller hangs up ~2 s after joining | < 5 s: short abandon |
| 4008795588 | group | the caller hangs up ~8 s after joining | 5-10 s: abandoned |

Hand-worked PromQL (deltas since T0, a scrape taken on a quiet PBX just before
the mix, so calls of earlier tests in the session do not count):
- offered 5 (main 1, vip 1, platinum 1, group 2), answered 3, answered within
  the service level 2, abandoned 1 (group), short abandoned 1 (group), talk
  times 3, one rating "5" on platinum;
- the 90th percentile of the answered waits: 3 waits, two in the buckets up to
  5 s and one in (10, 15]; rank 0.9 x 3 = 2.7 falls in (10, 15], 0.7 of the
  way through its one observation: 10 + 5 x 0.7 = 13.5 s;
- the 90th percentile of the abandoned waits in group: one below 5 s, one in
  (5, 10]; rank 0.9 x 2 = 1.8: 5 + 5 x 0.8 = 9.0 s.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.harness import REPO, SLOT, EventLog, IvrService, Pbx, Sipp, free_port, wait_until
from tests.e2e.test_metrics import fast_and_late_seats, run_mix  # noqa: F401 - the fixture, by name

pytestmark = pytest.mark.e2e
IMAGE = "ivr-prometheus:sid"
ARTIFACTS = REPO / "test-artifacts"


@dataclass
class Prometheus:
    """The Prometheus container (host network, 127.0.0.1 only) and its query API."""

    name: str
    port: int

    def query(self, expr: str) -> list[tuple[dict[str, str], float]]:
        url = f"http://127.0.0.1:{self.port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                body = json.loads(response.read())
        except urllib.error.HTTPError as exc:  # 400: the query does not parse or evaluate
            raise AssertionError(f"{expr}: {exc.read().decode()}") from None
        assert body["status"] == "success", body
        data = body["data"]
        if data["resultType"] == "scalar":
            return [({}, float(data["result"][1]))]
        return [(item["metric"], float(item["value"][1])) for item in data["result"]]

    def value(self, expr: str) -> float | None:
        """The one value of `expr`, or None when it has no result."""
        result = self.query(expr)
        assert len(result) <= 1, f"{expr}: {result}"
        return result[0][1] if result else None

    def ready(self) -> bool:
        running = subprocess.run(
            ["docker", "inspect", "-f", "{{.State.Running}}", self.name], capture_output=True, text=True, check=False
        )
        if running.stdout.strip() != "true":
            raise AssertionError(f"Prometheus exited:\n{self.logs()[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    def logs(self) -> str:
        result = subprocess.run(["docker", "logs", self.name], capture_output=True, text=True, check=False)
        return result.stdout + result.stderr


def scrape_config(settings, token: str) -> str:  # type: ignore[no-untyped-def]
    return json.dumps(  # JSON is YAML: no YAML writer needed for four keys
        {
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
            "scrape_configs": [
                {
                    "job_name": "ivr",
                    "metrics_path": "/metrics",
                    "authorization": {"type": "Bearer", "credentials": token},
                    "static_configs": [{"targets": [f"127.0.0.1:{settings.http_port}"]}],
                }
            ],
        },
        indent=2,
    )


@pytest.fixture(scope="module")
def prometheus(ivr_service: IvrService, settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:  # type: ignore[no-untyped-def]
    if subprocess.run(["docker", "image", "inspect", IMAGE], capture_output=True, check=False).returncode:
        subprocess.run([str(REPO / "scripts" / "build-images.sh")], check=True)
    config_dir: Path = tmp_path_factory.mktemp("prometheus")
    config_dir.chmod(0o755)  # read by the image's `prometheus` user
    config = config_dir / "prometheus.yml"
    config.write_text(scrape_config(settings, "viewer-demo"))
    config.chmod(0o644)
    server = Prometheus(f"ivr-test-prometheus-{SLOT}", free_port(kind=socket.SOCK_STREAM))
    subprocess.run(["docker", "rm", "-f", server.name], capture_output=True, check=False)
    subprocess.run(
        ["docker", "run", "-d", "--name", server.name, "--network", "host",
         "-v", f"{config_dir}:/etc/ivr-prometheus:ro", IMAGE,
         "--config.file=/etc/ivr-prometheus/prometheus.yml", "--storage.tsdb.path=/var/lib/prometheus/data",
         f"--web.listen-address=127.0.0.1:{server.port}"],
        check=True, capture_output=True,
    )  # fmt: skip
    try:
        wait_until(server.ready, 60, "Prometheus to be ready")
        wait_until(lambda: server.value('up{job="ivr"}') == 1, 30, "Prometheus to scrape the service")
        yield server
    finally:
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / "prometheus.log").write_text(server.logs())
        subprocess.run(["docker", "rm", "-f", server.name], capture_output=True, check=False)


def quiet_scrape(server: Prometheus, after: float) -> float:
    """The time of a scrape taken after `after` with no abandon pending: the mix's T0."""
    found: list[float] = []

    def scraped() -> bool:
        at = server.value("timestamp(ivr_calls_abandons_pending == 0)")
        if at is not None and at > after:
            found.append(at)
        return bool(found)

    wait_until(scraped, 30, "a scrape of the quiet service")
    return found[0]


def figures(server: Prometheus, t0: float) -> dict[str, object]:
    at_t0 = f"@ {t0:.3f}"

    def delta(series: str) -> float | None:
        return server.value(f"sum({series}) - (sum({series} {at_t0}) or vector(0))")

    def by(label: str, series: str) -> dict[str, float]:
        now, then = f"sum by ({label}) ({series})", f"sum by ({label}) ({series} {at_t0})"
        rows = server.query(f"{now} - ({then} or {now} * 0)")
        return {row[label]: v for row, v in rows if v}

    def p90(selector: str) -> float | None:
        buckets = f"ivr_queue_wait_seconds_bucket{{{selector}}}"
        return server.value(f"histogram_quantile(0.9, sum by (le) ({buckets} - {buckets} {at_t0}))")

    return {
        "offered by queue": by("queue", "ivr_calls_offered_total"),
        "offered by line": by("line", "ivr_calls_offered_total"),
        "answered": delta("ivr_calls_answered_total"),
        "answered in service level": delta("ivr_calls_answered_in_service_level_total"),
        "abandoned": by("queue", "ivr_calls_abandoned_total"),
        "short abandoned": by("queue", "ivr_calls_short_abandoned_total"),
        "talk times": delta("ivr_queue_talk_seconds_count"),
        "ratings": by("rating", 'ivr_survey_ratings_total{queue="platinum"}'),
        "p90 answered wait": p90('outcome="answered"'),
        "p90 abandoned wait in group": p90('outcome="abandoned",queue="group"'),
    }


EXPECTED: dict[str, object] = {
    "offered by queue": {"basic_zh": 1, "vip": 1, "platinum": 1, "group": 2},
    "offered by line": {"main": 1, "vip": 1, "platinum": 1, "group": 2},
    "answered": 3,
    "answered in service level": 2,
    "abandoned": {"group": 1},
    "short abandoned": {"group": 1},
    "talk times": 3,
    "ratings": {"5": 1},
    "p90 answered wait": 13.5,
    "p90 abandoned wait in group": 9.0,
}


@pytest.mark.usefixtures("fast_and_late_seats")
def test_real_prometheus_scraping_a_call_mix_gives_the_hand_worked_counts_and_percentiles(
    pbx: Pbx, ivr_service: IvrService, prometheus: Prometheus, sipp: Sipp, events: EventLog
) -> None:
    wait_until(lambda: "0 active calls" in pbx.cli("core show channels count"), 60, "earlier tests' calls to end")
    t0 = quiet_scrape(prometheus, after=time.time())

    callers = run_mix(sipp, events, late_abandon_ms=9000)

    seen: list[dict[str, object]] = []

    def settled() -> bool:
        seen.append(figures(prometheus, t0))
        return seen[-1] == EXPECTED

    try:  # abandons count once their 5 s grace has passed, then the next scrape has them
        wait_until(settled, 40, "Prometheus to show the mix", interval=0.5)
    except AssertionError:
        pytest.fail(f"PromQL figures after the mix: {seen[-1] if seen else None}\nexpected: {EXPECTED}")

    # Labels stay bounded: no caller number ever became a label value.
    for label in ("queue", "line", "tier", "language", "session"):
        with urllib.request.urlopen(f"http://127.0.0.1:{prometheus.port}/api/v1/label/{label}/values") as r:
            values = json.loads(r.read())["data"]
        assert not any(number in value for number in callers for value in values), (label, values)
    # Both AMI sessions report their logins (reconnects depend on earlier tests: present, not counted).
    logins = {row["session"]: v for row, v in prometheus.query("ivr_ami_logins_total")}
    assert logins.keys() >= {"metrics", "control"} and min(logins.values()) >= 1
    assert {row["session"] for row, _ in prometheus.query("ivr_ami_reconnects_total")} >= {"metrics", "control"}


def test_every_dashboard_query_is_valid_promql_on_the_real_server(prometheus: Prometheus) -> None:
    dashboard = json.loads((REPO / "deploy" / "grafana" / "dashboards" / "ivr-center.json").read_text())
    grafana = {"$__rate_interval": "1m", "$__range": "1h", "$queue": ".*"}  # what Grafana substitutes
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", ())]
    assert exprs
    for expr in exprs:
        for variable, value in grafana.items():
            expr = expr.replace(variable, value)
        assert "$" not in expr, expr
        prometheus.query(expr)  # raises on a parse or evaluation error
