"""`smartbook server run`: the presence server in the foreground, until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable
from pathlib import Path

import platformdirs

from smartbook_tui.server.core import ServerConfig
from smartbook_tui.server.notifier import DEFAULT_INTERVAL, DEFAULT_MAX_RESOURCES
from smartbook_tui.server.runner import RunOptions, ServerRunError, serve
from smartbook_tui.server.store import StoreError, checked_domain

from .book import fail

DEFAULT_SIP = "127.0.0.1:5070"
_LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def add_run_parser(
    parts: argparse._SubParsersAction[argparse.ArgumentParser],
    add_store_options: Callable[[argparse.ArgumentParser], None],
) -> None:
    summary = "run the presence server (registrar, presence, resource lists, phone aliases) until Ctrl-C"
    run = parts.add_parser("run", help=summary, description=summary[0].upper() + summary[1:] + ".")
    add_store_options(run)
    run.add_argument(
        "--sip", default=DEFAULT_SIP, metavar="HOST:PORT", help=f"UDP and TCP address (default {DEFAULT_SIP})"
    )
    run.add_argument("--tls-cert", type=Path, metavar="PEM", help="certificate chain: also listen on TLS")
    run.add_argument("--tls-key", type=Path, metavar="PEM", help="the certificate's private key")
    run.add_argument("--tls-port", type=int, metavar="PORT", help="TLS port (default: the SIP port + 1)")
    run.add_argument("--ready-file", type=Path, metavar="PATH", help="write the listening addresses here (JSON)")
    run.add_argument(
        "--notify-interval",
        type=_positive_float,
        default=DEFAULT_INTERVAL,
        metavar="SECONDS",
        help=f"least time between two NOTIFYs of one subscription (default {DEFAULT_INTERVAL:g})",
    )
    run.add_argument(
        "--notify-max-resources",
        type=_positive_int,
        default=DEFAULT_MAX_RESOURCES,
        metavar="N",
        help=f"most resources in one NOTIFY, the rest shortly after (default {DEFAULT_MAX_RESOURCES})",
    )
    run.add_argument(
        "--max-list-size", type=_positive_int, default=10_000, metavar="N", help="most entries of a list (10000)"
    )
    run.add_argument(
        "--min-expires",
        type=_positive_int,
        default=60,
        metavar="SECONDS",
        help="shortest registration, publication or subscription accepted (default 60)",
    )
    run.add_argument(
        "--rate-limit",
        type=float,
        default=200.0,
        metavar="N",
        help="requests a second from one source before 503 (default 200; 0: no limit)",
    )
    run.add_argument(
        "--legacy",
        choices=("auto", "always", "never"),
        default="auto",
        help="the NOTIFY form of liblinphone < 5.4: by User-Agent (auto, default), for every client, or never",
    )
    run.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    run.set_defaults(run=run_server)


def default_db_path() -> Path:
    return platformdirs.user_data_path("smartbook") / "server.sqlite3"


def run_server(args: argparse.Namespace) -> int:
    try:
        host, port = _host_port(args.sip)
        domain = checked_domain(args.domain)
    except (ValueError, StoreError) as error:
        return fail(str(error))
    logging.basicConfig(level=args.log_level, format=_LOG_FORMAT, stream=sys.stderr)
    config = ServerConfig(
        domain=domain,
        via={},
        notify_interval=args.notify_interval,
        notify_max_resources=args.notify_max_resources,
        max_list_size=args.max_list_size,
        min_expires=args.min_expires,
        rate_limit=args.rate_limit,
        legacy=args.legacy,
    )
    options = RunOptions(
        host=host,
        port=port,
        db=args.db or default_db_path(),
        config=config,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        tls_port=args.tls_port if args.tls_port is not None else (port + 1 if port else 0),
        ready_file=args.ready_file,
    )
    try:
        asyncio.run(serve(options))
    except ServerRunError as error:
        return fail(str(error))
    return 0


def _host_port(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ValueError(f"--sip wants HOST:PORT, e.g. {DEFAULT_SIP}, not {text!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must not be negative, not {text}")
    return value
