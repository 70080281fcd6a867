"""Rendering and `ivr check`: a broken catalog or template never produces output."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr.check import CheckFailed, check, check_rendered
from ivr.cli import main
from ivr.render import TemplateError, render_config, write_config
from ivr.settings import Settings

REPO = Path(__file__).resolve().parents[2]




def test_demo_catalog_renders_a_complete_asterisk_configuration(settings: Settings) -> None:
    files = check(settings)

    assert {"asterisk.conf", "modules.conf", "pjsip.conf", "extensions.conf", "queues.conf",
            "manager.conf", "logger.conf", "musiconhold.conf"} <= set(files)  # fmt: skip
    assert "[line-main]" in files["extensions.conf"]
    assert "member =>" not in files["queues.conf"], "seats log in and out: no static members"
    assert "[widen_basic_zh]\npenaltychange => 20,5" in files["queuerules.conf"]
    assert "bindaddr = 127.0.0.1" in files["manager.conf"]
    assert "queue_log = yes" in files["logger.conf"]


def test_pjsip_has_no_anonymous_endpoint_and_identifies_the_trunk_by_address(settings: Settings) -> None:
    pjsip = check(settings)["pjsip.conf"]

    assert "[anonymous]" not in pjsip
    assert "match = 127.0.0.2/32" in pjsip
    assert pjsip.count("type = endpoint") == 1 + 30


def test_every_line_has_a_fallback_route_to_its_queue(settings: Settings) -> None:
    dialplan = check(settings)["extensions.conf"]

    for line, queue in (("main", "basic_zh"), ("vip", "vip"), ("platinum", "platinum"), ("group", "group")):
        section = dialplan.split(f"[line-{line}]")[1].split("\n[")[0]
        assert f"Goto(queue-{queue},s,1)" in section.split("(fallback)")[1]


def test_each_group_waits_then_overflows_or_falls_back_as_the_catalog_says(settings: Settings) -> None:
    dialplan = check(settings)["extensions.conf"]
    japanese = dialplan.split("[queue-japanese]")[1].split("\n[")[0]
    basic = dialplan.split("[queue-basic_zh]")[1].split("\n[")[0]

    assert "Queue(japanese,c,,,30)" in japanese
    assert '"${QUEUESTATUS}" = "TIMEOUT"]?overflow' in japanese
    assert "(overflow),UserEvent(IvrQueueExit,Queue: japanese,Reason: timeout,Next: english)" in japanese
    assert "(empty),UserEvent(IvrQueueExit,Queue: japanese,Reason: empty,Next: english)" in japanese
    assert "Set(QUEUE_MAX_PENALTY=3)" in basic and "Queue(basic_zh,c,,,)" in basic
    assert "TIMEOUT" not in basic, "no overflow configured for basic_zh"
    assert "QUEUESTATUS}\" = \"CONTINUE\"]?after-call,s,1" in japanese


def test_seat_passwords_are_derived_per_seat_and_not_in_the_catalog(settings: Settings) -> None:
    assert settings.seat_password("1001") != settings.seat_password("1002")
    assert "password" not in settings.catalog.read_text()
    assert f"password = {settings.seat_password('1001')}" in check(settings)["pjsip.conf"]


def test_broken_template_is_reported_with_template_and_line(settings: Settings) -> None:
    path = settings.templates / "queues.conf.j2"
    lines = path.read_text().splitlines()
    lines.insert(3, "strategy = {{ catalog.stratgey }}")
    path.write_text("\n".join(lines) + "\n")

    with pytest.raises(TemplateError) as info:
        render_config(catalog_of(settings), settings)
    assert str(info.value).startswith(f"{path}:4: undefined:")
    assert "stratgey" in str(info.value)


def test_template_syntax_error_is_reported_with_line(settings: Settings) -> None:
    path = settings.templates / "extensions.conf.j2"
    path.write_text(path.read_text() + "{% for x in %}\n")

    with pytest.raises(TemplateError, match=r"extensions\.conf\.j2:\d+: syntax error"):
        check(settings)


def test_goto_to_a_missing_context_is_caught(settings: Settings) -> None:
    files = check(settings)
    files["extensions.conf"] = files["extensions.conf"].replace("Goto(line-vip,s,1)", "Goto(line-vipp,s,1)", 1)

    line = files["extensions.conf"].splitlines().index("exten => 4006695588,1,Goto(line-vipp,s,1)") + 1

    problems = [str(p) for p in check_rendered(files, settings)]
    assert problems == [f"extensions.conf:{line}: Goto(line-vipp,s,1) in [from-pstn]: no context 'line-vipp'"]


def test_application_whose_module_is_not_loaded_is_caught(settings: Settings) -> None:
    files = check(settings)
    files["modules.conf"] = files["modules.conf"].replace("load = res_agi.so\n", "")

    problems = [str(p) for p in check_rendered(files, settings)]
    assert problems and all("needs res_agi.so" in p for p in problems)


def test_missing_label_and_unknown_queue_are_caught(settings: Settings) -> None:
    path = settings.templates / "extensions.conf.j2"
    text = path.read_text().replace("?fallback)", "?fallbak)").replace("Queue({{ queue.id }},c,", "Queue(nosuch,c,")
    path.write_text(text)

    with pytest.raises(CheckFailed) as info:
        check(settings)
    text = str(info.value)
    assert "no priority or label 'fallbak' in s@line-main" in text
    assert "Queue(nosuch): no such queue in queues.conf" in text


def test_render_with_a_broken_catalog_writes_nothing(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = settings.catalog.read_text()
    settings.catalog.write_text(text.replace("fallback_queue: vip\n", "fallback_queue: vipp\n"))
    out = tmp_path / "out"

    code = main(["render", "--catalog", str(settings.catalog), "--templates", str(settings.templates),
                 "--out", str(out)])  # fmt: skip

    assert code == 1
    assert not out.exists()
    assert "numbers[1].fallback_queue: unknown queue 'vipp'" in capsys.readouterr().err


def broken_menu(settings: Settings) -> int:
    """Point a digit of the VIP menu at a node that does not exist; returns its line."""
    lines = settings.catalog.read_text().splitlines()
    vip = lines.index("  vip:", lines.index("menus:"))
    at = next(i for i in range(vip, len(lines)) if lines[i].strip().startswith("digits:")) + 1
    indent = lines[at][: len(lines[at]) - len(lines[at].lstrip())]
    lines.insert(at, f'{indent}"#": {{do: menu, node: nowhere}}')
    settings.catalog.write_text("\n".join(lines) + "\n")
    return at + 1


def test_ivr_check_reports_a_broken_menu_with_file_and_line(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    line = broken_menu(settings)

    code = main(["check", "--catalog", str(settings.catalog), "--templates", str(settings.templates)])

    assert code == 1
    reported = capsys.readouterr().err
    assert f"{settings.catalog}:{line}: menus.vip.nodes.root.digits.#: unknown node 'nowhere'" in reported


@pytest.mark.parametrize("command", [["simulate", "95588"], ["menu-map", "--out", "{tmp}/map.html"]])
def test_commands_that_walk_menus_refuse_a_broken_menu(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    broken_menu(settings)

    code = main([*(arg.format(tmp=tmp_path) for arg in command), "--catalog", str(settings.catalog)])

    assert code == 1
    assert "unknown node 'nowhere'" in capsys.readouterr().err
    assert not (tmp_path / "map.html").exists()


def test_serve_refuses_a_broken_menu_before_starting(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    import ivr.serve

    def run_event_loop(*args: object) -> None:
        raise AssertionError("the service started with a broken menu")

    monkeypatch.setattr(ivr.serve, "run_event_loop", run_event_loop)
    broken_menu(settings)

    assert ivr.serve.serve(settings) == 1


def test_render_replaces_the_output_directory_atomically(settings: Settings, tmp_path: Path) -> None:
    out = tmp_path / "etc"
    out.mkdir()
    (out / "stale.conf").write_text("old")

    write_config(check(settings), out)

    assert not (out / "stale.conf").exists()
    assert (out / "extensions.conf").is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".etc.")]


def catalog_of(settings: Settings):  # type: ignore[no-untyped-def]
    from ivr.catalog.load import load_catalog

    return load_catalog(settings.catalog)
