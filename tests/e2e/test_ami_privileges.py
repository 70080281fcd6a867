"""What each AMI user can do on the real PBX, and what protects AMI.

Asterisk runs an action for a session whose `write` classes share one class
with the action's, and a privilege-0 action (BridgeKick, QueueReset...) for
any logged-in session (main/manager.c). `ListCommands` lists exactly what a
session may run; the lists are pinned here, so any change in Asterisk or in
dialplans/manager.conf.j2 fails a test and is looked at. Logins here are raw
sockets: one try each, no retry, no keep-alive.
"""

from __future__ import annotations

import asyncio
import itertools
import socket
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import pytest
from structlog.testing import capture_logs

from ivr.ami.protocol import NEED_DATA, AmiBanner, AmiMessage, AmiParser, format_action
from ivr.ami.security import ALERT_EVENTS, SecurityWatch
from ivr.reload import reload_session
from tests.e2e.harness import EventLog, Pbx, wait_until

pytestmark = pytest.mark.e2e

# Open to every logged-in user, whatever its classes (registered with privilege 0).
PRIVILEGE_0 = frozenset({
    "BridgeDestroy", "BridgeInfo", "BridgeKick", "BridgeList", "BridgeTechnologyList", "BridgeTechnologySuspend",
    "BridgeTechnologyUnsuspend", "Challenge", "Events", "ListCommands", "Login", "Logoff", "Ping",
    "QueueChangePriorityCaller", "QueueReload", "QueueReset", "QueueRule", "QueueStatus", "QueueSummary",
    "QueueWithdrawCaller", "WaitEvent",
})  # fmt: skip
PINNED: dict[str, frozenset[str]] = {
    "metrics": PRIVILEGE_0,
    "control": PRIVILEGE_0 | {"QueueAdd", "QueueLog", "QueueMemberRingInUse", "QueuePause", "QueuePenalty",
                              "QueueRemove"},
    "reload": PRIVILEGE_0 | {"CreateConfig", "GetConfig", "GetConfigJSON", "ListCategories", "Reload",
                             "ShowDialPlan", "UpdateConfig"},
}  # fmt: skip
# Never for a long-lived session: read or write the configuration (every
# secret), run code or CLI commands, place calls, load modules, write astdb.
DANGEROUS = frozenset({
    "GetConfig", "GetConfigJSON", "UpdateConfig", "CreateConfig", "ListCategories", "Originate", "Command",
    "ModuleLoad", "Reload", "DBPut", "DBDel", "DBDelTree", "Setvar", "Getvar", "Hangup", "Redirect",
    "DialplanExtensionAdd", "PJSIPNotify", "Filter",
})  # fmt: skip
AUTHLIMIT = 10  # dialplans/manager.conf.j2 [general]
_ids = itertools.count(1)


class AmiProbe:
    """One raw AMI connection with a deadline on every read."""

    def __init__(self, port: int, *, host: str = "127.0.0.1", source: str | None = None, timeout: float = 10) -> None:
        self.sock = socket.create_connection((host, port), timeout, source_address=(source, 0) if source else None)
        self.parser = AmiParser()
        self.timeout = timeout
        self.deadline = time.monotonic() + timeout
        banner = self._next()
        assert isinstance(banner, AmiBanner), banner

    def _next(self) -> object:
        while (event := self.parser.next_event()) is NEED_DATA:
            self.sock.settimeout(max(0.01, self.deadline - time.monotonic()))
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionResetError("Asterisk closed the connection")
            self.parser.receive_data(data)
        return event

    def send(self, action: str, /, **headers: str) -> AmiMessage:
        action_id = f"probe-{next(_ids)}"
        self.deadline = time.monotonic() + self.timeout
        self.sock.sendall(format_action(action, action_id, headers))
        while True:
            message = self._next()
            if isinstance(message, AmiMessage) and message.kind == "response" and message.action_id == action_id:
                return message

    def close(self) -> None:
        self.sock.close()


@contextmanager
def logged_in(pbx: Pbx, user: str, secret: str) -> Iterator[AmiProbe]:
    probe = AmiProbe(pbx.settings.ami_port)
    try:
        response = probe.send("Login", Username=user, Secret=secret, Events="off")
        assert response.get("Response") == "Success", f"{user}: {response.get('Message')}"
        yield probe
    finally:
        probe.close()


def credentials(pbx: Pbx, role: str) -> tuple[str, str]:
    s = pbx.settings
    user, secret = {
        "metrics": (s.ami_metrics_user, s.ami_metrics_secret),
        "control": (s.ami_control_user, s.ami_control_secret),
        "reload": (s.ami_reload_user, s.ami_reload_secret),
    }[role]
    return user, secret.get_secret_value()


def permitted_actions(pbx: Pbx, role: str) -> set[str]:
    with logged_in(pbx, *credentials(pbx, role)) as ami:
        response = ami.send("ListCommands")
    assert response.get("Response") == "Success", response
    # One header per action: "QueueAdd: Adds interface to queue. (Priv: agent,all)".
    return {key for key, value in response.headers if "(Priv: " in value}


def wrong_login(port: int, user: str, secret: str) -> str:
    """'refused' (Authentication failed), 'closed' (no banner: over authlimit) or 'ACCEPTED'."""
    try:
        probe = AmiProbe(port, timeout=15)
    except (ConnectionResetError, AssertionError):
        return "closed"
    try:
        response = probe.send("Login", Username=user, Secret=secret, Events="off")
        return "ACCEPTED" if response.get("Response") == "Success" else "refused"
    except ConnectionResetError:
        return "closed"
    finally:
        probe.close()


@pytest.mark.parametrize("role", ["metrics", "control", "reload"])
def test_each_ami_user_can_run_exactly_the_pinned_actions(pbx: Pbx, events: EventLog, role: str) -> None:
    permitted = permitted_actions(pbx, role)

    assert sorted(permitted - PINNED[role]) == [], f"{role} may now run more: review, then pin"
    assert sorted(PINNED[role] - permitted) == [], f"{role} may no longer run these: review, then pin"


def test_the_long_lived_users_cannot_read_config_originate_or_load_modules(pbx: Pbx, events: EventLog) -> None:
    for role in ("metrics", "control"):
        assert sorted(permitted_actions(pbx, role) & DANGEROUS) == [], role


@pytest.mark.parametrize("role", ["metrics", "control"])
def test_the_long_lived_users_are_refused_the_ami_and_sip_secrets(pbx: Pbx, events: EventLog, role: str) -> None:
    secrets = [credentials(pbx, r)[1] for r in ("metrics", "control", "reload")]
    with logged_in(pbx, *credentials(pbx, role)) as ami:
        for filename in ("manager.conf", "pjsip.conf"):
            for action in ("GetConfig", "GetConfigJSON"):
                response = ami.send(action, Filename=filename)

                assert response.get("Response") == "Error", f"{role} {action} {filename}"
                assert response.get("Message") == "Permission denied"
                assert not any(secret in str(response.headers) for secret in secrets)


def test_the_reload_user_cannot_write_the_configuration(pbx: Pbx, events: EventLog) -> None:
    manager_conf = pbx.settings.etc_dir / "manager.conf"
    before = manager_conf.read_bytes()
    with logged_in(pbx, *credentials(pbx, "reload")) as ami:
        update = ami.send("UpdateConfig", SrcFilename="manager.conf", DstFilename="manager.conf", Reload="no",
                          **{"Action-000000": "Append", "Cat-000000": "general", "Var-000000": "authlimit",
                             "Value-000000": "1000"})  # fmt: skip
        create = ami.send("CreateConfig", Filename="ivr-probe.conf")

    assert update.get("Response") == "Error", update
    assert create.get("Response") == "Error", create
    assert manager_conf.read_bytes() == before
    assert not (pbx.settings.etc_dir / "ivr-probe.conf").exists()


def test_the_reload_user_is_logged_in_only_while_a_reload_runs(pbx: Pbx, events: EventLog) -> None:
    def reload_sessions() -> int:
        return sum(1 for line in pbx.cli("manager show connected").splitlines()
                   if line.split()[:1] == [pbx.settings.ami_reload_user])  # fmt: skip

    async def during() -> int:
        async with reload_session(pbx.settings) as ami:
            await ami.action_list("QueueStatus")
            return await asyncio.to_thread(reload_sessions)

    assert asyncio.run(during()) == 1
    assert reload_sessions() == 0


def test_twenty_wrong_logins_are_refused_rate_limited_and_alerted_and_the_right_secret_still_works(
    pbx: Pbx, events: EventLog
) -> None:
    user, secret = credentials(pbx, "control")
    wrong = "wrong-guess-7f3a9c"
    mark = events.mark()

    with ThreadPoolExecutor(max_workers=20) as pool:
        outcomes = list(pool.map(lambda _: wrong_login(pbx.settings.ami_port, user, wrong), range(20)))

    assert "ACCEPTED" not in outcomes
    assert set(outcomes) <= {"refused", "closed"}, outcomes
    refused = outcomes.count("refused")
    assert refused >= 1
    def invalid_passwords() -> list[AmiMessage]:
        return events.find(lambda e: e.name == "InvalidPassword" and e.get("AccountID") == user, since=mark)

    wait_until(lambda: len(invalid_passwords()) >= refused, 20, f"{refused} InvalidPassword events")
    seen = invalid_passwords()
    assert len(seen) == refused
    assert all(e.get("Service") == "AMI" and (e.get("RemoteAddress") or "").startswith("IPV4/TCP/127.0.0.1/")
               for e in seen)  # fmt: skip

    watch = SecurityWatch(frozenset({user}), burst=5)
    with capture_logs() as logs:
        for event in seen:
            watch.observe(event, time.time())
    warnings = [entry for entry in logs if entry["event"] == "ami_login_failed"]
    assert len(warnings) == refused
    assert {(w["account"], w["remote_address"], w["reason"]) for w in warnings} == {(user, "127.0.0.1", "wrong_secret")}
    assert not any(wrong in repr(entry) or secret in repr(entry) for entry in logs)
    assert (refused >= 5) == any(entry["event"] == "ami_login_burst" for entry in logs)

    with logged_in(pbx, user, secret) as ami:
        assert ami.send("Ping").get("Response") == "Success"


def test_past_authlimit_connections_that_have_not_logged_in_are_closed_before_the_banner(
    pbx: Pbx, events: EventLog
) -> None:
    # AUTHLIMIT connections that say nothing (each is closed after authtimeout, 5 s,
    # so the next steps run within that time), then one more: closed at once.
    held = [AmiProbe(pbx.settings.ami_port, timeout=4) for _ in range(AUTHLIMIT)]
    try:
        with pytest.raises((ConnectionResetError, AssertionError, TimeoutError)):
            AmiProbe(pbx.settings.ami_port, timeout=4).close()
    finally:
        for probe in held:
            probe.close()
    # Freed: a guess is answered again, and the right secret works.
    user, secret = credentials(pbx, "control")
    wait_until(lambda: wrong_login(pbx.settings.ami_port, user, "wrong-guess-2") == "refused", 15, "a free slot")
    with logged_in(pbx, user, secret) as ami:
        assert ami.send("Ping").get("Response") == "Success"


def test_ami_listens_on_127_0_0_1_only_and_refuses_any_other_source(pbx: Pbx, events: EventLog) -> None:
    port = pbx.settings.ami_port
    listening = subprocess.run(["ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True, check=True)
    assert [line.split()[3] for line in listening.stdout.splitlines()] == [f"127.0.0.1:{port}"]
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.5", port), 5).close()
    mark = events.mark()
    user, secret = credentials(pbx, "control")

    # The right secret from another loopback address: the users' ACL permits 127.0.0.1 only.
    probe = AmiProbe(port, source="127.0.0.5")
    try:
        response = probe.send("Login", Username=user, Secret=secret, Events="off")
    except ConnectionResetError:
        response = AmiMessage((("Response", "closed"),))
    finally:
        probe.close()

    assert response.get("Response") != "Success"
    event = events.wait_for(lambda e: e.name == "FailedACL" and e.get("AccountID") == user, since=mark,
                            what="FailedACL")  # fmt: skip
    assert (event.get("RemoteAddress") or "").startswith("IPV4/TCP/127.0.0.5/")


def test_an_action_refused_to_the_metrics_user_is_alerted(pbx: Pbx, events: EventLog) -> None:
    user, secret = credentials(pbx, "metrics")
    mark = events.mark()
    with logged_in(pbx, user, secret) as ami:
        assert ami.send("Originate", Channel="Local/1@default", Application="Wait").get("Response") == "Error"

    event = events.wait_for(lambda e: e.name == "RequestNotAllowed" and e.get("AccountID") == user, since=mark,
                            what="RequestNotAllowed")  # fmt: skip
    with capture_logs() as logs:
        SecurityWatch(frozenset({user})).observe(event, time.time())
    assert [(e["event"], e["action"], e["account"]) for e in logs] == [("ami_action_refused", "Originate", user)]


def test_the_metrics_user_never_sees_challenge_responses_or_successful_logins(pbx: Pbx, events: EventLog) -> None:
    user, _ = credentials(pbx, "control")
    mark = events.mark()
    probe = AmiProbe(pbx.settings.ami_port)
    try:
        challenge = probe.send("Challenge", AuthType="MD5")
        assert challenge.get("Challenge")
        with pytest.raises(ConnectionResetError):
            # Refused, then closed: either the answer or the close ends it.
            probe.send("Login", Username=user, AuthType="MD5", Key="0" * 32, Events="off")
            probe.send("Ping")
    finally:
        probe.close()
    with logged_in(pbx, *credentials(pbx, "reload")) as ami:
        ami.send("Originate", Channel="Local/1@default", Application="Wait")  # a RequestNotAllowed after them

    events.wait_for(lambda e: e.name == "RequestNotAllowed", since=mark, what="RequestNotAllowed")
    names = {e.name for e in events.find(lambda e: e.get("Service") is not None, since=mark)}
    assert names <= ALERT_EVENTS
    assert "ChallengeResponseFailed" not in names and "SuccessfulAuth" not in names
