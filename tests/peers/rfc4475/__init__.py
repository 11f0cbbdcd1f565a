"""RFC 4475's SIP torture messages, byte-exact, one file each under the RFC's names (`wsinv.dat`, `intmeth.dat`...),
and what the server answers to each: the valid requests get the answer of their kind, the invalid ones their code.
`baddn.dat` ends with the empty line that ends every SIP head (the RFC's printed message shows it)."""

from __future__ import annotations

from pathlib import Path

DIRECTORY = Path(__file__).parent
DOMAIN = "example.com"  # the RFC's requests are mostly for users of example.com
USER = "user"  # the account the server has; it has no device registered

# The final answer each request gets from a server of example.com with an account `user` and no registration.
# Valid requests get the answer their method and address call for: a challenge, 480 (`user` has no device),
# 404 (no such user), 403 (another domain: no relaying; a Route it did not record), 501 (a method it does not
# know), 483 (Max-Forwards 0).
VALID = {
    "wsinv": 403,  # 3.1.1.1: in a dialog (To tag) through a Route that is not the server's
    "intmeth": 501,  # 3.1.1.2: escaped controls in a quoted display name, an unknown method
    "esc01": 403,  # 3.1.1.3: for example.net
    "escnull": 401,  # 3.1.1.4
    "esc02": 501,  # 3.1.1.5: RE%47IST%45R is not REGISTER
    "lwsdisp": 480,  # 3.1.1.6
    "longreq": 480,  # 3.1.1.7
    "dblreq": 401,  # 3.1.1.8: the INVITE after Content-Length is not read
    "semiuri": 404,  # 3.1.1.9: the user part is `user;par=u@example.net`
    "transports": 480,  # 3.1.1.10
    "mpart01": 403,  # 3.1.1.11: a Route to another server
    "badbranch": 480,  # 3.2.1
    "unksm2": 400,  # 3.3.4: valid, but a registrar refuses a To that is no SIP address
    "invut": 480,  # 3.3.6: the body's type is the callee's to refuse
    "zeromf": 483,  # 3.3.11
    "cparam01": 401,  # 3.3.12
    "cparam02": 401,  # 3.3.13
    "regescrt": 401,  # 3.3.14
    "sdp01": 480,  # 3.3.15
    # Malformed ones the RFC lets an element accept ("liberal in what it accepts"), as the server does:
    "lwsstart": 480,  # 3.1.2.9: several SP in the request line
    "trws": 404,  # 3.1.2.10: SP after the request line
    "escruri": 480,  # 3.1.2.11: escaped headers in the Request-URI (not sent on: the device's contact is)
    "baddate": 480,  # 3.1.2.12: a Date the server does not read
    "regbadct": 401,  # 3.1.2.13: challenged before its Contact is read
    "badaspec": 403,  # 3.1.2.14: spaces around the To addr-spec
    "baddn": 403,  # 3.1.2.15: an unquoted display name with a comma
}
INVALID = {
    "badinv01": (400, "a Via does not read"),  # 3.1.2.1
    "clerr": (400, "Content-Length is 9999"),  # 3.1.2.2
    "ncl": (400, "Content-Length '-999' is not a number"),  # 3.1.2.3
    "scalar02": (400, "CSeq"),  # 3.1.2.4
    "quotbal": (400, "unterminated quoted string"),  # 3.1.2.6
    "ltgtruri": (400, "Request-URI"),  # 3.1.2.7
    "lwsruri": (400, "Request-URI"),  # 3.1.2.8
    "badvers": (505, "SIP/7.0"),  # 3.1.2.16
    "mismatch01": (400, "CSeq names INVITE"),  # 3.1.2.17
    "mismatch02": (400, "CSeq names INVITE"),  # 3.1.2.18
    "insuf": (400, "no From header"),  # 3.3.1
    "unkscm": (416, "nobodyKnowsThisSchem"),  # 3.3.2
    "novelsc": (416, "soap.beep"),  # 3.3.3
    "bext01": (420, "Bad Extension"),  # 3.3.5
    "regaut01": (401, "Unauthorized"),  # 3.3.7: a challenge, not a 400
    "multi01": (400, "appears more than once"),  # 3.3.8
    "mcl01": (400, "conflicting Content-Length"),  # 3.3.9
    "inv2543": (400, "the From header has no tag"),  # 3.4.1: RFC 2543 syntax; the server requires the From tag
}
RESPONSES = {"scalarlg": 503, "unreason": 200, "noreason": 100, "bcast": 200}  # 3.1.2.5, 3.1.1.12, 3.1.1.13, 3.3.10


def read(name: str) -> bytes:
    return (DIRECTORY / f"{name}.dat").read_bytes()


# Over TCP a message is framed by its Content-Length (RFC 3261 18.3): without a usable one the stream is lost, and
# the server answers 400 and closes the connection; clerr's 9999 bytes would be waited for, so it is a datagram's
# case only.
UNFRAMED = ("ncl", "mcl01", "inv2543")
DATAGRAM_ONLY = ("clerr",)
