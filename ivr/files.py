"""Files that hold what only the service may read: created owner-only, tightened if older.

The run directory holds the customer directory (salted PIN hashes, caller
numbers), the event store (keyed caller hashes), the audit trail and agent
state; none of it is for other local users. SQLite creates its `-wal` and
`-shm` files with the mode of the database file, so creating the database
0600 before SQLite opens it covers all three.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

PRIVATE: Final = 0o600


def private_file(path: str | os.PathLike[str]) -> str:
    """Create `path` (owner read/write only) if missing, or take group and other
    access away from it and its SQLite companions; returns the path as a str.
    SQLite's in-memory names (":memory:", "file:...") are returned unchanged."""
    name = os.fspath(path)
    if name == ":memory:" or name.startswith("file:") or not name:
        return name
    fd = os.open(name, os.O_CREAT | os.O_RDWR, PRIVATE)
    try:
        os.fchmod(fd, PRIVATE)
    finally:
        os.close(fd)
    for suffix in ("-wal", "-shm", "-journal"):
        companion = Path(name + suffix)
        if companion.exists():
            companion.chmod(PRIVATE)
    return name
