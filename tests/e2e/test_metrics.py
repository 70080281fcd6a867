"""Live call-center KPIs, end to end: a scripted mix of real calls with known
outcomes, read back from the JSON API, the CSV export and Prometheus, then
again after restarting the ivr service and after restarting Asterisk, and
reconciled against Asterisk's own queue_log.

The mix (the real catalog's thresholds):
- 95588 -> basic_zh (SL 20 s): seat 1001 answers at once        -> answered within SL
- 4006695588 -> vip (SL 10 s): seat 1016 rings 11 s, then answers -> answered late
- 4008795588 -> group, nobody logged in: caller gives up after 2 s -> short abandon
- 4008795588 -> group: caller gives up after 7 s                   -> abandoned
- 4000095588 -> platinum (SL 15 s): seat 1019 answers at once, hangs up,
  the caller rates the call 5 in the post-call survey              -> CSAT 5.0
"""

from __future__ import annotations

import csv
import io
import itertools
import time
from collections.abc import Iterator

import pytest

from tests.e2e.harness import EventLog, IvrService, Pbx, Sipp, free_port, queue_log_outcome, wait_until

pytestmark = pytest.mark.e2e
_callers = itertools.count(1)


def caller() -> str:
    return f"1390055{next(_callers):04d}"


@pytest.fixture(scope="module")
def fast_and_late_seats(pbx: Pbx, settings, sipp_logs) -> Iterator[None]:  # type: ignore[no-untyped-def]
    sipp = Sipp(settings, sipp_logs)
    fast, late = free_port(), free_port()
    with sipp.seats_answering(fast, talk_ms=1500), sipp.seats_answering(late, 1500, "seat_answer_late.xml"):
        assert sipp.register(["1001", "1019"], fast).returncode == 0
        assert sipp.register(["1016"], late).returncode == 0
        yield
        sipp.unregister(["1001", "1016", "1019"])


def run_mix(sipp: Sipp, events: EventLog, late_abandon_ms: int = 7000) -> list[str]:
    """Place the five calls at once and wait until each has left its queue and
    the rating is in (the second group caller gives up `late_abandon_ms` after
    asking for an agent)."""
    callers = [caller() for _ in range(5)]
    mark = events.mark()
    procs = [
        sipp.call("95588", callers[0]),
        sipp.call("4006695588", callers[1]),
        # 0 for an agent during the greeting, then give up 2 s / 7 s after joining the queue.
        sipp.call("4008795588", callers[2], keys=((1500, "0"),), hangup_after_ms=2000),
        sipp.call("4008795588", callers[3], keys=((1500, "0"),), hangup_after_ms=late_abandon_ms),
        # 0 for an agent; after the agent hangs up (1.5 s of talk), 5 in the survey.
        sipp.call("4000095588", callers[4], keys=((1500, "0"), (2000, "0"), (4000, "5"))),
    ]
    try:
        for number in callers:
            joined = events.wait_for(
                lambda e, n=number: e.name == "QueueCallerJoin" and e.get("CallerIDNum") == n, since=mark,
                what=f"{number} joining a queue",
            )
            # queue_log, not AMI: Asterisk was seen not to send an AgentComplete it
            # logged (the service catches such an event up from queue_log).
            uniqueid = joined.get("Uniqueid") or ""
            wait_until(lambda u=uniqueid: queue_log_outcome(events.settings, u) is not None, 40,
                       f"{number} to complete or abandon")  # fmt: skip
        events.wait_for(lambda e: e.name == "UserEvent" and e.get("UserEvent") == "IvrSurvey"
                        and e.get("CallerIDNum") == callers[4], since=mark, timeout=30, what="the rating")  # fmt: skip
        for proc in procs:
            assert proc.wait(30) == 0
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    return callers


def figures(service: IvrService, since: float) -> dict[str, dict[str, object]]:
    rows = service.get_json(f"/api/kpis?from={since}&interval=0&group_by=group")["rows"]
    keep = ("offered", "answered", "abandoned", "short_abandoned", "answered_in_service_level", "service_level",
            "handled", "surveys", "csat_mean")  # fmt: skip
    return {row["key"]: {k: row[k] for k in keep} for row in rows if row["offered"]}


NO_SURVEY = {"surveys": 0, "csat_mean": None}
EXPECTED = {
    "basic_zh": {"offered": 1, "answered": 1, "abandoned": 0, "short_abandoned": 0,
                 "answered_in_service_level": 1, "service_level": 1.0, "handled": 1, **NO_SURVEY},
    "vip": {"offered": 1, "answered": 1, "abandoned": 0, "short_abandoned": 0,
            "answered_in_service_level": 0, "service_level": 0.0, "handled": 1, **NO_SURVEY},
    # SL = answered within threshold / (offered - short abandons) = 0 / 1
    "group": {"offered": 2, "answered": 0, "abandoned": 1, "short_abandoned": 1,
              "answered_in_service_level": 0, "service_level": 0.0, "handled": 0, **NO_SURVEY},
    "platinum": {"offered": 1, "answered": 1, "abandoned": 0, "short_abandoned": 0,
                 "answered_in_service_level": 1, "service_level": 1.0, "handled": 1, "surveys": 1, "csat_mean": 5.0},
}  # fmt: skip


def prometheus_value(service: IvrService, name: str, **labels: str) -> float:
    status, body, _ = service.get("/metrics")
    assert status == 200
    wanted = name + ("{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}" if labels else "")
    for line in body.decode().splitlines():
        if line.startswith(wanted + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{wanted} not in /metrics")


def test_scripted_call_mix_gives_exact_kpis_through_restarts_and_reconciles_with_queue_log(
    pbx: Pbx, ivr_service: IvrService, fast_and_late_seats: None, sipp: Sipp, events: EventLog, settings
) -> None:  # type: ignore[no-untyped-def]
    # A call of an earlier test still up (a caller rating the call) would log its
    # last events after t0: reconcile would see half a call. Start from a quiet PBX.
    wait_until(lambda: "0 active calls" in pbx.cli("core show channels count"), 60, "earlier tests' calls to end")
    t0 = time.time() - 1
    offered_before = prometheus_value(ivr_service, "ivr_queue_offered_today", queue="group")

    callers = run_mix(sipp, events)
    # At once when AMI delivered every event; within the follower's settle time when not.
    wait_until(lambda: figures(ivr_service, t0) == EXPECTED, 60, "the service's KPIs to show the mix")

    # The same numbers from Prometheus (deltas: earlier tests also called today) ...
    assert prometheus_value(ivr_service, "ivr_queue_offered_today", queue="group") == offered_before + 2
    status, body, _ = ivr_service.get("/metrics")
    assert not any(number.encode() in body for number in callers), "a caller number leaked into /metrics"
    # ... and from the 15-minute CSV export.
    status, body, headers = ivr_service.get(f"/api/kpis?from={t0}&group_by=group&format=csv")
    assert status == 200 and headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(body.decode())))
    assert sum(int(r["offered"]) for r in rows if r["group"] == "group") == 2

    # Restart the ivr service: recovery from the event store gives the same figures.
    ivr_service.stop()
    ivr_service.start()
    assert figures(ivr_service, t0) == EXPECTED

    # Restart Asterisk mid-run, then one more answered call on the main line.
    mark = events.mark()
    pbx.restart()
    events.wait_for(lambda e: e.name == "FullyBooted", since=mark, timeout=60, what="FullyBooted after restart")
    wait_until(lambda: (h := ivr_service.health()) is not None and h["status"] == "ok", 30, "AMI back")
    with sipp.seats_answering(port := free_port(), talk_ms=1000):
        assert sipp.register(["1001"], port).returncode == 0
        number = caller()
        mark = events.mark()
        proc = sipp.call("95588", number)
        joined = events.wait_for(lambda e: e.name == "QueueCallerJoin" and e.get("CallerIDNum") == number, since=mark)
        wait_until(lambda: queue_log_outcome(settings, joined.get("Uniqueid") or "") is not None, 30, "the call to end")
        assert proc.wait(30) == 0
    expected = {**EXPECTED, "basic_zh": {**EXPECTED["basic_zh"], "offered": 2, "answered": 2,
                                         "answered_in_service_level": 2, "handled": 2}}  # fmt: skip
    wait_until(lambda: figures(ivr_service, t0) == expected, 60, "KPIs after the Asterisk restart")

    # Asterisk's queue_log and the event store tell the same story.
    result = ivr_service.reconcile(t0)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "reconcile: no difference" in result.stdout


def test_api_refuses_missing_and_wrong_tokens_with_json_errors(ivr_service: IvrService) -> None:
    import json

    status, body, headers = ivr_service.get("/api/queues", token=None)
    assert status == 401 and json.loads(body)["error_id"] == "unauthorized"
    assert headers["WWW-Authenticate"].startswith("Bearer")
    status, body, _ = ivr_service.get("/api/queues", token="not-a-token")
    assert status == 401
    status, body, _ = ivr_service.get("/api/kpis?interval=7", token="viewer-demo")
    assert status == 400 and json.loads(body)["error_id"] == "invalid_request"


def test_queues_and_agents_api_show_live_state(ivr_service: IvrService) -> None:
    queues = {q["queue"]: q for q in ivr_service.get_json("/api/queues")["queues"]}
    agents = ivr_service.get_json("/api/agents")["agents"]

    assert {"basic_zh", "vip", "group", "lost_card"} <= set(queues)
    assert {"waiting", "agents", "today", "kpis"} <= set(queues["basic_zh"])
    assert any(a["agent"] == "1001" for a in agents)
