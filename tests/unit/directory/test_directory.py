"""The customer directory: found by caller ID, PIN checked against a salted
scrypt hash, cards known by their last four digits only."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from ivr.directory import Card, Customer, CustomerDirectory, SqliteDirectory, hash_pin, normalize_caller_id, pin_matches
from ivr.directory.demo import (
    DEMO_CALLER,
    DEMO_CARD_LAST4,
    DEMO_CUSTOMERS,
    DEMO_INACTIVE_CARD,
    DEMO_PIN,
    generate_demo_directory,
)

FAST = 2**10  # scrypt cost for tests; production uses 2**14 (see test_production_pins_use_the_full_scrypt_cost)


@pytest.fixture
def directory(tmp_path: Path) -> Iterator[SqliteDirectory]:
    store = generate_demo_directory(tmp_path / "customers.sqlite3", seed=7, extra=10, scrypt_n=FAST)
    yield store
    store.close()


def test_demo_caller_is_found_with_tier_language_cards_and_amounts(directory: SqliteDirectory) -> None:
    customer = directory.by_caller_id(DEMO_CALLER)
    assert customer is not None
    assert (customer.id, customer.tier, customer.language) == ("D0004", "standard", "zh")
    assert customer.cards == (Card(DEMO_CARD_LAST4), Card(DEMO_INACTIVE_CARD, active=False))
    assert (customer.balance, customer.bill_amount, customer.due_date) == (
        Decimal("1234.56"), Decimal("1234.56"), date(2025, 7, 15),
    )  # fmt: skip


def test_documented_demo_callers_have_their_tier_and_language(directory: SqliteDirectory) -> None:
    found = {demo.caller_id: directory.by_caller_id(demo.caller_id) for demo in DEMO_CUSTOMERS}
    summary = {ani: (c.tier, c.language) for ani, c in found.items() if c}
    assert summary["13900000001"] == ("vip", "zh")
    assert summary["13900000002"] == ("platinum", "en")
    assert summary["13900000003"] == ("group", "zh")
    assert summary["13900000005"] == ("standard", "ja")
    assert len(summary) == len(DEMO_CUSTOMERS)


@pytest.mark.parametrize("ani", ["13900000004", "+8613900000004", "008613900000004", "139 0000 0004", "139-0000-0004"])
def test_caller_id_is_matched_in_any_usual_format(directory: SqliteDirectory, ani: str) -> None:
    customer = directory.by_caller_id(ani)
    assert customer is not None and customer.id == "D0004"


@pytest.mark.parametrize("ani", ["", "anonymous", "13800000000", "1390000000'; DROP TABLE customers; --"])
def test_withheld_unknown_or_garbage_caller_ids_find_nobody(directory: SqliteDirectory, ani: str) -> None:
    assert directory.by_caller_id(ani) is None
    assert directory.by_caller_id(DEMO_CALLER) is not None  # and nothing broke


def test_normalized_caller_id_drops_the_china_prefix_only_for_mobiles() -> None:
    assert normalize_caller_id("+86 139 0000 0004") == "13900000004"
    assert normalize_caller_id("+1 415 555 0100") == "14155550100"
    assert normalize_caller_id("01065551234") == "01065551234"
    assert normalize_caller_id("unknown") is None


def test_right_pin_for_the_customers_own_card_verifies(directory: SqliteDirectory) -> None:
    assert directory.verify_pin("D0004", DEMO_CARD_LAST4, DEMO_PIN)
    assert directory.verify_pin("D0004", DEMO_INACTIVE_CARD, DEMO_PIN)  # activation verifies with the new card


@pytest.mark.parametrize(
    ("customer_id", "last4", "pin"),
    [
        ("D0004", DEMO_CARD_LAST4, "000000"),  # wrong PIN
        ("D0004", "6688", DEMO_PIN),  # someone else's card
        ("D0001", DEMO_CARD_LAST4, DEMO_PIN),  # right card and PIN, wrong customer
        ("D9999", DEMO_CARD_LAST4, DEMO_PIN),  # no such customer
        ("D0004", DEMO_CARD_LAST4, "24681"),  # too short
        ("D0004", "432", DEMO_PIN),
    ],
)
def test_wrong_card_pin_or_customer_does_not_verify(
    directory: SqliteDirectory, customer_id: str, last4: str, pin: str
) -> None:
    assert not directory.verify_pin(customer_id, last4, pin)


def test_pin_is_stored_only_as_a_salted_scrypt_hash(directory: SqliteDirectory) -> None:
    db = sqlite3.connect(directory.path)
    dump = "\n".join(db.iterdump())
    hashes = [row[0] for row in db.execute("SELECT pin_hash FROM customers")]
    db.close()
    assert all(demo.pin not in dump for demo in DEMO_CUSTOMERS)
    assert all(h.startswith("scrypt$") for h in hashes)
    assert len(set(hashes)) == len(hashes)


def test_same_pin_hashes_differently_for_each_salt_and_still_matches() -> None:
    first, second = hash_pin(DEMO_PIN, n=FAST), hash_pin(DEMO_PIN, n=FAST)
    assert first != second
    assert pin_matches(DEMO_PIN, first) and pin_matches(DEMO_PIN, second)
    assert not pin_matches("135790", first)
    assert not pin_matches(DEMO_PIN, "plain$246810") and not pin_matches(DEMO_PIN, "garbage")


def test_production_pins_use_the_full_scrypt_cost() -> None:
    assert hash_pin(DEMO_PIN).split("$")[1:4] == ["16384", "8", "1"]


def test_a_pin_must_be_six_digits() -> None:
    with pytest.raises(ValueError):
        hash_pin("1234")


@pytest.mark.parametrize("number", ["6222021234567890123", "12345", "43a1"])
def test_only_the_last_four_digits_of_a_card_can_be_held(number: str) -> None:
    with pytest.raises(ValueError, match="last four"):
        Card(number)


def test_the_cards_table_cannot_hold_a_full_card_number(directory: SqliteDirectory) -> None:
    db = sqlite3.connect(directory.path)
    with pytest.raises(sqlite3.IntegrityError):
        db.execute("INSERT INTO cards VALUES ('D0004', '6222021234567890', 1)")
    db.close()


def test_a_card_is_activated_once(directory: SqliteDirectory) -> None:
    assert directory.card_status("D0004", DEMO_INACTIVE_CARD) == Card(DEMO_INACTIVE_CARD, active=False)
    assert directory.activate_card("D0004", DEMO_INACTIVE_CARD) == "activated"
    assert directory.activate_card("D0004", DEMO_INACTIVE_CARD) == "already_active"
    assert directory.activate_card("D0004", "0000") == "unknown_card"
    assert directory.activate_card("D0001", DEMO_INACTIVE_CARD) == "unknown_card"
    customer = directory.by_caller_id(DEMO_CALLER)
    assert customer is not None and customer.card(DEMO_INACTIVE_CARD) == Card(DEMO_INACTIVE_CARD, active=True)


def test_demo_directory_is_the_same_for_the_same_seed(tmp_path: Path) -> None:
    def everyone(seed: int, name: str) -> list[Customer | None]:
        store = generate_demo_directory(tmp_path / name, seed=seed, extra=15, scrypt_n=FAST)
        found = [store.by_caller_id(str(13910000000 + k)) for k in range(15)]
        store.close()
        return found

    first, again, other = everyone(1, "a.sqlite3"), everyone(1, "b.sqlite3"), everyone(2, "c.sqlite3")
    assert all(first) and first == again and first != other


def test_generating_again_replaces_the_old_demo_file(tmp_path: Path) -> None:
    path = tmp_path / "demo.sqlite3"
    generate_demo_directory(path, extra=2, scrypt_n=FAST).close()
    store = generate_demo_directory(path, extra=2, scrypt_n=FAST)  # no duplicate-key error
    assert store.by_caller_id(DEMO_CALLER) is not None
    store.close()


def test_amounts_must_be_whole_fen(tmp_path: Path) -> None:
    store = SqliteDirectory(tmp_path / "x.sqlite3", scrypt_n=FAST)
    odd = Customer("X1", "X", "standard", "zh", (Card("1111"),), Decimal("1.005"), Decimal(0), date(2025, 1, 1))
    with pytest.raises(ValueError):
        store.add_customer(odd, pin=DEMO_PIN, caller_ids=["13700000000"])
    store.close()


def test_sqlite_directory_is_a_customer_directory(directory: SqliteDirectory) -> None:
    usable: CustomerDirectory = directory  # checked by mypy; at run time, the methods exist
    assert usable.by_caller_id(DEMO_CALLER) is not None
