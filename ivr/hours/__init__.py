"""Opening hours of a line (pure calendar logic, `opening.py`): read by the
call flow when each call starts and by `ivr simulate`. No routes, no state."""

from .opening import WEEKDAYS, HoursError, hours_on, is_open, line_is_open, next_opening, zone

__all__ = ["WEEKDAYS", "HoursError", "hours_on", "is_open", "line_is_open", "next_opening", "zone"]
