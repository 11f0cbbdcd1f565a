"""The server side of the asyncio SIP transport (`start_listener`) against the project's own client (`open_flow`),
and raw sockets where the client would not misbehave, on 127.0.0.1.

TLS uses the throwaway CA and server certificate of tests/interop/conftest.py (made with the `openssl` command).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import resource
import socket
import ssl
from collections.abc import AsyncIterator
from types import SimpleNamespace

import pytest

from smartbook_tui.sip import SipMessage, SipParseError, SipRequest, SipResponse
from smartbook_tui.sip.aio import (
    ConnectionLost,
    Flow,
    Listener,
    ListenFailed,
    MessageTooLarge,
    Peer,
    PeerGone,
    open_flow,
    start_listener,
)
from tests.peers.sip_kit import LOCALHOST, TIMEOUT, Client, notify, options, response_to


class Server:
    """The listener's callbacks, recording what they get."""

    def __init__(self) -> None:
        self.messages: asyncio.Queue[tuple[SipMessage, Peer]] = asyncio.Queue()
        self.gone: asyncio.Queue[Peer] = asyncio.Queue()

    def on_message(self, message: SipMessage, peer: Peer) -> None:
        self.messages.put_nowait((message, peer))

    def on_disconnect(self, peer: Peer) -> None:
        self.gone.put_nowait(peer)

    async def next_message(self) -> tuple[SipMessage, Peer]:
        return await asyncio.wait_for(self.messages.get(), TIMEOUT)

    async def next_disconnect(self) -> Peer:
        return await asyncio.wait_for(self.gone.get(), TIMEOUT)


@contextlib.asynccontextmanager
async def listening(server: Server, **options: object) -> AsyncIterator[Listener]:
    listener = await start_listener(LOCALHOST, 0, on_message=server.on_message, **options)  # type: ignore[arg-type]
    listener.on_disconnect = server.on_disconnect
    try:
        yield listener
    finally:
        listener.close()
        await asyncio.wait_for(listener.wait_closed(), TIMEOUT)


async def connect(listener: Listener, transport: str, client: Client, **extra: object) -> Flow:
    address = listener.tls_address if transport == "tls" else listener.address
    assert address is not None
    return await open_flow(transport, address, on_message=client.on_message, on_lost=client.on_lost, **extra)


async def hello(flow: Flow, server: Server, number: int = 1) -> Peer:
    """Send an OPTIONS and return the peer the listener sees it from."""
    flow.send(options(flow, number))
    message, peer = await server.next_message()
    assert isinstance(message, SipRequest)
    assert message.cseq == (number, "OPTIONS")
    return peer


async def closed(flow: Flow) -> None:
    flow.close()
    await asyncio.wait_for(flow.wait_closed(), TIMEOUT)


# ------------------------------------------------------------------------------------------------------- tests


async def test_port_zero_gives_udp_and_tcp_the_same_port() -> None:
    async with listening(Server()) as listener:
        host, port = listener.address
        assert host == LOCALHOST
        assert port != 0
        assert listener.tls_address is None
        for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):  # both are taken by the listener
            with socket.socket(socket.AF_INET, kind) as probe, pytest.raises(OSError, match="already in use"):
                probe.bind((LOCALHOST, port))


async def test_a_port_in_use_is_a_clear_error() -> None:
    async with listening(Server()) as listener:
        with pytest.raises(ListenFailed) as caught:
            await start_listener(LOCALHOST, listener.address[1], on_message=Server().on_message)
    assert str(caught.value) == f"cannot listen on 127.0.0.1:{listener.address[1]} over TCP: address already in use"


@pytest.mark.parametrize("transport", ["udp", "tcp", "tls"])
async def test_a_request_arrives_with_its_peer_and_the_answer_goes_back(
    transport: str, request: pytest.FixtureRequest
) -> None:
    tls = request.getfixturevalue("server_context") if transport == "tls" else None
    extra = {"ssl_context": request.getfixturevalue("client_context")} if transport == "tls" else {}
    server = Server()
    async with listening(server, tls=tls) as listener:
        if tls is not None:
            assert listener.tls_address is not None
            assert listener.tls_address[1] not in (0, listener.address[1])
        client = Client()
        flow = await connect(listener, transport, client, **extra)
        flow.send(options(flow))
        received, peer = await server.next_message()
        assert isinstance(received, SipRequest)
        assert received.method == "OPTIONS"
        assert peer.transport == transport.upper()
        assert peer.address == flow.local
        assert (peer.connection is None) == (transport == "udp")
        assert {peer: 1}[Peer(peer.transport, peer.address, peer.connection)] == 1  # a value: equal and hashable
        assert client.messages.empty()  # the listener answers nothing by itself

        listener.send(response_to(received), peer)
        answer, source = await client.next_message()
        assert isinstance(answer, SipResponse)
        assert answer.status == 200
        assert answer.cseq == (1, "OPTIONS")
        assert source == flow.server
        await closed(flow)


@pytest.mark.parametrize("transport", ["udp", "tcp", "tls"])
async def test_a_notify_from_the_server_reaches_the_client_over_its_own_connection(
    transport: str, request: pytest.FixtureRequest
) -> None:
    tls = request.getfixturevalue("server_context") if transport == "tls" else None
    extra = {"ssl_context": request.getfixturevalue("client_context")} if transport == "tls" else {}
    server = Server()
    async with listening(server, tls=tls) as listener:
        client = Client()
        flow = await connect(listener, transport, client, **extra)
        peer = await hello(flow, server)

        listener.send(notify(transport.upper(), flow.server, 5), peer)
        message, source = await client.next_message()
        assert isinstance(message, SipRequest)
        assert message.method == "NOTIFY"
        assert message.cseq == (5, "NOTIFY")
        assert message.body == b"<presence/>"
        assert source == flow.server

        flow.send_to(response_to(message), source)
        answer, answer_peer = await server.next_message()
        assert isinstance(answer, SipResponse)
        assert answer.cseq == (5, "NOTIFY")
        assert answer_peer == peer  # the same connection
        await closed(flow)


async def test_garbage_on_one_tcp_connection_closes_it_and_not_the_others(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="smartbook_tui.sip.aio")
    server = Server()
    async with listening(server) as listener:
        bad_client, good_client = Client(), Client()
        bad = await connect(listener, "tcp", bad_client)
        good = await connect(listener, "tcp", good_client)
        bad_peer = await hello(bad, server, 1)
        good_peer = await hello(good, server, 2)
        assert bad_peer.connection != good_peer.connection

        bad.send_bytes(b"HELLO THERE\r\nthis is not SIP\r\n\r\n")
        await bad_client.wait_lost()
        assert await server.next_disconnect() == bad_peer
        lines = [record.getMessage() for record in caplog.records if "not SIP" in record.getMessage()]
        assert len(lines) == 1
        assert str(bad_peer) in lines[0]
        assert "HELLO THERE" in lines[0]
        with pytest.raises(PeerGone):
            listener.send(notify("TCP", listener.address), bad_peer)

        assert await hello(good, server, 3) == good_peer
        listener.send(notify("TCP", listener.address, 3), good_peer)
        message, _ = await good_client.next_message()
        assert message.cseq == (3, "NOTIFY")
        assert listener.connections == 1
        await closed(good)


async def test_a_peer_whose_connection_closed_is_gone_and_reported() -> None:
    server = Server()
    async with listening(server) as listener:
        flow = await connect(listener, "tcp", Client())
        peer = await hello(flow, server)
        await closed(flow)

        assert await server.next_disconnect() == peer
        assert listener.connections == 0
        with pytest.raises(PeerGone) as caught:
            listener.send(notify("TCP", listener.address), peer)
        assert isinstance(caught.value, ConnectionLost)
        assert str(peer) in str(caught.value)
        with pytest.raises(PeerGone):
            listener.send_bytes(b"\r\n\r\n", peer)


async def test_max_connections_refuses_the_extra_connection(caplog: pytest.LogCaptureFixture) -> None:
    server = Server()
    async with listening(server, max_connections=2) as listener:
        first, second = await connect(listener, "tcp", Client()), await connect(listener, "tcp", Client())
        first_peer = await hello(first, server, 1)
        await hello(second, server, 2)

        extra_client = Client()
        extra = await connect(listener, "tcp", extra_client)  # the kernel accepts; the listener closes it
        await extra_client.wait_lost()
        assert extra.closed
        assert listener.connections == 2
        assert "refused a TCP connection" in caplog.text
        assert server.messages.empty()
        assert server.gone.empty()  # a refused connection was never a peer

        await closed(first)
        assert await server.next_disconnect() == first_peer
        again = await connect(listener, "tcp", Client())  # room again
        await hello(again, server, 3)
        assert listener.connections == 2
        await closed(again)
        await closed(second)


async def test_out_of_file_descriptors_the_listener_pauses_then_serves_the_connections_that_waited(
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = Server()
    async with listening(server) as listener:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        fillers: list[int] = []
        waiting: list[socket.socket] = []
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (len(os.listdir("/proc/self/fd")) + 8, hard))
            with contextlib.suppress(OSError):  # every descriptor taken
                while True:
                    fillers.append(os.open(os.devnull, os.O_RDONLY))
            for _ in range(2):  # two descriptors for two clients, which the kernel connects; none left to accept
                os.close(fillers.pop())
                waiting.append(socket.create_connection(listener.address, timeout=TIMEOUT))
            await asyncio.sleep(0.2)
            assert caplog.text.count("stopped accepting TCP connections for 1 s") == 1  # not a busy loop of it
            assert listener.connections == 0
        finally:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
            for descriptor in fillers:
                os.close(descriptor)
        try:
            for number, sock in enumerate(waiting, 1):
                sock.sendall(options(SimpleNamespace(local=sock.getsockname(), transport="TCP"), number).to_bytes())
                message, _ = await server.next_message()
                assert isinstance(message, SipRequest)
                assert message.cseq == (number, "OPTIONS")
            assert listener.connections == 2
        finally:
            for sock in waiting:
                sock.close()


async def test_idle_timeout_closes_a_quiet_connection() -> None:
    server = Server()
    async with listening(server, idle_timeout=0.3) as listener:
        client = Client()
        flow = await connect(listener, "tcp", client)
        peer = await hello(flow, server)
        assert await client.wait_lost() is None  # an orderly close from the listener
        assert await server.next_disconnect() == peer
        assert listener.connections == 0


async def test_a_double_crlf_ping_gets_a_crlf_pong() -> None:
    server = Server()
    async with listening(server) as listener:
        loop = asyncio.get_running_loop()
        with socket.socket() as sock:
            sock.setblocking(False)
            await loop.sock_connect(sock, listener.address)
            await loop.sock_sendall(sock, notify("TCP", listener.address, 1).to_bytes())
            await server.next_message()
            await loop.sock_sendall(sock, b"\r\n\r\n")
            assert await asyncio.wait_for(loop.sock_recv(sock, 100), TIMEOUT) == b"\r\n"


async def test_a_peer_that_stops_reading_is_cut_off() -> None:
    server = Server()
    async with listening(server, max_write_buffer=64 * 1024) as listener:
        loop = asyncio.get_running_loop()
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.setblocking(False)
            await loop.sock_connect(sock, listener.address)
            await loop.sock_sendall(sock, notify("TCP", listener.address, 1).to_bytes())
            _, peer = await server.next_message()
            big = notify("TCP", listener.address, 2)
            big.body = b"x" * 100_000

            async def flood() -> None:
                for _ in range(2_000):  # far more than the socket buffers hold
                    listener.send(big, peer)
                    await asyncio.sleep(0)

            with pytest.raises(PeerGone) as caught:  # the socket never reads
                await flood()
            assert "stopped reading" in str(caught.value)
            assert await server.next_disconnect() == peer


async def test_udp_garbage_is_dropped_and_the_next_datagram_served(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="smartbook_tui.sip.aio")
    server = Server()
    async with listening(server) as listener:
        flow = await connect(listener, "udp", Client())
        flow.send_bytes(b"\x00\x01 garbage, not SIP \xff")
        flow.send_keepalive()
        peer = await hello(flow, server)  # the first message that arrives
        assert peer.address == flow.local
        assert server.messages.empty()
        assert any("not SIP" in record.getMessage() for record in caplog.records)
        await closed(flow)


async def test_udp_request_with_a_bad_header_is_passed_up() -> None:
    server = Server()
    async with listening(server) as listener:
        flow = await connect(listener, "udp", Client())
        flow.send_bytes(options(flow, 1).to_bytes().replace(b"CSeq: 1 OPTIONS", b"CSeq: nonsense"))
        message, peer = await server.next_message()
        assert isinstance(message, SipRequest)
        assert message.method == "OPTIONS"
        with pytest.raises(SipParseError):
            _ = message.cseq
        assert peer.transport == "UDP"
        await closed(flow)


async def test_a_message_over_the_datagram_size_cannot_go_over_udp() -> None:
    server = Server()
    async with listening(server) as listener:
        udp_client, tcp_client = Client(), Client()
        udp = await connect(listener, "udp", udp_client)
        tcp = await connect(listener, "tcp", tcp_client)
        udp_peer = await hello(udp, server, 1)
        tcp_peer = await hello(tcp, server, 2)
        big = notify("UDP", listener.address, 3)
        big.body = b"x" * 65_508
        with pytest.raises(MessageTooLarge) as caught:
            listener.send(big, udp_peer)
        text = str(caught.value)
        assert "\n" not in text
        assert "65,507" in text
        assert "NOTIFY request" in text

        listener.send(big, tcp_peer)  # a stream carries it
        message, _ = await tcp_client.next_message()
        assert len(message.body) == 65_508
        listener.send(notify("UDP", listener.address, 4), udp_peer)  # UDP still works
        message, _ = await udp_client.next_message()
        assert message.cseq == (4, "NOTIFY")
        await closed(udp)
        await closed(tcp)


async def test_close_ends_every_connection_without_on_disconnect(server_context: ssl.SSLContext) -> None:
    server = Server()
    listener = await start_listener(LOCALHOST, 0, on_message=server.on_message, tls=server_context)
    listener.on_disconnect = server.on_disconnect
    tcp_client = Client()
    tcp = await connect(listener, "tcp", tcp_client)
    peer = await hello(tcp, server)
    listener.close()
    await asyncio.wait_for(listener.wait_closed(), TIMEOUT)
    assert listener.closed
    assert await tcp_client.wait_lost() is None
    assert server.gone.empty()
    with pytest.raises(ConnectionLost, match="is closed"):
        listener.send(notify("TCP", listener.address), peer)
    with socket.socket() as probe:  # the port is free again
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(listener.address)


async def test_a_failing_callback_ends_nothing(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[Peer] = []

    def on_message(message: SipMessage, peer: Peer) -> None:
        seen.append(peer)
        if len(seen) == 1:
            raise RuntimeError("bug in the handler")

    listener = await start_listener(LOCALHOST, 0, on_message=on_message)
    try:
        flow = await open_flow("tcp", listener.address, on_message=Client().on_message)
        flow.send(options(flow, 1))
        flow.send(options(flow, 2))
        for _ in range(200):
            if len(seen) == 2:
                break
            await asyncio.sleep(0.005)
        assert len(seen) == 2
        assert seen[0] == seen[1]
        assert "on_message callback failed" in caplog.text
        assert not flow.closed
        await closed(flow)
    finally:
        listener.close()
        await asyncio.wait_for(listener.wait_closed(), TIMEOUT)


async def test_bad_arguments_are_refused() -> None:
    on_message = Server().on_message
    with pytest.raises(ValueError, match="TLS context"):
        await start_listener(LOCALHOST, 0, on_message=on_message, tls_port=5061)
    with pytest.raises(ValueError, match="bad port"):
        await start_listener(LOCALHOST, 70_000, on_message=on_message)


async def test_accepted_connections_send_without_delay():
    """Nagle's algorithm is off on accepted connections, so a NOTIFY right after a 200 is not held back."""
    seen: list[int] = []

    def on_message(message, peer):
        connection = listener._connections[peer.connection]  # the socket of this very connection
        seen.append(connection._transport.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

    listener = await start_listener("127.0.0.1", 0, on_message=on_message)
    try:
        _, writer = await asyncio.open_connection(*listener.address)
        writer.write(
            b"OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:1;branch=z9hG4bKa\r\n"
            b"From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:x@127.0.0.1>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\n"
            b"Content-Length: 0\r\n\r\n"
        )
        await writer.drain()
        for _ in range(100):
            if seen:
                break
            await asyncio.sleep(0.01)
        writer.close()
        assert seen
        assert seen[0] != 0
    finally:
        listener.close()
        await listener.wait_closed()
