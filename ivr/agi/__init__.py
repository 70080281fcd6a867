"""FastAGI: the sans-IO protocol core (:mod:`.protocol`) and its asyncio server (:mod:`.server`).

Asterisk's dialplan runs ``AGI(agi://127.0.0.1:4573/<script>,<line>)``; the
server routes each call by ``<script>`` to a handler that drives the channel
through an :class:`AgiSession`; :mod:`.auth` checks the per-call token that
proves a connection comes from the deployment's Asterisk (:class:`AgiAuth`);
:mod:`.stats` counts sessions, faults, hang-ups and command latency, which
:mod:`.prometheus` exposes on /metrics.
`bench/agi_pool.py` adds worker processes on the same port, for the benchmark.
"""

from ivr.agi.auth import AgiAuth, AgiKeyError
from ivr.agi.protocol import (
    NEED_DATA,
    AgiConnection,
    AgiEvent,
    AgiProtocolError,
    AgiRequest,
    AgiResponse,
    ConnectionClosed,
    ConnectionState,
    HangupNotice,
    InvalidCommandArgument,
    LocalProtocolError,
    NeedData,
    RemoteProtocolError,
    decode_lenient,
    format_command,
    format_header,
    validate_digits,
)
from ivr.agi.server import (
    AgiCommandError,
    AgiCommandFailed,
    AgiError,
    AgiHangup,
    AgiSession,
    AgiTimeout,
    FastAgiServer,
    Handler,
    Handover,
)

__all__ = [
    "NEED_DATA",
    "AgiAuth",
    "AgiCommandError",
    "AgiCommandFailed",
    "AgiConnection",
    "AgiError",
    "AgiEvent",
    "AgiHangup",
    "AgiKeyError",
    "AgiProtocolError",
    "AgiRequest",
    "AgiResponse",
    "AgiSession",
    "AgiTimeout",
    "ConnectionClosed",
    "ConnectionState",
    "FastAgiServer",
    "Handler",
    "Handover",
    "HangupNotice",
    "InvalidCommandArgument",
    "LocalProtocolError",
    "NeedData",
    "RemoteProtocolError",
    "decode_lenient",
    "format_command",
    "format_header",
    "validate_digits",
]
