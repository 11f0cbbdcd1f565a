"""`smartbook watch`: subscribe to the whole book with one SUBSCRIBE (or to a server-stored list) and print
every presence update and every change of the subscription's state as a JSON line, until interrupted."""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import os
import signal
import socket
import ssl
from pathlib import Path

from smartbook_tui import __version__
from smartbook_tui.config import AccountSettings, load_settings
from smartbook_tui.contacts import book_resource_uris, contacts_by_resource
from smartbook_tui.password_file import read_password_file
from smartbook_tui.sip.aio import TransportError, open_flow
from smartbook_tui.sip.auth import Credentials
from smartbook_tui.sip.uri import SipUri, parse_sip_uri
from smartbook_tui.subscriber.machine import Phase, Status, SubscriptionConfig, Updates
from smartbook_tui.subscriber.runner import Event, Subscriber

from .book import BookUnavailable, add_book_arguments, fail, load_book, merge_book_settings

PASSWORD_VARIABLE = "SMARTBOOK_PASSWORD"  # noqa: S105 (the name of the variable, not a password)
_DEFAULT_PORTS = {"udp": 5060, "tcp": 5060, "tls": 5061}


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    watch = commands.add_parser(
        "watch",
        help="subscribe to the book's presence with one SUBSCRIBE and print updates as JSON lines",
        description="Subscribe to the presence of the whole address book with one SUBSCRIBE to a resource list "
        "server (RFC 5367), or to a list stored on the server (--list-uri), and print one JSON line per presence "
        "update and per change of the subscription's state, until interrupted (Ctrl-C unsubscribes).",
    )
    watch.add_argument("--sip-uri", help="the account, e.g. sip:alice@example.org")
    watch.add_argument("--username", help="the digest user name (default: the user part of --sip-uri)")
    watch.add_argument(
        "--password-file", type=Path, metavar="FILE", help=f"a file holding the password (or ${PASSWORD_VARIABLE})"
    )
    watch.add_argument("--proxy", metavar="HOST[:PORT]", help="where to send requests (default: the account's domain)")
    watch.add_argument("--transport", choices=("udp", "tcp", "tls"), help="default: tcp (a book rarely fits UDP)")
    watch.add_argument("--ca", type=Path, metavar="FILE", help="a PEM file of CAs to trust for TLS")
    watch.add_argument("--rls-uri", help="the resource list server (default: sip:rls@<domain>)")
    watch.add_argument("--list-uri", help="subscribe to this server-stored list instead of sending the book")
    watch.add_argument("--expires", type=int, default=3600, help="seconds asked for (default: %(default)s)")
    watch.add_argument("--once", action="store_true", help="exit after the first full state of the list")
    add_book_arguments(watch)
    watch.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        settings = merge_book_settings(args, load_settings(args.config))
        account = _merge_account(args, settings.account)
        if not account.sip_uri:
            return fail("no account given: use --sip-uri sip:user@domain (or [account] sip_uri in the settings)")
        aor = parse_sip_uri(account.sip_uri)
        credentials = _credentials(account, aor)
        transport = (account.transport or "tcp").lower()
        if transport not in _DEFAULT_PORTS:
            return fail(f"unknown transport {transport!r}: use udp, tcp or tls")
        server = _server(account.proxy or aor.host, transport)
        ssl_context = _ssl_context(account.ca) if transport == "tls" else None
    except (ValueError, OSError) as exc:  # ConfigError, SipParseError and unreadable files included
        return fail(str(exc))
    names: dict[str, list[str]] = {}
    if account.list_uri:
        target, resources = account.list_uri, None
    else:
        try:
            book = load_book(settings)
        except BookUnavailable as exc:
            return fail(str(exc))
        resources = tuple(book_resource_uris(book.result.contacts, aor.host))
        owners = contacts_by_resource(book.result.contacts, aor.host)
        names = {uri: [contact.name for contact in contacts] for uri, contacts in owners.items()}
        target = account.rls_uri or f"sip:rls@{aor.host}"
    config = SubscriptionConfig(
        aor=str(SipUri("sip", aor.user, None, aor.host, aor.port)),
        target=target,
        resources=resources,
        credentials=credentials,
        expires=args.expires,
        user_agent=f"smartbook/{__version__}",
    )
    return asyncio.run(_watch(config, transport, server, ssl_context, names, once=args.once))


def _merge_account(args: argparse.Namespace, saved: AccountSettings) -> AccountSettings:
    return AccountSettings(
        sip_uri=args.sip_uri or saved.sip_uri,
        username=args.username or saved.username,
        password_file=args.password_file or saved.password_file,
        proxy=args.proxy or saved.proxy,
        transport=args.transport or saved.transport,
        ca=args.ca or saved.ca,
        rls_uri=args.rls_uri or saved.rls_uri,
        list_uri=args.list_uri or saved.list_uri,
    )


def _credentials(account: AccountSettings, aor: SipUri) -> Credentials | None:
    if account.password_file is not None:
        password = read_password_file(account.password_file)
    else:
        password = os.environ.get(PASSWORD_VARIABLE, "")
    if not password:
        return None  # a server that challenges will be reported as asking for a password
    return Credentials(account.username or aor.user or "", password)


def _server(proxy: str, transport: str) -> tuple[str, int]:
    """HOST[:PORT] (IPv6 in brackets) as an address; a host name is looked up once, here, before the loop."""
    host, port = proxy, _DEFAULT_PORTS[transport]
    if proxy.startswith("["):
        host, _, rest = proxy[1:].partition("]")
        port = int(rest[1:]) if rest.startswith(":") else port
    elif proxy.count(":") == 1:
        host, _, digits = proxy.partition(":")
        port = int(digits)
    try:
        ipaddress.ip_address(host)
    except ValueError:
        host = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][4][0]
    return host, port


def _ssl_context(ca: Path | None) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if ca is not None:
        context.load_verify_locations(cafile=str(ca.expanduser()))
    return context


async def _watch(
    config: SubscriptionConfig,
    transport: str,
    server: tuple[str, int],
    ssl_context: ssl.SSLContext | None,
    names: dict[str, list[str]],
    *,
    once: bool,
) -> int:
    async def connect(on_message, on_lost):  # type: ignore[no-untyped-def]
        return await open_flow(
            transport,
            server,
            on_message=lambda message, _source: on_message(message),
            on_lost=on_lost,
            ssl_context=ssl_context,
            max_body=config.max_body,
            ca_option="--ca",
        )

    subscriber = Subscriber(config, connect, transport=transport)
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signal_number, subscriber.stop)
    failure: list[str] = []

    def on_event(event: Event) -> None:
        if isinstance(event, Status):
            _print({"event": "state", "phase": event.phase.value, "detail": event.detail})
            if event.phase is Phase.FAILED:
                failure.append(event.detail)
        elif isinstance(event, Updates):
            for update in event.updates:
                summary = update.summary
                _print(
                    {
                        "event": "presence",
                        "uri": update.uri,
                        "contacts": names.get(update.uri, []),
                        "has_account": summary.has_account,
                        "sip_address": summary.sip_address,
                        "status": summary.status.value,
                        "note": summary.note,
                        "last_seen": summary.last_seen.isoformat() if summary.last_seen else None,
                        "removed": update.removed,
                        "reason": update.reason,
                    }
                )
            if once and subscriber.has_full_state:
                subscriber.stop()

    try:
        await subscriber.run(on_event)
    except TransportError as exc:
        return fail(str(exc))
    if failure:
        return fail(failure[-1])
    return 0


def _print(line: dict[str, object]) -> None:
    print(json.dumps(line, ensure_ascii=False), flush=True)
