"""Prompt recordings: espeak-ng + sox to 8 kHz mono 16-bit WAV, rebuilt only when a text changes."""

from __future__ import annotations

import re
import shutil
import wave
from pathlib import Path

import pytest

from ivr.catalog.model import Language
from ivr.prompts import PromptFileError, build_prompts, load_prompt_texts

from .conftest import PROMPTS_DIR

needs_tts = pytest.mark.skipif(
    not (shutil.which("espeak-ng") and shutil.which("sox")), reason="needs Debian's espeak-ng and sox"
)
LANGUAGES = [Language(code="zh", name="Mandarin", voice="cmn"), Language(code="en", name="English", voice="en")]


@pytest.fixture
def texts(tmp_path: Path) -> Path:
    folder = tmp_path / "prompts"
    folder.mkdir()
    (folder / "zh.yaml").write_text("welcome: 欢迎致电。\nnum_1: 一\n", encoding="utf-8")
    (folder / "en.yaml").write_text("welcome: Welcome.\nnum_1: '-one'\n", encoding="utf-8")
    return folder


@needs_tts
def test_each_prompt_becomes_an_8khz_mono_16bit_wav(texts: Path, tmp_path: Path) -> None:
    out = tmp_path / "sounds"
    report = build_prompts(texts, out, LANGUAGES)
    assert sorted(report.built) == ["en/num_1", "en/welcome", "zh/num_1", "zh/welcome"]
    for name in report.built:
        with wave.open(str(out / f"{name}.wav")) as recording:
            assert (recording.getframerate(), recording.getnchannels(), recording.getsampwidth()) == (8000, 1, 2)
            assert recording.getnframes() > 800  # more than 0.1 s of speech


@needs_tts
def test_a_rebuild_only_speaks_the_texts_that_changed(texts: Path, tmp_path: Path) -> None:
    out = tmp_path / "sounds"
    build_prompts(texts, out, LANGUAGES)
    again = build_prompts(texts, out, LANGUAGES)
    assert again.built == [] and again.skipped == 4
    (texts / "en.yaml").write_text("welcome: Welcome to the bank.\nnum_1: '-one'\n", encoding="utf-8")
    changed = build_prompts(texts, out, LANGUAGES)
    assert changed.built == ["en/welcome"] and changed.skipped == 3


@needs_tts
def test_a_deleted_recording_is_rebuilt_and_a_removed_text_loses_its_recording(texts: Path, tmp_path: Path) -> None:
    out = tmp_path / "sounds"
    build_prompts(texts, out, LANGUAGES)
    (out / "zh" / "welcome.wav").unlink()
    (texts / "en.yaml").write_text("welcome: Welcome.\n", encoding="utf-8")
    report = build_prompts(texts, out, LANGUAGES)
    assert report.built == ["zh/welcome"] and report.removed == ["en/num_1"]
    assert not (out / "en" / "num_1.wav").exists()


def test_a_bad_prompt_id_is_refused(texts: Path) -> None:
    (texts / "en.yaml").write_text("Welcome Message: Hello\n", encoding="utf-8")
    with pytest.raises(PromptFileError, match="not a prompt id"):
        load_prompt_texts(texts, "en")


def test_mandarin_texts_have_no_latin_letters_for_the_pinyin_voice_to_misread() -> None:
    texts = load_prompt_texts(PROMPTS_DIR, "zh")
    assert [key for key, text in texts.items() if re.search(r"[A-Za-z]", text)] == []


def test_japanese_texts_are_kana_because_espeak_reads_no_kanji() -> None:
    texts = load_prompt_texts(PROMPTS_DIR, "ja")
    assert [key for key, text in texts.items() if re.search(r"[\u4e00-\u9fff]", text)] == []
