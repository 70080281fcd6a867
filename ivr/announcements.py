"""The Asterisk sound files a caller waiting in a queue hears, per language.

app_queue speaks to a waiting caller with its own files and say.c's numbers,
looked up as `<astdatadir>/sounds/<CHANNEL(language)>/<name>` (main/file.c,
`fileexists_test`), falling back to no language and then to `en`. Our files are
built by `ivr prompts build` from `prompts/asterisk/<lang>.yaml`; English uses
the image's asterisk-core-sounds-en-gsm, which has every file listed here.

What app_queue plays (apps/app_queue.c, Asterisk 22, default sound names set
in `init_queue`):
- `say_position`, when `announce-frequency` is set: `queue-youarenext` to the
  caller at the head, otherwise `queue-thereare`, the position through
  `ast_say_number(..., "n")`, `queue-callswaiting`; with `announce-holdtime`
  and a rounded wait of a minute or more, `queue-holdtime`, the minutes through
  `ast_say_number(..., "n")` and `queue-minute` (exactly 1) or `queue-minutes`;
  then `queue-thankyou`.
- `say_periodic_announcement`: `queue-periodic-announce`.
Not played with our queues.conf, so not built: `queue-seconds` (only with
`announce-round-seconds`), `queue-quantity1`/`queue-quantity2` (only with
`announce-position = more`), `queue-reporthold` (to the agent, with
`reportholdtime`).

The number files are what say.c's number function for the language asks for
(`say_number_full` dispatches on the language's first two letters), for 0..999
(positions and minutes), with option "n" and without (the "more than N" limit,
the dialplan's SayNumber): only Russian tells them apart (digits/1n, digits/1).
The functions below follow say.c step by step so that the file list is
derived, not typed: a new say.c reading is a new function here.
"""

from __future__ import annotations

import re
from collections.abc import Callable

POSITION_SOUNDS = ("queue-youarenext", "queue-thereare", "queue-callswaiting", "queue-thankyou")
HOLDTIME_SOUNDS = ("queue-holdtime", "queue-minute", "queue-minutes")
PERIODIC_SOUND = "queue-periodic-announce"
# The options app_queue passes to ast_say_number: "n" for positions and
# minutes, none for the "more than N callers" limit (announce-position = more).
QUEUE_SAY_OPTIONS = "n"
SAY_OPTIONS: tuple[str | None, ...] = (QUEUE_SAY_OPTIONS, None)
LARGEST_NUMBER = 999  # positions and minutes a caller can realistically hear
# Languages whose files come with the Asterisk image (asterisk-core-sounds-en-gsm).
CORE_SOUND_LANGUAGES = frozenset({"en"})


class UnsupportedLanguage(Exception):
    """say.c reads numbers in this language with a function not followed here."""


def _english(num: int, options: str | None) -> list[str]:
    """say.c `get_number_str_en` (via `ast_say_number_full_en`), 0..999."""
    if num == 0:
        return ["digits/0"]  # ast_get_digit_str("0")
    files: list[str] = []
    if num >= 100:
        files += [f"digits/{num // 100}", "digits/hundred"]
        num %= 100
    if num >= 20:
        files.append(f"digits/{num // 10 * 10}")
        num %= 10
    if num:
        files.append(f"digits/{num}")
    return files


def _french(num: int, options: str | None) -> list[str]:
    """say.c `ast_say_number_full_fr`, 0..999: `digits/et` in 21, 31, ... 71,
    `digits/60` + 10..19 for 70..79, `digits/80` + 1..19 for 80..99, a bare
    `digits/hundred` for 100..199; `digits/1F` only with option "f"."""
    if num == 0:
        return ["digits/0"]  # ast_say_digits_full
    files: list[str] = []
    while num:
        if num == 1:
            files.append("digits/1F" if options and options.lower().startswith("f") else "digits/1")
            num = 0
        elif num < 21:
            files.append(f"digits/{num}")
            num = 0
        elif num < 70:
            files.append(f"digits/{num // 10 * 10}")
            files += ["digits/et"] if num % 10 == 1 else []
            num %= 10
        elif num < 80:
            files.append("digits/60")
            files += ["digits/et"] if num % 10 == 1 else []
            num -= 60
        elif num < 100:
            files.append("digits/80")
            num -= 80
        elif num < 200:
            files.append("digits/hundred")
            num -= 100
        else:
            files += [f"digits/{num // 100}", "digits/hundred"]
            num %= 100
    return files


# say.c `ast_say_number_full_ja`, 0..999: 1..19 whole, tens, `digits/hundred`
# after the hundreds digit (so 300 is digits/3 + digits/hundred): for these
# numbers the same files, in the same order, as English.
_japanese = _english


def _russian(num: int, options: str | None) -> list[str]:
    """say.c `ast_say_number_full_ru`, 0..999: whole hundreds (`digits/300`),
    tens, 1..19; a one-letter option makes 1 and 2 `digits/1<option>`, so
    app_queue's "n" asks for `digits/1n` and `digits/2n`."""
    if num == 0:
        return ["digits/0"]
    files: list[str] = []
    while num:
        if num < 20:
            with_option = options is not None and len(options) == 1 and num < 3
            files.append(f"digits/{num}{options}" if with_option else f"digits/{num}")
            num = 0
        elif num < 100:
            files.append(f"digits/{num - num % 10}")
            num %= 10
        else:
            files.append(f"digits/{num - num % 100}")
            num %= 100
    return files


def _chinese(num: int, options: str | None) -> list[str]:
    """say.c `ast_say_number_full_zh`, 0..999: tens are whole files (`digits/10`
    is 十, so 15 is digits/10 + digits/5), `digits/hundred` after the hundreds
    digit, and `digits/0` (零) where a tens digit is skipped (105: 一百零五).
    The zero comes from comparing the lengths of the number before and after a
    step (`last_length`), followed literally here; 110 becomes 一百十."""
    if num == 0:
        return ["digits/0"]
    files: list[str] = []
    playh = playz = False
    last_length = 0

    def skips_a_digit(rest: int) -> bool:
        # C: `last_length - strlen(buf) > 1 && last_length != 0`, in size_t.
        return last_length != 0 and (last_length - len(str(rest))) % 2**64 > 1

    while num or playh or playz:
        if playz:
            files.append("digits/0")
            last_length = 0
            playz = False
        elif playh:
            files.append("digits/hundred")
            playh = False
        elif num < 10:
            if skips_a_digit(num):
                last_length, playz = len(str(num)), True
                continue
            files.append(f"digits/{num}")
            num = 0
        elif num < 100:
            if skips_a_digit(num):
                last_length, playz = len(str(num)), True
                continue
            last_length = len(str(num))
            files.append(f"digits/{num // 10 * 10}")
            num %= 10
        else:
            if skips_a_digit(num):
                last_length, playz = len(str(num)), True
                continue
            files.append(f"digits/{num // 100}")
            playh = True
            last_length = len(str(num))
            num -= num // 100 * 100
    return files


# say.c `say_number_full`: language prefix -> its number function. Prefixes
# with a function not followed here are listed so they are refused rather
# than silently read as English; every other language gets English syntax.
_SYNTAX: dict[str, Callable[[int, str | None], list[str]]] = {
    "en": _english,
    "fr": _french,
    "ja": _japanese,
    "ru": _russian,
    "zh": _chinese,
}
_NOT_FOLLOWED = frozenset(
    {"cs", "da", "de", "es", "gr", "he", "hu", "is", "it", "ka",
     "nl", "no", "pl", "pt", "se", "th", "ur", "vi", "dr", "ps"}
)  # fmt: skip


def say_number_files(num: int, language: str, options: str | None = QUEUE_SAY_OPTIONS) -> list[str]:
    """The files `ast_say_number(chan, num, ..., language, options)` plays, in order."""
    if not 0 <= num <= LARGEST_NUMBER:
        raise ValueError(f"{num} is outside 0..{LARGEST_NUMBER}")
    prefix = language[:2].lower()
    if prefix in _NOT_FOLLOWED or language.lower().startswith("en_gb"):
        raise UnsupportedLanguage(f"say.c reads numbers in '{language}' with a function not followed in {__name__}")
    # Korean, among others, has no function of its own: English syntax.
    return _SYNTAX.get(prefix, _english)(num, options)


def number_sounds(language: str) -> list[str]:
    """Every file app_queue's numbers (0..999, with its options) can play in
    `language`; also what the dialplan's SayNumber(n) plays."""
    names = {
        name
        for num in range(LARGEST_NUMBER + 1)
        for options in SAY_OPTIONS
        for name in say_number_files(num, language, options)
    }
    return sorted(names, key=_natural)


def caller_sounds(language: str, *, position_and_wait: bool, periodic: bool) -> list[str]:
    """The files a caller in `language` can hear in a queue announcing its position
    and wait (`announce-frequency`) and/or a periodic message."""
    names: list[str] = []
    if position_and_wait:
        names += [*POSITION_SOUNDS, *HOLDTIME_SOUNDS, *number_sounds(language)]
    if periodic:
        names.append(PERIODIC_SOUND)
    return names


def _natural(name: str) -> tuple[str, int, int, str]:
    """digits/2 before digits/10, numbers before words (digits/et, digits/hundred)."""
    head, _, tail = name.rpartition("/")
    lead = re.match(r"\d+", tail)
    return (head, 0, int(lead.group()), tail) if lead else (head, 1, 0, tail)
