"""`smartbook cluster up`: Redis, PostgreSQL, three presence server nodes and Kamailio in front of them, on loopback
ports from Debian packages, seeded with the demo's accounts, whose demo users publish their statuses through
Kamailio (smartbook_tui.cluster_up); Ctrl-C stops them all."""

from __future__ import annotations

import argparse
from pathlib import Path

from smartbook_tui.cluster_up.up import DEFAULT_SIP, ClusterError, ClusterOptions, run_cluster
from smartbook_tui.config import split_host_port
from smartbook_tui.demo.backend import DEFAULT_PERIOD, parse_period
from smartbook_tui.demo.cast import CastError
from smartbook_tui.demo.launch import DEFAULT_BOOK, DEFAULT_CAST

from .messages import fail


def add_arguments(cluster: argparse.ArgumentParser) -> None:
    cluster.description = (
        "Several presence server nodes behind Kamailio on this machine, as an operator runs them on several "
        "(deploy/README.md): Redis for their shared live state, PostgreSQL for the accounts (the demo's), the nodes, "
        "then Kamailio in front, and the demo's users publishing their statuses through it. Each part's log is a file "
        "in the cluster's directory."
    )
    actions = cluster.add_subparsers(dest="cluster_command", required=True, metavar="COMMAND")
    summary = "start the cluster on loopback ports and run it until Ctrl-C, which stops every part"
    up = actions.add_parser("up", help=summary, description=summary[0].upper() + summary[1:] + ".")
    up.add_argument(
        "--dir",
        type=Path,
        metavar="DIR",
        help="keep the cluster's files and logs here (made if need be; default: a temporary directory, removed at "
        "the end)",
    )
    up.add_argument(
        "--sip",
        type=_address,
        default=DEFAULT_SIP,
        metavar="HOST:PORT",
        help=f"Kamailio's UDP and TCP address, the one clients use (default {DEFAULT_SIP[0]}:{DEFAULT_SIP[1]}; "
        "a free port when that one is taken)",
    )
    up.add_argument("--persist-redis", action="store_true", help="let Redis write its data to the directory")
    up.add_argument(
        "--cast", type=Path, default=DEFAULT_CAST, metavar="TOML", help="the accounts (default: %(default)s)"
    )
    up.add_argument("--book", type=Path, default=DEFAULT_BOOK, metavar="PATH", help="the book (default: %(default)s)")
    up.add_argument(
        "--period",
        type=parse_period,
        default=DEFAULT_PERIOD,
        metavar="SECONDS",
        help=f"time between two statuses of a demo user (default {DEFAULT_PERIOD:g})",
    )
    up.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    options = ClusterOptions(
        directory=args.dir,
        sip=args.sip,
        cast=args.cast,
        book=args.book,
        persist_redis=args.persist_redis,
        period=args.period,
    )
    try:
        return run_cluster(options)
    except (ClusterError, CastError) as error:
        fail(f"cluster: {error}")
        return 1
    except KeyboardInterrupt:
        return 130


def _address(text: str) -> tuple[str, int]:
    address = split_host_port(text)
    if address is None or address[1] == 0:
        raise argparse.ArgumentTypeError(f"not HOST:PORT: {text!r}")
    return address
