"""Generate seats at the case study's scale (1,795 seats) for an existing catalog.

The mix follows a center of this kind: most seats serve Mandarin basic
service, then VIP/platinum/group, lost card, languages and outbound work.
Every generated seat has a primary skill (penalty 0) and, for about a third,
a backup skill at a higher penalty, as multi-skilled agents do.
"""

from __future__ import annotations

import random
from typing import Any

from ivr.catalog.model import Catalog

# Share of seats per primary skill group; groups missing from the catalog are skipped.
MIX = {
    "basic_zh": 0.58, "english": 0.05, "japanese": 0.01, "korean": 0.01, "french": 0.01,
    "russian": 0.01, "vip": 0.08, "platinum": 0.06, "group": 0.05, "lost_card": 0.04,
    "collections": 0.06, "care": 0.04,
}  # fmt: skip
BACKUP = {"english": "basic_zh", "vip": "platinum", "platinum": "vip", "group": "vip",
          "lost_card": "basic_zh", "collections": "basic_zh", "care": "basic_zh",
          "japanese": "english", "korean": "english", "french": "english", "russian": "english",
          "basic_zh": "english"}  # fmt: skip


def generate_seats(catalog: Catalog, count: int, first_id: int = 2001, seed: int = 95588) -> list[dict[str, Any]]:
    if count < 1 or first_id + count > 999_999:
        raise ValueError("count must be >= 1 and seat ids must stay within 6 digits")
    queues = {queue.id for queue in catalog.queues}
    mix = {queue: share for queue, share in MIX.items() if queue in queues} or {q: 1.0 for q in queues}
    total = sum(mix.values())
    rng = random.Random(seed)
    seats: list[dict[str, Any]] = []
    plan = [queue for queue, share in mix.items() for _ in range(round(count * share / total))]
    while len(plan) < count:
        plan.append(next(iter(mix)))
    for index, primary in enumerate(plan[:count]):
        skills = {primary: 0}
        backup = BACKUP.get(primary)
        if backup in queues and rng.random() < 0.35:
            skills[backup] = rng.choice((2, 3, 5))
        seat_id = str(first_id + index)
        seats.append({"id": seat_id, "name": f"Agent {seat_id}", "skills": skills})
    return seats


def catalog_with_seats(catalog: Catalog, seats: list[dict[str, Any]]) -> dict[str, Any]:
    """The catalog as plain data, with `seats` replaced: ready for yaml.safe_dump."""
    data = catalog.model_dump(mode="json", exclude_defaults=True)
    data["seats"] = seats
    return data
