"""The customer directory: who is calling (by caller ID), their tier, language,
cards (last four digits only), balances, and PIN verification."""

from ivr.directory.model import ActivationResult, Card, Customer, CustomerTier, normalize_caller_id
from ivr.directory.store import CustomerDirectory, SqliteDirectory, hash_pin, pin_matches

__all__ = [
    "ActivationResult",
    "Card",
    "Customer",
    "CustomerDirectory",
    "CustomerTier",
    "SqliteDirectory",
    "hash_pin",
    "normalize_caller_id",
    "pin_matches",
]
