"""Say-number: amounts, dates and digits as prompt fragments, checked through
the texts the fragments are recorded from (prompts/zh.yaml, prompts/en.yaml)."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ivr.menu.saynumber import (
    FRAGMENTS,
    MAX_AMOUNT,
    number_language,
    say_amount,
    say_date,
    say_digits,
    say_integer,
)
from ivr.prompts import load_prompt_texts

from .conftest import PROMPTS_DIR

ZH = load_prompt_texts(PROMPTS_DIR, "zh")
EN = load_prompt_texts(PROMPTS_DIR, "en")


def zh(fragments: tuple[str, ...]) -> str:
    return "".join(ZH[f] for f in fragments)


def en(fragments: tuple[str, ...]) -> str:
    return " ".join(EN[f] for f in fragments)


@pytest.mark.parametrize(
    ("value", "spoken"),
    [
        (0, "零"), (1, "一"), (2, "二"), (7, "七"), (10, "十"), (11, "十一"), (15, "十五"), (20, "二十"),
        (99, "九十九"), (100, "一百"), (101, "一百零一"), (110, "一百一十"), (111, "一百一十一"), (200, "二百"),
        (1000, "一千"), (1001, "一千零一"), (1010, "一千零一十"), (1100, "一千一百"), (1234, "一千二百三十四"),
        (2000, "两千"), (2222, "两千二百二十二"), (10000, "一万"), (10001, "一万零一"), (10010, "一万零一十"),
        (12000, "一万两千"), (20000, "两万"), (22000, "两万两千"), (100000, "十万"), (100010, "十万零一十"),
        (110000, "十一万"), (150000, "十五万"), (1000000, "一百万"), (1010000, "一百零一万"), (10000000, "一千万"),
        (100000000, "一亿"), (100000001, "一亿零一"), (102000000, "一亿零二百万"), (200000000, "两亿"),
        (1000000000, "十亿"), (123456789, "一亿两千三百四十五万六千七百八十九"),
        (999999999999, "九千九百九十九亿九千九百九十九万九千九百九十九"),
    ],
)  # fmt: skip
def test_mandarin_integers_read_as_a_bank_ivr_says_them(value: int, spoken: str) -> None:
    assert zh(say_integer(value, "zh")) == spoken


@pytest.mark.parametrize(
    ("value", "spoken"),
    [
        (0, "zero"), (7, "seven"), (10, "ten"), (13, "thirteen"), (20, "twenty"), (34, "thirty four"),
        (100, "one hundred"), (105, "one hundred five"), (1001, "one thousand one"),
        (1234, "one thousand two hundred thirty four"), (100000, "one hundred thousand"),
        (1000000, "one million"), (2000000019, "two billion nineteen"),
    ],
)  # fmt: skip
def test_english_integers(value: int, spoken: str) -> None:
    assert en(say_integer(value, "en")) == spoken


@pytest.mark.parametrize(
    ("amount", "spoken"),
    [
        ("1234.56", "一千二百三十四元五角六分"), ("1234.06", "一千二百三十四元零六分"),
        ("1234.50", "一千二百三十四元五角"),
        ("1234", "一千二百三十四元整"), ("1234.00", "一千二百三十四元整"), ("0", "零元"), ("0.00", "零元"),
        ("0.56", "五角六分"), ("0.06", "六分"), ("10", "十元整"), ("1001.01", "一千零一元零一分"),
        ("100000", "十万元整"), ("2", "二元整"), ("20000.2", "两万元二角"),
    ],
)  # fmt: skip
def test_mandarin_amounts_in_yuan_jiao_fen(amount: str, spoken: str) -> None:
    assert zh(say_amount(Decimal(amount), "zh")) == spoken


@pytest.mark.parametrize(
    ("amount", "spoken"),
    [
        ("1234.56", "one thousand two hundred thirty four yuan fifty six fen"),
        ("1234", "one thousand two hundred thirty four yuan"),
        ("0", "zero yuan"), ("0.56", "fifty six fen"), ("0.05", "five fen"), ("1.10", "one yuan ten fen"),
        ("100000", "one hundred thousand yuan"),
    ],
)  # fmt: skip
def test_english_amounts_in_yuan_and_fen(amount: str, spoken: str) -> None:
    assert en(say_amount(amount, "en")) == spoken


def test_amounts_may_be_given_as_int_str_or_decimal() -> None:
    assert say_amount(5, "zh") == say_amount("5", "zh") == say_amount(Decimal("5.00"), "zh")


@pytest.mark.parametrize("bad", [Decimal("-0.01"), "-5", -1])
def test_negative_amounts_are_refused(bad: Decimal | str | int) -> None:
    with pytest.raises(ValueError, match="negative"):
        say_amount(bad, "zh")


def test_negative_integers_are_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        say_integer(-3, "en")


@pytest.mark.parametrize("bad", ["1.234", "abc", "NaN", "Infinity", str(MAX_AMOUNT + 1)])
def test_amounts_that_cannot_be_read_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        say_amount(bad, "en")


def test_floats_are_refused_because_money_is_decimal() -> None:
    with pytest.raises(TypeError):
        say_amount(12.5, "zh")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("day", "spoken"),
    [(date(2025, 7, 15), "二零二五年七月十五日"), (date(2024, 10, 1), "二零二四年十月一日"),
     (date(2030, 12, 31), "二零三零年十二月三十一日"), (date(2025, 11, 20), "二零二五年十一月二十日")],
)  # fmt: skip
def test_mandarin_due_dates(day: date, spoken: str) -> None:
    assert zh(say_date(day, "zh")) == spoken


@pytest.mark.parametrize(
    ("day", "spoken"),
    [(date(2025, 7, 15), "July fifteenth two thousand twenty five"),
     (date(2024, 3, 1), "March first two thousand twenty four"),
     (date(2025, 12, 22), "December twenty-second two thousand twenty five")],
)  # fmt: skip
def test_english_due_dates(day: date, spoken: str) -> None:
    assert en(say_date(day, "en")) == spoken


def test_a_date_without_the_year() -> None:
    assert zh(say_date(date(2025, 7, 5), "zh", year=False)) == "七月五日"
    assert en(say_date(date(2025, 7, 5), "en", year=False)) == "July fifth"


def test_digit_strings_are_read_one_by_one() -> None:
    assert zh(say_digits("4321", "zh")) == "四三二一"
    assert en(say_digits("0600", "en")) == "zero six zero zero"
    with pytest.raises(ValueError):
        say_digits("12a4", "zh")


def test_languages_without_fragments_read_numbers_in_english() -> None:
    assert number_language("zh") == "zh"
    assert [number_language(code) for code in ("en", "ja", "ko", "fr", "ru")] == ["en"] * 5


def test_every_fragment_has_a_text_in_its_language() -> None:
    assert FRAGMENTS["zh"] <= set(ZH)
    assert FRAGMENTS["en"] <= set(EN)


# -- properties: read back what was said ------------------------------------------------

_ZH_DIGITS = {c: i for i, c in enumerate("零一二三四五六七八九")} | {"两": 2}
_ZH_UNITS = {"十": 10, "百": 100, "千": 1000}


def parse_zh(text: str) -> int:
    total = section = digit = 0
    for char in text:
        if char in _ZH_DIGITS:
            digit = _ZH_DIGITS[char]
        elif char in _ZH_UNITS:
            section += (digit or 1) * _ZH_UNITS[char]
            digit = 0
        elif char == "万":
            total += (section + digit) * 10**4
            section = digit = 0
        elif char == "亿":
            total = (total + section + digit) * 10**8
            section = digit = 0
    return total + section + digit


_EN_WORDS = {text: int(key[4:]) for key, text in EN.items() if re.fullmatch(r"num_\d+", key)}
_EN_SCALES = {"thousand": 10**3, "million": 10**6, "billion": 10**9}


def parse_en(text: str) -> int:
    total = group = 0
    for word in text.split():
        if word == "hundred":
            group *= 100
        elif word in _EN_SCALES:
            total += group * _EN_SCALES[word]
            group = 0
        else:
            group += _EN_WORDS[word]
    return total + group


@given(st.integers(min_value=0, max_value=MAX_AMOUNT))
def test_mandarin_reading_parses_back_to_the_number(value: int) -> None:
    text = zh(say_integer(value, "zh"))
    assert parse_zh(text) == value
    assert "零零" not in text and not text.startswith("一十")
    assert value == 0 or not text.endswith("零")


@given(st.integers(min_value=0, max_value=MAX_AMOUNT))
def test_english_reading_parses_back_to_the_number(value: int) -> None:
    assert parse_en(en(say_integer(value, "en"))) == value


@given(st.decimals(min_value=0, max_value=10**9, places=2, allow_nan=False, allow_infinity=False))
def test_every_amount_fragment_is_recorded_in_its_language(amount: Decimal) -> None:
    assert set(say_amount(amount, "zh")) <= FRAGMENTS["zh"]
    assert set(say_amount(amount, "en")) <= FRAGMENTS["en"]
