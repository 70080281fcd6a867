"""Prompt texts (`prompts/<lang>.yaml`, prompt id -> text) and their recordings.

Asterisk's own sounds in our languages (app_queue's position and wait
announcements, say.c's number words: `ivr.announcements`) are texts too, in
`prompts/asterisk/<lang>.yaml` under the name Asterisk plays (`queue-thereare`,
`digits/5`). They are kept apart because their names follow Asterisk, not our
prompt ids: a sound name always has a '-' or a '/', a prompt id never does, so
the two never collide in `out_dir/<lang>/`. English has no such file: the
image's core sounds speak it.

`build_prompts` speaks each text with espeak-ng (the voice is the catalog
language's `voice`) and converts it with sox to what Asterisk plays: 8 kHz,
mono, 16-bit WAV at `out_dir/<lang>/<prompt id>.wav` (sounds at
`out_dir/<lang>/<sound name>.wav`, e.g. `zh/digits/5.wav`). A manifest per language
(`.manifest.json`: id -> hash of voice, speed and text) lets a rebuild skip
every prompt whose text did not change and remove recordings whose id left the
catalog. Files are written to a temporary name and renamed, so Asterisk never
plays half a file.

Number fragments (`num_*`, `unit_*`, `cur_*`, `date_*`, `month_*`, `ord_*`)
are complete in zh and en only: callers in other languages hear numbers in
English (`ivr.menu.saynumber.number_language`), so their catalogs hold just
the menu and flow prompts. `ivr.menu.checks.missing_prompts` enforces both.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ivr.catalog.model import Language

PROMPT_ID = re.compile(r"^[a-z][a-z0-9_]{0,47}$")
# "queue-thereare" or "digits/5", "digits/1n": one optional folder, no dots.
SOUND_NAME = re.compile(r"^(?:[a-z][a-z0-9]*(?:-[a-z0-9]+)+|[a-z][a-z0-9-]*/[A-Za-z0-9][A-Za-z0-9-]{0,47})$")
SOUNDS_DIR = "asterisk"  # prompts/asterisk/<lang>.yaml
MANIFEST = ".manifest.json"
DEFAULT_SPEED = 150  # words per minute; espeak-ng's 175 is brisk for a phone line


class PromptFileError(Exception):
    """A prompt text catalog is missing, not YAML, or has bad ids or texts."""


class PromptBuildError(Exception):
    """espeak-ng or sox failed for a prompt."""


@dataclass
class BuildReport:
    built: list[str] = field(default_factory=list)  # "zh/main_menu", ...
    skipped: int = 0
    removed: list[str] = field(default_factory=list)


def _load_texts(path: Path, name: re.Pattern[str], what: str) -> dict[str, str]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise PromptFileError(f"{path}: cannot read: {exc}") from exc
    except yaml.YAMLError as exc:
        raise PromptFileError(f"{path}: invalid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise PromptFileError(f"{path}: must map {what}s to texts")
    texts: dict[str, str] = {}
    for key, text in data.items():
        if not isinstance(key, str) or not name.match(key):
            rule = "a-z, 0-9, _" if name is PROMPT_ID else "Asterisk's name, e.g. queue-thereare or digits/5"
            raise PromptFileError(f"{path}: {key!r} is not a {what} ({rule})")
        if isinstance(text, bool) or not isinstance(text, str | int) or not str(text).strip():
            raise PromptFileError(f"{path}: {key}: the text must be a non-empty string")
        texts[key] = str(text).strip()
    return texts


def load_prompt_texts(prompts_dir: str | Path, language: str) -> dict[str, str]:
    return _load_texts(Path(prompts_dir) / f"{language}.yaml", PROMPT_ID, "prompt id")


def sound_texts_path(prompts_dir: str | Path, language: str) -> Path:
    return Path(prompts_dir) / SOUNDS_DIR / f"{language}.yaml"


def load_sound_texts(prompts_dir: str | Path, language: str) -> dict[str, str]:
    """Asterisk sound name -> text for `language`; empty when the language has no
    file (English: the image's core sounds)."""
    path = sound_texts_path(prompts_dir, language)
    if not path.exists():
        return {}
    return _load_texts(path, SOUND_NAME, "sound name")


RECIPE = "trim-v2"  # part of each file's fingerprint: a new recipe rebuilds every prompt


def _fingerprint(voice: str, speed: int, text: str) -> str:
    return hashlib.sha256(f"{RECIPE}\0{voice}\0{speed}\0{text}".encode()).hexdigest()


def _speak(espeak: str, sox: str, voice: str, speed: int, text: str, target: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="ivr-prompt-") as tmp:
        raw, converted = Path(tmp) / "raw.wav", Path(tmp) / "out.wav"
        # The text goes on stdin: a text starting with "-" must not read as an option.
        steps = (
            ([espeak, "-v", voice, "-s", str(speed), "-w", str(raw), "--stdin"], text),
            # espeak pads every utterance with silence: trimmed at both ends (keeping
            # 60 ms), amounts read as ~30 fragments stay short enough to listen to.
            ([sox, str(raw), "-r", "8000", "-c", "1", "-b", "16", str(converted),
              "silence", "1", "0.02", "0.5%", "reverse", "silence", "1", "0.02", "0.5%", "reverse",
              "pad", "0", "0.06"], None),
        )  # fmt: skip
        for command, stdin in steps:
            result = subprocess.run(command, input=stdin, capture_output=True, text=True, check=False)
            if result.returncode != 0:
                raise PromptBuildError(f"{target}: {command[0]} failed: {result.stderr.strip()}")
        # Copy beside the target, then rename: atomic on the target's filesystem.
        partial = target.with_name(f".{target.name}.partial")
        partial.write_bytes(converted.read_bytes())
        os.replace(partial, target)


def build_prompts(
    prompts_dir: str | Path,
    out_dir: str | Path,
    languages: Sequence[Language],
    *,
    espeak: str = "espeak-ng",
    sox: str = "sox",
    speed: int = DEFAULT_SPEED,
    workers: int | None = None,
) -> BuildReport:
    """Write `out_dir/<lang>/<id>.wav` for every prompt text and
    `out_dir/<lang>/<sound name>.wav` for every Asterisk sound text (`digits/5`
    in a `digits/` folder); unchanged texts are skipped."""
    report = BuildReport()
    out_dir = Path(out_dir)
    jobs: list[tuple[str, str, str, Path]] = []
    manifests: dict[str, tuple[Path, dict[str, str]]] = {}
    for language in languages:
        texts = load_prompt_texts(prompts_dir, language.code) | load_sound_texts(prompts_dir, language.code)
        folder = out_dir / language.code
        folder.mkdir(parents=True, exist_ok=True)
        manifest_path = folder / MANIFEST
        try:
            old: dict[str, str] = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            old = {}
        new: dict[str, str] = {}
        for prompt_id, text in texts.items():
            digest = _fingerprint(language.voice, speed, text)
            new[prompt_id] = digest
            target = folder / f"{prompt_id}.wav"
            target.parent.mkdir(exist_ok=True)
            if old.get(prompt_id) == digest and target.is_file():
                report.skipped += 1
            else:
                jobs.append((language.voice, text, f"{language.code}/{prompt_id}", target))
        for prompt_id in sorted(set(old) - set(new)):
            # A manifest key is only ever a name written by this function: never a path.
            if PROMPT_ID.match(prompt_id) or SOUND_NAME.match(prompt_id):
                (folder / f"{prompt_id}.wav").unlink(missing_ok=True)
                report.removed.append(f"{language.code}/{prompt_id}")
        manifests[language.code] = (manifest_path, new)

    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 2) as pool:
        futures = [
            (name, pool.submit(_speak, espeak, sox, voice, speed, text, target)) for voice, text, name, target in jobs
        ]
        for name, future in futures:
            future.result()
            report.built.append(name)
    # Manifests last: an interrupted build rebuilds what it had not recorded.
    for manifest_path, entries in manifests.values():
        manifest_path.write_text(json.dumps(entries, indent=1, sort_keys=True), encoding="utf-8")
    return report
