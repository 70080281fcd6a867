"""Load and validate the catalog: YAML -> typed `Catalog`, or `CatalogError`
listing every problem with its file, path, line and reason.

Three passes, each collecting all its problems before stopping:
1. YAML syntax (the line comes from the YAML parser);
2. structure and types (pydantic, unknown keys are errors);
3. cross-references (unknown queue, duplicate ids, a seat in no group...).
Lines for passes 2 and 3 come from walking the composed YAML node tree along
the reported path.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import ValidationError

from ivr.catalog.errors import CatalogError, CatalogIssue
from ivr.catalog.model import Catalog, Queue
from ivr.menu.checks import check_menus

PathPart = str | int


def format_path(parts: Sequence[PathPart]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _line_of(root: yaml.Node | None, parts: Sequence[PathPart]) -> int | None:
    """1-based line of the deepest node found along `parts`."""
    node = root
    line = node.start_mark.line + 1 if node is not None else None
    for part in parts:
        if isinstance(node, yaml.MappingNode):
            found = None
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                    found = value
                    line = key.start_mark.line + 1
                    break
            if found is None:
                return line
            node = found
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                return line
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def _duplicates(values: Iterable[str]) -> list[str]:
    return [value for value, count in Counter(values).items() if count > 1]


def cross_check(catalog: Catalog) -> list[tuple[tuple[PathPart, ...], str]]:
    """Problems that span objects: returns (path parts, reason) pairs."""
    problems: list[tuple[tuple[PathPart, ...], str]] = []
    languages = {language.code for language in catalog.languages}
    queues = {queue.id for queue in catalog.queues}

    for field, values in (
        ("languages", [language.code for language in catalog.languages]),
        ("queues", [queue.id for queue in catalog.queues]),
        ("numbers", [number.number for number in catalog.numbers]),
        ("numbers", [number.id for number in catalog.numbers]),
        ("seats", [seat.id for seat in catalog.seats]),
    ):
        for dup in _duplicates(values):
            index = len(values) - 1 - values[::-1].index(dup)
            problems.append(((field, index), f"duplicate '{dup}'"))

    try:
        ZoneInfo(catalog.center.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append((("center", "timezone"), f"unknown time zone '{catalog.center.timezone}'"))
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
    problems += check_menus(catalog)
    return problems


def _queue_routing(i: int, queue: Queue, queues: set[str]) -> list[tuple[tuple[PathPart, ...], str]]:
    """A group's overflow, empty fallback and widening steps make sense on their own."""
    problems: list[tuple[tuple[PathPart, ...], str]] = []
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


def _routing_cycles(catalog: Catalog) -> list[tuple[tuple[PathPart, ...], str]]:
    """Overflow and empty fallbacks must end somewhere: no group may lead back to itself."""
    edges: dict[str, list[str]] = {
        q.id: [t for t in (q.overflow.queue if q.overflow else None, q.when_empty) if t] for q in catalog.queues
    }
    problems: list[tuple[tuple[PathPart, ...], str]] = []
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


def parse_catalog(text: str, file: str = "<catalog>") -> Catalog:
    """Validate catalog text; raises `CatalogError` listing every problem."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        reason = f"invalid YAML: {getattr(exc, 'problem', None) or exc}"
        raise CatalogError(file, [CatalogIssue("", reason, mark.line + 1 if mark else None)]) from exc
    if not isinstance(data, dict):
        raise CatalogError(file, [CatalogIssue("", "the catalog must be a YAML mapping", 1)])

    try:
        catalog = Catalog.model_validate(data)
    except ValidationError as exc:
        issues = []
        for error in exc.errors():
            parts = tuple(p for p in error["loc"] if isinstance(p, str | int))
            reason = "unknown key" if error["type"] == "extra_forbidden" else error["msg"]
            if error["type"] not in ("missing", "extra_forbidden") and "input" in error:
                reason += f" (got {error['input']!r})"
            issues.append(CatalogIssue(format_path(parts), reason, _line_of(root, parts)))
        raise CatalogError(file, issues) from exc

    problems = cross_check(catalog)
    if problems:
        raise CatalogError(file, [CatalogIssue(format_path(p), reason, _line_of(root, p)) for p, reason in problems])
    return catalog


def load_catalog(path: str | Path) -> Catalog:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogError(str(path), [CatalogIssue("", f"cannot read: {exc}")]) from exc
    return parse_catalog(text, str(path))
