"""Compiled hot paths: mypyc turns a few typed modules into C extensions, in place.

`ivr native build` (run by `scripts/setup-host.sh`, so by `make up` and
`make test`) compiles `MODULES` with mypyc, which ships with mypy, into one
group of extension modules beside the sources, and records every source's
SHA-256 in `ivr/_native.json`. The modules are the per-call and per-event
paths: the FastAGI protocol and server, the IVR call flow and menu engine
(`ivr.callflow.flow`, `ivr.menu.engine`), the logging pipeline, the AMI parser,
and the metrics events, intake, KPI and reducer modules (see BENCHMARKS.md
for what they gain).

`ivr/__init__` calls `use_fresh_builds_only()`: the compiled group is imported
only while every one of its sources is the one it was built from. After an
edit, all of them are imported from their .py files until the next build (the
group's modules call each other natively, so one stale module taints them all).
Without a build, or without a C compiler, everything runs as plain Python with
the same behaviour; `IVR_NATIVE=off` in the environment asks for plain Python
even when a fresh build exists (to compare, or to debug with Python tools).
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

PACKAGE_DIR = Path(__file__).resolve().parent
ROOT = PACKAGE_DIR.parent
STAMP = PACKAGE_DIR / "_native.json"
GROUP = "ivr._native"  # the shared library: ivr/_native__mypyc.<abi>.so
MODULES: tuple[str, ...] = (
    "ivr.agi.protocol",
    "ivr.agi.server",
    "ivr.agi.stats",
    "ivr.callflow.flow",
    "ivr.menu.engine",
    "ivr.log",
    "ivr.ami.protocol",
    "ivr.metrics.events",
    "ivr.metrics.intake",
    "ivr.metrics.kpi",
    "ivr.metrics.reducer.records",
    "ivr.metrics.reducer.transitions",
    "ivr.metrics.reducer.reports",
    "ivr.metrics.reducer.sums",
)


def source_of(module: str) -> Path:
    return ROOT / (module.replace(".", "/") + ".py")


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def built_digests() -> dict[str, str]:
    try:
        recorded = json.loads(STAMP.read_text())
    except (OSError, ValueError):
        return {}
    return recorded if isinstance(recorded, dict) else {}


def is_fresh() -> bool:
    """A build exists and every compiled module's source is unchanged since."""
    recorded = built_digests()
    return bool(recorded) and all(recorded.get(m) == digest(source_of(m)) for m in MODULES)


class _SourceFirst(importlib.abc.MetaPathFinder):
    """Imports the group's modules from their .py files (a build is missing or stale)."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in MODULES:
            return None
        return importlib.util.spec_from_file_location(fullname, source_of(fullname))


_finder: _SourceFirst | None = None


def use_fresh_builds_only() -> None:
    """Let Python import the compiled modules only when they match their sources."""
    global _finder
    if _finder is not None or (os.environ.get("IVR_NATIVE", "").lower() != "off" and is_fresh()):
        return
    _finder = _SourceFirst()
    sys.meta_path.insert(0, _finder)


def status() -> str:
    """``compiled`` when the group in use is the compiled one, else ``python``."""
    module = sys.modules.get(MODULES[0]) or importlib.import_module(MODULES[0])
    return "compiled" if not str(getattr(module, "__file__", "")).endswith(".py") else "python"


_SETUP = """
import sys
from setuptools import setup
from mypyc.build import mypycify
setup(
    name="ivr-native",
    ext_modules=mypycify(sys.argv[1].split(","), group_name=sys.argv[2], opt_level="3"),
    script_args=["build_ext", "--inplace"],
)
"""


def _remove_build() -> None:
    for built in PACKAGE_DIR.rglob("*.so"):
        built.unlink()
    STAMP.unlink(missing_ok=True)


def build(force: bool = False) -> int:
    """Compile `MODULES`; 0 when built (or already fresh), 1 when the build failed."""
    if is_fresh() and not force:
        print("ivr native: compiled modules are up to date")
        return 0
    _remove_build()
    sources = [source_of(m) for m in MODULES]
    started = time.monotonic()
    # In a copy of the package: the same on a checkout and in an installed
    # package (whose site-packages would shadow what mypy reads as the standard
    # library), with no project config, and nothing left behind but the modules.
    with tempfile.TemporaryDirectory(prefix="ivr-native-") as tmp:
        work = Path(tmp)
        shutil.copytree(PACKAGE_DIR, work / "ivr", ignore=shutil.ignore_patterns("*.so", "__pycache__", STAMP.name))
        result = subprocess.run(
            [sys.executable, "-c", _SETUP, ",".join(str(p.relative_to(ROOT)) for p in sources), GROUP],
            cwd=work, capture_output=True, text=True, check=False,
        )  # fmt: skip
        if result.returncode == 0:
            for built in (work / "ivr").rglob("*.so"):
                shutil.copy2(built, PACKAGE_DIR / built.relative_to(work / "ivr"))
    if result.returncode != 0:
        _remove_build()
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
        print(f"ivr native: build FAILED, running as plain Python:\n{tail}", file=sys.stderr)
        return 1
    STAMP.write_text(json.dumps({m: digest(p) for m, p in zip(MODULES, sources, strict=True)}, indent=1) + "\n")
    print(f"ivr native: compiled {len(MODULES)} modules with mypyc in {time.monotonic() - started:.0f} s")
    return 0
