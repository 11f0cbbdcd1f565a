"""The asyncio SIP transports (`smartbook_tui.sip.aio`) against small in-test SIP servers on 127.0.0.1.

Each server answers OPTIONS with 200 OK and can push a NOTIFY to the client over the same socket or connection, as
a resource list server does. TLS uses a throwaway CA and server certificate made with the `openssl` command.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections.abc import AsyncIterator

import pytest

from smartbook_tui.sip import SipMessage, SipParseError, SipRequest, SipResponse, StreamParser, parse_message
from smartbook_tui.sip.aio import (
    ConnectFailed,
    ConnectionLost,
    Flow,
    MessageTooLarge,
    TlsError,
    TransportError,
    open_flow,
)
from tests.peers.sip_kit import LOCALHOST, TIMEOUT, Client, notify, options, response_to

# ---------------------------------------------------------------------------------------------- certificates


# ------------------------------------------------------------------------------------------------------ server


class SipPeer:
    """A tiny asyncio SIP server on 127.0.0.1: answers OPTIONS with 200, records what it receives, and pushes
    NOTIFYs or raw bytes to its last client over the same socket or connection."""

    def __init__(self, transport: str, context: ssl.SSLContext | None = None) -> None:
        self.transport = transport
        self.context = context
        self.received: asyncio.Queue[tuple[SipMessage, tuple[str, int]]] = asyncio.Queue()
        self.connected = asyncio.Event()
        self.client: tuple[str, int] | None = None  # the last client's address as the server sees it
        self.mode = "normal"  # "split": 200 written one byte at a time; "with_notify": 200 + NOTIFY in one write
        self.reading = asyncio.Event()  # cleared: the server stops reading its connections
        self.reading.set()
        self._writers: list[asyncio.StreamWriter] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._server: asyncio.Server | None = None
        self._udp: asyncio.DatagramTransport | None = None
        self.address: tuple[str, int] = (LOCALHOST, 0)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        if self.transport == "udp":
            peer = self

            class Protocol(asyncio.DatagramProtocol):
                def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
                    peer.client = addr
                    peer.connected.set()
                    if data.strip(b"\r\n"):
                        peer._handle(parse_message(data), addr)

            self._udp, _ = await loop.create_datagram_endpoint(Protocol, local_addr=(LOCALHOST, 0))
            self.address = self._udp.get_extra_info("sockname")[:2]
        else:
            self._server = await asyncio.start_server(self._serve, LOCALHOST, 0, ssl=self.context)
            self.address = self._server.sockets[0].getsockname()[:2]

    async def stop(self) -> None:
        if self._udp is not None:
            self._udp.close()
        self.reading.set()
        for writer in self._writers:
            writer.close()
        if self._server is not None:
            self._server.close()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=TIMEOUT)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.append(writer)
        self._tasks.append(asyncio.current_task())  # type: ignore[arg-type]
        self.client = writer.get_extra_info("peername")[:2]
        self.connected.set()
        parser = StreamParser()
        try:
            while True:
                await self.reading.wait()
                data = await reader.read(65536)
                if not data:
                    break
                for message in parser.feed(data):
                    self._handle(message, self.client)
        except (ConnectionError, ssl.SSLError, SipParseError):
            pass
        finally:
            writer.close()

    def _handle(self, message: SipMessage, source: tuple[str, int]) -> None:
        self.received.put_nowait((message, source))
        if isinstance(message, SipRequest) and message.method == "OPTIONS":
            answer = response_to(message).to_bytes()
            if self.mode == "split":
                self._tasks.append(asyncio.get_running_loop().create_task(self._dribble(answer)))
                return
            if self.mode == "with_notify":
                answer += self.notify_bytes()
            self.push(answer, source)

    async def _dribble(self, data: bytes) -> None:
        writer = self._writers[-1]
        for index in range(len(data)):
            writer.write(data[index : index + 1])
            await writer.drain()
            await asyncio.sleep(0.0005)

    def notify_bytes(self, number: int = 1) -> bytes:
        return notify(self.transport.upper(), self.address, number).to_bytes()

    def push(self, data: bytes, address: tuple[str, int] | None = None) -> None:
        """Send raw bytes to the last client (UDP: as one datagram)."""
        if self._udp is not None:
            self._udp.sendto(data, address or self.client)
        else:
            self._writers[-1].write(data)

    def drop_connection(self) -> None:
        self._writers[-1].close()

    async def next_message(self) -> tuple[SipMessage, tuple[str, int]]:
        return await asyncio.wait_for(self.received.get(), TIMEOUT)


@contextlib.asynccontextmanager
async def running(transport: str, context: ssl.SSLContext | None = None) -> AsyncIterator[SipPeer]:
    peer = SipPeer(transport, context)
    await peer.start()
    try:
        yield peer
    finally:
        await peer.stop()


async def connect(peer: SipPeer, client: Client, **options: object) -> Flow:
    return await open_flow(
        peer.transport, peer.address, on_message=client.on_message, on_lost=client.on_lost, **options
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((LOCALHOST, 0))
        return probe.getsockname()[1]


# ------------------------------------------------------------------------------------------------------- tests


@pytest.mark.parametrize("transport", ["udp", "tcp", "tls"])
async def test_options_round_trip_and_local_address(transport: str, request: pytest.FixtureRequest) -> None:
    server_ssl = request.getfixturevalue("server_context") if transport == "tls" else None
    async with running(transport, server_ssl) as peer:
        client = Client()
        extra = {"ssl_context": request.getfixturevalue("client_context")} if transport == "tls" else {}
        flow = await connect(peer, client, **extra)
        assert flow.transport == transport.upper()
        assert flow.server == peer.address
        assert flow.local[0] == LOCALHOST
        assert flow.local[1] not in (0, peer.address[1])
        assert not flow.closed

        flow.send(options(flow))
        received, source = await peer.next_message()
        assert isinstance(received, SipRequest)
        assert received.method == "OPTIONS"
        assert source == flow.local  # what the client advertises is where the server sees it

        answer, origin = await client.next_message()
        assert isinstance(answer, SipResponse)
        assert answer.status == 200
        assert answer.cseq == (1, "OPTIONS")
        assert origin == flow.server

        flow.close()
        await asyncio.wait_for(flow.wait_closed(), TIMEOUT)
        assert flow.closed
        with pytest.raises(ConnectionLost, match="is closed"):
            flow.send(options(flow, 2))
        await asyncio.sleep(0.01)
        assert client.lost_calls == 0  # closing it ourselves is not a loss


@pytest.mark.parametrize("transport", ["udp", "tcp", "tls"])
async def test_notify_pushed_by_the_server_arrives_and_is_answered(
    transport: str, request: pytest.FixtureRequest
) -> None:
    server_ssl = request.getfixturevalue("server_context") if transport == "tls" else None
    async with running(transport, server_ssl) as peer:
        client = Client()
        extra = {"ssl_context": request.getfixturevalue("client_context")} if transport == "tls" else {}
        flow = await connect(peer, client, **extra)
        flow.send(options(flow))  # the server learns the client's address or connection
        await peer.next_message()
        await client.next_message()

        peer.push(peer.notify_bytes(7))
        message, source = await client.next_message()
        assert isinstance(message, SipRequest)
        assert message.method == "NOTIFY"
        assert message.cseq == (7, "NOTIFY")
        assert message.body == b"<presence/>"
        assert source == peer.address

        flow.send_to(response_to(message), source)
        answer, _ = await peer.next_message()
        assert isinstance(answer, SipResponse)
        assert answer.cseq == (7, "NOTIFY")
        flow.close()
        await flow.wait_closed()


async def test_stream_flow_only_reaches_its_server() -> None:
    async with running("tcp") as peer:
        flow = await connect(peer, Client())
        with pytest.raises(TransportError, match="only reaches its server"):
            flow.send_to(options(flow), (LOCALHOST, 9))
        flow.close()
        await flow.wait_closed()


async def test_response_split_into_single_bytes_is_reassembled() -> None:
    async with running("tcp") as peer:
        peer.mode = "split"
        client = Client()
        flow = await connect(peer, client)
        flow.send(options(flow))
        answer, _ = await client.next_message()
        assert isinstance(answer, SipResponse)
        assert answer.status == 200
        assert answer.call_id == "options-1@test"
        assert client.messages.empty()
        flow.close()
        await flow.wait_closed()


async def test_two_messages_in_one_write_both_arrive_in_order() -> None:
    async with running("tcp") as peer:
        peer.mode = "with_notify"
        client = Client()
        flow = await connect(peer, client)
        flow.send(options(flow))
        first, _ = await client.next_message()
        second, _ = await client.next_message()
        assert isinstance(first, SipResponse)
        assert first.status == 200
        assert isinstance(second, SipRequest)
        assert second.method == "NOTIFY"
        flow.close()
        await flow.wait_closed()


async def test_keepalive_crlfs_between_stream_messages_are_ignored() -> None:
    async with running("tcp") as peer:
        client = Client()
        flow = await connect(peer, client)
        flow.send_keepalive()
        flow.send(options(flow))
        await peer.next_message()
        await client.next_message()
        peer.push(b"\r\n\r\n" + peer.notify_bytes(2) + b"\r\n")
        message, _ = await client.next_message()
        assert isinstance(message, SipRequest)
        assert message.cseq == (2, "NOTIFY")
        assert not flow.closed
        flow.close()
        await flow.wait_closed()


async def test_garbage_from_the_server_closes_the_tcp_flow() -> None:
    async with running("tcp") as peer:
        client = Client()
        flow = await connect(peer, client)
        flow.send(options(flow))
        await peer.next_message()
        await client.next_message()

        peer.push(peer.notify_bytes(3) + b"HELLO THERE\r\nthis is not SIP\r\n\r\n")
        message, _ = await client.next_message()  # the complete message before the garbage still arrives
        assert isinstance(message, SipRequest)
        assert message.method == "NOTIFY"
        error = await client.wait_lost()
        assert isinstance(error, ConnectionLost)
        text = str(error)
        assert "\n" not in text
        assert f"{peer.address[0]}:{peer.address[1]}" in text
        assert "not SIP" in text
        assert "HELLO THERE" in text
        assert flow.closed
        await asyncio.wait_for(flow.wait_closed(), TIMEOUT)
        with pytest.raises(ConnectionLost):
            flow.send(options(flow, 2))
        assert client.lost_calls == 1


@pytest.mark.parametrize("transport", ["tcp", "tls"])
async def test_server_closing_the_connection_reports_on_lost(transport: str, request: pytest.FixtureRequest) -> None:
    server_ssl = request.getfixturevalue("server_context") if transport == "tls" else None
    async with running(transport, server_ssl) as peer:
        client = Client()
        extra = {"ssl_context": request.getfixturevalue("client_context")} if transport == "tls" else {}
        flow = await connect(peer, client, **extra)
        flow.send(options(flow))
        await peer.next_message()
        await client.next_message()

        peer.drop_connection()
        assert await client.wait_lost() is None
        assert flow.closed
        await asyncio.wait_for(flow.wait_closed(), TIMEOUT)
        assert client.lost_calls == 1


async def test_server_closing_in_the_middle_of_a_message_is_an_error() -> None:
    async with running("tcp") as peer:
        client = Client()
        flow = await connect(peer, client)
        flow.send(options(flow))
        await peer.next_message()
        await client.next_message()

        peer.push(peer.notify_bytes()[:-5])
        await asyncio.sleep(0.02)
        peer.drop_connection()
        error = await client.wait_lost()
        assert isinstance(error, ConnectionLost)
        assert "in the middle of a message" in str(error)


async def test_connect_refused_is_one_clear_line() -> None:
    port = free_port()
    with pytest.raises(ConnectFailed) as caught:
        await open_flow("tcp", (LOCALHOST, port), on_message=Client().on_message)
    assert str(caught.value) == f"cannot reach 127.0.0.1:{port} over TCP: connection refused"


async def test_tls_connect_refused_is_not_a_tls_error() -> None:
    port = free_port()
    with pytest.raises(ConnectFailed) as caught:
        await open_flow("tls", (LOCALHOST, port), on_message=Client().on_message)
    assert not isinstance(caught.value, TlsError)
    assert str(caught.value) == f"cannot reach 127.0.0.1:{port} over TLS: connection refused"


async def test_untrusted_certificate_is_a_tls_error_naming_the_failure(server_context: ssl.SSLContext) -> None:
    async with running("tls", server_context) as peer:
        with pytest.raises(TlsError) as caught:  # the default context: the system's CAs only
            await connect(peer, Client())
    text = str(caught.value)
    assert "\n" not in text
    assert f"cannot verify the TLS certificate of 127.0.0.1:{peer.address[1]}" in text
    assert "unable to get local issuer certificate" in text
    assert "the CA option" in text


async def test_certificate_for_another_name_is_a_tls_error(
    server_context: ssl.SSLContext, client_context: ssl.SSLContext
) -> None:
    async with running("tls", server_context) as peer:
        with pytest.raises(TlsError) as caught:
            await connect(peer, Client(), ssl_context=client_context, server_hostname="sip.example.org")
    assert "'sip.example.org'" in str(caught.value)
    assert "mismatch" in str(caught.value).lower()


async def test_plain_tcp_server_on_the_tls_port_is_a_tls_error() -> None:
    async def plain(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1)
        writer.write(b"SIP/2.0 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        await reader.read()
        writer.close()

    handlers: list[asyncio.Task[None]] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handlers.append(asyncio.current_task())  # type: ignore[arg-type]
        await plain(reader, writer)

    server = await asyncio.start_server(handler, LOCALHOST, 0)
    try:
        port = server.sockets[0].getsockname()[1]
        with pytest.raises(TlsError) as caught:
            await open_flow("tls", (LOCALHOST, port), on_message=Client().on_message, connect_timeout=2.0)
    finally:
        server.close()
        await asyncio.wait(handlers, timeout=TIMEOUT)
    assert (
        str(caught.value) == f"TLS handshake with 127.0.0.1:{port} failed: the server does not speak TLS on that port"
    )


async def test_tls_handshake_timeout_is_a_tls_error() -> None:
    silent: list[asyncio.StreamWriter] = []

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        silent.append(writer)  # accepts, then answers nothing

    server = await asyncio.start_server(accept, LOCALHOST, 0)
    try:
        port = server.sockets[0].getsockname()[1]
        with pytest.raises(TlsError) as caught:
            await open_flow("tls", (LOCALHOST, port), on_message=Client().on_message, connect_timeout=0.2)
    finally:
        for writer in silent:
            writer.close()
        server.close()
    assert str(caught.value) == f"TLS handshake with 127.0.0.1:{port} failed: no answer within 0.2 s"


async def test_udp_garbage_and_keepalives_are_dropped_and_the_next_message_arrives(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="smartbook_tui.sip.aio")
    async with running("udp") as peer:
        client = Client()
        flow = await connect(peer, client)
        flow.send(options(flow))
        await peer.next_message()
        await client.next_message()

        peer.push(b"\x00\x01 garbage, not SIP \xff")
        peer.push(b"\r\n\r\n")
        peer.push(peer.notify_bytes(4))
        message, _ = await client.next_message()
        assert isinstance(message, SipRequest)
        assert message.cseq == (4, "NOTIFY")
        assert client.messages.empty()
        assert not flow.closed
        assert any("not SIP" in record.getMessage() for record in caplog.records)
        flow.close()
        await flow.wait_closed()


async def test_udp_refuses_a_message_over_the_datagram_size() -> None:
    async with running("udp") as peer:
        client = Client()
        flow = await connect(peer, client)
        with pytest.raises(MessageTooLarge) as caught:
            flow.send(options(flow, body=b"x" * 70_000))
        text = str(caught.value)
        assert "\n" not in text
        assert "OPTIONS request" in text
        assert "TCP or TLS" in text

        flow.send(options(flow, 2))  # the flow still works
        received, _ = await peer.next_message()
        assert received.cseq == (2, "OPTIONS")
        flow.close()
        await flow.wait_closed()


async def test_udp_flow_receives_from_any_address() -> None:
    async with running("udp") as peer, running("udp") as other:
        client = Client()
        flow = await connect(peer, client)
        other.push(other.notify_bytes(5), flow.local)
        message, source = await client.next_message()
        assert message.cseq == (5, "NOTIFY")
        assert source == other.address
        flow.close()
        await flow.wait_closed()


async def test_large_message_goes_over_tcp() -> None:
    async with running("tcp") as peer:
        flow = await connect(peer, Client())
        flow.send(options(flow, body=b"<entry/>" * 20_000))
        received, _ = await peer.next_message()
        assert len(received.body) == 160_000
        flow.close()
        await flow.wait_closed()


async def test_a_server_that_stops_reading_closes_the_flow() -> None:
    async with running("tcp") as peer:
        peer.reading.clear()
        client = Client()
        flow = await connect(peer, client, max_write_buffer=256 * 1024)
        await asyncio.wait_for(peer.connected.wait(), TIMEOUT)
        big = options(flow, body=b"x" * 100_000)

        async def flood() -> None:
            for _ in range(2_000):  # far more than the kernel's socket buffers hold
                flow.send(big)
                await asyncio.sleep(0)

        with pytest.raises(ConnectionLost) as caught:
            await flood()
        assert "has stopped reading" in str(caught.value)
        assert await client.wait_lost() is caught.value
        assert flow.closed


async def test_a_failing_callback_does_not_end_the_flow(caplog: pytest.LogCaptureFixture) -> None:
    async with running("tcp") as peer:
        seen: list[SipMessage] = []

        def on_message(message: SipMessage, source: tuple[str, int]) -> None:
            seen.append(message)
            if len(seen) == 1:
                raise RuntimeError("bug in the handler")

        flow = await open_flow("tcp", peer.address, on_message=on_message)
        flow.send(options(flow))
        await peer.next_message()
        peer.push(peer.notify_bytes(9))
        for _ in range(200):
            if len(seen) == 2:
                break
            await asyncio.sleep(0.005)
        assert [message.cseq[1] for message in seen] == ["OPTIONS", "NOTIFY"]
        assert not flow.closed
        assert "on_message callback failed" in caplog.text
        flow.close()
        await flow.wait_closed()


async def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="udp, tcp or tls"):
        await open_flow("sctp", (LOCALHOST, 5060), on_message=Client().on_message)
    with pytest.raises(ValueError, match="bad port"):
        await open_flow("udp", (LOCALHOST, 0), on_message=Client().on_message)
