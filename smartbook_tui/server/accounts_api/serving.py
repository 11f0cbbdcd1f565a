"""The account API served by uvicorn on the presence server's own event loop (`--http HOST:PORT`): one task, no
thread; the socket is bound first, so a bad or busy address is a one-line error before anything starts. With
`--http-tls` it speaks HTTPS with the server's certificate, a handshake held to the first request's deadline."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

import uvicorn

from smartbook_tui.server.authentication import Authenticator
from smartbook_tui.server.discovery import Discoverable
from smartbook_tui.server.sms import SmsGateway
from smartbook_tui.server.sms.console import ConsoleGateway
from smartbook_tui.server.sms.http import HttpGateway
from smartbook_tui.server.store import Store

from .app import create_app
from .body_limit import BodyLimit
from .connections import ConnectionLimits, guarded_http
from .flows import AccountFlows
from .limits import RequestLimiter
from .options import ApiOptions
from .phones import PhonePolicy

__all__ = ["ApiStartFailed", "RunningApi", "bind_api", "start_api"]

log = logging.getLogger(__name__)


class ApiStartFailed(Exception):
    """The API cannot start (its address is taken or wrong); one line for a person."""


class _Uvicorn(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, tls: ssl.SSLContext | None, handshake_timeout: float) -> None:
        super().__init__(config)
        self._tls = tls
        self._handshake_timeout = handshake_timeout

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """The presence server's own SIGINT and SIGTERM handlers stop the API with the rest."""
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """uvicorn's startup for the sockets given, but with a deadline on the TLS handshake, which uvicorn does not
        set: the connection guard only sees a connection once its handshake is done, and a client that never
        finishes one would otherwise keep its socket for asyncio's default minute."""
        assert sockets is not None  # start_api gives its socket
        await self.lifespan.startup()
        loop = asyncio.get_running_loop()

        def protocol() -> asyncio.Protocol:
            return self.config.http_protocol_class(  # type: ignore[call-arg]
                config=self.config, server_state=self.server_state, app_state=self.lifespan.state, _loop=loop
            )

        handshake = self._handshake_timeout if self._tls is not None else None
        self.servers = [
            await loop.create_server(
                protocol, sock=sock, backlog=self.config.backlog, ssl=self._tls, ssl_handshake_timeout=handshake
            )
            for sock in sockets
        ]
        self.started = True


class RunningApi:
    def __init__(self, server: _Uvicorn, task: asyncio.Task[None], gateway: SmsGateway, address: tuple[str, int]):
        self._server = server
        self._task = task
        self._gateway = gateway
        self.address = address

    async def stop(self) -> None:
        self._server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        await self._gateway.close()


async def start_api(
    options: ApiOptions,
    sock: socket.socket,
    *,
    store: Store,
    authenticator: Authenticator,
    domain: str,
    proxy: str | None,
    on_change: Callable[[], None],
    limits: ConnectionLimits,
    discoverable: Discoverable = "everyone",
) -> RunningApi:
    """Serve the API on `sock` (from `bind_api`) in a task of the running loop; `authenticator` is the SIP
    server's, so that both share nonces and the backoff on failed sign-ins; `limits` hold its connections;
    `discoverable` is the server's, for the accounts that do not say who finds them by their number."""
    tls = _tls_context(options) if options.https else None
    gateway = _gateway(options)
    flows = AccountFlows(
        store,
        domain,
        gateway,
        codes=options.codes,
        phones=PhonePolicy(options.region, options.sms_countries),
        proxy=proxy,
        on_change=on_change,
        discoverable=discoverable,
    )
    app = create_app(flows, RequestLimiter(options.api_rate, options.api_global_rate), authenticator)
    config = uvicorn.Config(
        BodyLimit(app),
        http=guarded_http(limits),
        log_config=None,
        access_log=False,
        lifespan="off",
        server_header=False,
        # X-Forwarded-For believed from the operator's proxies alone: a client would choose the address its limits count
        proxy_headers=bool(options.trusted_proxies),
        forwarded_allow_ips=list(options.trusted_proxies),
    )
    server = _Uvicorn(config, tls, handshake_timeout=limits.first_request)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            sock.close()
            raise ApiStartFailed(f"the account API could not start on {options.host}:{options.port}")
        await asyncio.sleep(0.01)
    host, port = sock.getsockname()[:2]
    scheme = "https" if tls is not None else "http"
    log.info("account API on %s://%s/api (SMS: %s)", scheme, _http_address(host, port), _describe(options))
    return RunningApi(server, task, gateway, (host, port))


def bind_api(options: ApiOptions) -> socket.socket:
    """The API's listening socket, bound before anything else starts; ApiStartFailed when it cannot be, or when
    the options cannot work."""
    if options.sms == "http" and not options.sms_url:
        raise ApiStartFailed("--sms http needs --sms-url, the provider's URL")
    if options.sms == "console" and options.sms_outbox is None:
        raise ApiStartFailed("--sms console needs --sms-outbox FILE, where the codes are written")
    if options.https and (options.tls_cert is None or options.tls_key is None):
        raise ApiStartFailed("--http-tls needs the server's certificate: give --tls-cert and --tls-key")
    return _bind(options.host, options.port)


def _bind(host: str, port: int) -> socket.socket:
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        sock = socket.socket(family, socket.SOCK_STREAM)
    except (OSError, UnicodeError) as error:
        raise ApiStartFailed(f"--http {host}:{port}: {getattr(error, 'strerror', None) or error}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(256)
    except OSError as error:
        sock.close()
        raise ApiStartFailed(f"cannot serve the account API on {host}:{port}: {error.strerror or error}") from None
    sock.setblocking(False)
    return sock


def _tls_context(options: ApiOptions) -> ssl.SSLContext:
    """The API's server context: TLS 1.2 at least, the server's certificate chain and key."""
    assert options.tls_cert is not None  # bind_api said so
    assert options.tls_key is not None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(options.tls_cert, options.tls_key)
    except (OSError, ssl.SSLError) as error:
        raise ApiStartFailed(
            f"--http-tls cannot load the certificate {options.tls_cert} with its key {options.tls_key}: "
            f"{getattr(error, 'strerror', None) or error}"
        ) from None
    return context


def _gateway(options: ApiOptions) -> SmsGateway:
    if options.sms == "http" and options.sms_url:
        return HttpGateway(options.sms_url, list(options.sms_headers), options.sms_body)
    assert options.sms_outbox is not None  # bind_api said so
    return ConsoleGateway(options.sms_outbox)


def _describe(options: ApiOptions) -> str:
    if options.sms == "console":
        return f"console, no real SMS: each is appended to {options.sms_outbox}"
    return f"http, to {urlsplit(options.sms_url or '').hostname}"  # not the whole URL: it may hold a key


def _http_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
