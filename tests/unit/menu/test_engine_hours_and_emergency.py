"""Out of hours a caller hears the closed announcement and may use
self-service; an agent request hears when to call back; a lost card still
reaches its group. Emergency announcements come before everything."""

from __future__ import annotations

from ivr.catalog.model import Catalog
from ivr.menu.engine import CallStarted, Collect, DigitsCollected, Handoff, Hangup, MenuWalker, Play, SetContext


def test_out_of_hours_the_closed_announcement_comes_before_the_greeting(catalog: Catalog) -> None:
    steps = MenuWalker(catalog).handle(CallStarted("group", open=False))

    assert isinstance(steps[-1], Collect)
    assert steps[-1].prompts[:2] == ("zh/closed", "zh/group_welcome")


def test_out_of_hours_an_agent_request_hears_when_to_call_back_and_the_call_ends(catalog: Catalog) -> None:
    walker = MenuWalker(catalog)
    walker.handle(CallStarted("group", open=False))

    steps = walker.handle(DigitsCollected("0"))

    assert steps == (Hangup("closed", ("zh/closed_agents", "zh/goodbye")),)
    assert walker.path[-1] == "closed"


def test_out_of_hours_silence_does_not_reach_an_agent_either(catalog: Catalog) -> None:
    walker = MenuWalker(catalog)
    walker.handle(CallStarted("group", open=False))

    steps = walker.handle(DigitsCollected(""))

    assert isinstance(steps[-1], Hangup) and steps[-1].reason == "closed"


def test_out_of_hours_a_lost_card_still_reaches_the_lost_card_group(catalog: Catalog) -> None:
    walker = MenuWalker(catalog)
    walker.handle(CallStarted("group", open=False))

    steps = walker.handle(DigitsCollected("1"))

    assert isinstance(steps[-1], Handoff) and steps[-1].queue == "lost_card" and steps[-1].priority == 10


def test_emergency_announcements_play_first_in_the_caller_language(catalog: Catalog) -> None:
    steps = MenuWalker(catalog).handle(
        CallStarted("vip", announcements=("emergency_outage", "emergency_fraud"), open=True)
    )

    assert isinstance(steps[0], SetContext)
    assert isinstance(steps[-1], Collect)
    assert steps[-1].prompts[:3] == ("zh/emergency_outage", "zh/emergency_fraud", "zh/vip_welcome")


def test_emergency_then_closed_on_a_line_without_menu(catalog_with) -> None:  # type: ignore[no-untyped-def]
    def no_menu(data):  # type: ignore[no-untyped-def]
        data["numbers"][3].pop("menu")

    catalog = catalog_with(no_menu)
    steps = MenuWalker(catalog).handle(CallStarted("group", open=False, announcements=("emergency_outage",)))

    assert steps[1] == Play(("zh/emergency_outage", "zh/closed"))
    assert steps[-1] == Hangup("closed", ("zh/closed_agents", "zh/goodbye"))
