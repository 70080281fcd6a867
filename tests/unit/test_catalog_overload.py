"""Overload: `center.max_concurrent_calls` caps the calls the center holds at
once; the dialplan turns the next caller away before the answer (SIP 503, or
the busy prompt as early media then 503), so calls in progress keep their
capacity. A bad limit is refused with its path and reason."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from ivr.catalog.errors import CatalogError
from ivr.catalog.load import parse_catalog
from ivr.check import check
from ivr.menu.checks import missing_prompts
from ivr.settings import Settings

REPO = Path(__file__).resolve().parents[2]
DEMO = (REPO / "callcenter.yaml").read_text(encoding="utf-8")


def with_center(**values: Any) -> str:
    data = yaml.safe_load(DEMO)
    for key, value in values.items():
        if value is None:
            data["center"].pop(key, None)
        else:
            data["center"][key] = value
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


def refusal(text: str) -> str:
    with pytest.raises(CatalogError) as info:
        parse_catalog(text, "callcenter.yaml")
    return str(info.value)


def line_section(dialplan: str, line: str) -> str:
    return dialplan.split(f"[line-{line}]")[1].split("\n[")[0]


def test_demo_catalog_limits_the_center_and_rejects_the_next_call() -> None:
    center = parse_catalog(DEMO).center

    assert center.max_concurrent_calls is not None and center.max_concurrent_calls >= 1
    assert center.when_full == "reject"


def test_no_limit_is_the_default() -> None:
    center = parse_catalog(with_center(max_concurrent_calls=None, when_full=None)).center

    assert center.max_concurrent_calls is None and center.when_full == "reject"


@pytest.mark.parametrize("value", [0, -5, 100_001, "many", 2.5])
def test_a_limit_that_is_not_a_sensible_count_is_refused_with_its_path(value: object) -> None:
    error = refusal(with_center(max_concurrent_calls=value))

    assert "center.max_concurrent_calls" in error


def test_an_unknown_answer_when_full_is_refused_naming_the_choices() -> None:
    error = refusal(with_center(when_full="hangup"))

    assert "center.when_full" in error and "reject" in error and "busy_prompt" in error


def write_catalog(settings: Settings, **values: Any) -> Settings:
    settings.catalog.write_text(with_center(**values), encoding="utf-8")
    return settings


def test_every_line_counts_its_call_and_turns_the_one_over_the_limit_away_before_answering(
    settings: Settings,
) -> None:
    dialplan = check(write_catalog(settings, max_concurrent_calls=3, when_full="reject"))["extensions.conf"]

    for line in ("main", "vip", "platinum", "group"):
        section = line_section(dialplan, line)
        admission, _, rest = section.partition("Answer()")
        assert "Set(GROUP(ivr)=calls)" in admission
        assert "GotoIf($[${GROUP_COUNT(calls@ivr)} > 3]?full)" in admission
        full = rest.split("(full),")[1]
        assert full.startswith(f"UserEvent(IvrCenterFull,Line: {line},Calls: ${{GROUP_COUNT(calls@ivr)}},Limit: 3)")
        assert "Hangup(34)" in full and "Playback" not in full


def test_busy_prompt_plays_as_early_media_in_the_line_language_then_rejects(settings: Settings) -> None:
    dialplan = check(write_catalog(settings, max_concurrent_calls=3, when_full="busy_prompt"))["extensions.conf"]
    full = line_section(dialplan, "main").split("(full),")[1]

    assert full.index("Progress()") < full.index("Playback(${IVR_SOUNDS}/zh/lines_busy,noanswer)")
    assert full.index("noanswer)") < full.index("Hangup(34)")


def test_without_a_limit_no_call_is_counted_or_turned_away(settings: Settings) -> None:
    dialplan = check(write_catalog(settings, max_concurrent_calls=None))["extensions.conf"]

    assert "GROUP" not in dialplan and "IvrCenterFull" not in dialplan


def test_the_busy_prompt_is_required_in_each_line_language_only_when_it_is_played(tmp_path: Path) -> None:
    shutil.copytree(REPO / "prompts", tmp_path / "prompts")
    mandarin = tmp_path / "prompts" / "zh.yaml"  # every demo line starts in Mandarin
    mandarin.write_text("".join(ln for ln in mandarin.read_text().splitlines(True) if not ln.startswith("lines_busy:")))
    rejecting = parse_catalog(with_center(max_concurrent_calls=3, when_full="reject"))
    prompting = parse_catalog(with_center(max_concurrent_calls=3, when_full="busy_prompt"))

    assert missing_prompts(rejecting, tmp_path / "prompts") == []
    problems = missing_prompts(prompting, tmp_path / "prompts")
    assert [(".".join(map(str, where)), "lines_busy" in reason and "zh" in reason) for where, reason in problems] == [
        ("center.when_full", True)
    ]


def test_the_busy_prompt_exists_in_every_catalog_language() -> None:
    from ivr.prompts import load_prompt_texts

    for language in parse_catalog(DEMO).languages:
        assert load_prompt_texts(REPO / "prompts", language.code).get("lines_busy"), language.code
