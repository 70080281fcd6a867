"""A small center for the metrics specs: two skill groups, three lines, three seats.

basic_zh targets are chosen so the scripted day shows every colour:
service level 0.60 (met exactly: green), answer rate 0.70 (0.667: amber),
abandon rate 0.05 (0.20: red), ASA 20 s (15: green), AHT 160 s (165: amber).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

from ivr.ami.protocol import AmiMessage, AmiParser, NeedData
from ivr.catalog.model import Catalog

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "ami"
TRANSCRIPT = FIXTURES / "fallback_call_answered_by_1001.txt"

CATALOG = Catalog.model_validate(
    {
        "center": {"name": "Test Center", "timezone": "Asia/Shanghai"},
        "languages": [
            {"code": "zh", "name": "Mandarin", "voice": "cmn"},
            {"code": "en", "name": "English", "voice": "en"},
        ],
        "queues": [
            {
                "id": "basic_zh", "name": "Mandarin basic service", "language": "zh",
                "wrapup": 0, "service_level_seconds": 20,
                "targets": {
                    "service_level": 0.60, "answer_rate": 0.70, "abandon_rate": 0.05,
                    "asa_seconds": 20, "aht_seconds": 160,
                },
            },
            {"id": "english", "name": "English service", "language": "en", "wrapup": 10},
        ],
        "numbers": [
            {
                "number": "95588", "id": "main", "name": "Main hotline", "language": "zh",
                "languages": ["zh", "en"], "fallback_queue": "basic_zh",
            },
            {
                "number": "4006695588", "id": "vip", "name": "VIP line", "language": "zh",
                "languages": ["zh"], "fallback_queue": "basic_zh", "tier": "vip",
            },
            {
                "number": "4000095588", "id": "platinum", "name": "Platinum line",
                "language": "zh", "languages": ["zh"], "fallback_queue": "basic_zh",
                "tier": "platinum",
            },
        ],
        "seats": [
            {"id": "1001", "name": "Li Na", "skills": {"basic_zh": 0}},
            {"id": "1002", "name": "Wang Wei", "skills": {"basic_zh": 0}},
            {"id": "1003", "name": "Anna", "skills": {"english": 0}},
        ],
    }
)  # fmt: skip


def transcript_messages() -> list[AmiMessage]:
    """The recorded AMI session's messages (banner and responses included)."""
    parser = AmiParser()
    parser.receive_data(TRANSCRIPT.read_bytes())
    out: list[AmiMessage] = []
    while True:
        item = parser.next_event()
        if isinstance(item, AmiMessage):
            out.append(item)
        elif isinstance(item, NeedData):
            return out


async def as_stream(messages: list[AmiMessage], received_at: float = 0.0) -> AsyncIterator[tuple[AmiMessage, float]]:
    for message in messages:
        yield message, received_at
