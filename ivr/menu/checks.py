"""Catalog checks for menus and prompts, as `(path parts, reason)` pairs like
`ivr.catalog.load.cross_check`.

`check_menus` is what a caller can do in a menu: every digit leads to a node,
a queue or a language that exists and the line offers. The loader does not
import it (the catalog is below the menu); `ivr.check.load_checked_catalog`
hands it to the loader, which reports its problems with file and line, and
every command that walks or serves menus loads the catalog that way.

`missing_prompts` needs the prompt texts as well as the catalog, so it is
separate: `ivr check` calls it with the prompts directory. It follows each
line's menus the way a caller can walk them, language by language (a language
digit continues at that language's start node), and reports every prompt a
caller could hear that the language's text catalog lacks, at the catalog path
that plays it. `missing_announcements` (called by `missing_prompts`) does the
same for app_queue's own announcements: the Asterisk sounds of
`prompts/asterisk/<lang>.yaml` (`ivr.announcements`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from ivr.catalog.load import PathPart, Problem
from ivr.catalog.menus import Action, Goodbye, GoToNode, Menu, SelfService, SwitchLanguage, ToQueue
from ivr.catalog.model import Catalog, ServiceNumber
from ivr.menu.engine import CLOSED_AGENT_PROMPT, CLOSED_PROMPT, FLOW_PROMPTS, GOODBYE_PROMPT
from ivr.menu.saynumber import FRAGMENTS, number_language


def _located_actions(menu: Menu, menu_id: str) -> Iterator[tuple[tuple[PathPart, ...], str, Action]]:
    """(path, node id or "" for shortcuts, action) for every action a menu declares."""
    for digit, action in menu.shortcuts.items():
        yield ("menus", menu_id, "shortcuts", digit), "", action
    for node_id, node in menu.nodes.items():
        for digit, action in node.digits.items():
            yield ("menus", menu_id, "nodes", node_id, "digits", digit), node_id, action
        yield ("menus", menu_id, "nodes", node_id, "after_retries"), node_id, node.after_retries


def _pinned_language(ref: str) -> str | None:
    return ref.split("/", 1)[0] if "/" in ref else None


def check_menus(catalog: Catalog) -> list[Problem]:
    problems: list[Problem] = []
    languages = {language.code for language in catalog.languages}
    lines_by_menu: dict[str, list[tuple[int, ServiceNumber]]] = {}

    for i, line in enumerate(catalog.numbers):
        if line.menu is None:
            continue
        if line.menu in catalog.menus:
            lines_by_menu.setdefault(line.menu, []).append((i, line))
        else:
            problems.append((("numbers", i, "menu"), f"unknown menu '{line.menu}'"))

    for menu_id, menu in catalog.menus.items():
        base: tuple[PathPart, ...] = ("menus", menu_id)
        if menu.start not in menu.nodes:
            problems.append(((*base, "start"), f"unknown node '{menu.start}'"))
        for code, node_id in menu.start_by_language.items():
            if code not in languages:
                problems.append(((*base, "start_by_language", code), f"unknown language '{code}'"))
            if node_id not in menu.nodes:
                problems.append(((*base, "start_by_language", code), f"unknown node '{node_id}'"))
        refs: list[tuple[tuple[PathPart, ...], str | None]] = [
            ((*base, "greeting", k), ref) for k, ref in enumerate(menu.greeting)
        ]
        for node_id, node in menu.nodes.items():
            where = (*base, "nodes", node_id)
            refs += [((*where, "prompt", k), ref) for k, ref in enumerate(node.prompt)]
            refs += [((*where, "invalid_prompt"), node.invalid_prompt)]
            refs += [((*where, "timeout_prompt"), node.timeout_prompt)]
        for path, ref in refs:
            pinned = _pinned_language(ref) if ref else None
            if pinned is not None and pinned not in languages:
                problems.append((path, f"unknown language '{pinned}'"))
        lines = lines_by_menu.get(menu_id, [])
        for path, _node_id, action in _located_actions(menu, menu_id):
            problems += [(path, reason) for reason in _action_problems(catalog, action, menu, lines)]
    return problems


def _action_problems(catalog: Catalog, action: Action, menu: Menu, lines: list[tuple[int, ServiceNumber]]) -> list[str]:
    match action:
        case GoToNode(node=node_id) if node_id not in menu.nodes:
            return [f"unknown node '{node_id}'"]
        case ToQueue(queue=queue) if queue not in {q.id for q in catalog.queues}:
            return [f"unknown queue '{queue}'"]
        case SwitchLanguage(code=code):
            if code not in {language.code for language in catalog.languages}:
                return [f"unknown language '{code}'"]
            return [
                f"language '{code}' is not offered by line {line.id} (numbers[{i}].languages)"
                for i, line in lines
                if code not in line.languages
            ]
        case SelfService(flow="lost_card") if catalog.lost_card is None:
            return ["the lost-card flow needs a top-level `lost_card: {queue: ..., priority: ...}`"]
    return []


# -- prompts --------------------------------------------------------------------


# Prompts a line's callers hear outside its menu (ivr.menu.engine, ivr.survey, the
# dialplan's no-agent branch), by the catalog field that switches them on.
NO_AGENT_PROMPTS = ("no_agent",)
SURVEY_PROMPTS = ("survey_ask", "survey_thanks", "invalid_choice")
CLOSED_PROMPTS = (CLOSED_PROMPT, CLOSED_AGENT_PROMPT, GOODBYE_PROMPT)
# The dialplan's answer to a caller when the center is full (center.when_full),
# in the line's own language: it plays before any IVR choice.
BUSY_PROMPT = "lines_busy"


def _line_prompt_uses(index: int, line: ServiceNumber) -> Iterator[tuple[tuple[PathPart, ...], str, str]]:
    for language in line.languages:
        for prompt in NO_AGENT_PROMPTS:
            yield (("numbers", index), prompt, language)
        if line.survey:
            for prompt in SURVEY_PROMPTS:
                yield (("numbers", index, "survey"), prompt, language)
        if line.hours is not None:
            for prompt in CLOSED_PROMPTS:
                yield (("numbers", index, "hours"), prompt, language)


def _prompt_uses(catalog: Catalog, line: ServiceNumber) -> Iterator[tuple[tuple[PathPart, ...], str, str]]:
    """(catalog path, prompt id, language) for every prompt a caller of `line` can hear."""
    assert line.menu is not None
    menu_id, menu = line.menu, catalog.menus[line.menu]
    base: tuple[PathPart, ...] = ("menus", menu_id)

    def resolve(ref: str, language: str) -> tuple[str, str]:
        pinned = _pinned_language(ref)
        return (ref.split("/", 1)[1], pinned) if pinned else (ref, language)

    todo = [(menu.start_node(code), code) for code in line.languages]
    for code in line.languages:
        for k, ref in enumerate(menu.greeting):
            yield ((*base, "greeting", k), *resolve(ref, code))
    seen: set[tuple[str, str]] = set()
    while todo:
        node_id, language = todo.pop()
        if (node_id, language) in seen or node_id not in menu.nodes:
            continue
        seen.add((node_id, language))
        node = menu.nodes[node_id]
        where = (*base, "nodes", node_id)
        for k, ref in enumerate(node.prompt):
            yield ((*where, "prompt", k), *resolve(ref, language))
        if node.max_retries > 0:
            for name, retry_ref in (("invalid_prompt", node.invalid_prompt), ("timeout_prompt", node.timeout_prompt)):
                if retry_ref:
                    yield ((*where, name), *resolve(retry_ref, language))
        actions = [((*where, "digits", d), a) for d, a in menu.actions(node_id).items()]
        actions.append(((*where, "after_retries"), node.after_retries))
        for path, action in actions:
            if path[-2] == "digits" and str(path[-1]) in menu.shortcuts and str(path[-1]) not in node.digits:
                path = (*base, "shortcuts", path[-1])
            match action:
                case GoToNode(node=target):
                    todo.append((target, language))
                case SwitchLanguage(code=code) if code in line.languages:
                    todo.append((menu.start_node(code), code))
                case SelfService(flow=flow):
                    for prompt in FLOW_PROMPTS[flow]:
                        yield (path, prompt, language)
                    if flow == "balance":
                        numbers = number_language(language)
                        for fragment in sorted(FRAGMENTS[numbers]):
                            yield (path, fragment, numbers)
                case Goodbye():
                    yield (path, GOODBYE_PROMPT, language)


def missing_prompts(catalog: Catalog, prompts_dir: str | Path) -> list[Problem]:
    """Every prompt a caller can reach that `prompts/<lang>.yaml` does not have."""
    from ivr.prompts import PromptFileError, load_prompt_texts

    prompts_dir = Path(prompts_dir)
    texts: dict[str, dict[str, str]] = {}
    problems: list[Problem] = []
    for i, offered in enumerate(catalog.languages):
        try:
            texts[offered.code] = load_prompt_texts(prompts_dir, offered.code)
        except PromptFileError as exc:
            problems.append((("languages", i), str(exc)))
    reported: set[tuple[tuple[PathPart, ...], str]] = set()
    missing_by_path: dict[tuple[PathPart, ...], dict[str, list[str]]] = {}
    for index, line in enumerate(catalog.numbers):
        uses = list(_line_prompt_uses(index, line))
        if catalog.center.max_concurrent_calls and catalog.center.when_full == "busy_prompt":
            uses.append((("center", "when_full"), BUSY_PROMPT, line.language))
        if line.menu is not None and line.menu in catalog.menus:
            uses += _prompt_uses(catalog, line)
        for path, prompt, language in uses:
            if language not in texts or prompt in texts[language]:
                continue
            missing = missing_by_path.setdefault(path, {}).setdefault(language, [])
            if prompt not in missing:
                missing.append(prompt)
    for path, by_language in missing_by_path.items():
        for language, prompts in by_language.items():
            file = prompts_dir / f"{language}.yaml"
            shown = ", ".join(f"'{p}'" for p in prompts[:8])
            if len(prompts) > 8:
                shown += f" and {len(prompts) - 8} more"
            reason = f"prompt{'s' if len(prompts) > 1 else ''} {shown} missing from {file}"
            if (path, reason) not in reported:
                reported.add((path, reason))
                problems.append((path, reason))
    return problems + missing_announcements(catalog, prompts_dir)


def _listed(names: list[str], limit: int) -> str:
    return ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")


def missing_announcements(catalog: Catalog, prompts_dir: str | Path) -> list[Problem]:
    """Every Asterisk sound app_queue can play to a waiting caller that the
    caller's language lacks in `prompts/asterisk/<lang>.yaml`, reported at the
    catalog's language. A caller keeps their language in every group (overflow
    and fallbacks included), so one group that announces makes the files
    needed in every language a line offers. English is the image's core sounds."""
    from ivr.announcements import CORE_SOUND_LANGUAGES, UnsupportedLanguage, caller_sounds
    from ivr.prompts import PromptFileError, load_sound_texts, sound_texts_path

    announcing = [queue.id for queue in catalog.queues if queue.announce.every or queue.announce.periodic]
    if not announcing:
        return []
    position_and_wait = any(queue.announce.every for queue in catalog.queues)
    periodic = any(queue.announce.periodic for queue in catalog.queues)
    lines_by_language: dict[str, list[str]] = {}
    for line in catalog.numbers:
        for code in line.languages:
            lines_by_language.setdefault(code, []).append(line.id)
    problems: list[Problem] = []
    for i, offered in enumerate(catalog.languages):
        code, where = offered.code, ("languages", i)
        if code not in lines_by_language or code in CORE_SOUND_LANGUAGES:
            continue
        try:
            needed = caller_sounds(code, position_and_wait=position_and_wait, periodic=periodic)
            texts = load_sound_texts(prompts_dir, code)
        except (UnsupportedLanguage, PromptFileError) as exc:
            problems.append((where, f"queue announcements: {exc}"))
            continue
        missing = [f"'{name}'" for name in needed if name not in texts]
        if missing:
            lines = lines_by_language[code]
            offer = f"line{'s' if len(lines) > 1 else ''} {_listed(lines, 3)} offer{'' if len(lines) > 1 else 's'}"
            problems.append(
                (
                    where,
                    f"Asterisk sound{'s' if len(missing) > 1 else ''} {_listed(missing, 8)} missing from "
                    f"{sound_texts_path(prompts_dir, code)}: groups {_listed(announcing, 3)} announce to waiting"
                    f" callers, and {offer} '{code}'",
                )
            )
    return problems
