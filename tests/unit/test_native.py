"""The mypyc-compiled group is used only while it matches its sources; both forms behave alike."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from ivr import native


def test_a_stamp_matching_every_source_is_fresh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stamp = tmp_path / "_native.json"
    monkeypatch.setattr(native, "STAMP", stamp)
    digests = {m: native.digest(native.source_of(m)) for m in native.MODULES}

    assert not native.is_fresh()  # no build
    stamp.write_text(json.dumps(digests))
    assert native.is_fresh()
    stamp.write_text(json.dumps({**digests, native.MODULES[-1]: "0" * 64}))
    assert not native.is_fresh()  # one edited source taints the whole group
    stamp.write_text("not json")
    assert not native.is_fresh()


def test_a_stale_group_is_imported_from_its_python_sources() -> None:
    spec = native._SourceFirst().find_spec("ivr.agi.protocol", None)

    assert spec is not None and spec.origin == str(native.source_of("ivr.agi.protocol"))
    assert native._SourceFirst().find_spec("ivr.catalog.model", None) is None


def test_an_edit_after_the_build_runs_the_edited_source(tmp_path: Path) -> None:
    """A fresh interpreter with a stamp that no longer matches imports every .py of the group."""
    code = "import ivr.agi.server as s; print(s.__file__)"
    # The stamp is read at `import ivr`: a copy of the package with a wrong stamp stands for an edit.
    copy = tmp_path / "ivr"
    subprocess.run(["cp", "-r", str(native.PACKAGE_DIR), str(copy)], check=True)
    (copy / "_native.json").write_text(json.dumps({m: "0" * 64 for m in native.MODULES}))
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=False,
                            env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"})  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("ivr/agi/server.py")


def test_no_compiled_function_binds_one_name_to_two_exception_types() -> None:
    """mypyc gives a name bound by several `except ... as` clauses the first clause's type:
    the second clause then fails with a TypeError instead of handling its exception."""
    problems = []
    for module in native.MODULES:
        tree = ast.parse(native.source_of(module).read_text())
        for function in ast.walk(tree):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            bound: dict[str, str] = {}
            for node in ast.walk(function):
                if isinstance(node, ast.ExceptHandler) and node.name and node.type is not None:
                    kind = ast.unparse(node.type)
                    if bound.setdefault(node.name, kind) != kind:
                        problems.append(f"{module}.{function.name}: {node.name} as {bound[node.name]} and {kind}")
    assert not problems
