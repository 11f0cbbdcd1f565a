"""A lean UDP load of single-presentity subscriptions for the overload test and `bench/notify_cost.py`: publishers
that each PUBLISH one state after another (waiting for each answer, which may never come), and watchers subscribed
to every publisher that answer each NOTIFY 200 at once and keep, per publisher, the newest state they were sent.

Its own framing and digest (MD5, qop=auth), no parsing beyond what it needs, so that the load costs the client far
less than it costs the server. A PUBLISH's state is a note `state-N`; a watcher reads N from the NOTIFY's body."""

from __future__ import annotations

import asyncio
import itertools
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from smartbook_tui.server.store import compute_ha1
from smartbook_tui.sip.auth import digest_response

DOMAIN = "127.0.0.1"
_RECEIVE_BUFFER = 8 * 1024 * 1024
_BRANCH = re.compile(rb"branch=([^;,\s]+)")
_STATUS = re.compile(rb"^SIP/2\.0 (\d{3})")
_CALL_ID = re.compile(rb"\r\n(?:Call-ID|i)[ \t]*:[ \t]*([^\r\n]+)", re.IGNORECASE)
_CSEQ = re.compile(rb"\r\nCSeq[ \t]*:[ \t]*(\d+)", re.IGNORECASE)
_STATE = re.compile(rb"state-(\d+)")
_ETAG = re.compile(rb"\r\nSIP-ETag[ \t]*:[ \t]*([^\r\n]+)", re.IGNORECASE)
_RETRY_AFTER = re.compile(rb"\r\nRetry-After[ \t]*:[ \t]*(\d+)", re.IGNORECASE)
_NONCE = re.compile(rb'nonce="([^"]+)"')
_OPAQUE = re.compile(rb'opaque="([^"]*)"')
_ANSWERED = (b"via", b"v", b"from", b"f", b"to", b"t", b"call-id", b"i", b"cseq")

Answer = tuple[int, bytes]  # status, the whole response


class Endpoint(asyncio.DatagramProtocol):
    """One UDP socket of the client: requests out (answers matched by Via branch), NOTIFYs in (answered 200 at
    once, then handed to `on_request(head, body)`). Digest state: the last nonce and its count."""

    _ids = itertools.count(1)

    def __init__(self, user: str, password: str, server: tuple[str, int]) -> None:
        self.user = user
        self.password = password
        self.server = server
        self.id = next(Endpoint._ids)
        self.transport: asyncio.DatagramTransport | None = None
        self.local = ""
        self.pending: dict[bytes, asyncio.Future[Answer]] = {}
        self.on_request: Callable[[bytes, bytes], None] | None = None
        self.nonce = self.opaque = ""
        self.nc = 0
        self._counter = 0
        self._ha1 = compute_ha1(user, DOMAIN, password, "MD5")

    @classmethod
    async def open(cls, user: str, password: str, server: tuple[str, int]) -> Endpoint:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RECEIVE_BUFFER)
        sock.bind(("127.0.0.1", 0))
        _, endpoint = await asyncio.get_running_loop().create_datagram_endpoint(
            lambda: cls(user, password, server), sock=sock
        )
        return endpoint

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        host, port = transport.get_extra_info("sockname")[:2]
        self.local = f"{host}:{port}"

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        head, _, body = data.partition(b"\r\n\r\n")
        status = _STATUS.match(head)
        if status is not None:
            code = int(status.group(1))
            branch = _BRANCH.search(head)
            future = self.pending.get(branch.group(1)) if branch else None
            if code >= 200 and future is not None and not future.done():
                future.set_result((code, head))
            return
        lines = [b"SIP/2.0 200 OK"]
        lines += [line for line in head.split(b"\r\n")[1:] if line.partition(b":")[0].strip().lower() in _ANSWERED]
        assert self.transport is not None
        self.transport.sendto(b"\r\n".join([*lines, b"Content-Length: 0", b"", b""]), addr)
        if self.on_request is not None:
            self.on_request(head, body)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    async def request(self, method: str, uri: str, headers: str, body: bytes, timeout: float) -> Answer | None:
        """Send once (no retransmission: an answer lost is what is measured), answering a 407 with credentials;
        the final answer, or None when none came within `timeout` seconds."""
        for _ in range(3):
            answer = await self._send(method, uri, headers + self._authorization(method, uri), body, timeout)
            if answer is None or answer[0] != 407 or not self._take_challenge(answer[1]):
                return answer
        return answer

    def send_authorized(self, method: str, uri: str, headers: str) -> None:
        """Send a request with credentials for the last nonce, not waiting for its answer (a flood)."""
        self.send(method, uri, headers + self._authorization(method, uri), b"")

    def send(self, method: str, uri: str, headers: str, body: bytes) -> bytes:
        """Send once; the request's Via branch."""
        self._counter += 1
        branch = f"z9hG4bK{self.id}x{self._counter}"
        data = (
            f"{method} {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {self.local};branch={branch};rport\r\nMax-Forwards: 70\r\n"
            f"{headers}CSeq: {self._counter} {method}\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        assert self.transport is not None
        self.transport.sendto(data, self.server)
        return branch.encode()

    async def _send(self, method: str, uri: str, headers: str, body: bytes, timeout: float) -> Answer | None:
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        branch = self.send(method, uri, headers, body)
        self.pending[branch] = future
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            return None
        finally:
            del self.pending[branch]

    def _take_challenge(self, head: bytes) -> bool:
        nonce = _NONCE.search(head)
        if nonce is None:
            return False
        opaque = _OPAQUE.search(head)
        self.nonce, self.nc = nonce.group(1).decode(), 0
        self.opaque = opaque.group(1).decode() if opaque else ""
        return True

    def _authorization(self, method: str, uri: str) -> str:
        if not self.nonce:
            return ""
        self.nc += 1
        nc = f"{self.nc:08x}"
        cnonce = f"c{self.id:x}"
        response = digest_response(
            "MD5", self._ha1, nonce=self.nonce, nc=nc, cnonce=cnonce, qop="auth", method=method, uri=uri
        )
        return (
            f'Proxy-Authorization: Digest username="{self.user}", realm="{DOMAIN}", nonce="{self.nonce}", '
            f'uri="{uri}", response="{response}", algorithm=MD5, cnonce="{cnonce}", opaque="{self.opaque}", '
            f"qop=auth, nc={nc}\r\n"
        )


def retry_after(head: bytes) -> float:
    match = _RETRY_AFTER.search(head)
    return float(match.group(1)) if match else 1.0


def pidf(user: str, state: int) -> bytes:
    aor = f"sip:{user}@{DOMAIN}"
    return (
        '<?xml version="1.0" encoding="UTF-8"?><presence xmlns="urn:ietf:params:xml:ns:pidf" '
        f'xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model" entity="{aor}"><tuple id="t{user}"><status><basic>open'
        f'</basic></status><contact>{aor}</contact></tuple><dm:person id="p{user}"><dm:note>state-{state}</dm:note>'
        "</dm:person></presence>"
    ).encode()


@dataclass
class Publisher:
    """One account publishing states 1, 2, 3...: `accepted` is the last state answered 2xx."""

    endpoint: Endpoint
    etag: str | None = None
    sent: int = 0
    accepted: int = 0
    answers: dict[int, int] = field(default_factory=dict)  # status -> how many
    silent: int = 0  # PUBLISHes that got no answer at all

    async def publish(self, timeout: float) -> int | None:
        """PUBLISH the next state; its final status, None when unanswered."""
        self.sent += 1
        state, user = self.sent, self.endpoint.user
        aor = f"sip:{user}@{DOMAIN}"
        match = f"SIP-If-Match: {self.etag}\r\n" if self.etag else ""
        headers = (
            f"From: <{aor}>;tag=p{state}\r\nTo: <{aor}>\r\nCall-ID: pub-{user}-{state}\r\nEvent: presence\r\n"
            f"Expires: 3600\r\nContent-Type: application/pidf+xml\r\n{match}"
        )
        answer = await self.endpoint.request("PUBLISH", aor, headers, pidf(user, state), timeout)
        if answer is None:
            self.silent += 1
            return None
        status, head = answer
        self.answers[status] = self.answers.get(status, 0) + 1
        if 200 <= status < 300:
            etag = _ETAG.search(head)
            self.etag = etag.group(1).decode().strip() if etag else None
            self.accepted = state
        elif status == 412:  # the publication was lost (expired): start a new one
            self.etag = None
        elif status == 503:
            await asyncio.sleep(retry_after(head))
        return status

    async def publish_until_accepted(self, timeout: float, tries: int = 30) -> None:
        """A last state, again (after each Retry-After) until it is taken: what a client does on 503."""
        for _ in range(tries):
            status = await self.publish(timeout)
            if status is not None and 200 <= status < 300:
                return


@dataclass
class Watcher:
    """One account subscribed to each publisher (a dialog each); `seen[publisher]` is the newest state a NOTIFY
    brought (by CSeq: a retransmission of an older NOTIFY does not go back)."""

    endpoint: Endpoint
    seen: dict[str, int] = field(default_factory=dict)
    notifies: int = 0
    _dialogs: dict[bytes, str] = field(default_factory=dict)  # Call-ID -> publisher
    _cseq: dict[bytes, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.endpoint.on_request = self._notified

    async def subscribe(self, publisher: str, timeout: float, tries: int = 30) -> bool:
        user = self.endpoint.user
        call_id = f"sub-{user}-{publisher}"
        self._dialogs[call_id.encode()] = publisher
        target = f"sip:{publisher}@{DOMAIN}"
        headers = (
            f"From: <sip:{user}@{DOMAIN}>;tag=w{user}\r\nTo: <{target}>\r\nCall-ID: {call_id}\r\n"
            f"Contact: <sip:{user}@{self.endpoint.local}>\r\nEvent: presence\r\nExpires: 3600\r\n"
            "Accept: application/pidf+xml\r\n"
        )
        for _ in range(tries):
            answer = await self.endpoint.request("SUBSCRIBE", target, headers, b"", timeout)
            if answer is not None and 200 <= answer[0] < 300:
                return True
            await asyncio.sleep(retry_after(answer[1]) if answer is not None else 0.0)
        return False

    def _notified(self, head: bytes, body: bytes) -> None:
        self.notifies += 1
        call_id, cseq = _CALL_ID.search(head), _CSEQ.search(head)
        if call_id is None or cseq is None:
            return
        key, number = call_id.group(1).strip(), int(cseq.group(1))
        publisher = self._dialogs.get(key)
        if publisher is None or number <= self._cseq.get(key, 0):
            return
        self._cseq[key] = number
        state = _STATE.search(body)
        self.seen[publisher] = int(state.group(1)) if state else 0


async def fetch_flood(endpoint: Endpoint, target: str, rate: float, seconds: float) -> int:
    """Fetches of `target`'s presence (SUBSCRIBE, Expires: 0: the server answers, sends one NOTIFY, ends it) at
    `rate` a second for `seconds`, each a new request, none waiting for its answer; how many were sent."""
    user = endpoint.user
    headers = (
        f"From: <sip:{user}@{DOMAIN}>;tag=f\r\nTo: <{target}>\r\nContact: <sip:{user}@{endpoint.local}>\r\n"
        "Event: presence\r\nExpires: 0\r\nAccept: application/pidf+xml\r\n"
    )
    await endpoint.request("SUBSCRIBE", target, f"{headers}Call-ID: fetch-{user}-0\r\n", b"", 10.0)  # a nonce
    loop = asyncio.get_running_loop()
    started = loop.time()
    sent = 0
    while (elapsed := loop.time() - started) < seconds:
        while sent < elapsed * rate:
            sent += 1
            endpoint.send_authorized("SUBSCRIBE", target, f"{headers}Call-ID: fetch-{user}-{sent}\r\n")
        await asyncio.sleep(0.005)
    return sent


def write_accounts(db: Path, users: list[str], password: str) -> None:
    """Every account straight into the server's database (public presence: any watcher sees it)."""
    from smartbook_tui.server.store import Store

    store = Store.open(db)
    try:
        for user in users:
            store.add_account(user, DOMAIN, password, None, public_presence=True)
    finally:
        store.close()
