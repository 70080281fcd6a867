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
them reach nobody. The service's own call trace (`ivr_*` log events, bound to
the call's uniqueid) records prompts, menu keys, and `secret` collections as
their length only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

from ivr.agi import AgiCommandFailed, AgiHangup, AgiSession
from ivr.catalog.model import Catalog
from ivr.directory import CustomerDirectory
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


async def stream_prompt(session: AgiSession, sounds: str, prompt: str, keys: str = "") -> str:
    """STREAM FILE of `sounds/<prompt>` ("zh/welcome"); a prompt that cannot be
    played is logged (an error: the channel is up, the file is missing) and
    skipped. Returns the escape key pressed, or "". A caller who hangs up
    during playback raises AgiHangup (the session tells it from a fault)."""
    log.info("ivr_play", prompt=prompt)
    try:
        return await session.stream_file(f"{sounds.rstrip('/')}/{prompt}", keys)
    except AgiCommandFailed:
        log.error("ivr_prompt_failed", prompt=prompt)
        return ""


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
        log.info("ivr_call_started", line=line, recognised=customer is not None,
                 tier=customer.tier if customer else None, open=is_open, announcements=list(announcements))  # fmt: skip
        try:
            while True:
                event = await self._run(session, steps, directory)
                if event is None:
                    return
                steps = walker.handle(event)
        except AgiHangup:
            # The server writes the call's one hang-up line (info): with where the caller was.
            bind_call(waiting_for=walker.waiting_for, path=">".join(walker.path))
            raise

    async def _set_variables(self, session: AgiSession, pairs: tuple[tuple[str, str], ...]) -> None:
        if self._variables_at_once:
            await session.set_variables(pairs)
        else:
            for name, value in pairs:
                await session.set_variable(name, value)

    async def _stream(self, session: AgiSession, prompt: str, keys: str = "") -> str:
        return await stream_prompt(session, self._sounds, prompt, keys)

    async def _run(self, session: AgiSession, steps: tuple[Step, ...], directory: CustomerDirectory) -> Event | None:
        event: Event | None = None
        for step in steps:
            if isinstance(step, Play):
                for prompt in step.prompts:
                    await self._stream(session, prompt)
            elif isinstance(step, Collect):
                digits = await self._collect(session, step)
                if step.secret:
                    log.info("ivr_collect", prompts=list(step.prompts), secret=True, length=len(digits))
                else:
                    log.info("ivr_collect", prompts=list(step.prompts), keys=digits or "(silence)")
                event = DigitsCollected(digits)
            elif isinstance(step, SetContext):
                await self._set_variables(session, step.vars)
            elif isinstance(step, VerifyPin):
                ok = await asyncio.to_thread(directory.verify_pin, step.customer_id, step.card_last4, step.pin)
                log.info("ivr_verification", ok=ok)
                event = PinChecked(ok)
            elif isinstance(step, ActivateCard):
                result = await asyncio.to_thread(directory.activate_card, step.customer_id, step.card_last4)
                log.info("ivr_card_activation", result=str(result))
                event = CardActivationDone(result)
            elif isinstance(step, Handoff):
                await self._set_variables(session, step.channel_vars())
                log.info("ivr_handoff", queue=step.queue, priority=step.priority, language=step.language,
                         tier=step.tier, verified=step.verified, path=step.path_text, reason=step.reason)  # fmt: skip
                return None
            elif isinstance(step, Hangup):
                for prompt in step.prompts:
                    await self._stream(session, prompt)
                log.info("ivr_hangup", reason=step.reason)
                await session.hangup()
                return None
        return event

    async def _collect(self, session: AgiSession, step: Collect) -> str:
        """Prompts with barge-in, then up to max_digits keys, each within timeout_ms.

        The first key comes from STREAM FILE / WAIT FOR DIGIT, which report any
        key including `*` and `#` (GET DATA would swallow `#` as its terminator);
        GET DATA then collects the rest of a multi-digit entry."""
        first = ""
        for prompt in step.prompts:
            first = await self._stream(session, prompt, KEYS)
            if first:
                break
        if not first:
            first = await session.wait_for_digit(step.timeout_ms) or ""
        if not first or step.max_digits == 1 or first in "*#":
            return first
        rest, _timed_out = await session.get_data(SILENCE, step.timeout_ms, step.max_digits - 1)
        return first + rest
