"""Menus in the catalog: readable YAML, every reference checked with a precise path.

The menu checks run in the loader when `ivr.check` hands them over
(`parse_checked_catalog`), so their problems carry the file's line."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from ivr.catalog.errors import CatalogError
from ivr.catalog.generate import catalog_with_seats, generate_seats
from ivr.catalog.load import format_path, parse_catalog
from ivr.catalog.menus import GoToNode, Repeat, SelfService, ToAgent
from ivr.catalog.model import Catalog
from ivr.check import parse_checked_catalog
from ivr.menu.checks import missing_prompts

from .conftest import PROMPTS_DIR

Edit = Callable[[dict[str, Any]], None]


def problems_after(demo_data: dict[str, Any], edit: Edit) -> list[str]:
    data = yaml.safe_load(yaml.safe_dump(demo_data, allow_unicode=True))
    edit(data)
    with pytest.raises(CatalogError) as info:
        parse_checked_catalog(yaml.safe_dump(data, allow_unicode=True), "callcenter.yaml")
    return [f"{issue.path}: {issue.reason}" for issue in info.value.issues]


def test_demo_catalog_gives_each_of_the_four_lines_a_menu(catalog: Catalog) -> None:
    assert {line.number: line.menu for line in catalog.numbers} == {
        "95588": "main", "4006695588": "vip", "4000095588": "platinum", "4008795588": "group",
    }  # fmt: skip
    assert set(catalog.menus["main"].nodes) >= {"root", "billing", "installments", "languages", "minor"}


def test_digit_keys_written_as_numbers_are_read_as_digits(catalog: Catalog) -> None:
    assert catalog.menus["main"].nodes["root"].digits["1"] == GoToNode(do="menu", node="billing")


def test_plain_actions_can_be_written_as_one_word(catalog: Catalog) -> None:
    shortcuts = catalog.menus["main"].shortcuts
    assert shortcuts == {"*": Repeat(do="repeat"), "0": ToAgent(do="agent")}
    assert catalog.menus["main"].nodes["root"].digits["3"] == SelfService(do="self_service", flow="lost_card")


def test_tiers_and_lost_card_are_declared_once(catalog: Catalog) -> None:
    assert {tier: (p.queue, p.priority) for tier, p in catalog.tiers.items()} == {
        "standard": (None, 0), "gold": (None, 2), "group": ("group", 4), "platinum": ("platinum", 6), "vip": ("vip", 8),
    }  # fmt: skip
    assert catalog.lost_card is not None
    assert (catalog.lost_card.queue, catalog.lost_card.priority) == ("lost_card", 10)


def test_unknown_queue_in_a_menu_is_reported_with_its_path(demo_data: dict[str, Any]) -> None:
    def edit(data: dict[str, Any]) -> None:
        data["menus"]["main"]["nodes"]["root"]["digits"][9] = {"do": "queue", "queue": "vipp"}

    assert problems_after(demo_data, edit) == ["menus.main.nodes.root.digits.9: unknown queue 'vipp'"]


def test_problems_carry_the_yaml_line(demo_data: dict[str, Any]) -> None:
    data = yaml.safe_load(yaml.safe_dump(demo_data, allow_unicode=True))
    data["menus"]["vip"]["nodes"]["root"]["digits"][2] = {"do": "menu", "node": "nowhere"}
    text = yaml.safe_dump(data, allow_unicode=True)
    with pytest.raises(CatalogError) as info:
        parse_checked_catalog(text, "callcenter.yaml")
    [issue] = info.value.issues
    assert issue.path == "menus.vip.nodes.root.digits.2" and issue.reason == "unknown node 'nowhere'"
    assert issue.line is not None and "2:" in text.splitlines()[issue.line - 1]


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda d: d["menus"]["main"].update(start="welcome"), "menus.main.start: unknown node 'welcome'"),
        (lambda d: d["menus"]["main"]["start_by_language"].update(de="minor"),
         "menus.main.start_by_language.de: unknown language 'de'"),
        (lambda d: d["menus"]["main"]["start_by_language"].update(ja="japan"),
         "menus.main.start_by_language.ja: unknown node 'japan'"),
        (lambda d: d["menus"]["main"]["shortcuts"].update({"#": {"do": "menu", "node": "top"}}),
         "menus.main.shortcuts.#: unknown node 'top'"),
        (lambda d: d["menus"]["main"]["nodes"]["languages"]["digits"].update({7: {"do": "language", "code": "de"}}),
         "menus.main.nodes.languages.digits.7: unknown language 'de'"),
        (lambda d: d["menus"]["vip"]["nodes"]["root"]["digits"].update({8: {"do": "language", "code": "ja"}}),
         "menus.vip.nodes.root.digits.8: language 'ja' is not offered by line vip (numbers[1].languages)"),
        (lambda d: d["menus"]["vip"]["nodes"]["root"].update(after_retries={"do": "queue", "queue": "vip_zh"}),
         "menus.vip.nodes.root.after_retries: unknown queue 'vip_zh'"),
        (lambda d: d["menus"]["main"]["nodes"]["languages"]["prompt"].append("de/language_option"),
         "menus.main.nodes.languages.prompt[6]: unknown language 'de'"),
        (lambda d: d["numbers"][2].update(menu="platinium"), "numbers[2].menu: unknown menu 'platinium'"),
        (lambda d: d["numbers"][0]["language_queues"].update(ja="japan"),
         "numbers[0].language_queues.ja: unknown queue 'japan'"),
        (lambda d: d["numbers"][1].update(language_queues={"ru": "russian"}),
         "numbers[1].language_queues.ru: 'ru' is not among the line's languages"),
        (lambda d: d["numbers"][1].update(priority=7),
         "numbers[1].priority: 7 differs from tiers.vip.priority 8: declare it once"),
        (lambda d: d["tiers"]["vip"].update(queue="vips"), "tiers.vip.queue: unknown queue 'vips'"),
        (lambda d: d["lost_card"].update(priority=8),
         "lost_card.priority: 8 is not above tier vip's 8: lost card must be answered first"),
    ],
)  # fmt: skip
def test_each_bad_reference_is_reported_with_its_path(demo_data: dict[str, Any], edit: Edit, expected: str) -> None:
    assert expected in problems_after(demo_data, edit)


def test_lost_card_flow_without_a_lost_card_queue_is_reported(demo_data: dict[str, Any]) -> None:
    problems = problems_after(demo_data, lambda d: d.pop("lost_card"))
    needs = "the lost-card flow needs a top-level `lost_card: {queue: ..., priority: ...}`"
    assert f"menus.main.nodes.root.digits.3: {needs}" in problems
    assert f"menus.vip.nodes.root.digits.1: {needs}" in problems


def test_unknown_action_and_unknown_key_are_structure_errors(demo_data: dict[str, Any]) -> None:
    def edit(data: dict[str, Any]) -> None:
        data["menus"]["main"]["nodes"]["root"]["digits"][5] = {"do": "transfer", "queue": "vip"}
        data["menus"]["main"]["nodes"]["billing"]["retries"] = 3

    problems = problems_after(demo_data, edit)
    assert any(p.startswith("menus.main.nodes.root.digits.5: Input tag 'transfer'") for p in problems)
    assert "menus.main.nodes.billing.retries: unknown key" in problems


def test_the_plain_loader_leaves_what_a_caller_can_do_in_a_menu_to_the_menu_checks(
    demo_data: dict[str, Any],
) -> None:
    data = yaml.safe_load(yaml.safe_dump(demo_data, allow_unicode=True))
    data["menus"]["vip"]["nodes"]["root"]["digits"][2] = {"do": "menu", "node": "nowhere"}
    text = yaml.safe_dump(data, allow_unicode=True)

    assert parse_catalog(text).menus["vip"].nodes["root"].digits["2"] == GoToNode(do="menu", node="nowhere")
    with pytest.raises(CatalogError, match="unknown node 'nowhere'"):
        parse_checked_catalog(text)


def test_tier_and_lost_card_queues_are_the_loaders_own_references(demo_data: dict[str, Any]) -> None:
    data = yaml.safe_load(yaml.safe_dump(demo_data, allow_unicode=True))
    data["lost_card"]["queue"] = "lost"
    with pytest.raises(CatalogError) as info:
        parse_catalog(yaml.safe_dump(data, allow_unicode=True), "callcenter.yaml")
    assert [f"{issue.path}: {issue.reason}" for issue in info.value.issues] == ["lost_card.queue: unknown queue 'lost'"]


def test_a_digit_must_be_a_dtmf_key(demo_data: dict[str, Any]) -> None:
    problems = problems_after(demo_data, lambda d: d["menus"]["main"]["nodes"]["root"]["digits"].update({"A": "agent"}))
    assert any(p.startswith("menus.main.nodes.root.digits.A") for p in problems)


def test_catalog_with_menus_survives_the_seat_generators_round_trip(catalog: Catalog) -> None:
    data = catalog_with_seats(catalog, generate_seats(catalog, 50))
    again = parse_catalog(yaml.safe_dump(data, allow_unicode=True))
    assert again.menus == catalog.menus and again.tiers == catalog.tiers


# -- prompts --------------------------------------------------------------------------


def copy_prompts(tmp_path: Path) -> Path:
    """The shipped texts, prompts/asterisk/ included."""
    return Path(shutil.copytree(PROMPTS_DIR, tmp_path / "prompts"))


def drop_prompt(folder: Path, language: str, prompt_id: str) -> None:
    path = folder / f"{language}.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    del data[prompt_id]
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


def test_demo_prompts_cover_every_prompt_a_caller_can_reach(catalog: Catalog) -> None:
    assert missing_prompts(catalog, PROMPTS_DIR) == []


def test_a_menu_prompt_missing_in_an_offered_language_is_reported(catalog: Catalog, tmp_path: Path) -> None:
    folder = copy_prompts(tmp_path)
    drop_prompt(folder, "ko", "minor_menu")
    drop_prompt(folder, "en", "vip_menu")
    found = {(format_path(path), reason) for path, reason in missing_prompts(catalog, folder)}
    assert found == {
        ("menus.main.nodes.minor.prompt[0]", f"prompt 'minor_menu' missing from {folder / 'ko.yaml'}"),
        ("menus.vip.nodes.root.prompt[0]", f"prompt 'vip_menu' missing from {folder / 'en.yaml'}"),
    }


def test_a_prompt_the_caller_cannot_reach_in_that_language_is_not_required(catalog: Catalog, tmp_path: Path) -> None:
    folder = copy_prompts(tmp_path)
    drop_prompt(folder, "ja", "balance_is")  # ja callers get the short menu: no balance
    drop_prompt(folder, "zh", "minor_menu")  # Mandarin callers never hear the minor-language menu
    assert missing_prompts(catalog, folder) == []


def test_flow_prompts_and_number_fragments_are_required_where_the_flow_is_offered(
    catalog: Catalog, tmp_path: Path
) -> None:
    folder = copy_prompts(tmp_path)
    drop_prompt(folder, "en", "enter_pin")
    drop_prompt(folder, "en", "ord_31")
    found = {(format_path(path), reason) for path, reason in missing_prompts(catalog, folder)}
    both = f"prompts 'enter_pin', 'ord_31' missing from {folder / 'en.yaml'}"
    assert ("menus.main.nodes.billing.digits.1", both) in found
    assert ("menus.main.nodes.root.digits.2", f"prompt 'enter_pin' missing from {folder / 'en.yaml'}") in found


def test_an_unreadable_prompt_file_is_reported(catalog: Catalog, tmp_path: Path) -> None:
    folder = copy_prompts(tmp_path)
    (folder / "fr.yaml").unlink()
    (folder / "ru.yaml").write_text("welcome: [not, text]\n", encoding="utf-8")
    problems = {format_path(path): reason for path, reason in missing_prompts(catalog, folder)}
    assert "cannot read" in problems["languages[4]"]
    assert "non-empty string" in problems["languages[5]"]
