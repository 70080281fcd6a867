"""An IVR call's trace: one `ivr` object in the line that ends the call (ivr.callflow.flow).

A fake Asterisk answers the route's commands as a caller would who types the
given entries, one per collection; the directory knows the caller."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime
from decimal import Decimal

import structlog

from ivr.agi import FastAgiServer
from ivr.callflow import CallFlow
from ivr.catalog.model import Catalog
from ivr.directory.model import Card, Customer
from tests.unit.agi.test_agi_hangups import NoCustomers, catalog, peers  # noqa: F401 (fixtures)
from tests.unit.agi.test_agi_server import DEADLINE, FakeAsterisk, Peers

CARD_LAST4, PIN = "4321", "246810"
CUSTOMER = Customer("c-1", "Demo", "standard", "zh", (Card(CARD_LAST4),), Decimal("12.30"), Decimal("45.60"),
                    date(2026, 12, 20))  # fmt: skip


class OneCustomer(NoCustomers):
    """The directory knows the caller and the PIN; nothing else is asked."""

    def by_caller_id(self, ani: str) -> Customer | None:
        return CUSTOMER

    def verify_pin(self, customer_id: str, card_last4: str, pin: str) -> bool:
        return (customer_id, card_last4, pin) == (CUSTOMER.id, CARD_LAST4, PIN)


def header() -> bytes:
    return (
        b"agi_network: yes\nagi_network_script: route\nagi_request: agi://127.0.0.1:4573/route\n"
        b"agi_channel: PJSIP/pstn-00000007\nagi_uniqueid: 1732810412.14\nagi_callerid: 13900000004\n"
        b"agi_arg_1: main\n\n"
    )


async def caller_typing(pbx: FakeAsterisk, entries: list[str]) -> None:
    """Answer every command until the server closes: each entry is typed at the next collection
    (its first key ends the prompt playing, GET DATA gets the rest); prompts play through otherwise."""
    typed = ""  # what is left of the entry being typed
    while True:
        async with asyncio.timeout(DEADLINE):
            line = (await pbx.reader.readline()).decode()
        if not line:
            return
        if line.startswith("STREAM FILE") and not line.rstrip().endswith('""') and entries and not typed:
            typed = entries.pop(0)
            key, typed = typed[0], typed[1:]
            await pbx.reply(f"200 result={ord(key)} endpos=800\n")
        elif line.startswith("STREAM FILE"):
            await pbx.reply("200 result=0 endpos=8000\n")
        elif line.startswith("GET DATA"):
            rest, typed = typed, ""
            await pbx.reply(f"200 result={rest}\n")
        elif line.startswith("WAIT FOR DIGIT"):
            await pbx.reply("200 result=0\n")
        else:  # EXEC MSet, SET VARIABLE, ...
            await pbx.reply("200 result=0\n")


async def test_the_end_line_carries_the_calls_steps_with_a_secret_entry_as_its_length_and_the_handoff(
    peers: Peers, catalog: Catalog  # noqa: F811 (the fixtures imported above)
) -> None:
    flow = CallFlow(catalog, OneCustomer, "/srv/ivr/sounds", clock=lambda: datetime(2026, 12, 3, 3, 0, tzinfo=UTC),
                    lookups_inline=True, variables_at_once=True)  # fmt: skip
    server = FastAgiServer("127.0.0.1", 0, {"route": flow.handle})
    await server.start()
    try:
        with structlog.testing.capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
            pbx = await peers.call(server.port, header())
            # Billing, balance, the card's last four, the PIN; then 0 for an agent, each time it is offered.
            # It returns when the server has closed: the call's lines are written before that.
            await caller_typing(pbx, ["1", "1", CARD_LAST4, PIN, *["0"] * 5])
    finally:
        await server.close()

    call_lines = [e for e in logs if e.get("uniqueid") == "1732810412.14" and e["log_level"] != "debug"]
    assert [(e["event"], e["log_level"]) for e in call_lines] == [("agi_call_finished", "info")]
    trace = call_lines[0]["ivr"]
    assert (trace["recognised"], trace["tier"], trace["open"]) == (True, "standard", True)
    keys = [step for step in trace["steps"] if step.startswith(("keys", "pin"))]
    assert keys[:4] == ["keys 1", "keys 1", "keys (4 secret)", "keys (6 secret)"]
    assert keys[4] == "pin ok"
    assert trace["handoff"]["verified"] is True
    assert trace["handoff"]["queue"]
    assert any(step.startswith("play ") for step in trace["steps"])
    rendered = json.dumps(call_lines[0])
    assert CARD_LAST4 not in rendered and PIN not in rendered
