"""The demo's backend, a process of its own (`python -m smartbook_tui.demo.backend`): the embedded presence server
on a free loopback port with a fresh database seeded from the cast, and the cast's demo users, who register,
publish a new status every `--period` seconds, answer calls (a tone, `phone.answering`), one of whom joins the
service (gets their number) after `--join-after` seconds, and one of whom calls the demo's account once after
`--call-after` seconds.

The server also serves the account API (the Assistant's) with the console SMS gateway, whose outbox the app shows
as notifications, so that a new account can be made from a number of the book.

Everything it writes goes in `--dir` (the database, the password file of the account the app opens as, the SMS
outbox) and its log lines go to standard error. Once it serves, it writes `--ready-file` (JSON: `sip` HOST:PORT,
`domain`, `account`, `username`, `password_file`, `account_api` URL, `sms_outbox`, `pid`), atomically. SIGTERM or
SIGINT stop it, and so does the death of the process that started it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from smartbook_tui.atomic_file import write_atomically
from smartbook_tui.config import split_host_port
from smartbook_tui.password_file import PasswordFileError, write_password_file
from smartbook_tui.server.accounts_api.options import ApiOptions
from smartbook_tui.server.core import ServerConfig
from smartbook_tui.server.logs import configure_logging
from smartbook_tui.server.runner import RunOptions, ServerRunError, serve
from smartbook_tui.server.store import Store, StoreError

from . import players
from .cast import Cast, CastError, DemoUser, load_cast

if TYPE_CHECKING:
    from smartbook_tui.phone.answering import AnsweringPhones

log = logging.getLogger("smartbook_tui.demo")

LOOPBACK = "127.0.0.1"
DEFAULT_PERIOD = 5.0
MIN_PERIOD = 0.2
MAX_PERIOD = 60.0  # well within a publication's life (agent.PUBLISH_EXPIRES)
DEFAULT_JOIN_AFTER = 10.0
DEFAULT_CALL_AFTER = 25.0
DEFAULT_NOTIFY_INTERVAL = 0.3  # snappier than a production server's 2 s: a demo is watched by a person
_POLL = 0.02  # seconds between two looks at the server's ready file


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m smartbook_tui.demo.backend",
        description="The backend of smartbook demo: the presence server and the demo users.",
    )
    parser.add_argument("--cast", type=Path, required=True, metavar="TOML", help="the demo's cast")
    parser.add_argument("--dir", type=Path, required=True, metavar="DIR", help="where to keep the database")
    parser.add_argument("--ready-file", type=Path, required=True, metavar="PATH", help="written once serving")
    parser.add_argument("--period", type=parse_period, default=DEFAULT_PERIOD, metavar="SECONDS")
    parser.add_argument("--join-after", type=parse_seconds, default=DEFAULT_JOIN_AFTER, metavar="SECONDS")
    parser.add_argument("--call-after", type=parse_seconds, default=DEFAULT_CALL_AFTER, metavar="SECONDS")
    parser.add_argument("--notify-interval", type=parse_seconds, default=DEFAULT_NOTIFY_INTERVAL, metavar="SECONDS")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging("INFO", "text")
    try:
        cast = load_cast(args.cast)
        db = seed(cast, args.dir)
        password_file = args.dir / "password"
        write_password_file(password_file, cast.me.password)
    except (CastError, StoreError, PasswordFileError, OSError) as error:
        log.error("cannot set the demo up: %s", error)
        return 1
    try:
        asyncio.run(_run(cast, db, password_file, args))
    except ServerRunError as error:
        log.error("cannot start the demo's server: %s", error)
        return 1
    return 0


def seed(cast: Cast, directory: Path) -> Path:
    """A new database in `directory` holding the cast's accounts."""
    db = directory / "server.sqlite3"
    seed_accounts(cast, db)
    return db


def seed_accounts(cast: Cast, location: str | Path) -> None:
    """Add the cast's accounts to the empty database at `location` (a SQLite file or a `postgresql://` URL; `smartbook
    cluster up` seeds its PostgreSQL with it): a user who joins later has no number yet."""
    with Store.open(location) as store:
        for user in (cast.me, *cast.users):
            phone = None if user.joins else user.phone
            store.add_account(user.username, cast.domain, user.password, phone, public_presence=user.public_presence)


async def _run(cast: Cast, db: Path, password_file: Path, args: argparse.Namespace) -> None:
    server_ready = args.dir / "server.json"
    outbox = args.dir / "sms-outbox.jsonl"
    options = RunOptions(
        host=LOOPBACK,
        port=0,
        db=db,
        config=ServerConfig(domain=cast.domain, via={}, notify_interval=args.notify_interval),
        ready_file=server_ready,
        api=ApiOptions(host=LOOPBACK, port=0, sms_outbox=outbox),
    )
    server = asyncio.create_task(serve(options))
    port, http = await _wait_for_ports(server, server_ready)
    address = (LOOPBACK, port)
    playing = players.in_cast(cast)
    phones = await _answering(playing, address, cast.domain)
    tasks = [asyncio.create_task(players.play_all(cast, address, args.period))]
    tasks += [asyncio.create_task(_join(user, cast.domain, db, args.join_after)) for user in cast.users if user.joins]
    if phones is not None:
        callers = [user for user in playing if user.calls_you]
        tasks += [asyncio.create_task(_call(phones, user, cast.me_uri, args.call_after)) for user in callers]
    tasks.append(asyncio.create_task(_stop_when_orphaned()))
    ready = {
        "sip": f"{LOOPBACK}:{port}",
        "domain": cast.domain,
        "account": cast.me_uri,
        "username": cast.me.username,
        "password_file": str(password_file),
        "account_api": f"http://{http}/api",
        "sms_outbox": str(outbox),
        "pid": os.getpid(),
    }
    write_atomically(args.ready_file, json.dumps(ready).encode(), mode=0o600)
    log.info("demo ready: %s on %s:%d, %d demo users", cast.me_uri, LOOPBACK, port, len(cast.users))
    try:
        await server
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if phones is not None:
            await phones.shutdown()


async def _wait_for_ports(server: asyncio.Task[None], ready_file: Path) -> tuple[int, str]:
    """The server's SIP port and its account API's HOST:PORT, once it serves."""
    while not ready_file.exists():
        if server.done():
            server.result()  # its ServerRunError
            raise ServerRunError("the server stopped before it served")
        await asyncio.sleep(_POLL)
    document = json.loads(ready_file.read_text(encoding="utf-8"))
    address = split_host_port(document["tcp"])
    if address is None or not document.get("http"):
        raise ServerRunError(f"the server's ready file names no TCP or HTTP address: {document!r}")
    return address[1], document["http"]


async def _answering(users: list[DemoUser], server: tuple[str, int], domain: str) -> AnsweringPhones | None:
    """The users' phones, registered and answering calls; None (logged) when they cannot start: the demo then
    goes on without calls."""
    # pjsua2 in the backend's process alone: `smartbook demo` reads this module's defaults in the app's.
    from smartbook_tui.phone.answering import MAX_USERS, AnsweringPhones  # noqa: PLC0415
    from smartbook_tui.phone.endpoint import PhoneError  # noqa: PLC0415

    answering, silent = users[:MAX_USERS], users[MAX_USERS:]
    phones = AnsweringPhones(server, domain)
    try:
        await phones.start()
        for user in answering:
            await phones.add(user.username, user.password)
    except PhoneError as error:
        log.warning("the demo users' phones cannot start (%s): they will not answer calls", error)
        await phones.shutdown()
        return None
    log.info("the phones of %s answer calls", ", ".join(user.username for user in answering))
    if silent:
        log.info(
            "%s have no phone (%d at most): a call to them is unanswered",
            ", ".join(u.username for u in silent),
            MAX_USERS,
        )
    return phones


async def _call(phones: AnsweringPhones, user: DemoUser, uri: str, delay: float) -> None:
    from smartbook_tui.phone.endpoint import PhoneError  # noqa: PLC0415 (see _answering)

    await asyncio.sleep(delay)
    try:
        phones.call(user.username, uri)
    except PhoneError as error:
        log.warning("%s cannot call %s: %s", user.username, uri, error)
        return
    log.info("%s calls %s", user.username, uri)


async def _join(user: DemoUser, domain: str, db: Path, delay: float) -> None:
    """Give the user their number, as `smartbook server account set USER --phone` does: the server notices."""
    await asyncio.sleep(delay)
    with Store.open(db) as store:
        store.set_phone(user.username, domain, user.phone)
    log.info("%s joins the service with %s", user.username, user.phone)


async def _stop_when_orphaned() -> None:
    """Stop the server (as SIGTERM does) once the process that started this one is gone."""
    parent = os.getppid()
    while os.getppid() == parent:
        await asyncio.sleep(0.5)
    log.info("the demo that started this backend is gone: stopping")
    signal.raise_signal(signal.SIGTERM)


def parse_period(text: str) -> float:
    """The --period of a demo user's statuses (an argparse type)."""
    value = parse_seconds(text)
    if not MIN_PERIOD <= value <= MAX_PERIOD:
        raise argparse.ArgumentTypeError(f"must be {MIN_PERIOD:g} to {MAX_PERIOD:g} s, not {text}")
    return value


def parse_seconds(text: str) -> float:
    """A delay of the demo (an argparse type)."""
    value = float(text)
    if not 0 <= value <= 3600:
        raise argparse.ArgumentTypeError(f"must be between 0 and 3600 seconds, not {text}")
    return value


if __name__ == "__main__":
    raise SystemExit(main())
