"""The catalog: every fact once, every problem reported with file, path, line and reason."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ivr.catalog.errors import CatalogError
from ivr.catalog.generate import catalog_with_seats, generate_seats
from ivr.catalog.load import load_catalog, parse_catalog

REPO = Path(__file__).resolve().parents[2]
DEMO = (REPO / "callcenter.yaml").read_text(encoding="utf-8")


def errors_of(text: str) -> list[str]:
    with pytest.raises(CatalogError) as info:
        parse_catalog(text, "callcenter.yaml")
    return str(info.value).splitlines()


def test_demo_catalog_declares_the_four_service_numbers_and_enough_seats() -> None:
    catalog = parse_catalog(DEMO)
    assert [n.number for n in catalog.numbers] == ["95588", "4006695588", "4000095588", "4008795588"]
    assert len(catalog.seats) >= 24
    assert {q.id for q in catalog.queues} >= {"basic_zh", "english", "vip", "platinum", "group", "lost_card"}


def test_unknown_fallback_queue_is_reported_with_path_line_and_reason() -> None:
    text = DEMO.replace("fallback_queue: vip\n", "fallback_queue: vipp\n")
    line = text.splitlines().index("    fallback_queue: vipp") + 1

    assert errors_of(text) == [f"callcenter.yaml:{line}: numbers[1].fallback_queue: unknown queue 'vipp'"]


def test_unknown_key_is_an_error_not_ignored() -> None:
    text = DEMO.replace("  timezone: Asia/Shanghai\n", "  timezone: Asia/Shanghai\n  timezoen: UTC\n")

    line = text.splitlines().index("  timezoen: UTC") + 1

    assert errors_of(text) == [f"callcenter.yaml:{line}: center.timezoen: unknown key"]


def test_every_problem_is_reported_at_once() -> None:
    text = DEMO.replace("fallback_queue: vip\n", "fallback_queue: nope\n").replace(
        'skills: {group: 0, vip: 3}', 'skills: {grop: 0}', 1
    )
    errors = errors_of(text)

    assert any("numbers[1].fallback_queue: unknown queue 'nope'" in e for e in errors)
    assert any(".skills.grop: unknown queue 'grop'" in e for e in errors)


def test_a_seat_in_no_group_is_an_error() -> None:
    text = DEMO.replace('skills: {care: 0, basic_zh: 5}}', "skills: {}}", 1)

    assert any("is in no group" in e for e in errors_of(text))


def test_duplicate_seat_ids_are_reported() -> None:
    text = DEMO.replace('id: "1002"', 'id: "1001"')

    assert any("seats[1]: duplicate '1001'" in e for e in errors_of(text))


def test_invalid_yaml_reports_its_line() -> None:
    errors = errors_of("center:\n  name: [unclosed\n")

    assert errors[0].startswith("callcenter.yaml:")
    assert "invalid YAML" in errors[0]


def test_wrong_type_names_the_value() -> None:
    text = DEMO.replace("    ring_timeout: 15\n", "    ring_timeout: soon\n", 1)

    assert any("queues[0].ring_timeout" in e and "'soon'" in e for e in errors_of(text))


def test_unreadable_file_is_a_catalog_error(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="cannot read"):
        load_catalog(tmp_path / "missing.yaml")


def test_generator_writes_the_case_study_1795_seats_as_a_valid_catalog() -> None:
    catalog = parse_catalog(DEMO)
    seats = generate_seats(catalog, 1795)
    big = parse_catalog(yaml.safe_dump(catalog_with_seats(catalog, seats), allow_unicode=True))

    assert len(big.seats) == 1795
    assert len({s.id for s in big.seats}) == 1795
    assert all(big.members(q.id) for q in big.queues)
