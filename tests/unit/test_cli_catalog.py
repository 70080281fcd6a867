"""Every command that reads the catalog reports a broken one in one line, exit code 1."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr.cli import main

COMMANDS = {
    "generate-seats": ["generate-seats"],
    "reconcile": ["reconcile"],
    "prompts build": ["prompts", "build"],
    "simulate": ["simulate", "95588"],
    "menu-map": ["menu-map"],
    "emergency": ["emergency", "status"],
}


@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_broken_catalog_is_one_line_naming_the_command(
    command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "callcenter.yaml"
    broken.write_text("center: {name: test\nnumbers: [\n", encoding="utf-8")
    monkeypatch.setenv("IVR_CATALOG", str(broken))
    monkeypatch.setenv("IVR_RUN_DIR", str(tmp_path / "run"))
    monkeypatch.setenv("IVR_SECRETS_FILE", str(tmp_path / "no-secrets.env"))
    monkeypatch.chdir(tmp_path)

    code = main([*COMMANDS[command]])

    out = capsys.readouterr()
    lines = (out.out + out.err).splitlines()
    assert code == 1
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"ivr {command}: ")
    assert str(broken) in lines[0]
    assert list((tmp_path / "run").glob("*")) == []
