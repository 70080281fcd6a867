"""Routing beyond the first choice is checked when the catalog loads: an
overflow or empty fallback names a real other group and never loops back;
widening steps come later and let in higher penalties."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from ivr.catalog.errors import CatalogError
from ivr.catalog.load import parse_catalog

REPO = Path(__file__).resolve().parents[3]
DEMO = (REPO / "callcenter.yaml").read_text(encoding="utf-8")


def errors_of(text: str) -> str:
    with pytest.raises(CatalogError) as info:
        parse_catalog(text, "callcenter.yaml")
    return str(info.value)


def test_demo_catalog_widens_basic_service_to_outbound_agents_after_20_seconds() -> None:
    basic = parse_catalog(DEMO).queue("basic_zh")

    assert basic.max_penalty == 3
    assert [(step.after, step.max_penalty) for step in basic.widen] == [(20, 5)]


def test_demo_catalog_sends_minor_languages_to_english_after_30_seconds_or_when_empty() -> None:
    catalog = parse_catalog(DEMO)
    for queue_id in ("japanese", "korean", "french", "russian"):
        queue = catalog.queue(queue_id)
        assert queue.overflow is not None and (queue.overflow.after, queue.overflow.queue) == (30, "english")
        assert queue.when_empty == "english" and "unavailable" in queue.join_empty


def edited(edit: Callable[[dict[str, Any]], object]) -> str:
    data = yaml.safe_load(DEMO)
    edit(data)
    return yaml.safe_dump(data, allow_unicode=True)


def queue(data: dict[str, Any], queue_id: str) -> dict[str, Any]:
    found: dict[str, Any] = next(q for q in data["queues"] if q["id"] == queue_id)
    return found


def test_overflow_to_an_unknown_group_is_reported() -> None:
    text = edited(lambda d: queue(d, "japanese")["overflow"].update(queue="englsh"))

    assert "queues[2].overflow.queue: unknown queue 'englsh'" in errors_of(text)


def test_fallbacks_that_lead_back_to_the_group_are_reported() -> None:
    # vip -> basic_zh when empty; basic_zh -> vip would loop forever.
    text = edited(lambda d: queue(d, "basic_zh").update(when_empty="vip", join_empty=["unavailable"]))

    errors = errors_of(text)
    assert "from 'basic_zh' leads back to it" in errors and "from 'vip' leads back to it" in errors


def test_when_empty_without_an_empty_condition_is_reported() -> None:
    def edit(data: dict[str, Any]) -> None:
        del queue(data, "vip")["join_empty"], queue(data, "vip")["leave_when_empty"]

    assert "when_empty: needs join_empty or leave_when_empty" in errors_of(edited(edit))


def test_widening_steps_must_grow_in_time_and_penalty() -> None:
    text = edited(lambda d: queue(d, "basic_zh")["widen"].append({"after": 10, "max_penalty": 4}))

    assert "queues[0].widen[1]: each step must come later and let in higher penalties" in errors_of(text)


def test_widening_needs_a_starting_max_penalty() -> None:
    text = edited(lambda d: queue(d, "basic_zh").pop("max_penalty"))

    assert "queues[0].widen: needs max_penalty" in errors_of(text)


def test_a_line_naming_an_unknown_calendar_or_zone_is_reported() -> None:
    text = edited(lambda d: (d["numbers"][3].update(hours="nosuch"), d["center"].update(timezone="Asia/Atlantis")))

    errors = errors_of(text)
    assert "hours: unknown calendar 'nosuch'" in errors and "unknown time zone 'Asia/Atlantis'" in errors


def test_prompts_of_the_survey_hours_and_no_agent_branch_are_required_in_every_language_of_the_line(
    tmp_path: Path,
) -> None:
    import shutil

    from ivr.menu.checks import missing_prompts

    shutil.copytree(REPO / "prompts", tmp_path / "prompts")
    catalog = parse_catalog(DEMO)
    assert missing_prompts(catalog, tmp_path / "prompts") == []
    for language, prompt in (("fr", "survey_ask"), ("en", "closed_agents"), ("ja", "no_agent")):
        path = tmp_path / "prompts" / f"{language}.yaml"
        path.write_text("".join(ln for ln in path.read_text().splitlines(True) if not ln.startswith(f"{prompt}:")))

    reasons = {(".".join(map(str, where)), reason.split(" missing")[0]) for where, reason in missing_prompts(
        catalog, tmp_path / "prompts")}  # fmt: skip
    assert reasons == {
        ("numbers.0.survey", "prompt 'survey_ask'"),  # main offers French
        ("numbers.3.hours", "prompt 'closed_agents'"),  # the group line keeps office hours
        ("numbers.0", "prompt 'no_agent'"),
    }
