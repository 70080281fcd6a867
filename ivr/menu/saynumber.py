"""Amounts, integers, dates and digit strings as prompt-fragment ids.

Pure: a value in, a tuple of prompt ids out (`num_1`, `unit_1000`, `cur_yuan`
...), which the engine prefixes with the language whose recordings read them
(`zh/num_1`). Mandarin (`zh`) and English (`en`) have full fragment sets; the
other languages read numbers with the English fragments (`number_language`),
so their prompt catalogs need only the menu prompts.

Mandarin rules, as a bank's IVR reads them:
- sections of four digits joined by 万 and 亿; zeros inside a number collapse
  to one 零 (1001 一千零一, 10001 一万零一, 100000001 一亿零一);
- 十 alone at the very start (10 十, 100000 十万) but 一十 after a higher
  digit (110 一百一十, 100010 十万零一十);
- 两 for a 2 on the thousands place and for a lone 2 before 万/亿
  (2000 两千, 20000 两万); 二 elsewhere (2 二, 200 二百, 2.00 二元整);
- amounts: 元, 角, 分; whole amounts end in 整; 1234.06 一千二百三十四元零六分;
- dates: the year digit by digit (二零二五年), then 月 and 日.
English: "one thousand two hundred thirty-four yuan fifty-six fen", no "and";
dates "July fifteenth two thousand twenty-five".
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Literal

NumberLanguage = Literal["zh", "en"]
MAX_AMOUNT = 10**12 - 1  # 9999亿...: beyond any card balance

_ZH_UNITS = ("unit_1000", "unit_100", "unit_10", None)
_EN_GROUPS = ((10**9, "unit_billion"), (10**6, "unit_million"), (10**3, "unit_thousand"))

FRAGMENTS: dict[NumberLanguage, frozenset[str]] = {
    "zh": frozenset(
        [f"num_{d}" for d in range(10)]
        + ["num_liang", "unit_10", "unit_100", "unit_1000", "unit_10k", "unit_100m"]
        + ["cur_yuan", "cur_jiao", "cur_fen", "cur_zheng", "date_year", "date_month", "date_day"]
    ),
    "en": frozenset(
        [f"num_{n}" for n in range(20)]
        + [f"num_{n}" for n in range(20, 100, 10)]
        + ["unit_hundred", "unit_thousand", "unit_million", "unit_billion", "cur_yuan", "cur_fen"]
        + [f"month_{m}" for m in range(1, 13)]
        + [f"ord_{d}" for d in range(1, 32)]
    ),
}


def number_language(language: str) -> NumberLanguage:
    """The language whose fragments read numbers for a caller in `language`."""
    return "zh" if language == "zh" else "en"


def say_integer(value: int, language: NumberLanguage) -> tuple[str, ...]:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"an int is needed, got {type(value).__name__}")
    if value < 0:
        raise ValueError("negative numbers are not read out")
    if value > MAX_AMOUNT:
        raise ValueError(f"{value} is beyond what the IVR reads out")
    return tuple(_zh_integer(value) if language == "zh" else _en_integer(value))


def say_amount(amount: Decimal | int | str, language: NumberLanguage) -> tuple[str, ...]:
    """A yuan amount with up to two decimals (fen); floats are refused, use Decimal."""
    yuan, fen = _split_amount(amount)
    if language == "zh":
        return tuple(_zh_amount(yuan, fen))
    out: list[str] = []
    if yuan or not fen:
        out += [*_en_integer(yuan), "cur_yuan"]
    if fen:
        out += [*_en_integer(fen), "cur_fen"]
    return tuple(out)


def say_date(day: date, language: NumberLanguage, *, year: bool = True) -> tuple[str, ...]:
    if language == "zh":
        out = [f"num_{d}" for d in str(day.year)] + ["date_year"] if year else []
        return (*out, *_zh_integer(day.month), "date_month", *_zh_integer(day.day), "date_day")
    return (f"month_{day.month}", f"ord_{day.day}", *(_en_integer(day.year) if year else ()))


def say_digits(digits: str, language: NumberLanguage) -> tuple[str, ...]:
    """Digit by digit (a card's last four, a reference number)."""
    if not digits.isascii() or not digits.isdigit():
        raise ValueError("only the digits 0-9 are read one by one")
    del language  # the same ids in both languages: num_0 .. num_9
    return tuple(f"num_{d}" for d in digits)


def _split_amount(amount: Decimal | int | str) -> tuple[int, int]:
    if isinstance(amount, float | bool) or not isinstance(amount, Decimal | int | str):
        raise TypeError(f"amounts are Decimal, int or str, not {type(amount).__name__}")
    try:
        value = Decimal(amount)
    except InvalidOperation:
        raise ValueError(f"not an amount: {amount!r}") from None
    if not value.is_finite():
        raise ValueError(f"not an amount: {amount!r}")
    if value < 0:
        raise ValueError("negative amounts are not read out")
    fen = value * 100
    if fen != fen.to_integral_value():
        raise ValueError(f"{amount} has fractions of a fen")
    yuan, rest = divmod(int(fen), 100)
    if yuan > MAX_AMOUNT:
        raise ValueError(f"{amount} is beyond what the IVR reads out")
    return yuan, rest


def _zh_section(value: int, *, leading: bool) -> list[str]:
    """0 < value < 10000, read with 千百十; `leading`: nothing was said before."""
    digits = (value // 1000, value // 100 % 10, value // 10 % 10, value % 10)
    out: list[str] = []
    started = zero_pending = False
    for digit, unit in zip(digits, _ZH_UNITS, strict=True):
        if digit == 0:
            zero_pending = started
            continue
        if zero_pending:
            out.append("num_0")
            zero_pending = False
        if digit == 1 and unit == "unit_10" and not started and leading:
            out.append("unit_10")
        else:
            out.append("num_liang" if digit == 2 and unit == "unit_1000" else f"num_{digit}")
            if unit:
                out.append(unit)
        started = True
    return out


def _zh_integer(value: int) -> list[str]:
    if value == 0:
        return ["num_0"]
    out: list[str] = []
    spoken = gap = False
    for section, unit in ((value // 10**8, "unit_100m"), (value // 10**4 % 10**4, "unit_10k"), (value % 10**4, None)):
        if section == 0:
            gap = spoken
            continue
        if spoken and (gap or section < 1000):
            out.append("num_0")
        if section == 2 and unit:
            out.append("num_liang")
        else:
            out += _zh_section(section, leading=not spoken)
        if unit:
            out.append(unit)
        spoken, gap = True, False
    return out


def _zh_amount(yuan: int, fen: int) -> list[str]:
    jiao, fen = divmod(fen, 10)
    out: list[str] = []
    if yuan:
        out += [*_zh_integer(yuan), "cur_yuan"]
    if not jiao and not fen:
        return [*out, "cur_zheng"] if yuan else ["num_0", "cur_yuan"]
    if jiao:
        out += [f"num_{jiao}", "cur_jiao"]
    elif yuan:
        out.append("num_0")
    if fen:
        out += [f"num_{fen}", "cur_fen"]
    return out


def _en_below_1000(value: int) -> list[str]:
    hundreds, rest = divmod(value, 100)
    out = [f"num_{hundreds}", "unit_hundred"] if hundreds else []
    if rest >= 20:
        out.append(f"num_{rest // 10 * 10}")
        if rest % 10:
            out.append(f"num_{rest % 10}")
    elif rest:
        out.append(f"num_{rest}")
    return out


def _en_integer(value: int) -> list[str]:
    if value == 0:
        return ["num_0"]
    out: list[str] = []
    for size, unit in _EN_GROUPS:
        group, value = divmod(value, size)
        if group:
            out += [*_en_below_1000(group), unit]
    return out + _en_below_1000(value)
