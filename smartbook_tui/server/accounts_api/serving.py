"""The account API served by uvicorn on the presence server's own event loop (`--http HOST:PORT`): one task, no
thread; the socket is bound first, so a bad or busy address is a one-line error before anything starts."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

import uvicorn

from smartbook_tui.server.authentication import Authenticator
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
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """The presence server's own SIGINT and SIGTERM handlers stop the API with the rest."""
        yield


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
) -> RunningApi:
    """Serve the API on `sock` (from `bind_api`) in a task of the running loop; `authenticator` is the SIP
    server's, so that both share nonces and the backoff on failed sign-ins; `limits` hold its connections."""
    gateway = _gateway(options)
    flows = AccountFlows(
        store,
        domain,
        gateway,
        codes=options.codes,
        phones=PhonePolicy(options.region, options.sms_countries),
        proxy=proxy,
        on_change=on_change,
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
    server = _Uvicorn(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            sock.close()
            raise ApiStartFailed(f"the account API could not start on {options.host}:{options.port}")
        await asyncio.sleep(0.01)
    host, port = sock.getsockname()[:2]
    log.info("account API on http://%s/api (SMS: %s)", _http_address(host, port), _describe(options))
    return RunningApi(server, task, gateway, (host, port))


def bind_api(options: ApiOptions) -> socket.socket:
    """The API's listening socket, bound before anything else starts; ApiStartFailed when it cannot be, or when
    the options cannot work."""
    if options.sms == "http" and not options.sms_url:
        raise ApiStartFailed("--sms http needs --sms-url, the provider's URL")
    if options.sms == "console" and options.sms_outbox is None:
        raise ApiStartFailed("--sms console needs --sms-outbox FILE, where the codes are written")
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
