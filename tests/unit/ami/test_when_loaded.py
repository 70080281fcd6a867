"""After a (re)login Asterisk may still be loading modules: actions wait for them, with a deadline."""

from __future__ import annotations

import pytest

from ivr.ami import AmiActionError, AmiMessage, when_loaded

BOOTING = AmiMessage((("Response", "Error"), ("Message", "Invalid/unknown command: QueuePause.")))


def booting_error() -> AmiActionError:
    return AmiActionError("QueuePause", "c-1", "Invalid/unknown command: QueuePause.", BOOTING)


async def test_action_is_retried_until_the_module_is_loaded() -> None:
    calls = 0

    async def pause() -> str:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise booting_error()
        return "paused"

    assert await when_loaded(pause, interval=0) == "paused"
    assert calls == 3


async def test_other_errors_are_not_retried() -> None:
    async def pause() -> str:
        raise AmiActionError("QueuePause", "c-1", "Interface not found", BOOTING)

    with pytest.raises(AmiActionError, match="Interface not found"):
        await when_loaded(pause, interval=0)


async def test_booting_past_the_deadline_raises() -> None:
    async def pause() -> str:
        raise booting_error()

    with pytest.raises(AmiActionError, match="Invalid/unknown command"):
        await when_loaded(pause, deadline=0.05, interval=0.01)
