"""Setting several channel variables: one EXEC MSet when every name and value is plain, one SET
VARIABLE each otherwise (MSet splits on `,` and `=`, and Asterisk substitutes `${...}` in EXEC)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from ivr.agi import AgiHangup, AgiSession, FastAgiServer, InvalidCommandArgument
from tests.unit.agi.test_agi_server import FakeAsterisk, Outcome, Peers, header


@pytest.fixture
async def served() -> AsyncIterator[list[FastAgiServer]]:
    servers: list[FastAgiServer] = []
    yield servers
    for server in servers:
        await server.close()


@pytest.fixture
async def peers() -> AsyncIterator[Peers]:
    opened = Peers()
    yield opened
    await opened.aclose()


HANDOFF = (("IVR_QUEUE", "basic_zh"), ("IVR_PRIORITY", "0"), ("__IVR_LANG", "zh"), ("CHANNEL(language)", "zh"),
           ("__IVR_PATH", "main>root>1>billing>#"), ("__IVR_REASON", "agent"))  # fmt: skip


async def run(
    peers: Peers, served: list[FastAgiServer], pairs: tuple[tuple[str, str], ...]
) -> tuple[Outcome, FakeAsterisk]:
    outcome = Outcome()

    async def body(session: AgiSession) -> None:
        await session.set_variables(pairs)

    server = FastAgiServer("127.0.0.1", 0, {"route": outcome.handler(body)})
    await server.start()
    served.append(server)
    return outcome, await peers.call(server.port, header())


async def test_plain_variables_are_set_with_one_mset(peers: Peers, served: list[FastAgiServer]) -> None:
    outcome, pbx = await run(peers, served, HANDOFF)
    await pbx.exchange(
        "EXEC MSet IVR_QUEUE=basic_zh,IVR_PRIORITY=0,__IVR_LANG=zh,CHANNEL(language)=zh,"
        "__IVR_PATH=main>root>1>billing>#,__IVR_REASON=agent",
        "200 result=0",
    )
    await outcome.wait()
    assert outcome.error is None


@pytest.mark.parametrize(
    "value", ["a,b", "a=b", "${EVIL}", "$[1+1]", "two words", "a(b)", "x;y", "a|b", "a&b", "é"]
)  # fmt: skip
async def test_a_value_mset_could_misread_falls_back_to_one_set_variable_each(
    peers: Peers, served: list[FastAgiServer], value: str
) -> None:
    outcome, pbx = await run(peers, served, (("IVR_A", "1"), ("IVR_B", value)))
    await pbx.exchange("SET VARIABLE IVR_A 1", "200 result=1")
    quoted = f'"{value}"' if " " in value else value
    await pbx.exchange(f"SET VARIABLE IVR_B {quoted}", "200 result=1")
    await outcome.wait()
    assert outcome.error is None


async def test_one_variable_is_one_set_variable(peers: Peers, served: list[FastAgiServer]) -> None:
    outcome, pbx = await run(peers, served, (("IVR_A", "1"),))
    await pbx.exchange("SET VARIABLE IVR_A 1", "200 result=1")
    await outcome.wait()
    assert outcome.error is None


async def test_a_bad_name_is_refused_before_anything_is_sent(peers: Peers, served: list[FastAgiServer]) -> None:
    outcome, _pbx = await run(peers, served, (("IVR_A", "1"), ("BAD NAME", "2")))
    await outcome.wait()
    assert isinstance(outcome.error, InvalidCommandArgument)


async def test_a_caller_hanging_up_during_the_mset_is_a_hangup(peers: Peers, served: list[FastAgiServer]) -> None:
    outcome, pbx = await run(peers, served, HANDOFF[:2])
    await pbx.exchange("EXEC MSet IVR_QUEUE=basic_zh,IVR_PRIORITY=0", "200 result=-1\nHANGUP")
    await outcome.wait()
    assert isinstance(outcome.error, AgiHangup)
