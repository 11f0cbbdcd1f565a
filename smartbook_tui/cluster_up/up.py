"""`smartbook cluster up`: Redis, PostgreSQL seeded with the demo's accounts, the nodes, then Kamailio in front of
them, all on loopback, and the demo's users publishing their statuses through Kamailio; once each answers, one
block says what runs where and how to try it; Ctrl-C or SIGTERM stops them in the other order (the demo users,
Kamailio, the nodes, PostgreSQL, Redis), and so does a part that fails to start or dies. A ready file
(`cluster.json` in the directory) names each part's pid, address (the demo users': the front they publish to) and
log."""

from __future__ import annotations

import json
import shlex
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from smartbook_tui.atomic_file import write_atomically
from smartbook_tui.demo.backend import DEFAULT_NOTIFY_INTERVAL, DEFAULT_PERIOD, seed_accounts
from smartbook_tui.demo.cast import Cast, load_cast
from smartbook_tui.demo.launch import DEFAULT_BOOK, DEFAULT_CAST, REGION
from smartbook_tui.demo.players import in_cast
from smartbook_tui.interrupts import interrupted_by_term_and_hangup
from smartbook_tui.password_file import PasswordFileError, write_password_file
from smartbook_tui.server.store import StoreError

from .kamailio import listen_address, start_kamailio
from .nodes import NodeSettings, start_node
from .parts import HOST, ClusterError, Part, find_binary
from .players import start_players
from .postgres import postgres_bin, start_postgres
from .redis import start_redis

__all__ = ["DEFAULT_SIP", "ClusterError", "ClusterOptions", "run_cluster"]

_CHECKOUT = Path(__file__).resolve().parents[2]
KAMAILIO_CONFIG = _CHECKOUT / "deploy" / "kamailio" / "kamailio.cfg"
DEFAULT_SIP = (HOST, 5060)
_WATCH_POLL = 0.2


@dataclass(frozen=True, slots=True)
class ClusterOptions:
    directory: Path | None = None  # None: a temporary directory, removed at the end
    sip: tuple[str, int] = DEFAULT_SIP  # Kamailio's; another port when this one is taken
    nodes: int = 3
    cast: Path = DEFAULT_CAST
    book: Path = DEFAULT_BOOK
    persist_redis: bool = False
    period: float = DEFAULT_PERIOD  # seconds between two statuses of a demo user


def _say(text: str) -> None:
    print(text, flush=True)  # at once, also into a pipe: a script waits for the ready block


@dataclass(frozen=True, slots=True)
class _Binaries:
    redis: str
    kamailio: str
    postgres: Path


def run_cluster(options: ClusterOptions, say: Callable[[str], None] = _say) -> int:
    """Run the cluster until SIGINT or SIGTERM (0), or until a part dies (ClusterError). ClusterError when a part
    cannot start, after stopping the parts already started."""
    binaries = _binaries()
    if not KAMAILIO_CONFIG.is_file():
        raise ClusterError(f"the Kamailio config {KAMAILIO_CONFIG} is missing: run this from a smartbook source tree")
    if not options.book.exists():
        raise ClusterError(f"the demo's book {options.book} is missing: run this from a smartbook source tree")
    cast = load_cast(options.cast)
    with interrupted_by_term_and_hangup(), _directory(options.directory) as directory:
        parts = ExitStack()
        try:
            listen, summary = _start(parts, binaries, cast, options, directory)
            say(_ready_block(directory, cast, options, listen, summary))
            try:
                _watch(summary)
            except KeyboardInterrupt:
                say("Stopping the demo users, Kamailio, the nodes, PostgreSQL and Redis.")
                return 0
        finally:
            with _signals_ignored():  # a second Ctrl-C must not leave half the parts running
                parts.close()
    return 0


def _start(
    parts: ExitStack, binaries: _Binaries, cast: Cast, options: ClusterOptions, directory: Path
) -> tuple[tuple[str, int], dict[str, tuple[Part, str]]]:
    """Start every part, each stopped by `parts`; Kamailio's address and each part with where it serves."""
    summary: dict[str, tuple[Part, str]] = {}
    redis, redis_url = start_redis(binaries.redis, directory, directory / "redis.log", persist=options.persist_redis)
    parts.callback(redis.stop)
    summary[redis.name] = (redis, redis_url)
    postgres = start_postgres(binaries.postgres, directory / "postgresql.log")
    parts.callback(postgres.stop)
    summary[postgres.part.name] = (postgres.part, postgres.url)
    try:
        seed_accounts(cast, postgres.url)
        write_password_file(directory / "password", cast.me.password)
    except StoreError as error:
        raise ClusterError(f"the demo's accounts could not be written to PostgreSQL: {error}") from None
    except (PasswordFileError, OSError) as error:
        raise ClusterError(f"the demo's password file could not be written in {directory}: {error}") from None
    config = directory / "node-settings.toml"
    config.touch()
    settings = NodeSettings(redis_url, postgres.url, cast.domain, DEFAULT_NOTIFY_INTERVAL, config)
    addresses = []
    for number in range(1, options.nodes + 1):
        node, address = start_node(f"node{number}", settings, directory)
        parts.callback(node.stop)
        summary[node.name] = (node, f"{address[0]}:{address[1]}")
        addresses.append(address)
    listen = listen_address(options.sip)
    kamailio = start_kamailio(
        binaries.kamailio, KAMAILIO_CONFIG, listen=listen, domain=cast.domain, nodes=addresses, directory=directory
    )
    parts.callback(kamailio.stop)
    summary[kamailio.name] = (kamailio, f"{listen[0]}:{listen[1]}")
    if in_cast(cast):
        players = start_players(options.cast, listen, options.period, directory)
        parts.callback(players.stop)
        summary[players.name] = (players, f"{listen[0]}:{listen[1]}")
    ready = {
        name: {"pid": part.process.pid, "address": where, "log": str(part.log_file)}
        for name, (part, where) in summary.items()
    }
    write_atomically(directory / "cluster.json", json.dumps(ready).encode(), mode=0o600)
    return listen, summary


def _ready_block(
    directory: Path, cast: Cast, options: ClusterOptions, listen: tuple[str, int], summary: dict[str, tuple[Part, str]]
) -> str:
    front = f"{listen[0]}:{listen[1]}"
    moved = "" if listen == options.sip else f" ({options.sip[0]}:{options.sip[1]} is taken)"
    nodes = ", ".join(f"{name} {where}" for name, (part, where) in summary.items() if name.startswith("node"))
    account = ["--sip-uri", cast.me_uri, "--proxy", front, "--password-file", str(directory / "password")]
    account += ["--vcard", str(options.book), "--region", REGION]
    smartbook = _smartbook()
    lines = [
        f"smartbook cluster for {cast.domain} is up; its files and logs (*.log) are in {directory}",
        f"  Kamailio    {front}, UDP and TCP{moved}: point clients here",
        f"  nodes       {nodes}",
        f"  Redis       {summary['Redis'][1]}",
        f"  PostgreSQL  {summary['PostgreSQL'][1]}",
    ]
    if in_cast(cast):
        lines.append(f"The demo users publish a new status every {options.period:g} s through Kamailio.")
    lines += [
        f"Watch the book's presence as {cast.me_uri} through Kamailio:",
        f"  {shlex.join([smartbook, 'watch', *account])}",
        "or open the app:",
        f"  {shlex.join([smartbook, *account, '--transport', 'tcp', '--share-book', '--null-audio'])}",
    ]
    joiner = next((user for user in cast.users if user.joins and user.phone), None)
    if joiner is not None:
        db = ["--db", summary["PostgreSQL"][1], "--domain", cast.domain]
        link = [smartbook, "server", "account", "set", joiner.username, "--phone", str(joiner.phone), *db]
        lines += [f"{joiner.username} joins (a badge appears on every node) with:", f"  {shlex.join(link)}"]
    lines.append("Ctrl-C stops everything.")
    return "\n".join(lines)


def _smartbook() -> str:
    """The command to type: this installation's `smartbook` (a fresh clone's is in .venv/bin, not on PATH)."""
    script = Path(sys.executable).with_name("smartbook")
    return str(script) if script.exists() else "smartbook"


def _watch(summary: dict[str, tuple[Part, str]]) -> None:
    """Wait for Ctrl-C or SIGTERM (KeyboardInterrupt); ClusterError when a part ends before."""
    while True:
        for part, _ in summary.values():
            ended = part.ended()
            if ended is not None:
                raise part.failure(f"stopped: it {ended}")
        time.sleep(_WATCH_POLL)


def _binaries() -> _Binaries:
    """The parts' binaries; ClusterError naming the Debian packages that are missing."""
    redis, kamailio, postgres = find_binary("redis-server"), find_binary("kamailio"), postgres_bin()
    missing = [
        package
        for package, found in (("redis-server", redis), ("postgresql", postgres), ("kamailio", kamailio))
        if found is None
    ]
    if redis is None or kamailio is None or postgres is None:
        packages = f"package{'s' if len(missing) > 1 else ''} {', '.join(missing)}"
        raise ClusterError(f"missing Debian {packages} (apt-get install {' '.join(missing)})")
    return _Binaries(redis, kamailio, postgres)


@contextmanager
def _directory(chosen: Path | None) -> Iterator[Path]:
    """`chosen`, made if need be and kept; else a temporary directory removed at the end."""
    if chosen is not None:
        try:
            chosen.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ClusterError(f"cannot make the directory {chosen}: {error.strerror or error}") from None
        yield chosen.resolve()
        return
    with tempfile.TemporaryDirectory(prefix="smartbook-cluster-") as temporary:
        yield Path(temporary)


@contextmanager
def _signals_ignored() -> Iterator[None]:
    previous = {signum: signal.signal(signum, signal.SIG_IGN) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
