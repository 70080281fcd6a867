"""The audit trail as a feature: the append-only store (`trail.py`, no HTTP) and,
in `feature.py`, the context that opens it and the GET /api/audit route (its
handler is `ivr.web.audit`)."""

from .trail import (
    SECRET_KEY_WORDS,
    Actor,
    AuditEntry,
    AuditTrail,
    MemoryAuditTrail,
    SqliteAuditTrail,
    record_all,
    scrub,
)

__all__ = [
    "SECRET_KEY_WORDS",
    "Actor",
    "AuditEntry",
    "AuditTrail",
    "MemoryAuditTrail",
    "SqliteAuditTrail",
    "record_all",
    "scrub",
]
