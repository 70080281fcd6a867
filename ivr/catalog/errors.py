"""Catalog errors: every problem, each with the file, the path in the catalog,
the line where the YAML has it (when known) and the reason.

A catalog may be hostile (a reload from a shared checkout, a typo multiplied
by a generator), so what an error shows of it is bounded: a value is quoted
at most `VALUE_CHARS` characters long, an issue renders on one line of
bounded length, and an error lists at most `MAX_REPORTED` issues.
"""

from __future__ import annotations

from dataclasses import dataclass

VALUE_CHARS = 60
PATH_CHARS = 200
REASON_CHARS = 400
MAX_REPORTED = 100


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


def quote_value(value: object) -> str:
    """A short, one-line picture of a value from the catalog, for "got ..." in a reason.

    Collections are described, not printed: their repr could be as large as the file."""
    if isinstance(value, dict):
        return f"a mapping of {len(value):,} keys"
    if isinstance(value, list | tuple | set):
        return f"a list of {len(value):,} items"
    if isinstance(value, str | bytes) and len(value) > VALUE_CHARS:
        return f"{value[:VALUE_CHARS]!r}... ({len(value):,} characters)"
    return _clip(repr(value), VALUE_CHARS)


@dataclass(frozen=True, slots=True)
class CatalogIssue:
    path: str  # e.g. "numbers[1].fallback_queue"
    reason: str  # e.g. "unknown queue 'vipp'"
    line: int | None = None  # 1-based line in the YAML file

    def render(self, file: str) -> str:
        # One line whatever the reason says (a YAML parser's message spans several).
        path = _clip(" ".join(self.path.split()), PATH_CHARS)
        reason = _clip(" ".join(self.reason.split()), REASON_CHARS)
        where = f"{file}:{self.line}" if self.line else file
        return f"{where}: {path}: {reason}" if path else f"{where}: {reason}"


class CatalogError(Exception):
    """The catalog file is unreadable or invalid; `issues` lists the problems found
    (the first `MAX_REPORTED`; `more` counts the rest)."""

    def __init__(self, file: str, issues: list[CatalogIssue], more: int = 0) -> None:
        self.file = file
        self.issues = issues[:MAX_REPORTED]
        self.more = more + max(0, len(issues) - MAX_REPORTED)
        lines = [issue.render(file) for issue in self.issues]
        if self.more:
            lines.append(f"{file}: ... and {self.more:,} more problems")
        super().__init__("\n".join(lines))
