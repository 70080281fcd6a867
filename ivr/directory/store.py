"""The customer directory: the interface the IVR needs and its SQLite form.

What is stored: customers, the caller numbers that identify them, their cards
by last four digits only, and a salted scrypt hash of the 6-digit phone PIN
(`scrypt$n$r$p$salt$hash`, compared in constant time). A full card number or a
clear PIN is never stored, returned or logged.

The calls are synchronous and short (one indexed row, or one scrypt of ~50 ms
for a PIN): an asyncio adapter runs them in a thread (`asyncio.to_thread`).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import sqlite3
import threading
from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Protocol

from ivr.directory.model import TIERS, ActivationResult, Card, Customer, normalize_caller_id
from ivr.files import private_file

PIN = re.compile(r"^[0-9]{6}$")
# scrypt cost: n=2**14, r=8 is ~16 MiB and ~50 ms per check, which makes a
# stolen table slow to brute-force even over the 10**6 possible PINs per salt.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1


class CustomerDirectory(Protocol):
    def by_caller_id(self, ani: str) -> Customer | None: ...

    def verify_pin(self, customer_id: str, card_last4: str, pin: str) -> bool:
        """True when the card is the customer's and the PIN matches."""
        ...

    def card_status(self, customer_id: str, card_last4: str) -> Card | None: ...

    def activate_card(self, customer_id: str, card_last4: str) -> ActivationResult: ...


def hash_pin(pin: str, *, salt: bytes | None = None, n: int = SCRYPT_N) -> str:
    if not PIN.match(pin):
        raise ValueError("a phone PIN is six digits")
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(pin.encode(), salt=salt, n=n, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    return f"scrypt${n}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def pin_matches(pin: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        candidate = hashlib.scrypt(
            pin.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), dklen=len(digest) // 2
        )
    except ValueError:
        return False
    return hmac.compare_digest(candidate.hex(), digest)


_SCHEMA = """
CREATE TABLE IF NOT EXISTS customers (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    tier TEXT NOT NULL,
    language TEXT NOT NULL,
    pin_hash TEXT NOT NULL,
    balance_fen INTEGER NOT NULL CHECK (balance_fen >= 0),
    bill_fen INTEGER NOT NULL CHECK (bill_fen >= 0),
    due_date TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS caller_ids (
    number TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL REFERENCES customers(id)
);
CREATE TABLE IF NOT EXISTS cards (
    customer_id TEXT NOT NULL REFERENCES customers(id),
    last4 TEXT NOT NULL CHECK (length(last4) = 4),
    active INTEGER NOT NULL,
    PRIMARY KEY (customer_id, last4)
);
"""


def _fen(amount: Decimal) -> int:
    fen = amount * 100
    if fen != fen.to_integral_value() or fen < 0:
        raise ValueError(f"{amount} is not a non-negative amount in fen")
    return int(fen)


class SqliteDirectory:
    """`CustomerDirectory` in one SQLite file (the demo's and the tests')."""

    def __init__(self, path: str | Path, *, scrypt_n: int = SCRYPT_N) -> None:
        self.path = Path(path)
        self._scrypt_n = scrypt_n
        # Checked against when the card is unknown, so the answer takes as long
        # as a real check and its timing does not tell whether the card exists.
        self._decoy_hash = hash_pin("000000", n=scrypt_n)
        self._lock = threading.Lock()  # one connection, used from worker threads
        self._db = sqlite3.connect(private_file(self.path), check_same_thread=False)
        # WAL: a lookup never waits for another process writing the directory
        # (the service reads it on its event loop: ivr/callflow/flow.py).
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA foreign_keys = ON")
        with self._db:
            self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def add_customer(self, customer: Customer, *, pin: str, caller_ids: Iterable[str]) -> None:
        numbers = [normalize_caller_id(ani) for ani in caller_ids]
        if None in numbers:
            raise ValueError("caller ids must be phone numbers")
        if customer.tier not in TIERS:
            raise ValueError(f"unknown tier {customer.tier!r}")
        pin_hash = hash_pin(pin, n=self._scrypt_n)
        with self._lock, self._db:
            self._db.execute(
                "INSERT INTO customers VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    customer.id, customer.name, customer.tier, customer.language, pin_hash,
                    _fen(customer.balance), _fen(customer.bill_amount), customer.due_date.isoformat(),
                ),
            )  # fmt: skip
            self._db.executemany("INSERT INTO caller_ids VALUES (?, ?)", [(number, customer.id) for number in numbers])
            self._db.executemany(
                "INSERT INTO cards VALUES (?, ?, ?)", [(customer.id, c.last4, int(c.active)) for c in customer.cards]
            )

    def by_caller_id(self, ani: str) -> Customer | None:
        number = normalize_caller_id(ani)
        if number is None:
            return None
        with self._lock:
            row = self._db.execute(
                "SELECT c.id, c.name, c.tier, c.language, c.balance_fen, c.bill_fen, c.due_date"
                " FROM caller_ids n JOIN customers c ON c.id = n.customer_id WHERE n.number = ?",
                (number,),
            ).fetchone()
            if row is None:
                return None
            cards = self._db.execute(
                "SELECT last4, active FROM cards WHERE customer_id = ? ORDER BY rowid", (row[0],)
            ).fetchall()
        customer_id, name, tier, language, balance_fen, bill_fen, due = row
        return Customer(
            id=customer_id,
            name=name,
            tier=tier,
            language=language,
            cards=tuple(Card(last4, bool(active)) for last4, active in cards),
            balance=Decimal(balance_fen) / 100,
            bill_amount=Decimal(bill_fen) / 100,
            due_date=date.fromisoformat(due),
        )

    def verify_pin(self, customer_id: str, card_last4: str, pin: str) -> bool:
        if not PIN.match(pin) or not re.match(r"^[0-9]{4}$", card_last4):
            return False
        with self._lock:
            row = self._db.execute(
                "SELECT c.pin_hash FROM customers c JOIN cards k ON k.customer_id = c.id"
                " WHERE c.id = ? AND k.last4 = ?",
                (customer_id, card_last4),
            ).fetchone()
        if row is None:
            pin_matches(pin, self._decoy_hash)
            return False
        return pin_matches(pin, row[0])

    def card_status(self, customer_id: str, card_last4: str) -> Card | None:
        with self._lock:
            row = self._db.execute(
                "SELECT last4, active FROM cards WHERE customer_id = ? AND last4 = ?", (customer_id, card_last4)
            ).fetchone()
        return Card(row[0], bool(row[1])) if row else None

    def activate_card(self, customer_id: str, card_last4: str) -> ActivationResult:
        with self._lock, self._db:
            updated = self._db.execute(
                "UPDATE cards SET active = 1 WHERE customer_id = ? AND last4 = ? AND active = 0",
                (customer_id, card_last4),
            ).rowcount
            if updated:
                return "activated"
            exists = self._db.execute(
                "SELECT 1 FROM cards WHERE customer_id = ? AND last4 = ?", (customer_id, card_last4)
            ).fetchone()
        return "already_active" if exists else "unknown_card"
