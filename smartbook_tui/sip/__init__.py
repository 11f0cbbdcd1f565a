"""Sans-IO SIP: pure functions and values from bytes to typed messages and back, no sockets, clock or threads.

`message` is the codec (requests, responses, header fields; one UDP datagram or a TCP/TLS stream) and `uri` the
addresses (sip, sips and tel URIs, name-addr). Every bad input raises `SipParseError`, whose message is one line
a person can act on.
"""

from .message import (
    DEFAULT_MAX_BODY,
    MAX_HEADER_BYTES,
    MAX_HEADER_FIELDS,
    Headers,
    SipMessage,
    SipRequest,
    SipResponse,
    StreamParser,
    canonical_header_name,
    is_keepalive,
    parse_message,
    peek_answer,
)
from .uri import (
    NameAddr,
    Param,
    SipParseError,
    SipUri,
    TelUri,
    parse_name_addr,
    parse_sip_uri,
    parse_uri,
    split_list,
    split_params,
)

__all__ = [
    "DEFAULT_MAX_BODY",
    "MAX_HEADER_BYTES",
    "MAX_HEADER_FIELDS",
    "Headers",
    "NameAddr",
    "Param",
    "SipMessage",
    "SipParseError",
    "SipRequest",
    "SipResponse",
    "SipUri",
    "StreamParser",
    "TelUri",
    "canonical_header_name",
    "is_keepalive",
    "parse_message",
    "parse_name_addr",
    "parse_sip_uri",
    "parse_uri",
    "peek_answer",
    "split_list",
    "split_params",
]
