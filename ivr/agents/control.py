"""Agent state control: log in and out of skill groups, pause with a reason, unpause.

Theory of operation: the ivr service keeps the *desired* state of every seat
(SQLite, `AgentStateStore`): which groups it is logged in to, at which
penalty, and whether it is paused and why. It makes Asterisk match: each
change is sent with the control AMI user (`QueueAdd` / `QueueRemove` /
`QueuePenalty` against the members Asterisk reports, `QueuePause` with the
reason), and after every (re)login of that user the whole desired state is
re-applied. A restart of Asterisk or of the service therefore loses nothing.
Queues have no static members: a seat with no recorded login state is logged
in to its catalog skills when the catalog says `center.auto_login` (demo),
else it stays out until the agent logs in.
Supervisors act through the HTTP API (and may log a seat in to other groups
or penalties: moving agents between groups), agents through feature codes
dialled from their softphone (`*70` log in, `*71` log out, `*72N` pause with
reason N, `*73` unpause), which reach the same code over FastAGI. Every
change is one audit-trail entry.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

from ivr.ami import AmiClient, AmiError, when_loaded
from ivr.audit import AuditEntry, AuditTrail
from ivr.catalog.model import Catalog
from ivr.log import get_logger

from .store import AgentLogin, AgentState, AgentStateStore

log = get_logger(__name__)

# Reason codes agents dial after *72 (also accepted by name in the API).
PAUSE_REASONS = {"1": "break", "2": "meal", "3": "training", "4": "meeting", "5": "outbound"}


class AgentError(Exception):
    """A request the control plane refuses (unknown seat or reason, PBX unreachable)."""


def resolve_reason(reason: str) -> str:
    """A reason code ("2") or name ("meal") -> the name; AgentError otherwise."""
    reason = reason.strip().lower()
    if reason in PAUSE_REASONS:
        return PAUSE_REASONS[reason]
    if reason in PAUSE_REASONS.values():
        return reason
    raise AgentError(f"unknown pause reason {reason!r}; use one of {', '.join(PAUSE_REASONS.values())}")


def _interface(seat: str) -> str:
    return f"PJSIP/{seat}"


def membership_actions(
    seat: str, desired: dict[str, int], current: dict[str, int], pause: AgentState | None
) -> list[tuple[str, dict[str, str]]]:
    """The AMI actions that take a seat from `current` to `desired` membership (pure)."""
    actions: list[tuple[str, dict[str, str]]] = []
    interface = _interface(seat)
    for queue in sorted(set(current) - set(desired)):
        actions.append(("QueueRemove", {"Queue": queue, "Interface": interface}))
    for queue, penalty in sorted(desired.items()):
        if queue not in current:
            paused = "true" if pause and pause.paused else "false"
            headers = {"Queue": queue, "Interface": interface, "Penalty": str(penalty), "MemberName": seat,
                       "StateInterface": interface, "Paused": paused}  # fmt: skip
            if pause and pause.paused:
                headers["Reason"] = pause.reason
            actions.append(("QueueAdd", headers))
        elif current[queue] != penalty:
            actions.append(("QueuePenalty", {"Queue": queue, "Interface": interface, "Penalty": str(penalty)}))
    return actions


class AgentControl:
    def __init__(self, catalog: Catalog, store: AgentStateStore, audit: AuditTrail, ami: AmiClient) -> None:
        self._skills = {seat.id: dict(seat.skills) for seat in catalog.seats}
        self._queues = {queue.id for queue in catalog.queues}
        self._auto_login = catalog.center.auto_login
        self._store = store
        self._audit = audit
        self._ami = ami
        # One change at a time: a re-apply after a reconnect works from the
        # stored state it read, and must not undo a change made meanwhile.
        self._lock = asyncio.Lock()

    @property
    def _seats(self) -> set[str]:
        return set(self._skills)

    def _check_seat(self, seat: str) -> None:
        if seat not in self._skills:
            raise AgentError(f"unknown seat {seat!r}")

    def _desired(self, seat: str, logins: dict[str, AgentLogin]) -> dict[str, int]:
        login = logins.get(seat)
        if login is not None:
            return dict(login.queues)
        return dict(self._skills[seat]) if self._auto_login else {}

    async def desired_queues(self, seat: str) -> dict[str, int]:
        """Where the seat should be logged in now (queue -> penalty)."""
        self._check_seat(seat)
        return self._desired(seat, await asyncio.to_thread(self._store.logins))

    async def _members(self, seat: str | None = None) -> dict[str, dict[str, int]]:
        """Seat -> queue -> penalty, as Asterisk has them now."""
        headers = {"Member": _interface(seat)} if seat else {}
        _, events = await self._ami.action_list("QueueStatus", **headers)
        members: dict[str, dict[str, int]] = {}
        for event in events:
            if event.name != "QueueMember":
                continue
            name = event.get("Name", "") or event.get("MemberName", "")
            location = event.get("Location", "") or event.get("StateInterface", "")
            member = location.split("/", 1)[1] if location.startswith("PJSIP/") else name
            try:
                penalty = int(event.get("Penalty", "0"))
            except ValueError:
                penalty = 0
            members.setdefault(member, {})[event.get("Queue", "")] = penalty
        return members

    async def _apply(self, seat: str, desired: dict[str, int], current: dict[str, int]) -> None:
        pause = (await asyncio.to_thread(self._store.pauses)).get(seat)
        for action, headers in membership_actions(seat, desired, current, pause):
            await self._ami.action(action, **headers)

    async def _send(self, state: AgentState) -> None:
        headers = {"Interface": _interface(state.seat), "Paused": "true" if state.paused else "false"}
        if state.paused:
            headers["Reason"] = state.reason
        await self._ami.action("QueuePause", **headers)

    async def set_login(self, seat: str, queues: dict[str, int] | None, *, who: str, role: str) -> AgentLogin:
        """Log a seat in (to `queues`, default its catalog skills) or, with `{}`, out."""
        async with self._lock:
            return await self._set_login(seat, queues, who=who, role=role)

    async def _set_login(self, seat: str, queues: dict[str, int] | None, *, who: str, role: str) -> AgentLogin:
        self._check_seat(seat)
        queues = dict(self._skills[seat]) if queues is None else dict(queues)
        unknown = sorted(set(queues) - self._queues)
        if unknown:
            raise AgentError(f"unknown group(s) {', '.join(unknown)}")
        bad = sorted(q for q, penalty in queues.items() if not 0 <= penalty <= 10)
        if bad:
            raise AgentError(f"penalty outside 0..10 for {', '.join(bad)}")
        login = AgentLogin(seat, queues, time.time())
        before = await asyncio.to_thread(self._store.put_login, login)
        if before is None and self._auto_login:
            before = AgentLogin(seat, dict(self._skills[seat]), 0.0)
        outcome = "ok"
        try:
            current = (await self._members(seat)).get(seat, {})
            await self._apply(seat, queues, current)
        except AmiError as exc:
            outcome = "deferred"
            log.warning("agent_login_deferred", seat=seat, error=str(exc))
        entry = AuditEntry(
            at=datetime.now(UTC), who=who, role=role, action="agent.login" if queues else "agent.logout",
            target=f"seat/{seat}", before=_public_login(before), after=_public_login(login), outcome=outcome,
        )  # fmt: skip
        await asyncio.to_thread(self._audit.record, entry)
        log.info("agent_login_set", seat=seat, queues=queues, by=who, outcome=outcome)
        return login

    async def set_paused(self, seat: str, paused: bool, reason: str, *, who: str, role: str) -> AgentState:
        async with self._lock:
            return await self._set_paused(seat, paused, reason, who=who, role=role)

    async def _set_paused(self, seat: str, paused: bool, reason: str, *, who: str, role: str) -> AgentState:
        self._check_seat(seat)
        name = resolve_reason(reason) if paused else ""
        state = AgentState(seat, paused, name, time.time())
        before = await asyncio.to_thread(self._store.put, state)  # desired state first: re-applied if the PBX is away
        outcome = "ok"
        if await self.desired_queues(seat):
            try:
                await self._send(state)
            except AmiError as exc:
                outcome = "deferred"
                log.warning("agent_pause_deferred", seat=seat, error=str(exc))
        else:
            outcome = "recorded"  # logged out: applied when the seat logs in
        entry = AuditEntry(
            at=datetime.now(UTC), who=who, role=role, action="agent.pause" if paused else "agent.unpause",
            target=f"seat/{seat}", before=_public(before), after=_public(state), outcome=outcome,
        )  # fmt: skip
        await asyncio.to_thread(self._audit.record, entry)
        log.info("agent_state_set", seat=seat, paused=paused, reason=name, by=who, outcome=outcome)
        return state

    async def reapply(self, client: AmiClient) -> int:
        """Make Asterisk match the desired state (after every control login): the
        membership of every seat, then the pause of every logged-in seat."""
        async with self._lock:
            return await self._reapply()

    async def _reapply(self) -> int:
        applied = 0
        logins = await asyncio.to_thread(self._store.logins)
        pauses = await asyncio.to_thread(self._store.pauses)
        try:
            members = await when_loaded(self._members)
        except AmiError as exc:
            log.warning("agent_reapply_failed", error=str(exc))
            return 0
        for seat in sorted(set(members) | self._seats):
            desired = self._desired(seat, logins) if seat in self._skills else {}
            try:
                await self._apply(seat, desired, members.get(seat, {}))
                if desired and seat in pauses and seat in members:
                    await self._send(pauses[seat])
                applied += 1
            except AmiError as exc:
                log.warning("agent_reapply_failed", seat=seat, error=str(exc))
        log.info("agent_state_reapplied", seats=applied)
        return applied


def _public_login(login: AgentLogin | None) -> dict[str, object] | None:
    return None if login is None else {"queues": login.queues}


def _public(state: AgentState | None) -> dict[str, object] | None:
    return None if state is None else {"paused": state.paused, "reason": state.reason}
