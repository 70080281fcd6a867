"""The supervisor's wallboard in headless Chromium (Debian's chromium driven by
playwright): a call entering a group appears on the open page without a
reload, and leaves it when the caller hangs up. The run leaves a screenshot
in test-artifacts/wallboard.png and prints the event -> page latency."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import ARTIFACTS
from tests.e2e.harness import EventLog, IvrService, Sipp

pytestmark = pytest.mark.e2e

CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright  # installed by `make test`

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def test_call_entering_a_group_appears_on_the_open_wallboard_without_reload(
    browser, ivr_service: IvrService, sipp: Sipp, events: EventLog
) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    url = f"http://127.0.0.1:{ivr_service.settings.http_port}/wallboard#token=viewer-demo"
    page.goto(url)
    page.wait_for_selector('#stream-status[data-state="live"]', timeout=15000)
    page.evaluate("window.__loadMarker = 'same page'")
    waiting = '[data-queue="group"] [data-kpi="waiting"]'
    page.wait_for_selector(f'{waiting}[data-value="0"]', timeout=10000)

    caller = "13900990001"
    mark = events.mark()
    proc = sipp.call("4008795588", caller, keys=((1500, "0"),), hangup_after_ms=6000)
    try:
        events.wait_for(lambda e: e.name == "QueueCallerJoin" and e.get("CallerIDNum") == caller, since=mark)
        seen_join = time.monotonic()
        page.wait_for_selector(f'{waiting}[data-value="1"]', timeout=10000)
        latency = time.monotonic() - seen_join
        print(f"\nwallboard: QueueCallerJoin seen by the test -> shown on the page in {latency * 1000:.0f} ms")
        assert page.evaluate("window.__loadMarker") == "same page", "the page was reloaded"
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "wallboard.png"), full_page=True)

        assert proc.wait(30) == 0
        page.wait_for_selector(f'{waiting}[data-value="0"]', timeout=10000)
    finally:
        if proc.poll() is None:
            proc.kill()
        page.close()


def test_wallboard_data_needs_a_token(ivr_service: IvrService) -> None:
    status, _, _ = ivr_service.get("/api/wallboard/snapshot", token=None)
    assert status == 401
    status, body, _ = ivr_service.get("/wallboard", token=None)
    assert status == 200 and b"<html" in body.lower()
