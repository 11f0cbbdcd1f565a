"""`smartbook server run`: the presence server in the foreground, until Ctrl-C or SIGTERM.

Every option may instead be set in the [server] section of the settings file (the key is the option's name with
`_` for `-`, as `notify_interval`); the option wins.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import platformdirs

from smartbook_tui.config import LEGACY_MODES, LOG_LEVELS, ServerSettings, Settings, load_settings, split_host_port
from smartbook_tui.server.accounts_api.codes import CodePolicy
from smartbook_tui.server.accounts_api.options import SMS_GATEWAYS, ApiOptions, checked_proxies
from smartbook_tui.server.accounts_api.phones import checked_regions
from smartbook_tui.server.client_address import trusted_addresses
from smartbook_tui.server.cluster.options import checked_cluster_url, checked_node_id
from smartbook_tui.server.core import ServerConfig
from smartbook_tui.server.discovery import DAY, DISCOVERABLE, DiscoveryPolicy
from smartbook_tui.server.logs import LOG_FORMATS, configure_logging
from smartbook_tui.server.overload import DEFAULT_OVERLOAD_LAG
from smartbook_tui.server.runner import RunOptions, ServerRunError, serve
from smartbook_tui.server.sms import DEFAULT_BODY, parse_header
from smartbook_tui.server.store import PostgresUrl, StoreError, checked_domain, database_location
from smartbook_tui.sip.aio.listener import (
    DEFAULT_FIRST_MESSAGE_TIMEOUT,
    DEFAULT_MAX_CONNECTIONS_PER_ADDRESS,
    DEFAULT_MESSAGE_TIMEOUT,
    DEFAULT_STREAM_RATE,
    DEFAULT_UDP_BUFFER,
    DEFAULT_UDP_RATE,
)

from .messages import fail

DEFAULT_SIP = "127.0.0.1:5070"
DEFAULT_DOMAIN = "127.0.0.1"
DEFAULT_LOG_LEVEL = "INFO"
DEFAULT_REGION = "FR"
_CORE = ServerConfig(domain=DEFAULT_DOMAIN, via={})  # the core's defaults, which the options default to
_CODES = CodePolicy()
_DISCOVERY = DiscoveryPolicy()
_API = ApiOptions(host="", port=0)
_FROM_SETTINGS = (
    "Each option may also be set in the [server] section of the settings file (see smartbook --help), as "
    "notify_interval for --notify-interval; the option wins."
)
_T = TypeVar("_T")


def add_run_parser(
    parts: argparse._SubParsersAction[argparse.ArgumentParser],
    add_store_options: Callable[[argparse.ArgumentParser], None],
) -> None:
    summary = "run the presence server (registrar, presence, resource lists, phone aliases) until Ctrl-C"
    run = parts.add_parser("run", help=summary, description=summary[0].upper() + summary[1:] + ". " + _FROM_SETTINGS)
    add_store_options(run)
    run.add_argument("--sip", metavar="HOST:PORT", help=f"UDP and TCP address (default {DEFAULT_SIP})")
    run.add_argument(
        "--advertise",
        metavar="HOST",
        help="the host name or address clients reach the server at, written in Via and Contact (default: the --sip "
        "host; for 0.0.0.0 or ::, this machine's name as it resolves)",
    )
    run.add_argument("--tls-cert", type=Path, metavar="PEM", help="certificate chain: also listen on TLS")
    run.add_argument("--tls-key", type=Path, metavar="PEM", help="the certificate's private key")
    run.add_argument("--tls-port", type=_port, metavar="PORT", help="TLS port (default: the SIP port + 1)")
    run.add_argument("--ready-file", type=Path, metavar="PATH", help="write the listening addresses here (JSON)")
    run.add_argument(
        "--notify-interval",
        type=_non_negative_float,
        metavar="SECONDS",
        help=f"least time between two NOTIFYs of one subscription (default {_CORE.notify_interval:g})",
    )
    run.add_argument(
        "--notify-max-resources",
        type=positive_int,
        metavar="N",
        help=f"most resources in one NOTIFY; a longer state goes in several, back to back (0.5 s apart for "
        f"liblinphone < 5.4) (default {_CORE.notify_max_resources})",
    )
    run.add_argument(
        "--max-list-size",
        type=positive_int,
        metavar="N",
        help=f"most entries of a list (default {_CORE.max_list_size})",
    )
    run.add_argument(
        "--min-expires",
        type=positive_int,
        metavar="SECONDS",
        help=f"shortest registration, publication or subscription accepted (default {_CORE.min_expires})",
    )
    run.add_argument(
        "--rate-limit",
        type=_non_negative_float,
        metavar="N",
        help=f"requests a second from one source before 503 (default {_CORE.rate_limit:g}; 0: no limit)",
    )
    run.add_argument(
        "--max-pending-per-source",
        type=positive_int,
        metavar="N",
        help=f"call requests from one source waiting for their final answer before 503 "
        f"(default {_CORE.max_pending_per_source})",
    )
    run.add_argument(
        "--max-pending",
        type=positive_int,
        metavar="N",
        help=f"call requests from everyone waiting for their final answer before 503 (default {_CORE.max_pending})",
    )
    run.add_argument(
        "--auth-failures",
        type=_non_negative_int,
        metavar="N",
        help=f"failed digest tries in a row, per account and per address, before each next one waits 1, 2, 4... s "
        f"(503 with Retry-After; default {_CORE.auth_failures}; 0: no backoff)",
    )
    run.add_argument(
        "--trusted-proxy",
        action="append",
        type=_trusted_proxy,
        metavar="ADDRESS",
        help="a SIP proxy in front (an IP address; repeatable) whose requests count, for the rate limit, the sign-in "
        "backoff and the call limits, as their client's: the received address, else the sent-by, of the Via below "
        "the proxy's own (setting: trusted_proxies, a list; default: none, every address is a client)",
    )
    run.add_argument(
        "--legacy",
        choices=LEGACY_MODES,
        help=f"the NOTIFY form of liblinphone < 5.4: by User-Agent (auto), for every client, or never "
        f"(default {_CORE.legacy})",
    )
    run.add_argument(
        "--log-level", choices=LOG_LEVELS, help=f"the least important messages logged (default {DEFAULT_LOG_LEVEL})"
    )
    run.add_argument(
        "--log-format", choices=LOG_FORMATS, help="text lines for a person (default), or one JSON object a line"
    )
    _add_discovery_options(run)
    _add_transport_options(run)
    _add_cluster_options(run)
    _add_api_options(run)
    run.set_defaults(run=run_server)


def _add_discovery_options(run: argparse.ArgumentParser) -> None:
    discovery = run.add_argument_group(
        "discovery", "who can learn that a phone number has an account here, and how many numbers one may check"
    )
    discovery.add_argument(
        "--discoverable",
        choices=DISCOVERABLE,
        help=f"who finds an account by its number in a list, unless the account says otherwise (smartbook server "
        f"account set USER --discoverable): everyone, only the accounts its own lists name (contacts), or nobody; "
        f"the others see a number without an account (default {_CORE.discoverable})",
    )
    discovery.add_argument(
        "--discovery-quota",
        type=_non_negative_int,
        metavar="N",
        help=f"new numbers the lists of one account may check in --discovery-window; past it the rest are shown as "
        f"not checked, and the log names the account (default {_DISCOVERY.quota}; 0: no quota)",
    )
    discovery.add_argument(
        "--discovery-window",
        type=positive_float,
        metavar="HOURS",
        help=f"the sliding window the quota counts in (default {_DISCOVERY.window / 3600:g})",
    )
    discovery.add_argument(
        "--discovery-per-address",
        type=_non_negative_int,
        metavar="N",
        help=f"new numbers checked from one client address in --discovery-window, whatever the accounts (many "
        f"accounts behind one address, a NAT's users too); past it the rest are not checked (default "
        f"{_DISCOVERY.per_address}; 0: no ceiling)",
    )
    discovery.add_argument(
        "--discovery-overall",
        type=_non_negative_int,
        metavar="N",
        help=f"new numbers checked by everyone together in --discovery-window: the ceiling of a service under a "
        f"harvest from many addresses (default {_DISCOVERY.overall}; 0: no ceiling)",
    )
    discovery.add_argument(
        "--discovery-memory",
        type=positive_float,
        metavar="DAYS",
        help=f"how long a number an account named stays free to name again, and is kept for it "
        f"(default {_DISCOVERY.memory / DAY:g})",
    )


def _add_cluster_options(run: argparse.ArgumentParser) -> None:
    cluster = run.add_argument_group("cluster (several nodes behind a SIP proxy such as Kamailio; see docs/scaling.md)")
    cluster.add_argument(
        "--cluster",
        type=_argument(checked_cluster_url),
        metavar="REDIS_URL",
        help="share the live state (presence, whom lists name) with the other nodes through this Redis "
        "(redis://HOST:PORT/DB; default: none, a single node)",
    )
    cluster.add_argument(
        "--node-id",
        type=_argument(checked_node_id),
        metavar="NAME",
        help="this node's name among them, unique (default: the host name and the SIP address)",
    )


def _add_transport_options(run: argparse.ArgumentParser) -> None:
    transport = run.add_argument_group("transport", "limits of the sockets and connections, before SIP is read")
    transport.add_argument(
        "--max-connections-per-address",
        type=positive_int,
        metavar="N",
        help=f"TCP and TLS connections open from one address (an IPv6 /64 counts as one) before new ones from it "
        f"are closed at once; the account API's too, with 503 (default {DEFAULT_MAX_CONNECTIONS_PER_ADDRESS})",
    )
    transport.add_argument(
        "--first-message-timeout",
        type=positive_float,
        metavar="SECONDS",
        help=f"time a new TCP or TLS connection has to send one whole message, or an account API connection one "
        f"whole request (default "
        f"{DEFAULT_FIRST_MESSAGE_TIMEOUT:g})",
    )
    transport.add_argument(
        "--message-timeout",
        type=positive_float,
        metavar="SECONDS",
        help=f"time a message has to arrive whole over TCP or TLS once its first byte has, or the account API's next "
        f"request after an answer (default "
        f"{DEFAULT_MESSAGE_TIMEOUT:g})",
    )
    transport.add_argument(
        "--udp-rate",
        type=_non_negative_float,
        metavar="N",
        help=f"UDP datagrams a second read from one address; past it they are dropped unread, so that a flood "
        f"cannot crowd out the others (default {DEFAULT_UDP_RATE:g}; 0: no limit)",
    )
    transport.add_argument(
        "--stream-rate",
        type=_non_negative_float,
        metavar="N",
        help=f"SIP messages a second read from one address over TCP and TLS; past it its connections are not read "
        f"until it is back under, so that a flood waits in its own buffers (default {DEFAULT_STREAM_RATE:g}; 0: no "
        f"limit, for a proxy in front)",
    )
    transport.add_argument(
        "--udp-buffer",
        type=positive_int,
        metavar="BYTES",
        help=f"the UDP socket's receive and send buffers asked of the kernel, which caps them at "
        f"net.core.rmem_max / wmem_max; what it gave is logged (default {DEFAULT_UDP_BUFFER})",
    )
    transport.add_argument(
        "--overload-lag",
        type=_non_negative_float,
        metavar="SECONDS",
        help=f"how late its event loop may run before the server answers new requests 503 with Retry-After (as it "
        f"does from a half-full UDP receive buffer), keeping subscriptions and calls already set up going "
        f"(default {DEFAULT_OVERLOAD_LAG:g}; 0: never refuse)",
    )


def _add_api_options(run: argparse.ArgumentParser) -> None:
    api = run.add_argument_group("account API", "accounts made from a phone number with a code sent by SMS")
    api.add_argument("--http", metavar="HOST:PORT", help="serve the account API (under /api) here")
    api.add_argument(
        "--http-proxies",
        metavar="ADDRESS,ADDRESS",
        help="reverse proxies in front of the API (addresses or networks) whose X-Forwarded-For is believed, so that "
        "the limits count their clients (default: none, every address is a client)",
    )
    api.add_argument(
        "--http-tls",
        action=argparse.BooleanOptionalAction,
        help="serve the account API over HTTPS, with the server's certificate (--tls-cert, --tls-key); without it, "
        "plain HTTP, only for loopback or behind a TLS proxy (default: off)",
    )
    api.add_argument(
        "--region", metavar="CC", help=f"ISO region of numbers given in national form (default {DEFAULT_REGION})"
    )
    api.add_argument(
        "--sms-countries", metavar="CC,CC", help="regions whose mobile numbers are taken (default: every region)"
    )
    api.add_argument(
        "--sms", choices=SMS_GATEWAYS, help="SMS gateway: console (log and outbox file, the default) or http"
    )
    api.add_argument(
        "--sms-outbox",
        type=Path,
        metavar="FILE",
        help=f"console: append each SMS here as a JSON line (default {default_outbox_path()})",
    )
    api.add_argument("--sms-url", metavar="URL", help="http: the provider's URL, POSTed a JSON body for each SMS")
    api.add_argument(
        "--sms-header", action="append", metavar="'NAME: VALUE'", help="http: a header of each POST (repeatable)"
    )
    api.add_argument(
        "--sms-body",
        metavar="TEMPLATE",
        help=f"http: the body, $to and $text put in JSON-escaped (default {DEFAULT_BODY})",
    )
    api.add_argument(
        "--code-lifetime",
        type=positive_float,
        metavar="SECONDS",
        help=f"how long an SMS code is valid (default {_CODES.lifetime:g})",
    )
    api.add_argument(
        "--code-tries", type=positive_int, metavar="N", help=f"wrong tries that void a code (default {_CODES.tries})"
    )
    api.add_argument(
        "--sms-per-number",
        type=positive_int,
        metavar="N",
        help=f"SMS to one number in 24 hours (default {_CODES.sms_per_number})",
    )
    api.add_argument(
        "--code-events",
        type=positive_int,
        metavar="N",
        help=f"codes sent or wrong tries of one account in 30 minutes (default {_CODES.events_per_account})",
    )
    api.add_argument(
        "--api-rate",
        type=_non_negative_float,
        metavar="N",
        help=f"API requests a minute from one address before 429 (default {_API.api_rate:g}; 0: no limit)",
    )
    api.add_argument(
        "--api-global-rate",
        type=_non_negative_float,
        metavar="N",
        help=f"API requests a second from everyone before 503 (default {_API.api_global_rate:g}; 0: no limit)",
    )


def default_db_path() -> Path:
    return platformdirs.user_data_path("smartbook") / "server.sqlite3"


def default_outbox_path() -> Path:
    """Where the console SMS gateway writes, beside the database: codes never go nowhere."""
    return platformdirs.user_data_path("smartbook") / "sms-outbox.jsonl"


def store_location(args: argparse.Namespace, settings: Settings) -> tuple[str, Path | PostgresUrl]:
    """The checked domain and the database of a server command: its options, else the settings file's [server]
    section, else the defaults. Raises StoreError (InvalidValue) for a domain that is not one."""
    domain = _given(args.domain, settings.server.domain, DEFAULT_DOMAIN)
    written = settings.server.db
    db = _given(args.db, database_location(os.path.expanduser(written)) if written else None, None)
    return checked_domain(domain), db or default_db_path()


def run_options(args: argparse.Namespace, settings: Settings) -> RunOptions:
    """What `server run` serves: each option, else its [server] setting, else its default. Raises ValueError
    (a wrong --sip) or StoreError (a wrong domain); the settings file's values are checked as it is read."""
    saved = settings.server
    sip = _given(args.sip, saved.sip, DEFAULT_SIP)
    address = split_host_port(sip)
    if address is None:
        raise ValueError(f"--sip wants HOST:PORT, e.g. {DEFAULT_SIP}, not {sip!r}")
    host, port = address
    domain, db = store_location(args, settings)
    config = ServerConfig(
        domain=domain,
        via={},
        notify_interval=_given(args.notify_interval, saved.notify_interval, _CORE.notify_interval),
        notify_max_resources=_given(args.notify_max_resources, saved.notify_max_resources, _CORE.notify_max_resources),
        max_list_size=_given(args.max_list_size, saved.max_list_size, _CORE.max_list_size),
        min_expires=_given(args.min_expires, saved.min_expires, _CORE.min_expires),
        rate_limit=_given(args.rate_limit, saved.rate_limit, _CORE.rate_limit),
        max_pending_per_source=_given(
            args.max_pending_per_source, saved.max_pending_per_source, _CORE.max_pending_per_source
        ),
        max_pending=_given(args.max_pending, saved.max_pending, _CORE.max_pending),
        auth_failures=_given(args.auth_failures, saved.auth_failures, _CORE.auth_failures),
        trusted_proxies=trusted_addresses(_given(args.trusted_proxy, saved.trusted_proxies, [])),
        legacy=_given(args.legacy, saved.legacy, _CORE.legacy),
        discoverable=_given(args.discoverable, saved.discoverable, _CORE.discoverable),
        discovery=DiscoveryPolicy(
            quota=_given(args.discovery_quota, saved.discovery_quota, _DISCOVERY.quota),
            window=_given(args.discovery_window, saved.discovery_window, _DISCOVERY.window / 3600) * 3600,
            memory=_given(args.discovery_memory, saved.discovery_memory, _DISCOVERY.memory / DAY) * DAY,
            per_address=_given(args.discovery_per_address, saved.discovery_per_address, _DISCOVERY.per_address),
            overall=_given(args.discovery_overall, saved.discovery_overall, _DISCOVERY.overall),
        ),
    )
    tls_port = _given(args.tls_port, saved.tls_port, None)
    return RunOptions(
        host=host,
        port=port,
        db=db,
        config=config,
        tls_cert=_given(args.tls_cert, saved.tls_cert, None),
        tls_key=_given(args.tls_key, saved.tls_key, None),
        tls_port=tls_port if tls_port is not None else (port + 1 if port else 0),
        ready_file=_given(args.ready_file, saved.ready_file, None),
        advertise=_given(args.advertise, saved.advertise, None),
        api=api_options(args, saved),
        max_connections_per_address=_given(
            args.max_connections_per_address, saved.max_connections_per_address, DEFAULT_MAX_CONNECTIONS_PER_ADDRESS
        ),
        first_message_timeout=_given(
            args.first_message_timeout, saved.first_message_timeout, DEFAULT_FIRST_MESSAGE_TIMEOUT
        ),
        message_timeout=_given(args.message_timeout, saved.message_timeout, DEFAULT_MESSAGE_TIMEOUT),
        udp_rate=_given(args.udp_rate, saved.udp_rate, DEFAULT_UDP_RATE),
        stream_rate=_given(args.stream_rate, saved.stream_rate, DEFAULT_STREAM_RATE),
        udp_buffer=_given(args.udp_buffer, saved.udp_buffer, DEFAULT_UDP_BUFFER),
        overload_lag=_given(args.overload_lag, saved.overload_lag, DEFAULT_OVERLOAD_LAG),
        cluster=_given(args.cluster, saved.cluster, None),
        node_id=_given(args.node_id, saved.node_id, None),
    )


def api_options(args: argparse.Namespace, saved: ServerSettings) -> ApiOptions | None:
    """The account API's options when --http (or the `http` setting) is given; ValueError for a wrong one."""
    http = _given(args.http, saved.http, None)
    if http is None:
        return None
    address = split_host_port(http)
    if address is None:
        raise ValueError(f"--http wants HOST:PORT, e.g. 127.0.0.1:8080, not {http!r}")
    countries = _given(args.sms_countries, saved.sms_countries, None)
    region = _given(args.region, saved.region, DEFAULT_REGION)
    checked_regions(region)
    https = _given(args.http_tls, saved.http_tls, False)
    return ApiOptions(
        host=address[0],
        port=address[1],
        codes=CodePolicy(
            lifetime=_given(args.code_lifetime, saved.code_lifetime, _CODES.lifetime),
            tries=_given(args.code_tries, saved.code_tries, _CODES.tries),
            sms_per_number=_given(args.sms_per_number, saved.sms_per_number, _CODES.sms_per_number),
            events_per_account=_given(args.code_events, saved.code_events, _CODES.events_per_account),
        ),
        region=region.upper(),
        sms_countries=checked_regions(countries) if countries else None,
        api_rate=_given(args.api_rate, saved.api_rate, _API.api_rate),
        api_global_rate=_given(args.api_global_rate, saved.api_global_rate, _API.api_global_rate),
        sms=_given(args.sms, saved.sms, _API.sms),
        sms_outbox=_given(args.sms_outbox, saved.sms_outbox, None) or default_outbox_path(),
        sms_url=_given(args.sms_url, saved.sms_url, None),
        sms_headers=tuple(parse_header(text) for text in _given(args.sms_header, saved.sms_header, [])),
        sms_body=_given(args.sms_body, saved.sms_body, DEFAULT_BODY),
        trusted_proxies=checked_proxies(_given(args.http_proxies, saved.http_proxies, "")),
        https=https,
        tls_cert=_given(args.tls_cert, saved.tls_cert, None) if https else None,
        tls_key=_given(args.tls_key, saved.tls_key, None) if https else None,
    )


def log_level(args: argparse.Namespace, settings: Settings) -> str:
    return _given(args.log_level, settings.server.log_level, DEFAULT_LOG_LEVEL)


def run_server(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(args.config)
        options = run_options(args, settings)
    except (ValueError, StoreError) as error:  # ConfigError included
        return fail(str(error))
    configure_logging(log_level(args, settings), _given(args.log_format, settings.server.log_format, "text"))
    try:
        asyncio.run(serve(options))
    except ServerRunError as error:
        return fail(str(error))
    return 0


def _given(option: _T | None, setting: _T | None, default: _T) -> _T:
    """The option when given (0 and "" are given), else the setting when set, else the default."""
    if option is not None:
        return option
    return setting if setting is not None else default


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be at least 0, not {value}")
    return value


def positive_float(text: str) -> float:
    value = float(text)
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a number above 0, not {text}")
    return value


def _non_negative_float(text: str) -> float:
    value = float(text)
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"must be a number of at least 0, not {text}")
    return value


def _argument(check: Callable[[str], str]) -> Callable[[str], str]:
    """An argparse type from a check that raises ValueError with a message."""

    def checked(text: str) -> str:
        try:
            return check(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    return checked


def _trusted_proxy(text: str) -> str:
    try:
        return next(iter(trusted_addresses([text])))
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value < 65536:
        raise argparse.ArgumentTypeError(f"must be a port, 0 to 65535, not {value}")
    return value
