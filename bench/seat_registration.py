"""All of the case study's 1,795 seats rendered and registered at once.

Run: `.venv/bin/python bench/seat_registration.py` (root, Docker engine up;
`make test` once builds the image).

Two runs in one process, on one PBX image and the same SIPp scenario:
the baseline is the demo catalog (30 seats), the measured run the generated
1,795-seat catalog. Each run starts a fresh Asterisk container, registers
every seat from one SIPp process reading a CSV of seats, and reads from the
container's cgroup: CPU seconds Asterisk spent during registration and its
memory once every seat is registered. Figures are printed as absolute values
and as ratios to the baseline.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ivr.catalog.generate import catalog_with_seats, generate_seats  # noqa: E402
from ivr.catalog.load import load_catalog, parse_catalog  # noqa: E402
from ivr.check import check  # noqa: E402
from ivr.render import write_config  # noqa: E402
from tests.e2e.harness import Pbx, Sipp, free_port, test_settings, wait_until  # noqa: E402


@dataclass
class Run:
    seats: int
    seconds: float
    cpu_seconds: float
    memory_mib: float
    registered: int


def _pid(name: str) -> int:
    inspect = ["docker", "inspect", "-f", "{{.State.Pid}}", name]
    out = subprocess.run(inspect, capture_output=True, text=True, check=True)
    return int(out.stdout.strip())  # the entrypoint execs asterisk: same process


def _cpu_seconds(name: str) -> float:
    """user + system CPU time of the asterisk process, from the host's /proc."""
    fields = Path(f"/proc/{_pid(name)}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _memory_mib(name: str) -> float:
    for line in Path(f"/proc/{_pid(name)}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measure(catalog_path: Path, work: Path, rate: int) -> Run:
    catalog = load_catalog(catalog_path)
    run_dir = work / f"run-{len(catalog.seats)}"
    run_dir.mkdir()
    settings = test_settings(run_dir, catalog=catalog_path, pbx_name="ivr-bench-asterisk", sip_port=5260,
                             ami_port=5238, agi_port=4773, http_port=8280)  # fmt: skip
    write_config(check(settings), run_dir / "etc")
    pbx = Pbx(settings)
    pbx.start()
    try:
        wait_until(lambda: "System uptime" in pbx.cli("core show uptime"), 60, "Asterisk to boot")
        wait_until(lambda: "Objects found" in pbx.cli("pjsip show endpoints"), 60, "PJSIP endpoints loaded")
        sipp = Sipp(settings, work)
        seats = [seat.id for seat in catalog.seats]
        cpu_before = _cpu_seconds(settings.pbx_name)
        start = time.perf_counter()
        result = sipp.register(seats, free_port(), timeout=600, rate=rate)
        seconds = time.perf_counter() - start
        cpu = _cpu_seconds(settings.pbx_name) - cpu_before
        contacts = pbx.cli("pjsip show contacts")
        registered = next((int(line.split(":")[1]) for line in contacts.splitlines() if "Objects found" in line), 0)
        if result.returncode != 0:
            print(result.stdout[-1500:], file=sys.stderr)
        return Run(len(seats), seconds, cpu, _memory_mib(settings.pbx_name), registered)
    finally:
        pbx.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seats", type=int, default=1795)
    parser.add_argument("--rate", type=int, default=500, help="REGISTER transactions started per second by SIPp")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ivr-bench-"))
    try:
        import yaml

        demo = REPO / "callcenter.yaml"
        base_catalog = parse_catalog(demo.read_text(encoding="utf-8"))
        big = work / "big.yaml"
        big.write_text(yaml.safe_dump(catalog_with_seats(base_catalog, generate_seats(base_catalog, args.seats)),
                                      allow_unicode=True), encoding="utf-8")  # fmt: skip
        baseline = measure(demo, work, args.rate)
        measured = measure(big, work, args.rate)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{'':24}{'baseline':>12}{'measured':>12}{'ratio':>8}")
    for label, b, m in (
        ("seats", baseline.seats, measured.seats),
        ("registered", baseline.registered, measured.registered),
        ("registration s", baseline.seconds, measured.seconds),
        ("registrations/s", baseline.seats / baseline.seconds, measured.seats / measured.seconds),
        ("Asterisk CPU s", baseline.cpu_seconds, measured.cpu_seconds),
        ("Asterisk memory MiB", baseline.memory_mib, measured.memory_mib),
    ):
        print(f"{label:24}{b:12.2f}{m:12.2f}{m / b if b else float('nan'):8.2f}")
    return 0 if measured.registered == measured.seats else 1


if __name__ == "__main__":
    raise SystemExit(main())
