"""Counters of the live pipeline: filled by `adapters.live`, exposed by `prometheus`."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class PipelineStats:
    """Counters of the pipeline since it was built (for /metrics and health)."""

    messages: int = 0
    """AMI messages read."""
    events: int = 0
    """Domain events produced by intake and applied to the state."""
    rejected: int = 0
    """AMI events intake refused (bad or missing headers); by reason in `rejects`."""
    stored: int = 0
    """Events the store accepted as new."""
    store_errors: int = 0
    """Failed store appends (each retried)."""
    store_dropped: int = 0
    """Events dropped unstored because the backlog hit `max_backlog`."""
    published: int = 0
    """Snapshots rendered and offered to subscribers."""
    dropped: int = 0
    """Updates dropped from slow subscribers' queues."""
    recovered: int = 0
    """Events replayed from the store by `recover()`."""
    caught_up: int = 0
    """Events the live feed missed, caught up from Asterisk's queue_log."""
