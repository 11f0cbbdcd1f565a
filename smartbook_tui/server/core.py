"""The presence server, sans-IO: registrar, presence (RFC 3856/3903/6665), resource lists (RFC 4662, RFC 5367) and
phone aliases, as one state machine.

`PresenceServer` takes messages (`receive`), the clock (`on_timer` at `next_deadline`), ended connections
(`peer_gone`), failed sends (`send_failed`) and account changes read from the store (`accounts_changed`); each
returns the `Send`s to make. The asyncio runner (`server/runner.py`) owns the sockets, the timer and the store
polling. The store (SQLite, local and quick) is read synchronously.

How a request is handled:

* Retransmissions get the answer already given (server transactions; over UDP only, TCP never retransmits).
* A source sending more than `rate_limit` requests a second gets 503 with Retry-After (one answer a second; the
  rest are dropped): a subscriber learns which numbers have accounts, so floods are both load and enumeration.
* What every request must be (`request_checks`: 400 for a malformed one, a stateless 400 when its Via does not
  read, 505 for another SIP version, 416 for a URI scheme, 420 for an unknown Require), then digest
  authentication: 401 for REGISTER, 407 for PUBLISH and SUBSCRIBE.
* Calls and messages (INVITE, ACK, BYE, CANCEL, UPDATE, INFO, PRACK, MESSAGE, REFER, NOTIFY, and an OPTIONS for a
  user) go to the `Proxy` (`server/proxy/`), with their responses: it has its own transactions, limits and timers.
* REGISTER goes to the `Registrar`; PUBLISH (only for oneself) to `Publications`; SUBSCRIBE makes a subscription:
  a resource list (`Supported: eventlist`, with an RFC 5367 body, or bodyless to one of the subscriber's stored
  lists) or one presentity (an account of the domain). The 200 goes out first, then the full-state NOTIFY. The
  numbers of a list the subscriber sent are held to its discovery quota (`discovery_quota`; the 200's Warning says
  so when some are withheld), and the list can change in a refresh (`Require: list-delta`, `_change_list`).

What each watcher sees of each entry, and which entries a change reaches, is `watching.WatchIndex`'s: the index
from accounts to the entries naming them, the shared views and the privacy gate. The core hands it every change
(a subscription added or ended, a PUBLISH, accounts changed) and sends the NOTIFYs of the subscriptions it names.

UDP subscription dialogs survive a restart (`saved_dialogs`): the core saves them in the store as they are
created, refreshed and ended, and a core built over a store that holds some asks to be woken at once
(`next_deadline` 0) and restores them `_RESTORE_SLICE` at a time, each with its full state. A graceful stop
(`shutdown`) ends them all, so none is restored after it.

Presence publications and UDP registrations survive a restart too (`saved_state`): saved on each PUBLISH and
REGISTER accepted, restored at the core's first input or timer (the first moment it knows the time), before any
saved dialog sends its full state, and kept over a graceful stop.
"""

from __future__ import annotations

import heapq
import logging
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from smartbook_tui.presence import LIST_DELTA, PresenceDocumentError, parse_list_delta
from smartbook_tui.sip.message import SipMessage, SipRequest, SipResponse
from smartbook_tui.sip.peer import Peer
from smartbook_tui.sip.source import source_key
from smartbook_tui.sip.transaction import Retransmit, ServerTransaction, TimedOut, server_key
from smartbook_tui.sip.uri import SipParseError, parse_name_addr

from .auth_backoff import DEFAULT_FAILURES, AuthBackoff
from .authentication import Authenticator
from .client_address import relayed_client, via_proxy
from .cluster.journal import ClusterChanges, ClusterJournal, PresentityChange
from .discovery import Discoverable, DiscoveryPolicy, quota_refusal
from .discovery_quota import NONE_WITHHELD, DiscoveryQuota, Withheld
from .notifier import DEFAULT_INTERVAL, DEFAULT_MAX_RESOURCES, ListNotifier
from .proxy import Proxy, ProxyConfig
from .publications import PublicationRecord, Publications, PublishError, PublishOutcome
from .ratelimit import SourceLimiter
from .refusal import Refusal
from .registrar import Registrar, contact_values
from .replies import response_to as _response
from .request_checks import SUPPORTED, check_as_target, option_tags, via_refusal
from .requests import accepts_deflate, decoded_body, entry_key, is_entry, is_legacy_linphone, read_list
from .saved_dialogs import SAVE_DELAY, DialogJournal, DialogKeeper, restored_subscription, saved_dialog
from .saved_state import StateJournal, restore_state, saved_bindings
from .store import Account, SavedBinding, SavedDialog, Store, StoreError
from .subscriptions import DialogKey, Notifier, PresentityNotifier, Subscription
from .watching import Touched, WatchIndex

__all__ = ["LegacyMode", "PeerLike", "PresenceServer", "Send", "ServerConfig"]

log = logging.getLogger(__name__)

ALLOWED_METHODS = (
    "REGISTER, SUBSCRIBE, PUBLISH, OPTIONS, INVITE, ACK, BYE, CANCEL, UPDATE, INFO, PRACK, MESSAGE, REFER, NOTIFY"
)
STOP_RETRY_AFTER = 5  # seconds a subscriber told of a stop waits before it subscribes again: about a restart
_PUBLICATIONS = ("publications", None)  # timer items: (kind, target)
_REGISTRAR = ("registrar", None)
_SAVE = ("save", None)
_RESTORE = ("restore", None)
_CLUSTER_WAIT = ("cluster wait", None)
# Seconds a new subscription's first NOTIFY may wait for the other nodes' state of the presentities it names (read
# from Redis in a millisecond or two; longer only while Redis is away, when it goes without)
CLUSTER_WAIT = 0.5
_RESTORE_SLICE = 20  # saved dialogs restored at each wake-up...
_RESTORE_GAP = 0.01  # ...this far apart (seconds): 2,000 full states a second at most, the sockets read in between
_MAX_LIST_BYTES = 4 * 1024 * 1024  # decoded: 10,000 entries are ~600 KB
_TIMER_SLICE = 8  # messages `on_timer` makes before it lets the caller read its sockets...
_TIMER_LATE = 0.02  # ...unless what is due has waited this long (seconds)


class PeerLike(Protocol):
    """Where a message came from (the listener's `Peer`): the transport, the remote address, the connection."""

    @property
    def transport(self) -> str: ...
    @property
    def address(self) -> tuple[str, int]: ...
    @property
    def connection(self) -> int | None: ...


LegacyMode = str  # "auto" (by User-Agent), "always" or "never"


@dataclass(frozen=True, slots=True)
class ServerConfig:
    domain: str
    via: dict[str, str]  # transport ("UDP", "TCP", "TLS") -> the host:port the server writes in its Via and Contact
    notify_interval: float = DEFAULT_INTERVAL
    notify_max_resources: int = DEFAULT_MAX_RESOURCES
    max_list_size: int = 10_000
    min_expires: int = 60
    max_expires: int = 86_400
    default_subscribe_expires: int = 3_600
    max_subscriptions_per_account: int = 32
    rate_limit: float = 200.0  # requests a second from one source (0: no limit); bursts of twice that
    max_pending_per_source: int = 200  # proxied requests from one source waiting for their final answer
    max_pending: int = 10_000  # proxied requests waiting for their final answer, from everyone
    auth_failures: int = DEFAULT_FAILURES  # failed digest tries in a row before each further one waits (0: no backoff)
    trusted_proxies: frozenset[str] = frozenset()  # whose requests count as their client's (`client_address`)
    legacy: LegacyMode = "auto"
    discoverable: Discoverable = "everyone"  # who may find an account by its number, unless the account says
    # the quota on the numbers an account's lists name
    discovery: DiscoveryPolicy = field(default_factory=DiscoveryPolicy)


@dataclass(frozen=True, slots=True)
class Send:
    """Bytes to send to `peer`. `branch` names the NOTIFY transaction they belong to, if any: when the send fails,
    tell the server (`send_failed`)."""

    data: bytes
    peer: object
    branch: str | None = None


class PresenceServer:
    def __init__(
        self,
        config: ServerConfig,
        store: Store,
        *,
        secret: bytes,
        token: Callable[[], str],
        cluster: ClusterJournal | None = None,
        dialogs: DialogKeeper | None = None,
    ) -> None:
        """`dialogs` keeps the saved subscription dialogs (default: the store)."""
        self.config = config
        self.store = store
        self._token = token
        self._domain = config.domain
        self.authenticator = Authenticator(
            config.domain, store, secret, AuthBackoff(config.auth_failures), trusted_proxies=config.trusted_proxies
        )
        limits = {"min_expires": config.min_expires, "max_expires": config.max_expires}
        self.registrar = Registrar(**limits, default_expires=max(config.min_expires, 3_600))
        self.publications = Publications(etag=token, **limits)
        self.watching = WatchIndex(store, self.publications, config.domain, config.discoverable)
        self.discovery = DiscoveryQuota(store, config.discovery)
        self._cluster = cluster
        # subscriptions whose full state waits for the cluster: the drain serial that carries what they follow
        self._awaiting_cluster: dict[Subscription, int] = {}
        if cluster is not None:
            self.watching.on_watch = cluster.watch
            self.watching.on_listing = cluster.listing_changed
        self._subscriptions: dict[DialogKey, Subscription] = {}
        self._by_connection: dict[tuple[str, int], set[Subscription]] = {}
        self._in_flight: dict[str, Subscription] = {}  # NOTIFY branch -> its subscription
        self._server_transactions: dict[tuple[str, str, str], ServerTransaction] = {}
        self._limiter = SourceLimiter(config.rate_limit)
        self._stopping = False
        self._journal = DialogJournal(dialogs if dialogs is not None else store, config.domain)
        self._unrestored: dict[DialogKey, SavedDialog] = {saved.id: saved for saved in self._journal.resume()}
        self._restored = 0
        self._state = StateJournal(store, config.domain, self.registrar)
        self._state_restored = False
        self.proxy = Proxy(
            ProxyConfig(
                config.domain, config.via, config.max_pending_per_source, config.max_pending, config.trusted_proxies
            ),
            self.registrar,
            lookup=self.watching.lookup,
            authenticate=self.authenticator.authenticate,
            token=token,
            limiter=self._limiter,
            look_up_elsewhere=cluster.look_up if cluster is not None else None,
            findable=self.watching.findable,
            charge_number=self._charge_number,
        )
        self._timers: list[tuple[float, int, tuple[str, Any]]] = []
        self._wakes: dict[tuple[str, Any], float] = {}  # item -> when its pending wake-up is
        self._timer_serial = 0
        self._out: list[Send] = []
        if self._unrestored:
            log.info("restoring %d saved subscription dialogs", len(self._unrestored))
            self._schedule(0.0, _RESTORE)  # at the first chance: the core does not know the time yet

    # ------------------------------------------------------------------------------------------ inspection

    @property
    def subscriptions(self) -> int:
        return len(self._subscriptions)

    def next_deadline(self) -> float | None:
        own = self._timers[0][0] if self._timers else None
        proxied = self.proxy.next_deadline()
        return proxied if own is None else own if proxied is None else min(own, proxied)

    # ------------------------------------------------------------------------------------------ input

    def receive(self, message: SipMessage, peer: PeerLike, now: float) -> list[Send]:
        self._restore_state(now)
        if isinstance(message, SipResponse):
            try:
                branch = message.via_branch or ""
            except SipParseError:
                branch = ""  # an answer to nothing of ours
            if self.proxy.owns(branch):
                self._proxied(self.proxy.receive_response(message, now))
            else:
                self._on_response(message.status, message.reason, branch, now)
        else:
            self._on_request(message, peer, now)
        return self._flush()

    def receive_answer(self, status: int, branch: str, now: float) -> list[Send] | None:
        """A 2xx read no further than its status and top Via branch (`peek_answer`: a NOTIFY's answer, most of what
        a busy server reads): what to send then; None, and nothing done, unless it answers a NOTIFY of ours in
        flight with a 2xx (the caller then parses it whole for `receive`)."""
        if not 200 <= status < 300 or branch not in self._in_flight:
            return None
        self._on_response(status, "", branch, now)
        return self._flush()

    def answered_before(self, request: SipRequest) -> bool:
        """Whether `request` is a retransmission of one the server (or its proxy) holds a transaction for: an
        overloaded server still lets it through, so that it gets the answer already given, not a 503."""
        try:
            key = server_key(request)
        except SipParseError:
            return False
        return key in self._server_transactions or self.proxy.in_progress(key)

    def on_timer(self, now: float) -> list[Send]:
        """Handle what is due, until about `_TIMER_SLICE` messages are to be sent; what is left stays due
        (`next_deadline` <= now), for the caller to call again once it has read its sockets: a coalescing interval
        that ends for many subscriptions at once is not one long burst during which no PUBLISH is read. What has
        waited `_TIMER_LATE` seconds is handled whatever the slice, so that a busy server still sends."""
        self._restore_state(now)
        self._proxied(self.proxy.on_timer(now))
        timers = self._timers
        while timers and timers[0][0] <= now and (len(self._out) < _TIMER_SLICE or timers[0][0] <= now - _TIMER_LATE):
            when, _, item = heapq.heappop(timers)
            if self._wakes.get(item) == when:  # else replaced by an earlier wake-up, already handled
                del self._wakes[item]
                self._on_due(item, now)
        return self._flush()

    def peer_gone(self, peer: PeerLike, now: float) -> list[Send]:
        """A TCP or TLS connection ended: its subscriptions can no longer be notified, so they end silently."""
        if peer.connection is not None:
            for subscription in list(self._by_connection.get((peer.transport, peer.connection), ())):
                self._remove(subscription, "its connection closed", now)
        return self._flush()

    def send_failed(self, branch: str, now: float) -> list[Send]:
        """A NOTIFY could not be sent (connection gone, datagram too large): its subscription ends."""
        subscription = self._in_flight.pop(branch, None)
        if subscription is not None:
            self._remove(subscription, "its NOTIFY could not be sent", now)
        return self._flush()

    def accounts_changed(self, numbers: Iterable[str], usernames: Iterable[str], now: float) -> list[Send]:
        """Accounts were created, removed or changed (numbers linked, public presence): every entry naming them
        is looked up again and its watchers told; a removed account's subscriptions end (`rejected`) and its
        publications go."""
        names = set(usernames)
        touched: Touched = {}
        removed = self.watching.accounts_changed(numbers, names, self._subscriptions.values(), now, touched)
        for account in removed:
            self.publications.drop(account.address)
            for subscription in self.watching.subscriptions_of(account.username):
                self._end(subscription, "rejected", now)
        self._service_all(touched, now)
        return self._flush()

    def cluster_changes(self, now: float) -> ClusterChanges:
        """What the other nodes are to be told since the last call (with a cluster journal)."""
        assert self._cluster is not None
        changes, usernames, registered = self._cluster.take()
        for username in usernames:
            account = self.watching.account(username)
            if account is not None:
                changes.changes.append(PresentityChange(account.address, listed=self.watching.listed(username)))
        for aor in registered:
            account = self.watching.account_by_address(aor)
            if account is not None:
                changes.registrations[aor] = saved_bindings(self.registrar, account.username, aor, now)
        return changes

    def bindings_found(self, aor: str, bindings: Iterable[SavedBinding], now: float) -> list[Send]:
        """The registrations of `aor` other nodes hold, which calls to it wait for (none: they get 480)."""
        targets = []
        for binding in bindings:
            try:
                uri = str(parse_name_addr(binding.contact).uri)
            except SipParseError:
                continue
            if binding.expires_in > 0:
                targets.append((uri, Peer("UDP", binding.address)))
        self._proxied(self.proxy.bindings_found(aor, targets, now))
        return self._flush()

    def mirror(
        self,
        aor: str,
        removed: Iterable[str],
        added: Iterable[PublicationRecord],
        now: float,
        *,
        whole: bool = False,
        listed: tuple[str, ...] | None = None,
    ) -> list[Send]:
        """Another node changed `aor`: its publications `removed` (ETags) are gone and `added` are live; with
        `whole`, `added` is all that other nodes hold (a snapshot: any other mirrored one is gone too), and
        `listed` all they say of whom the presentity's subscriptions list (None: nothing). Without `whole`, a
        `listed` that is not None is news of it."""
        if whole or listed is not None:
            account = self.watching.account_by_address(aor)
            if account is not None:
                touched: Touched = {}
                self.watching.set_remote_listing(account.username, listed, now, touched)
                self._service_all(touched, now)
        publications = self.publications
        removed = list(removed)
        added = list(added)
        if len(removed) == 1 and len(added) == 1 and publications.renew(aor, removed[0], added[0]):
            return self._flush()  # a refresh elsewhere: nothing any watcher sees changed
        gone = set(removed)
        if whole:
            gone |= publications.mirrored_etags(aor) - {record.etag for record in added}
        changed = False
        for etag in gone:
            changed |= publications.withdraw(aor, etag)
        for record in added:
            if record.expires_at <= now or publications.record(aor, record.etag) is not None:
                continue  # over, or already here (this node's, or heard before)
            try:
                publications.restore(
                    aor,
                    record.etag,
                    body=record.body,
                    content_type=record.content_type,
                    expires_at=record.expires_at,
                    device=record.device,
                    now=now,
                    mirrored=True,
                    modified_at=record.modified_at,
                )
            except PublishError as error:
                log.warning("not taking a publication of %s from another node: %s", aor, error)
                continue
            changed = True
        account = self.watching.account_by_address(aor) if changed else None
        if account is not None:
            self._presence_changed(account, now)
        if changed and publications.next_expiry is not None:
            self._schedule(publications.next_expiry, _PUBLICATIONS)
        return self._flush()

    def saved_dialogs(self, now: float) -> list[SavedDialog]:
        """Every live dialog that is saved (the UDP ones), as it is saved: for a cluster node to write them all
        again when Redis lost them."""
        return [
            saved_dialog(subscription, now)
            for subscription in self._subscriptions.values()
            if not subscription.reliable and subscription.final_reason is None
        ]

    def take_over(self, dialogs: Iterable[SavedDialog], now: float) -> list[Send]:
        """Another node died and this one took its saved dialogs (they are this node's now, and saved as such): each
        comes back with its full state, `_RESTORE_SLICE` at a time, as after a restart."""
        taken = 0
        for saved in dialogs:
            if saved.id not in self._subscriptions:
                self._unrestored[saved.id] = saved
                taken += 1
        if taken:
            self._restored = 0
            self._schedule(now, _RESTORE)
        return self._flush()

    def give_up_dialogs(self, now: float) -> list[Send]:
        """Another node took this one's saved dialogs over (this one was silent too long): they are ended here
        without a word, since their subscribers now hear from the other node. TCP and TLS dialogs, never saved,
        stay."""
        self._unrestored.clear()
        for subscription in list(self._subscriptions.values()):
            if not subscription.reliable:
                self._remove(subscription, "taken over by another node", now)
        return self._flush()

    def shutdown(self, now: float) -> list[Send]:
        """The server stops: every subscriber's last NOTIFY says `probation;retry-after=STOP_RETRY_AFTER` (subscribe
        again then, when a restarted server is back), and a SUBSCRIBE from now on gets 503 with that Retry-After
        rather than a dialog that dies a moment later (RFC 6665 4.1.3)."""
        self._stopping = True
        self._unrestored.clear()
        self._journal.forget_all()
        if self._state.pending:  # publications and registrations outlive the stop: the last changes are kept
            self._state.flush(now)
        for subscription in list(self._subscriptions.values()):
            subscription.in_flight = None
            self._end(subscription, f"probation;retry-after={STOP_RETRY_AFTER}", now)
        return self._flush()

    # ------------------------------------------------------------------------------------------ requests

    def _on_request(self, request: SipRequest, peer: PeerLike, now: float) -> None:
        if not request.headers.get("Via"):
            log.debug("dropped a %s without Via from %s", request.method, peer)
            return
        refusal = via_refusal(request)
        if refusal is not None:
            self._refuse_statelessly(request, refusal, peer, now)
            return
        if self.proxy.takes(request):
            self._proxied(self.proxy.receive_request(request, peer, now))  # type: ignore[arg-type]
            return
        key = server_key(request)  # it reads: via_refusal said so
        transaction = self._server_transactions.get(key)
        if transaction is not None:
            answer = transaction.on_retransmission()
            if answer is not None:
                self._out.append(Send(answer, peer))
            return
        client = relayed_client(request, peer.address, self.config.trusted_proxies)
        verdict = self._limiter.admit(source_key((client or peer.address)[0]), now)
        if verdict != "serve":
            if verdict == "refuse":
                who = via_proxy(peer, client)
                log.warning("rate-limiting %s: over %g requests a second", who, self.config.rate_limit)
                self._out.append(
                    Send(_response(request, 503, "Service Unavailable", {"Retry-After": "1"}).to_bytes(), peer)
                )
            return
        reliable = peer.transport != "UDP"
        transaction = ServerTransaction(request, reliable=reliable, key=key)
        if not reliable:
            self._server_transactions[key] = transaction
        after: list[Callable[[], None]] = []
        try:
            check_as_target(request)
            response = self._handle(request, peer, now, after)
        except Refusal as refusal:
            response = _response(request, refusal.status, refusal.reason, refusal.headers)
        except Exception:  # a bug: answer, log it, and keep serving everyone else
            log.exception("failed to handle a %s from %s", request.method, peer)
            response = _response(request, 500, "Server Internal Error")
            after.clear()
        self._out.append(Send(transaction.respond(response, now), peer))
        if transaction.deadline is not None:
            self._schedule(transaction.deadline, ("server", key))
        for action in after:  # the NOTIFYs a request causes follow its answer
            action()

    def _refuse_statelessly(self, request: SipRequest, refusal: Refusal, peer: PeerLike, now: float) -> None:
        """No transaction to answer in (its Via does not read): a stateless answer, as rate-limited as any other, so
        that a flood of them is not answered by a flood."""
        if self._limiter.admit(self._source_of(request, peer), now) == "serve":
            self._out.append(Send(_response(request, refusal.status, refusal.reason).to_bytes(), peer))

    def _source_of(self, request: SipRequest, peer: PeerLike) -> str:
        """Whom a limit per address counts the request against: its client (behind a trusted proxy, the one the
        proxy names), by `source_key`."""
        client = relayed_client(request, peer.address, self.config.trusted_proxies)
        return source_key((client or peer.address)[0])

    def _handle(self, request: SipRequest, peer: PeerLike, now: float, after: list[Callable[[], None]]) -> SipResponse:
        method = request.method
        if method == "OPTIONS":
            return _response(request, 200, "OK", {"Allow": ALLOWED_METHODS, "Supported": SUPPORTED})
        if method not in ("REGISTER", "PUBLISH", "SUBSCRIBE"):  # the proxy takes the other methods the server knows
            return _response(request, 501, "Not Implemented", {"Allow": ALLOWED_METHODS})  # RFC 3261 21.5.2
        if method != "REGISTER" and (request.headers.get("Event") or "").split(";")[0].strip().lower() != "presence":
            return _response(request, 489, "Bad Event", {"Allow-Events": "presence"})
        if method == "SUBSCRIBE" and self._stopping:
            return _response(request, 503, "Service Unavailable (stopping)", {"Retry-After": str(STOP_RETRY_AFTER)})
        if method == "SUBSCRIBE" and request.to_tag:
            return self._resubscribe(request, peer, now, after)
        username = self.authenticator.authenticate(request, peer, now)
        if isinstance(username, SipResponse):
            return username
        account = self.watching.account(username)
        if account is None:  # removed since the credentials were checked
            return _response(request, 403, "Forbidden (no such account)")
        if method == "REGISTER":
            return self._register(request, account, peer, now)
        if method == "PUBLISH":
            return self._publish(request, account, peer, now, after)
        return self._subscribe(request, account, peer, now, after)

    def _register(self, request: SipRequest, account: Account, peer: PeerLike, now: float) -> SipResponse:
        client = relayed_client(request, peer.address, self.config.trusted_proxies)
        bindings = self.registrar.register(account.address, request, now, source=peer, client=client)
        self._state.registered(account)
        if self._cluster is not None:
            self._cluster.registered(account.address)
        self._save_later(now)
        response = _response(request, 200, "OK")
        for value in contact_values(bindings, now):
            response.headers.add("Contact", value)
        deadline = self.registrar.next_expiry
        if deadline is not None:
            self._schedule(deadline, _REGISTRAR)
        return response

    def _publish(
        self, request: SipRequest, account: Account, peer: PeerLike, now: float, after: list[Callable[[], None]]
    ) -> SipResponse:
        if not _is_address_of(request.uri, account):
            raise Refusal(403, f"Forbidden (one may only publish one's own presence, {account.address})")
        etag = request.headers.get("SIP-If-Match")
        body = decoded_body(request, self.publications.max_body_bytes, "a presence document")
        device = self._device(account, peer, relayed_client(request, peer.address, self.config.trusted_proxies), now)
        try:
            outcome = self.publications.publish(
                account.address,
                etag=etag,
                body=body,
                content_type=request.content_type,
                expires=request.expires,
                now=now,
                device=device,
            )
        except PublishError as error:
            if error.status == 412 and etag is not None and self._cluster is not None:
                # A publication this node does not know (its node died): the phone publishes anew, and the old
                # one, wherever it is still held, is gone rather than left beside the new one until it expires.
                self._cluster.published(account.address, (etag,), None)
            raise
        if self._cluster is not None:  # the other nodes' copy is what outlives this one
            self._announce(account.address, etag, outcome)
        else:
            self._state.published(
                account,
                outcome,
                previous_etag=etag,
                body=body,
                content_type=request.content_type,
                device=device,
                now=now,
            )
            self._save_later(now)
        deadline = self.publications.next_expiry
        if deadline is not None:
            self._schedule(deadline, _PUBLICATIONS)
        if outcome.changed:  # the publisher hears its 200 first, then the watchers their NOTIFYs
            after.append(lambda: self._presence_changed(account, now))
        return _response(request, 200, "OK", {"SIP-ETag": outcome.etag, "Expires": str(outcome.expires)})

    def _announce(self, aor: str, previous_etag: str | None, outcome: PublishOutcome) -> None:
        assert self._cluster is not None
        if outcome.expires == 0:  # a removal, or an initial publication never stored
            if previous_etag is not None:
                self._cluster.published(aor, (previous_etag,), None)
            return
        removed = [etag for etag in (previous_etag, outcome.replaced) if etag is not None]
        self._cluster.published(aor, removed, self.publications.record(aor, outcome.etag))

    # ------------------------------------------------------------------------------------------ SUBSCRIBE

    def _subscribe(
        self, request: SipRequest, account: Account, peer: PeerLike, now: float, after: list[Callable[[], None]]
    ) -> SipResponse:
        if not _is_address_of(request.headers.get("From") or "", account, name_addr=True):
            raise Refusal(403, f"Forbidden (the From address is not {account.address}, whose credentials came)")
        expires = self._subscription_expiry(request)
        eventlist = "eventlist" in option_tags(request, "Supported")
        legacy = self._is_legacy(request)
        entries: list[str] | None = None
        if request.body:
            if not eventlist:
                raise Refusal(
                    421, "Extension Required (a resource list needs Supported: eventlist)", {"Require": "eventlist"}
                )
            entries = read_list(request, max_entries=self.config.max_list_size, max_bytes=_MAX_LIST_BYTES)
        elif eventlist:
            stored = self.store.get_list(account.username, self._domain, request.uri)
            entries = list(stored.entries) if stored is not None else None
        target_key = entry_key(request.uri, self._domain)
        keys = [entry_key(uri, self._domain) for uri in entries] if entries is not None else None
        withheld = self._discovered(request, account, keys, target_key, self._source_of(request, peer))
        if entries is None and not self._finds(account, target_key):
            if eventlist and self.store.list_owners(request.uri, self._domain):
                raise Refusal(403, f"Forbidden (the list {request.uri[:80]} belongs to another account)")
            raise Refusal(404, f"Not Found (no account or list of yours is {request.uri[:80]})")
        notifier: Notifier
        if entries is not None:
            notifier = ListNotifier(
                request.uri,
                [sys.intern(uri) for uri in entries],  # one string for each URI, however many lists hold it
                legacy=legacy,
                deflate=accepts_deflate(request),
                interval=self.config.notify_interval,
                max_resources=self.config.notify_max_resources,
                token=self._token,
            )
        else:
            notifier = PresentityNotifier(request.uri, interval=self.config.notify_interval)
        local_tag = self._token()
        to = request.headers.get("To") or ""
        subscription = Subscription(
            key=(request.call_id or "", request.from_tag or "", local_tag),
            uri=request.uri,
            watcher=account.username,
            notifier=notifier,
            peer=peer,
            transport=peer.transport,
            remote=request.headers.get("From") or "",
            local=f"{to};tag={local_tag}",
            target=_contact_uri(request),
            expires_at=now + expires,
            route=tuple(request.headers.get_all("Record-Route")),
            legacy=legacy,
            is_list=entries is not None,
            stored_list=entries is not None and not request.body,
            withheld=withheld.numbers,
        )
        self._cap_subscriptions(account.username, now)
        self._add(subscription, now, keys)
        if expires:  # a fetch ends at once: not worth saving
            self._journal.created(subscription)
            self._save_later(now)
        response = _response(request, 200, "OK", {"Expires": str(expires)}, to_tag=local_tag)
        for value in subscription.route:  # the proxies that record-routed stay on the dialog's path (RFC 3261 12.1.1)
            response.headers.add("Record-Route", value)
        response.headers.add("Contact", self._contact(peer.transport))
        if subscription.is_list:
            response.headers.add("Require", "eventlist")
        self._warn_withheld(response, withheld, changeable=bool(request.body))
        if expires == 0:  # a fetch: the state once, then the end (RFC 6665 4.4.3)
            subscription.end("timeout", drain=True)

        after.append(lambda: self._full_state(subscription, now))
        log.info(
            "%s subscribes to %s (%s, %d entries, %s form, %s)",
            account.name,
            request.uri,
            "list" if subscription.is_list else "presentity",
            len(notifier.resources),
            "legacy" if legacy else "RFC",
            peer,
        )
        return response

    def _discovered(
        self,
        request: SipRequest,
        account: Account,
        keys: list[str | None] | None,
        target_key: str | None,
        source: str,
    ) -> Withheld:
        """The discovery quota on a new subscription from the client address `source` (`keys`: its entries' keys,
        for a list): the numbers of the list it sent that are withheld; Refusal for a presentity named by a number
        past the quota. A stored list is the operator's, not discovery."""
        if request.body:
            return self.discovery.withheld(account, keys or (), source)
        if keys is None and target_key is not None and self.discovery.withheld(account, (target_key,), source).numbers:
            raise Refusal(403, f"Forbidden ({quota_refusal(self.discovery.policy)})")
        return NONE_WITHHELD

    def _charge_number(self, caller: str, number: str, source: str) -> str | None:
        """Charge the discovery quota of `caller`, calling from the client address `source`, for a number it calls:
        None, or why the call is refused."""
        account = self.watching.account(caller)
        if account is None or not self.discovery.withheld(account, (number,), source).numbers:
            return None
        return quota_refusal(self.discovery.policy)

    def _finds(self, watcher: Account, key: str | None) -> bool:
        """Whether `watcher` may subscribe to the presentity `key` names: an account it may find that way."""
        if key is None:
            return False
        account = self.watching.lookup(key)
        return account is not None and (not key.startswith("+") or self.watching.findable(watcher.username, account))

    def _warn_withheld(self, response: SipResponse, withheld: Withheld, *, changeable: bool = False) -> None:
        """Tell the subscriber why numbers of its list are withheld; with `changeable`, that the list it sent can
        change in a refresh (`_change_list`)."""
        if changeable:
            response.headers.add("Supported", LIST_DELTA)
        if withheld.sentence is not None:
            response.headers.add("Warning", f'399 smartbook "{withheld.sentence}"')

    def _change_list(self, subscription: Subscription, request: SipRequest, source: str, now: float) -> Withheld:
        """Apply the list change a refresh carries (`Require: list-delta`): the subscription's notifier is made
        anew with the new entries, its versions going on, and its full state follows; the numbers withheld
        among those added are returned. Refusal when the change cannot be taken (the list is left as it was)."""
        notifier = subscription.notifier
        if not subscription.is_list or subscription.stored_list or not isinstance(notifier, ListNotifier):
            raise Refusal(403, "Forbidden (only a list sent in the SUBSCRIBE can be changed this way)")
        document = decoded_body(request, _MAX_LIST_BYTES, "a list change")
        try:
            added, removed = parse_list_delta(document, _MAX_LIST_BYTES)
        except PresenceDocumentError as error:
            raise Refusal(400, f"Bad Request ({error})") from None
        gone = set(removed)
        kept = [uri for uri in notifier.resources if uri not in gone]
        listed = set(kept)
        new = [uri for uri in added if uri not in listed and is_entry(uri)]
        if len(kept) + len(new) > self.config.max_list_size:
            raise Refusal(
                413,
                f"Request Entity Too Large (the list would have {len(kept) + len(new)} entries, "
                f"at most {self.config.max_list_size})",
            )
        account = self.watching.account(subscription.watcher)
        new_keys = [entry_key(uri, self._domain) for uri in new]
        fresh = self.discovery.withheld(account, new_keys, source) if account is not None else NONE_WITHHELD
        still_named = {entry_key(uri, self._domain) for uri in kept}
        withheld = frozenset(key for key in subscription.withheld if key in still_named) | fresh.numbers
        touched: Touched = {}
        self.watching.remove(subscription, now, touched)
        subscription.notifier = ListNotifier(
            notifier.list_uri,
            [sys.intern(uri) for uri in (*kept, *new)],
            legacy=notifier.legacy,
            deflate=notifier.deflate,
            interval=notifier.interval,
            max_resources=notifier.max_resources,
            token=self._token,
            first_version=(notifier.version or 0) + 1,
        )
        subscription.withheld = withheld
        self.watching.add(subscription, now, touched)
        self._service_all(touched, now)
        self._journal.created(subscription)  # saved again with its new entries
        log.info(
            "%s changes its list %s: %d added, %d removed, %d entries",
            subscription.watcher,
            subscription.uri,
            len(new),
            len(notifier.resources) - len(kept),
            len(kept) + len(new),
        )
        return fresh

    def _resubscribe(
        self, request: SipRequest, peer: PeerLike, now: float, after: list[Callable[[], None]]
    ) -> SipResponse:
        key = (request.call_id or "", request.from_tag or "", request.to_tag or "")
        if key in self._unrestored:  # refreshed before its turn came: restored now (the refresh sends its state)
            self._restore(self._unrestored.pop(key), now, notify=False)
        subscription = self._subscriptions.get(key)
        if subscription is None or subscription.final_reason is not None:
            return _response(request, 481, "Subscription Does Not Exist")
        username = self.authenticator.authenticate(request, peer, now)
        if isinstance(username, SipResponse):
            return username
        if username != subscription.watcher:
            raise Refusal(403, "Forbidden (the subscription belongs to another account)")
        expires = self._subscription_expiry(request)
        changed = LIST_DELTA in option_tags(request, "Require") and bool(request.body) and expires != 0
        withheld = (
            self._change_list(subscription, request, self._source_of(request, peer), now) if changed else NONE_WITHHELD
        )
        response = _response(request, 200, "OK", {"Expires": str(expires)})
        response.headers.add("Contact", self._contact(subscription.transport))
        if subscription.is_list:
            response.headers.add("Require", "eventlist")
        self._warn_withheld(response, withheld)
        if expires == 0:
            subscription.end("timeout")
            after.append(lambda: self._service(subscription, now))
            return response
        subscription.expires_at = now + expires
        self._schedule(subscription.expires_at, ("expiry", subscription))
        self._journal.refreshed(subscription)
        self._save_later(now)

        def notify() -> None:
            notifier = subscription.notifier
            subscription.queue(notifier.full_state(now) if changed else notifier.refresh(now))
            self._service(subscription, now)

        after.append(notify)
        return response

    def _device(self, account: Account, peer: PeerLike, client: tuple[str, int] | None, now: float) -> str | None:
        """The device a PUBLISH comes from: the registration made from the same place (connection, or UDP address;
        behind a trusted proxy, the client's address), by its +sip.instance or else its Contact. A restarted phone
        has forgotten its ETag; knowing its device lets its new publication replace the one it left behind."""
        for binding in self.registrar.bindings(account.address, now):
            if binding.client == client and (client is not None or binding.source == peer):
                return binding.instance or str(binding.contact.uri)
        return None

    def _subscription_expiry(self, request: SipRequest) -> int:
        requested = request.expires
        if requested is None:
            return self.config.default_subscribe_expires
        if 0 < requested < self.config.min_expires:
            raise Refusal(423, "Interval Too Brief", {"Min-Expires": str(self.config.min_expires)})
        return min(requested, self.config.max_expires)

    def _is_legacy(self, request: SipRequest) -> bool:
        if self.config.legacy == "always":
            return True
        if self.config.legacy == "never":
            return False
        return is_legacy_linphone(request.headers.get("User-Agent"))

    def _cap_subscriptions(self, username: str, now: float) -> None:
        """An account past its cap loses its oldest subscription (a client that restarted over UDP leaves its old
        dialogs behind until they expire)."""
        live = [s for s in self.watching.subscriptions_of(username) if s.final_reason is None]
        for subscription in live[: max(0, len(live) - self.config.max_subscriptions_per_account + 1)]:
            self._end(subscription, "deactivated", now)

    # ------------------------------------------------------------------------------------------ subscriptions

    def _add(self, subscription: Subscription, now: float, keys: list[str | None] | None = None) -> None:
        self._subscriptions[subscription.key] = subscription
        connection = _connection_key(subscription.peer)
        if connection is not None:
            self._by_connection.setdefault(connection, set()).add(subscription)
        touched: Touched = {}
        self.watching.add(subscription, now, touched, keys)
        self._schedule(subscription.expires_at, ("expiry", subscription))
        self._service_all(touched, now)

    def _remove(self, subscription: Subscription, why: str, now: float) -> None:
        if self._subscriptions.pop(subscription.key, None) is None:
            return
        self._awaiting_cluster.pop(subscription, None)
        log.info("subscription of %s to %s ends: %s", subscription.watcher, subscription.uri, why)
        connection = _connection_key(subscription.peer)
        if connection is not None:
            peers = self._by_connection.get(connection, set())
            peers.discard(subscription)
            if not peers:
                self._by_connection.pop(connection, None)
        if subscription.in_flight is not None:
            self._in_flight.pop(subscription.in_flight.key[0], None)
        self._journal.ended(subscription)
        self._save_later(now)
        touched: Touched = {}
        self.watching.remove(subscription, now, touched)
        self._service_all(touched, now)

    def _presence_changed(self, account: Account, now: float) -> None:
        touched: Touched = {}
        self.watching.presence_changed(account, now, touched)
        self._service_all(touched, now)

    def _service_all(self, touched: Touched, now: float) -> None:
        for subscription in touched:
            self._service(subscription, now)

    def _end(self, subscription: Subscription, reason: str, now: float) -> None:
        subscription.end(reason)
        self._service(subscription, now)

    def _service(self, subscription: Subscription, now: float) -> None:
        """Send the subscription's next NOTIFY if it is due, and wake up again when the one after is."""
        if subscription.key not in self._subscriptions:
            return
        if subscription.final_reason is None and now >= subscription.expires_at:
            subscription.end("timeout")
        request = subscription.next_request(
            now,
            via=self.config.via[subscription.transport],
            contact=self._contact(subscription.transport),
            branch=self._token,
        )
        if request is not None:
            transaction = subscription.in_flight
            assert transaction is not None
            self._in_flight[transaction.key[0]] = subscription
            self._out.append(Send(transaction.start(now), subscription.peer, transaction.key[0]))
            if not subscription.reliable:
                self._journal.notified(subscription)
                self._save_later(now)
            deadline = transaction.deadline
            if deadline is not None:
                self._schedule(deadline, ("client", transaction.key[0]))
            return
        due = subscription.due(now)
        if due is not None:
            self._schedule(max(due, now), ("notify", subscription))

    def _on_response(self, status: int, reason: str, branch: str, now: float) -> None:
        subscription = self._in_flight.get(branch)
        if subscription is None or subscription.in_flight is None:
            return
        if not subscription.in_flight.on_status(status, now) or status < 200:
            return
        del self._in_flight[branch]
        subscription.in_flight = None
        if status >= 300:
            self._remove(subscription, f"its NOTIFY got {status} {reason[:60]}", now)
        elif subscription.final_sent:
            self._remove(subscription, f"terminated ({subscription.final_reason})", now)
        else:
            self._service(subscription, now)

    def _on_due(self, item: tuple[str, Any], now: float) -> None:
        kind, target = item
        handlers: dict[str, Callable[[Any, float], None]] = {
            "notify": self._service,
            "expiry": self._expiry_due,
            "client": self._client_timer,
            "server": self._server_timer,
            "publications": self._publications_due,
            "registrar": self._registrar_due,
            "save": self._save_due,
            "restore": self._restore_due,
            "cluster wait": self._cluster_wait_due,
        }
        handlers[kind](target, now)

    def _expiry_due(self, subscription: Subscription, now: float) -> None:
        if now >= subscription.expires_at:
            self._service(subscription, now)  # ends it
        elif subscription.key in self._subscriptions:  # refreshed since: wake up at its new expiry
            self._schedule(subscription.expires_at, ("expiry", subscription))

    def _save_later(self, now: float) -> None:
        if self._journal.pending or self._state.pending:
            self._schedule(now + SAVE_DELAY, _SAVE)

    def _save_due(self, _: None, now: float) -> None:
        for journal in (self._journal, self._state):
            if journal.pending:
                journal.flush(now)

    def _restore_state(self, now: float) -> None:
        """Once, at the first moment the core knows the time: the saved registrations and publications."""
        if self._state_restored:
            return
        self._state_restored = True
        restore_state(self.store, self._domain, self.publications, self.registrar, now)
        for deadline, item in (
            (self.publications.next_expiry, _PUBLICATIONS),
            (self.registrar.next_expiry, _REGISTRAR),
        ):
            if deadline is not None:
                self._schedule(deadline, item)

    def _restore_due(self, _: None, now: float) -> None:
        for _ in range(min(_RESTORE_SLICE, len(self._unrestored))):
            self._restore(self._unrestored.pop(next(iter(self._unrestored))), now)
        if self._unrestored:
            self._schedule(now + _RESTORE_GAP, _RESTORE)
        else:
            log.info("restored %d saved subscription dialogs", self._restored)

    def _restore(self, saved: SavedDialog, now: float, *, notify: bool = True) -> None:
        """Bring a saved dialog back, and with `notify` send its full state."""
        entries = saved.entries
        if saved.kind == "stored list":
            try:
                stored = self.store.get_list(saved.watcher, self._domain, saved.uri)
            except StoreError:  # its owner is gone
                stored = None
            if stored is None:
                log.info("not restoring the subscription of %s to %s: the list is gone", saved.watcher, saved.uri)
                self._journal.dropped(saved.id)
                self._save_later(now)
                return
            entries = stored.entries
        try:
            subscription = restored_subscription(
                saved,
                [sys.intern(uri) for uri in entries],
                interval=self.config.notify_interval,
                max_resources=self.config.notify_max_resources,
                token=self._token,
                now=now,
            )
        except ValueError as error:
            log.warning(
                "not restoring the subscription of %s to %s: its saved dialog %s", saved.watcher, saved.uri, error
            )
            self._journal.dropped(saved.id)
            self._save_later(now)
            return
        watcher = self.watching.account(saved.watcher)
        if saved.kind == "list" and watcher is not None:  # its numbers charged again: those named are free
            keys = (entry_key(uri, self._domain) for uri in entries)
            subscription.withheld = self.discovery.withheld(watcher, keys).numbers
        self._restored += 1
        self._add(subscription, now)
        if notify:
            self._full_state(subscription, now)

    def _full_state(self, subscription: Subscription, now: float) -> None:
        """Send a subscription its full state; in a cluster, once the other nodes' state of the presentities it
        made this node follow is here (`followed`), or `CLUSTER_WAIT` seconds at most."""
        cluster = self._cluster
        if cluster is not None and cluster.new_watches:
            self._awaiting_cluster[subscription] = cluster.serial + 1  # (the next drain carries them)
            self._schedule(now + CLUSTER_WAIT, _CLUSTER_WAIT)
            return
        subscription.queue(subscription.notifier.full_state(now))
        self._service(subscription, now)

    def followed(self, serial: int, now: float) -> list[Send]:
        """The cluster link has followed what every drain up to `serial` asked: the full states waiting for it go."""
        ready = [subscription for subscription, wanted in self._awaiting_cluster.items() if wanted <= serial]
        self._release(ready, now)
        return self._flush()

    def _cluster_wait_due(self, _: None, now: float) -> None:
        self._release(list(self._awaiting_cluster), now)  # waited long enough: what is here goes

    def _release(self, subscriptions: list[Subscription], now: float) -> None:
        for subscription in subscriptions:
            del self._awaiting_cluster[subscription]
            if subscription.key in self._subscriptions:
                subscription.queue(subscription.notifier.full_state(now))
                self._service(subscription, now)

    def _publications_due(self, _: None, now: float) -> None:
        for aor in self.publications.expire(now):
            account = self.watching.account_by_address(aor)
            if account is not None:
                self._presence_changed(account, now)
        if self.publications.next_expiry is not None:
            self._schedule(self.publications.next_expiry, _PUBLICATIONS)

    def _registrar_due(self, _: None, now: float) -> None:
        self.registrar.expire(now)
        if self.registrar.next_expiry is not None:
            self._schedule(self.registrar.next_expiry, _REGISTRAR)

    def _server_timer(self, key: tuple[str, str, str], now: float) -> None:
        transaction = self._server_transactions.get(key)
        if transaction is not None:
            transaction.on_timer(now)
            if transaction.deadline is None or transaction.deadline <= now:
                del self._server_transactions[key]

    def _client_timer(self, branch: str, now: float) -> None:
        subscription = self._in_flight.get(branch)
        if subscription is None or subscription.in_flight is None:
            return
        outcome = subscription.in_flight.on_timer(now)
        if isinstance(outcome, Retransmit):
            self._out.append(Send(outcome.data, subscription.peer, branch))
        elif isinstance(outcome, TimedOut):
            del self._in_flight[branch]
            self._remove(subscription, "its NOTIFY got no answer", now)
            return
        deadline = subscription.in_flight.deadline
        if deadline is not None:
            self._schedule(deadline, ("client", branch))

    # ------------------------------------------------------------------------------------------ plumbing

    def _contact(self, transport: str) -> str:
        return f"<sip:{self.config.via[transport]};transport={transport.lower()}>"

    def _schedule(self, when: float, item: tuple[str, Any]) -> None:
        """Wake `item` up at `when`, unless it is already due to wake up no later (each wake-up handler schedules
        the next one itself): a busy server pushes one entry per change, not one per PUBLISH and watcher."""
        current = self._wakes.get(item)
        if current is not None and current <= when:
            return
        self._wakes[item] = when
        self._timer_serial += 1
        heapq.heappush(self._timers, (when, self._timer_serial, item))

    def _proxied(self, sends: list[tuple[bytes, object]]) -> None:
        self._out += [Send(data, peer) for data, peer in sends]

    def _flush(self) -> list[Send]:
        out, self._out = self._out, []
        return out


# ---------------------------------------------------------------------------------------------- helpers


def _is_address_of(text: str, account: Account, *, name_addr: bool = False) -> bool:
    """Whether `text` (a SIP URI, or a name-addr) is the account's address, by the entry rule (`entry_key`)."""
    if text == account.address:  # as clients usually write it
        return True
    if name_addr:
        try:
            text = str(parse_name_addr(text).uri)
        except SipParseError:
            return False
    return entry_key(text, account.domain) == account.username


def _contact_uri(request: SipRequest) -> str:
    try:
        return str(parse_name_addr(request.headers.get("Contact") or "").uri)
    except SipParseError:
        raise Refusal(400, "Bad Request (a SUBSCRIBE needs a Contact)") from None


def _connection_key(peer: object) -> tuple[str, int] | None:
    connection = getattr(peer, "connection", None)
    return (getattr(peer, "transport", ""), connection) if connection is not None else None
