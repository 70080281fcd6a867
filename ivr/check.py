"""`ivr check`: the catalog and the templates, validated together, before
anything reaches a PBX.

Stages, each stopping the pipeline with every problem it found:
1. the catalog loads, its menus checked too (`load_checked_catalog`: the
   loader runs `ivr.menu.checks.check_menus` with its own cross-references;
   `CatalogError`: file, path, line, reason), and every prompt a caller can
   reach is recorded (`missing_prompts`);
2. every template renders (`TemplateError`: template, line, reason);
3. every rendered file parses as Asterisk config (pyst2's `asterisk.config`);
4. the rendered files agree with each other: every Goto/Gosub/GotoIf target
   and `include` names an existing context, extension and label; every
   literal Queue() names a queue in queues.conf; every PJSIP endpoint's
   context exists; auth/aors/identify name existing sections; every dialplan
   application and function is provided by a module that modules.conf loads;
   AMI and FastAGI stay on loopback;
5. the files the catalog feeds hold exactly what it declares (defence in
   depth behind the catalog's patterns): every section is one the catalog
   implies (`_declared_sections`), each option is one the templates write in
   that kind of section (`SECTION_OPTIONS`), and no file has a control
   character. A line break that slipped into a rendered name would show up
   here as an undeclared `[section]` or option.
"""

from __future__ import annotations

import ipaddress
import re
import tempfile
import unicodedata
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import asterisk.config

from ivr.catalog.load import CatalogCheck, format_path, load_catalog, parse_catalog
from ivr.catalog.model import Catalog
from ivr.menu.checks import check_menus, missing_prompts
from ivr.render import TemplateError, render_config
from ivr.settings import Settings

# What the loader checks beyond the catalog's own references: that every menu
# can be walked. Commands that serve, walk or draw menus load with these.
MENU_CHECKS: tuple[CatalogCheck, ...] = (check_menus,)


def load_checked_catalog(path: str | Path) -> Catalog:
    """The catalog file, refused (`CatalogError` with file and line) if a menu is broken too."""
    return load_catalog(path, MENU_CHECKS)


def parse_checked_catalog(text: str, file: str = "<catalog>") -> Catalog:
    """`load_checked_catalog` for catalog text."""
    return parse_catalog(text, file, MENU_CHECKS)


# Dialplan applications and functions -> the module that provides them.
# Applications built into the PBX core need no module.
CORE_APPLICATIONS = frozenset(
    {
        "answer", "background", "busy", "congestion", "exec", "execif", "goto", "gotoif",
        "gotoiftime", "hangup", "noop", "progress", "ringing", "set", "setamaflags", "wait",
        "waitexten", "waitdigit", "importvar", "raisexception", "incomplete", "execiftime",
    }
)  # fmt: skip
APPLICATION_MODULES = {
    "queue": "app_queue.so",
    "queuelog": "app_queue.so",
    "addqueuemember": "app_queue.so",
    "removequeuemember": "app_queue.so",
    "pausequeuemember": "app_queue.so",
    "unpausequeuemember": "app_queue.so",
    "agi": "res_agi.so",
    "eagi": "res_agi.so",
    "playback": "app_playback.so",
    "gosub": "app_stack.so",
    "gosubif": "app_stack.so",
    "return": "app_stack.so",
    "verbose": "app_verbose.so",
    "log": "app_verbose.so",
    "read": "app_read.so",
    "senddtmf": "app_senddtmf.so",
    "userevent": "app_userevent.so",
    "dial": "app_dial.so",
    "echo": "app_echo.so",
    "musiconhold": "res_musiconhold.so",
    "startmusiconhold": "res_musiconhold.so",
    "stopmusiconhold": "res_musiconhold.so",
    "sayunixtime": "app_sayunixtime.so",
}
FUNCTION_MODULES = {
    "queue_exists": "app_queue.so",
    "queue_member": "app_queue.so",
    "queue_waiting_count": "app_queue.so",
    "queue_variables": "app_queue.so",
    "channel": "func_channel.so",
    "len": "func_strings.so",
    "filter": "func_strings.so",
    "regex": "func_strings.so",
    "if": "func_logic.so",
    "isnull": "func_logic.so",
    "exists": "func_logic.so",
    "callerid": "func_callerid.so",
    "global": "func_global.so",
    "dialplan_exists": "func_dialplan.so",
    "db": "func_db.so",
    "iftime": "func_logic.so",
    "strftime": "func_strings.so",
    "sha1": "func_sha1.so",
    "file": "func_env.so",
    "group": "func_groupcount.so",
    "group_count": "func_groupcount.so",
}

# The files the catalog feeds: section kind -> the options the templates write
# in a section of that kind. The kind of a pjsip.conf section is its `type`;
# elsewhere it is the kind `_declared_sections` gives the section's name. A
# template that writes a new option or kind of section adds it here.
SECTION_OPTIONS: dict[str, dict[str, frozenset[str]]] = {
    "pjsip.conf": {
        "global": frozenset({"type", "user_agent", "endpoint_identifier_order"}),
        "transport": frozenset({"type", "protocol", "bind"}),
        "endpoint": frozenset({
            "type", "transport", "context", "disallow", "allow", "direct_media", "rtp_symmetric",
            "dtmf_mode", "auth", "aors", "callerid",
        }),
        "identify": frozenset({"type", "endpoint", "match"}),
        "auth": frozenset({"type", "auth_type", "username", "password"}),
        "aor": frozenset({"type", "max_contacts", "remove_existing"}),
    },
    "queues.conf": {
        "general": frozenset({"persistentmembers", "autofill", "shared_lastcall", "log_membername_as_agent"}),
        "queue": frozenset({
            "strategy", "timeout", "retry", "wrapuptime", "servicelevel", "musicclass", "ringinuse",
            "setinterfacevar", "setqueuevar", "setqueueentryvar", "joinempty", "leavewhenempty", "defaultrule",
            "announce-frequency", "min-announce-frequency", "announce-position", "announce-holdtime",
            "announce-to-first-user", "periodic-announce", "periodic-announce-frequency",
        }),
    },
    "queuerules.conf": {"general": frozenset(), "rule": frozenset({"penaltychange"})},
    "extensions.conf": {
        "general": frozenset({"static", "writeprotect", "clearglobalvars"}),
        "globals": frozenset({"IVR_AGI", "IVR_AGI_KEY", "IVR_SOUNDS"}),
        "context": frozenset({"exten", "same", "include"}),
    },
}  # fmt: skip
# Options that may appear more than once in a section; any other appears once.
REPEATABLE_OPTIONS = frozenset({"exten", "same", "include", "penaltychange"})
# Sections the templates write whatever the catalog holds: (name, kind).
FIXED_SECTIONS: dict[str, tuple[tuple[str, str], ...]] = {
    "pjsip.conf": (
        ("global", "global"), ("transport-udp", "transport"), ("pstn", "endpoint"), ("pstn-identify", "identify"),
    ),
    "queues.conf": (("general", "general"),),
    "queuerules.conf": (("general", "general"),),
    "extensions.conf": (
        ("general", "general"), ("globals", "globals"), ("from-pstn", "context"), ("from-seat", "context"),
        ("seat-feature", "context"), ("after-call", "context"), ("no-agent", "context"),
    ),
}  # fmt: skip

_EXTEN = re.compile(
    r"^(?P<ext>[^,]+),(?P<prio>[^,(]+)(?:\((?P<label>[^)]+)\))?,(?P<app>[A-Za-z0-9_]+)(?:\((?P<args>.*)\))?$"
)
_SAME = re.compile(r"^(?P<prio>[^,(]+)(?:\((?P<label>[^)]+)\))?,(?P<app>[A-Za-z0-9_]+)(?:\((?P<args>.*)\))?$")
_FUNCTION = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)\(")


@dataclass(frozen=True, slots=True)
class Problem:
    file: str
    line: int | None
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}" if self.line else f"{self.file}: {self.reason}"


class CheckFailed(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass
class _Context:
    extensions: dict[str, set[str]] = field(default_factory=dict)  # ext -> labels and priorities
    includes: list[tuple[str, int]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Call:
    app: str
    args: str
    context: str
    exten: str
    line: int


def _sections(config: asterisk.config.Config) -> Iterator[tuple[str, int, list[tuple[str, str, int]]]]:
    """(name, line, [(key, value, line)]) per section; pyst2's line numbers are 1-based."""
    for category in config.categories:
        items = [(item.name.strip(), item.value.strip(), item.number) for item in category.items]
        yield category.name.strip(), category.number, items


def _parse(name: str, text: str) -> asterisk.config.Config:
    with tempfile.NamedTemporaryFile("w", suffix=".conf", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        try:
            return asterisk.config.Config(handle.name)
        except asterisk.config.ParseError as exc:
            line, reason = exc.args if len(exc.args) == 2 else (None, str(exc))
            raise CheckFailed([Problem(name, line, f"not valid Asterisk config: {reason}")]) from exc


def _split_args(args: str) -> list[str]:
    return [part.strip() for part in args.split(",")]


def _targets(call: _Call) -> list[tuple[str, str, str]]:
    """Literal (context, exten, priority-or-label) targets of a jump; dynamic ones are skipped."""
    app = call.app.lower()
    if app in ("goto", "gosub"):
        branches = [call.args]
    elif app in ("gotoif", "gosubif"):
        _, _, rest = call.args.partition("?")
        branches = [b for b in rest.split(":") if b]
    else:
        return []
    out = []
    for branch in branches:
        if "${" in branch or "$[" in branch:
            continue
        parts = _split_args(branch.split("(", 1)[0] if app.startswith("gosub") else branch)
        if len(parts) == 1:
            out.append((call.context, call.exten, parts[0]))
        elif len(parts) == 2:
            out.append((call.context, parts[0], parts[1]))
        else:
            out.append((parts[0], parts[1], parts[2]))
    return out


def _check_dialplan(text: str, loaded: set[str], queues: set[str]) -> tuple[list[Problem], set[str]]:
    file = "extensions.conf"
    config = _parse(file, text)
    contexts: dict[str, _Context] = {}
    calls: list[_Call] = []
    problems: list[Problem] = []
    for name, _line, items in _sections(config):
        if name in ("general", "globals"):
            continue
        context = contexts.setdefault(name, _Context())
        exten = ""
        for key, value, line in items:
            value = value.lstrip(">").strip()
            if key == "include":
                context.includes.append((value, line))
                continue
            match = _EXTEN.match(value) if key == "exten" else _SAME.match(value) if key == "same" else None
            if match is None:
                problems.append(Problem(file, line, f"cannot read dialplan line '{key} => {value}'"))
                continue
            if key == "exten":
                exten = match["ext"]
            labels = context.extensions.setdefault(exten, set())
            labels.add(match["prio"])
            if match["label"]:
                labels.add(match["label"])
            calls.append(_Call(match["app"], match["args"] or "", name, exten, line))

    for name, context in contexts.items():
        for target, line in context.includes:
            if target not in contexts:
                problems.append(Problem(file, line, f"[{name}] includes unknown context '{target}'"))
    for call in calls:
        app = call.app.lower()
        module = APPLICATION_MODULES.get(app)
        if app not in CORE_APPLICATIONS and module is None:
            problems.append(Problem(file, call.line, f"unknown dialplan application '{call.app}'"))
        elif module is not None and module not in loaded:
            problems.append(
                Problem(file, call.line, f"application '{call.app}' needs {module}, which modules.conf does not load")
            )
        for function in _FUNCTION.findall(call.args):
            fmodule = FUNCTION_MODULES.get(function.lower())
            if fmodule is None:
                problems.append(Problem(file, call.line, f"unknown dialplan function '{function}'"))
            elif fmodule not in loaded:
                problems.append(
                    Problem(file, call.line, f"function '{function}' needs {fmodule}, which modules.conf does not load")
                )
        if app == "queue":
            queue = _split_args(call.args)[0]
            if queue and "${" not in queue and queue not in queues:
                problems.append(Problem(file, call.line, f"Queue({queue}): no such queue in queues.conf"))
        for ctx, ext, prio in _targets(call):
            where = f"{call.app}({call.args}) in [{call.context}]"
            if ctx not in contexts:
                problems.append(Problem(file, call.line, f"{where}: no context '{ctx}'"))
            elif ext not in contexts[ctx].extensions:
                problems.append(Problem(file, call.line, f"{where}: no extension '{ext}' in [{ctx}]"))
            elif prio != "1" and prio not in contexts[ctx].extensions[ext]:
                problems.append(Problem(file, call.line, f"{where}: no priority or label '{prio}' in {ext}@{ctx}"))
    return problems, set(contexts)


def _declared_sections(catalog: Catalog) -> dict[str, Counter[tuple[str, str]]]:
    """File -> the (section name, kind) pairs the catalog implies, with their
    count (pjsip.conf has an endpoint and an aor named after each seat)."""
    declared = {file: Counter(sections) for file, sections in FIXED_SECTIONS.items()}
    for seat in catalog.seats:
        declared["pjsip.conf"].update([(seat.id, "endpoint"), (f"auth-{seat.id}", "auth"), (seat.id, "aor")])
    for queue in catalog.queues:
        declared["queues.conf"][(queue.id, "queue")] += 1
        declared["extensions.conf"][(f"queue-{queue.id}", "context")] += 1
        if queue.widen:
            declared["queuerules.conf"][(f"widen_{queue.id}", "rule")] += 1
    for line in catalog.numbers:
        declared["extensions.conf"][(f"line-{line.id}", "context")] += 1
    return declared


def _control_characters(file: str, text: str) -> list[Problem]:
    """Rendered files are printable text: a control character (other than
    tab and newline) could end a line for Asterisk where check.py sees none."""
    problems = []
    for number, line in enumerate(text.split("\n"), start=1):
        bad = next((c for c in line if c != "\t" and unicodedata.category(c) in ("Cc", "Zl", "Zp")), None)
        if bad is not None:
            problems.append(
                Problem(file, number, f"control character U+{ord(bad):04X}: rendered text must be printable")
            )
    return problems


def _check_layout(file: str, config: asterisk.config.Config, declared: Counter[tuple[str, str]]) -> list[Problem]:
    """Sections and options of one file against what the catalog and templates declare."""
    problems: list[Problem] = []
    for item in config.lines:
        if isinstance(item, asterisk.config.Category):
            break
        if isinstance(item, asterisk.config.Item):
            problems.append(Problem(file, item.number, f"option '{item.name}' outside any section"))
    options = SECTION_OPTIONS[file]
    kinds = {name: kind for name, kind in declared}
    remaining = Counter(declared)
    for name, line, items in _sections(config):
        if file == "pjsip.conf":
            kind = next((value for key, value, _ in items if key == "type"), "")
        else:
            kind = kinds.get(name, "")
        if remaining[(name, kind)] <= 0:
            what = f"type '{kind}' " if file == "pjsip.conf" and kind else ""
            problems.append(Problem(file, line, f"[{name}]: {what}section not declared by the catalog"))
            continue
        remaining[(name, kind)] -= 1
        seen: set[str] = set()
        for key, _value, item_line in items:
            if key not in options[kind]:
                problems.append(
                    Problem(
                        file, item_line, f"[{name}]: option '{key}' is not written by the templates in {kind} sections"
                    )
                )
            elif key in seen and key not in REPEATABLE_OPTIONS:
                problems.append(Problem(file, item_line, f"[{name}]: option '{key}' set twice"))
            seen.add(key)
    for (name, kind), count in remaining.items():
        if count > 0:
            problems.append(Problem(file, None, f"[{name}]: {kind} section declared by the catalog is missing"))
    return problems


def check_rendered(files: dict[str, str], settings: Settings, catalog: Catalog | None = None) -> list[Problem]:
    """Cross-file checks on a rendered configuration; returns every problem.
    With the catalog it was rendered from, also checks that the files hold
    exactly the sections and options it declares (stage 5)."""
    problems: list[Problem] = []
    for name, text in files.items():
        problems += _control_characters(name, text)
    parsed = {name: _parse(name, text) for name, text in files.items() if name.endswith(".conf")}
    if catalog is not None:
        for name, declared in _declared_sections(catalog).items():
            if name in parsed:
                problems += _check_layout(name, parsed[name], declared)
            else:
                problems.append(Problem(name, None, "not rendered, but the catalog declares sections in it"))

    loaded: set[str] = set()
    for name, _line, items in _sections(parsed["modules.conf"]):
        if name == "modules":
            loaded |= {value for key, value, _ in items if key in ("load", "preload", "require")}

    queues = {name for name, _line, _items in _sections(parsed["queues.conf"]) if name != "general"}
    dialplan_problems, contexts = _check_dialplan(files["extensions.conf"], loaded, queues)
    problems += dialplan_problems

    sections: dict[str, dict[str, list[tuple[str, str, int]]]] = {}
    for name, line, items in _sections(parsed["pjsip.conf"]):
        kind = next((value for key, value, _ in items if key == "type"), "")
        if not kind:
            problems.append(Problem("pjsip.conf", line, f"[{name}] has no type"))
        sections.setdefault(kind, {})[name] = items
    for name, items in sections.get("endpoint", {}).items():
        for key, value, line in items:
            if key == "context" and value not in contexts:
                problems.append(Problem("pjsip.conf", line, f"endpoint {name}: unknown context '{value}'"))
            if key in ("auth", "aors"):
                kind = "auth" if key == "auth" else "aor"
                for ref in _split_args(value):
                    if ref not in sections.get(kind, {}):
                        problems.append(Problem("pjsip.conf", line, f"endpoint {name}: unknown {kind} '{ref}'"))
    for name, items in sections.get("identify", {}).items():
        for key, value, line in items:
            if key == "endpoint" and value not in sections.get("endpoint", {}):
                problems.append(Problem("pjsip.conf", line, f"identify {name}: unknown endpoint '{value}'"))

    for name, _line, items in _sections(parsed["manager.conf"]):
        for key, value, line in items:
            if name == "general" and key == "bindaddr" and not ipaddress.ip_address(value).is_loopback:
                problems.append(Problem("manager.conf", line, f"AMI must listen on loopback, not {value}"))
    agi_host = settings.agi_host
    if not ipaddress.ip_address(agi_host).is_loopback:
        problems.append(Problem("extensions.conf", None, f"FastAGI must be on loopback, not {agi_host}"))
    return problems


def check(settings: Settings, catalog: Catalog | None = None) -> dict[str, str]:
    """Run every stage; returns the rendered files or raises (CatalogError,
    TemplateError or CheckFailed). A `catalog` given is not the file's, so its
    menu problems have no line: they are reported with the other problems."""
    problems: list[Problem] = []
    if catalog is None:
        catalog = load_checked_catalog(settings.catalog)
    else:
        problems += [
            Problem(str(settings.catalog), None, f"{format_path(path)}: {reason}")
            for check_catalog in MENU_CHECKS
            for path, reason in check_catalog(catalog)
        ]
    files = render_config(catalog, settings)
    problems += [
        Problem(str(settings.prompts), None, f"{format_path(path)}: {reason}")
        for path, reason in missing_prompts(catalog, settings.prompts)
    ]
    problems += check_rendered(files, settings, catalog)
    if problems:
        raise CheckFailed(problems)
    return files


__all__ = [
    "MENU_CHECKS",
    "CheckFailed",
    "Problem",
    "TemplateError",
    "check",
    "check_rendered",
    "load_checked_catalog",
    "parse_checked_catalog",
]
