"""The emergency announcement switch as a feature: announcements and the
switch (`switch.py`), their storage (`store.py`), the supervisors' HTTP
routes (`http.py`) and the feature's context (`feature.py`). The call flow
(`ivr.callflow`) reads the announcements in force when each call starts."""

from .store import EmergencyStore
from .switch import (
    ALL_LINES,
    MAX_DURATION,
    PROMPT,
    Announcement,
    EmergencyError,
    EmergencySwitch,
    announcements_for,
    emergency_switch,
)

__all__ = [
    "ALL_LINES",
    "MAX_DURATION",
    "PROMPT",
    "Announcement",
    "EmergencyError",
    "EmergencyStore",
    "EmergencySwitch",
    "announcements_for",
    "emergency_switch",
]
