"""The presence server's process: the asyncio side of `PresenceServer` (`smartbook server run`).

One event loop, no threads: the listener hands messages to the core, one timer handle wakes the core at its next
deadline, and a poll of the store's change log (every `poll_interval` seconds) tells it of accounts created,
removed or changed by `smartbook server account ...` in another process (on PostgreSQL, read as soon as such a
change is heard, and polled less often: `store_listener`). SIGINT and SIGTERM end it cleanly: every subscriber
gets a last NOTIFY (`terminated;reason=probation;retry-after=5`: subscribe again once the server is back), a new
SUBSCRIBE gets 503 with Retry-After, answers get up to `SHUTDOWN_GRACE` seconds to come back, then the sockets
close.

While the server is behind (`overload`: its UDP receive queue or its loop's lag), new out-of-dialog requests get
503 with Retry-After before the core sees them; in-dialog requests and every response still go to the core.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import secrets
import signal
import socket
import ssl
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from smartbook_tui.counted_warning import CountedWarning
from smartbook_tui.sip.aio.listener import (
    DEFAULT_FIRST_MESSAGE_TIMEOUT,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_CONNECTIONS_PER_ADDRESS,
    DEFAULT_MESSAGE_TIMEOUT,
    DEFAULT_STREAM_RATE,
    DEFAULT_UDP_BUFFER,
    DEFAULT_UDP_RATE,
    Listener,
    ListenFailed,
    Peer,
    PeerGone,
    start_listener,
)
from smartbook_tui.sip.aio.transport import ConnectionLost, MessageTooLarge, format_address
from smartbook_tui.sip.message import SipMessage, SipRequest

from .accounts_api.options import MAX_API_CONNECTIONS, ApiOptions
from .cluster.dialogs import ClusterDialogs
from .cluster.journal import ClusterJournal
from .cluster.link import ClusterError, ClusterLink
from .core import PresenceServer, Send, ServerConfig
from .open_files import raise_open_files_limit
from .overload import (
    DEFAULT_OVERLOAD_LAG,
    HEARTBEAT,
    QUEUE_READ_INTERVAL,
    RETRY_AFTER,
    RETRY_AFTER_LATEST,
    Backlog,
    is_new_request,
    retry_after,
)
from .publications import PublicationRecord
from .replies import response_to
from .store import PostgresUrl, SavedBinding, SavedDialog, Store, StoreError
from .store_listener import ChangeListener, poll_interval
from .tokens import TokenSource

if TYPE_CHECKING:
    from .accounts_api.serving import RunningApi

__all__ = ["RunOptions", "ServerRunError", "serve"]

log = logging.getLogger(__name__)

SHUTDOWN_GRACE = 1.0  # seconds for the last NOTIFYs to be answered


class ServerRunError(Exception):
    """The server cannot start (address in use, unreadable certificate, database): one line for a person."""


@dataclass(frozen=True, slots=True)
class RunOptions:
    host: str
    port: int
    db: Path | PostgresUrl
    config: ServerConfig  # its `via` is filled in once the sockets are bound
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_port: int | None = None
    ready_file: Path | None = None
    advertise: str | None = None  # the host to write in Via and Contact, instead of the bound one
    poll_interval: float = 1.0
    api: ApiOptions | None = None  # the account API, with --http
    max_connections_per_address: int = DEFAULT_MAX_CONNECTIONS_PER_ADDRESS
    first_message_timeout: float = DEFAULT_FIRST_MESSAGE_TIMEOUT
    message_timeout: float = DEFAULT_MESSAGE_TIMEOUT
    udp_rate: float = DEFAULT_UDP_RATE
    stream_rate: float = DEFAULT_STREAM_RATE
    udp_buffer: int = DEFAULT_UDP_BUFFER
    cluster: str | None = None  # redis://...: share the live state with the other nodes (`cluster`)
    node_id: str | None = None  # this node's name among them (default: host name and SIP address)
    overload_lag: float = DEFAULT_OVERLOAD_LAG  # seconds of loop lag from which new requests get 503 (0: no refusals)


class _Server:
    """The glue between the listener, the loop's clock and the core. `core` and `listener` are set by `serve` once
    the sockets are bound (the core writes their addresses in its Via); no message arrives before that."""

    core: PresenceServer
    listener: Listener
    cluster: ClusterLink | None = None
    cluster_journal: ClusterJournal | None = None

    def __init__(self, store: Store, domain: str, poll_interval: float, overload_lag: float) -> None:
        self._loop = asyncio.get_running_loop()
        self.store = store
        self._poll_interval = poll_interval
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._changes_seen = store.changes(domain).last
        self._wake = asyncio.Event()
        self._backlog = Backlog(overload_lag) if overload_lag > 0 else None
        self._beat_due = math.inf  # when the heartbeat is due: inf while it sleeps (nothing arrives)
        self._beat: asyncio.TimerHandle | None = None
        self._heard = False  # a message arrived since the last heartbeat
        self._fill = 0.0  # the UDP receive queue's share of its buffer, read at most every QUEUE_READ_INTERVAL
        self._fill_due = -math.inf
        self._refused = CountedWarning(
            log,
            "behind (the loop up to {lag:.2f} s late, the UDP receive buffer up to {percent:.0f} %% full): answered %s "
            "new requests 503 (Retry-After: {earliest}-{latest} s)",
        )

    def on_message(self, message: SipMessage, peer: Peer) -> None:
        now = self._arrived()
        if self._behind(now) and is_new_request(message) and not self.core.answered_before(message):
            self._refuse(message, peer, now)
            return
        self._send(self.core.receive(message, peer, now))

    def on_answer(self, status: int, branch: str) -> bool:
        """A response read no further than its status and top Via branch: taken when it answers a NOTIFY."""
        sends = self.core.receive_answer(status, branch, self._arrived())
        if sends is None:
            return False
        self._send(sends)
        return True

    def _arrived(self) -> float:
        """A message arrived: the heartbeat keeps reading the lag (started again if it slept). The loop's time."""
        now = self._loop.time()
        self._heard = True
        if self._beat is None and self._backlog is not None:
            self._beat_at(now + HEARTBEAT)
        return now

    def _behind(self, now: float) -> bool:
        backlog = self._backlog
        if backlog is None:
            return False
        if now >= self._fill_due:  # a system call: not for every message of a batch
            self._fill, self._fill_due = self.listener.udp_queued(), now + QUEUE_READ_INTERVAL
        return backlog.observe(now - self._beat_due, self._fill, now)

    def _refuse(self, request: SipRequest, peer: Peer, now: float) -> None:
        backlog = self._backlog
        assert backlog is not None
        self._refused.happened(
            now, lag=backlog.lag, percent=100 * backlog.fill, earliest=RETRY_AFTER, latest=RETRY_AFTER_LATEST
        )
        answer = response_to(request, 503, "Service Unavailable (overloaded)", {"Retry-After": str(retry_after())})
        with contextlib.suppress(PeerGone, MessageTooLarge, ConnectionLost):
            self.listener.send_bytes(answer.to_bytes(), peer)

    def watch_backlog(self) -> None:
        """Start the heartbeat that reads how far behind the server is (the listener is set)."""
        if self._backlog is not None:
            self._beat_at(self._loop.time() + HEARTBEAT)

    def _beat_at(self, due: float) -> None:
        self._beat_due = due
        self._beat = self._loop.call_at(due, self._heartbeat)

    def _heartbeat(self) -> None:
        now = self._loop.time()
        if not self._behind(now) and not self._heard:  # idle: no wake-ups until a message comes (it restarts it)
            self._beat, self._beat_due = None, math.inf
            return
        self._heard = False
        self._beat_at(now + HEARTBEAT)

    def on_disconnect(self, peer: Peer) -> None:
        self._send(self.core.peer_gone(peer, self._loop.time()))

    def _send(self, sends: list[Send]) -> None:
        while sends:
            failed: list[Send] = []
            for send in sends:
                try:
                    self.listener.send_bytes(send.data, send.peer)  # type: ignore[arg-type]
                except (PeerGone, MessageTooLarge, ConnectionLost) as error:
                    log.info("could not send to %s: %s", send.peer, error)
                    failed.append(send)
            sends = []
            now = self._loop.time()
            for send in failed:
                if send.branch is not None:
                    sends += self.core.send_failed(send.branch, now)
                if isinstance(send.peer, Peer) and send.peer.connection is not None:
                    sends += self.core.peer_gone(send.peer, now)
        if self.cluster is not None and self.cluster_journal is not None and self.cluster_journal.pending:
            self.cluster.submit(self.core.cluster_changes(self._loop.time()))
        self.arm()

    def mirror(
        self,
        aor: str,
        removed: Sequence[str],
        added: Sequence[PublicationRecord],
        *,
        whole: bool,
        listed: tuple[str, ...] | None,
    ) -> None:
        """Another node changed `aor` (the cluster link heard it)."""
        self._send(self.core.mirror(aor, removed, added, self._loop.time(), whole=whole, listed=listed))

    # The rest of what the cluster link asks of its node (`cluster.link.ClusterHost`).

    def clock(self) -> float:
        return self._loop.time()

    def own_records(self) -> dict[str, list[PublicationRecord]]:
        return self.core.publications.own_records(self._loop.time())

    def own_dialogs(self) -> list[SavedDialog]:
        return self.core.saved_dialogs(self._loop.time())

    def take_over(self, dialogs: list[SavedDialog]) -> None:
        self._send(self.core.take_over(dialogs, self._loop.time()))

    def bindings_found(self, aor: str, bindings: list[SavedBinding]) -> None:
        self._send(self.core.bindings_found(aor, bindings, self._loop.time()))

    def followed(self, serial: int) -> None:
        self._send(self.core.followed(serial, self._loop.time()))

    def give_up_dialogs(self) -> None:
        self._send(self.core.give_up_dialogs(self._loop.time()))

    def arm(self) -> None:
        """Set the timer to the core's next deadline."""
        deadline = self.core.next_deadline()
        if deadline is None or deadline == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = deadline
        self._timer = self._loop.call_at(deadline, self._fire)

    def _fire(self) -> None:
        self._timer = self._timer_at = None
        self._send(self.core.on_timer(self._loop.time()))

    def wake(self) -> None:
        """Read the change log now: this process changed an account, or another one did and it was heard."""
        self._wake.set()

    async def poll_store(self) -> None:
        interval = poll_interval(self.store, self._poll_interval)
        heard = ChangeListener.start(self.store, self.core.config.domain, self.wake)  # None on SQLite: polling alone
        try:
            while True:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), interval)
                self._wake.clear()
                try:
                    changes = self.store.changes(self.core.config.domain, self._changes_seen)
                except Exception as error:  # a locked or damaged file: keep serving, say it once a poll
                    log.warning("cannot read account changes from the database: %s", error)
                    continue
                self._changes_seen = changes.last
                if changes.numbers or changes.usernames:
                    log.info("accounts changed: %d numbers, %d accounts", len(changes.numbers), len(changes.usernames))
                    self._send(self.core.accounts_changed(changes.numbers, changes.usernames, self._loop.time()))
        finally:
            if heard is not None:
                heard.close()

    async def shutdown(self) -> None:
        self._send(self.core.shutdown(self._loop.time()))
        deadline = self._loop.time() + SHUTDOWN_GRACE
        while self.core.subscriptions and self._loop.time() < deadline:
            await asyncio.sleep(0.05)
        if self._timer is not None:
            self._timer.cancel()
        if self._beat is not None:
            self._beat.cancel()
        self.listener.close()
        await self.listener.wait_closed()


async def serve(options: RunOptions) -> None:
    """Run the server until SIGINT or SIGTERM; ServerRunError when it cannot start."""
    tls = _tls_context(options) if options.tls_cert or options.tls_key else None
    try:
        store = Store.open(options.db)
    except StoreError as error:  # says which database and why
        raise ServerRunError(str(error)) from None
    try:
        api_socket = _bind_api(options.api) if options.api is not None else None
        server = _Server(store, options.config.domain, options.poll_interval, options.overload_lag)
        raise_open_files_limit(DEFAULT_MAX_CONNECTIONS + (MAX_API_CONNECTIONS if options.api is not None else 0))
        try:
            listener = await start_listener(
                options.host,
                options.port,
                on_message=server.on_message,
                on_disconnect=server.on_disconnect,
                on_answer=server.on_answer,
                tls=tls,
                tls_port=options.tls_port if tls is not None else None,
                max_connections_per_address=options.max_connections_per_address,
                first_message_timeout=options.first_message_timeout,
                message_timeout=options.message_timeout,
                udp_rate=options.udp_rate,
                stream_rate=options.stream_rate,
                udp_buffer=options.udp_buffer,
            )
        except ListenFailed as error:
            if api_socket is not None:
                api_socket.close()
            raise ServerRunError(str(error)) from None
        via = {name: format_address(_advertised(listener.address, options.advertise)) for name in ("UDP", "TCP")}
        if listener.tls_address is not None:
            via["TLS"] = format_address(_advertised(listener.tls_address, options.advertise))
        config = replace(options.config, via=via)
        core = await _start_core(options, config, store, server, listener)
        server.watch_backlog()
        server.arm()  # the core may have restored subscription dialogs, whose full states are due at once
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        log.info(
            "smartbook server for %s listening on UDP and TCP %s%s",
            config.domain,
            via["UDP"],
            f", TLS {via['TLS']}" if "TLS" in via else "",
        )
        api = await _start_api(options, api_socket, server, via["TCP"]) if api_socket is not None else None
        if options.ready_file is not None:
            bound = {"udp": listener.address, "tcp": listener.address, "tls": listener.tls_address}
            bound["http"] = api.address if api is not None else None
            _write_ready_file(options.ready_file, config, bound, via)
        poller = asyncio.create_task(server.poll_store())
        try:
            await stop.wait()
        finally:
            poller.cancel()
            if api is not None:
                await api.stop()
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)
        log.info("stopping: %d call transactions in progress", core.proxy.transactions)
        log.info("stopping: telling %d subscribers", core.subscriptions)
        await server.shutdown()
        if server.cluster is not None:
            await server.cluster.close()
    finally:
        store.close()


async def _start_core(
    options: RunOptions, config: ServerConfig, store: Store, server: _Server, listener: Listener
) -> PresenceServer:
    """The core, and with --cluster its link to the other nodes (ServerRunError, the sockets closed, when Redis
    cannot be reached)."""
    server.listener = listener
    if not options.cluster:
        server.core = PresenceServer(config, store, secret=secrets.token_bytes(32), token=TokenSource())
        return server.core
    node = options.node_id or _node_name(config.via)
    try:
        link = await ClusterLink.connect(options.cluster, node, server)
        resumed = await link.resume()
    except ClusterError as error:
        listener.close()
        await listener.wait_closed()
        raise ServerRunError(str(error)) from None
    journal = ClusterJournal()
    dialogs = ClusterDialogs(link.submit_dialogs, resumed)
    server.core = PresenceServer(
        config, store, secret=secrets.token_bytes(32), token=TokenSource(), cluster=journal, dialogs=dialogs
    )
    server.cluster, server.cluster_journal = link, journal
    link.watch_nodes()
    return server.core


def _node_name(via: dict[str, str]) -> str:
    """A name no other node has: this host's, and the address it serves SIP on."""
    return f"{socket.gethostname()}/{via['UDP']}"


async def _start_api(options: RunOptions, sock: socket.socket, server: _Server, sip_tcp: str) -> RunningApi:
    """The account API on this loop, its connections held to the transport options as the SIP ones are;
    ServerRunError (the SIP sockets closed) when it cannot start."""
    from .accounts_api.connections import ConnectionLimits  # noqa: PLC0415 (uvicorn only for --http)
    from .accounts_api.serving import ApiStartFailed, start_api  # noqa: PLC0415 (FastAPI and uvicorn only for --http)

    assert options.api is not None
    limits = ConnectionLimits(
        options.max_connections_per_address,
        options.first_message_timeout,
        options.message_timeout,
        uncapped=options.api.trusted_proxies,
    )
    try:
        return await start_api(
            options.api,
            sock,
            store=server.store,
            authenticator=server.core.authenticator,
            domain=server.core.config.domain,
            proxy=f"sip:{sip_tcp};transport=tcp",
            on_change=server.wake,
            limits=limits,
            discoverable=server.core.config.discoverable,
        )
    except ApiStartFailed as error:
        server.listener.close()
        await server.listener.wait_closed()
        raise ServerRunError(str(error)) from None


def _bind_api(options: ApiOptions) -> socket.socket:
    """The account API's socket, bound before the SIP ones: a busy port is said before anything starts."""
    from .accounts_api.serving import ApiStartFailed, bind_api  # noqa: PLC0415 (FastAPI and uvicorn only for --http)

    try:
        return bind_api(options)
    except ApiStartFailed as error:
        raise ServerRunError(str(error)) from None


def _tls_context(options: RunOptions) -> ssl.SSLContext:
    if options.tls_cert is None or options.tls_key is None:
        raise ServerRunError("TLS needs both --tls-cert and --tls-key")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(options.tls_cert, options.tls_key)
    except (OSError, ssl.SSLError) as error:
        raise ServerRunError(f"cannot load the TLS certificate {options.tls_cert}: {error}") from None
    return context


def _advertised(address: tuple[str, int], advertise: str | None) -> tuple[str, int]:
    """The address to write in Via and Contact: `advertise` with the bound port, else the bound address, or for a
    wildcard bind this host's address (which may well be wrong for clients elsewhere: give --advertise)."""
    host, port = address
    if advertise:
        return advertise, port
    if host in ("0.0.0.0", "::"):  # noqa: S104 (recognising a wildcard bind, not making one)
        with contextlib.suppress(OSError):
            host = socket.gethostbyname(socket.gethostname())
        log.warning("listening on every address: clients are told %s; give --advertise if they cannot reach it", host)
    return host, port


def _write_ready_file(
    path: Path, config: ServerConfig, bound: dict[str, tuple[str, int] | None], via: dict[str, str]
) -> None:
    """Say where the server listens (`udp`, `tcp`, `tls`: bound addresses) and what it tells clients (`advertised`),
    atomically (a reader never sees half a file)."""
    document: dict[str, object] = {"domain": config.domain, "pid": os.getpid()}
    document |= {name: format_address(address) for name, address in bound.items() if address is not None}
    document["advertised"] = {name.lower(): value for name, value in via.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=f".{path.name}.", delete=False) as handle:
        json.dump(document, handle)
    os.replace(handle.name, path)
