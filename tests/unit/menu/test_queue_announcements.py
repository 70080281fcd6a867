"""app_queue's position and wait announcements in the caller's language: which
Asterisk sounds each language needs (read from say.c and app_queue.c), their
texts in prompts/asterisk/<lang>.yaml, their build, and `ivr check`."""

from __future__ import annotations

import json
import re
import shutil
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from ivr.announcements import (
    CORE_SOUND_LANGUAGES,
    UnsupportedLanguage,
    caller_sounds,
    number_sounds,
    say_number_files,
)
from ivr.catalog.load import format_path
from ivr.catalog.model import Catalog, Language
from ivr.check import CheckFailed, check
from ivr.menu.checks import missing_prompts
from ivr.prompts import PromptFileError, build_prompts, load_sound_texts
from ivr.settings import Settings

from .conftest import CATALOG_FILE, PROMPTS_DIR

REPO = PROMPTS_DIR.parent
needs_tts = pytest.mark.skipif(
    not (shutil.which("espeak-ng") and shutil.which("sox")), reason="needs Debian's espeak-ng and sox"
)


def said(num: int, language: str, options: str | None = "n") -> str:
    return " ".join(name.removeprefix("digits/") for name in say_number_files(num, language, options))


def digits(*names: object) -> list[str]:
    return [f"digits/{name}" for name in names]


TENS = [20, 30, 40, 50, 60, 70, 80, 90]


# -- which files say.c asks for ---------------------------------------------------


def test_mandarin_numbers_follow_ast_say_number_full_zh() -> None:
    assert [said(n, "zh") for n in (0, 2, 10, 15, 20, 21)] == ["0", "2", "10", "10 5", "20", "20 1"]
    # digits/0 (零) fills a skipped tens digit; say.c's own 110 is 一百十.
    assert [said(n, "zh") for n in (100, 105, 110, 120, 305)] == [
        "1 hundred", "1 hundred 0 5", "1 hundred 10", "1 hundred 20", "3 hundred 0 5",
    ]  # fmt: skip
    assert number_sounds("zh") == digits(*range(10), 10, *TENS, "hundred")


def test_french_numbers_follow_ast_say_number_full_fr() -> None:
    assert [said(n, "fr") for n in (1, 20, 21, 22, 71, 75, 80, 81, 99)] == [
        "1", "20", "20 et 1", "20 2", "60 et 11", "60 15", "80", "80 1", "80 19",
    ]  # fmt: skip
    assert [said(n, "fr") for n in (100, 101, 200, 321)] == ["hundred", "hundred 1", "2 hundred", "3 hundred 20 et 1"]
    assert said(1, "fr", "f") == "1F"  # never asked by app_queue ("n")
    assert number_sounds("fr") == digits(*range(21), 30, 40, 50, 60, 80, "et", "hundred")


def test_russian_numbers_follow_ast_say_number_full_ru_with_app_queues_option_n() -> None:
    numbers = (1, 2, 3, 21, 22, 300, 999)
    assert [said(n, "ru") for n in numbers] == ["1n", "2n", "3", "20 1n", "20 2n", "300", "900 90 9"]
    assert said(1, "ru", None) == "1"
    # 1 and 2 also without an option: the "more than N" limit, SayNumber() in the dialplan.
    assert number_sounds("ru") == digits(0, 1, "1n", 2, "2n", *range(3, 20), *TENS, *range(100, 1000, 100))


def test_japanese_numbers_follow_ast_say_number_full_ja() -> None:
    assert [said(n, "ja") for n in (15, 42, 300, 999)] == ["15", "40 2", "3 hundred", "9 hundred 90 9"]
    assert number_sounds("ja") == digits(*range(20), *TENS, "hundred")


def test_korean_has_no_say_c_function_so_numbers_use_english_syntax() -> None:
    assert said(325, "ko") == said(325, "en") == "3 hundred 20 5"
    assert number_sounds("ko") == number_sounds("en") == digits(*range(20), *TENS, "hundred")


def test_a_language_with_a_say_c_function_not_followed_here_is_refused() -> None:
    with pytest.raises(UnsupportedLanguage, match="'de'"):
        number_sounds("de")
    with pytest.raises(ValueError):
        say_number_files(1000, "zh")


def test_a_waiting_caller_hears_app_queues_default_files_and_the_numbers() -> None:
    both = caller_sounds("fr", position_and_wait=True, periodic=True)
    assert both[:7] == [
        "queue-youarenext", "queue-thereare", "queue-callswaiting", "queue-thankyou",
        "queue-holdtime", "queue-minute", "queue-minutes",
    ]  # fmt: skip
    assert both[-1] == "queue-periodic-announce" and "digits/et" in both
    assert caller_sounds("fr", position_and_wait=False, periodic=True) == ["queue-periodic-announce"]


# -- the shipped texts ---------------------------------------------------------------


@pytest.mark.parametrize("language", ["zh", "ja", "ko", "fr", "ru"])
def test_each_language_has_exactly_the_sounds_a_waiting_caller_can_hear(language: str) -> None:
    texts = load_sound_texts(PROMPTS_DIR, language)
    assert sorted(texts) == sorted(caller_sounds(language, position_and_wait=True, periodic=True))


def test_english_is_spoken_by_the_images_core_sounds() -> None:
    assert "en" in CORE_SOUND_LANGUAGES
    assert load_sound_texts(PROMPTS_DIR, "en") == {}


def test_mandarin_sounds_have_no_latin_letters_and_japanese_sounds_no_kanji() -> None:
    assert [k for k, text in load_sound_texts(PROMPTS_DIR, "zh").items() if re.search(r"[A-Za-z0-9]", text)] == []
    assert [k for k, text in load_sound_texts(PROMPTS_DIR, "ja").items() if re.search(r"[\u4e00-\u9fff]", text)] == []


def test_a_sound_name_is_asterisks_name_never_a_prompt_id_or_a_path(tmp_path: Path) -> None:
    (tmp_path / "asterisk").mkdir()
    for bad in ("thereare", "digits/../x", "digits/a/b", "/etc/passwd", "queue_thereare"):
        (tmp_path / "asterisk" / "zh.yaml").write_text(f"{json.dumps(bad)}: 五\n", encoding="utf-8")
        with pytest.raises(PromptFileError, match="not a sound name"):
            load_sound_texts(tmp_path, "zh")


# -- the build -----------------------------------------------------------------------


@pytest.fixture
def texts(tmp_path: Path) -> Path:
    folder = tmp_path / "prompts"
    (folder / "asterisk").mkdir(parents=True)
    (folder / "zh.yaml").write_text("welcome: 欢迎致电。\n", encoding="utf-8")
    (folder / "en.yaml").write_text("welcome: Welcome.\n", encoding="utf-8")
    (folder / "asterisk" / "zh.yaml").write_text("queue-thereare: 您现在排在第\ndigits/5: 五\n", encoding="utf-8")
    return folder


ZH_EN = [Language(code="zh", name="Mandarin", voice="cmn-latn-pinyin"), Language(code="en", name="English", voice="en")]


@needs_tts
def test_sounds_are_built_beside_the_prompts_under_asterisks_names(texts: Path, tmp_path: Path) -> None:
    out = tmp_path / "sounds"
    report = build_prompts(texts, out, ZH_EN)
    assert sorted(report.built) == ["en/welcome", "zh/digits/5", "zh/queue-thereare", "zh/welcome"]
    for name in ("zh/digits/5", "zh/queue-thereare"):
        with wave.open(str(out / f"{name}.wav")) as recording:
            assert (recording.getframerate(), recording.getnchannels(), recording.getsampwidth()) == (8000, 1, 2)
            assert recording.getnframes() > 800
    assert sorted(p.name for p in (out / "zh").iterdir() if not p.name.startswith(".")) == [
        "digits", "queue-thereare.wav", "welcome.wav",
    ]  # fmt: skip


@needs_tts
def test_sounds_are_skipped_rebuilt_and_removed_like_prompts(texts: Path, tmp_path: Path) -> None:
    out = tmp_path / "sounds"
    build_prompts(texts, out, ZH_EN)
    assert build_prompts(texts, out, ZH_EN).skipped == 4
    (texts / "asterisk" / "zh.yaml").write_text("queue-thereare: 您目前排在第\n", encoding="utf-8")
    report = build_prompts(texts, out, ZH_EN)
    assert report.built == ["zh/queue-thereare"] and report.removed == ["zh/digits/5"]
    assert not (out / "zh" / "digits" / "5.wav").exists()
    assert not list(out.rglob("*.partial"))


def test_a_manifest_entry_that_is_a_path_is_never_deleted(texts: Path, tmp_path: Path) -> None:
    out = tmp_path / "sounds"
    victim = tmp_path / "victim.wav"
    victim.write_bytes(b"keep")
    (out / "zh").mkdir(parents=True)
    (out / "zh" / ".manifest.json").write_text(json.dumps({"../../victim": "x", "digits/../../../victim": "x"}))
    (texts / "asterisk" / "zh.yaml").unlink()
    (texts / "zh.yaml").write_text("{}\n", encoding="utf-8")
    (texts / "en.yaml").write_text("{}\n", encoding="utf-8")
    report = build_prompts(texts, out, ZH_EN)
    assert report.removed == [] and victim.read_bytes() == b"keep"


# -- ivr check -----------------------------------------------------------------------


def copy_prompts(tmp_path: Path) -> Path:
    return Path(shutil.copytree(PROMPTS_DIR, tmp_path / "prompts"))


def drop_sound(folder: Path, language: str, name: str) -> None:
    path = folder / "asterisk" / f"{language}.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    del data[name]
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


def announcement_problems(catalog: Catalog, folder: Path) -> dict[str, str]:
    return {format_path(path): reason for path, reason in missing_prompts(catalog, folder)}


def test_the_demo_catalog_has_every_announcement_in_every_offered_language(catalog: Catalog) -> None:
    assert missing_prompts(catalog, PROMPTS_DIR) == []


def test_a_missing_digit_or_announcement_is_reported_at_the_language(catalog: Catalog, tmp_path: Path) -> None:
    folder = copy_prompts(tmp_path)
    drop_sound(folder, "zh", "digits/5")
    drop_sound(folder, "fr", "digits/et")
    drop_sound(folder, "fr", "queue-minute")
    (folder / "asterisk" / "ru.yaml").unlink()
    problems = announcement_problems(catalog, folder)
    assert problems["languages[0]"].startswith(f"Asterisk sound 'digits/5' missing from {folder / 'asterisk/zh.yaml'}")
    assert "groups basic_zh, english, japanese and " in problems["languages[0]"]
    assert problems["languages[4]"].startswith("Asterisk sounds 'queue-minute', 'digits/et' missing from")
    assert problems["languages[5]"].startswith("Asterisk sounds 'queue-youarenext', ")
    assert "line main offers 'ru'" in problems["languages[5]"]
    assert set(problems) == {"languages[0]", "languages[4]", "languages[5]"}


def test_announcements_are_not_required_when_no_group_announces(
    catalog_with: Callable[[Callable[[dict[str, Any]], None]], Catalog], tmp_path: Path
) -> None:
    def quiet(data: dict[str, Any]) -> None:
        for queue in data["queues"]:
            queue.pop("announce", None)

    folder = copy_prompts(tmp_path)
    shutil.rmtree(folder / "asterisk")
    assert missing_prompts(catalog_with(quiet), folder) == []


def test_periodic_messages_alone_need_only_the_periodic_file(
    catalog_with: Callable[[Callable[[dict[str, Any]], None]], Catalog], tmp_path: Path
) -> None:
    def periodic_only(data: dict[str, Any]) -> None:
        for queue in data["queues"]:
            queue["announce"] = {"periodic": 60}

    folder = copy_prompts(tmp_path)
    (folder / "asterisk" / "ko.yaml").write_text("digits/5: 오\n", encoding="utf-8")
    problems = announcement_problems(catalog_with(periodic_only), folder)
    assert problems["languages[3]"].startswith("Asterisk sound 'queue-periodic-announce' missing from")


def test_a_line_language_whose_numbers_say_c_reads_otherwise_is_reported(
    catalog_with: Callable[[Callable[[dict[str, Any]], None]], Catalog], tmp_path: Path
) -> None:
    def german(data: dict[str, Any]) -> None:
        data["languages"].append({"code": "de", "name": "Deutsch", "voice": "de"})
        data["numbers"][0]["languages"].append("de")

    folder = copy_prompts(tmp_path)
    (folder / "de.yaml").write_text((folder / "en.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    problems = announcement_problems(catalog_with(german), folder)
    assert "say.c reads numbers in 'de'" in problems["languages[6]"]


def test_ivr_check_fails_when_a_digit_file_is_missing(tmp_path: Path) -> None:
    folder = copy_prompts(tmp_path)
    drop_sound(folder, "ja", "digits/7")
    settings = Settings(catalog=CATALOG_FILE, templates=REPO / "dialplans", prompts=folder, run_dir=tmp_path / "run")
    with pytest.raises(CheckFailed, match=r"languages\[2\]: Asterisk sound 'digits/7' missing from"):
        check(settings)
