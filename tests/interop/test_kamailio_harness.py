"""The Kamailio harness (tests/peers/kamailio.py) works: a real Kamailio 5.6 registrar + presence + RLS.

Driven with raw SIP over UDP from a minimal client written here (the project's own SIP stack comes later):
digest-authenticated REGISTER and PUBLISH, a SUBSCRIBE to a server-stored list (RFC 4662) that gets RLMI
NOTIFYs with PIDF parts, and a request-contained list (RFC 5367) that Kamailio accepts while ignoring its body.
The list test saves one full-state and one partial NOTIFY to /tmp/kamailio-captures/ for the project's fixtures.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import socket
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.peers.kamailio import Kamailio, run_kamailio

pytestmark = pytest.mark.peer("kamailio")

CAPTURE_DIR = Path("/tmp/kamailio-captures")
USERS = {"alice": "alice-secret", "bob": "bob-secret", "carol": "carol-secret", "erin": "erin-secret"}
BUDDIES = ["sip:bob@127.0.0.1", "sip:carol@127.0.0.1", "sip:erin@127.0.0.1"]
NS_RLMI = "urn:ietf:params:xml:ns:rlmi"
NS_PIDF = "urn:ietf:params:xml:ns:pidf"
TIMEOUT = 3.0


# ------------------------------------------------------------------------------------- a minimal SIP client


@dataclass
class Message:
    start_line: str
    headers: list[tuple[str, str]]
    body: bytes
    raw: bytes

    def headers_named(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name.lower()]

    def header(self, name: str) -> str | None:
        values = self.headers_named(name)
        return values[0] if values else None

    @property
    def is_request(self) -> bool:
        return not self.start_line.startswith("SIP/2.0 ")

    @property
    def method(self) -> str:
        return self.start_line.split(" ", 1)[0]

    @property
    def status(self) -> int:
        return int(self.start_line.split(" ", 2)[1])

    @property
    def cseq(self) -> tuple[int, str]:
        number, method = (self.header("CSeq") or "0 ?").split()
        return int(number), method


def parse_message(data: bytes) -> Message:
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("utf-8", errors="replace").split("\r\n")
    headers = [(name.strip(), value.strip()) for name, _, value in (line.partition(":") for line in lines[1:])]
    message = Message(lines[0], headers, body, data)
    length = message.header("Content-Length") or message.header("l")
    if length is not None:
        message.body = body[: int(length)]
    return message


def header_params(value: str) -> dict[str, str]:
    """key=value and key="value" parameters of a header value (a Digest challenge, a Content-Type...)."""
    return {
        key.lower(): quoted or bare for key, quoted, bare in re.findall(r'(\w+)\s*=\s*(?:"([^"]*)"|([^;,\s]+))', value)
    }


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


@dataclass
class Leg:
    """The client side of a dialog (or of a lone transaction, before there is a To tag)."""

    request_uri: str
    from_uri: str
    to_uri: str
    call_id: str = field(default_factory=lambda: f"{secrets.token_hex(8)}@127.0.0.1")
    from_tag: str = field(default_factory=lambda: secrets.token_hex(4))
    to_tag: str | None = None
    cseq: int = 0


class UdpSipClient:
    """One UDP socket on 127.0.0.1 acting as `user`: sends requests, answers 401/407 once (MD5, qop=auth), and
    answers every request it receives (NOTIFYs) with 200 OK, keeping them (retransmissions dropped)."""

    def __init__(self, kamailio: Kamailio, user: str, password: str) -> None:
        self.kamailio, self.user, self.password = kamailio, user, password
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.local = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self.contact = f"<sip:{user}@{self.local}>"
        self.aor = kamailio.aor(user)
        self.requests: list[Message] = []
        self._seen: set[tuple[str, str]] = set()
        self._nc = 0

    def close(self) -> None:
        self.sock.close()

    def leg(self, request_uri: str | None = None, to_uri: str | None = None) -> Leg:
        request_uri = request_uri or self.aor
        return Leg(request_uri, self.aor, to_uri or request_uri)

    def request(
        self, leg: Leg, method: str, headers: dict[str, str], body: bytes = b"", *, authenticate: bool = True
    ) -> Message:
        """Send a request on `leg`, wait for its final response; answer one challenge when `authenticate`."""
        response = self._transaction(leg, method, headers, body, None)
        if authenticate and response.status in (401, 407):
            response = self._transaction(leg, method, headers, body, self._credentials(response, method, leg))
        if response.status < 300 and leg.to_tag is None:
            leg.to_tag = header_params(response.header("To") or "").get("tag")
        return response

    def _credentials(self, challenge: Message, method: str, leg: Leg) -> tuple[str, str]:
        name = "WWW-Authenticate" if challenge.status == 401 else "Proxy-Authenticate"
        params = header_params(challenge.header(name) or "")
        assert params.get("qop") == "auth", f"challenge without qop=auth: {challenge.header(name)}"
        self._nc += 1
        nc, cnonce = f"{self._nc:08x}", secrets.token_hex(8)
        ha1 = md5(f"{self.user}:{params['realm']}:{self.password}")
        ha2 = md5(f"{method}:{leg.request_uri}")
        response = md5(f"{ha1}:{params['nonce']}:{nc}:{cnonce}:auth:{ha2}")
        value = (
            f'Digest username="{self.user}", realm="{params["realm"]}", nonce="{params["nonce"]}", '
            f'uri="{leg.request_uri}", response="{response}", algorithm=MD5, cnonce="{cnonce}", qop=auth, nc={nc}'
        )
        if "opaque" in params:
            value += f', opaque="{params["opaque"]}"'
        return ("Authorization" if challenge.status == 401 else "Proxy-Authorization", value)

    def _transaction(
        self, leg: Leg, method: str, headers: dict[str, str], body: bytes, credentials: tuple[str, str] | None
    ) -> Message:
        leg.cseq += 1
        to_tag = f";tag={leg.to_tag}" if leg.to_tag else ""
        lines = [
            f"{method} {leg.request_uri} SIP/2.0",
            f"Via: SIP/2.0/UDP {self.local};branch=z9hG4bK{secrets.token_hex(8)};rport",
            "Max-Forwards: 70",
            f"From: <{leg.from_uri}>;tag={leg.from_tag}",
            f"To: <{leg.to_uri}>{to_tag}",
            f"Call-ID: {leg.call_id}",
            f"CSeq: {leg.cseq} {method}",
            *(f"{name}: {value}" for name, value in headers.items()),
        ]
        if credentials:
            lines.append(f"{credentials[0]}: {credentials[1]}")
        lines.append(f"Content-Length: {len(body)}")
        self.sock.sendto(("\r\n".join(lines) + "\r\n\r\n").encode() + body, (self.kamailio.domain, self.kamailio.port))

        def final(message: Message) -> bool:
            return (
                not message.is_request
                and message.header("Call-ID") == leg.call_id
                and message.cseq == (leg.cseq, method)
                and message.status >= 200
            )

        response = self.receive_until(final, TIMEOUT)
        assert response is not None, f"no final response to {method} {leg.request_uri} within {TIMEOUT} s"
        return response

    def receive_until(self, done: Callable[[Message], bool], timeout: float) -> Message | None:
        """Handle what arrives until a message satisfies `done` (returned) or `timeout` passes (None)."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65535)
            except TimeoutError:
                return None
            message = parse_message(data)
            if message.is_request:
                self._answer(message)
            if done(message):
                return message
        return None

    def wait_for(self, condition: Callable[[], bool], timeout: float) -> bool:
        """Keep answering incoming requests until `condition()` holds (True) or `timeout` passes (False)."""
        return condition() or self.receive_until(lambda _message: condition(), timeout) is not None

    def _answer(self, request: Message) -> None:
        if request.method == "ACK":
            return
        lines = [
            "SIP/2.0 200 OK",
            *(f"Via: {via}" for via in request.headers_named("Via")),
            f"From: {request.header('From')}",
            f"To: {request.header('To')}",
            f"Call-ID: {request.header('Call-ID')}",
            f"CSeq: {request.header('CSeq')}",
            f"Contact: {self.contact}",
            "Content-Length: 0",
        ]
        self.sock.sendto(("\r\n".join(lines) + "\r\n\r\n").encode(), (self.kamailio.domain, self.kamailio.port))
        key = (request.header("Call-ID") or "", request.header("CSeq") or "")
        if key not in self._seen:  # UDP retransmissions of a NOTIFY are answered but kept once
            self._seen.add(key)
            self.requests.append(request)


@pytest.fixture
def sip_client() -> Iterator[Callable[[Kamailio, str, str | None], UdpSipClient]]:
    clients: list[UdpSipClient] = []

    def make(kamailio: Kamailio, user: str, password: str | None = None) -> UdpSipClient:
        client = UdpSipClient(kamailio, user, USERS[user] if password is None else password)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


# ------------------------------------------------------------------------------------------ list documents


def pidf(entity: str, basic: str = "open") -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<presence xmlns="{NS_PIDF}" entity="{entity}"><tuple id="t{secrets.token_hex(3)}">'
        f"<status><basic>{basic}</basic></status><contact>{entity}</contact></tuple></presence>"
    ).encode()


def multipart_parts(message: Message) -> list[tuple[dict[str, str], bytes]]:
    """The parts of a multipart body: (lower-case headers, body) each."""
    content_type = message.header("Content-Type") or ""
    assert content_type.lower().startswith("multipart/related"), content_type
    boundary = header_params(content_type)["boundary"].encode()
    parts = []
    for chunk in message.body.split(b"--" + boundary)[1:]:
        if chunk.startswith(b"--"):
            break
        head, _, body = chunk.strip(b"\r\n").partition(b"\r\n\r\n")
        headers = {}
        for line in head.decode().split("\r\n"):
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        parts.append((headers, body.rstrip(b"\r\n")))
    return parts


@dataclass
class ListNotify:
    message: Message
    version: int
    full_state: bool
    resources: dict[str, list[dict[str, str]]]  # resource URI -> its <instance> attributes
    basic_by_entity: dict[str, str]  # PIDF parts: entity -> basic status


def read_list_notify(message: Message) -> ListNotify:
    parts = multipart_parts(message)
    rlmi_headers, rlmi_body = parts[0]
    assert rlmi_headers["content-type"].startswith("application/rlmi+xml"), rlmi_headers
    root = ET.fromstring(rlmi_body)
    resources = {
        resource.attrib["uri"]: [dict(instance.attrib) for instance in resource.findall(f"{{{NS_RLMI}}}instance")]
        for resource in root.findall(f"{{{NS_RLMI}}}resource")
    }
    basics = {}
    for headers, body in parts[1:]:
        if headers.get("content-type", "").startswith("application/pidf+xml"):
            presence = ET.fromstring(body)
            statuses = [element.text for element in presence.iter(f"{{{NS_PIDF}}}basic")]
            basics[presence.attrib["entity"]] = "open" if "open" in statuses else (statuses or ["none"])[0]
    return ListNotify(message, int(root.attrib["version"]), root.attrib.get("fullState") == "true", resources, basics)


def publish_open(kamailio: Kamailio, client: UdpSipClient) -> Message:
    leg = client.leg()
    headers = {"Event": "presence", "Expires": "600", "Content-Type": "application/pidf+xml"}
    return client.request(leg, "PUBLISH", headers, pidf(client.aor))


# -------------------------------------------------------------------------------------------------- tests


def test_register_is_challenged_then_accepted_and_a_wrong_password_is_refused(tmp_path, sip_client) -> None:
    with run_kamailio(tmp_path, users=USERS) as kamailio:
        bob = sip_client(kamailio, "bob")
        leg = bob.leg(request_uri=f"sip:{kamailio.domain}", to_uri=bob.aor)
        headers = {"Contact": bob.contact, "Expires": "600"}

        challenge = bob.request(leg, "REGISTER", headers, authenticate=False)
        assert challenge.status == 401
        assert 'qop="auth"' in (challenge.header("WWW-Authenticate") or "")

        accepted = bob.request(leg, "REGISTER", headers)
        assert accepted.status == 200, accepted.start_line
        assert bob.local in (accepted.header("Contact") or "")

        impostor = sip_client(kamailio, "bob", "not-the-password")
        refused = impostor.request(impostor.leg(f"sip:{kamailio.domain}", impostor.aor), "REGISTER", headers)
        # The harness re-challenges a wrong password (Kamailio's stock behaviour) rather than answering 403.
        assert refused.status == 401, refused.start_line
        assert refused.header("WWW-Authenticate"), refused.raw.decode(errors="replace")


def test_publish_pidf_gets_an_etag(tmp_path, sip_client) -> None:
    with run_kamailio(tmp_path, users=USERS) as kamailio:
        for user in ("bob", "carol"):
            response = publish_open(kamailio, sip_client(kamailio, user))
            assert response.status == 200, response.start_line
            assert response.header("SIP-ETag"), response.raw.decode(errors="replace")


def test_server_stored_list_gets_rlmi_notifies_with_pidf_parts(tmp_path, sip_client) -> None:
    with run_kamailio(tmp_path, users=USERS, lists={"alice": {"buddies": BUDDIES}}) as kamailio:
        for user in ("bob", "carol"):
            assert publish_open(kamailio, sip_client(kamailio, user)).status == 200

        alice = sip_client(kamailio, "alice")
        list_uri = kamailio.list_uri("alice", "buddies")
        leg = alice.leg(request_uri=kamailio.list_uri("alice", "buddies", with_port=True), to_uri=list_uri)
        headers = {
            "Contact": alice.contact,
            "Event": "presence",
            "Expires": "600",
            "Supported": "eventlist",
            "Accept": "multipart/related, application/rlmi+xml, application/pidf+xml",
        }
        response = alice.request(leg, "SUBSCRIBE", headers)
        assert response.status == 200, response.start_line
        assert response.header("Require") == "eventlist"

        def notifies() -> list[ListNotify]:
            return [read_list_notify(request) for request in alice.requests if request.method == "NOTIFY"]

        def all_open() -> bool:
            seen = {entity: basic for notify in notifies() for entity, basic in notify.basic_by_entity.items()}
            return all(seen.get(uri) == "open" for uri in BUDDIES[:2])

        assert alice.wait_for(all_open, timeout=4.0), [n.message.raw.decode(errors="replace") for n in notifies()]

        first, *later = notifies()
        assert first.full_state, first.message.raw.decode(errors="replace")
        assert first.message.header("Event") == "presence"
        assert set(first.resources) == set(BUDDIES)
        assert later, "no partial NOTIFY after the full state"
        assert all(not notify.full_state for notify in later)
        assert [notify.version for notify in later] == sorted(notify.version for notify in later)

        CAPTURE_DIR.mkdir(parents=True, exist_ok=True)
        (CAPTURE_DIR / "kamailio-list-notify-full-state.sip").write_bytes(first.message.raw)
        partial = next(notify for notify in later if notify.basic_by_entity)
        (CAPTURE_DIR / "kamailio-list-notify-partial.sip").write_bytes(partial.message.raw)


def test_request_contained_list_is_accepted_but_ignored(tmp_path, sip_client) -> None:
    """RFC 5367: Kamailio answers 200 yet treats it as a plain presence SUBSCRIBE (no `Require: eventlist`)."""
    with run_kamailio(tmp_path, users=USERS) as kamailio:
        alice = sip_client(kamailio, "alice")
        rls_uri = f"sip:rls@{kamailio.domain}"
        leg = alice.leg(request_uri=rls_uri)
        entries = "".join(f'<entry uri="{uri}"/>' for uri in BUDDIES)
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            f'<resource-lists xmlns="urn:ietf:params:xml:ns:resource-lists"><list>{entries}</list></resource-lists>'
        ).encode()
        headers = {
            "Contact": alice.contact,
            "Event": "presence",
            "Expires": "600",
            "Supported": "eventlist",
            "Accept": "multipart/related, application/rlmi+xml, application/pidf+xml",
            "Content-Type": "application/resource-lists+xml",
            "Content-Disposition": "recipient-list",
            "Require": "recipient-list-subscribe",
        }
        response = alice.request(leg, "SUBSCRIBE", headers, body)
        assert response.status == 200, response.start_line
        assert "eventlist" not in (response.header("Require") or "")
        # What follows is a plain presence NOTIFY for sip:rls@ itself (nothing published: no body), not RLMI.
        notify = alice.receive_until(lambda message: message.is_request and message.method == "NOTIFY", TIMEOUT)
        assert notify is not None, "no NOTIFY after the 200"
        assert not (notify.header("Content-Type") or "").startswith("multipart/"), notify.raw.decode(errors="replace")
        assert "eventlist" not in (notify.header("Require") or "")
