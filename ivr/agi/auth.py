"""Who may run a FastAGI script: a token only the deployment's Asterisk can compute.

Theory of operation
-------------------
FastAGI (res_agi.c) carries no authentication: whoever connects to the port
and writes an ``agi_*`` header is "Asterisk". The server listens on loopback
only (:class:`~ivr.agi.server.FastAgiServer` and ``ivr check`` refuse
anything else), which keeps other hosts out, not local processes.

Each deployment has a key, 64 hex characters in a file that only the service
and Asterisk can read (``Settings.agi_key_file``, ``<run dir>/agi.key``,
root:asterisk 0640 like the rendered configuration, seen by the container as
``/srv/ivr/agi.key``); the service creates it when missing
(:meth:`AgiAuth.from_key_file`). The dialplan never holds the key in a
variable: every ``AGI()`` call reads it with ``FILE()`` inside the expression
that computes the call's token, and appends the token to the script::

    AGI(agi://host:port/<script>?auth=<time>.<token>,<arg1>,<arg2>,...)
    token = SHA1(K2 + SHA1(K1 + "<uniqueid>|<time>|<script>|<arg1>,<arg2>,..."))

with ``K1``, ``K2`` the key's two halves (``FILE(path,0,32)``,
``FILE(path,32,32)``) and ``<time>`` the channel's ``${EPOCH}`` when it
enters ``AGI()``. SHA1() is the only digest the dialplan has (no HMAC); the
nested, keyed form is HMAC's shape: the outer hash covers a fixed-length input
under its own key, so a token cannot be length-extended into one for a longer
message.

Why a digest and not the key itself: Asterisk logs every application with
its arguments after substitution (verbose 3, ``Executing [...] AGI(...)``)
and every ``[globals]`` value on each reload (verbose 2), into messages.log.
Neither FILE() nor SHA1() is logged, so messages.log shows the per-call token,
never the key. FILE() may be called from the dialplan with
``live_dangerously = no`` (the default): only threads serving AMI, HTTP/ARI
or Stasis inhibit such functions (pbx_functions.c).

The server recomputes the token from the header (``agi_uniqueid``, whose
format is checked strictly, the script, the arguments) and compares in
constant time. A token is bound to one channel, one script and one set of
arguments, is fresh for :data:`MAX_AGE` seconds and is accepted once per
process: a token copied from messages.log cannot serve another seat, another
script or a second time. What it still relies on: the key file and the run
directory are readable only by the service and Asterisk (the same holds for
the AMI and SIP secrets rendered next to it), and a process that reads
messages.log as it is written could, in the few microseconds before Asterisk
connects, use a token first for the very same request.

Cost: a regular expression, two SHA-1 of under 200 bytes and a dict look-up
per call, before any task exists: a few microseconds, whatever the input.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from ivr.agi.protocol import AgiRequest

__all__ = ["KEY_CHARS", "MAX_AGE", "AgiAuth", "AgiKeyError"]

# 32 random bytes as hex: two halves of 128 bits, K1 and K2.
KEY_CHARS: Final = 64
_HALF: Final = KEY_CHARS // 2
# How old (by the token's own time, Asterisk's clock: the same host's) a token may be.
MAX_AGE: Final = 30.0
# Tolerated lead of Asterisk's clock over ours (a container shares the host's clock).
_MAX_LEAD: Final = 5.0
# Tokens remembered to refuse a second use; more than MAX_AGE seconds of calls never fit here.
_MAX_SEEN: Final = 200_000
_KEY = re.compile(rb"[0-9a-f]{64}\s*")
# Asterisk's own format, `[<systemname>-]<epoch>.<counter>` (channel_internal_api.c).
# Ids assigned by Originate or ARI can be anything: this dialplan never runs AGI on one.
_UNIQUEID = re.compile(r"(?:[A-Za-z0-9_-]{1,63}-)?[0-9]{1,19}\.[0-9]{1,10}")
_SCRIPT = re.compile(r"[A-Za-z0-9_-]{1,64}")
_QUERY = re.compile(r"auth=([0-9]{1,19})\.([0-9a-f]{40})")


class AgiKeyError(Exception):
    """The key file is unusable: ``path`` says which, the message why (never the key)."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path


def _digest(inner: hashlib._Hash, outer: hashlib._Hash, message: bytes) -> str:
    first = inner.copy()
    first.update(message)
    second = outer.copy()
    second.update(first.hexdigest().encode("ascii"))
    return second.hexdigest()


class AgiAuth:
    """Checks the token the dialplan appends to each FastAGI script (see the module's docstring)."""

    __slots__ = ("_inner", "_outer", "_seen")

    def __init__(self, key: bytes) -> None:
        if _KEY.fullmatch(key) is None:
            raise ValueError(f"an AGI key is {KEY_CHARS} lowercase hex characters")
        # Hash states primed with each half: a call only feeds its message.
        self._inner = hashlib.sha1(key[:_HALF])
        self._outer = hashlib.sha1(key[_HALF:KEY_CHARS])
        # Tokens already used -> when they expire (insertion order is time order, near enough).
        self._seen: dict[str, float] = {}

    def __repr__(self) -> str:
        return "AgiAuth(<key hidden>)"

    @classmethod
    def from_key_file(cls, path: Path, *, group: int | None = None) -> AgiAuth:
        """Read the deployment's key; create it first (atomically) when the file is missing.

        A new file is made readable by its owner and ``group`` only (0640):
        the PBX's ``asterisk`` group, as for the rendered configuration
        (:data:`ivr.render.ASTERISK_GID`). Without the right to give it to that
        group (not root), it stays the owner's. An existing file is used as it
        is: an operator may make it (``openssl rand -hex 32``) and own its mode.
        """
        try:
            return cls(path.read_bytes())
        except FileNotFoundError:
            pass
        except ValueError:
            raise AgiKeyError(path, f"not an AGI key ({KEY_CHARS} lowercase hex characters)") from None
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
        key = secrets.token_hex(KEY_CHARS // 2).encode("ascii")
        try:
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(key)
            if group is not None:
                with contextlib.suppress(PermissionError):
                    os.chown(partial, -1, group)
                os.chmod(partial, 0o640)
            try:
                os.link(partial, path)  # never replaces a key another process made meanwhile
            except FileExistsError:
                return cls.from_key_file(path)
        finally:
            partial.unlink(missing_ok=True)
        return cls(key)

    def token(self, uniqueid: str, time: int, script: str, args: Sequence[str]) -> str:
        """The token the dialplan computes for this call (tests, benchmarks, tools)."""
        return _digest(self._inner, self._outer, _message(uniqueid, str(time), script, args))

    def query(self, uniqueid: str, time: int, script: str, args: Sequence[str]) -> str:
        """What the dialplan appends to the script: ``auth=<time>.<token>``."""
        return f"auth={time}.{self.token(uniqueid, time, script, args)}"

    def check(self, request: AgiRequest, now: float) -> str | None:
        """``None`` when the request carries a valid, fresh, unused token; else why not (loggable)."""
        script, _, query = request.env.get("network_script", "").partition("?")
        match = _QUERY.fullmatch(query)
        if match is None:
            return "no_token"
        time, token = match.groups()
        uniqueid = request.uniqueid
        if _UNIQUEID.fullmatch(uniqueid) is None:
            return "malformed_uniqueid"
        if _SCRIPT.fullmatch(script) is None:
            return "malformed_script"
        args = request.args
        joined = ",".join(args)
        if joined.count(",") != max(len(args) - 1, 0):
            return "malformed_args"  # a comma inside one argument: two splits would share a token
        expected = _digest(self._inner, self._outer, _message(uniqueid, time, script, joined))
        if not hmac.compare_digest(expected, token):
            return "bad_token"
        age = now - int(time)
        if age > MAX_AGE or age < -_MAX_LEAD:
            return "stale_token"
        seen = self._seen
        if token in seen:
            return "replayed_token"
        self._remember(token, now)
        return None

    def _remember(self, token: str, now: float) -> None:
        seen = self._seen
        while seen:
            oldest = next(iter(seen))
            if seen[oldest] > now and len(seen) < _MAX_SEEN:
                break
            del seen[oldest]
        seen[token] = now + MAX_AGE + _MAX_LEAD


def _message(uniqueid: str, time: str, script: str, args: Sequence[str] | str) -> bytes:
    joined = args if isinstance(args, str) else ",".join(args)
    return f"{uniqueid}|{time}|{script}|{joined}".encode()
