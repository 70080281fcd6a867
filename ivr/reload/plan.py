"""What a reload would change, decided without touching the PBX (pure):
`plan_reload(current, new)` gives the changed files, their unified diff with
secrets masked, the Asterisk modules to reload (one per file) and whether a
change needs a restart instead (modules.conf, asterisk.conf), which a hot
reload refuses: restarting a live PBX drops every call. `expected_dialplan`
and `expected_queues` say what Asterisk should run once the files applied.
"""

from __future__ import annotations

import difflib
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

# File -> the module whose reload re-reads it. None: only a restart applies it.
RELOAD_MODULES: dict[str, str | None] = {
    "extensions.conf": "pbx_config.so",
    "pjsip.conf": "res_pjsip.so",
    "queues.conf": "app_queue.so",
    "queuerules.conf": "app_queue.so",  # app_queue's reload re-reads its rules too
    "musiconhold.conf": "res_musiconhold.so",
    "manager.conf": "manager",
    "logger.conf": "logger",
    "rtp.conf": "res_rtp_asterisk.so",
    "indications.conf": "indications",
    "features.conf": "features",
    "cdr.conf": "cdr",
    "cel.conf": "cel",
    "udptl.conf": "udptl",
    "acl.conf": "acl",
    "ccss.conf": "ccss",
    "pjproject.conf": "res_pjproject.so",
    "modules.conf": None,
    "asterisk.conf": None,
    "stasis.conf": None,
}
# Apply order: what the others refer to first (queues before the dialplan that uses them).
ORDER = ("rtp.conf", "musiconhold.conf", "queuerules.conf", "queues.conf", "pjsip.conf", "extensions.conf")
_SECRET_LINE = re.compile(r"^(\s*(?:password|secret)\s*=\s*).*$", re.IGNORECASE | re.MULTILINE)


@dataclass(frozen=True, slots=True)
class ReloadPlan:
    changed: tuple[str, ...]
    diff: str
    modules: tuple[str, ...]
    needs_restart: tuple[str, ...]

    @property
    def empty(self) -> bool:
        return not self.changed


def mask_secrets(text: str) -> str:
    return _SECRET_LINE.sub(r"\1********", text)


def plan_reload(current: dict[str, str], new: dict[str, str]) -> ReloadPlan:
    names = sorted(set(current) | set(new), key=lambda n: (ORDER.index(n) if n in ORDER else -1, n))
    changed = tuple(n for n in names if current.get(n) != new.get(n))
    diff = "".join(
        "".join(
            difflib.unified_diff(
                mask_secrets(current.get(n, "")).splitlines(keepends=True),
                mask_secrets(new.get(n, "")).splitlines(keepends=True),
                fromfile=f"running/{n}", tofile=f"new/{n}",
            )
        )
        for n in changed
    )  # fmt: skip
    modules: list[str] = []
    restart: list[str] = []
    for name in changed:
        module = RELOAD_MODULES.get(name, "unknown")
        if module is None or module == "unknown":
            restart.append(name)
        elif module not in modules:
            modules.append(module)
    return ReloadPlan(changed, diff, tuple(modules), tuple(restart))


def read_config_dir(path: Path) -> dict[str, str]:
    if not path.is_dir():
        return {}
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(path.iterdir()) if p.is_file()}


def expected_dialplan(extensions_conf: str) -> dict[str, int]:
    """Context -> number of priorities, from rendered extensions.conf text."""
    counts: Counter[str] = Counter()
    context = ""
    for raw in extensions_conf.splitlines():
        line = raw.split(";", 1)[0].strip()
        if line.startswith("[") and line.endswith("]"):
            context = line[1:-1]
        elif context not in ("", "general", "globals") and re.match(r"^(exten|same)\s*=>", line):
            counts[context] += 1
    return dict(counts)


def expected_queues(queues_conf: str) -> dict[str, str]:
    """Queue -> strategy, from rendered queues.conf text."""
    queues: dict[str, str] = {}
    name = ""
    for raw in queues_conf.splitlines():
        line = raw.split(";", 1)[0].strip()
        if line.startswith("[") and line.endswith("]"):
            name = line[1:-1]
        elif name and name != "general" and line.startswith("strategy"):
            queues[name] = line.split("=", 1)[1].strip()
    return queues
