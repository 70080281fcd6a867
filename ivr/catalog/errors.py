"""Catalog errors: every problem, each with the file, the path in the catalog,
the line where the YAML has it (when known) and the reason."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CatalogIssue:
    path: str  # e.g. "numbers[1].fallback_queue"
    reason: str  # e.g. "unknown queue 'vipp'"
    line: int | None = None  # 1-based line in the YAML file

    def render(self, file: str) -> str:
        where = f"{file}:{self.line}" if self.line else file
        return f"{where}: {self.path}: {self.reason}" if self.path else f"{where}: {self.reason}"


class CatalogError(Exception):
    """The catalog file is unreadable or invalid; `issues` lists every problem found."""

    def __init__(self, file: str, issues: list[CatalogIssue]) -> None:
        self.file = file
        self.issues = issues
        super().__init__("\n".join(issue.render(file) for issue in issues))
