"""Safe hot reload: render, check, diff, apply only what changed, verify that
Asterisk took it, and roll back to the last known good configuration when
any step fails.

Theory of operation:
- `plan_reload(current, new)` is pure: which files changed, their masked
  unified diff, which Asterisk modules must reload (one per file), and
  whether a change needs a restart instead (modules.conf, asterisk.conf),
  which a hot reload refuses: restarting a live PBX drops every call.
- `apply_reload` logs in as the AMI reload user, writes the new directory
  atomically, reloads the modules (`Reload Module: ...`; calls in progress are
  not touched by a dialplan, PJSIP or queue reload), then verifies from
  Asterisk itself: every rendered context has the rendered number of
  priorities (ShowDialPlan) and every queue exists with its strategy
  (QueueStatus). On any failure the previous files are written back and
  reloaded, and `ReloadFailed(rolled_back=True)` is raised.
- Every attempt, good or bad, is one entry in the audit trail.

Why a user of its own, logged in only while reloading: Asterisk lets Reload
run for the `config` or `system` class and ShowDialPlan for `config` or
`reporting`, and every class that allows Reload also allows GetConfig, which
reads manager.conf and pjsip.conf (every AMI and SIP secret). The long-lived
control session therefore keeps `agent` only, and `reload_session` opens a
session as `ami_reload_user` (`write = config`, dialplans/manager.conf.j2)
for the length of one reload, closed whatever happens.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from ivr.ami import AmiClient, AmiError
from ivr.audit import AuditEntry, AuditTrail
from ivr.log import get_logger
from ivr.render import write_config

from .plan import ReloadPlan, expected_dialplan, expected_queues, plan_reload, read_config_dir

if TYPE_CHECKING:
    from ivr.settings import Settings

log = get_logger(__name__)


class ReloadFailed(Exception):
    def __init__(self, reason: str, *, rolled_back: bool) -> None:
        self.reason = reason
        self.rolled_back = rolled_back
        suffix = "; rolled back to the last good configuration" if rolled_back else ""
        super().__init__(reason + suffix)


class ReloadUnavailable(ReloadFailed):
    """No AMI session as the reload user: nothing was written or reloaded."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, rolled_back=False)


# A session opened for one reload and closed after it (`reload_session`).
ReloadSession = Callable[[], contextlib.AbstractAsyncContextManager[AmiClient]]


@dataclass(frozen=True, slots=True)
class ReloadResult:
    plan: ReloadPlan
    applied: bool
    verified: list[str] = field(default_factory=list)


async def verify(ami: AmiClient, files: dict[str, str]) -> list[str]:
    """Ask Asterisk whether it runs `files`; returns what was checked, raises ReloadFailed."""
    checked: list[str] = []
    for context, priorities in expected_dialplan(files.get("extensions.conf", "")).items():
        try:
            _, entries = await ami.action_list("ShowDialPlan", Context=context)
        except AmiError as exc:
            raise ReloadFailed(f"dialplan context {context} is not loaded ({exc})", rolled_back=False) from exc
        got = sum(1 for e in entries if e.name == "ListDialplan" and e.get("Context") == context)
        if got != priorities:
            raise ReloadFailed(f"dialplan context {context}: Asterisk has {got} priorities, rendered {priorities}",
                               rolled_back=False)  # fmt: skip
    checked.append("dialplan")
    _, entries = await ami.action_list("QueueStatus")
    running = {e.get("Queue"): (e.get("Strategy") or "") for e in entries if e.name == "QueueParams"}
    for queue, strategy in expected_queues(files.get("queues.conf", "")).items():
        if queue not in running:
            raise ReloadFailed(f"queue {queue} is not loaded", rolled_back=False)
        if running[queue] != strategy:
            raise ReloadFailed(f"queue {queue}: Asterisk runs strategy {running[queue]}, rendered {strategy}",
                               rolled_back=False)  # fmt: skip
    checked.append("queues")
    return checked


@contextlib.asynccontextmanager
async def reload_session(settings: Settings, *, login_timeout: float = 10.0) -> AsyncIterator[AmiClient]:
    """An AMI session as the reload user, for the length of the `async with` only.

    Raises ReloadUnavailable when it cannot log in within `login_timeout`."""
    client = AmiClient(
        "127.0.0.1", settings.ami_port, settings.ami_reload_user, settings.ami_reload_secret.get_secret_value(),
        name="reload", events_off=True, backoff_initial=0.2, backoff_max=1.0,
    )  # fmt: skip
    runner = asyncio.create_task(client.run(), name="ami-reload")
    try:
        if not await client.wait_connected(login_timeout):
            raise ReloadUnavailable(
                f"no AMI session as {settings.ami_reload_user} on 127.0.0.1:{settings.ami_port}"
                f" ({client.last_error or 'no answer'}); nothing applied"
            )
        yield client
    finally:
        await client.close()
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await runner


async def _apply(ami: AmiClient, files: dict[str, str], modules: tuple[str, ...], etc_dir: Path) -> list[str]:
    write_config(files, etc_dir)
    for module in modules:
        response = await ami.action("Reload", Module=module)
        log.info("reload_module", module=module, message=response.get("Message"))
    return await verify(ami, files)


async def apply_reload(
    new: dict[str, str], etc_dir: Path, ami: AmiClient | ReloadSession, audit: AuditTrail, *, who: str, role: str,
    dry_run: bool = False,
) -> ReloadResult:  # fmt: skip
    """Apply `new` to the PBX. `ami` is a logged-in client, or (preferred) a
    session factory such as `lambda: reload_session(settings)`, opened only when
    there is something to apply and before anything is written."""
    current = read_config_dir(etc_dir)
    plan = plan_reload(current, new)

    async def record(outcome: str, detail: str) -> None:
        # SQLite is blocking I/O: keep it off the event loop that serves calls.
        await asyncio.to_thread(audit.record, AuditEntry(
                at=datetime.now(UTC), who=who, role=role, action="pbx.reload", target=str(etc_dir),
                before={"files": list(plan.changed)}, after={"modules": list(plan.modules), "detail": detail},
                outcome=outcome,
            ))  # fmt: skip

    if plan.empty or dry_run:
        return ReloadResult(plan, applied=False)
    if plan.needs_restart:
        reason = f"{', '.join(plan.needs_restart)} changed: only a restart applies that, a hot reload refuses it"
        await record("refused", reason)
        raise ReloadFailed(reason, rolled_back=False)
    session = contextlib.nullcontext(ami) if isinstance(ami, AmiClient) else ami()
    try:
        async with session as client:
            return await _apply_or_roll_back(client, new, current, plan, etc_dir, record)
    except ReloadUnavailable as exc:
        await record("failed", exc.reason)
        raise


async def _apply_or_roll_back(
    ami: AmiClient, new: dict[str, str], current: dict[str, str], plan: ReloadPlan, etc_dir: Path,
    record: Callable[[str, str], Awaitable[None]],
) -> ReloadResult:  # fmt: skip
    try:
        verified = await _apply(ami, new, plan.modules, etc_dir)
    except (ReloadFailed, AmiError, OSError) as exc:
        reason = exc.reason if isinstance(exc, ReloadFailed) else f"{type(exc).__name__}: {exc}"
        log.error("reload_failed_rolling_back", reason=reason)
        try:
            await _apply(ami, current, plan.modules, etc_dir)
        except (ReloadFailed, AmiError, OSError) as again:
            await record("failed", f"{reason}; ROLLBACK ALSO FAILED: {again}")
            raise ReloadFailed(f"{reason}; rollback failed too: {again}", rolled_back=False) from again
        await record("rolled_back", reason)
        raise ReloadFailed(reason, rolled_back=True) from exc
    await record("ok", ", ".join(plan.changed))
    log.info("reload_applied", files=list(plan.changed), modules=list(plan.modules))
    return ReloadResult(plan, applied=True, verified=verified)
