"""Specs: what the service stores in the run directory is readable by the service only."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from ivr.agents import AgentStateStore
from ivr.audit import SqliteAuditTrail
from ivr.directory.demo import generate_demo_directory
from ivr.emergency import EmergencyStore
from ivr.files import private_file
from ivr.metrics.adapters.store import SqliteEventStore


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_private_file_is_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "x.sqlite3"
    private_file(path)
    assert mode(path) == 0o600


def test_an_older_world_readable_database_and_its_wal_are_tightened(tmp_path: Path) -> None:
    path = tmp_path / "customers.sqlite3"
    for p in (path, Path(f"{path}-wal")):
        p.write_bytes(b"")
        p.chmod(0o644)
    private_file(path)
    assert mode(path) == 0o600 and mode(Path(f"{path}-wal")) == 0o600


@pytest.mark.parametrize(
    "open_store",
    [
        lambda p: SqliteEventStore(p),
        lambda p: SqliteAuditTrail(p),
        lambda p: AgentStateStore(p),
        lambda p: EmergencyStore(p),
        lambda p: generate_demo_directory(p, scrypt_n=2),
    ],
    ids=["events", "audit", "agents", "emergency", "customers"],
)
def test_every_store_of_the_run_directory_is_owner_only_with_its_wal(tmp_path: Path, open_store: object) -> None:
    path = tmp_path / "store.sqlite3"
    store = open_store(path)  # type: ignore[operator]
    for companion in (path, *(p for p in tmp_path.iterdir() if p.name.startswith("store.sqlite3-"))):
        assert mode(companion) == 0o600, companion
    store.close()


def test_the_rendered_configuration_is_for_root_and_the_asterisk_group_only(tmp_path: Path) -> None:
    from ivr.render import ASTERISK_GID, write_config

    out = tmp_path / "etc"
    write_config({"pjsip.conf": "[1001]\ntype=auth\npassword=secret\n", "manager.conf": "[general]\n"}, out)
    assert mode(out) == 0o750
    for name in ("pjsip.conf", "manager.conf"):
        assert mode(out / name) == 0o640
        if os.geteuid() == 0:  # only root may give a file to another group
            assert (out / name).stat().st_gid == ASTERISK_GID
    write_config({"pjsip.conf": "[1001]\n"}, out)  # a re-render keeps the modes
    assert mode(out) == 0o750 and mode(out / "pjsip.conf") == 0o640

