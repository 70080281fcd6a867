"""The FastAGI `route` handler: runs a line's IVR menu on a live call.

Theory of operation: the decisions are the pure `MenuWalker`'s; this adapter
only carries out its steps over the AGI session and feeds back what happened:
- `Play`: STREAM FILE of each prompt, played through;
- `Collect`: the prompts may be interrupted by the first key (STREAM FILE
  with escape digits; the last prompt through GET DATA, which does barge-in
  itself), then GET DATA collects the rest, each digit within the timeout;
- `VerifyPin` / `ActivateCard`: the customer directory, in a worker thread;
- `Handoff`: the channel variables the dialplan queues on; `Hangup`: hang up.

Card data: digits of a secret `Collect` (card last four, PIN) are kept in
local variables only, never logged or set on the channel; the AMI users have
no `agi`, `dtmf` or `dialplan` event class, so AGIExec/DTMF/VarSet events with
them reach nobody.

The call trace: one ``ivr`` object bound to the call's log context
(`start_trace`), filled in as the call goes and written once, in the line that
ends the call (the FastAGI server's ``agi_call_finished`` or
``agi_caller_hung_up``, info): how the call started (``recognised``,
``tier``, ``open``, ``announcements``), its ``steps`` in order (``play
<prompt>``, ``keys <digits>``, ``keys (silence)``, ``keys (<n> secret)`` for
a secret collection, of which only the length is kept, ``pin ok``/``pin
failed``, ``activation <result>``), and how it ended (``handoff`` with the
queue, priority, language, tier, verification, path and reason; ``hangup``
with the IVR's reason; or, when the caller hung up, ``waiting_for`` and
``path``). One line per call instead of one per step: each line costs about
as much as all of the call's AGI parsing (BENCHMARKS.md, "Control-plane
cost"). A line logged during the call (a prompt that cannot be played, at
error level) carries the trace so far. A call cut short by the service's own
crash leaves no trace line, as before it could lose its last 0.2 s of lines.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

from ivr.agi import AgiCommandFailed, AgiHangup, AgiSession
from ivr.catalog.model import Catalog
from ivr.directory import Customer, CustomerDirectory
from ivr.hours.opening import line_is_open
from ivr.log import bind_call, get_logger
from ivr.menu.engine import (
    ActivateCard,
    CallStarted,
    CardActivationDone,
    Collect,
    DigitsCollected,
    Event,
    Handoff,
    Hangup,
    MenuWalker,
    PinChecked,
    Play,
    SetContext,
    Step,
    UnknownLine,
    VerifyPin,
)

log = get_logger(__name__)
KEYS = "0123456789*#"
# GET DATA needs a file to play while it waits for the remaining digits.
SILENCE = "silence/1"


async def stream_prompt(
    session: AgiSession, sounds: str, prompt: str, keys: str = "", steps: list[str] | None = None
) -> str:
    """STREAM FILE of `sounds/<prompt>` ("zh/welcome"); a prompt that cannot be
    played is logged (an error: the channel is up, the file is missing) and
    skipped. Returns the escape key pressed, or "". A caller who hangs up
    during playback raises AgiHangup (the session tells it from a fault).
    `steps`: the trace's list of steps (`start_trace`), where the prompt is recorded."""
    if steps is not None:
        steps.append("play " + prompt)
    try:
        return await session.stream_file(f"{sounds.rstrip('/')}/{prompt}", keys)
    except AgiCommandFailed:
        log.error("ivr_prompt_failed", prompt=prompt)
        return ""


def start_trace(
    steps: list[str], customer: Customer | None, is_open: bool, announcements: tuple[str, ...]
) -> dict[str, object]:
    """The call's ``ivr`` trace (see the module's docstring), bound to its log context."""
    trace: dict[str, object] = {
        "recognised": customer is not None,
        "tier": customer.tier if customer is not None else None,
        "open": is_open,
        "announcements": list(announcements),
        "steps": steps,
    }
    bind_call(ivr=trace)
    return trace


def collected(step: Collect, digits: str) -> str:
    """A collection in the trace: the keys, or only how many for a secret one."""
    if step.secret:
        return f"keys ({len(digits)} secret)"
    return "keys " + (digits or "(silence)")


class CallFlow:
    """`announcements(line_id)` gives the emergency prompts in force (synchronous:
    run in a thread); `clock` the time used for opening hours.

    `lookups_inline`: the two reads every call starts with (the caller in the
    directory, the announcements in force) are made on the event loop, not
    through a worker thread. For local SQLite files (an indexed read of
    5-40 µs) a thread hop costs far more: waking a worker and then the loop
    again, ~140 µs of CPU on the 2-core test box (BENCHMARKS.md, "Control-plane
    cost"). Both files are in WAL mode, so a read never waits for another
    process writing them; inside the service a write (a card activation, an
    announcement switched) holds the store's lock for one short statement.
    PIN checks (scrypt) and card activations (a write) always run in a thread.

    `variables_at_once`: the channel variables of a step (3 at the start, 9 at
    the hand-off) are set in one exchange (`AgiSession.set_variables`, one
    EXEC MSet) instead of one SET VARIABLE each."""

    def __init__(
        self, catalog: Catalog, directory: Callable[[], CustomerDirectory], sounds: str,
        announcements: Callable[[str], tuple[str, ...]] = lambda _line: (),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        *, lookups_inline: bool = False, variables_at_once: bool = False,
    ) -> None:  # fmt: skip
        self._catalog = catalog
        self._directory = directory
        self._sounds = sounds.rstrip("/")
        self._announcements = announcements
        self._clock = clock
        self._lookups_inline = lookups_inline
        self._variables_at_once = variables_at_once

    async def _line_state(self, line: str) -> tuple[bool, tuple[str, ...]]:
        """(open now, emergency prompts) for a line; an unknown line is left to the walker."""
        try:
            number = self._catalog.number(line)
        except KeyError:
            return True, ()
        if self._lookups_inline:
            announcements = self._announcements(number.id)
        else:
            announcements = await asyncio.to_thread(self._announcements, number.id)
        return line_is_open(self._catalog, number, self._clock()), announcements

    async def handle(self, session: AgiSession) -> None:
        line = session.request.args[0] if session.request.args else ""
        caller_id = session.request.callerid
        directory = self._directory()
        customer = None
        if caller_id:
            if self._lookups_inline:
                customer = directory.by_caller_id(caller_id)
            else:
                customer = await asyncio.to_thread(directory.by_caller_id, caller_id)
        walker = MenuWalker(self._catalog)
        is_open, announcements = await self._line_state(line)
        try:
            steps = walker.handle(CallStarted(line, customer, is_open, announcements))
        except UnknownLine:
            log.warning("ivr_unknown_line", line=line)  # the dialplan's fallback stays in place
            return
        done: list[str] = []
        trace = start_trace(done, customer, is_open, announcements)
        try:
            while True:
                event = await self._run(session, steps, directory, trace, done)
                if event is None:
                    return
                steps = walker.handle(event)
        except AgiHangup:
            # The server writes the call's one hang-up line (info), with where the caller was.
            trace["waiting_for"] = walker.waiting_for
            trace["path"] = ">".join(walker.path)
            raise

    async def _set_variables(self, session: AgiSession, pairs: tuple[tuple[str, str], ...]) -> None:
        if self._variables_at_once:
            await session.set_variables(pairs)
        else:
            for name, value in pairs:
                await session.set_variable(name, value)

    async def _run(
        self, session: AgiSession, steps: tuple[Step, ...], directory: CustomerDirectory,
        trace: dict[str, object], done: list[str],
    ) -> Event | None:  # fmt: skip
        """Carries out the walker's steps; `done` is the trace's list of steps."""
        event: Event | None = None
        for step in steps:
            if isinstance(step, Play):
                for prompt in step.prompts:
                    await stream_prompt(session, self._sounds, prompt, "", done)
            elif isinstance(step, Collect):
                digits = await self._collect(session, step, done)
                done.append(collected(step, digits))
                event = DigitsCollected(digits)
            elif isinstance(step, SetContext):
                await self._set_variables(session, step.vars)
            elif isinstance(step, VerifyPin):
                ok = await asyncio.to_thread(directory.verify_pin, step.customer_id, step.card_last4, step.pin)
                done.append("pin ok" if ok else "pin failed")
                event = PinChecked(ok)
            elif isinstance(step, ActivateCard):
                result = await asyncio.to_thread(directory.activate_card, step.customer_id, step.card_last4)
                done.append(f"activation {result}")
                event = CardActivationDone(result)
            elif isinstance(step, Handoff):
                await self._set_variables(session, step.channel_vars())
                trace["handoff"] = {
                    "queue": step.queue, "priority": step.priority, "language": step.language, "tier": step.tier,
                    "verified": step.verified, "path": step.path_text, "reason": step.reason,
                }  # fmt: skip
                return None
            elif isinstance(step, Hangup):
                for prompt in step.prompts:
                    await stream_prompt(session, self._sounds, prompt, "", done)
                trace["hangup"] = step.reason
                await session.hangup()
                return None
        return event

    async def _collect(self, session: AgiSession, step: Collect, done: list[str]) -> str:
        """Prompts with barge-in, then up to max_digits keys, each within timeout_ms.

        The first key comes from STREAM FILE / WAIT FOR DIGIT, which report any
        key including `*` and `#` (GET DATA would swallow `#` as its terminator);
        GET DATA then collects the rest of a multi-digit entry."""
        first = ""
        for prompt in step.prompts:
            first = await stream_prompt(session, self._sounds, prompt, KEYS, done)
            if first:
                break
        if not first:
            first = await session.wait_for_digit(step.timeout_ms) or ""
        if not first or step.max_digits == 1 or first in "*#":
            return first
        rest, _timed_out = await session.get_data(SILENCE, step.timeout_ms, step.max_digits - 1)
        return first + rest
