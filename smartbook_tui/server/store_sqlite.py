"""The store on SQLite: one file, opened by `SqliteDatabase.open`.

* Created with mode 0600 (SQLite gives its `-wal` and `-shm` files the same mode), WAL journal, foreign keys on,
  `synchronous=FULL` (a committed write survives a power cut).
* Every write is one transaction, `BEGIN IMMEDIATE` ... `COMMIT` (`ROLLBACK` on any exception): the write lock
  is taken at the start, and a crash in the middle leaves the file as it was before the write.
* The schema is versioned with `PRAGMA user_version` (and tagged with `PRAGMA application_id`); `_migrate` brings an
  older file up to `SCHEMA_VERSION` and refuses a newer one, or a file that is some other program's database.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from smartbook_tui.server.store_database import SCHEMA_VERSION, ChangeNotifications
from smartbook_tui.server.store_errors import DatabaseUnusable

__all__ = ["APPLICATION_ID", "SqliteDatabase"]

APPLICATION_ID = 0x534D424B  # "SMBK": tells our files from other SQLite databases

# Each migration is a list of fixed statements, the last one setting the version it brings the file to; PRAGMAs
# take no bound parameters, so the numbers are written in the statements, never formatted in.
_MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        """CREATE TABLE accounts (
            id INTEGER PRIMARY KEY,
            username TEXT NOT NULL,
            domain TEXT NOT NULL,
            ha1_md5 TEXT NOT NULL CHECK (length(ha1_md5) = 32),
            ha1_sha256 TEXT NOT NULL CHECK (length(ha1_sha256) = 64),
            activated INTEGER NOT NULL CHECK (activated IN (0, 1)),
            created_at INTEGER NOT NULL,
            UNIQUE (username, domain)
        ) STRICT""",
        # A number belongs to one account (primary key); an account has at most one number (UNIQUE account_id).
        # Every number here is verified; numbers waiting for their SMS code will get a table of their own.
        """CREATE TABLE phone_numbers (
            e164 TEXT PRIMARY KEY CHECK (e164 GLOB '+[1-9][0-9][0-9][0-9][0-9][0-9][0-9]*'),
            account_id INTEGER NOT NULL UNIQUE REFERENCES accounts (id) ON DELETE CASCADE,
            verified_at INTEGER NOT NULL
        ) STRICT, WITHOUT ROWID""",
        """CREATE TABLE lists (
            id INTEGER PRIMARY KEY,
            owner_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
            uri TEXT NOT NULL,
            UNIQUE (owner_id, uri)
        ) STRICT""",
        """CREATE TABLE list_entries (
            list_id INTEGER NOT NULL REFERENCES lists (id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            uri TEXT NOT NULL,
            PRIMARY KEY (list_id, position),
            UNIQUE (list_id, uri)
        ) STRICT, WITHOUT ROWID""",
        """CREATE TABLE phone_changes (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            domain TEXT NOT NULL,
            e164 TEXT NOT NULL,
            changed_at INTEGER NOT NULL
        ) STRICT""",
        "PRAGMA application_id = 1397572171",  # APPLICATION_ID, tests hold the two equal
        "PRAGMA user_version = 1",
    ),
    2: (
        "ALTER TABLE accounts ADD COLUMN public_presence INTEGER NOT NULL DEFAULT 0 CHECK (public_presence IN (0, 1))",
        # The change log of every account change, not only of numbers: one row per (account, number) affected,
        # `e164` NULL when the account had no number.
        """CREATE TABLE account_changes (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            domain TEXT NOT NULL,
            username TEXT NOT NULL,
            e164 TEXT,
            changed_at INTEGER NOT NULL
        ) STRICT""",
        # The sequence goes on where phone_changes left it, so a seq handed out before stays behind every new one.
        "INSERT INTO sqlite_sequence (name, seq) SELECT 'account_changes', seq FROM sqlite_sequence "
        "WHERE name = 'phone_changes'",
        # The old rows are kept, their username '' (unknown): `Store.changes` reports their numbers only.
        "INSERT INTO account_changes (seq, domain, username, e164, changed_at) "
        "SELECT seq, domain, '', e164, changed_at FROM phone_changes",
        "DROP TABLE phone_changes",
        "PRAGMA user_version = 2",
    ),
    3: (
        # The account API's state (issue 12), kept here so that a restart loses no code, counter or token. A code
        # waits for the number it was sent to; the account's verified number stays in phone_numbers.
        """CREATE TABLE pending_codes (
            account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
            purpose TEXT NOT NULL CHECK (purpose IN ('activate', 'link', 'recover')),
            e164 TEXT NOT NULL,
            code TEXT NOT NULL,
            expires_at REAL NOT NULL,
            wrong_tries INTEGER NOT NULL,
            PRIMARY KEY (account_id, purpose)
        ) STRICT, WITHOUT ROWID""",
        "CREATE INDEX pending_codes_by_number ON pending_codes (e164)",
        "CREATE TABLE sms_sent (e164 TEXT NOT NULL, sent_at REAL NOT NULL) STRICT",
        "CREATE INDEX sms_sent_by_number ON sms_sent (e164, sent_at)",
        """CREATE TABLE code_events (
            account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
            happened_at REAL NOT NULL
        ) STRICT""",
        "CREATE INDEX code_events_by_account ON code_events (account_id, happened_at)",
        # Bearer tokens by their SHA-256: the database never holds one that could be used as it is.
        """CREATE TABLE api_tokens (
            digest TEXT PRIMARY KEY,
            account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
            expires_at REAL NOT NULL
        ) STRICT, WITHOUT ROWID""",
        "PRAGMA user_version = 3",
    ),
    4: (
        # The server's UDP subscription dialogs (a TCP or TLS one dies with its connection): what a restarted
        # server needs to go on notifying in them. `cseq` and `version` are above every CSeq and RLMI version the
        # dialog has sent (see `resume_dialogs`); `entries` (a JSON array) only for a list sent in the SUBSCRIBE.
        """CREATE TABLE subscription_dialogs (
            id INTEGER PRIMARY KEY,
            account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
            call_id TEXT NOT NULL,
            remote_tag TEXT NOT NULL,
            local_tag TEXT NOT NULL,
            uri TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('presentity', 'list', 'stored list')),
            entries TEXT,
            legacy INTEGER NOT NULL CHECK (legacy IN (0, 1)),
            deflate INTEGER NOT NULL CHECK (deflate IN (0, 1)),
            host TEXT NOT NULL,
            port INTEGER NOT NULL,
            remote TEXT NOT NULL,
            local TEXT NOT NULL,
            target TEXT NOT NULL,
            expires_at REAL NOT NULL,
            cseq INTEGER NOT NULL,
            version INTEGER NOT NULL,
            UNIQUE (call_id, remote_tag, local_tag)
        ) STRICT""",
        "CREATE INDEX subscription_dialogs_by_account ON subscription_dialogs (account_id)",
        "CREATE INDEX subscription_dialogs_by_expiry ON subscription_dialogs (expires_at)",
        "PRAGMA user_version = 4",
    ),
    5: (
        # The server's presence publications and UDP registrations, what its watchers see and how calls reach the
        # devices; `published_at` orders the documents as the server composes them (the newest first).
        """CREATE TABLE publications (
            id INTEGER PRIMARY KEY,
            account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
            aor TEXT NOT NULL,
            etag TEXT NOT NULL UNIQUE,
            body BLOB NOT NULL,
            content_type TEXT NOT NULL,
            device TEXT,
            expires_at REAL NOT NULL,
            published_at REAL NOT NULL
        ) STRICT""",
        "CREATE INDEX publications_by_account ON publications (account_id)",
        "CREATE INDEX publications_by_device ON publications (aor, device)",
        "CREATE INDEX publications_by_expiry ON publications (expires_at)",
        """CREATE TABLE registrations (
            id INTEGER PRIMARY KEY,
            account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
            aor TEXT NOT NULL,
            contact TEXT NOT NULL,
            call_id TEXT NOT NULL,
            cseq INTEGER NOT NULL,
            host TEXT NOT NULL,
            port INTEGER NOT NULL,
            user_agent TEXT,
            expires_at REAL NOT NULL
        ) STRICT""",
        "CREATE INDEX registrations_by_account ON registrations (account_id)",
        "CREATE INDEX registrations_by_expiry ON registrations (expires_at)",
        "PRAGMA user_version = 5",
    ),
    # A dialog's route set (the Record-Route of its SUBSCRIBE, as a JSON list; none when no proxy record-routed):
    # its NOTIFYs carry it as Route, through the proxy in front (RFC 3261 12.1.1).
    6: (
        "ALTER TABLE subscription_dialogs ADD COLUMN route TEXT",
        "PRAGMA user_version = 6",
    ),
    # Who may find an account by its number (NULL: the server's --discoverable), and what each account's lists
    # named lately, for the discovery quota (`server.discovery`: the numbers, packed, with when each was first
    # charged and last named; how many were charged in the window and withheld when last written).
    7: (
        "ALTER TABLE accounts ADD COLUMN discoverable TEXT CHECK (discoverable IN ('everyone', 'contacts', 'nobody'))",
        """CREATE TABLE discovery (
            account_id INTEGER PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
            named BLOB NOT NULL,
            charged INTEGER NOT NULL,
            withheld INTEGER NOT NULL,
            updated_at REAL NOT NULL
        ) STRICT""",
        "CREATE INDEX discovery_by_update ON discovery (updated_at)",
        # The new numbers charged from each client address, and from everyone ('*'), in two fixed windows
        """CREATE TABLE discovery_sources (
            source TEXT PRIMARY KEY,
            window_start REAL NOT NULL,
            current INTEGER NOT NULL,
            previous INTEGER NOT NULL
        ) STRICT""",
        "PRAGMA user_version = 7",
    ),
}
assert max(_MIGRATIONS) == SCHEMA_VERSION


def _migrate(connection: sqlite3.Connection, path: Path) -> None:
    """Bring the file to SCHEMA_VERSION in one transaction, or raise DatabaseUnusable: written by a newer
    smartbook, or another program's database."""
    version = _check_version(connection, path)
    if version == SCHEMA_VERSION:
        return
    connection.execute("BEGIN IMMEDIATE")
    try:
        version = _check_version(connection, path)  # another process may have migrated it meanwhile
        if version == 0 and connection.execute("SELECT count(*) FROM sqlite_schema").fetchone()[0]:
            raise DatabaseUnusable(f"{path} is another program's SQLite database, not smartbook's: give another --db")
        for target in range(version + 1, SCHEMA_VERSION + 1):
            for statement in _MIGRATIONS[target]:
                connection.execute(statement)
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")


def _check_version(connection: sqlite3.Connection, path: Path) -> int:
    version = connection.execute("PRAGMA user_version").fetchone()[0]
    application = connection.execute("PRAGMA application_id").fetchone()[0]
    if application not in (0, APPLICATION_ID) or (version and application != APPLICATION_ID):
        raise DatabaseUnusable(f"{path} is another program's SQLite database, not smartbook's: give another --db")
    if version > SCHEMA_VERSION:
        raise DatabaseUnusable(
            f"{path} has schema version {version}, newer than this smartbook knows ({SCHEMA_VERSION}): "
            "use the smartbook that wrote it, or a newer one"
        )
    return int(version)


class SqliteDatabase:
    """One SQLite file. Not thread-safe: one per thread (or one asyncio loop)."""

    errors: tuple[type[Exception], ...] = (sqlite3.Error,)
    listen: Callable[[], ChangeNotifications] | None = None  # SQLite has no notifications: a server polls the log

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self._conn = connection
        self.where = str(path)

    @classmethod
    def open(cls, path: Path) -> SqliteDatabase:
        """Open the file at `path`, creating it (mode 0600, its directory 0700) and its schema if need be."""
        path = Path(path).expanduser()
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            try:
                descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass
            else:
                try:
                    os.fchmod(descriptor, 0o600)  # whatever the umask
                finally:
                    os.close(descriptor)
        except OSError as exc:
            raise DatabaseUnusable(f"cannot open the database {path}: {exc.strerror or exc}") from None
        try:
            connection = sqlite3.connect(path, isolation_level=None, timeout=5.0)
        except sqlite3.Error as exc:
            raise DatabaseUnusable(f"cannot open the database {path}: {exc}") from None
        try:
            connection.execute("PRAGMA foreign_keys = ON")
            connection.execute("PRAGMA journal_mode = WAL")
            connection.execute("PRAGMA synchronous = FULL")
            _migrate(connection, path)
        except DatabaseUnusable:
            connection.close()
            raise
        except sqlite3.DatabaseError as exc:
            connection.close()
            raise DatabaseUnusable(f"cannot use the database {path}: {exc}") from None
        return cls(connection, path)

    def query(self, sql: str, parameters: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self._conn.execute(sql, parameters).fetchall()

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> int:
        return self._conn.execute(sql, parameters).rowcount

    def execute_many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self._conn.executemany(sql, rows)

    def insert(self, sql: str, parameters: Sequence[Any]) -> int:
        return int(self._conn.execute(sql, parameters).lastrowid or 0)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self._conn.execute("BEGIN IMMEDIATE")  # the write lock now, so checks and writes see the same data
        try:
            yield
            self._conn.execute("COMMIT")
        except BaseException:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            raise

    def announce_change(self, domain: str) -> None:
        pass  # a server reads the change log when it polls

    def close(self) -> None:
        self._conn.close()
