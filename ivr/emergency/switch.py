"""The emergency announcement switch (紧急公告): a prompt played before every menu.

Theory of operation: supervisors (HTTP API) and ops (`ivr emergency` CLI)
switch an announcement on for every line (`all`) or one line, naming a
recorded prompt (`emergency_*`, built by `ivr prompts build` in every
language of the lines it reaches) and when it ends. The state lives in SQLite
beside the other run-time state, so the CLI and the service see the same
switch; the call flow reads the announcements in force when each call starts
(global first, then the line's) and plays them before the greeting. An
announcement past its expiry is simply not in force. Every change is one
audit-trail entry (who, when, before, after).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from ivr.audit import AuditEntry, AuditTrail
from ivr.catalog.model import Catalog
from ivr.settings import Settings

if TYPE_CHECKING:
    from .store import EmergencyStore

ALL_LINES = "all"
PROMPT = re.compile(r"^emergency_[a-z0-9_]{1,38}$")
MAX_DURATION = 7 * 24 * 3600  # an announcement nobody switches off still ends within a week


class EmergencyError(ValueError):
    """A switch request the center refuses: unknown line or prompt, bad expiry."""


@dataclass(frozen=True, slots=True)
class Announcement:
    scope: str  # "all" or a line id
    prompt: str
    expires_at: float
    set_by: str
    set_at: float

    def in_force(self, now: float) -> bool:
        return now < self.expires_at

    def public(self) -> dict[str, object]:
        return asdict(self)


def announcements_for(active: Iterable[Announcement], line: str, now: float) -> tuple[str, ...]:
    """Prompt ids a call on `line` hears first: the global one, then the line's."""
    ordered = sorted((a for a in active if a.in_force(now)), key=lambda a: (a.scope != ALL_LINES, a.set_at))
    return tuple(a.prompt for a in ordered if a.scope in (ALL_LINES, line))


class EmergencySwitch:
    """Switch on and off, validated and audited. Synchronous (SQLite): call through a thread.

    `prompt_exists(language, prompt)` says whether the recording is there;
    `lines` maps each line id to the languages callers on it may hear."""

    def __init__(
        self, store: EmergencyStore, audit: AuditTrail, lines: dict[str, tuple[str, ...]],
        prompt_exists: Callable[[str, str], bool], clock: Callable[[], float] = time.time,
    ) -> None:  # fmt: skip
        self._store, self._audit, self._lines = store, audit, lines
        self._prompt_exists, self._clock = prompt_exists, clock

    def _languages(self, scope: str) -> set[str]:
        if scope == ALL_LINES:
            return {code for codes in self._lines.values() for code in codes}
        if scope not in self._lines:
            raise EmergencyError(f"unknown line {scope!r}; use one of {', '.join([ALL_LINES, *self._lines])}")
        return set(self._lines[scope])

    def active(self) -> list[Announcement]:
        now = self._clock()
        return [a for a in self._store.all() if a.in_force(now)]

    def switch_on(self, scope: str, prompt: str, duration: float, *, who: str, role: str) -> Announcement:
        languages = self._languages(scope)
        if not PROMPT.match(prompt):
            raise EmergencyError(f"{prompt!r} is not an emergency prompt id (emergency_...)")
        missing = sorted(code for code in languages if not self._prompt_exists(code, prompt))
        if missing:
            raise EmergencyError(f"prompt {prompt!r} is not recorded in {', '.join(missing)}: run `ivr prompts build`")
        if not 0 < duration <= MAX_DURATION:
            raise EmergencyError(f"duration must be between 1 s and {MAX_DURATION // 3600} h")
        now = self._clock()
        announcement = Announcement(scope, prompt, now + duration, who, now)
        before = self._store.put(announcement)
        self._record("emergency.on", scope, before, announcement, who, role, now)
        return announcement

    def switch_off(self, scope: str, *, who: str, role: str) -> Announcement | None:
        self._languages(scope)
        before = self._store.clear(scope)
        self._record("emergency.off", scope, before, None, who, role, self._clock())
        return before

    def _record(
        self, action: str, scope: str, before: Announcement | None, after: Announcement | None,
        who: str, role: str, now: float,
    ) -> None:  # fmt: skip
        now_in_force = before if before is None or before.in_force(now) else None
        self._audit.record(AuditEntry(
            at=datetime.fromtimestamp(now, UTC), who=who, role=role, action=action, target=f"emergency/{scope}",
            before=now_in_force.public() if now_in_force else None, after=after.public() if after else None,
            outcome="ok",
        ))  # fmt: skip


def emergency_switch(settings: Settings, catalog: Catalog, store: EmergencyStore, audit: AuditTrail) -> EmergencySwitch:
    """The switch for this center: its lines and languages, recordings in the run dir's sounds."""
    lines = {number.id: number.languages for number in catalog.numbers}
    sounds = settings.sounds_dir
    return EmergencySwitch(
        store, audit, lines, lambda language, prompt: (sounds / language / f"{prompt}.wav").is_file()
    )
