"""The project's own AMI (Asterisk Manager Interface) client.

``protocol`` is the sans-IO wire format (parser, message type, action
formatting); ``client`` is the asyncio session on top of it: ActionID pairing,
timeouts, keep-alive, reconnect with backoff, a bounded event queue. Actions
are sent at most once; see ``ivr.ami.client`` for what that means for callers.
"""

from ivr.ami.client import (
    AmiActionError,
    AmiClient,
    AmiClosed,
    AmiConnectionLost,
    AmiError,
    AmiLinkDead,
    AmiLoginFailed,
    AmiNotConnected,
    AmiProtocolError,
    AmiTimeout,
    HeaderArg,
    OnConnected,
    backoff_delay,
    when_loaded,
)
from ivr.ami.protocol import (
    NEED_DATA,
    AmiBanner,
    AmiMessage,
    AmiParser,
    MalformedLine,
    NeedData,
    ParserEvent,
    UnsafeHeader,
    format_action,
)

__all__ = [
    "NEED_DATA",
    "AmiActionError",
    "AmiBanner",
    "AmiClient",
    "AmiClosed",
    "AmiConnectionLost",
    "AmiError",
    "AmiLinkDead",
    "AmiLoginFailed",
    "AmiMessage",
    "AmiNotConnected",
    "AmiParser",
    "AmiProtocolError",
    "AmiTimeout",
    "HeaderArg",
    "MalformedLine",
    "NeedData",
    "OnConnected",
    "ParserEvent",
    "UnsafeHeader",
    "backoff_delay",
    "format_action",
    "when_loaded",
]
