"""Specs: settings that are rendered into Asterisk config cannot carry config syntax."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    "overrides",
    [
        {"ami_metrics_user": "ivr-metrics]\n[evil"},
        {"ami_control_user": ""},
        {"ami_control_secret": "abc\n[evil]\npermit=0.0.0.0/0"},
        {"ami_metrics_secret": "short"},
        {"ami_reload_secret": "with space ; comment"},
    ],
)
def test_settings_rendered_into_manager_conf_cannot_inject_config(overrides: dict[str, str]) -> None:
    from pydantic import ValidationError

    from ivr.settings import Settings

    with pytest.raises(ValidationError, match="ami_"):
        Settings(**overrides)  # type: ignore[arg-type]


def test_the_demo_settings_are_valid() -> None:
    from ivr.settings import Settings

    assert Settings().ami_control_user == "ivr-control"
