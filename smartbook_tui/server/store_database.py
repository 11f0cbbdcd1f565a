"""What the store needs of a database: the seam between `Store`, whose SQL both backends run, and a backend per
database (`store_sqlite`, `store_postgres`) that owns what differs: opening, the schema and its migrations, the
placeholders, the write transaction and the driver's errors.

Statements are written with `?` placeholders; a backend whose driver wants another style translates them."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

SCHEMA_VERSION = 7  # both backends' schemas are at this version once opened


class ChangeNotifications(Protocol):
    """A connection of its own that hears of account changes as they are committed, by any process."""

    def fileno(self) -> int:
        """Its socket: readable when notifications arrive, or when the connection ends."""
        ...

    def domains(self) -> frozenset[str]:
        """The domains named by the notifications that arrived, without waiting for more; StoreError when the
        connection is lost."""
        ...

    def close(self) -> None: ...


class Database(Protocol):
    where: str  # the database as messages name it: a path, or a URL without its password
    errors: tuple[type[Exception], ...]  # the driver's errors, which the store turns into StoreError
    # Opens a `ChangeNotifications` (DatabaseUnusable when it cannot); None when the database sends none, and
    # changes are then only polled.
    listen: Callable[[], ChangeNotifications] | None

    def query(self, sql: str, parameters: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """The rows of a statement."""
        ...

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> int:
        """Run a statement; the number of rows it changed."""
        ...

    def execute_many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None: ...

    def insert(self, sql: str, parameters: Sequence[Any]) -> int:
        """Run an INSERT of one row into a table with an `id` key; that id."""
        ...

    def transaction(self) -> AbstractContextManager[None]:
        """One write transaction holding the database's write lock from its start, so that the checks and the
        writes in it see the same data and writes happen one after the other: committed when the block ends,
        rolled back on any exception."""
        ...

    def announce_change(self, domain: str) -> None:
        """Tell the listeners that an account of `domain` changed, once the open write transaction commits (nothing
        where changes are only polled)."""
        ...

    def close(self) -> None: ...
