"""The menu map: one self-contained HTML page (nested lists and CSS, no
script) showing, for each service number, the tree a caller can walk.

A node is drawn in full where the walk first reaches it; later references
(a `back`, a loop, a second digit to the same node) point at it instead.
Prompt texts are shown when given (`prompt_texts[lang][id]`, e.g. from
`ivr.prompts.load_prompt_texts`).
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape

from ivr.catalog.menus import (
    Action,
    Back,
    Goodbye,
    GoToNode,
    Menu,
    Repeat,
    SelfService,
    SwitchLanguage,
    ToAgent,
    ToQueue,
)
from ivr.catalog.model import Catalog, ServiceNumber

_CSS = """
body { font: 15px/1.45 system-ui, "Noto Sans CJK SC", sans-serif; margin: 2rem; color: #1d2433; background: #f6f7f9; }
h1 { font-size: 1.4rem; } h2 { font-size: 1.15rem; margin: 0 0 .25rem; }
section { background: #fff; border: 1px solid #d8dde6; border-radius: 8px; padding: 1rem 1.25rem; margin: 0 0 1.25rem; }
.meta { color: #5b6475; font-size: .9rem; margin: 0 0 .75rem; }
ul { list-style: none; margin: 0; padding-left: 1.4rem; border-left: 2px solid #e3e7ee; }
section > ul { border-left: 0; padding-left: 0; }
li { margin: .3rem 0; }
.node { font-weight: 600; } .node code { font-weight: 400; }
.key { display: inline-block; min-width: 1.6em; text-align: center; border: 1px solid #9aa4b5; border-radius: 4px;
       background: #eef1f6; font-family: ui-monospace, monospace; margin-right: .4rem; }
.prompt { color: #5b6475; font-style: italic; }
.queue { color: #0b5cad; } .flow { color: #7a3fb0; } .urgent { color: #b3261e; font-weight: 600; }
.ref { color: #5b6475; }
"""


def menu_map_html(catalog: Catalog, prompt_texts: Mapping[str, Mapping[str, str]] | None = None) -> str:
    texts = prompt_texts or {}
    sections = [_line_section(catalog, line, texts) for line in catalog.numbers]
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(catalog.center.name)}: IVR menus</title><style>{_CSS}</style></head>\n<body>\n"
        f"<h1>{escape(catalog.center.name)}: IVR menus</h1>\n" + "\n".join(sections) + "\n</body></html>\n"
    )


def _line_section(catalog: Catalog, line: ServiceNumber, texts: Mapping[str, Mapping[str, str]]) -> str:
    policy = catalog.tiers.get(line.tier)
    meta = (
        f"tier {escape(line.tier)}, priority {policy.priority if policy else line.priority}, "
        f"languages {escape(', '.join(line.languages))}, fallback queue {escape(line.fallback_queue)}"
    )
    head = f'<h2>{escape(line.number)} {escape(line.name)}</h2><p class="meta">{meta}</p>'
    if line.menu is None or line.menu not in catalog.menus:
        return f"<section>{head}<p>No menu: callers are queued at once.</p></section>"
    menu = catalog.menus[line.menu]
    drawn: set[str] = set()
    body = _node(catalog, line, menu, menu.start, texts, drawn, greeting=True)
    rest = [n for n in menu.start_by_language.values() if n not in drawn]
    for node_id in dict.fromkeys(rest):
        body += _node(catalog, line, menu, node_id, texts, drawn)
    return f'<section>{head}<p class="meta">menu <code>{escape(line.menu)}</code></p><ul>{body}</ul></section>'


def _prompt_text(ref: str, language: str, texts: Mapping[str, Mapping[str, str]]) -> str:
    lang, _, prompt_id = ref.rpartition("/")
    text = texts.get(lang or language, {}).get(prompt_id)
    return f"<code>{escape(ref)}</code>" + (f' <span class="prompt">“{escape(text)}”</span>' if text else "")


def _node(
    catalog: Catalog,
    line: ServiceNumber,
    menu: Menu,
    node_id: str,
    texts: Mapping[str, Mapping[str, str]],
    drawn: set[str],
    *,
    greeting: bool = False,
) -> str:
    if node_id in drawn or node_id not in menu.nodes:
        return f'<li class="ref">→ node <code>{escape(node_id)}</code> (above)</li>'
    drawn.add(node_id)
    node = menu.nodes[node_id]
    starts = [code for code, start in menu.start_by_language.items() if start == node_id]
    title = escape(node.label or node_id)
    extra = f" (start for {escape(', '.join(starts))})" if starts else ""
    refs = (*menu.greeting, *node.prompt) if greeting else node.prompt
    shown_in = line.language if not starts or line.language in starts else starts[0]
    prompts = "<br>".join(_prompt_text(ref, shown_in, texts) for ref in refs)
    items = []
    for digit, action in sorted(menu.actions(node_id).items()):
        shown = _action(catalog, line, menu, action, texts, drawn)
        items.append(f'<li><span class="key">{escape(digit)}</span>{shown}</li>')
    silence = f"after {node.max_retries + 1} tries ({node.timeout:g} s each): " + _action(
        catalog, line, menu, node.after_retries, texts, drawn
    )
    items.append(f'<li><span class="key">…</span>{silence}</li>')
    return (
        f'<li><span class="node">{title} <code>{escape(node_id)}</code></span>{extra}<br>{prompts}'
        f"<ul>{''.join(items)}</ul></li>"
    )


def _action(
    catalog: Catalog,
    line: ServiceNumber,
    menu: Menu,
    action: Action,
    texts: Mapping[str, Mapping[str, str]],
    drawn: set[str],
) -> str:
    match action:
        case GoToNode(node=node_id):
            return f"menu<ul>{_node(catalog, line, menu, node_id, texts, drawn)}</ul>"
        case ToQueue(queue=queue, priority=priority):
            shown = f", priority {priority}" if priority is not None else ""
            return f'<span class="queue">queue {escape(queue)}{shown}</span>'
        case SelfService(flow="lost_card"):
            urgent = catalog.lost_card
            where = f" → queue {escape(urgent.queue)}, priority {urgent.priority}" if urgent else ""
            return f'<span class="urgent">lost card{where}, no verification</span>'
        case SelfService(flow=flow):
            return f'<span class="flow">self-service {escape(flow)} (card last 4 + PIN first)</span>'
        case SwitchLanguage(code=code):
            return f"language {escape(code)} → node <code>{escape(menu.start_node(code))}</code>"
        case Repeat():
            return "repeat"
        case Back():
            return "back"
        case ToAgent():
            policy = catalog.tiers.get(line.tier)
            by_language = ", ".join(f"{code}: {queue}" for code, queue in line.language_queues.items())
            target = (policy.queue if policy else None) or by_language or line.fallback_queue
            return f'<span class="queue">agent ({escape(target)})</span>'
        case Goodbye():
            return "goodbye, hang up"
    raise AssertionError(f"unknown action {action!r}")  # pragma: no cover
