"""Safe hot reload as a feature: the pure plan (`plan.py`), applying it with
verification and roll-back over the reload user's short AMI session
(`apply.py`), POST /api/reload (`http.py`, `feature.py`); `ivr reload` is the
command-line way in."""

from .apply import (
    ReloadFailed,
    ReloadResult,
    ReloadSession,
    ReloadUnavailable,
    apply_reload,
    reload_session,
    verify,
)
from .plan import (
    ORDER,
    RELOAD_MODULES,
    ReloadPlan,
    expected_dialplan,
    expected_queues,
    mask_secrets,
    plan_reload,
    read_config_dir,
)

__all__ = [
    "ORDER",
    "RELOAD_MODULES",
    "ReloadFailed",
    "ReloadPlan",
    "ReloadResult",
    "ReloadSession",
    "ReloadUnavailable",
    "apply_reload",
    "expected_dialplan",
    "expected_queues",
    "mask_secrets",
    "plan_reload",
    "read_config_dir",
    "reload_session",
    "verify",
]
