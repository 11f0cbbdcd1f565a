"""The SMS gateways: the console one's outbox (0600, one JSON line a message, no code in the log) and the http one
against a small provider on 127.0.0.1 (the body template, the headers, the retries, the one-line failure)."""

from __future__ import annotations

import asyncio
import json
import logging
import stat

import pytest

from smartbook_tui.server.sms import SmsFailed, code_text, parse_header
from smartbook_tui.server.sms.console import ConsoleGateway
from smartbook_tui.server.sms.http import HttpGateway

NUMBER = "+33612345678"


async def test_the_console_gateway_appends_json_lines_to_a_private_outbox_and_logs_no_code(tmp_path, caplog):
    outbox = tmp_path / "sms" / "outbox.jsonl"
    gateway = ConsoleGateway(outbox)
    with caplog.at_level(logging.DEBUG):
        await gateway.send(NUMBER, code_text("4821", 600))
        await gateway.send(NUMBER, 'quotes " and \\ and é')
    lines = [json.loads(line) for line in outbox.read_text().splitlines()]
    assert lines == [
        {"to": NUMBER, "text": "Your smartbook code is 4821. It expires in 10 minutes."},
        {"to": NUMBER, "text": 'quotes " and \\ and é'},
    ]
    assert stat.S_IMODE(outbox.stat().st_mode) == 0o600
    assert f"SMS to {NUMBER}: written to the outbox" in caplog.text
    assert "4821" not in caplog.text


async def test_an_unwritable_outbox_is_a_failed_send(tmp_path):
    (tmp_path / "outbox").mkdir()
    with pytest.raises(SmsFailed, match="cannot write the SMS outbox"):
        await ConsoleGateway(tmp_path / "outbox").send(NUMBER, "hello")


class Provider:
    """An HTTP/1.1 server on 127.0.0.1 answering each POST with the next of `statuses` (then 200)."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.requests: list[tuple[str, bytes]] = []

    async def __aenter__(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/send"

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()
        await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        length = next(
            int(line.split(":")[1]) for line in head.split("\r\n") if line.lower().startswith("content-length")
        )
        self.requests.append((head, await reader.readexactly(length)))
        status = self.statuses.pop(0) if self.statuses else 200
        writer.write(f"HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        writer.close()


async def test_the_http_gateway_posts_the_template_with_escaped_values_and_the_headers():
    async with (provider := Provider([503])) as url:
        gateway = HttpGateway(url, [parse_header("Authorization: Bearer k3y")], '{"dest": "$to", "body": "$text"}')
        await gateway.send(NUMBER, 'say "hi"\n')
        await gateway.close()
    assert len(provider.requests) == 2  # the 503 tried again
    head, body = provider.requests[-1]
    assert "\r\nauthorization: bearer k3y\r\n" in head.lower()
    assert json.loads(body) == {"dest": NUMBER, "body": 'say "hi"\n'}


async def test_the_http_gateway_fails_in_one_line_after_two_retries_or_a_refusal():
    async with (provider := Provider([500, 500, 500])) as url:
        gateway = HttpGateway(url, [])
        with pytest.raises(SmsFailed, match=r"^the SMS gateway failed \(HTTP 500\)$"):
            await gateway.send(NUMBER, "text")
        await gateway.close()
    assert len(provider.requests) == 3
    async with (provider := Provider([401])) as url:
        gateway = HttpGateway(url, [])
        with pytest.raises(SmsFailed, match="HTTP 401"):
            await gateway.send(NUMBER, "text")
        await gateway.close()
    assert len(provider.requests) == 1  # refused: not tried again
    gateway = HttpGateway("http://127.0.0.1:9/nowhere", [])
    with pytest.raises(SmsFailed, match="the SMS gateway failed") as failure:
        await gateway.send(NUMBER, "text")
    await gateway.close()
    assert "\n" not in str(failure.value)


def test_a_header_is_name_colon_value():
    assert parse_header("X-Key:  abc ") == ("X-Key", "abc")
    for bad in ("no colon", ": empty name", "X: a\r\nY: b"):
        with pytest.raises(ValueError, match="--sms-header wants 'Name: value'"):
            parse_header(bad)
