"""Session fixtures for end-to-end tests against the real Asterisk 22 PBX.

The PBX is built (if its image is missing) and started once per session,
with the configuration rendered by `ivr render` from the real catalog and
templates. Readiness is an AMI event (FullyBooted), never a fixed sleep.
When a test fails, the PBX log and the SIPp error logs are kept in
test-artifacts/ and their paths printed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from ivr.check import check
from ivr.render import write_config
from tests.e2e.harness import REPO, EventLog, IvrService, Pbx, Sipp, catalog_copy, test_settings

ARTIFACTS = REPO / "test-artifacts"


def _require_tools() -> None:
    missing = [tool for tool in ("docker", "sipp") if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"missing {', '.join(missing)}: run `make test` (it installs them)", pytrace=False)
    if os.geteuid() != 0:
        pytest.fail("end-to-end tests need root (SIPp plays RTP DTMF through a raw socket)", pytrace=False)
    if subprocess.run(["docker", "info"], capture_output=True, check=False).returncode != 0:
        pytest.fail("no Docker engine: run `make test` (it starts dockerd)", pytrace=False)
    if subprocess.run(["docker", "image", "inspect", "ivr-asterisk:22"], capture_output=True, check=False).returncode:
        subprocess.run([str(REPO / "scripts" / "build-images.sh")], check=True)


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("pbx-run")
    path.chmod(0o755)
    return path


@pytest.fixture(scope="session")
def settings(run_dir: Path):  # type: ignore[no-untyped-def]
    """The real catalog, except that the session may run at any hour (the
    office calendar is open around the clock; out-of-hours behaviour has its
    own test with a calendar closed today), and that only the platinum line
    asks for a post-call rating: a survey keeps every answered caller on the
    line ~15 s longer, and most tests' calls do not need it (test_routing.py
    and test_metrics.py rate platinum calls). The adherence tolerance is 0:
    an agent out of adherence is raised at once (test_scheduling.py), where
    the demo's 5 minutes would make a test wait them out."""
    path = run_dir.parent / "callcenter.yaml"
    catalog = catalog_copy(path, always_open=True, survey_lines={"platinum"}, adherence_tolerance=0)
    return test_settings(run_dir, catalog=catalog)


@pytest.fixture(scope="session")
def pbx(settings) -> Iterator[Pbx]:  # type: ignore[no-untyped-def]
    _require_tools()
    write_config(check(settings), settings.run_dir / "etc")
    from ivr.catalog.load import load_catalog
    from ivr.directory.demo import generate_demo_directory
    from ivr.prompts import build_prompts

    build_prompts(settings.prompts, settings.sounds_dir, load_catalog(settings.catalog).languages)
    generate_demo_directory(settings.directory_db)
    pbx = Pbx(settings)
    pbx.start()
    yield pbx
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "asterisk-session.log").write_text(pbx.logs())
    pbx.stop()


@pytest.fixture(scope="session")
def events(pbx: Pbx, settings) -> Iterator[EventLog]:  # type: ignore[no-untyped-def]
    log = EventLog(settings)
    log.start()
    log.wait_for(lambda e: e.name == "FullyBooted", timeout=60, what="Asterisk FullyBooted")
    yield log
    log.stop()


@pytest.fixture(scope="session")
def sipp_logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sipp")


@pytest.fixture
def sipp(settings, sipp_logs: Path, events: EventLog) -> Sipp:  # type: ignore[no-untyped-def]
    return Sipp(settings, sipp_logs)


@pytest.fixture(scope="session")
def ivr_service(settings, events: EventLog, tmp_path_factory: pytest.TempPathFactory) -> Iterator[IvrService]:  # type: ignore[no-untyped-def]
    service = IvrService(settings, tmp_path_factory.mktemp("ivr") / "ivr-serve.log")
    service.start()
    yield service
    service.stop()
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copy(service.log_path, ARTIFACTS / "ivr-serve.log")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.failed and "pbx" in getattr(item, "fixturenames", ()):
        pbx: Pbx = item.funcargs["pbx"]  # type: ignore[attr-defined]
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{item.name}.asterisk.log"
        path.write_text("\n".join(pbx.logs().splitlines()[-400:]))
        logs = item.funcargs.get("sipp_logs") if hasattr(item, "funcargs") else None  # type: ignore[attr-defined]
        extra = f" and SIPp logs in {logs}" if logs else ""
        report.sections.append(("PBX log", f"Asterisk log tail kept in {path}{extra}"))
