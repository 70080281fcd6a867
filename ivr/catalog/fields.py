"""Field types every part of the catalog schema shares: identifiers, language
codes, free text for people, and the configuration of every catalog object.

Defined once here so that `ivr.catalog.model` and `ivr.catalog.menus` read
the same patterns.
"""

from __future__ import annotations

import unicodedata
from typing import Annotated

from pydantic import AfterValidator, ConfigDict, Field

Identifier = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
LanguageCode = Annotated[str, Field(pattern=r"^[a-z]{2}$")]

# Free text for people (a seat's or a group's name, a node's label) reaches the
# rendered configuration in comments, where a line break would start a line of
# its own: an injected `[section]` or `match = 0.0.0.0/0`. So it is one line of
# printable text (any script: 张三, 信用卡中心), without the characters Asterisk
# config reads as syntax even inside a value (`;` comment, `\` escape, `[` `]`
# sections, `"` quoting), so that a template may also put it in a value.
DISPLAY_TEXT_MAX = 80
# Unicode categories of control, format (bidi overrides, zero-width), surrogate,
# private-use and line/paragraph separator characters.
_UNPRINTABLE = frozenset({"Cc", "Cf", "Cs", "Co", "Zl", "Zp"})
_CONFIG_SYNTAX = frozenset(';\\[]"')


def _display_text(value: str) -> str:
    for position, char in enumerate(value):
        if unicodedata.category(char) in _UNPRINTABLE:
            raise ValueError(
                f"must be one line of printable text: no line break or control character"
                f" (found U+{ord(char):04X} at position {position})"
            )
        if char in _CONFIG_SYNTAX:
            raise ValueError(f"must not contain {char!r} (Asterisk config syntax; found at position {position})")
    return value


DisplayText = Annotated[str, Field(min_length=1, max_length=DISPLAY_TEXT_MAX), AfterValidator(_display_text)]


# Of every catalog object: frozen, and an unknown key is an error (a typo is not
# silently ignored). Each schema module's `_Model(BaseModel)` sets it: a base
# class declared in the module is what tells linters a class is a pydantic model.
CATALOG_MODEL_CONFIG = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)
