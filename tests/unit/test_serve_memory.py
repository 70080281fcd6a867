"""`ivr serve` gives the memory of its PIN checks back to the system.

A PIN check is one scrypt of ~16 MiB in a worker thread (`asyncio.to_thread`).
Without a fixed mmap threshold glibc keeps each worker thread's last 16-33 MiB
resident after the check (84 MiB in the 10-minute soak, BENCHMARKS.md).
Each case runs in its own interpreter: mallopt changes the whole process.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

_PIN_CHECKS_IN_THREADS = textwrap.dedent(
    """
    import sys
    from concurrent.futures import ThreadPoolExecutor
    from ivr.directory.store import hash_pin, pin_matches
    from ivr.memory import hand_large_blocks_back

    def resident_kib() -> int:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))

    if sys.argv[1] == "serve":
        assert hand_large_blocks_back()
    stored = hash_pin("246810")
    before = resident_kib()
    with ThreadPoolExecutor(4) as pool:
        for _ in range(3):
            assert all(pool.map(pin_matches, ["246810"] * 8, [stored] * 8))
    print(resident_kib() - before)
    """
)


def _growth_mib(setup: str) -> float:
    out = subprocess.run([sys.executable, "-c", _PIN_CHECKS_IN_THREADS, setup], capture_output=True, text=True,
                         check=True, timeout=120)  # fmt: skip
    return int(out.stdout.strip()) / 1024


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mallopt is glibc's")
def test_pin_checks_in_worker_threads_leave_no_resident_memory_behind() -> None:
    assert _growth_mib("serve") < 8  # 4 threads keep 48 to 64 MiB without it


def test_without_it_glibc_keeps_about_16_mib_per_worker_thread() -> None:
    """The case above is meaningful: the same checks without the setting keep their memory."""
    assert _growth_mib("plain") > 32
