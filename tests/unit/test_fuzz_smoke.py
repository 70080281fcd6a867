"""The fuzz harnesses of bench/, small and with a fixed seed: no crash, no hang, no 500.

The full runs (10,000 cases each) are `bench/fuzz_parsers.py` and
`bench/fuzz_api.py` (BENCHMARKS.md, "Fuzzing"); the same runs as tests are
marked `slow` and run only with IVR_FUZZ_FULL=1.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
SMOKE_CASES = 200
FULL_CASES = 10_000
full_size = pytest.mark.skipif(os.environ.get("IVR_FUZZ_FULL") != "1", reason="full fuzz run: set IVR_FUZZ_FULL=1")


def _bench_module(name: str) -> ModuleType:
    module = sys.modules.get(f"bench_{name}")
    if module is None:
        spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    return module


def _parsers_are_robust(target: str, cases: int) -> None:
    fuzz = _bench_module("fuzz_parsers")
    report = fuzz.run_target(target, cases, seed_value=20_240_601, hang_seconds=2.0, kill_seconds=10.0)

    problems = [f"[{f.kind}] {f.summary}: {fuzz._show(f.payload)}\n{f.tail}" for f in report.findings.values()]
    assert report.cases == cases
    assert (report.crashes, report.hangs, report.inconsistencies) == (0, 0, 0), "\n".join(problems)


def _api_is_robust(cases: int, raw: int) -> None:
    fuzz = _bench_module("fuzz_api")
    outcome = fuzz.fuzz(fuzz.free_ports(), cases=cases, raw=raw, seed_value=20_240_601, report=False)

    run = outcome.run
    problems = [
        f"[{f.kind}] {f.key}: {f.request} -> {f.detail}"
        for f in run.findings.values()
        if f.kind in ("server_error", "hang", "connection", "auth_bypass")
    ]
    assert run.total >= cases
    assert (run.server_errors, run.hangs, run.connection_failures, run.auth_bypasses) == (0, 0, 0, 0), "\n".join(
        problems
    )
    assert outcome.alive
    assert outcome.health is not None and isinstance(outcome.health[1], dict), outcome.health


@pytest.mark.parametrize("target", ["agi", "ami", "catalog"])
def test_parser_survives_mutated_transcripts_and_random_bytes(target: str) -> None:
    _parsers_are_robust(target, SMOKE_CASES)


def test_http_api_answers_generated_requests_without_server_errors_or_hangs() -> None:
    _api_is_robust(SMOKE_CASES, 50)


@pytest.mark.slow
@full_size
@pytest.mark.parametrize("target", ["agi", "ami", "catalog"])
def test_parser_survives_ten_thousand_cases(target: str) -> None:
    _parsers_are_robust(target, FULL_CASES)


@pytest.mark.slow
@full_size
def test_http_api_survives_ten_thousand_generated_requests() -> None:
    _api_is_robust(FULL_CASES, 2_000)
