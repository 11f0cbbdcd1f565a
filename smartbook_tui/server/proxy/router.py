"""Call routing, sans-IO: INVITE and the requests of calls and messages (ACK, BYE, CANCEL, UPDATE, INFO, PRACK,
MESSAGE, OPTIONS, REFER, NOTIFY) between the server's users, as a transaction-stateful proxy (RFC 3261 16).

Each request out of a dialog for a user of the domain (`sip:bob@domain`, or a verified number: `sip:+E164@domain;
user=phone`, the number as user part, `tel:+E164`) goes to every device the registrar holds for that account; each
is a client transaction (RFC 3261 17.1, timers from the clock passed in). The first 2xx wins and the other INVITEs
are cancelled; when every device refused, the caller gets the best refusal (a 6xx, else the lowest class). An
INVITE is record-routed, so the requests of the dialog it makes come back through the server, whose Route entries
are taken off (loose routing) and which sends them on to the next Route or to the Request-URI.

What the caller's side gets: 100 Trying for an INVITE at once; 404 for no such user, 480 when none of their
devices is registered (404 too for a number whose account the caller may not find by it: `server.discovery`; a
call to a number charges the caller's discovery quota, 403 once it is spent); 407 for an INVITE or MESSAGE from an
address of the domain without its account's credentials (403 when they are another account's); 483 when
Max-Forwards is spent, 400 for what does not read,
416 for a Request-URI scheme other than sip, sips and tel, 420 for a Proxy-Require, 403 for a request out of a
dialog to another domain (no relaying). Bodies pass untouched: their types and encodings are the callee's to
accept (415 comes from it). Each source may have `max_pending_per_source` requests waiting for their final
answer, and all together `max_pending`; past that a request gets 503 with Retry-After.

An ACK for a non-2xx is the caller's side of a transaction here and ends there; an ACK for a 2xx is sent on end to
end, statelessly. A CANCEL is answered 200 at once and ends the INVITE it matches with 487, cancelling its
branches; a CANCEL matching nothing gets 481.

`transactions` counts the proxy's live transactions (both sides); it returns to zero once every timer has run.
"""

from __future__ import annotations

import hashlib
import heapq
import logging
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from smartbook_tui.server.client_address import is_trusted, relayed_client, via_proxy
from smartbook_tui.server.ratelimit import SourceLimiter
from smartbook_tui.server.refusal import Refusal
from smartbook_tui.server.registrar import Registrar
from smartbook_tui.server.replies import response_to
from smartbook_tui.server.request_checks import check_request
from smartbook_tui.server.requests import entry_key
from smartbook_tui.server.store import Account
from smartbook_tui.sip.message import Headers, SipRequest, SipResponse
from smartbook_tui.sip.peer import Peer
from smartbook_tui.sip.source import source_key
from smartbook_tui.sip.transaction import (
    ClientTransaction,
    InviteClientTransaction,
    InviteServerTransaction,
    InviteState,
    Retransmit,
    ServerTransaction,
    State,
    TimedOut,
    server_key,
)
from smartbook_tui.sip.uri import SipParseError, SipUri, parse_name_addr

from .forking import best_response
from .routes import Addresses, peer_for, record_route, request_uri, user_key

__all__ = ["PROXIED_METHODS", "Proxy", "ProxyConfig"]

log = logging.getLogger(__name__)

PROXIED_METHODS = frozenset(
    {"INVITE", "ACK", "BYE", "CANCEL", "UPDATE", "INFO", "PRACK", "MESSAGE", "OPTIONS", "REFER", "NOTIFY"}
)
_AUTHENTICATED = frozenset({"INVITE", "MESSAGE"})  # what leaves an account needs its credentials
_BRANCH = "z9hG4bKsbp"  # the proxy's Via branches start so; the presence core's NOTIFYs do not
_DEFAULT_MAX_FORWARDS = 70

Out = list[tuple[bytes, object]]  # (data, peer)
Authenticate = Callable[[SipRequest, Peer, float], "str | SipResponse"]


@dataclass(frozen=True, slots=True)
class ProxyConfig:
    domain: str
    via: dict[str, str]  # transport -> the host:port written in Via and Record-Route
    max_pending_per_source: int = 200
    max_pending: int = 10_000
    trusted_proxies: frozenset[str] = frozenset()  # whose requests count as their client's (`client_address`)


class _Call:
    """One proxied request: the server transaction toward its sender, the client transactions toward its targets."""

    __slots__ = ("answered", "branches", "key", "live", "peer", "request", "server", "source")

    def __init__(self, request: SipRequest, peer: Peer, key: tuple[str, str, str], source: str) -> None:
        reliable = peer.transport != "UDP"
        self.request = request
        self.peer = peer
        self.key = key
        self.source = source
        self.server: InviteServerTransaction | ServerTransaction = (
            InviteServerTransaction(request, reliable=reliable, key=key)
            if request.method == "INVITE"
            else ServerTransaction(request, reliable=reliable, key=key)
        )
        self.branches: list[_Branch] = []
        self.live = 0  # branches whose transactions are not over
        self.answered = False  # a final response went to the sender

    @property
    def deadline(self) -> float | None:
        return self.server.deadline

    @property
    def over(self) -> bool:
        return self.server.state in (InviteState.TERMINATED, State.TERMINATED) and not self.live


class _Branch:
    """The request sent to one target, and the CANCEL that may follow it."""

    __slots__ = ("call", "cancel", "final", "id", "peer", "transaction")

    def __init__(self, call: _Call, branch: str, peer: Peer, transaction: InviteClientTransaction | ClientTransaction):
        self.call = call
        self.id = branch
        self.peer = peer
        self.transaction = transaction
        self.cancel: ClientTransaction | None = None
        self.final: SipResponse | None = None  # with the proxy's Via taken off

    @property
    def deadline(self) -> float | None:
        deadlines = [d for d in (self.transaction.deadline, self.cancel and self.cancel.deadline) if d is not None]
        return min(deadlines) if deadlines else None


class Proxy:
    def __init__(
        self,
        config: ProxyConfig,
        registrar: Registrar,
        *,
        lookup: Callable[[str], Account | None],
        authenticate: Authenticate,
        token: Callable[[], str],
        limiter: SourceLimiter,
        look_up_elsewhere: Callable[[str], None] | None = None,
        findable: Callable[[str | None, Account], bool] = lambda seeker, account: True,
        charge_number: Callable[[str, str, str], str | None] = lambda caller, number, source: None,
    ) -> None:
        """`lookup`: the account a username or an E.164 number names; `authenticate`: the username whose
        credentials a request carries, or the response to send (a challenge, a refusal); `look_up_elsewhere`, on a
        node of a cluster: ask for an account's registrations on the other nodes (given by `bindings_found`).
        Discovery: `findable` says whether a caller (None: unauthenticated) may learn that a number is an account's,
        `charge_number` charges the discovery quota of a caller, calling from a client address, for a number it calls
        (the refusal's reason when it is spent)."""
        self.config = config
        self.registrar = registrar
        self.addresses = Addresses(config.domain, config.via)
        self._lookup = lookup
        self._authenticate = authenticate
        self._token = token
        self._limiter = limiter
        self._look_up_elsewhere = look_up_elsewhere
        self._findable = findable
        self._charge_number = charge_number
        # AOR -> the calls waiting for its bindings, each with whether its credentials were consumed and whether
        # its caller may not learn the number is an account (it then gets 404, not 480, when there is no device)
        self._waiting: dict[str, list[tuple[_Call, bool, bool]]] = {}
        self._calls: dict[tuple[str, str, str], _Call] = {}
        self._branches: dict[str, _Branch] = {}
        self._pending: dict[Hashable, int] = {}  # source -> its requests without a final answer yet
        self._pending_total = 0
        self._timers: list[tuple[float, int, _Call | _Branch]] = []
        self._wakes: dict[_Call | _Branch, float] = {}
        self._serial = 0
        self._out: Out = []

    # ------------------------------------------------------------------------------------------ inspection

    @property
    def transactions(self) -> int:
        """Live transactions: the requests being handled, and those sent on."""
        return len(self._calls) + len(self._branches)

    @property
    def pending(self) -> int:
        """Requests waiting for their final answer."""
        return self._pending_total

    def next_deadline(self) -> float | None:
        return self._timers[0][0] if self._timers else None

    def takes(self, request: SipRequest) -> bool:
        """Whether a request is the proxy's: a method of calls and messages, except an OPTIONS to the server
        itself (out of a dialog, no user in its Request-URI, whatever Route a phone preloads), which the server
        answers."""
        if request.method not in PROXIED_METHODS:
            return False
        if request.method != "OPTIONS":
            return True
        try:
            uri = request_uri(request.uri)
            in_dialog = request.to_tag is not None
        except (Refusal, SipParseError):
            return True
        return in_dialog or not (isinstance(uri, SipUri) and uri.user is None)

    @staticmethod
    def owns(branch: str) -> bool:
        """Whether a response whose top Via has this branch answers a request the proxy forwarded."""
        return branch.startswith(_BRANCH)

    # ------------------------------------------------------------------------------------------ input

    def in_progress(self, key: tuple[str, str, str]) -> bool:
        """Whether a request with this transaction key is being handled (a retransmission of it is absorbed)."""
        return key in self._calls

    def receive_request(self, request: SipRequest, peer: Peer, now: float) -> Out:
        try:
            key = server_key(request)
        except SipParseError:
            log.debug("dropped a %s with an unreadable Via from %s", request.method, peer)
            return self._flush()
        try:
            if request.method == "ACK":
                self._ack(request, key, now)
            elif (call := self._calls.get(key)) is not None:
                again = call.server.on_retransmission()
                if again is not None:
                    self._out.append((again, peer))
            elif request.method == "CANCEL":
                self._cancel(request, peer, key, now)
            else:
                self._start(request, peer, key, now)
        except Exception:  # a bug: log it, and keep serving everyone else
            log.exception("failed to handle a %s from %s", request.method, peer)
        return self._flush()

    def receive_response(self, response: SipResponse, now: float) -> Out:
        try:
            branch = self._branches.get(response.via_branch or "")
            method = response.cseq[1]
        except SipParseError:
            return self._flush()
        if branch is None:
            return self._flush()
        try:
            if method == "CANCEL":
                if branch.cancel is not None:
                    branch.cancel.on_response(response, now)
            elif method == branch.call.request.method:
                self._on_branch_response(branch, response, now)
            self._settle(branch, now)
        except Exception:  # a bug: log it, and keep serving everyone else
            log.exception("failed to handle a %d response from %s", response.status, branch.peer)
        return self._flush()

    def on_timer(self, now: float) -> Out:
        timers = self._timers
        while timers and timers[0][0] <= now:
            when, _, item = heapq.heappop(timers)
            if self._wakes.get(item) != when:
                continue  # replaced by an earlier wake-up
            del self._wakes[item]
            if isinstance(item, _Branch):
                self._branch_timer(item, now)
            else:
                self._call_timer(item, now)
        return self._flush()

    # ------------------------------------------------------------------------------------------ requests

    def _start(self, request: SipRequest, peer: Peer, key: tuple[str, str, str], now: float) -> None:
        client = relayed_client(request, peer.address, self.config.trusted_proxies)
        source = source_key((client or peer.address)[0])
        verdict = self._limiter.admit(source, now)
        if verdict == "drop":
            return
        if verdict == "refuse":
            log.warning("rate-limiting %s: over %g requests a second", via_proxy(peer, client), self._limiter.rate)
            self._out.append((response_to(request, 503, "Service Unavailable", {"Retry-After": "1"}).to_bytes(), peer))
            return
        if self._pending_total >= self.config.max_pending or (
            self._pending.get(source, 0) >= self.config.max_pending_per_source
        ):
            log.warning(
                "refused a %s from %s: too many requests waiting for an answer", request.method, via_proxy(peer, client)
            )
            reply = response_to(request, 503, "Service Unavailable (too many calls in progress)", {"Retry-After": "5"})
            self._out.append((reply.to_bytes(), peer))
            return
        call = _Call(request, peer, key, source)
        self._calls[key] = call
        self._pending[source] = self._pending.get(source, 0) + 1
        self._pending_total += 1
        if request.method == "INVITE":
            self._answer(call, response_to(request, 100, "Trying"), now)
        try:
            check_request(request)
            self._route(call, now)
        except _Answered as answered:
            self._answer(call, answered.response, now)
        except Refusal as refusal:
            self._refuse(call, refusal.status, refusal.reason, refusal.headers, now)
        except Exception:  # a bug: answer, log it, and keep serving everyone else
            log.exception("failed to route a %s from %s", request.method, peer)
            self._refuse(call, 500, "Server Internal Error", None, now)
        self._check_over(call)

    def _route(self, call: _Call, now: float) -> None:
        request = call.request
        hops = _max_forwards(request)
        unsupported = request.headers.get_all("Proxy-Require")
        if unsupported:
            raise Refusal(420, "Bad Extension", {"Unsupported": ", ".join(unsupported)})
        uri = request_uri(request.uri)
        written = request.headers.get_all("Route")
        routes = self.addresses.split_routes(written)
        key = user_key(uri, self.addresses)
        consumed = False
        asserted = None
        if routes or (key is None and request.to_tag):
            if len(routes) == len(written):  # not record-routed here: the server is no relay
                raise Refusal(403, "Forbidden (a request of a dialog passes only through the Record-Route it set)")
            targets = [(request.uri, peer_for(parse_name_addr(routes[0]).uri if routes else uri, self.registrar, now))]
        elif key is not None:
            caller = self._check_caller(call, now) if not request.to_tag else None
            consumed = caller is not None
            if caller is not None and key.startswith("+"):
                spent = self._charge_number(caller, key, call.source)
                if spent is not None:
                    raise Refusal(403, f"Forbidden ({spent})")
            targets, retargeted = self._locate(key, call, consumed, caller or self._asserted(call), now)
            if retargeted and caller is not None:  # the node it goes to trusts this node's word for the caller
                asserted = f"<sip:{caller}@{self.addresses.domain}>"
        elif isinstance(uri, SipUri) and self.addresses.is_ours(uri):
            raise Refusal(404, "Not Found (no user in the address)")
        else:
            raise Refusal(403, f"Forbidden (this server routes only to its own users, not to {request.uri[:80]})")
        record = request.method == "INVITE" and not request.to_tag
        for target_uri, peer in targets:
            self._fork(
                call, target_uri, peer, routes, hops - 1, record=record, consumed=consumed, asserted=asserted, now=now
            )

    def _check_caller(self, call: _Call, now: float) -> str | None:
        """Authenticate a request leaving an account of the domain: the account whose credentials it consumed, or
        None when it needs none (another method, a call from another domain, or a caller another node of a
        cluster authenticated and asserts)."""
        request = call.request
        if request.method not in _AUTHENTICATED:
            return None
        sender = str(parse_name_addr(request.headers.get("From") or "").uri)
        sender_key = entry_key(sender, self.addresses.domain)
        if sender_key is None:
            return None  # from another domain: a call coming in
        asserted = self._asserted(call)
        if asserted is not None:
            if asserted != sender_key:
                raise Refusal(403, "Forbidden (the asserted identity is not the From address)")
            return None
        username = self._authenticate(request, call.peer, now)
        if isinstance(username, SipResponse):
            raise _Answered(username)
        if sender_key != username:
            raise Refusal(
                403, f"Forbidden (the From address is not the account {username[:40]} whose credentials came)"
            )
        return username

    def _asserted(self, call: _Call) -> str | None:
        """The caller another node authenticated (P-Asserted-Identity, RFC 3325) when the request came through a
        trusted proxy, the front of a cluster, which takes the header off its clients' requests; else None."""
        if not self._trusted(call.peer):
            return None
        value = call.request.headers.get("P-Asserted-Identity")
        if value is None:
            return None
        try:
            return entry_key(str(parse_name_addr(value).uri), self.addresses.domain)
        except SipParseError:
            raise Refusal(400, "Bad Request (P-Asserted-Identity does not read)") from None

    def _trusted(self, peer: Peer) -> bool:
        return is_trusted(peer.address, self.config.trusted_proxies)

    def _locate(
        self, key: str, call: _Call, consumed: bool, seeker: str | None, now: float
    ) -> tuple[list[tuple[str, Peer]], bool]:
        """Where the request for the user `key` goes, and whether it goes back to the front it came through; no
        target when it waits for the other nodes' registrations of the user (`bindings_found`). A number whose
        account the `seeker` may not find that way is answered as a number without an account, but for a call or
        a message that reaches a device: calls to the number still work."""
        request = call.request
        account = self._lookup(key)
        hidden = account is not None and key.startswith("+") and not self._findable(seeker, account)
        if account is None or (hidden and request.method not in _AUTHENTICATED):
            raise Refusal(404, f"Not Found ({request.uri[:80]} is no user here)")
        targets: list[tuple[str, Peer]] = []
        for binding in self.registrar.bindings(account.address, now):
            if isinstance(binding.source, Peer):
                targets.append((str(binding.contact.uri), binding.source))
        if targets:
            (log.info if request.method == "INVITE" else log.debug)(
                "%s %s -> %s (%d devices)", request.method, _caller(request), account.name, len(targets)
            )
            return targets, False
        if key.startswith("+") and self._trusted(call.peer) and not hidden:
            # Named by number through the front of a cluster, which hashed on the number: the callee registers
            # on the node its username hashes to. Back to the front, addressed to that username (not a number:
            # no second turn). Not for a hidden number, whose 480 there would tell it is an account's: this node
            # reads the registrations from the cluster instead.
            log.info("%s %s -> %s: not registered here, back to the front", request.method, _caller(request), key)
            return [(account.address, call.peer)], True
        if self._look_up_elsewhere is not None:  # registered through another node, maybe one that died since
            self._waiting.setdefault(account.address, []).append((call, consumed, hidden))
            self._look_up_elsewhere(account.address)
            return [], False
        raise _unavailable(account.address, request.uri if hidden else None)

    def bindings_found(self, aor: str, targets: list[tuple[str, Peer]], now: float) -> Out:
        """The registrations of `aor` the other nodes hold (URI to send to, and through where): the calls that
        waited for them go there, or get 480 when there is none."""
        for call, consumed, hidden in self._waiting.pop(aor, []):
            if call.answered or self._calls.get(call.key) is not call:
                continue  # cancelled meanwhile
            if not targets:
                refusal = _unavailable(aor, call.request.uri if hidden else None)
                self._refuse(call, refusal.status, refusal.reason, None, now)
            request = call.request
            if targets:
                log.info("%s %s -> %s, registered through another node", request.method, _caller(request), aor)
            record = request.method == "INVITE"
            for target_uri, peer in targets:
                hops = _max_forwards(request) - 1
                self._fork(call, target_uri, peer, [], hops, record=record, consumed=consumed, asserted=None, now=now)
            self._check_over(call)
        return self._flush()

    def _fork(
        self,
        call: _Call,
        target_uri: str,
        peer: Peer,
        routes: list[str],
        max_forwards: int,
        *,
        record: bool,
        consumed: bool,
        asserted: str | None,
        now: float,
    ) -> None:
        """Send `call`'s request on to `target_uri` at `peer`. `consumed`: its credentials were for this server
        (not passed on); `asserted`: the caller this server authenticated, for the node it goes to."""
        request = call.request
        trusted = self._trusted(call.peer)
        branch = f"{_BRANCH}{self._token()}"
        transport = peer.transport
        fields: list[tuple[str, str]] = [("Via", f"SIP/2.0/{transport} {self.config.via[transport]};branch={branch}")]
        if record:
            fields.append(("Record-Route", record_route(self.config.via[transport], transport)))
            if call.peer.transport != transport:  # RFC 5658: one entry for each side
                fields.append(("Record-Route", record_route(self.config.via[call.peer.transport], call.peer.transport)))
        for name, value in request.headers.items():
            lowered = name.lower()
            if lowered in ("route", "max-forwards") or (consumed and lowered == "proxy-authorization"):
                continue
            if lowered == "p-asserted-identity" and not trusted:  # only a trusted proxy's word is passed on
                continue
            fields.append((name, value))
        if asserted is not None:
            fields.append(("P-Asserted-Identity", asserted))
        fields += [("Route", route) for route in routes]
        fields.append(("Max-Forwards", str(max_forwards)))
        out = SipRequest(request.method, target_uri, Headers(fields), request.body)
        reliable = transport != "UDP"
        transaction: InviteClientTransaction | ClientTransaction = (
            InviteClientTransaction(out, reliable=reliable, branch=branch)
            if request.method == "INVITE"
            else ClientTransaction(out, reliable=reliable, key=(branch, request.method))
        )
        item = _Branch(call, branch, peer, transaction)
        call.branches.append(item)
        call.live += 1
        self._branches[branch] = item
        self._out.append((transaction.start(now), peer))
        self._wake(item)

    def _ack(self, request: SipRequest, key: tuple[str, str, str], now: float) -> None:
        call = self._calls.get((key[0], key[1], "INVITE"))
        if call is not None and isinstance(call.server, InviteServerTransaction) and call.server.on_ack(now):
            self._wake(call)
            return  # the ACK of our own non-2xx: hop by hop
        try:  # the ACK of a 2xx: end to end, statelessly, when it is a request one may pass on
            check_request(request)
            hops = _max_forwards(request)
            written = request.headers.get_all("Route")
            routes = self.addresses.split_routes(written)
            if len(routes) == len(written):
                return  # not record-routed here: the ACK of an answer given without a transaction (a 503), or junk
            next_uri = parse_name_addr(routes[0]).uri if routes else request_uri(request.uri)
            peer = peer_for(next_uri, self.registrar, now)
        except (Refusal, SipParseError) as error:
            log.debug("dropped an ACK that cannot be routed: %s", error)
            return
        if hops <= 0:
            return
        digest = hashlib.sha256(f"{key[0]}|{key[1]}|{request.call_id}".encode()).hexdigest()[:20]
        fields = [("Via", f"SIP/2.0/{peer.transport} {self.config.via[peer.transport]};branch={_BRANCH}a{digest}")]
        fields += [(n, v) for n, v in request.headers.items() if n.lower() not in ("route", "max-forwards")]
        fields += [("Route", route) for route in routes]
        fields.append(("Max-Forwards", str(hops - 1)))
        self._out.append((SipRequest("ACK", request.uri, Headers(fields), request.body).to_bytes(), peer))

    def _cancel(self, request: SipRequest, peer: Peer, key: tuple[str, str, str], now: float) -> None:
        try:
            check_request(request)
        except Refusal as refusal:  # a CANCEL that does not read cancels nothing
            self._out.append((response_to(request, refusal.status, refusal.reason, refusal.headers).to_bytes(), peer))
            return
        call = self._calls.get((key[0], key[1], "INVITE"))
        if call is None:
            self._out.append((response_to(request, 481, "Call/Transaction Does Not Exist").to_bytes(), peer))
            return
        self._out.append((response_to(request, 200, "OK").to_bytes(), peer))
        if not call.answered:
            log.info("%s cancels the call to %s", _caller(call.request), call.request.uri[:80])
            self._refuse(call, 487, "Request Terminated", None, now)
            self._cancel_branches(call, now)

    # ------------------------------------------------------------------------------------------ responses

    def _on_branch_response(self, branch: _Branch, response: SipResponse, now: float) -> None:
        transaction = branch.transaction
        passed = transaction.on_response(response, now)
        if isinstance(transaction, InviteClientTransaction) and response.status >= 300 and transaction.ack:
            self._out.append((transaction.ack, branch.peer))  # for the final and each retransmission of it
        if passed is None:
            return
        call = branch.call
        upstream = _without_top_via(passed)
        status = passed.status
        if status < 200:
            if status > 100 and not call.answered:
                self._answer(call, upstream, now)
            if call.answered and call.request.method == "INVITE":
                self._send_cancel(branch, now)  # it rings after the call was answered elsewhere or cancelled
            return
        if 200 <= status < 300:
            if call.request.method == "INVITE" or not call.answered:
                self._answer(call, upstream, now)
            if call.request.method == "INVITE":
                self._cancel_branches(call, now)
            return
        branch.final = upstream
        if status >= 600 and call.request.method == "INVITE":
            self._cancel_branches(call, now)
        self._conclude(call, now)

    def _conclude(self, call: _Call, now: float) -> None:
        """Once every branch has its final response (or a 6xx came), the best goes to the sender."""
        if call.answered:
            return
        finals = [branch.final for branch in call.branches if branch.final is not None]
        if finals and (len(finals) == len(call.branches) or any(r.status >= 600 for r in finals)):
            self._answer(call, best_response(finals), now)

    def _cancel_branches(self, call: _Call, now: float) -> None:
        for branch in call.branches:
            if isinstance(branch.transaction, InviteClientTransaction):
                self._send_cancel(branch, now)

    def _send_cancel(self, branch: _Branch, now: float) -> None:
        """RFC 3261 9.1: only a branch that has rung (the others get their CANCEL when they do), only once."""
        if branch.cancel is not None or branch.transaction.state is not InviteState.PROCEEDING:
            return
        invite = branch.transaction.request
        headers = invite.headers.only("Via", "Route", "From", "To", "Call-ID")
        vias = headers.get_all("Via")
        headers.set("Via", vias[0])
        headers.add("CSeq", f"{invite.cseq[0]} CANCEL")
        headers.add("Max-Forwards", str(_DEFAULT_MAX_FORWARDS))
        cancel = ClientTransaction(
            SipRequest("CANCEL", invite.uri, headers),
            reliable=branch.peer.transport != "UDP",
            key=(branch.id, "CANCEL"),
        )
        branch.cancel = cancel
        self._out.append((cancel.start(now), branch.peer))
        self._wake(branch)

    # ------------------------------------------------------------------------------------------ timers

    def _branch_timer(self, branch: _Branch, now: float) -> None:
        transaction = branch.transaction
        outcome = transaction.on_timer(now)
        if isinstance(outcome, Retransmit):
            self._out.append((outcome.data, branch.peer))
        elif isinstance(outcome, TimedOut):
            call = branch.call
            log.info("no answer from %s to a %s (%s)", branch.peer, call.request.method, _caller(call.request))
            if transaction.state is InviteState.PROCEEDING:  # timer C: it rang too long
                self._send_cancel(branch, now)
            branch.final = response_to(call.request, 408, "Request Timeout", to_tag=self._token())
            self._conclude(call, now)
        if branch.cancel is not None:
            again = branch.cancel.on_timer(now)
            if isinstance(again, Retransmit):
                self._out.append((again.data, branch.peer))
        self._settle(branch, now)

    def _call_timer(self, call: _Call, now: float) -> None:
        outcome = call.server.on_timer(now)
        if isinstance(outcome, Retransmit):
            self._out.append((outcome.data, call.peer))
        elif isinstance(outcome, TimedOut):
            log.info("%s never acknowledged the answer to its INVITE", call.peer)
        self._wake(call)
        self._check_over(call)

    # ------------------------------------------------------------------------------------------ plumbing

    def _answer(self, call: _Call, response: SipResponse, now: float) -> None:
        data = call.server.respond(response, now)
        if data is None:
            return
        self._out.append((data, call.peer))
        if response.status >= 200 and not call.answered:
            call.answered = True
            self._release(call)
        self._wake(call)

    def _refuse(self, call: _Call, status: int, reason: str, headers: dict[str, str] | None, now: float) -> None:
        if call.answered:
            return
        self._answer(call, response_to(call.request, status, reason, headers, to_tag=self._token()), now)

    def _release(self, call: _Call) -> None:
        left = self._pending.get(call.source, 0) - 1
        if left > 0:
            self._pending[call.source] = left
        else:
            self._pending.pop(call.source, None)
        self._pending_total -= 1

    def _settle(self, branch: _Branch, now: float) -> None:
        """Forget a branch whose transactions are over, and its call once nothing of it is left."""
        if branch.deadline is None and branch.transaction.state in (InviteState.TERMINATED, State.TERMINATED):
            if self._branches.pop(branch.id, None) is not None:
                branch.call.live -= 1
            self._check_over(branch.call)
        else:
            self._wake(branch)

    def _check_over(self, call: _Call) -> None:
        if call.over and self._calls.get(call.key) is call:
            del self._calls[call.key]
            if not call.answered:  # never happens for a request that was routed: its branches answer it
                self._release(call)

    def _wake(self, item: _Call | _Branch) -> None:
        when = item.deadline
        if when is None:
            return
        current = self._wakes.get(item)
        if current is not None and current <= when:
            return
        self._wakes[item] = when
        self._serial += 1
        heapq.heappush(self._timers, (when, self._serial, item))

    def _flush(self) -> Out:
        out, self._out = self._out, []
        return out


class _Answered(Refusal):
    """The request was answered with a response made elsewhere (the authenticator's challenge)."""

    def __init__(self, response: SipResponse) -> None:
        super().__init__(response.status, response.reason)
        self.response = response


def _unavailable(aor: str, hidden_as: str | None = None) -> Refusal:
    """480 for an account with no device registered; the 404 of a number without an account when the caller may
    not learn that the number it called, `hidden_as`, is an account's."""
    if hidden_as is not None:
        return Refusal(404, f"Not Found ({hidden_as[:80]} is no user here)")
    return Refusal(480, f"Temporarily Unavailable ({aor.removeprefix('sip:')} has no device registered)")


def _max_forwards(request: SipRequest) -> int:
    value = request.headers.get("Max-Forwards")
    if value is None:
        return _DEFAULT_MAX_FORWARDS
    hops = value.lstrip("0") or "0"  # leading zeros are allowed (RFC 4475 wsinv)
    if not value.isascii() or not value.isdigit() or len(hops) > 3:
        raise Refusal(400, "Bad Request (Max-Forwards is not a number of hops)")
    if int(hops) == 0:
        raise Refusal(483, "Too Many Hops")
    return min(int(hops), 255)


def _without_top_via(response: SipResponse) -> SipResponse:
    headers = response.headers.copy()
    vias = headers.get_all("Via")[1:]
    if vias:
        headers.set("Via", ", ".join(vias))
    else:
        headers.remove("Via")
    return SipResponse(response.status, response.reason, headers, response.body)


def _caller(request: SipRequest) -> str:
    try:
        return str(parse_name_addr(request.headers.get("From") or "").uri)[:80]
    except SipParseError:
        return "?"
