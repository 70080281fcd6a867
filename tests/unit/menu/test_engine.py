"""The menu walker, driven without sockets: events in, steps out."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ivr.catalog.model import Catalog
from ivr.directory.demo import DEMO_CARD_LAST4, DEMO_INACTIVE_CARD, DEMO_PIN
from ivr.directory.model import Customer
from ivr.menu.engine import (
    ActivateCard,
    CallStarted,
    CardActivationDone,
    Collect,
    DigitsCollected,
    EngineError,
    Handoff,
    Hangup,
    MenuWalker,
    PinChecked,
    Play,
    SetContext,
    Step,
    UnknownLine,
    VerifyPin,
)

from .conftest import GROUP, JAPANESE, PLATINUM_EN, STANDARD, VIP


def start(catalog: Catalog, line: str = "main", caller: Customer | None = None) -> tuple[MenuWalker, tuple[Step, ...]]:
    walker = MenuWalker(catalog)
    return walker, walker.handle(CallStarted(line, caller))


def press(walker: MenuWalker, *keys: str) -> tuple[Step, ...]:
    steps: tuple[Step, ...] = ()
    for key in keys:
        steps = walker.handle(DigitsCollected(key))
    return steps


def handoff(steps: tuple[Step, ...]) -> Handoff:
    last = steps[-1]
    assert isinstance(last, Handoff), f"expected a handoff, got {last!r}"
    return last


def collect(steps: tuple[Step, ...]) -> Collect:
    last = steps[-1]
    assert isinstance(last, Collect), f"expected a collect, got {last!r}"
    return last


def verify(walker: MenuWalker, card: str, pin: str, *, ok: bool) -> tuple[Step, ...]:
    """Enter card digits and PIN, answer the directory check with `ok`."""
    steps = press(walker, card, pin)
    assert isinstance(steps[-1], VerifyPin)
    return walker.handle(PinChecked(ok))


# -- a call starts ----------------------------------------------------------------


def test_call_on_main_line_greets_and_offers_the_main_menu_in_mandarin(catalog: Catalog) -> None:
    walker, steps = start(catalog)
    assert steps[0] == SetContext((("__IVR_TIER", "standard"), ("__IVR_LANG", "zh"), ("CHANNEL(language)", "zh")))
    offer = collect(steps)
    assert offer.prompts == ("zh/welcome", "en/language_offer", "zh/main_menu")
    assert (offer.max_digits, offer.timeout_ms, offer.secret) == (1, 5000, False)
    assert walker.waiting_for == "menu_digit"


def test_greeting_is_played_once_not_on_repeat(catalog: Catalog) -> None:
    walker, _ = start(catalog)
    assert collect(press(walker, "*")).prompts == ("zh/main_menu",)


def test_line_without_menu_is_routed_at_once(catalog_with: Callable[..., Catalog]) -> None:
    def drop_menu(data: dict[str, Any]) -> None:
        del data["numbers"][1]["menu"]

    _, steps = start(catalog_with(drop_menu), "4006695588")
    assert handoff(steps).queue == "vip" and handoff(steps).reason == "no_menu"


def test_unknown_line_is_an_error_and_leaves_the_dialplan_fallback(catalog: Catalog) -> None:
    with pytest.raises(UnknownLine):
        start(catalog, "12345")


# -- tiers and priorities ---------------------------------------------------------


def test_vip_caller_on_main_line_is_handed_to_vip_queue(catalog: Catalog) -> None:
    walker, steps = start(catalog, "95588", VIP)
    assert ("__IVR_TIER", "vip") in steps[0].vars  # type: ignore[union-attr]
    out = handoff(press(walker, "0"))
    assert (out.queue, out.priority, out.tier, out.customer_id) == ("vip", 8, "vip", VIP.id)


def test_vip_caller_who_stays_silent_still_reaches_the_vip_queue(catalog: Catalog) -> None:
    walker, _ = start(catalog, "95588", VIP)
    out = handoff(press(walker, "", "", ""))
    assert (out.queue, out.priority, out.reason) == ("vip", 8, "retries_exhausted")


def test_standard_caller_on_main_line_reaches_mandarin_basic_service(catalog: Catalog) -> None:
    walker, _ = start(catalog, "95588", STANDARD)
    out = handoff(press(walker, "0"))
    assert (out.queue, out.priority, out.tier) == ("basic_zh", 0, "standard")


def test_unknown_caller_on_vip_line_is_served_at_the_lines_tier(catalog: Catalog) -> None:
    walker, _ = start(catalog, "4006695588")
    out = handoff(press(walker, "0"))
    assert (out.queue, out.priority, out.tier, out.customer_id) == ("vip", 8, "vip", None)


def test_platinum_caller_on_vip_line_is_served_as_vip_the_higher_tier(catalog: Catalog) -> None:
    walker, _ = start(catalog, "4006695588", PLATINUM_EN)
    out = handoff(press(walker, "0"))
    assert (out.queue, out.priority, out.tier) == ("vip", 8, "vip")


def test_vip_caller_on_group_line_keeps_vip_tier(catalog: Catalog) -> None:
    walker, _ = start(catalog, "4008795588", VIP)
    out = handoff(press(walker, "0"))
    assert (out.queue, out.priority, out.tier) == ("vip", 8, "vip")


def test_group_caller_on_main_line_reaches_the_group_team(catalog: Catalog) -> None:
    walker, _ = start(catalog, "95588", GROUP)
    out = handoff(press(walker, "0"))
    assert (out.queue, out.priority) == ("group", 4)


def test_explicit_queue_digit_uses_its_priority_override(catalog_with: Callable[..., Catalog]) -> None:
    def add(data: dict[str, Any]) -> None:
        data["menus"]["main"]["nodes"]["installments"]["digits"][3] = {"do": "queue", "queue": "care", "priority": 3}

    walker, _ = start(catalog_with(add))
    out = handoff(press(walker, "4", "3"))
    assert (out.queue, out.priority, out.reason) == ("care", 3, "queue_selected")


# -- retries, repeat, back, shortcuts ---------------------------------------------


def test_three_invalid_digits_reach_an_agent(catalog: Catalog) -> None:
    walker, _ = start(catalog)
    first = collect(press(walker, "7"))
    assert first.prompts == ("zh/invalid_choice", "zh/main_menu")
    collect(press(walker, "8"))
    out = handoff(press(walker, "5"))
    assert (out.queue, out.reason) == ("basic_zh", "retries_exhausted")
    assert out.path == ("main", "root", "exhausted")


def test_silence_follows_timeout_policy(catalog: Catalog) -> None:
    walker, _ = start(catalog)
    assert collect(press(walker, "")).prompts == ("zh/no_input", "zh/main_menu")
    assert collect(press(walker, "")).prompts == ("zh/no_input", "zh/main_menu")
    assert handoff(press(walker, "")).reason == "retries_exhausted"


def test_vip_line_sends_silence_straight_to_the_vip_group(catalog: Catalog) -> None:
    walker, steps = start(catalog, "4006695588")
    assert collect(steps).timeout_ms == 4000
    out = handoff(press(walker, ""))
    assert (out.queue, out.priority, out.reason) == ("vip", 8, "retries_exhausted")


def test_after_retries_runs_the_catalogs_action(catalog_with: Callable[..., Catalog]) -> None:
    def hang_up_on_silence(data: dict[str, Any]) -> None:
        root = data["menus"]["main"]["nodes"]["root"]
        root.update(max_retries=0, after_retries="hangup")

    walker, _ = start(catalog_with(hang_up_on_silence))
    steps = press(walker, "")
    assert steps == (Play(("zh/goodbye",)), Hangup("retries_exhausted"))


def test_node_without_retry_prompts_just_offers_again(catalog_with: Callable[..., Catalog]) -> None:
    def quiet(data: dict[str, Any]) -> None:
        data["menus"]["main"]["nodes"]["root"].update(invalid_prompt=None, timeout_prompt=None)

    walker, _ = start(catalog_with(quiet))
    assert collect(press(walker, "7")).prompts == ("zh/main_menu",)


def test_star_repeats_the_current_node_without_counting_a_retry(catalog: Catalog) -> None:
    walker, _ = start(catalog)
    press(walker, "1")  # billing
    for _ in range(5):
        assert collect(press(walker, "*")).prompts == ("zh/billing_menu",)
    press(walker, "7", "7")  # two invalid: the third try is still a try
    assert collect(press(walker, "*")).prompts == ("zh/billing_menu",)


def test_zero_reaches_an_agent_from_any_node(catalog: Catalog) -> None:
    for keys in (("0",), ("1", "0"), ("4", "0"), ("9", "0")):
        walker, _ = start(catalog)
        out = handoff(press(walker, *keys))
        assert (out.queue, out.reason) == ("basic_zh", "agent_requested"), keys


def test_a_nodes_own_digit_overrides_a_shortcut(catalog_with: Callable[..., Catalog]) -> None:
    def remap(data: dict[str, Any]) -> None:
        data["menus"]["main"]["nodes"]["billing"]["digits"][0] = {"do": "menu", "node": "installments"}

    walker, _ = start(catalog_with(remap))
    assert collect(press(walker, "1", "0")).prompts == ("zh/installments_menu",)


def test_pound_goes_back_to_the_previous_node(catalog: Catalog) -> None:
    walker, _ = start(catalog)
    assert collect(press(walker, "1")).prompts == ("zh/billing_menu",)
    assert collect(press(walker, "#")).prompts == ("zh/main_menu",)
    out = handoff(press(walker, "0"))
    assert out.path == ("main", "root", "1", "billing", "#", "root", "0")


def test_retries_start_afresh_on_each_node(catalog: Catalog) -> None:
    walker, _ = start(catalog)
    press(walker, "7", "7", "1")  # two invalid at root, then billing
    collect(press(walker, "7"))
    collect(press(walker, "7"))
    assert handoff(press(walker, "7")).path[-2:] == ("billing", "exhausted")


# -- languages --------------------------------------------------------------------


def test_english_selection_plays_english_prompts(catalog: Catalog) -> None:
    walker, _ = start(catalog)
    languages = collect(press(walker, "9"))
    assert languages.prompts[0] == "en/language_option"
    steps = press(walker, "1")
    assert steps[0] == SetContext((("__IVR_TIER", "standard"), ("__IVR_LANG", "en"), ("CHANNEL(language)", "en")))
    assert collect(steps).prompts == ("en/main_menu",)
    assert collect(press(walker, "1")).prompts == ("en/billing_menu",)
    assert collect(press(walker, "7")).prompts == ("en/invalid_choice", "en/billing_menu")
    out = handoff(press(walker, "0"))
    assert (out.queue, out.language) == ("english", "en")
    assert out.path_text == "main>root>9>languages>1>en>root>1>billing>0"


@pytest.mark.parametrize(
    ("key", "code", "queue"),
    [("2", "ja", "japanese"), ("3", "ko", "korean"), ("4", "fr", "french"), ("5", "ru", "russian")],
)
def test_each_minor_language_reaches_its_own_prompts_and_queue(
    catalog: Catalog, key: str, code: str, queue: str
) -> None:
    walker, _ = start(catalog)
    assert collect(press(walker, "9", key)).prompts == (f"{code}/minor_menu",)
    assert collect(press(walker, "")).prompts == (f"{code}/no_input", f"{code}/minor_menu")
    out = handoff(press(walker, "0"))
    assert (out.queue, out.language, out.priority) == (queue, code, 0)


def test_minor_language_caller_can_return_to_mandarin(catalog: Catalog) -> None:
    walker, _ = start(catalog)
    assert collect(press(walker, "9", "2", "9")).prompts == ("zh/main_menu",)
    assert handoff(press(walker, "0")).queue == "basic_zh"


def test_recognised_caller_is_greeted_in_the_preferred_language(catalog: Catalog) -> None:
    _, steps = start(catalog, "95588", PLATINUM_EN)
    assert collect(steps).prompts == ("en/welcome", "en/language_offer", "en/main_menu")
    walker, steps = start(catalog, "95588", JAPANESE)
    assert collect(steps).prompts == ("ja/welcome", "en/language_offer", "ja/minor_menu")
    assert handoff(press(walker, "0")).queue == "japanese"


def test_english_platinum_caller_reaches_the_platinum_group_in_english(catalog: Catalog) -> None:
    walker, _ = start(catalog, "95588", PLATINUM_EN)
    out = handoff(press(walker, "0"))
    assert (out.queue, out.priority, out.language, out.tier) == ("platinum", 6, "en", "platinum")


def test_preferred_language_the_line_does_not_offer_falls_back_to_the_lines(catalog: Catalog) -> None:
    _, steps = start(catalog, "4006695588", JAPANESE)
    assert collect(steps).prompts == ("zh/vip_welcome", "en/english_offer", "zh/vip_menu")


# -- lost card ----------------------------------------------------------------------


@pytest.mark.parametrize(("line", "keys"), [("95588", ("3",)), ("4006695588", ("1",)), ("95588", ("9", "2", "3"))])
def test_lost_card_goes_straight_to_the_lost_card_queue_at_top_priority(
    catalog: Catalog, line: str, keys: tuple[str, ...]
) -> None:
    walker, _ = start(catalog, line, VIP)
    out = handoff(press(walker, *keys))
    assert (out.queue, out.priority, out.reason, out.verified) == ("lost_card", 10, "lost_card", False)
    assert out.priority > max(policy.priority for policy in catalog.tiers.values())


# -- verification and self-service ---------------------------------------------------


def test_card_and_pin_are_collected_as_secret_entries(catalog: Catalog) -> None:
    walker, _ = start(catalog, "95588", STANDARD)
    card = collect(press(walker, "1", "1"))
    assert (card.prompts, card.max_digits, card.secret) == (("zh/enter_card_last4",), 4, True)
    pin = collect(press(walker, DEMO_CARD_LAST4))
    assert (pin.prompts, pin.max_digits, pin.secret) == (("zh/enter_pin",), 6, True)
    check = press(walker, DEMO_PIN)[-1]
    assert check == VerifyPin(STANDARD.id, DEMO_CARD_LAST4, DEMO_PIN)


def test_pin_and_card_digits_never_appear_in_a_repr(catalog: Catalog) -> None:
    walker, _ = start(catalog, "95588", STANDARD)
    press(walker, "1", "1", DEMO_CARD_LAST4)
    check = press(walker, DEMO_PIN)[-1]
    shown = repr(check) + repr(DigitsCollected(DEMO_PIN)) + repr(ActivateCard("x", DEMO_CARD_LAST4))
    assert DEMO_PIN not in shown and DEMO_CARD_LAST4 not in shown


def test_balance_after_verification_reads_balance_bill_and_due_date(catalog: Catalog) -> None:
    walker, _ = start(catalog, "95588", STANDARD)
    press(walker, "1", "1")
    steps = verify(walker, DEMO_CARD_LAST4, DEMO_PIN, ok=True)
    assert steps[0] == SetContext((("__IVR_VERIFIED", "1"),))
    readout = steps[1]
    assert isinstance(readout, Play)
    amount = ("zh/num_1", "zh/unit_1000", "zh/num_2", "zh/unit_100", "zh/num_3", "zh/unit_10", "zh/num_4",
              "zh/cur_yuan", "zh/num_5", "zh/cur_jiao", "zh/num_6", "zh/cur_fen")  # fmt: skip
    due = ("zh/num_2", "zh/num_0", "zh/num_2", "zh/num_5", "zh/date_year", "zh/num_7", "zh/date_month",
           "zh/unit_10", "zh/num_5", "zh/date_day")  # fmt: skip
    assert readout.prompts == ("zh/balance_is", *amount, "zh/bill_amount_is", *amount, "zh/due_date_is", *due)
    assert collect(steps).prompts == ("zh/billing_menu",)  # back where the caller chose it
    out = handoff(press(walker, "0"))
    assert out.verified and out.path_text == "main>root>1>billing>1>balance>verified>0"


def test_english_caller_hears_the_balance_with_english_fragments(catalog: Catalog) -> None:
    walker, _ = start(catalog, "95588", PLATINUM_EN)
    press(walker, "1", "1")
    readout = verify(walker, "8801", "246802", ok=True)[1]
    assert isinstance(readout, Play)
    # 8020.15: eight thousand twenty yuan fifteen fen
    assert readout.prompts[:7] == (
        "en/balance_is", "en/num_8", "en/unit_thousand", "en/num_20", "en/cur_yuan", "en/num_15", "en/cur_fen"
    )  # fmt: skip
    due = ("en/due_date_is", "en/month_7", "en/ord_20", "en/num_2", "en/unit_thousand", "en/num_20", "en/num_5")
    assert readout.prompts[-7:] == due


def test_minor_language_caller_hears_numbers_in_english(catalog_with: Callable[..., Catalog]) -> None:
    def offer_balance(data: dict[str, Any]) -> None:
        data["menus"]["main"]["nodes"]["minor"]["digits"][1] = {"do": "self_service", "flow": "balance"}

    walker, _ = start(catalog_with(offer_balance), "95588", JAPANESE)
    press(walker, "1")
    readout = verify(walker, "3579", "357913", ok=True)[1]
    assert isinstance(readout, Play)
    assert readout.prompts[:4] == ("ja/balance_is", "en/num_5", "en/unit_hundred", "en/num_60")


def test_verified_caller_is_not_asked_again_for_a_second_balance(catalog: Catalog) -> None:
    walker, _ = start(catalog, "95588", STANDARD)
    press(walker, "1", "1")
    verify(walker, DEMO_CARD_LAST4, DEMO_PIN, ok=True)
    steps = press(walker, "1")
    assert isinstance(steps[0], Play) and steps[0].prompts[0] == "zh/balance_is"


def test_wrong_pin_three_times_hands_off_flagged_unverified(catalog: Catalog) -> None:
    walker, _ = start(catalog, "95588", STANDARD)
    press(walker, "1", "1")
    retry = collect(verify(walker, DEMO_CARD_LAST4, "000000", ok=False))
    assert retry.prompts == ("zh/verification_retry", "zh/enter_card_last4") and retry.secret
    collect(verify(walker, DEMO_CARD_LAST4, "111111", ok=False))
    steps = verify(walker, DEMO_CARD_LAST4, "222222", ok=False)
    assert steps[0] == Play(("zh/verification_failed",))
    out = handoff(steps)
    assert (out.queue, out.verified, out.reason) == ("basic_zh", False, "verification_failed")
    assert out.path[-1] == "unverified"


def test_wrong_pin_then_right_pin_verifies(catalog: Catalog) -> None:
    walker, _ = start(catalog, "95588", STANDARD)
    press(walker, "1", "1")
    verify(walker, DEMO_CARD_LAST4, "000000", ok=False)
    steps = verify(walker, DEMO_CARD_LAST4, DEMO_PIN, ok=True)
    assert walker.verified and isinstance(steps[1], Play)


@pytest.mark.parametrize("entries", [("12", "1", "123"), ("", "", ""), ("1234", "12345", "1234", "", "abcd")])
def test_malformed_or_missing_card_and_pin_entries_count_as_failed_attempts(
    catalog: Catalog, entries: tuple[str, ...]
) -> None:
    walker, _ = start(catalog, "95588", STANDARD)
    press(walker, "1", "1")
    out = handoff(press(walker, *entries))
    assert out.reason == "verification_failed" and not out.verified


def test_verification_attempts_come_from_the_catalog(catalog_with: Callable[..., Catalog]) -> None:
    def once(data: dict[str, Any]) -> None:
        data["menus"]["main"]["verify_attempts"] = 1

    walker, _ = start(catalog_with(once), "95588", STANDARD)
    press(walker, "1", "1")
    assert handoff(verify(walker, DEMO_CARD_LAST4, "000000", ok=False)).reason == "verification_failed"


def test_unrecognised_caller_asking_for_balance_reaches_an_agent(catalog: Catalog) -> None:
    walker, _ = start(catalog)
    steps = press(walker, "1", "1")
    assert steps[0] == Play(("zh/caller_not_recognised",))
    assert handoff(steps).reason == "caller_not_recognised"


def test_activation_activates_the_entered_card_and_returns_to_the_menu(catalog: Catalog) -> None:
    walker, _ = start(catalog, "95588", STANDARD)
    assert collect(press(walker, "2")).prompts == ("zh/activation_card_last4",)
    steps = verify(walker, DEMO_INACTIVE_CARD, DEMO_PIN, ok=True)
    assert steps[-1] == ActivateCard(STANDARD.id, DEMO_INACTIVE_CARD)
    steps = walker.handle(CardActivationDone("activated"))
    assert steps[0] == Play(("zh/card_activated",))
    assert collect(steps).prompts == ("zh/main_menu",)
    assert walker.path[-3:] == ("activation", "verified", "activated")


def test_second_activation_after_verification_asks_only_for_the_card(catalog: Catalog) -> None:
    walker, _ = start(catalog, "95588", STANDARD)
    press(walker, "2")
    verify(walker, DEMO_INACTIVE_CARD, DEMO_PIN, ok=True)
    walker.handle(CardActivationDone("activated"))
    press(walker, "2")
    assert press(walker, DEMO_CARD_LAST4)[-1] == ActivateCard(STANDARD.id, DEMO_CARD_LAST4)
    steps = walker.handle(CardActivationDone("already_active"))
    assert steps[0] == Play(("zh/card_already_active",))


def test_activation_of_an_unknown_card_is_reported(catalog: Catalog) -> None:
    walker, _ = start(catalog, "4000095588", PLATINUM_EN)
    assert collect(press(walker, "3")).prompts == ("en/activation_card_last4",)
    verify(walker, "8801", "246802", ok=True)
    assert walker.handle(CardActivationDone("unknown_card"))[0] == Play(("en/card_not_found",))


# -- the handoff and the adapter contract ---------------------------------------------


def test_handoff_channel_vars_carry_the_context_to_the_dialplan(catalog: Catalog) -> None:
    walker, _ = start(catalog, "95588", VIP)
    out = handoff(press(walker, "4", "1"))
    assert dict(out.channel_vars()) == {
        "IVR_QUEUE": "vip",
        "IVR_PRIORITY": "8",
        "__IVR_LANG": "zh",
        "CHANNEL(language)": "zh",
        "__IVR_TIER": "vip",
        "__IVR_VERIFIED": "0",
        "__IVR_PATH": "main>root>4>installments>1",
        "__IVR_REASON": "agent_requested",
        "__IVR_ROUTE": "agi",
    }


def test_a_very_long_path_is_cut_from_the_front_for_the_agi_buffer(catalog: Catalog) -> None:
    walker, _ = start(catalog)
    for _ in range(60):
        press(walker, "1", "#")
    path = dict(handoff(press(walker, "0")).channel_vars())["__IVR_PATH"]
    assert len(path) == 200 and path.startswith("...") and path.endswith(">root>0")


def test_event_the_walker_is_not_waiting_for_is_an_engine_error(catalog: Catalog) -> None:
    walker = MenuWalker(catalog)
    with pytest.raises(EngineError):
        walker.handle(DigitsCollected("1"))
    walker.handle(CallStarted("main"))
    with pytest.raises(EngineError):
        walker.handle(PinChecked(True))


def test_events_after_the_handoff_are_rejected(catalog: Catalog) -> None:
    walker, _ = start(catalog)
    press(walker, "0")
    assert walker.waiting_for == "done"
    with pytest.raises(EngineError):
        press(walker, "1")


KEYS = st.sampled_from(["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "#", "", "4321", "246810"])


@settings(max_examples=300, deadline=None)
@given(
    line=st.sampled_from(["95588", "4006695588", "4000095588", "4008795588"]),
    caller=st.sampled_from([None, VIP, PLATINUM_EN, GROUP, STANDARD, JAPANESE]),
    keys=st.lists(KEYS, max_size=40),
    answers=st.lists(st.booleans(), max_size=10),
)
def test_any_caller_pressing_anything_ends_in_a_valid_handoff(
    catalog: Catalog, line: str, caller: Customer | None, keys: list[str], answers: list[bool]
) -> None:
    walker, steps = start(catalog, line, caller)
    queues = {queue.id for queue in catalog.queues}
    for _ in range(200):
        last = steps[-1]
        if isinstance(last, Handoff | Hangup):
            break
        if isinstance(last, Collect):
            key = keys.pop(0) if keys else ""  # a caller out of keys stays silent
            steps = walker.handle(DigitsCollected(key))
        elif isinstance(last, VerifyPin):
            steps = walker.handle(PinChecked(answers.pop(0) if answers else False))
        elif isinstance(last, ActivateCard):
            steps = walker.handle(CardActivationDone("activated"))
        else:
            raise AssertionError(last)
    else:
        raise AssertionError("the call never left the IVR")
    if isinstance(last, Handoff):
        assert last.queue in queues
        assert last.language in catalog.number(line).languages
        tier_floor = catalog.number(line).priority
        assert last.priority >= tier_floor or last.reason == "queue_selected"
        assert last.verified == ("verified" in last.path)
        assert "246810" not in last.path_text and "4321" not in last.path_text
