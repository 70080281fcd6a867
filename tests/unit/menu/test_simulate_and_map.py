"""`ivr simulate` and the menu map: the same walker, printed and drawn."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from ivr.catalog.model import Catalog
from ivr.directory.demo import DEMO_CALLER, DEMO_CARD_LAST4, DEMO_INACTIVE_CARD, DEMO_PIN, generate_demo_directory
from ivr.directory.store import SqliteDirectory
from ivr.menu.mapview import menu_map_html
from ivr.menu.simulate import simulate
from ivr.prompts import load_prompt_texts

from .conftest import PROMPTS_DIR


@pytest.fixture
def directory(tmp_path: Path) -> Iterator[SqliteDirectory]:
    store = generate_demo_directory(tmp_path / "customers.sqlite3", extra=0, scrypt_n=2**10)
    yield store
    store.close()


def test_simulated_balance_call_shows_prompts_in_order_and_the_handoff(
    catalog: Catalog, directory: SqliteDirectory
) -> None:
    lines = simulate(catalog, directory, "95588", DEMO_CALLER, ["1", "1", DEMO_CARD_LAST4, DEMO_PIN, "0"])
    assert lines[0] == "call 95588 (main) from 13900000004: customer D0004 tier standard language zh"
    assert lines[2] == "collect 1 digit (5000 ms): zh/welcome en/language_offer zh/main_menu"
    assert "  directory: PIN verified" in lines
    assert any(line.startswith("play zh/balance_is zh/num_1 zh/unit_1000") for line in lines)
    assert lines[-1] == (
        "handoff queue=basic_zh priority=0 language=zh tier=standard verified=yes reason=agent_requested"
        " path=main>root>1>billing>1>balance>verified>0"
    )


def test_simulation_never_shows_card_digits_or_the_pin(catalog: Catalog, directory: SqliteDirectory) -> None:
    text = "\n".join(simulate(catalog, directory, "95588", DEMO_CALLER, ["1", "1", DEMO_CARD_LAST4, DEMO_PIN]))
    assert DEMO_PIN not in text and DEMO_CARD_LAST4 not in text
    assert "  caller presses ******" in text


def test_simulated_vip_caller_on_main_line_reaches_the_vip_queue(catalog: Catalog, directory: SqliteDirectory) -> None:
    lines = simulate(catalog, directory, "95588", "+8613900000001", ["0"])
    assert lines[-1].startswith("handoff queue=vip priority=8 language=zh tier=vip")


def test_a_caller_out_of_keys_stays_silent_until_an_agent_takes_over(
    catalog: Catalog, directory: SqliteDirectory
) -> None:
    lines = simulate(catalog, directory, "4000095588", "", [])
    assert "  caller presses (silence)" in lines
    assert lines[-1].startswith("handoff queue=platinum priority=6") and "reason=retries_exhausted" in lines[-1]


def test_simulated_activation_is_a_dry_run(catalog: Catalog, directory: SqliteDirectory) -> None:
    lines = simulate(catalog, directory, "95588", DEMO_CALLER, ["2", DEMO_INACTIVE_CARD, DEMO_PIN, "0"])
    assert "  directory (dry run): activated" in lines
    card = directory.card_status("D0004", DEMO_INACTIVE_CARD)
    assert card is not None and not card.active


def test_simulate_accepts_the_line_id_or_the_dialled_number(catalog: Catalog, directory: SqliteDirectory) -> None:
    assert simulate(catalog, directory, "vip", "", ["3"]) == simulate(catalog, directory, "4006695588", "", ["3"])


def test_menu_map_shows_every_line_and_node_without_scripts(catalog: Catalog) -> None:
    texts = {language.code: load_prompt_texts(PROMPTS_DIR, language.code) for language in catalog.languages}
    page = menu_map_html(catalog, texts)
    assert page.startswith("<!doctype html>") and "<script" not in page.lower()
    for line in catalog.numbers:
        assert line.number in page
    for menu in catalog.menus.values():
        for node_id in menu.nodes:
            assert f"<code>{node_id}</code>" in page
    assert "lost card → queue lost_card, priority 10, no verification" in page
    assert "挂失及盗刷请按3" in page  # zh prompt text shown beside its id
    assert "にほんご　サービスへ　ようこそ" in page  # the minor-language node in its own language


def test_menu_map_escapes_catalog_text(catalog: Catalog) -> None:
    page = menu_map_html(catalog, {"zh": {"main_menu": "<b>press 1</b> & more"}})
    assert "&lt;b&gt;press 1&lt;/b&gt; &amp; more" in page
    assert len(re.findall(r"<section>", page)) == len(catalog.numbers)
