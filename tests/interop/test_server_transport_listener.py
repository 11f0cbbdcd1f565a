"""The listener's connection limits in process, over TCP and TLS, against the project's own client (`open_flow`) and
raw sockets on loopback: the per-address cap, the deadlines and the 413 for a body over the cap. The same limits
in the server process are in test_server_transport_limits.py.

TLS uses the throwaway CA and server certificate of tests/interop/conftest.py.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl

import pytest

from smartbook_tui.sip import SipResponse, StreamParser
from tests.interop.test_sip_listener import Server, connect, listening
from tests.peers.sip_kit import TIMEOUT, Client, options

OTHER_ADDRESS = "127.0.0.2"


def tls_options(transport: str, request: pytest.FixtureRequest) -> tuple[dict[str, object], dict[str, object]]:
    """The listener's and the client's extra arguments for `transport`."""
    if transport != "tls":
        return {}, {}
    listener = {"tls": request.getfixturevalue("server_context")}
    return listener, {"ssl_context": request.getfixturevalue("client_context")}


async def test_past_the_per_address_cap_new_connections_are_closed_and_another_address_is_served(
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = Server()
    loop = asyncio.get_running_loop()
    async with listening(server, max_connections_per_address=2) as listener:
        held = [await connect(listener, "tcp", Client()) for _ in range(2)]
        for number, flow in enumerate(held, 1):
            flow.send(options(flow, number))
            await server.next_message()
        refused = []
        for _ in range(20):
            client = Client()
            refused.append(await connect(listener, "tcp", client))  # the kernel accepts; the listener closes it
            await client.wait_lost()
        assert listener.connections == 2
        lines = [record for record in caplog.records if "over the cap of 2 per address" in record.getMessage()]
        assert len(lines) == 1  # not one a connection

        with socket.socket() as other:
            other.setblocking(False)
            other.bind((OTHER_ADDRESS, 0))
            await loop.sock_connect(other, listener.address)
            request = options(held[0], 3)
            await loop.sock_sendall(other, request.to_bytes())
            _, peer = await server.next_message()
            assert peer.address[0] == OTHER_ADDRESS

        held[0].close()
        await held[0].wait_closed()
        again = await connect(listener, "tcp", Client())  # its slot is free again
        again.send(options(again, 4))
        await server.next_message()
        for flow in [*held, *refused, again]:
            flow.close()


@pytest.mark.parametrize("transport", ["tcp", "tls"])
async def test_a_connection_without_a_whole_message_is_closed_and_one_that_sent_it_stays(
    transport: str, request: pytest.FixtureRequest
) -> None:
    listener_extra, client_extra = tls_options(transport, request)
    server = Server()
    async with listening(server, first_message_timeout=0.3, message_timeout=0.3, **listener_extra) as listener:
        silent_client, half_client, talker_client = Client(), Client(), Client()
        silent = await connect(listener, transport, silent_client, **client_extra)
        half = await connect(listener, transport, half_client, **client_extra)
        talker = await connect(listener, transport, talker_client, **client_extra)
        talker.send(options(talker, 1))
        await server.next_message()
        half.send_bytes(options(half, 2).to_bytes()[:40])  # begun, never finished
        assert await silent_client.wait_lost() is None  # an orderly close from the listener's side
        await half_client.wait_lost()
        talker.send(options(talker, 3))  # still open, well past both deadlines
        message, _ = await server.next_message()
        assert message.cseq == (3, "OPTIONS")
        assert not talker.closed
        for flow in (silent, half, talker):
            flow.close()


@pytest.mark.parametrize("transport", ["tcp", "tls"])
async def test_a_request_over_the_body_cap_gets_413_then_the_connection_ends(
    transport: str, request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="smartbook_tui.sip.aio")
    listener_extra, _ = tls_options(transport, request)
    client_context: ssl.SSLContext | None = request.getfixturevalue("client_context") if transport == "tls" else None
    server = Server()
    async with listening(server, max_body=1_000, **listener_extra) as listener:
        address = listener.tls_address if transport == "tls" else listener.address
        assert address is not None
        reader, writer = await asyncio.open_connection(*address, ssl=client_context)
        head = b"".join(
            options_line.encode() + b"\r\n"
            for options_line in (
                "OPTIONS sip:example.org SIP/2.0",
                "Via: SIP/2.0/TCP 127.0.0.1:5999;branch=z9hG4bK-big",
                "From: <sip:alice@example.org>;tag=a",
                "To: <sip:example.org>",
                "Call-ID: big@test",
                "CSeq: 1 OPTIONS",
                "Content-Length: 5000",
                "",
            )
        )
        writer.write(head + b"x" * 2_000)
        received = await asyncio.wait_for(reader.read(), TIMEOUT)  # until the listener ends the connection
        writer.close()
        answers = StreamParser().feed(received)
        assert len(answers) == 1
        assert isinstance(answers[0], SipResponse)
        assert answers[0].status == 413
        assert answers[0].headers.get("Call-ID") == "big@test"
        assert answers[0].to_tag  # RFC 3261 8.2.6.2
        assert server.messages.empty()
        assert "answered 413 to the OPTIONS request" in caplog.text
