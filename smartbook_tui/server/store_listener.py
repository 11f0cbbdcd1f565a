"""Account changes heard on the server's loop as they are committed, by any process: the store's listening
connection (`Store.listen`, PostgreSQL's LISTEN) watched with `loop.add_reader`, `on_change` called when a change
of the server's domain arrives. The server still polls the change log, less often (`poll_interval`), for what a
lost notification would miss.

A lost connection is opened again at once, or every `RETRY` seconds while PostgreSQL cannot be reached, each loss
said in one line; `on_change` is called each time it listens again, for what was committed while it did not."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from .store import ChangeNotifications, Store, StoreError

__all__ = ["ChangeListener", "poll_interval"]

log = logging.getLogger(__name__)

POLL_WHILE_LISTENING = 5.0  # seconds between two polls of the change log at least, while changes are heard
RETRY = 5.0  # seconds between two tries to listen again


def poll_interval(store: Store, asked: float) -> float:
    """Seconds between the server's polls of the change log: `asked` when polling alone tells of changes (SQLite),
    at least POLL_WHILE_LISTENING when they are heard as they are committed."""
    return asked if store.listen is None else max(asked, POLL_WHILE_LISTENING)


class ChangeListener:
    """Calls `on_change` when an account of `domain` (as the store writes it: lower case) changes."""

    def __init__(self, listen: Callable[[], ChangeNotifications], domain: str, on_change: Callable[[], None]) -> None:
        self._loop = asyncio.get_running_loop()
        self._listen = listen
        self._domain = domain
        self._on_change = on_change
        self._notifications: ChangeNotifications | None = None
        self._descriptor = -1
        self._retry: asyncio.TimerHandle | None = None

    @classmethod
    def start(cls, store: Store, domain: str, on_change: Callable[[], None]) -> ChangeListener | None:
        """Listening for the store's changes, or None when its database sends none (SQLite: polling alone)."""
        if store.listen is None:
            return None
        listener = cls(store.listen, domain, on_change)
        failed = listener._open()
        if failed is not None:
            listener._retry_later(f"cannot listen for account changes: {failed}")
        return listener

    def _open(self) -> StoreError | None:
        """Listen, and read the change log at once for what was committed before; the error when it cannot."""
        try:
            notifications = self._listen()
        except StoreError as error:
            return error
        self._notifications, self._descriptor = notifications, notifications.fileno()
        self._loop.add_reader(self._descriptor, self._read)
        self._on_change()
        return None

    def _read(self) -> None:
        assert self._notifications is not None
        try:
            domains = self._notifications.domains()
        except StoreError as lost:
            self._drop()
            failed = self._open()
            if failed is None:
                log.warning("%s; listening again", lost)
            else:
                self._retry_later(f"{lost}; {failed}")
            return
        if self._domain in domains:
            self._on_change()

    def _retry_later(self, why: str) -> None:
        log.warning("%s; trying again every %.0f s, polling the change log meanwhile", why, RETRY)
        self._retry = self._loop.call_later(RETRY, self._try_again)

    def _try_again(self) -> None:
        if self._open() is None:
            self._retry = None
            log.info("listening for account changes again")
        else:
            self._retry = self._loop.call_later(RETRY, self._try_again)

    def _drop(self) -> None:
        if self._notifications is not None:
            self._loop.remove_reader(self._descriptor)
            self._notifications.close()
            self._notifications = None

    def close(self) -> None:
        if self._retry is not None:
            self._retry.cancel()
        self._drop()
