"""The demo users who play: each user of the cast with `statuses` publishes them in turn, one every `period`
seconds, for ever, their starts spread over the first period. `smartbook demo`'s backend runs them beside its
server; `python -m smartbook_tui.demo.players --cast TOML --server HOST:PORT` runs them alone against a server
already running (`smartbook cluster up` points them at its Kamailio). Its log lines go to standard error; SIGTERM
or SIGINT stop it, and so does the death of the process that started it.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from collections.abc import Sequence
from pathlib import Path

from smartbook_tui.config import split_host_port
from smartbook_tui.server.logs import configure_logging

# The backend imports this module too: each uses the other's names only once both are loaded.
from . import backend
from .agent import AgentError, UserAgent
from .cast import Cast, CastError, DemoUser, load_cast

__all__ = ["in_cast", "main", "play", "play_all"]

log = logging.getLogger("smartbook_tui.demo")


def in_cast(cast: Cast) -> list[DemoUser]:
    """The users of the cast who sign in and publish."""
    return [user for user in cast.users if user.statuses]


async def play_all(cast: Cast, server: tuple[str, int], period: float) -> None:
    """Run every player of the cast until cancelled, the n-th of N starting n/N of a period late."""
    playing = in_cast(cast)
    tasks = [
        asyncio.create_task(play(user, server, cast.domain, period, period * index / len(playing)))
        for index, user in enumerate(playing)
    ]
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def play(user: DemoUser, server: tuple[str, int], domain: str, period: float, offset: float) -> None:
    """Publish the user's statuses in turn, one every `period` seconds, for ever; after a failure (logged), start
    again a period later."""
    await asyncio.sleep(offset)
    agent = UserAgent(server, domain, user.username, user.password)
    try:
        while True:
            try:
                while True:
                    for step in user.statuses:
                        await agent.publish(step)
                        log.info("%s is %s%s", user.username, step.status.value, f" ({step.note})" if step.note else "")
                        await asyncio.sleep(period)
            except AgentError as error:
                log.warning("%s", error)
                agent.close()
                await asyncio.sleep(period)
    finally:
        agent.close()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m smartbook_tui.demo.players",
        description="The demo users who publish a new status every period, against a running server.",
    )
    parser.add_argument("--cast", type=Path, required=True, metavar="TOML", help="the demo's cast")
    parser.add_argument("--server", type=_address, required=True, metavar="HOST:PORT", help="where to publish (TCP)")
    parser.add_argument("--period", type=backend.parse_period, default=backend.DEFAULT_PERIOD, metavar="SECONDS")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging("INFO", "text")
    try:
        cast = load_cast(args.cast)
    except CastError as error:
        log.error("%s", error)
        return 1
    asyncio.run(_run(cast, args.server, args.period))
    return 0


async def _run(cast: Cast, server: tuple[str, int], period: float) -> None:
    """Play until SIGTERM or SIGINT, or until the process that started this one is gone (which raises SIGTERM)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    log.info("%d demo users publish to %s:%d every %g s", len(in_cast(cast)), *server, period)
    tasks = [
        asyncio.create_task(play_all(cast, server, period)),
        asyncio.create_task(backend._stop_when_orphaned()),
        asyncio.create_task(stop.wait()),
    ]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            task.result()  # a player's unexpected error, not to be lost
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    log.info("the demo users stop")


def _address(text: str) -> tuple[str, int]:
    address = split_host_port(text)
    if address is None or address[1] == 0:
        raise argparse.ArgumentTypeError(f"not HOST:PORT: {text!r}")
    return address


if __name__ == "__main__":
    raise SystemExit(main())
