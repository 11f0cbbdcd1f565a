"""The list subscription as a sans-IO state machine (RFC 6665 + RFC 4662 + RFC 5367 + RFC 5621).

One SUBSCRIBE carries the whole book (a request-contained list: the RLS URI as Request-URI and a resource-lists
body) or names a server-stored list (a bodyless SUBSCRIBE to the list URI). The owner feeds in what arrives
(`on_message`), the clock (`on_timer` at `deadline`) and transport loss, and carries out what comes back: `Send`
(bytes for the server), `Updates` (per-contact presence), `Status` (what the subscription is doing, in one
line a person can read) and `ServerWarning` (what the server said of the list in a 399 Warning of its 2xx, such as
the numbers its discovery quota left unchecked: said once, never retried). Nothing here touches a socket or a clock.

A changed book is sent as a change when the server's 200 to the first SUBSCRIBE said `Supported: list-delta`
(smartbook's extension; RFC 5367 alone fixes a request-contained list for the dialog's life): a refresh in the
dialog with `Require: list-delta` and the entries added and removed, after which the server's full state of the new
list continues the RLMI versions. Without the option, or when the server refuses the change (anything but a
challenge), the old dialog is ended and a new one carries the whole list.

Failure handling follows RFC 6665 section 4.1.3: a subscription ended as `deactivated` or `timeout` is renewed
at once, `probation`/`giveup` after `retry-after`, `rejected`/`noresource` ends it for good; 423 takes the
server's Min-Expires; 401/407 are answered once per nonce; a transport loss or a server error is retried with
backoff (1 s doubling to 5 min, with jitter). A server that answers 200 but does not treat the SUBSCRIBE as a
list (no `Require: eventlist`: Kamailio with a request-contained list) is reported, not shown as an empty book.
A list refused for its size (413) is never sent again as it was: the machine says how many entries the server
takes, when the server says it (`refused`), and stops; sending the book in parts is its owner's to do
(`book.BookSubscription`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace

from smartbook_tui.presence import (
    LIST_DELTA,
    ListState,
    PresenceDocumentError,
    build_list_delta,
    build_resource_lists,
    decode_notify_body,
    deflate,
)
from smartbook_tui.sip.auth import AuthError, Credentials, DigestSession
from smartbook_tui.sip.message import Headers, SipMessage, SipParseError, SipRequest, SipResponse
from smartbook_tui.sip.transaction import ClientTransaction, Retransmit, ServerTransaction, TimedOut, server_key
from smartbook_tui.sip.uri import parse_name_addr, split_params

from .phase import Phase
from .tracker import ListTracker, PresenceUpdate

DEFLATE_ABOVE = 1024  # bytes of list body worth compressing
MIN_BACKOFF = 1.0
MAX_BACKOFF = 300.0
ACCEPT = "multipart/related, application/rlmi+xml, application/pidf+xml"


@dataclass(frozen=True, slots=True)
class Send:
    data: bytes


@dataclass(frozen=True, slots=True)
class Updates:
    updates: list[PresenceUpdate]


@dataclass(frozen=True, slots=True)
class Status:
    phase: Phase
    detail: str
    complete: bool = False  # the whole list's state has arrived in this subscription (see tracker.ListTracker)


@dataclass(frozen=True, slots=True)
class ServerWarning:
    """A sentence the server put in a 399 Warning of its 2xx to a SUBSCRIBE (its discovery quota withheld numbers,
    which it reports as `rejected`): to show once; nothing is retried for it."""

    text: str


@dataclass(frozen=True, slots=True)
class TooLarge:
    """The server refused the list for its size (413): how many entries were sent, and how many it takes at most
    when it said so (in its Warning or its reason phrase)."""

    entries: int
    limit: int | None


Output = Send | Updates | Status | ServerWarning


@dataclass(frozen=True, slots=True)
class SubscriptionConfig:
    aor: str  # the account, e.g. sip:alice@example.org
    target: str  # the RLS URI (request-contained list) or the list URI (server-stored list)
    resources: tuple[str, ...] | None  # the book's resource URIs; None for a server-stored list
    credentials: Credentials | None = None
    expires: int = 3600
    deflate: bool = True
    user_agent: str = "smartbook"
    lang: str | None = None
    # Cap on a NOTIFY body once inflated: a full state of 10,000 resources with their PIDF parts is ~7 MB.
    max_body: int = 16 * 1024 * 1024


@dataclass(slots=True)
class _Dialog:
    call_id: str
    local_tag: str
    remote_tag: str | None = None
    remote_target: str | None = None
    route_set: tuple[str, ...] = ()
    local_cseq: int = 0
    remote_cseq: int | None = None


class ListSubscription:
    def __init__(
        self,
        config: SubscriptionConfig,
        *,
        local: tuple[str, int],
        transport: str,
        token: Callable[[], str],
        jitter: Callable[[], float] = lambda: 0.0,
    ) -> None:
        self.config = config
        self.local = local
        self.transport = transport.upper()
        self._token = token  # random tokens for tags, branches, Call-IDs and cnonces
        self._jitter = jitter  # 0..1, spreads retries of many clients
        self.phase = Phase.IDLE
        self.tracker = ListTracker(config.lang, config.resources)
        self.refused: TooLarge | None = None  # set when the server refused the list for its size
        self._auth = DigestSession(config.credentials) if config.credentials else None
        self._dialog: _Dialog | None = None
        self._client: ClientTransaction | None = None
        self._servers: dict[tuple[str, str, str], ServerTransaction] = {}
        self._expires = config.expires
        self._deflate = config.deflate
        self._refresh_at: float | None = None
        self._retry_at: float | None = None
        self._backoff = MIN_BACKOFF
        self._unsubscribing = False
        self._farewell = False  # the NOTIFY that ends a dialog we are leaving has come
        self._list_delta = False  # the server takes list changes in this dialog (its 200 said Supported: list-delta)
        self._listed: frozenset[str] = frozenset()  # the list the dialog holds, or will once its SUBSCRIBE is taken
        self._warned: str | None = None  # the last ServerWarning given: the same sentence is not said again

    # ------------------------------------------------------------------------------------------------ owner API

    def start(self, now: float) -> list[Output]:
        """Subscribe anew (a new dialog): the first SUBSCRIBE, with the list when it is request-contained."""
        self.tracker.reset(self.config.resources)
        self._dialog = _Dialog(call_id=f"{self._token()}@{self.local[0]}", local_tag=self._token())
        self._unsubscribing = self._farewell = self._list_delta = False
        self._listed = frozenset(self.config.resources or ())
        self._retry_at = self._refresh_at = None
        return [*self._send(self._subscribe(self._expires, initial=True), now), self._status(Phase.SUBSCRIBING, "")]

    @property
    def _in_dialog(self) -> bool:
        """Whether a subscription dialog stands that the server knows of (one to end before leaving it)."""
        dialog = self._dialog
        return dialog is not None and dialog.remote_tag is not None and self.phase in (Phase.ACTIVE, Phase.PENDING)

    def replace_list(self, resources: tuple[str, ...], now: float) -> list[Output]:
        """The book changed: send the change in the dialog when the server takes one (list-delta), else end the
        current subscription and subscribe anew with the new list (RFC 5367 alone fixes a request-contained list
        for the dialog's life; Linphone starts a new dialog too)."""
        if self.config.resources is None or set(resources) == set(self.config.resources):
            return []
        self.config = replace(self.config, resources=resources)
        if self._list_delta and self._in_dialog:
            self.tracker.relist(resources)
            if self._client is not None:
                return []  # sent once the SUBSCRIBE in flight is answered (see _accepted)
            return self._send_delta(now)
        outputs: list[Output] = []
        if self._in_dialog:
            outputs += self._end_quietly(now)
        return [*outputs, *self.start(now)]

    def _send_delta(self, now: float) -> list[Output]:
        """A refresh in the dialog that changes its list to the book's."""
        wanted = frozenset(self.config.resources or ())
        added, removed = wanted - self._listed, self._listed - wanted
        self._listed = wanted
        request = self._subscribe(self._expires, initial=False, delta=build_list_delta(added, removed))
        detail = f"sending the book's changes ({len(added)} added, {len(removed)} removed)"
        return [*self._send(request, now), self._status(self.phase, detail)]

    def stop(self, now: float) -> list[Output]:
        """Unsubscribe (Expires: 0 in the dialog) and stay stopped."""
        outputs: list[Output] = []
        if self._in_dialog:
            self._unsubscribing = True
            outputs += self._send(self._subscribe(0, initial=False), now)
        self._refresh_at = self._retry_at = None
        return [*outputs, self._status(Phase.STOPPED, "unsubscribed" if outputs else "stopped")]

    @property
    def leaving(self) -> bool:
        """Whether, after `stop`, the server has yet to answer the unsubscription or to send its last NOTIFY."""
        return self._client is not None or (self._unsubscribing and not self._farewell)

    @property
    def deadline(self) -> float | None:
        times = [self._refresh_at, self._retry_at]
        if self._client is not None:
            times.append(self._client.deadline)
        times += [server.deadline for server in self._servers.values()]
        known = [t for t in times if t is not None]
        return min(known) if known else None

    def on_timer(self, now: float) -> list[Output]:
        outputs: list[Output] = []
        for key, server in list(self._servers.items()):
            server.on_timer(now)
            if server.deadline is None and server.state.value == "terminated":
                del self._servers[key]
        if self._client is not None and self._client.deadline is not None and now >= self._client.deadline:
            outcome = self._client.on_timer(now)
            if isinstance(outcome, Retransmit):
                outputs.append(Send(outcome.data))
            elif isinstance(outcome, TimedOut):
                self._client = None
                outputs += self._retry_later(now, "the server did not answer the SUBSCRIBE")
        if self._refresh_at is not None and now >= self._refresh_at:
            self._refresh_at = None
            outputs += self._send(self._subscribe(self._expires, initial=False), now)
        if self._retry_at is not None and now >= self._retry_at:
            self._retry_at = None
            outputs += self.start(now)
        return outputs

    def on_transport_lost(self, now: float, reason: str) -> list[Output]:
        """The connection or socket went away: subscribe again later, on a new one (the owner makes it)."""
        if self.phase in (Phase.STOPPED, Phase.FAILED):
            return []
        self._client = None
        self._servers.clear()
        return self._retry_later(now, f"no connection to the server ({reason})")

    def on_message(self, message: SipMessage, now: float) -> list[Output]:
        try:
            if isinstance(message, SipResponse):
                return self._on_response(message, now)
            return self._on_request(message, now)
        except SipParseError as exc:  # a malformed header in an otherwise framed message
            if isinstance(message, SipRequest):
                return [Send(_response(message, 400, "Bad Request", warning=str(exc)).to_bytes())]
            return []

    # ------------------------------------------------------------------------------------------------ requests

    def _subscribe(self, expires: int, *, initial: bool, delta: bytes | None = None) -> SipRequest:
        dialog = self._dialog
        assert dialog is not None
        dialog.local_cseq += 1
        config = self.config
        host, port = self.local
        transport = self.transport.lower()
        alias = ";alias" if transport != "udp" else ""
        headers = Headers(
            [
                ("Via", f"SIP/2.0/{self.transport} {host}:{port};branch=z9hG4bK{self._token()};rport{alias}"),
                ("Max-Forwards", 70),
                ("From", f"<{config.aor}>;tag={dialog.local_tag}"),
                ("To", f"<{config.target}>" + (f";tag={dialog.remote_tag}" if dialog.remote_tag else "")),
                ("Call-ID", dialog.call_id),
                ("CSeq", f"{dialog.local_cseq} SUBSCRIBE"),
                ("Contact", f"<sip:{_user(config.aor)}@{host}:{port};transport={transport}>"),
                ("Event", "presence"),
                ("Expires", expires),
                ("Supported", "eventlist"),
                ("Accept", ACCEPT),
                ("Accept-Encoding", "deflate"),
                ("User-Agent", config.user_agent),
            ]
        )
        for route in dialog.route_set:
            headers.add("Route", route)
        body = b""
        if initial and config.resources is not None:
            body = build_resource_lists(config.resources)
            headers.add("Content-Type", "application/resource-lists+xml")
            headers.add("Content-Disposition", "recipient-list")
            headers.add("Require", "recipient-list-subscribe")
        elif delta is not None:
            body = delta
            headers.add("Content-Type", "application/resource-lists+xml")
            headers.add("Require", LIST_DELTA)
        if self._deflate and len(body) > DEFLATE_ABOVE:
            body = deflate(body)
            headers.add("Content-Encoding", "deflate")
        uri = config.target if initial or dialog.remote_target is None else dialog.remote_target
        request = SipRequest("SUBSCRIBE", uri, headers, body)
        if self._auth is not None:
            answer = self._auth.authorize(method="SUBSCRIBE", uri=uri, cnonce=self._token(), body=body)
            if answer is not None:
                headers.add(self._auth_header, answer)
        return request

    _auth_header = "Proxy-Authorization"

    def _send(self, request: SipRequest, now: float) -> list[Output]:
        self._client = ClientTransaction(request, reliable=self.transport != "UDP")
        return [Send(self._client.start(now))]

    # ------------------------------------------------------------------------------------------------ responses

    def _on_response(self, response: SipResponse, now: float) -> list[Output]:
        client = self._client
        if client is None or (response.via_branch, response.cseq[1]) != client.key:
            return []  # a late or stray response
        passed = client.on_response(response, now)
        if passed is None or passed.status < 200:
            return []
        self._client = None
        request = client.request
        status = passed.status
        if 200 <= status < 300:
            return self._accepted(request, passed, now)
        if status in (401, 407):
            return self._challenged(request, passed, now)
        if (status == 481 and not _is_initial(request)) or _is_delta(request):
            # The server forgot the subscription, or would not change its list in the dialog: a new one, whole.
            return [*(self._end_quietly(now) if status != 481 else []), *self.start(now)]
        if status == 423:
            return self._too_brief(passed, now)
        if status == 413 and _is_initial(request) and self.config.resources is not None:
            return self._too_large(passed)
        if status == 415 and request.headers.get("Content-Encoding"):
            self._deflate = False  # the server does not take deflated bodies: send the list plain
            return self.start(now)
        if status in _FATAL:
            return [self._status(Phase.FAILED, _FATAL[status].format(reason=passed.reason))]
        retry_after = _retry_after(passed.headers.get("Retry-After"))
        return self._retry_later(now, f"the server answered {status} {passed.reason}", retry_after)

    def _accepted(self, request: SipRequest, response: SipResponse, now: float) -> list[Output]:
        if self._auth is not None:
            self._auth.accepted()
        dialog = self._dialog
        assert dialog is not None
        if request.headers.get("Expires") == "0":
            return []  # our unsubscription went through
        if _is_initial(request):
            dialog.remote_tag = response.to_tag or dialog.remote_tag
            dialog.route_set = tuple(reversed(response.headers.get_all("Record-Route")))
            contact = response.headers.get("Contact")
            if contact:
                dialog.remote_target = str(parse_name_addr(contact).uri)
            if not any(value.lower() == "eventlist" for value in response.headers.get_all("Require")):
                return [*self._end_quietly(now), self._status(Phase.FAILED, self._not_a_list())]
            self._list_delta = any(value.lower() == LIST_DELTA for value in response.headers.get_all("Supported"))
        self._backoff = MIN_BACKOFF
        expires = response.expires if response.expires is not None else self._expires
        self._schedule_refresh(now, expires)
        outputs: list[Output] = self._warning(response)
        if self.phase in (Phase.SUBSCRIBING, Phase.WAITING, Phase.IDLE):
            outputs.append(self._status(Phase.PENDING, "the server accepted the list; waiting for its state"))
        if self._list_delta and self.config.resources is not None and frozenset(self.config.resources) != self._listed:
            outputs += self._send_delta(now)  # the book changed while this SUBSCRIBE was in flight
        return outputs

    def _warning(self, response: SipResponse) -> list[Output]:
        """The server's 399 Warning, the first time it says that sentence."""
        found = (_WARNING_399.match(value) for value in response.headers.get_all("Warning"))
        texts = [_QUOTED_PAIR.sub(r"\1", match[1]) for match in found if match]
        text = "; ".join(texts)
        if not text or text == self._warned:
            return []
        self._warned = text
        return [ServerWarning(text)]

    def _not_a_list(self) -> str:
        if self.config.resources is not None:
            return (
                "this server has no RFC 5367 support: it accepted the SUBSCRIBE but ignored the list in it "
                "(use a server-stored list with --list-uri, or a resource list server)"
            )
        return f"{self.config.target} is not a resource list on this server (no Require: eventlist in its answer)"

    def _challenged(self, request: SipRequest, response: SipResponse, now: float) -> list[Output]:
        if self._auth is None:
            return [self._status(Phase.FAILED, "the server asks for a password: give the account's credentials")]
        name = "WWW-Authenticate" if response.status == 401 else "Proxy-Authenticate"
        self._auth_header = "Authorization" if response.status == 401 else "Proxy-Authorization"
        try:
            answer = self._auth.answer(
                response.headers.get_all(name),
                method="SUBSCRIBE",
                uri=request.uri,
                cnonce=self._token(),
                body=request.body,
            )
        except AuthError as exc:
            return [self._status(Phase.FAILED, str(exc))]
        again = _resend(request, self._token(), self._next_cseq())
        again.headers.remove("Authorization")
        again.headers.remove("Proxy-Authorization")
        again.headers.add(self._auth_header, answer)
        return self._send(again, now)

    def _too_brief(self, response: SipResponse, now: float) -> list[Output]:
        minimum = response.headers.get("Min-Expires")
        if minimum is None or not minimum.strip().isdigit() or int(minimum) <= self._expires:
            why = "the server refused the subscription's duration (423) without a usable Min-Expires"
            return [self._status(Phase.FAILED, why)]
        self._expires = int(minimum)
        return self.start(now)

    def _too_large(self, response: SipResponse) -> list[Output]:
        texts = [*response.headers.get_all("Warning"), response.reason]
        limit = next((int(found[1]) for text in texts if (found := _AT_MOST.search(text))), None)
        entries = len(self.config.resources or ())
        self.refused = TooLarge(entries, limit)
        takes = f"takes at most {limit}" if limit is not None else "did not say how many it takes"
        return [self._status(Phase.FAILED, f"the server refused a list of {entries} entries as too large ({takes})")]

    def _next_cseq(self) -> int:
        assert self._dialog is not None
        self._dialog.local_cseq += 1
        return self._dialog.local_cseq

    def _schedule_refresh(self, now: float, expires: int) -> None:
        # Refresh well before expiry: halfway for short subscriptions, a minute early for long ones.
        self._refresh_at = now + max(expires / 2, expires - 60) if expires > 0 else None

    def _retry_later(self, now: float, why: str, after: float | None = None) -> list[Output]:
        delay = after if after is not None else self._backoff * (1 + self._jitter())
        self._backoff = min(self._backoff * 2, MAX_BACKOFF)
        self._retry_at = now + delay
        self._refresh_at = None
        return [self._status(Phase.WAITING, f"{why}; trying again in {delay:.0f} s")]

    def _end_quietly(self, now: float) -> list[Output]:
        """Unsubscribe a dialog we will not use (a server that did not take the list, a list lost track of)."""
        self._refresh_at = None
        self._unsubscribing = True
        return self._send(self._subscribe(0, initial=False), now)

    # ------------------------------------------------------------------------------------------------ NOTIFY

    def _on_request(self, request: SipRequest, now: float) -> list[Output]:
        reliable = self.transport != "UDP"
        key = server_key(request)
        known = self._servers.get(key)
        if known is not None:  # a retransmission: the same answer again, nothing passed up twice
            again = known.on_retransmission()
            return [Send(again)] if again is not None else []
        server = ServerTransaction(request, reliable=reliable)
        self._servers[key] = server
        response, outputs = self._answer(request, now)
        return [Send(server.respond(response, now)), *outputs]

    def _answer(self, request: SipRequest, now: float) -> tuple[SipResponse, list[Output]]:
        if request.method != "NOTIFY":
            return _response(request, 405, "Method Not Allowed", allow="NOTIFY"), []
        dialog = self._dialog
        if dialog is None or request.call_id != dialog.call_id or request.to_tag != dialog.local_tag:
            return _response(request, 481, "Subscription Does Not Exist"), []
        if (request.headers.get("Event") or "").split(";")[0].strip().lower() != "presence":
            return _response(request, 489, "Bad Event"), []
        cseq = request.cseq[0]
        if dialog.remote_cseq is not None and cseq <= dialog.remote_cseq:
            return _response(request, 500, "Server Internal Error", warning="CSeq out of order"), []
        dialog.remote_cseq = cseq
        if dialog.remote_tag is None:  # the NOTIFY came before the 200 OK
            dialog.remote_tag = request.from_tag
        contact = request.headers.get("Contact")
        if contact:
            dialog.remote_target = str(parse_name_addr(contact).uri)
        state_header = request.headers.get("Subscription-State")
        if state_header is None:
            return _response(request, 400, "Missing Subscription-State"), []
        try:
            body = decode_notify_body(
                request.content_type, request.content_encoding, request.body, self.config.max_body
            )
        except PresenceDocumentError as exc:  # answered, and said: a state nobody sees is no state at all
            why = f"a NOTIFY could not be read and was refused: {exc}"
            return _response(request, 400, "Bad Request", warning=str(exc)), [self._status(self.phase, why)]
        outputs = self._on_state(state_header, now)
        if isinstance(body, ListState):
            outputs += self._on_list_state(body, now)
        elif body is not None and self.phase is not Phase.FAILED:
            outputs += [*self._end_quietly(now), self._status(Phase.FAILED, self._not_a_list())]
        return _response(request, 200, "OK"), outputs

    def _on_list_state(self, body: ListState, now: float) -> list[Output]:
        outputs: list[Output] = []
        tracked = self.tracker.apply(body)
        if tracked.updates:
            outputs.append(Updates(tracked.updates))
        if tracked.completed:
            outputs.append(self._status(self.phase, self._complete_detail()))
        if tracked.needs_full_state:
            outputs += [*self._end_quietly(now), *self._restart_for_full_state(now, tracked.needs_full_state)]
        return outputs

    def _restart_for_full_state(self, now: float, why: str) -> list[Output]:
        self._retry_at = now  # a new subscription on the next timer tick
        return [self._status(Phase.WAITING, f"{why}; subscribing again for a full state")]

    def _on_state(self, header: str, now: float) -> list[Output]:
        if self._unsubscribing or self.phase in (Phase.STOPPED, Phase.FAILED):
            self._farewell = self._farewell or header.partition(";")[0].strip().lower() == "terminated"
            return []  # the end of a dialog we are leaving: nothing to act on
        value, params = split_params(header)
        state = value.strip().lower()
        named = {name.lower(): (argument or "") for name, argument in params}
        if state == "active":
            self._backoff = MIN_BACKOFF
            if named.get("expires", "").isdigit():
                self._schedule_refresh(now, int(named["expires"]))
            return [self._status(Phase.ACTIVE, "")] if self.phase is not Phase.ACTIVE else []
        if state == "pending":
            return [self._status(Phase.PENDING, "the server has not authorised the list yet")]
        if state != "terminated":
            return []
        reason = named.get("reason", "")
        self._refresh_at = None
        if reason in ("deactivated", "timeout"):
            self._retry_at = now
            return [self._status(Phase.WAITING, f"the server ended the subscription ({reason}); subscribing again")]
        if reason in ("rejected", "noresource"):
            why = "refused the list" if reason == "rejected" else "does not know the list"
            return [self._status(Phase.FAILED, f"the server {why} ({reason})")]
        retry_after = _retry_after(named.get("retry-after"))
        why = f"the server ended the subscription ({reason or 'no reason given'})"
        return self._retry_later(now, why, retry_after)

    def _complete_detail(self) -> str:
        resources = self.config.resources
        if resources is None:
            return "the full state of the list has arrived"
        return f"the state of all {len(resources)} resources has arrived"

    def _status(self, phase: Phase, detail: str) -> Status:
        self.phase = phase
        return Status(phase, detail, self.tracker.complete)


_FATAL = {
    403: "the server forbids this subscription ({reason}): check the account and the list URI",
    404: "the server does not know the list URI ({reason})",
    415: "the server does not accept resource lists in a SUBSCRIBE ({reason}): it has no RFC 5367 support",
    420: "the server does not support list subscriptions ({reason}): it has no RFC 5367 support",
    421: "the server requires an extension smartbook does not have ({reason})",
    489: "the server does not offer presence subscriptions ({reason})",
}


# "at most 10000 entries" (smartbook's Warning), "max 10000 resources"...; never a size in bytes.
_AT_MOST = re.compile(r"(?:at most|max(?:imum)?)\s*:?\s*(\d{1,9})\s*(?:entries|entry|resources|URIs)\b", re.IGNORECASE)


# warn-code 399, any agent, the quoted text (RFC 3261 section 20.43)
_WARNING_399 = re.compile(r'\s*399\s+\S+\s+"((?:[^"\\]|\\.)*)"')
_QUOTED_PAIR = re.compile(r"\\(.)")


def _is_delta(request: SipRequest) -> bool:
    return any(value.lower() == LIST_DELTA for value in request.headers.get_all("Require"))


def _is_initial(request: SipRequest) -> bool:
    to = request.headers.get("To") or ""
    return parse_name_addr(to).tag is None


def _user(aor: str) -> str:
    address = parse_name_addr(aor).uri
    return getattr(address, "user", None) or "smartbook"


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    seconds = value.split(";")[0].split("(")[0].strip()
    return float(seconds) if seconds.isdigit() else None


def _resend(request: SipRequest, branch_token: str, cseq: int) -> SipRequest:
    """The same request in a new transaction: a new branch and the next CSeq (RFC 3261 22.2)."""
    headers = request.headers.copy()
    via = headers.get("Via") or ""
    top, _, rest = via.partition(";branch=")
    parameters = rest.split(";", 1)
    headers.remove("Via")
    rest_of_via = f";{parameters[1]}" if len(parameters) > 1 else ""
    headers.add("Via", f"{top};branch=z9hG4bK{branch_token}{rest_of_via}")
    headers.set("CSeq", f"{cseq} {request.method}")
    return SipRequest(request.method, request.uri, headers, request.body)


def _response(request: SipRequest, status: int, reason: str, *, warning: str = "", allow: str = "") -> SipResponse:
    headers = Headers()
    for name in ("Via", "From", "To", "Call-ID", "CSeq"):
        for value in request.headers.get_all(name) if name == "Via" else [request.headers.get(name) or ""]:
            headers.add(name, value)
    if warning:
        headers.add("Warning", f'399 smartbook "{warning.replace(chr(34), chr(39))[:200]}"')
    if allow:
        headers.add("Allow", allow)
    return SipResponse(status, reason, headers)
