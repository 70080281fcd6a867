"""A hostile or broken catalog is refused quickly with one line per problem.

The loader runs at `ivr check`, at `ivr serve` start and on `POST /api/reload`,
so no input may hang it, crash it with a traceback, or make it print the input
back at unbounded length. Every "refused" case below ends in a `CatalogError`;
the load runs in a thread and a 20 s deadline only detects a hang (the cases
take milliseconds): no test asserts on speed.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from ivr.catalog.errors import MAX_REPORTED, CatalogError, CatalogIssue
from ivr.catalog.load import (
    MAX_CATALOG_BYTES,
    MAX_DEPTH,
    MAX_SCALAR_CHARS,
    MAX_VALUES,
    load_catalog,
    parse_catalog,
)
from ivr.catalog.model import Catalog

REPO = Path(__file__).resolve().parents[2]
DEMO = (REPO / "callcenter.yaml").read_text(encoding="utf-8")
HANG = 20.0  # seconds: a hang detector, not a speed requirement


def finishes(load: Callable[[], Catalog]) -> CatalogError | Catalog:
    """Run `load` in a daemon thread; its result or CatalogError, or fail if it hangs."""
    outcome: list[CatalogError | Catalog | BaseException] = []

    def run() -> None:
        try:
            outcome.append(load())
        except CatalogError as exc:
            outcome.append(exc)
        except BaseException as exc:  # reported below as the failure it is
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(HANG)
    if thread.is_alive():
        pytest.fail(f"the loader hung for more than {HANG:.0f} s")
    result = outcome[0]
    if not isinstance(result, CatalogError | Catalog):
        raise AssertionError(f"the loader crashed instead of refusing: {result!r}") from result
    return result


def refusal(text: str) -> str:
    """The one-line error for catalog text."""
    result = finishes(lambda: parse_catalog(text, "callcenter.yaml"))
    assert isinstance(result, CatalogError), "the catalog was accepted"
    message = str(result)
    print(message)
    assert len(message.splitlines()) == 1, message[:2000]
    return message


def refusal_of_file(path: Path) -> str:
    result = finishes(lambda: load_catalog(path))
    assert isinstance(result, CatalogError), "the catalog was accepted"
    message = str(result)
    print(message)
    assert len(message.splitlines()) == 1, message[:2000]
    return message


def line_of(text: str, needle: str, occurrence: int = 1) -> int:
    lines = text.splitlines()
    found = [i + 1 for i, line in enumerate(lines) if line == needle]
    return found[occurrence - 1]


BILLION_LAUGHS = 'lol: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"l{i}: &l{i} [{', '.join([f'*{prev}'] * 9)}]\n" for i, prev in enumerate(["a", *[f"l{i}" for i in range(8)]])
)


def test_a_billion_laughs_alias_in_a_validated_field_is_refused_in_under_a_second() -> None:
    text = DEMO.replace("  timezone: Asia/Shanghai\n", "  timezone: *l8\n").replace(
        "center:\n", BILLION_LAUGHS + "center:\n", 1
    )

    line = next(i for i, row in enumerate(text.splitlines(), 1) if row.startswith("lol: &a"))

    message = refusal(text)

    assert (
        message
        == f"callcenter.yaml:{line}: lol: anchors and aliases (&name, *name) are not supported: write the value out"
    )


def test_an_alias_is_refused_even_when_harmless_because_the_catalog_uses_none() -> None:
    assert "&" not in DEMO.replace('"*"', "").split("#")[0]
    text = DEMO.replace("  timezone: Asia/Shanghai\n", "  timezone: &tz Asia/Shanghai\n", 1)

    assert "center.timezone: anchors and aliases" in refusal(text)


def test_a_recursive_alias_is_refused_not_built() -> None:
    assert "anchors and aliases" in refusal("center: &c [*c]\n")


def test_twenty_thousand_deep_block_nesting_is_refused_without_a_traceback() -> None:
    text = "center:\n  " + "- " * 20_000 + "x\n"

    message = refusal(text)

    assert message.startswith("callcenter.yaml:2: center[0]")
    assert message.endswith(f": nested deeper than {MAX_DEPTH} levels")


def test_twenty_thousand_deep_flow_nesting_is_refused_without_a_traceback() -> None:
    message = refusal("center: " + "[" * 20_000 + "]" * 20_000 + "\n")

    # libyaml stops at its own nesting limit before the loader's: either says so.
    assert "nest" in message and message.startswith("callcenter.yaml:1: ")


def test_deep_nesting_of_mappings_is_refused_at_the_depth_limit() -> None:
    text = "center:\n" + "".join("  " * i + "k:\n" for i in range(1, 200))

    assert refusal(text).endswith(f"nested deeper than {MAX_DEPTH} levels")


def test_a_50_megabyte_file_is_refused_by_its_size_before_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "callcenter.yaml"
    with path.open("wb") as file:
        file.write(DEMO.encode())
        file.truncate(50 * 1024 * 1024)  # sparse: the test writes no 50 MB

    message = refusal_of_file(path)

    assert message == (f"{path}: the catalog is 52,428,800 bytes, more than the limit of {MAX_CATALOG_BYTES:,} (1 MiB)")


def test_catalog_text_over_the_size_limit_is_refused() -> None:
    text = DEMO + "#" * MAX_CATALOG_BYTES

    assert "more than the limit of 1,048,576 (1 MiB)" in refusal(text)


def test_a_duplicate_key_is_an_error_naming_both_lines() -> None:
    text = DEMO.replace("    fallback_queue: basic_zh\n", "    fallback_queue: basic_zh\n    fallback_queue: vip\n", 1)
    first = line_of(text, "    fallback_queue: basic_zh")
    second = line_of(text, "    fallback_queue: vip")

    message = refusal(text)

    assert message == f"callcenter.yaml:{second}: numbers[0].fallback_queue: duplicate key (first at line {first})"


def test_keys_yaml_builds_into_the_same_value_are_duplicates() -> None:
    text = 'center: {name: x}\ncalendars:\n  c:\n    open: {}\n    workdays: {2025-10-11: [], "2025-10-11": []}\n'

    assert refusal(text) == ("callcenter.yaml:5: calendars.c.workdays.2025-10-11: duplicate key (first at line 5)")


def test_a_python_object_tag_is_refused_and_never_constructed() -> None:
    text = DEMO.replace("  timezone: Asia/Shanghai\n", "  timezone: !!python/object/apply:os.getpid []\n", 1)
    line = line_of(text, "  timezone: !!python/object/apply:os.getpid []")

    message = refusal(text)

    assert (
        message
        == f"callcenter.yaml:{line}: center.timezone: the tag '!!python/object/apply:os.getpid' is not supported"
    )


@pytest.mark.parametrize("value", ["!!binary aGVsbG8=", "!!set {a, b}", "!!omap [{a: 1}]", "!local x"])
def test_tags_other_than_the_core_yaml_types_are_refused(value: str) -> None:
    assert "is not supported" in refusal(f"center: {{name: {value}}}\n")


def test_a_merge_key_is_refused() -> None:
    text = DEMO.replace("  timezone: Asia/Shanghai\n", "  <<: {timezone: UTC}\n", 1)

    assert refusal(text).endswith("center: merge keys (<<) are not supported: write the keys out")


def test_a_huge_scalar_is_refused_without_being_echoed() -> None:
    text = DEMO.replace("  name: Credit Card Service Center\n", "  name: " + "x" * 1_000_000 + "\n", 1)

    message = refusal(text)

    assert message == f"callcenter.yaml:5: center.name: a value of 1,000,000 characters (at most {MAX_SCALAR_CHARS:,})"


def test_a_long_wrong_value_is_quoted_truncated_in_the_error() -> None:
    text = DEMO.replace("    ring_timeout: 15\n", "    ring_timeout: " + "s" * MAX_SCALAR_CHARS + "\n", 1)

    message = refusal(text)

    assert "queues[0].ring_timeout: Input should be a valid integer" in message
    assert f"(got '{'s' * 60}'... (4,096 characters))" in message
    assert len(message) < 300


def test_an_issue_renders_bounded_and_on_one_line_whatever_its_reason() -> None:
    issue = CatalogIssue("x" * 10_000, "first\nsecond " + "y" * 10_000, 3)

    rendered = issue.render("callcenter.yaml")

    assert "\n" not in rendered and len(rendered) < 1000


def test_thousands_of_problems_are_reported_as_the_first_hundred_and_a_count() -> None:
    seats = "".join(f"  - {{id: '{2001 + i}', name: n, skills: {{nope: 0}}}}\n" for i in range(3000))
    text = DEMO.split("\nseats:")[0] + "\nseats:\n" + seats

    result = finishes(lambda: parse_catalog(text, "callcenter.yaml"))

    assert isinstance(result, CatalogError)
    lines = str(result).splitlines()
    assert len(lines) == MAX_REPORTED + 1
    assert lines[-1].startswith("callcenter.yaml: ... and 2,9") and lines[-1].endswith(" more problems")


def test_more_values_than_the_limit_are_refused() -> None:
    text = "center: [" + ",".join(["0"] * (MAX_VALUES + 10)) + "]\n"

    assert refusal(text).endswith(f"more than {MAX_VALUES:,} values: the catalog is too large")


@pytest.mark.parametrize(("key", "reads_as"), [("no", "true/false"), ("on", "true/false"), ("~", "null")])
def test_a_key_yaml_reads_as_true_false_or_null_must_be_quoted(key: str, reads_as: str) -> None:
    text = DEMO.replace("  timezone: Asia/Shanghai\n", f"  timezone: Asia/Shanghai\n  {key}: 1\n", 1)

    assert refusal(text).endswith(f": the key reads as {reads_as}: quote it")


def test_a_list_as_a_key_is_refused() -> None:
    text = "center:\n  ? [a, b]\n  : 1\n"

    assert refusal(text) == "callcenter.yaml:2: center: a key must be a single value, not a list or mapping"


def test_an_impossible_date_is_a_catalog_error_with_its_line() -> None:
    text = "center: {name: x}\ncalendars: {c: {open: {}, holidays: [2025-13-45]}}\n"

    assert refusal(text) == (
        "callcenter.yaml:2: invalid YAML: cannot read '2025-13-45' as a timestamp: month must be in 1..12"
    )


def test_a_control_character_is_refused_with_its_line() -> None:
    text = DEMO.replace("  auto_login: true\n", "  auto_login: tr\x00ue\n", 1)
    line = line_of(DEMO, "  auto_login: true")

    assert (
        refusal(text)
        == f"callcenter.yaml:{line}: invalid YAML: character U+0000 is not allowed (a control or binary byte)"
    )


def test_bytes_that_are_not_utf8_are_refused_with_their_line(tmp_path: Path) -> None:
    path = tmp_path / "callcenter.yaml"
    path.write_bytes(b"center:\n  name: caf\xe9\n")

    assert refusal_of_file(path) == f"{path}:2: not UTF-8 text: byte 0xe9 cannot be decoded"


def test_a_directory_as_the_catalog_is_refused(tmp_path: Path) -> None:
    assert refusal_of_file(tmp_path) == f"{tmp_path}: cannot read: not a regular file (a directory)"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_as_the_catalog_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    path = tmp_path / "callcenter.yaml"
    os.mkfifo(path)

    assert refusal_of_file(path) == f"{path}: cannot read: not a regular file (a FIFO)"


def test_a_missing_file_says_so_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "missing.yaml"

    assert refusal_of_file(path) == f"{path}: cannot read: No such file or directory"


@pytest.mark.parametrize(
    ("text", "got"),
    [("- center\n- numbers\n", "a list"), ("hello\n", "a single value ('hello')"), ("", "an empty document")],
)
def test_valid_yaml_that_is_not_a_mapping_says_what_it_got(text: str, got: str) -> None:
    assert refusal(text) == f"callcenter.yaml:1: the catalog must be a YAML mapping, got {got}"
