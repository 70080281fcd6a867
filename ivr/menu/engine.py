"""The menu walker: the pure decision core of the IVR.

Theory of operation. One `MenuWalker` per call. The adapter (the FastAGI
handler, the simulator, a test) feeds it *events*, each a frozen dataclass
named after what happened, and gets back a tuple of *steps* to carry out in
order. The last step of every batch says what the walker waits for:

    CallStarted(line, caller)  -> ..., Collect     -> DigitsCollected(digits)
                                 ..., VerifyPin    -> PinChecked(ok)
                                 ..., ActivateCard -> CardActivationDone(result)
                                 ..., Handoff | Hangup   (the call leaves the IVR)

No I/O, no clock: the adapter does the playing, collecting, directory look-ups
and timing. `Play` prompts are played through; `Collect` prompts may be
interrupted by the first digit (barge-in) and then up to `max_digits` digits
are collected, each within `timeout_ms`; `""` means the caller stayed silent.
Digits of a `Collect(secret=True)` are card data: the adapter must not echo,
log or record them (`DigitsCollected` and `VerifyPin` hide them from `repr`).

Prompt references in steps are `lang/id` (`zh/main_menu`), the path of the
recording under the prompt directory without `.wav`. Numbers are read with
the Mandarin fragments for Mandarin callers and the English ones otherwise
(`ivr.menu.saynumber.number_language`).

Routing. The effective tier is the higher (by tier priority) of the line's tier
and the recognised caller's: a VIP calling 95588 is served as VIP, a caller on
the VIP line as VIP. An agent is the tier's queue when the tier has one, else
the line's queue for the current language, else the line's fallback queue, at
the tier's priority. Lost card goes to the catalog's `lost_card` queue at its
priority, unverified, from any node.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from ivr.catalog.menus import (
    Action,
    Back,
    Goodbye,
    GoToNode,
    Menu,
    Repeat,
    SelfService,
    SelfServiceFlow,
    SwitchLanguage,
    ToAgent,
    ToQueue,
)
from ivr.catalog.model import Catalog, CustomerTier, ServiceNumber
from ivr.directory.model import ActivationResult, Customer
from ivr.menu.saynumber import number_language, say_amount, say_date

# Prompts the engine plays itself, by flow (the menus' own prompts come from the catalog).
VERIFY_PROMPTS = ("enter_card_last4", "enter_pin", "verification_retry", "verification_failed", "caller_not_recognised")
FLOW_PROMPTS: dict[SelfServiceFlow, tuple[str, ...]] = {
    "balance": (*VERIFY_PROMPTS, "balance_is", "bill_amount_is", "due_date_is"),
    "activation": (
        *VERIFY_PROMPTS, "activation_card_last4", "card_activated", "card_already_active", "card_not_found"
    ),
    "lost_card": (),
}  # fmt: skip
GOODBYE_PROMPT = "goodbye"
CLOSED_PROMPT = "closed"  # out of hours, on arrival
CLOSED_AGENT_PROMPT = "closed_agents"  # out of hours, instead of an agent
SECRET_TIMEOUT_MS = 8000
CARD_DIGITS, PIN_DIGITS = 4, 6
PATH_SEPARATOR = ">"

HandoffReason = Literal[
    "agent_requested",  # the caller chose an agent (or a node's digit maps to one)
    "queue_selected",  # a menu digit names a queue
    "retries_exhausted",  # invalid digits or silence, more than the node allows
    "lost_card",
    "verification_failed",  # card + PIN wrong `verify_attempts` times
    "caller_not_recognised",  # self-service needs a known caller
    "no_menu",  # the line has no menu: routed at once
]


# -- events: what happened ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CallStarted:
    line: str  # line id or dialled number
    caller: Customer | None = None  # the directory's match for the caller ID
    # Out of hours (ivr.hours): the closed announcement, then self-service only;
    # a lost card still reaches its group (loss reports are taken around the clock).
    open: bool = True
    # Emergency announcements in force (ivr.emergency): prompt ids, played first.
    announcements: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DigitsCollected:
    digits: str = field(repr=False)  # "" = silence; may be card data


@dataclass(frozen=True, slots=True)
class PinChecked:
    ok: bool


@dataclass(frozen=True, slots=True)
class CardActivationDone:
    result: ActivationResult


Event = CallStarted | DigitsCollected | PinChecked | CardActivationDone


# -- steps: what the adapter does -----------------------------------------------


@dataclass(frozen=True, slots=True)
class Play:
    prompts: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Collect:
    prompts: tuple[str, ...]
    max_digits: int
    timeout_ms: int
    secret: bool = False  # card or PIN entry: never echo, log or record


@dataclass(frozen=True, slots=True)
class SetContext:
    vars: tuple[tuple[str, str], ...]  # channel variables, in order


@dataclass(frozen=True, slots=True)
class VerifyPin:
    """Ask the directory; answer with `PinChecked`."""

    customer_id: str
    card_last4: str = field(repr=False)
    pin: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class ActivateCard:
    """Ask the directory; answer with `CardActivationDone`."""

    customer_id: str
    card_last4: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class Handoff:
    """The call leaves the IVR for a queue; the dialplan runs Queue() with this."""

    queue: str
    priority: int
    language: str
    tier: str
    verified: bool
    path: tuple[str, ...]  # e.g. ("main", "root", "1", "billing", "1", "balance", "verified")
    reason: HandoffReason
    customer_id: str | None = None

    @property
    def path_text(self) -> str:
        return PATH_SEPARATOR.join(self.path)

    def channel_vars(self) -> tuple[tuple[str, str], ...]:
        """What the adapter sets before the dialplan queues the call. `__` makes
        the agent leg inherit them (queue events, the agent's screen)."""
        path = self.path_text
        if len(path) > 200:  # keep the AGI command well under its 2048-byte buffer
            path = "..." + path[-197:]
        return (
            ("IVR_QUEUE", self.queue),
            ("IVR_PRIORITY", str(self.priority)),
            ("__IVR_LANG", self.language),
            ("CHANNEL(language)", self.language),
            ("__IVR_TIER", self.tier),
            ("__IVR_VERIFIED", "1" if self.verified else "0"),
            ("__IVR_PATH", path),
            ("__IVR_REASON", self.reason),
            ("__IVR_ROUTE", "agi"),
        )


@dataclass(frozen=True, slots=True)
class Hangup:
    reason: str
    prompts: tuple[str, ...] = ()  # played first


Step = Play | Collect | SetContext | VerifyPin | ActivateCard | Handoff | Hangup
Waiting = Literal["call_start", "menu_digit", "card", "pin", "pin_result", "activation", "done"]


class EngineError(Exception):
    """The adapter fed an event the walker is not waiting for (a local bug)."""


class UnknownLine(EngineError, LookupError):
    """The line is not in the catalog: leave the dialplan's fallback in place."""


_LAST4 = re.compile(rf"^[0-9]{{{CARD_DIGITS}}}$")
_PIN = re.compile(rf"^[0-9]{{{PIN_DIGITS}}}$")


def tier_priority(catalog: Catalog, line: ServiceNumber, tier: CustomerTier) -> int:
    policy = catalog.tiers.get(tier)
    if policy is not None:
        return policy.priority
    return line.priority if tier == line.tier else 0


def effective_tier(catalog: Catalog, line: ServiceNumber, caller: Customer | None) -> CustomerTier:
    """The caller's tier when it outranks the line's, else the line's."""
    if caller is None or caller.tier == line.tier:
        return line.tier
    mine = tier_priority(catalog, line, caller.tier)
    return caller.tier if mine > tier_priority(catalog, line, line.tier) else line.tier


class MenuWalker:
    """One call's walk through its line's menu: feed events, carry out steps."""

    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog
        self._waiting: Waiting = "call_start"
        self._line: ServiceNumber | None = None
        self._menu: Menu | None = None
        self._caller: Customer | None = None
        self.tier: CustomerTier = "standard"
        self.language = ""
        self.verified = False
        self._path: list[str] = []
        self._node = ""
        self._stack: list[str] = []
        self._retries = 0
        self._flow: SelfServiceFlow | None = None
        self._card: str | None = None
        self._verify_failures = 0
        self.open = True

    @property
    def waiting_for(self) -> Waiting:
        return self._waiting

    @property
    def path(self) -> tuple[str, ...]:
        return tuple(self._path)

    def handle(self, event: Event) -> tuple[Step, ...]:
        match event:
            case CallStarted() if self._waiting == "call_start":
                return self._start(event)
            case DigitsCollected(digits) if self._waiting == "menu_digit":
                return self._menu_digit(digits)
            case DigitsCollected(digits) if self._waiting == "card":
                return self._card_entered(digits)
            case DigitsCollected(digits) if self._waiting == "pin":
                return self._pin_entered(digits)
            case PinChecked(ok) if self._waiting == "pin_result":
                return self._pin_checked(ok)
            case CardActivationDone(result) if self._waiting == "activation":
                return self._activation_done(result)
        raise EngineError(f"{type(event).__name__} while waiting for {self._waiting}")

    # -- call start -------------------------------------------------------------

    def _start(self, event: CallStarted) -> tuple[Step, ...]:
        try:
            line = self._catalog.number(event.line)
        except KeyError:
            raise UnknownLine(event.line) from None
        self._line, self._caller, self.open = line, event.caller, event.open
        self.tier = effective_tier(self._catalog, line, event.caller)
        preferred = event.caller.language if event.caller else None
        self.language = preferred if preferred in line.languages else line.language
        context = SetContext(self._context_vars())
        first = tuple(self._ref(ref) for ref in event.announcements)
        if not self.open:
            first += (self._ref(CLOSED_PROMPT),)
        if line.menu is None:
            self._path = [line.id]
            steps: tuple[Step, ...] = (context, Play(first)) if first else (context,)
            return (*steps, self._handoff("no_menu"))
        menu = self._catalog.menus[line.menu]
        self._menu = menu
        self._path = [line.menu]
        self._enter(menu.start_node(self.language))
        greeting = tuple(self._ref(ref) for ref in menu.greeting)
        return (context, self._offer(first + greeting))

    def _context_vars(self) -> tuple[tuple[str, str], ...]:
        return (("__IVR_TIER", self.tier), ("__IVR_LANG", self.language), ("CHANNEL(language)", self.language))

    # -- menu nodes -------------------------------------------------------------

    @property
    def _current(self) -> Menu:
        assert self._menu is not None, "no menu on this line"
        return self._menu

    def _ref(self, ref: str) -> str:
        return ref if "/" in ref else f"{self.language}/{ref}"

    def _enter(self, node_id: str) -> None:
        self._node, self._retries = node_id, 0
        self._path.append(node_id)

    def _offer(self, before: tuple[str, ...] = ()) -> Collect:
        node = self._current.nodes[self._node]
        self._waiting = "menu_digit"
        prompts = before + tuple(self._ref(ref) for ref in node.prompt)
        return Collect(prompts, max_digits=1, timeout_ms=int(node.timeout * 1000))

    def _menu_digit(self, digits: str) -> tuple[Step, ...]:
        node = self._current.nodes[self._node]
        action = self._current.actions(self._node).get(digits) if digits else None
        if action is not None:
            self._path.append(digits)
            return self._act(action)
        self._retries += 1
        if self._retries > node.max_retries:
            self._path.append("exhausted")
            return self._act(node.after_retries, exhausted=True)
        retry_prompt = node.invalid_prompt if digits else node.timeout_prompt
        return (self._offer((self._ref(retry_prompt),) if retry_prompt else ()),)

    def _act(self, action: Action, *, exhausted: bool = False) -> tuple[Step, ...]:
        match action:
            case GoToNode(node=node_id):
                self._stack.append(self._node)
                self._enter(node_id)
                return (self._offer(),)
            case ToQueue(queue=queue, priority=priority):
                return (self._handoff("retries_exhausted" if exhausted else "queue_selected", queue, priority),)
            case ToAgent():
                return (self._handoff("retries_exhausted" if exhausted else "agent_requested"),)
            case SelfService(flow=flow):
                self._path.append(flow)
                return self._begin_flow(flow)
            case SwitchLanguage(code=code):
                self.language = code
                self._path.append(code)
                self._stack.clear()
                self._enter(self._current.start_node(code))
                return (SetContext(self._context_vars()), self._offer())
            case Repeat():
                return (self._offer(),)
            case Back():
                if not self._stack:
                    return (self._offer(),)
                self._enter(self._stack.pop())
                return (self._offer(),)
            case Goodbye():
                self._waiting = "done"
                reason = "retries_exhausted" if exhausted else "menu_hangup"
                return (Play((self._ref(GOODBYE_PROMPT),)), Hangup(reason))
        raise AssertionError(f"unhandled action {action!r}")  # pragma: no cover

    # -- self-service -----------------------------------------------------------

    def _begin_flow(self, flow: SelfServiceFlow) -> tuple[Step, ...]:
        if flow == "lost_card":
            urgent = self._catalog.lost_card
            if urgent is None:  # `ivr check` forbids this; route somewhere sane anyway
                return (self._handoff("lost_card"),)
            return (self._handoff("lost_card", urgent.queue, urgent.priority),)
        if self._caller is None:
            return (Play((self._ref("caller_not_recognised"),)), self._handoff("caller_not_recognised"))
        self._flow = flow
        if flow == "balance" and self.verified:
            return self._read_balance()
        return (self._ask_card(),)

    def _ask_card(self, before: tuple[str, ...] = ()) -> Collect:
        self._waiting, self._card = "card", None
        prompt = "activation_card_last4" if self._flow == "activation" else "enter_card_last4"
        return Collect((*before, self._ref(prompt)), CARD_DIGITS, SECRET_TIMEOUT_MS, secret=True)

    def _card_entered(self, digits: str) -> tuple[Step, ...]:
        if not _LAST4.match(digits):
            return self._verification_failed()
        self._card = digits
        if self.verified:  # activation after an earlier verification: no second PIN
            return (self._activate(),)
        self._waiting = "pin"
        return (Collect((self._ref("enter_pin"),), PIN_DIGITS, SECRET_TIMEOUT_MS, secret=True),)

    def _pin_entered(self, digits: str) -> tuple[Step, ...]:
        if not _PIN.match(digits) or self._caller is None or self._card is None:
            return self._verification_failed()
        self._waiting = "pin_result"
        return (VerifyPin(self._caller.id, self._card, digits),)

    def _pin_checked(self, ok: bool) -> tuple[Step, ...]:
        if not ok:
            return self._verification_failed()
        self.verified = True
        self._path.append("verified")
        context = SetContext((("__IVR_VERIFIED", "1"),))
        if self._flow == "activation":
            return (context, self._activate())
        return (context, *self._read_balance())

    def _verification_failed(self) -> tuple[Step, ...]:
        self._verify_failures += 1
        self._card = None
        if self._verify_failures >= self._current.verify_attempts:
            self._path.append("unverified")
            return (Play((self._ref("verification_failed"),)), self._handoff("verification_failed"))
        return (self._ask_card((self._ref("verification_retry"),)),)

    def _activate(self) -> ActivateCard:
        assert self._caller is not None and self._card is not None
        self._waiting = "activation"
        return ActivateCard(self._caller.id, self._card)

    def _activation_done(self, result: ActivationResult) -> tuple[Step, ...]:
        self._card = None
        self._path.append(result)
        prompt = {"activated": "card_activated", "already_active": "card_already_active"}.get(result, "card_not_found")
        return (Play((self._ref(prompt),)), self._offer())

    def _read_balance(self) -> tuple[Step, ...]:
        assert self._caller is not None
        numbers = number_language(self.language)

        def fragments(ids: tuple[str, ...]) -> tuple[str, ...]:
            return tuple(f"{numbers}/{fragment}" for fragment in ids)

        caller = self._caller
        readout = (
            self._ref("balance_is"), *fragments(say_amount(caller.balance, numbers)),
            self._ref("bill_amount_is"), *fragments(say_amount(caller.bill_amount, numbers)),
            self._ref("due_date_is"), *fragments(say_date(caller.due_date, numbers)),
        )  # fmt: skip
        return (Play(readout), self._offer())

    # -- leaving ----------------------------------------------------------------

    def _closed_for_agents(self) -> Hangup:
        """Out of hours: when agents are there again, goodbye, hang up."""
        self._waiting = "done"
        self._path.append("closed")
        return Hangup("closed", (self._ref(CLOSED_AGENT_PROMPT), self._ref(GOODBYE_PROMPT)))

    def agent_route(self) -> tuple[str, int]:
        """(queue, priority) of an agent for this caller, now."""
        assert self._line is not None
        line, policy = self._line, self._catalog.tiers.get(self.tier)
        queue = (policy.queue if policy else None) or line.language_queues.get(self.language) or line.fallback_queue
        return queue, tier_priority(self._catalog, line, self.tier)

    def _handoff(
        self, reason: HandoffReason, queue: str | None = None, priority: int | None = None
    ) -> Handoff | Hangup:
        """To an agent; out of hours only a lost card does, others hear when to call back."""
        if not self.open and reason != "lost_card":
            return self._closed_for_agents()
        agent_queue, agent_priority = self.agent_route()
        self._waiting = "done"
        return Handoff(
            queue=queue or agent_queue,
            priority=agent_priority if priority is None else priority,
            language=self.language,
            tier=self.tier,
            verified=self.verified,
            path=tuple(self._path),
            reason=reason,
            customer_id=self._caller.id if self._caller else None,
        )
