"""The presence core in a unit test: made with a fixed secret and numbered tokens, and a peer it hears from."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from smartbook_tui.server.core import PresenceServer, ServerConfig
from smartbook_tui.server.store import Store


@dataclass(frozen=True)
class Peer:
    """Where a request comes from, as the listener says it: a UDP address unless told otherwise."""

    transport: str = "UDP"
    address: tuple[str, int] = ("192.0.2.9", 5060)
    connection: int | None = None


def make_core(store: Store, domain: str, via: dict[str, str], **config: object) -> PresenceServer:
    """The core of `domain` over `store`, with `config`'s settings, its tokens t0, t1...: the same run to run."""
    counter = itertools.count()
    return PresenceServer(
        ServerConfig(domain, via, **config),  # type: ignore[arg-type]
        store,
        secret=b"k" * 32,
        token=lambda: f"t{next(counter)}",
    )
