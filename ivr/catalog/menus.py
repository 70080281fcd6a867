"""Menus as catalog data: nodes, the digits each accepts and what each digit does.

A menu is a set of named nodes. A node plays its prompt and waits for one
DTMF digit; the digit picks an *action*, written in YAML as a mapping with a
`do:` key (or, for the actions without parameters, just the word):

    menus:
      main:
        greeting: [welcome, en/language_offer]  # once, before the first node
        start: root
        start_by_language: {ja: minor}          # where a Japanese caller starts
        shortcuts: {"*": repeat, "0": agent}    # on every node unless it maps the digit
        nodes:
          root:
            prompt: main_menu
            digits:
              1: {do: menu, node: billing}
              3: {do: self_service, flow: lost_card}
              9: {do: menu, node: languages}

Prompt references are prompt ids (`main_menu`), played in the caller's current
language, or `lang/id` (`en/language_offer`) to always play one language's
recording (a language menu speaks each option in its own language).

`*` and `#` must be quoted in YAML (`*` starts an alias, `#` a comment); digit
keys written as numbers (`1:`) are read as the strings they are.

This is schema only: the catalog (`ivr.catalog.model.Catalog.menus`) holds
menus, `ivr.menu` walks, checks and draws them.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, Field

from ivr.catalog.fields import CATALOG_MODEL_CONFIG, DisplayText, Identifier, LanguageCode

Digit = Annotated[str, Field(pattern=r"^[0-9*#]$")]
PROMPT_ID_PATTERN = r"^[a-z][a-z0-9_]{0,47}$"
# `id` in the current language, or `lang/id` pinned to one language.
PromptRef = Annotated[str, Field(pattern=r"^([a-z]{2}/)?[a-z][a-z0-9_]{0,47}$")]
SelfServiceFlow = Literal["balance", "activation", "lost_card"]


class _Model(BaseModel):
    model_config = CATALOG_MODEL_CONFIG


class GoToNode(_Model):
    """Go to another node of the same menu (`back` returns from it)."""

    do: Literal["menu"]
    node: Identifier


class ToQueue(_Model):
    """Hand the call to a named skill group, at the caller's tier priority unless overridden."""

    do: Literal["queue"]
    queue: Identifier
    priority: int | None = Field(None, ge=0, le=100)


class SelfService(_Model):
    """A self-service flow: balance/bill readout and card activation verify the
    caller first; lost card goes straight to the lost-card queue, unverified."""

    do: Literal["self_service"]
    flow: SelfServiceFlow


class SwitchLanguage(_Model):
    """Continue in another language, at the menu's start node for that language."""

    do: Literal["language"]
    code: LanguageCode


class Repeat(_Model):
    do: Literal["repeat"]


class Back(_Model):
    """Return to the node the caller came from (at the start node: repeat)."""

    do: Literal["back"]


class ToAgent(_Model):
    """An agent: the caller's tier queue, else the line's queue for the current
    language, else the line's fallback queue."""

    do: Literal["agent"]


class Goodbye(_Model):
    """Play `goodbye` and hang up."""

    do: Literal["hangup"]


def _shorthand(value: Any) -> Any:
    # `"*": repeat` reads better than `"*": {do: repeat}` for the plain actions.
    if isinstance(value, str) and value in ("repeat", "back", "agent", "hangup"):
        return {"do": value}
    return value


Action = Annotated[
    GoToNode | ToQueue | SelfService | SwitchLanguage | Repeat | Back | ToAgent | Goodbye,
    Field(discriminator="do"),
    BeforeValidator(_shorthand),
]


def _digit_keys(value: Any) -> Any:
    # YAML reads `1:` as an int: take it as the key it is (and report errors at `digits.1`).
    if isinstance(value, dict):
        return {str(k) if isinstance(k, int) and not isinstance(k, bool) else k: v for k, v in value.items()}
    return value


DigitMap = Annotated[dict[Digit, Action], BeforeValidator(_digit_keys)]


def _prompt_list(value: Any) -> Any:
    return (value,) if isinstance(value, str) else value


PromptRefs = Annotated[tuple[PromptRef, ...], BeforeValidator(_prompt_list)]


class Node(_Model):
    """One menu step: play `prompt`, wait `timeout` seconds for a digit.

    A digit that is not mapped plays `invalid_prompt`, silence plays
    `timeout_prompt`; either way the node is offered again, `max_retries`
    times at most, then `after_retries` happens.
    """

    prompt: PromptRefs = Field(min_length=1)
    label: DisplayText | None = Field(None, description="what the node is for, shown on the menu map")
    digits: DigitMap = {}
    timeout: float = Field(5, ge=1, le=30, description="seconds to wait for a digit")
    max_retries: int = Field(2, ge=0, le=5)
    invalid_prompt: PromptRef | None = "invalid_choice"
    timeout_prompt: PromptRef | None = "no_input"
    after_retries: Action = ToAgent(do="agent")


class Menu(_Model):
    greeting: PromptRefs = Field((), description="played once, before the start node's prompt")
    start: Identifier = "root"
    start_by_language: dict[LanguageCode, Identifier] = Field(
        {}, description="start node for callers in that language (preferred or chosen)"
    )
    shortcuts: DigitMap = Field({}, description="digits valid on every node that does not map them")
    verify_attempts: int = Field(3, ge=1, le=5, description="card + PIN attempts before an agent takes over")
    nodes: dict[Identifier, Node] = Field(min_length=1)

    def actions(self, node_id: str) -> dict[str, Action]:
        """The digits a node accepts: the menu's shortcuts, overridden by the node's own."""
        return {**self.shortcuts, **self.nodes[node_id].digits}

    def start_node(self, language: str) -> str:
        return self.start_by_language.get(language, self.start)
