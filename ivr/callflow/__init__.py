"""The call flow as a feature: a line's menu run on a live call (`flow.py`, over
the pure `ivr.menu` walker), the FastAGI `route` script built from the app
(`agi.py`) and the feature's context, which opens the customer directory
(`feature.py`)."""

from .flow import KEYS, SILENCE, CallFlow, stream_prompt

__all__ = ["KEYS", "SILENCE", "CallFlow", "stream_prompt"]
