"""Load and validate the catalog: YAML -> typed `Catalog`, or `CatalogError`
listing every problem with its file, path, line and reason.

Four passes, each collecting all its problems before stopping:
0. limits, before any Python object is built: the file is a regular file of
   at most `MAX_CATALOG_BYTES` of UTF-8 text; composing the YAML node tree
   refuses anchors and aliases (no billion laughs), tags other than YAML's core
   ones (no `!!python/...`, no `<<` merge keys), nesting deeper than
   `MAX_DEPTH`, more than `MAX_VALUES` nodes and scalars longer than
   `MAX_SCALAR_CHARS`; then the tree's keys are checked (duplicates, keys that
   are lists or read as true/false/null). Every one of these checks is linear
   in the input and none recurses deeper than `MAX_DEPTH`, so a hostile file
   is refused in milliseconds with one line;
1. YAML syntax (the line comes from the YAML parser);
2. structure and types (pydantic, unknown keys are errors);
3. cross-references (unknown queue, duplicate ids, a seat in no group...),
   then the caller's own `checks`: the loader knows the menu schema but not
   what a caller can do in a menu, so `ivr.check.load_checked_catalog` passes
   the menu checks (`ivr.menu.checks.check_menus`) here.
Lines for passes 2 and 3 come from walking the composed YAML node tree along
the reported path. The tree is composed once and Python data constructed from
it, with libyaml's parser when PyYAML has it.
"""

from __future__ import annotations

import os
import re
import stat
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import ValidationError
from yaml.composer import Composer
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.resolver import Resolver

from ivr.catalog.errors import MAX_REPORTED, CatalogError, CatalogIssue, quote_value
from ivr.catalog.model import Catalog, Queue
from ivr.catalog.scheduling import Contract

PathPart = str | int
# A problem found in a valid structure: the path parts to it and the reason.
Problem = tuple[tuple[PathPart, ...], str]
# A check the caller adds to pass 3 (`ivr.check` adds the menu checks), reported like the loader's own.
CatalogCheck = Callable[[Catalog], list[Problem]]

# What the loader reads at most. For scale: the demo catalog is 14 KB, 8 levels
# deep, its longest scalar 54 characters; the case study's 1,795 seats
# (`ivr generate-seats`) make 122 KB and 18,399 YAML nodes, loaded in ~0.2 s.
MAX_CATALOG_BYTES = 1 << 20  # 1 MiB: 8x the case study
# YAML nodes (keys, values, items): 2.7x the case study (~4,900 seats); composing
# costs a few microseconds a node, so even a refusal at the limit takes < 1 s.
MAX_VALUES = 50_000
MAX_DEPTH = 32  # 4x the deepest the model goes; bounds every recursion below
MAX_SCALAR_CHARS = 4_096  # a name, label or id; well under int()'s 4,300-digit limit


def format_path(parts: Sequence[PathPart]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _line_finder(root: yaml.Node | None) -> Callable[[Sequence[PathPart]], int | None]:
    """Finds the 1-based line of the deepest node along a path. Each mapping's keys
    are indexed on first use, so many issues in a large mapping cost one pass over it."""
    indexes: dict[int, dict[str, tuple[yaml.Node, yaml.Node]]] = {}

    def line_of(parts: Sequence[PathPart]) -> int | None:
        node = root
        line = node.start_mark.line + 1 if node is not None else None
        for part in parts:
            if isinstance(node, yaml.MappingNode):
                index = indexes.get(id(node))
                if index is None:
                    index = indexes[id(node)] = {}
                    for key, value in node.value:
                        if isinstance(key, yaml.ScalarNode):
                            index.setdefault(key.value, (key, value))
                found = index.get(str(part))
                if found is None:
                    return line
                line = found[0].start_mark.line + 1
                node = found[1]
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
                if part >= len(node.value):
                    return line
                node = node.value[part]
                line = node.start_mark.line + 1
            else:
                return line
        return line

    return line_of


def _duplicates(values: Iterable[str]) -> list[str]:
    return [value for value, count in Counter(values).items() if count > 1]


def cross_check(catalog: Catalog) -> list[Problem]:
    """Problems that span objects: returns (path parts, reason) pairs."""
    problems: list[Problem] = []
    languages = {language.code for language in catalog.languages}
    queues = {queue.id for queue in catalog.queues}

    for field, values in (
        ("languages", [language.code for language in catalog.languages]),
        ("queues", [queue.id for queue in catalog.queues]),
        ("numbers", [number.number for number in catalog.numbers]),
        ("numbers", [number.id for number in catalog.numbers]),
        ("seats", [seat.id for seat in catalog.seats]),
        (("scheduling", "patterns"), [pattern.id for pattern in catalog.scheduling.patterns]),
    ):
        for dup in _duplicates(values):
            index = len(values) - 1 - values[::-1].index(dup)
            where = field if isinstance(field, tuple) else (field,)
            problems.append(((*where, index), f"duplicate '{dup}'"))

    try:
        ZoneInfo(catalog.center.timezone)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name too long for a file name
        problems.append((("center", "timezone"), f"unknown time zone {quote_value(catalog.center.timezone)}"))
    for i, queue in enumerate(catalog.queues):
        if queue.language not in languages:
            problems.append((("queues", i, "language"), f"unknown language '{queue.language}'"))
        problems += _queue_routing(i, queue, queues)
    problems += _routing_cycles(catalog)

    for i, number in enumerate(catalog.numbers):
        if number.fallback_queue not in queues:
            problems.append((("numbers", i, "fallback_queue"), f"unknown queue '{number.fallback_queue}'"))
        if number.language not in languages:
            problems.append((("numbers", i, "language"), f"unknown language '{number.language}'"))
        for j, code in enumerate(number.languages):
            if code not in languages:
                problems.append((("numbers", i, "languages", j), f"unknown language '{code}'"))
        if number.hours is not None and number.hours not in catalog.calendars:
            problems.append((("numbers", i, "hours"), f"unknown calendar '{number.hours}'"))
        if number.language not in number.languages:
            problems.append((("numbers", i, "language"), f"'{number.language}' is not among the line's languages"))

    for i, seat in enumerate(catalog.seats):
        if not seat.skills:
            problems.append((("seats", i, "skills"), f"seat {seat.id} is in no group"))
        for queue_id in seat.skills:
            if queue_id not in queues:
                problems.append((("seats", i, "skills", queue_id), f"unknown queue '{queue_id}'"))
    problems += _tier_routing(catalog, queues)
    problems += _contracts(catalog)
    return problems


def _contracts(catalog: Catalog) -> list[Problem]:
    """Contracts name real shift patterns and can be worked: enough days left
    after the days off, and hours a week that the patterns can fill."""
    problems: list[Problem] = []
    patterns = {pattern.id: pattern for pattern in catalog.scheduling.patterns}
    if catalog.scheduling.calendar is not None and catalog.scheduling.calendar not in catalog.calendars:
        problems.append((("scheduling", "calendar"), f"unknown calendar '{catalog.scheduling.calendar}'"))
    contracts: list[tuple[tuple[PathPart, ...], Contract]] = [
        (("scheduling", "default_contract"), catalog.scheduling.default_contract)
    ]
    contracts += [(("seats", i, "contract"), seat.contract) for i, seat in enumerate(catalog.seats) if seat.contract]
    for where, contract in contracts:
        for j, pattern_id in enumerate(contract.patterns):
            if pattern_id not in patterns:
                problems.append(((*where, "patterns", j), f"unknown shift pattern '{pattern_id}'"))
        if 7 - len(set(contract.days_off)) < contract.days_per_week:
            problems.append(
                ((*where, "days_off"), f"{contract.days_per_week} working days do not fit beside the days off")
            )
        usable = [patterns[p] for p in contract.patterns if p in patterns] or list(patterns.values())
        if usable:
            longest = max(pattern.paid_minutes for pattern in usable) * contract.days_per_week / 60
            if longest < contract.hours_per_week:
                reason = (
                    f"{contract.hours_per_week:g} h a week cannot be worked in {contract.days_per_week} shifts"
                    f" of at most {longest / contract.days_per_week:g} paid hours"
                )
                problems.append(((*where, "hours_per_week"), reason))
    return problems


def _tier_routing(catalog: Catalog, queues: set[str]) -> list[Problem]:
    """Lines' language queues, customer tiers and the lost-card queue name real
    groups, and each priority is declared once and ordered."""
    problems: list[Problem] = []
    for i, line in enumerate(catalog.numbers):
        for code, queue in line.language_queues.items():
            if queue not in queues:
                problems.append((("numbers", i, "language_queues", code), f"unknown queue '{queue}'"))
            if code not in line.languages:
                problems.append(
                    (("numbers", i, "language_queues", code), f"'{code}' is not among the line's languages")
                )
        policy = catalog.tiers.get(line.tier)
        if policy is not None and policy.priority != line.priority:
            problems.append(
                (
                    ("numbers", i, "priority"),
                    f"{line.priority} differs from tiers.{line.tier}.priority {policy.priority}: declare it once",
                )
            )
    for tier, policy in catalog.tiers.items():
        if policy.queue is not None and policy.queue not in queues:
            problems.append((("tiers", tier, "queue"), f"unknown queue '{policy.queue}'"))
    if catalog.lost_card is not None:
        if catalog.lost_card.queue not in queues:
            problems.append((("lost_card", "queue"), f"unknown queue '{catalog.lost_card.queue}'"))
        top = max(catalog.tiers.items(), key=lambda item: item[1].priority, default=None)
        if top is not None and catalog.lost_card.priority <= top[1].priority:
            problems.append(
                (
                    ("lost_card", "priority"),
                    f"{catalog.lost_card.priority} is not above tier {top[0]}'s {top[1].priority}:"
                    " lost card must be answered first",
                )
            )
    return problems


def _queue_routing(i: int, queue: Queue, queues: set[str]) -> list[Problem]:
    """A group's overflow, empty fallback and widening steps make sense on their own."""
    problems: list[Problem] = []
    for key, target in (
        ("overflow", queue.overflow.queue if queue.overflow else None),
        ("when_empty", queue.when_empty),
    ):
        if target is None:
            continue
        where: tuple[PathPart, ...] = ("queues", i, key, "queue") if key == "overflow" else ("queues", i, key)
        if target not in queues:
            problems.append((where, f"unknown queue '{target}'"))
        elif target == queue.id:
            problems.append((where, "a group cannot overflow into itself"))
    if queue.when_empty and not (queue.join_empty or queue.leave_when_empty):
        problems.append(
            (
                ("queues", i, "when_empty"),
                "needs join_empty or leave_when_empty: the conditions that make the group empty",
            )
        )
    if queue.widen and queue.max_penalty is None:
        problems.append((("queues", i, "widen"), "needs max_penalty: the seats that take calls before widening"))
    previous_after, previous_penalty = 0, queue.max_penalty if queue.max_penalty is not None else -1
    for j, step in enumerate(queue.widen):
        if step.after <= previous_after or step.max_penalty <= previous_penalty:
            problems.append(
                (("queues", i, "widen", j), "each step must come later and let in higher penalties than the one before")
            )
        previous_after, previous_penalty = step.after, step.max_penalty
    return problems


def _routing_cycles(catalog: Catalog) -> list[Problem]:
    """Overflow and empty fallbacks must end somewhere: no group may lead back to itself."""
    edges: dict[str, list[str]] = {
        q.id: [t for t in (q.overflow.queue if q.overflow else None, q.when_empty) if t] for q in catalog.queues
    }
    problems: list[Problem] = []
    for i, queue in enumerate(catalog.queues):
        seen: set[str] = set()
        frontier = list(edges[queue.id])
        while frontier:
            current = frontier.pop()
            if current == queue.id:
                problems.append((("queues", i), f"overflow/when_empty from '{queue.id}' leads back to it"))
                break
            if current not in seen and current in edges:
                seen.add(current)
                frontier += edges[current]
    return problems


_CORE = "tag:yaml.org,2002:"
_ALLOWED_TAGS = frozenset(_CORE + tag for tag in ("str", "int", "float", "bool", "null", "timestamp", "seq", "map"))
# What YAML's reader refuses too; found here first so the error names the line.
_NOT_PRINTABLE = re.compile("[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

try:  # libyaml's parser (C) when PyYAML was built with it: the same events, ~10x faster.
    from yaml._yaml import CParser as _Parser
except ImportError:  # pragma: no cover - PyYAML without libyaml

    class _Parser(yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser):  # type: ignore[no-redef]
        def __init__(self, stream: str) -> None:
            yaml.reader.Reader.__init__(self, stream)
            yaml.scanner.Scanner.__init__(self)
            yaml.parser.Parser.__init__(self)


class _Refused(Exception):
    """A limit was crossed while composing; carries the one issue to report."""

    def __init__(self, issue: CatalogIssue) -> None:
        super().__init__(issue.reason)
        self.issue = issue


class _CatalogLoader(_Parser, Composer, SafeConstructor, Resolver):
    """yaml.SafeLoader (safe constructors only: `!!python/...` cannot build an
    object) whose composer enforces the limits as each event arrives, so nothing
    past the first offending node is read, and keeps the path for the message."""

    def __init__(self, text: str) -> None:
        _Parser.__init__(self, text)
        Composer.__init__(self)
        SafeConstructor.__init__(self)
        Resolver.__init__(self)
        self._path: list[PathPart | None] = []  # None: a key, not a path step
        self._nodes = 0

    def get_single_node(self) -> yaml.Node | None:
        return Composer.get_single_node(self)  # the Python composer, not libyaml's

    def _refuse(self, at: yaml.Event | yaml.Node, reason: str) -> _Refused:
        path = format_path([part for part in self._path if part is not None])
        mark = at.start_mark
        return _Refused(CatalogIssue(path, reason, mark.line + 1 if mark else None))

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        event = self.peek_event()
        assert event is not None  # the parser ends a document before its stream
        if isinstance(index, yaml.Node):
            self._path.append(index.value if isinstance(index, yaml.ScalarNode) else "?")
        else:
            self._path.append(index)  # an item's position, or None for a key
        try:
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
                raise self._refuse(event, "anchors and aliases (&name, *name) are not supported: write the value out")
            if len(self._path) > MAX_DEPTH:
                raise self._refuse(event, f"nested deeper than {MAX_DEPTH} levels")
            self._nodes += 1
            if self._nodes > MAX_VALUES:
                raise self._refuse(event, f"more than {MAX_VALUES:,} values: the catalog is too large")
            if isinstance(event, yaml.ScalarEvent) and len(event.value) > MAX_SCALAR_CHARS:
                raise self._refuse(event, f"a value of {len(event.value):,} characters (at most {MAX_SCALAR_CHARS:,})")
            node = super().compose_node(parent, index)
            if node is not None and node.tag not in _ALLOWED_TAGS:
                raise self._refuse(node, _tag_refusal(node.tag))
            return node
        finally:
            self._path.pop()

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        # A scalar that matches a core type but is out of range (2025-13-45) raises
        # ValueError from datetime/int: report it like any YAML error, with its line.
        try:
            return super().construct_object(node, deep)
        except (ValueError, OverflowError) as exc:
            what = node.tag.removeprefix(_CORE)
            raise ConstructorError(
                None, None, f"cannot read {quote_value(node.value)} as a {what}: {exc}", node.start_mark
            ) from exc


def _tag_refusal(tag: str) -> str:
    if tag == _CORE + "merge":
        return "merge keys (<<) are not supported: write the keys out"
    if tag == _CORE + "value":
        return "'=' is not supported as a plain value: quote it"
    short = "!!" + tag.removeprefix(_CORE) if tag.startswith(_CORE) else tag
    return f"the tag {quote_value(short)} is not supported"


def _key_issues(loader: _CatalogLoader, root: yaml.Node) -> list[CatalogIssue]:
    """Keys YAML would silently merge or mangle: duplicates (last wins), and keys
    that are lists/mappings or read as true/false/null (`no:`, `on:`, `~:`)."""
    issues: list[CatalogIssue] = []
    stack: list[tuple[yaml.Node, tuple[PathPart, ...]]] = [(root, ())]
    while stack:
        node, path = stack.pop()
        if isinstance(node, yaml.SequenceNode):
            stack.extend((item, (*path, i)) for i, item in enumerate(node.value))
        elif isinstance(node, yaml.MappingNode):
            first: dict[str, int] = {}
            for key, value in node.value:
                line = key.start_mark.line + 1
                if not isinstance(key, yaml.ScalarNode):
                    issues.append(
                        CatalogIssue(format_path(path), "a key must be a single value, not a list or mapping", line)
                    )
                    continue
                where = (*path, key.value)
                if key.tag in (_CORE + "bool", _CORE + "null"):
                    reads_as = "true/false" if key.tag == _CORE + "bool" else "null"
                    issues.append(CatalogIssue(format_path(where), f"the key reads as {reads_as}: quote it", line))
                    continue
                # Keys that YAML builds into equal values (1 and "1" once menus take
                # digits as text, 2025-10-11 quoted or not) are the same key.
                identity = str(loader.construct_object(key))
                if identity in first:
                    issues.append(
                        CatalogIssue(format_path(where), f"duplicate key (first at line {first[identity]})", line)
                    )
                else:
                    first[identity] = line
                stack.append((value, where))
    return sorted(issues, key=lambda issue: issue.line or 0)


def _yaml_issue(exc: yaml.YAMLError) -> CatalogIssue:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return CatalogIssue("", f"invalid YAML: {problem}", mark.line + 1 if mark else None)


def _compose(text: str, file: str) -> tuple[yaml.Node | None, Any]:
    """Pass 0 and 1: the node tree (for lines) and the plain data built from it."""
    if len(text) > MAX_CATALOG_BYTES:
        raise CatalogError(file, [CatalogIssue("", _too_large(len(text), "characters"))])
    bad = _NOT_PRINTABLE.search(text)
    if bad:
        line = text.count("\n", 0, bad.start()) + 1
        reason = f"invalid YAML: character U+{ord(bad.group()):04X} is not allowed (a control or binary byte)"
        raise CatalogError(file, [CatalogIssue("", reason, line)])
    loader = _CatalogLoader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return None, None
        issues = _key_issues(loader, root)
        if issues:
            raise CatalogError(file, issues)
        return root, loader.construct_document(root)
    except _Refused as exc:
        raise CatalogError(file, [exc.issue]) from None
    except yaml.YAMLError as exc:
        raise CatalogError(file, [_yaml_issue(exc)]) from exc
    finally:
        loader.dispose()


def _too_large(size: int, unit: str) -> str:
    return (
        f"the catalog is {size:,} {unit}, more than the limit of {MAX_CATALOG_BYTES:,} ({MAX_CATALOG_BYTES >> 20} MiB)"
    )


def _kind_of(data: Any) -> str:
    if data is None:
        return "an empty document"
    return "a list" if isinstance(data, list) else f"a single value ({quote_value(data)})"


def parse_catalog(text: str, file: str = "<catalog>", checks: Sequence[CatalogCheck] = ()) -> Catalog:
    """Validate catalog text; raises `CatalogError` listing every problem.

    `checks` run after the loader's own cross-references (whatever those found,
    so every problem is reported at once); their problems get lines like the loader's."""
    root, data = _compose(text, file)
    if not isinstance(data, dict):
        raise CatalogError(file, [CatalogIssue("", f"the catalog must be a YAML mapping, got {_kind_of(data)}", 1)])
    line_of = _line_finder(root)

    try:
        catalog = Catalog.model_validate(data)
    except ValidationError as exc:
        issues = []
        errors = exc.errors(include_url=False)
        for error in errors[:MAX_REPORTED]:
            parts = tuple(p for p in error["loc"] if isinstance(p, str | int))
            reason = "unknown key" if error["type"] == "extra_forbidden" else error["msg"]
            if error["type"] not in ("missing", "extra_forbidden") and "input" in error:
                reason += f" (got {quote_value(error['input'])})"
            issues.append(CatalogIssue(format_path(parts), reason, line_of(parts)))
        raise CatalogError(file, issues, more=max(0, len(errors) - MAX_REPORTED)) from exc

    problems = cross_check(catalog)
    for extra in checks:
        problems += extra(catalog)
    if problems:
        issues = [CatalogIssue(format_path(p), reason, line_of(p)) for p, reason in problems[:MAX_REPORTED]]
        raise CatalogError(file, issues, more=max(0, len(problems) - MAX_REPORTED))
    return catalog


_FILE_KINDS = {stat.S_IFDIR: "a directory", stat.S_IFIFO: "a FIFO", stat.S_IFSOCK: "a socket",
               stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device"}  # fmt: skip


def read_catalog_text(path: Path) -> str:
    """The file's text: a regular file of at most `MAX_CATALOG_BYTES` of UTF-8.

    Opened non-blocking and checked with fstat on the open descriptor, so a FIFO
    (or a file swapped for one) cannot block the loader, and never read past the limit."""

    def refuse(reason: str, line: int | None = None) -> CatalogError:
        return CatalogError(str(path), [CatalogIssue("", reason, line)])

    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise refuse(f"cannot read: {exc.strerror or exc}") from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise refuse(f"cannot read: not a regular file ({_FILE_KINDS.get(stat.S_IFMT(info.st_mode), 'special')})")
        if info.st_size > MAX_CATALOG_BYTES:
            raise refuse(_too_large(info.st_size, "bytes"))
        chunks: list[bytes] = []
        left = MAX_CATALOG_BYTES + 1  # the size may lie (/proc) or grow while read
        while left > 0 and (chunk := os.read(fd, min(left, 1 << 16))):
            chunks.append(chunk)
            left -= len(chunk)
        data = b"".join(chunks)
    except OSError as exc:
        raise refuse(f"cannot read: {exc.strerror or exc}") from exc
    finally:
        os.close(fd)
    if len(data) > MAX_CATALOG_BYTES:
        raise refuse(_too_large(len(data), "bytes or more"))
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise refuse(f"not UTF-8 text: byte 0x{data[exc.start]:02x} cannot be decoded", line) from None


def load_catalog(path: str | Path, checks: Sequence[CatalogCheck] = ()) -> Catalog:
    path = Path(path)
    return parse_catalog(read_catalog_text(path), str(path), checks)
