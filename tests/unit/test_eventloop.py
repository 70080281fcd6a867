"""`ivr serve` runs on uvloop when it is installed, on asyncio's loop when asked."""

from __future__ import annotations

import asyncio

import pytest
import uvloop
from pydantic import ValidationError

from ivr.eventloop import run_event_loop
from ivr.settings import Settings


async def loop_class() -> type:
    return type(asyncio.get_running_loop())


def test_auto_runs_on_uvloop_when_installed() -> None:
    assert run_event_loop(loop_class(), "auto") is uvloop.Loop


def test_asyncio_runs_on_the_stock_loop() -> None:
    assert not issubclass(run_event_loop(loop_class(), "asyncio"), uvloop.Loop)


def test_an_unknown_loop_is_refused_before_anything_runs() -> None:
    with pytest.raises(ValueError, match="unknown event loop 'trio'"):
        run_event_loop(loop_class(), "trio")


def test_the_setting_accepts_only_known_loops(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IVR_EVENT_LOOP", "asyncio")
    assert Settings().event_loop == "asyncio"

    monkeypatch.setenv("IVR_EVENT_LOOP", "gevent")
    with pytest.raises(ValidationError):
        Settings()
