"""Card numbers, PINs and identity numbers never reach a log line in clear."""

from __future__ import annotations

import io
import json

import structlog

from ivr import log as logging_setup
from ivr.log import mask_digits


def render(**event: object) -> str:
    out = io.StringIO()
    logging_setup.configure("debug", json=True)
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=out))
    structlog.get_logger("t").info("event", **event)
    return out.getvalue()


def test_card_number_in_any_string_is_masked_to_its_last_four() -> None:
    line = render(note="caller read 6222 0212 3456 7890 out loud")

    assert "6222 0212 3456 7890" not in line
    assert "7890" in line


def test_sensitive_keys_are_blanked_whatever_their_value() -> None:
    record = json.loads(render(pin="123456", card="4111111111111111", digits="9"))

    assert record["pin"] == record["card"] == record["digits"] == "[redacted]"


def test_identity_number_with_check_letter_is_masked() -> None:
    assert mask_digits("id 11010519491231002X ok") == "id **************002X ok"


def test_traceback_text_is_masked_too() -> None:
    out = io.StringIO()
    logging_setup.configure("debug", json=True)
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=out))
    try:
        raise ValueError("bad card 4111111111111111")
    except ValueError:
        structlog.get_logger("t").exception("failed")

    assert "4111111111111111" not in out.getvalue()
    assert "1111" in out.getvalue()


def test_short_numbers_such_as_service_numbers_stay_readable() -> None:
    assert mask_digits("call 95588 or 4006695588") == "call 95588 or 4006695588"


def test_sensitive_keys_inside_a_nested_mapping_are_blanked() -> None:
    record = json.loads(render(request={"pin": "123456", "line": "main"}))

    assert record["request"] == {"pin": "[redacted]", "line": "main"}


def test_mobile_numbers_are_masked_too_and_the_text_around_them_kept() -> None:
    assert mask_digits("caller 13900000004 called") == "caller *******0004 called"
