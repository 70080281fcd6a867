"""Walk a line's menu without a PBX: the same `MenuWalker` the FastAGI handler
drives, fed a caller number and a list of key presses.

Each entry of `digits` answers one `Collect` (a menu choice, card digits, a
PIN); `""` is silence, and so is every prompt after the list runs out, which is
how a caller who stops pressing keys ends up with an agent. Card activation is
a dry run: the directory is asked for the card's state but nothing is written.
Digits typed at a secret prompt are shown masked.
"""

from __future__ import annotations

from collections.abc import Sequence

from ivr.catalog.model import Catalog
from ivr.directory.model import ActivationResult
from ivr.directory.store import CustomerDirectory
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
    VerifyPin,
)

MAX_STEPS = 500  # a menu that loops on silence forever is a catalog bug; stop and say so


def simulate(
    catalog: Catalog, directory: CustomerDirectory, number: str, caller: str, digits: Sequence[str],
    *, is_open: bool = True, announcements: tuple[str, ...] = (),
) -> list[str]:  # fmt: skip
    """Printable lines: who called, prompts in order, inputs, and the final handoff."""
    line = catalog.number(number)
    customer = directory.by_caller_id(caller) if caller else None
    who = (
        f"customer {customer.id} tier {customer.tier} language {customer.language}"
        if customer
        else "caller not recognised"
    )
    out = [f"call {line.number} ({line.id}) from {caller or 'unknown'}: {who}" + ("" if is_open else ", out of hours")]
    walker = MenuWalker(catalog)
    presses = list(digits)
    event: Event = CallStarted(line.id, customer, is_open, announcements)
    for _ in range(MAX_STEPS):
        steps: tuple[Step, ...] = walker.handle(event)
        for step in steps:
            out.append(_describe(step))
        last = steps[-1]
        match last:
            case Handoff() | Hangup():
                return out
            case Collect(secret=secret):
                pressed = presses.pop(0) if presses else ""
                shown = ("*" * len(pressed) if secret else pressed) or "(silence)"
                out.append(f"  caller presses {shown}")
                event = DigitsCollected(pressed)
            case VerifyPin(customer_id=customer_id, card_last4=last4, pin=pin):
                ok = directory.verify_pin(customer_id, last4, pin)
                out.append(f"  directory: PIN {'verified' if ok else 'rejected'}")
                event = PinChecked(ok)
            case ActivateCard(customer_id=customer_id, card_last4=last4):
                card = directory.card_status(customer_id, last4)
                result: ActivationResult = (
                    "unknown_card" if card is None else "already_active" if card.active else "activated"
                )
                out.append(f"  directory (dry run): {result}")
                event = CardActivationDone(result)
            case _:
                raise AssertionError(f"the walker stopped on {last!r}")
    out.append(f"stopped after {MAX_STEPS} steps: the menu loops")
    return out


def _describe(step: Step) -> str:
    match step:
        case Play(prompts=prompts):
            return "play " + " ".join(prompts)
        case Collect(prompts=prompts, max_digits=n, timeout_ms=ms, secret=secret):
            kind = "secret " if secret else ""
            return f"collect {n} {kind}digit{'s' if n > 1 else ''} ({ms} ms): " + " ".join(prompts)
        case SetContext(vars=variables):
            return "set " + " ".join(f"{name}={value}" for name, value in variables)
        case VerifyPin():
            return "verify card and PIN"
        case ActivateCard():
            return "activate card"
        case Handoff():
            return (
                f"handoff queue={step.queue} priority={step.priority} language={step.language}"
                f" tier={step.tier} verified={'yes' if step.verified else 'no'} reason={step.reason}"
                f" path={step.path_text}"
            )
        case Hangup(reason=reason, prompts=prompts):
            return ("play " + " ".join(prompts) + "\n" if prompts else "") + f"hangup ({reason})"
    raise AssertionError(f"unknown step {step!r}")  # pragma: no cover
