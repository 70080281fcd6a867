"""Agent state control as a feature: the desired state of every seat
(`store.py`), the control that makes Asterisk match it (`control.py`), the
supervisors' HTTP routes (`http.py`), the agents' feature codes over FastAGI
(`agi.py`) and the control AMI session (`feature.py`)."""

from .control import PAUSE_REASONS, AgentControl, AgentError, membership_actions, resolve_reason
from .store import AgentLogin, AgentState, AgentStateStore

__all__ = [
    "PAUSE_REASONS",
    "AgentControl",
    "AgentError",
    "AgentLogin",
    "AgentState",
    "AgentStateStore",
    "membership_actions",
    "resolve_reason",
]
