"""What a REGISTER with a wrong digest response costs the server, for an account that exists and for a name that
does not (issue 13, finding 8): both must cost the same, or accounts can be enumerated by timing.

The server's sans-IO core handles each request (`PresenceServer.receive`, the SQLite store on disk, as `smartbook
server run` has it); the two kinds alternate, so that the machine's noise hits both alike. Printed: each kind's
median, the median of the paired differences (unknown minus known) and its spread (the interquartile range of the
differences divided by the square root of the count: the noise the median difference carries).

    .venv/bin/python bench/auth_timing.py [--pairs 1500] [--repeat 3]
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from smartbook_tui.server.core import PresenceServer, ServerConfig
from smartbook_tui.server.store import Store
from smartbook_tui.sip.auth import Credentials, DigestSession
from smartbook_tui.sip.message import Headers, SipRequest, SipResponse, parse_message
from smartbook_tui.sip.peer import Peer

DOMAIN = "example.org"
PEER = Peer("UDP", ("198.51.100.7", 5060))
_serial = itertools.count()


def register(user: str, authorization: str | None = None) -> SipRequest:
    number = next(_serial)
    headers = Headers(
        [
            ("Via", f"SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK-timing{number}"),
            ("Max-Forwards", "70"),
            ("From", f"<sip:{user}@{DOMAIN}>;tag=t{number}"),
            ("To", f"<sip:{user}@{DOMAIN}>"),
            ("Call-ID", f"timing-{number}"),
            ("CSeq", "1 REGISTER"),
            ("Contact", "<sip:198.51.100.7:5060>"),
            ("Expires", "600"),
        ]
    )
    if authorization is not None:
        headers.add("Authorization", authorization)
    return SipRequest("REGISTER", f"sip:{DOMAIN}", headers)


def wrong_try(server: PresenceServer, user: str) -> SipRequest:
    """A REGISTER answering a fresh challenge as `user` with a wrong password, parsed as the server gets it."""
    (challenge,) = server.receive(register(user), PEER, 0.0)
    response = parse_message(challenge.data)
    assert isinstance(response, SipResponse), response
    assert response.status == 401, response
    value = DigestSession(Credentials(user, "not the password")).answer(
        response.headers.get_all("WWW-Authenticate"), method="REGISTER", uri=f"sip:{DOMAIN}", cnonce="c0ffee"
    )
    return parse_message(register(user, value).to_bytes())  # type: ignore[return-value]


def handled_in(server: PresenceServer, request: SipRequest) -> int:
    """Nanoseconds the server takes to answer `request` (a wrong response: it must be challenged again)."""
    started = time.perf_counter_ns()
    (answer,) = server.receive(request, PEER, 0.0)
    took = time.perf_counter_ns() - started
    assert parse_message(answer.data).status == 401  # type: ignore[union-attr]
    return took


def measure(server: PresenceServer, pairs: int) -> tuple[list[int], list[int]]:
    """(known, unknown) times of `pairs` tries each, alternating which kind goes first."""
    known: list[int] = []
    unknown: list[int] = []
    for number in range(pairs):
        tries = [("alice", known), ("nobody", unknown)]
        for user, times in tries if number % 2 else reversed(tries):
            times.append(handled_in(server, wrong_try(server, user)))
    return known, unknown


def open_server(directory: Path) -> tuple[Store, PresenceServer]:
    store = Store.open(directory / "server.sqlite3")
    store.add_account("alice", DOMAIN, "the password")
    # No rate limit and no backoff, which would answer most tries 503 unchecked (for both kinds alike).
    config = ServerConfig(DOMAIN, {"UDP": "192.0.2.1:5070"}, rate_limit=0, auth_failures=0)
    return store, PresenceServer(config, store, secret=b"k" * 32, token=lambda: f"t{next(_serial)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=1500)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        store, server = open_server(Path(directory))
        with store:
            measure(server, 200)  # warm-up
            for _ in range(args.repeat):
                known, unknown = measure(server, args.pairs)
                differences = [u - k for k, u in zip(known, unknown, strict=True)]
                quartiles = statistics.quantiles(differences, n=4)
                noise = (quartiles[2] - quartiles[0]) / len(differences) ** 0.5
                print(
                    f"{args.pairs} pairs: known {statistics.median(known) / 1000:.1f} us, "
                    f"unknown {statistics.median(unknown) / 1000:.1f} us, "
                    f"median difference {statistics.median(differences) / 1000:+.1f} us (noise +-{noise / 1000:.1f} us)"
                )


if __name__ == "__main__":
    main()
