"""Fixtures shared by the unit specs."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ivr.settings import Settings

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings over copies of the real catalog and templates, free to be edited by a test."""
    templates = tmp_path / "dialplans"
    shutil.copytree(REPO / "dialplans", templates)
    catalog = tmp_path / "callcenter.yaml"
    shutil.copy(REPO / "callcenter.yaml", catalog)
    return Settings(catalog=catalog, templates=templates, run_dir=tmp_path / "run")
