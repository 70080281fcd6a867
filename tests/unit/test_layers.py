"""The package's layers, read from its imports: every module under `ivr/` is
parsed (not imported) and each import checked against the rules below.

Imports are read at module level and inside functions; those under
`if TYPE_CHECKING:` are ignored (they never run). An import of `a.b.c` counts
as an import of `a.b.c` and of the packages `a.b` and `a` it runs first, except
the importer's own packages, which are already being imported.

Rules, each failure naming the importing module, its line and the rule:

- no import cycle between ivr modules through module-level imports (a
  function-level import runs after every module has loaded, so it cannot
  make one);
- aiohttp only in the HTTP edge: `ivr/web/`, `ivr/app.py`, `ivr/serve.py`,
  and a feature's adapters (`http.py`, `feature.py`, `agi.py`, `adapters/`);
- `ivr.web` only from the HTTP edge and the composition root, never from a
  domain or core module;
- no import of a higher layer (`LAYERS`).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "ivr"

# The feature packages: each a domain core with its storage and adapters (ivr/app.py).
FEATURES = (
    "ivr.agents", "ivr.audit", "ivr.callflow", "ivr.emergency", "ivr.health", "ivr.metrics", "ivr.reload",
    "ivr.scheduling", "ivr.survey",
)  # fmt: skip
# Lowest first; a module may import its own layer and those below it. A module
# is in the layer of the longest prefix that names it, except a feature's
# adapters (`EDGE_FILES`, `EDGE_PACKAGES`), which are in "feature adapters".
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("base", ("ivr", "ivr.settings", "ivr.log", "ivr.native", "ivr.eventloop", "ivr.files")),
    ("catalog", ("ivr.catalog",)),
    ("domain", ("ivr.menu", "ivr.directory", "ivr.hours", "ivr.prompts", "ivr.announcements", "ivr.render")),
    ("config check, protocols", ("ivr.check", "ivr.agi", "ivr.ami")),
    ("features", FEATURES),
    ("web", ("ivr.web",)),
    ("app", ("ivr.app",)),
    ("feature adapters", ()),
    ("composition root, command line", ("ivr.serve", "ivr.cli")),
)
ADAPTERS = "feature adapters"
# A feature's adapters: the files that plug it into `ivr serve` and its HTTP and
# FastAGI edges, and an `adapters/` subpackage (what `ivr/metrics/` has).
EDGE_FILES = frozenset({"http.py", "feature.py", "agi.py"})
EDGE_PACKAGES = frozenset({"adapters"})
# Who may import aiohttp and ivr.web, beside the feature adapters.
AIOHTTP_MODULES = ("ivr.web", "ivr.app", "ivr.serve")
WEB_MODULES = ("ivr.web", "ivr.app", "ivr.serve", "ivr.cli")


@dataclass(frozen=True)
class Module:
    name: str
    path: Path

    @property
    def is_package(self) -> bool:
        return self.path.name == "__init__.py"

    @property
    def is_adapter(self) -> bool:
        parts = self.path.relative_to(PACKAGE).parts
        # Inside a package: `ivr/app.py` is the app, not a feature's file.
        return len(parts) > 1 and (parts[-1] in EDGE_FILES or any(p in EDGE_PACKAGES for p in parts[:-1]))


@dataclass(frozen=True)
class Import:
    importer: Module
    target: str  # the full dotted name imported (a module, or a name in one)
    line: int
    module_level: bool

    def where(self) -> str:
        return f"{self.importer.name} ({self.importer.path.relative_to(ROOT)}:{self.line})"


def modules() -> dict[str, Module]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = Module(name, path)
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(module: Module, source: str) -> Iterator[Import]:
    tree = ast.parse(source, str(module.path))
    package = module.name if module.is_package else module.name.rpartition(".")[0]

    def visit(node: ast.AST, module_level: bool) -> Iterator[Import]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                for orelse in child.orelse:  # `else:` runs
                    yield from visit(orelse, module_level)
                continue
            if isinstance(child, ast.Import):
                for alias in child.names:
                    yield Import(module, alias.name, child.lineno, module_level)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package.split(".")[: len(package.split(".")) - (child.level - 1)]
                    base = ".".join([*anchor, base] if base else anchor)
                for alias in child.names:
                    yield Import(module, f"{base}.{alias.name}" if alias.name != "*" else base, child.lineno,
                                 module_level)  # fmt: skip
            inner = module_level and not isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            yield from visit(child, inner)

    yield from visit(tree, True)


def _resolve(target: str, known: dict[str, Module]) -> str | None:
    """The ivr module an import runs: the longest known prefix (`from m import name` names m)."""
    parts = target.split(".")
    for end in range(len(parts), 0, -1):
        name = ".".join(parts[:end])
        if name in known:
            return name
    return None


def _runs(importer: Module, module: str) -> list[str]:
    """`module` and the packages above it that importing it runs, but the importer's own."""
    parts = module.split(".")
    own = importer.name if importer.is_package else importer.name.rpartition(".")[0]
    ran = []
    for end in range(1, len(parts) + 1):
        name = ".".join(parts[:end])
        if not (own == name or own.startswith(name + ".")) and name != importer.name:
            ran.append(name)
    return ran


def layer_of(module: Module) -> int:
    if module.is_adapter:
        return [name for name, _ in LAYERS].index(ADAPTERS)
    best, rank = -1, -1
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module.name == prefix or module.name.startswith(prefix + ".")) and len(prefix) > best:
                best, rank = len(prefix), index
    if rank < 0:
        raise AssertionError(f"{module.name} ({module.path.relative_to(ROOT)}) is in no layer: add it to LAYERS")
    return rank


def _under(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


KNOWN = modules()
IMPORTS = [imp for module in KNOWN.values() for imp in _imports(module, module.path.read_text(encoding="utf-8"))]


def test_the_layer_table_covers_every_module() -> None:
    unplaced = []
    for module in KNOWN.values():
        try:
            layer_of(module)
        except AssertionError as exc:
            unplaced.append(str(exc))
    assert not unplaced, "\n".join(unplaced)


def test_no_import_cycle_between_ivr_modules() -> None:
    edges: dict[str, dict[str, Import]] = {name: {} for name in KNOWN}
    for imp in IMPORTS:
        target = _resolve(imp.target, KNOWN)
        if imp.module_level and target is not None:
            for ran in _runs(imp.importer, target):
                if ran in KNOWN:  # not a namespace package: nothing of its own runs
                    edges[imp.importer.name].setdefault(ran, imp)
    cycles = []
    for cycle in _cycles(edges):
        steps = zip(cycle, [*cycle[1:], cycle[0]], strict=True)
        cycles.append(
            " -> ".join([*cycle, cycle[0]])
            + "".join(f"\n    {edges[a][b].where()}: imports {edges[a][b].target}" for a, b in steps)
        )
    assert not cycles, "rule 'no import cycle' (module-level imports):\n" + "\n".join(cycles)


def _cycles(edges: dict[str, dict[str, Import]]) -> list[list[str]]:
    """One shortest cycle through each strongly connected group of modules (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in edges[node]:
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            connect(node)
    return [_shortest_cycle(group, edges) for group in groups]


def _shortest_cycle(group: list[str], edges: dict[str, dict[str, Import]]) -> list[str]:
    members, start = set(group), group[0]
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for nxt in sorted(edges[node]):
                if nxt == start:
                    return paths[node]
                if nxt in members and nxt not in paths:
                    paths[nxt] = [*paths[node], nxt]
                    following.append(nxt)
        frontier = following
    return group  # pragma: no cover - a strongly connected group has a cycle through each member


def test_aiohttp_only_at_the_http_edge() -> None:
    found = [
        f"{imp.where()}: imports {imp.target}: rule 'aiohttp only in ivr/web/, ivr/app.py, ivr/serve.py"
        " and a feature's adapters (http.py, feature.py, agi.py, adapters/)'"
        for imp in IMPORTS
        if imp.target.split(".")[0] == "aiohttp"
        and not (_under(imp.importer.name, AIOHTTP_MODULES) or imp.importer.is_adapter)
    ]
    assert not found, "\n".join(found)


def test_no_domain_or_core_module_imports_the_web_layer() -> None:
    found = {  # one line per statement, not per name
        (imp.importer.name, imp.line): f"{imp.where()}: imports {_resolve(imp.target, KNOWN)}: rule 'ivr.web only"
        " from the HTTP edge (ivr/web/, ivr/app.py, a feature's adapters) and the composition root"
        " (ivr/serve.py, ivr/cli.py)'"
        for imp in IMPORTS
        if _under(imp.target, ("ivr.web",)) and not (_under(imp.importer.name, WEB_MODULES) or imp.importer.is_adapter)
    }
    assert not found, "\n".join(found.values())


def test_no_module_imports_a_higher_layer() -> None:
    found: dict[tuple[str, int, str], str] = {}  # one line per statement and module, not per name
    for imp in IMPORTS:
        target = _resolve(imp.target, KNOWN)
        if target is None:
            continue
        mine, theirs = layer_of(imp.importer), layer_of(KNOWN[target])
        if theirs > mine:
            found.setdefault(
                (imp.importer.name, imp.line, target),
                f"{imp.where()}: imports {target}: rule 'no import of a higher layer'"
                f" ({LAYERS[mine][0]} < {LAYERS[theirs][0]})",
            )
    assert not found, "\n".join(found.values())


def test_the_cycle_finder_names_every_step_of_a_cycle() -> None:
    def step(importer: str, line: int) -> Import:
        return Import(Module(importer, PACKAGE / "x.py"), "", line, True)

    edges = {
        "a": {"b": step("a", 1)},
        "b": {"c": step("b", 2), "d": step("b", 3)},
        "c": {"a": step("c", 4)},
        "d": {},
    }

    assert _cycles(edges) == [["a", "b", "c"]]
    assert _cycles({"a": {"b": step("a", 1)}, "b": {}}) == []


@pytest.mark.parametrize(
    ("module", "layer"),
    [
        ("ivr.catalog.load", "catalog"),
        ("ivr.catalog.menus", "catalog"),
        ("ivr.menu.engine", "domain"),
        ("ivr.agi.server", "config check, protocols"),
        ("ivr.metrics.reducer", "features"),
        ("ivr.metrics.adapters.http", ADAPTERS),
        ("ivr.agents.http", ADAPTERS),
        ("ivr.agi.feature", ADAPTERS),
        ("ivr.serve", "composition root, command line"),
    ],
)
def test_modules_sit_in_the_layer_the_table_says(module: str, layer: str) -> None:
    if module not in KNOWN:
        pytest.skip(f"{module} does not exist (yet)")
    assert LAYERS[layer_of(KNOWN[module])][0] == layer


def test_the_reader_sees_function_level_imports_and_skips_type_checking() -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "import ivr.catalog.model\n"
        "if TYPE_CHECKING:\n"
        "    from ivr.web import Api\n"
        "def f():\n"
        "    from ivr.menu import engine\n"
        "from . import fields\n"
    )
    module = Module("ivr.catalog.example", PACKAGE / "catalog" / "example.py")

    found = [(imp.target, imp.line, imp.module_level) for imp in _imports(module, source)]

    assert found == [
        ("typing.TYPE_CHECKING", 1, True),
        ("ivr.catalog.model", 2, True),
        ("ivr.menu.engine", 6, False),
        ("ivr.catalog.fields", 7, True),
    ]
