"""Catalog text cannot inject Asterisk configuration.

Names are rendered verbatim (in comments) into pjsip.conf, queues.conf and
extensions.conf: a line break in one would start a line of its own, e.g. an
unauthenticated `[evil]` endpoint with `match = 0.0.0.0/0`. The catalog
refuses such text, and `ivr check` refuses rendered files that hold a section
or option the catalog and templates did not declare, however it got there.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from ivr.catalog.errors import CatalogError
from ivr.catalog.load import load_catalog, parse_catalog
from ivr.catalog.model import Catalog, Center, Language
from ivr.check import CheckFailed, check, check_rendered
from ivr.render import render_config
from ivr.settings import Settings

REPO = Path(__file__).resolve().parents[2]
DEMO = (REPO / "callcenter.yaml").read_text(encoding="utf-8")
EVIL_ENDPOINT = (
    "[evil]\ntype = endpoint\ncontext = from-seat\n[evil-identify]\ntype = identify\nendpoint = evil\nmatch = 0.0.0.0/0"
)


def errors_of(text: str) -> list[str]:
    with pytest.raises(CatalogError) as info:
        parse_catalog(text, "callcenter.yaml")
    return str(info.value).splitlines()


def replaced(old: str, new: str) -> str:
    assert DEMO.count(old) == 1, old
    return DEMO.replace(old, new)




@pytest.fixture
def catalog() -> Catalog:
    return load_catalog(REPO / "callcenter.yaml")


# The catalog refuses the text.


def test_a_seat_name_with_a_newline_is_refused_by_the_catalog() -> None:
    text = replaced('name: "Wang Fang"', 'name: "Wang Fang\\n[evil]\\nmatch = 0.0.0.0/0"')
    line = next(i for i, row in enumerate(text.splitlines(), 1) if "Wang Fang" in row)

    (error,) = errors_of(text)
    assert error.startswith(f"callcenter.yaml:{line}: seats[0].name: ")
    assert "no line break or control character (found U+000A at position 9)" in error


def test_a_line_name_with_a_newline_is_refused_by_the_catalog() -> None:
    text = replaced("name: Main hotline (服务专线)", 'name: "Main hotline\\n[evil-ctx]\\nexten => s,1,Hangup()"')

    (error,) = errors_of(text)
    assert "numbers[0].name: " in error and "found U+000A" in error


def test_a_queue_name_with_a_newline_is_refused_by_the_catalog() -> None:
    text = replaced("name: Mandarin basic service", 'name: "Mandarin\\n[evil]\\nstrategy = ringall"')

    (error,) = errors_of(text)
    assert "queues[0].name: " in error and "found U+000A" in error


@pytest.mark.parametrize(
    ("old", "new", "path"),
    [
        ("name: Credit Card Service Center", 'name: "Credit Card\\n[evil]"', "center.name"),
        ("name: English, voice: en}", 'name: "English\\n[evil]", voice: en}', "languages[1].name"),
        ("label: Main menu\n", 'label: "Main menu\\n[evil]"\n', "menus.main.nodes.root.label"),
    ],
)
def test_every_other_display_name_with_a_newline_is_refused_by_the_catalog(old: str, new: str, path: str) -> None:
    (error,) = errors_of(replaced(old, new))

    assert f": {path}: " in error and "found U+000A" in error


@pytest.mark.parametrize(
    "char", ["\r", "\x00", "\x0b", "\x1b", "\x85", "\u2028", "\u2029", "\u202e", "\u200b", "\ufeff"]
)
def test_a_carriage_return_control_or_invisible_character_in_a_name_is_refused(char: str) -> None:
    escaped = f"\\u{ord(char):04x}"
    text = replaced('name: "Li Na"', f'name: "Li{escaped}Na"')

    (error,) = errors_of(text)
    assert "seats[1].name: " in error and f"found U+{ord(char):04X} at position 2" in error


@pytest.mark.parametrize("char", [";", "[", "]", "\\\\", '\\"'])
def test_asterisk_config_syntax_in_a_name_is_refused(char: str) -> None:
    text = replaced('name: "Li Na"', f'name: "Li {char} Na"')

    (error,) = errors_of(text)
    assert "seats[1].name: " in error and "(Asterisk config syntax; found at position 3)" in error


def test_a_name_may_be_any_script_up_to_80_characters() -> None:
    for name in ("张三", "信用卡中心", "Lost card (挂失/盗刷, 24h)", "한국어 상담", "O'Brien-Smith", "信" * 80):
        assert parse_catalog(replaced('name: "Li Na"', f'name: "{name}"')).seats[1].name == name

    (error,) = errors_of(replaced('name: "Li Na"', f'name: "{"信" * 81}"'))
    assert "seats[1].name: String should have at most 80 characters" in error


def test_a_queue_cannot_be_called_general_which_is_app_queues_own_section() -> None:
    (error,) = errors_of(replaced("  - id: care\n", "  - id: general\n"))

    assert "queues[11].id: Value error, 'general' is reserved: it is the [general] section of queues.conf" in error


def test_a_voice_must_be_a_voice_name_not_a_command_line_option() -> None:
    for voice in ("--path=/tmp/voices", "-w/tmp/out.wav", "../../voices/x", "en\n-w x"):
        with pytest.raises(ValidationError, match=r"voice\n  String should match pattern"):
            Language.model_validate({"code": "en", "name": "English", "voice": voice})
    assert Language.model_validate({"code": "zh", "name": "普通话", "voice": "cmn-latn-pinyin"}).voice


def test_a_time_zone_must_be_a_zone_name() -> None:
    for zone in ("Asia/Shanghai\n[evil]", "Asia/" + "x" * 64, "../etc/localtime"):
        with pytest.raises(ValidationError, match=r"timezone\n  String should match pattern"):
            Center.model_validate({"name": "Center", "timezone": zone})
    assert Center.model_validate({"name": "Center", "timezone": "Etc/GMT-8"}).timezone == "Etc/GMT-8"


# The rendered files hold exactly what the catalog declares, even when the
# catalog model is bypassed.


def test_a_seat_name_that_bypasses_the_catalog_model_cannot_add_an_endpoint(
    settings: Settings, catalog: Catalog
) -> None:
    seat = catalog.seats[0].model_copy(update={"name": f"Wang Fang\n{EVIL_ENDPOINT}"})
    tampered = catalog.model_copy(update={"seats": (seat, *catalog.seats[1:])})

    with pytest.raises(CheckFailed) as info:
        check(settings, tampered)
    problems = str(info.value).splitlines()
    assert problems[0].startswith("pjsip.conf:")
    assert problems[0].endswith(": [evil]: type 'endpoint' section not declared by the catalog")
    assert any(p.endswith(": [evil-identify]: type 'identify' section not declared by the catalog") for p in problems)


def test_a_line_name_that_bypasses_the_catalog_model_cannot_add_a_context(settings: Settings, catalog: Catalog) -> None:
    number = catalog.numbers[1].model_copy(update={"name": "VIP line\n[evil-ctx]\nexten => s,1,Hangup()"})
    tampered = catalog.model_copy(update={"numbers": (catalog.numbers[0], number, *catalog.numbers[2:])})

    line = render_config(tampered, settings)["extensions.conf"].splitlines().index("[evil-ctx]") + 1

    with pytest.raises(CheckFailed) as info:
        check(settings, tampered)
    problems = [p for p in str(info.value).splitlines() if "[evil-ctx]" in p]
    assert problems == [f"extensions.conf:{line}: [evil-ctx]: section not declared by the catalog"]


def test_a_queue_name_that_bypasses_the_catalog_model_cannot_add_a_queue_or_option(
    settings: Settings, catalog: Catalog
) -> None:
    queue = catalog.queues[1].model_copy(update={"name": "English\n[evil]\nstrategy = ringall"})
    other = catalog.queues[2].model_copy(update={"name": "Japanese\npermit = 0.0.0.0/0"})
    tampered = catalog.model_copy(update={"queues": (catalog.queues[0], queue, other, *catalog.queues[3:])})

    with pytest.raises(CheckFailed) as info:
        check(settings, tampered)
    problems = str(info.value).splitlines()
    assert any(
        p.startswith("queues.conf:") and p.endswith(": [evil]: section not declared by the catalog") for p in problems
    )
    assert any(
        p.startswith("queues.conf:")
        and p.endswith(": [english]: option 'permit' is not written by the templates in queue sections")
        for p in problems
    )


def test_a_template_that_writes_an_extra_section_fails_ivr_check(settings: Settings) -> None:
    path = settings.templates / "pjsip.conf.j2"
    path.write_text(path.read_text() + "\n" + EVIL_ENDPOINT + "\n")

    with pytest.raises(CheckFailed) as info:
        check(settings)
    assert "pjsip.conf:" in str(info.value)
    assert "[evil]: type 'endpoint' section not declared by the catalog" in str(info.value)


def test_a_template_that_writes_an_undeclared_option_fails_ivr_check(settings: Settings) -> None:
    path = settings.templates / "queues.conf.j2"
    path.write_text(path.read_text().replace("ringinuse = no\n", "ringinuse = no\nmember => PJSIP/9999\n"))

    with pytest.raises(CheckFailed) as info:
        check(settings)
    assert "queues.conf:" in str(info.value)
    assert "[basic_zh]: option 'member' is not written by the templates in queue sections" in str(info.value)


def test_a_match_or_permit_added_to_a_rendered_seat_endpoint_is_named_with_file_line_and_section(
    settings: Settings, catalog: Catalog
) -> None:
    files = check(settings)
    pjsip = files["pjsip.conf"].replace(
        "auth = auth-1001\n", "auth = auth-1001\nmatch = 0.0.0.0/0\npermit = 0.0.0.0/0\n"
    )
    line = pjsip.splitlines().index("match = 0.0.0.0/0") + 1

    problems = [str(p) for p in check_rendered({**files, "pjsip.conf": pjsip}, settings, catalog)]

    assert problems == [
        f"pjsip.conf:{line}: [1001]: option 'match' is not written by the templates in endpoint sections",
        f"pjsip.conf:{line + 1}: [1001]: option 'permit' is not written by the templates in endpoint sections",
    ]


def test_a_second_match_in_the_trunk_identify_is_caught(settings: Settings, catalog: Catalog) -> None:
    files = check(settings)
    pjsip = files["pjsip.conf"].replace("match = 127.0.0.2/32\n", "match = 127.0.0.2/32\nmatch = 0.0.0.0/0\n")
    line = pjsip.splitlines().index("match = 0.0.0.0/0") + 1

    problems = [str(p) for p in check_rendered({**files, "pjsip.conf": pjsip}, settings, catalog)]

    assert problems == [f"pjsip.conf:{line}: [pstn-identify]: option 'match' set twice"]


def test_an_injected_section_in_rendered_extensions_conf_is_caught(settings: Settings, catalog: Catalog) -> None:
    files = check(settings)
    dialplan = files["extensions.conf"].replace("[after-call]\n", "[evil]\nexten => s,1,Hangup()\n\n[after-call]\n")
    line = dialplan.splitlines().index("[evil]") + 1

    problems = [str(p) for p in check_rendered({**files, "extensions.conf": dialplan}, settings, catalog)]

    assert problems == [f"extensions.conf:{line}: [evil]: section not declared by the catalog"]


def test_an_option_before_the_first_section_is_caught(settings: Settings, catalog: Catalog) -> None:
    files = check(settings)
    queues = "autopause = all\n" + files["queues.conf"]

    problems = [str(p) for p in check_rendered({**files, "queues.conf": queues}, settings, catalog)]

    assert problems == ["queues.conf:1: option 'autopause' outside any section"]


def test_a_control_character_in_a_rendered_file_is_caught(settings: Settings, catalog: Catalog) -> None:
    files = check(settings)
    pjsip = files["pjsip.conf"].replace("user_agent = ivr-pbx\n", "user_agent = ivr-pbx\rmatch = 0.0.0.0/0\n")
    line = pjsip.split("\n").index("user_agent = ivr-pbx\rmatch = 0.0.0.0/0") + 1

    problems = [str(p) for p in check_rendered({**files, "pjsip.conf": pjsip}, settings, catalog)]

    assert f"pjsip.conf:{line}: control character U+000D: rendered text must be printable" in problems


def test_a_section_the_catalog_declares_but_the_files_lack_is_caught(settings: Settings, catalog: Catalog) -> None:
    files = check(settings)
    queues = files["queues.conf"].replace("[care]\n", "[kare]\n")

    problems = [str(p) for p in check_rendered({**files, "queues.conf": queues}, settings, catalog)]

    assert any(p.endswith(": [kare]: section not declared by the catalog") for p in problems)
    assert "queues.conf: [care]: queue section declared by the catalog is missing" in problems
