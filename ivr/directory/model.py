"""What the IVR knows about a customer once the caller ID matched one.

Only the last four digits of a card are ever held; the PIN never leaves the
directory (it is stored there as a salted scrypt hash and only compared).
Amounts are `Decimal` yuan, never floats.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Literal, get_args

from ivr.catalog.model import CustomerTier as CustomerTier  # re-exported: declared once, in the catalog

ActivationResult = Literal["activated", "already_active", "unknown_card"]
TIERS: tuple[str, ...] = get_args(CustomerTier)
LAST4 = re.compile(r"^[0-9]{4}$")


@dataclass(frozen=True, slots=True)
class Card:
    last4: str
    active: bool = True

    def __post_init__(self) -> None:
        if not LAST4.match(self.last4):
            raise ValueError("a card is kept by its last four digits only")


@dataclass(frozen=True, slots=True)
class Customer:
    id: str
    name: str
    tier: CustomerTier
    language: str  # preferred language code, e.g. "zh"
    cards: tuple[Card, ...]
    balance: Decimal  # current balance owed, yuan
    bill_amount: Decimal  # latest statement amount, yuan
    due_date: date  # payment due date of that statement

    def card(self, last4: str) -> Card | None:
        return next((card for card in self.cards if card.last4 == last4), None)


def normalize_caller_id(ani: str) -> str | None:
    """Digits of a caller number without the China country prefix, or None
    when it is not a number (withheld, `anonymous`, garbage)."""
    digits = re.sub(r"[\s\-()]", "", ani)
    if digits.startswith("+"):
        digits = digits[1:]
    elif digits.startswith("00"):
        digits = digits[2:]
    if not digits.isdigit() or not 3 <= len(digits) <= 20:
        return None
    # +86 13900000001 (13 digits from a mobile) -> 13900000001
    if digits.startswith("86") and len(digits) == 13 and digits[2] == "1":
        digits = digits[2:]
    return digits
