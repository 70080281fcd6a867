"""The AMI client against a scripted manager port on loopback (real sockets).

Every wait has a deadline (``DEADLINE``); no test waits for time to pass except
where the behaviour under test is a timeout, and those use short timeouts with
generous deadlines around them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from structlog.testing import capture_logs

from ivr.ami import (
    AmiActionError,
    AmiClient,
    AmiClosed,
    AmiConnectionLost,
    AmiLinkDead,
    AmiLoginFailed,
    AmiMessage,
    AmiNotConnected,
    AmiProtocolError,
    AmiTimeout,
    backoff_delay,
)

from .fake_ami import DEADLINE, SECRET, USERNAME, FakeAmi, FakeConnection
from .transcripts import (
    QUEUE_CALLER_JOIN,
    QUEUE_MEMBER_STATUS,
    error_response,
    message,
    queue_status,
)

StartClient = Callable[..., Awaitable[AmiClient]]


@pytest.fixture
async def server() -> AsyncIterator[FakeAmi]:
    fake = FakeAmi()
    await fake.start()
    yield fake
    await fake.close()


@pytest.fixture
async def start_client(server: FakeAmi) -> AsyncIterator[StartClient]:
    """Start clients against ``server`` with test-friendly timings; close them afterwards."""
    running: list[tuple[AmiClient, asyncio.Task[None]]] = []

    async def start(*, wait: bool = True, **options: Any) -> AmiClient:
        settings: dict[str, Any] = {
            "name": "t",
            "action_timeout": 2.0,
            "ping_interval": 60.0,
            "backoff_initial": 0.01,
            "backoff_max": 0.05,
        }
        settings.update(options)
        secret = settings.pop("secret", SECRET)
        client = AmiClient("127.0.0.1", server.port, USERNAME, secret, **settings)
        task = asyncio.create_task(client.run())
        running.append((client, task))
        if wait:
            assert await client.wait_connected(DEADLINE), "client did not log in"
        return client

    yield start
    for client, task in running:
        await client.close()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def eventually(predicate: Callable[[], bool], what: str) -> None:
    """Wait, with a deadline, for client state that has no event of its own to await
    (a counter, ``last_error``): poll it; never sleep a fixed "long enough"."""
    try:
        async with asyncio.timeout(DEADLINE):
            while not predicate():  # noqa: ASYNC110 -- polled state, see docstring
                await asyncio.sleep(0.005)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


async def next_event(client: AmiClient) -> AmiMessage:
    async with asyncio.timeout(DEADLINE):
        return await client.next_event()


async def events_until(client: AmiClient, name: str) -> list[str]:
    """Names of the queued events up to and including the first ``name``."""
    names: list[str] = []
    while not names or names[-1] != name:
        names.append((await next_event(client)).name)
    return names


# --------------------------------------------------------------------------- login


async def test_logs_in_with_the_configured_user_and_asks_for_events(server: FakeAmi, start_client: StartClient) -> None:
    client = await start_client()

    assert client.connected
    ((_, login),) = server.actions("Login")
    assert (login["Username"], login["Secret"], login["Events"]) == (USERNAME, SECRET, "on")
    assert client.banner is not None and client.banner.text == "Asterisk Call Manager/9.0.0"
    assert (await next_event(client)).name == "FullyBooted"


async def test_events_off_asks_asterisk_for_no_events(server: FakeAmi, start_client: StartClient) -> None:
    await start_client(events_off=True)

    ((_, login),) = server.actions("Login")
    assert login["Events"] == "off"


async def test_a_refused_login_is_logged_as_ami_login_failed_and_retried_with_backoff(
    server: FakeAmi, start_client: StartClient
) -> None:
    with capture_logs() as logs:
        client = await start_client(wait=False, secret="wrong-Secret-Value")
        await server.wait_until(lambda: len(server.actions("Login")) >= 3, "three login attempts")

    assert not client.connected
    assert isinstance(client.last_error, AmiLoginFailed)
    assert client.last_error.message == "Authentication failed"
    failures = [e for e in logs if e["event"] == "ami_login_failed"]
    assert len(failures) >= 2
    assert failures[0]["username"] == USERNAME
    assert failures[0]["message"] == "Authentication failed"
    assert "wrong-Secret-Value" not in repr(logs)
    assert any(e["event"] == "ami_reconnect_scheduled" for e in logs)


async def test_the_secret_is_never_logged_nor_in_the_repr(start_client: StartClient) -> None:
    with capture_logs() as logs:
        client = await start_client()
        await client.action("QueueStatus")
        await client.close()

    assert SECRET not in repr(logs)
    assert SECRET not in repr(client)


async def test_a_port_that_is_not_asterisk_is_a_protocol_error() -> None:
    fake = FakeAmi(banner="SSH-2.0-OpenSSH_9.2p1\r\n")
    await fake.start()
    client = AmiClient("127.0.0.1", fake.port, USERNAME, SECRET, backoff_initial=0.01)
    task = asyncio.create_task(client.run())
    try:
        # A second connection means the first attempt has ended and been recorded.
        await fake.wait_until(lambda: len(fake.connections) >= 2, "a retry")
        assert isinstance(client.last_error, AmiProtocolError)
        assert not client.connected
        assert fake.actions("Login") == []
    finally:
        await client.close()
        await task
        await fake.close()


# --------------------------------------------------------------------------- actions


async def test_responses_are_paired_by_action_id_when_asterisk_answers_out_of_order(
    server: FakeAmi, start_client: StartClient
) -> None:
    held: list[AmiMessage] = []

    def answer_in_reverse(conn: FakeConnection, action: AmiMessage) -> None:
        held.append(action)
        if len(held) == 2:
            for pending in reversed(held):
                iface = pending["Interface"]
                conn.send(message("Response: Success", f"ActionID: {pending.action_id}", f"Message: {iface}"))

    server.handlers["queueadd"] = answer_in_reverse
    client = await start_client()

    first, second = await asyncio.gather(
        client.action("QueueAdd", Queue="vip", Interface="PJSIP/1001"),
        client.action("QueueAdd", Queue="vip", Interface="PJSIP/1002"),
    )

    assert first["Message"] == "PJSIP/1001"
    assert second["Message"] == "PJSIP/1002"


async def test_action_ids_are_unique_and_carry_the_client_name(server: FakeAmi, start_client: StartClient) -> None:
    client = await start_client(name="metrics")

    await asyncio.gather(*(client.action("QueueSummary") for _ in range(5)))

    ids = [m.action_id or "" for conn in server.connections for m in conn.received]
    assert len(set(ids)) == len(ids) == 6  # Login + 5
    assert all(i.startswith("metrics-") for i in ids)


async def test_an_unanswered_action_times_out_and_its_late_answer_is_ignored(
    server: FakeAmi, start_client: StartClient
) -> None:
    silent: list[AmiMessage] = []
    server.handlers["queuepause"] = lambda conn, action: silent.append(action)
    client = await start_client(action_timeout=0.2)

    with pytest.raises(AmiTimeout) as raised:
        await client.action("QueuePause", Interface="PJSIP/1001", Paused="true")

    assert raised.value.action == "QueuePause"
    late_id = silent[0].action_id
    server.connections[0].send(message("Response: Success", f"ActionID: {late_id}"))
    assert (await client.action("Ping"))["Ping"] == "Pong"
    assert client.connected


async def test_an_error_response_raises_ami_action_error_carrying_asterisks_message(
    server: FakeAmi, start_client: StartClient
) -> None:
    server.handlers["queueremove"] = lambda conn, action: conn.send(
        error_response(action.action_id or "", "Unable to remove interface: Not there")
    )
    client = await start_client()

    with pytest.raises(AmiActionError) as raised:
        await client.action("QueueRemove", Queue="vip", Interface="PJSIP/1009")

    assert raised.value.message == "Unable to remove interface: Not there"
    assert raised.value.response.name == "Error"
    assert client.connected


async def test_an_action_before_login_is_refused_at_once_and_never_sent_later(
    server: FakeAmi, start_client: StartClient
) -> None:
    client = AmiClient("127.0.0.1", server.port, USERNAME, SECRET)

    with pytest.raises(AmiNotConnected):
        await client.action("QueuePause", Interface="PJSIP/1001", Paused="true")

    started = await start_client()
    await started.action("Ping")
    assert server.actions("QueuePause") == []
    await client.close()


async def test_header_injection_is_refused_before_anything_is_sent(server: FakeAmi, start_client: StartClient) -> None:
    client = await start_client()

    with pytest.raises(ValueError):
        await client.action("QueueAdd", Queue="vip\r\nAction: Originate", Interface="PJSIP/1")

    await client.action("Ping")
    assert server.actions("QueueAdd") == []
    assert server.actions("Originate") == []


async def test_ints_and_lists_are_written_as_amis_text_and_repeated_keys(
    server: FakeAmi, start_client: StartClient
) -> None:
    client = await start_client()

    await client.action("Originate", Timeout=30000, Async=True, Variable=["A=1", "B=2"])

    ((_, originate),) = server.actions("Originate")
    assert originate["Timeout"] == "30000"
    assert originate["Async"] == "true"
    assert originate.get_all("Variable") == ["A=1", "B=2"]


# --------------------------------------------------------------------------- event lists


async def test_action_list_collects_queue_status_until_complete_and_keeps_it_off_the_queue(
    server: FakeAmi, start_client: StartClient
) -> None:
    def queue_status_with_an_event_in_between(conn: FakeConnection, action: AmiMessage) -> None:
        transcript = queue_status(action.action_id or "")
        cut = transcript.index("Event: QueueMember\r\n")
        conn.send(transcript[:cut] + QUEUE_MEMBER_STATUS + transcript[cut:])

    server.handlers["queuestatus"] = queue_status_with_an_event_in_between
    server.handlers["userevent"] = lambda conn, action: conn.send(
        message("Event: UserEvent", "UserEvent: marker") + message("Response: Success", f"ActionID: {action.action_id}")
    )
    client = await start_client()

    response, entries = await client.action_list("QueueStatus", Queue="cards-standard")
    await client.action("UserEvent", UserEvent="marker")

    assert response["Message"] == "Queue status will follow"
    assert [e.name for e in entries] == ["QueueParams", "QueueMember", "QueueEntry"]
    assert entries[2]["Uniqueid"] == "1732810412.14"
    assert await events_until(client, "UserEvent") == [
        "FullyBooted",
        "QueueMemberStatus",
        "UserEvent",
    ]


async def test_a_refused_list_action_raises_at_once(server: FakeAmi, start_client: StartClient) -> None:
    server.handlers["coreshowchannels"] = lambda conn, action: conn.send(
        error_response(action.action_id or "", "Permission denied")
    )
    client = await start_client()

    with pytest.raises(AmiActionError, match="Permission denied"):
        await client.action_list("CoreShowChannels")


async def test_a_list_that_never_completes_times_out_and_its_late_items_are_discarded(
    server: FakeAmi, start_client: StartClient
) -> None:
    held: list[AmiMessage] = []

    def ack_only(conn: FakeConnection, action: AmiMessage) -> None:
        held.append(action)
        transcript = queue_status(action.action_id or "")
        conn.send(transcript[: transcript.index("Event: QueueParams")])

    server.handlers["queuestatus"] = ack_only
    server.handlers["userevent"] = lambda conn, action: conn.send(
        message("Event: UserEvent", "UserEvent: marker") + message("Response: Success", f"ActionID: {action.action_id}")
    )
    client = await start_client(action_timeout=0.2)

    with pytest.raises(AmiTimeout):
        await client.action_list("QueueStatus")
    transcript = queue_status(held[0].action_id or "")
    server.connections[0].send(transcript[transcript.index("Event: QueueParams") :])
    await client.action("UserEvent", UserEvent="marker")

    assert await events_until(client, "UserEvent") == ["FullyBooted", "UserEvent"]


async def test_an_event_answering_a_plain_action_still_reaches_the_queue(
    server: FakeAmi, start_client: StartClient
) -> None:
    server.handlers["originate"] = lambda conn, action: conn.send(
        message("Response: Success", f"ActionID: {action.action_id}", "Message: Originate queued")
        + message("Event: OriginateResponse", f"ActionID: {action.action_id}", "Response: Success")
    )
    client = await start_client()

    response = await client.action("Originate", Channel="PJSIP/1001", Async="true")

    assert await events_until(client, "OriginateResponse") == ["FullyBooted", "OriginateResponse"]
    assert response["Message"] == "Originate queued"


# --------------------------------------------------------------------------- link loss


async def test_reconnects_after_asterisk_closes_the_connection_and_resyncs_again(
    server: FakeAmi, start_client: StartClient
) -> None:
    server.handlers["queuestatus"] = lambda conn, action: conn.send(queue_status(action.action_id or ""))
    resyncs: list[int] = []
    resynced = asyncio.Event()

    async def resync(client: AmiClient) -> None:
        _, entries = await client.action_list("QueueStatus")
        resyncs.append(len(entries))
        resynced.set()

    client = await start_client(on_connected=resync)
    async with asyncio.timeout(DEADLINE):
        await resynced.wait()
    resynced.clear()
    assert client.reconnects == 0
    assert not client.needs_resync

    with capture_logs() as logs:
        server.connections[0].drop()
        async with asyncio.timeout(DEADLINE):
            await resynced.wait()

    assert resyncs == [3, 3]
    assert client.connected
    assert client.reconnects == 1
    assert len(server.connections) == 2
    assert isinstance(client.last_error, AmiConnectionLost)
    assert [e["event"] for e in logs if e["log_level"] != "debug"][:3] == [
        "ami_disconnected",
        "ami_reconnect_scheduled",
        "ami_connected",
    ]


async def test_an_action_pending_when_the_link_drops_fails_and_is_not_resent(
    server: FakeAmi, start_client: StartClient
) -> None:
    server.handlers["queuepause"] = lambda conn, action: conn.drop()
    client = await start_client()

    with pytest.raises(AmiConnectionLost):
        await client.action("QueuePause", Interface="PJSIP/1001", Paused="true")

    await server.wait_until(lambda: len(server.connections) == 2, "the reconnection")
    assert await client.wait_connected(DEADLINE)
    await client.action("Ping")  # the new connection is in use ...
    assert [index for index, _ in server.actions("QueuePause")] == [0]  # ... and got no replay


async def test_an_unanswered_ping_means_a_dead_link_and_a_reconnect(server: FakeAmi, start_client: StartClient) -> None:
    logins: list[int] = []
    relogged = asyncio.Event()

    async def on_connected(client: AmiClient) -> None:
        logins.append(client.reconnects)
        if len(logins) == 2:
            server.answer_pings = True
            relogged.set()

    server.answer_pings = False
    client = await start_client(ping_interval=0.05, ping_timeout=0.2, on_connected=on_connected)

    async with asyncio.timeout(DEADLINE):
        await relogged.wait()

    assert logins == [0, 1]
    assert isinstance(client.last_error, AmiLinkDead)
    assert [index for index, _ in server.actions("Ping")][:1] == [0]
    await server.wait_until(lambda: server.connections[0].closed, "the dead link closed")


async def test_pings_that_are_answered_keep_the_link(server: FakeAmi, start_client: StartClient) -> None:
    client = await start_client(ping_interval=0.02, ping_timeout=1.0)

    await server.wait_until(lambda: len(server.actions("Ping")) >= 5, "five pings")

    assert client.connected
    assert client.reconnects == 0
    assert len(server.connections) == 1


# --------------------------------------------------------------------------- event queue


async def test_a_full_event_queue_drops_new_events_counts_them_and_asks_for_a_resync(
    server: FakeAmi, start_client: StartClient
) -> None:
    server.handlers["userevent"] = lambda conn, action: conn.send(
        QUEUE_CALLER_JOIN * 10 + message("Response: Success", f"ActionID: {action.action_id}")
    )
    synced = asyncio.Event()

    async def resync(client: AmiClient) -> None:
        synced.set()

    client = await start_client(event_queue_size=3, on_connected=resync)
    async with asyncio.timeout(DEADLINE):
        await synced.wait()
    await eventually(lambda: not client.needs_resync, "on_connected to finish")

    with capture_logs() as logs:
        await client.action("UserEvent", UserEvent="burst")  # its answer follows the 10 events

    assert client.dropped_events == 8  # FullyBooted + 2 joins fit
    assert client.needs_resync
    assert [e["event"] for e in logs].count("ami_events_dropped") == 1
    assert [(await next_event(client)).name for _ in range(3)] == [
        "FullyBooted",
        "QueueCallerJoin",
        "QueueCallerJoin",
    ]
    assert client.connected


async def test_a_malformed_line_is_counted_and_the_next_event_still_arrives(
    server: FakeAmi, start_client: StartClient
) -> None:
    client = await start_client()
    assert (await next_event(client)).name == "FullyBooted"

    with capture_logs() as logs:
        server.connections[0].send_bytes(b"this is not a header\r\n" + QUEUE_CALLER_JOIN.encode())
        event = await next_event(client)

    assert event.name == "QueueCallerJoin"
    assert event.channel_variables()["IVR_LINE"] == "main"
    assert client.malformed_lines == 1
    assert [e["event"] for e in logs] == ["ami_malformed_line"]
    assert client.connected


# --------------------------------------------------------------------------- close


async def test_close_logs_off_ends_run_and_ends_event_iteration(server: FakeAmi, start_client: StartClient) -> None:
    client = await start_client()
    seen: list[str] = []

    async def consume() -> None:
        async for event in client.events():
            seen.append(event.name)

    consumer = asyncio.create_task(consume())
    await client.close()

    async with asyncio.timeout(DEADLINE):
        await consumer
    assert seen == ["FullyBooted"]
    assert len(server.actions("Logoff")) == 1
    assert not client.connected
    with pytest.raises(AmiClosed):
        await client.action("Ping")
    with pytest.raises(AmiClosed):
        await client.next_event()


async def test_close_while_asterisk_is_unreachable_returns_promptly() -> None:
    fake = FakeAmi()
    await fake.start()
    port = fake.port
    await fake.close()  # nothing listens there any more
    client = AmiClient("127.0.0.1", port, USERNAME, SECRET, backoff_initial=5.0, backoff_max=5.0)
    task = asyncio.create_task(client.run())
    await eventually(lambda: client.last_error is not None, "the refused connection")

    async with asyncio.timeout(DEADLINE):
        await client.close()
        await task

    assert isinstance(client.last_error, OSError)


# --------------------------------------------------------------------------- backoff


def test_backoff_ceiling_doubles_from_initial_up_to_the_cap() -> None:
    ceilings = [backoff_delay(n, 0.5, 15.0, rand=lambda: 1.0) for n in range(8)]

    assert ceilings == [0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 15.0, 15.0]
    assert backoff_delay(10_000, 0.5, 15.0, rand=lambda: 1.0) == 15.0


def test_backoff_jitter_stays_in_the_upper_half_of_the_ceiling() -> None:
    assert backoff_delay(3, 0.5, 15.0, rand=lambda: 0.0) == 2.0
    for attempt in range(10):
        assert 0.25 <= backoff_delay(attempt, 0.5, 15.0) <= 15.0


def test_invalid_timings_are_refused_at_construction() -> None:
    with pytest.raises(ValueError, match="ping_timeout"):
        AmiClient("127.0.0.1", 5038, "u", "s", ping_timeout=0)
