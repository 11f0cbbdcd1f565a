"""What the overload measure reads from the listener: the share of the UDP receive buffer that datagrams not yet read
take (the kernel's count: Linux only), and the tokens the server draws for its branches and tags."""

from __future__ import annotations

import asyncio
import socket
import sys

import pytest

from smartbook_tui.server.tokens import TokenSource
from tests.interop.test_sip_listener import Server, listening

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the kernel tells its receive queue on Linux")

OPTIONS = (
    b"OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK{n}\r\nFrom: <sip:a@x>;tag=a\r\n"
    b"To: <sip:b@x>\r\nCall-ID: q{n}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
)


async def test_datagrams_waiting_to_be_read_fill_the_queue_and_reading_them_empties_it() -> None:
    server = Server()
    async with listening(server, udp_buffer=256 * 1024) as listener:
        assert listener.udp_queued() == 0.0
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            for n in range(100):  # the loop does not run meanwhile: none of them is read
                client.sendto(OPTIONS.replace(b"{n}", str(n).encode()), listener.address)
            waiting = listener.udp_queued()
            assert 0.05 < waiting < 1.0
            for _ in range(100):
                await server.next_message()
        await asyncio.sleep(0)
        assert listener.udp_queued() == 0.0
    assert listener.udp_queued() == 0.0  # closed: nothing to tell


def test_tokens_are_sixteen_hex_digits_and_never_repeat_across_blocks() -> None:
    token = TokenSource()
    drawn = [token() for _ in range(2_000)]  # 16,000 bytes: several blocks of the system's generator
    assert len(set(drawn)) == len(drawn)
    assert all(len(value) == 16 and int(value, 16) >= 0 for value in drawn)
