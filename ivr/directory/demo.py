"""Demo customers: a directory to call the demo center with.

Known customers (caller ID -> who), for `ivr simulate`, SIPp scenarios and tests:

| caller ID   | customer                 | tier     | language | cards (last 4)            | PIN    |
| ----------- | ------------------------ | -------- | -------- | ------------------------- | ------ |
| 13900000001 | D0001 Zhang Wei 张伟      | vip      | zh       | 6688                      | 135790 |
| 13900000002 | D0002 Emily Carter        | platinum | en       | 8801                      | 246802 |
| 13900000003 | D0003 Li Qiang 李强       | group    | zh       | 5566                      | 112233 |
| 13900000004 | D0004 Wang Fang 王芳      | standard | zh       | 4321, 9876 (not activated) | 246810 |
| 13900000005 | D0005 Tanaka Yuki 田中由紀 | standard | ja       | 3579                      | 357913 |
| 13900000006 | D0006 Chen Jing 陈静       | gold     | zh       | 1122                      | 224466 |

Wang Fang (`DEMO_CALLER`, `DEMO_CARD_LAST4`, `DEMO_PIN`) owes 1,234.56 yuan,
her bill is 1,234.56 due 2025-07-15, and her card 9876 awaits activation.
`extra` more customers follow from `seed` (caller IDs 13910000000 upward,
PINs not published): the same seed always gives the same directory.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from ivr.directory.model import Card, Customer, CustomerTier
from ivr.directory.store import SCRYPT_N, SqliteDirectory

DEMO_CALLER = "13900000004"
DEMO_CARD_LAST4 = "4321"
DEMO_INACTIVE_CARD = "9876"
DEMO_PIN = "246810"


@dataclass(frozen=True, slots=True)
class DemoCustomer:
    caller_id: str
    customer: Customer
    pin: str


def _customer(
    id: str, name: str, tier: CustomerTier, language: str, cards: tuple[Card, ...],
    balance: str, bill: str, due: date,
) -> Customer:  # fmt: skip
    return Customer(id, name, tier, language, cards, Decimal(balance), Decimal(bill), due)


DEMO_CUSTOMERS: tuple[DemoCustomer, ...] = (
    DemoCustomer("13900000001", _customer("D0001", "Zhang Wei 张伟", "vip", "zh", (Card("6688"),),
                                          "52300.00", "18650.40", date(2025, 7, 25)), "135790"),
    DemoCustomer("13900000002", _customer("D0002", "Emily Carter", "platinum", "en", (Card("8801"),),
                                          "8020.15", "3100.00", date(2025, 7, 20)), "246802"),
    DemoCustomer("13900000003", _customer("D0003", "Li Qiang 李强", "group", "zh", (Card("5566"),),
                                          "100000.00", "100000.00", date(2025, 8, 1)), "112233"),
    DemoCustomer(DEMO_CALLER, _customer("D0004", "Wang Fang 王芳", "standard", "zh",
                                        (Card(DEMO_CARD_LAST4), Card(DEMO_INACTIVE_CARD, active=False)),
                                        "1234.56", "1234.56", date(2025, 7, 15)), DEMO_PIN),
    DemoCustomer("13900000005", _customer("D0005", "Tanaka Yuki 田中由紀", "standard", "ja", (Card("3579"),),
                                          "560.00", "560.00", date(2025, 7, 10)), "357913"),
    DemoCustomer("13900000006", _customer("D0006", "Chen Jing 陈静", "gold", "zh", (Card("1122"),),
                                          "10010.00", "2000.00", date(2025, 7, 5)), "224466"),
)  # fmt: skip

_TIER_MIX: tuple[tuple[CustomerTier, int], ...] = (
    ("standard", 70), ("gold", 15), ("platinum", 8), ("vip", 4), ("group", 3),
)  # fmt: skip
_LANGUAGE_MIX = (("zh", 90), ("en", 6), ("ja", 1), ("ko", 1), ("fr", 1), ("ru", 1))


def generate_demo_directory(
    path: str | Path, seed: int = 95588, *, extra: int = 20, scrypt_n: int = SCRYPT_N
) -> SqliteDirectory:
    """A fresh demo directory at `path` (an existing file is replaced)."""
    path = Path(path)
    path.unlink(missing_ok=True)
    directory = SqliteDirectory(path, scrypt_n=scrypt_n)
    for demo in DEMO_CUSTOMERS:
        directory.add_customer(demo.customer, pin=demo.pin, caller_ids=[demo.caller_id])
    rng = random.Random(seed)
    for k in range(extra):
        tier = rng.choices([t for t, _ in _TIER_MIX], [w for _, w in _TIER_MIX])[0]
        language = rng.choices([c for c, _ in _LANGUAGE_MIX], [w for _, w in _LANGUAGE_MIX])[0]
        drawn = [Card(f"{rng.randrange(10_000):04d}", active=rng.random() > 0.1) for _ in range(rng.choice((1, 1, 2)))]
        cards = tuple({card.last4: card for card in drawn}.values())  # last four digits may collide
        bill = Decimal(rng.randrange(0, 5_000_000)) / 100
        customer = Customer(
            id=f"C{k + 1:05d}",
            name=f"Customer {k + 1}",
            tier=tier,
            language=language,
            cards=cards,
            balance=bill + Decimal(rng.randrange(0, 2_000_000)) / 100,
            bill_amount=bill,
            due_date=date(2025, 7, 1) + timedelta(days=rng.randrange(31)),
        )
        pin = f"{rng.randrange(10**6):06d}"
        directory.add_customer(customer, pin=pin, caller_ids=[str(13910000000 + k)])
    return directory
