"""The server's store: accounts with their digest HA1 values, their verified phone number and whether their
presence is public, and the lists they store on the server (RFC 4662 list URIs with ordered entries).

* On SQLite (a file, `store_sqlite`) by default, or on PostgreSQL (`store_postgres`) when the database is given as
  a `postgresql://` URL: `Store.open` takes either, and `database_location` tells them apart. The SQL here runs on
  both; what differs (the schema and its migrations, placeholders, the write transaction) is the backend's.
* The password is never stored, only HA1 = MD5(user:realm:password) and SHA-256(user:realm:password), the realm
  being the account's domain (RFC 2617 / RFC 7616), which is all a digest server needs.
* Every write is one transaction holding the database's write lock from its start (rolled back on any exception):
  a crash in the middle leaves the database as it was before the write. Every statement binds its values; batched
  lookups build `IN (?, ?, ...)` from placeholders only.
* The schema is versioned (`SCHEMA_VERSION`): each backend brings an older database up to it and refuses a newer
  one, or some other program's database.
* Phone numbers are checked strictly, as E.164 written without separators (`+[1-9]` then 6 to 14 digits): the
  store compares numbers as strings, so it only takes their canonical form. Normalising what people type (spaces,
  national forms) is for the edges, with `smartbook_tui.contacts.to_e164`.
* Each change to an account that alters what its watchers see is logged (`account_changes`): the account created
  or removed, its number linked, unlinked or changed, its activated or public-presence flag changed. A running
  server polls `Store.changes` to notice what the admin CLI, another process, did (issue 5, point 6); on
  PostgreSQL each change is also announced as it commits, and `Store.listen` opens a connection that hears it.
* The account API's state (issue 12) is here too, so that a restart loses none of it: codes waiting for their SMS
  number, the times of SMS sent and code events (quotas), and bearer tokens by their SHA-256.
* The server's UDP subscription dialogs are here too (`subscription_dialogs`), so that a restarted server goes on
  notifying its watchers: written in batches by the server (`save_dialogs`), read back once at start
  (`resume_dialogs`), forgotten at a graceful stop (`forget_dialogs`).
* So are the server's presence publications and UDP registrations (`publications`, `registrations`): written in
  batches (`save_state`), read back at start (`resume_state`), and kept over a graceful stop (they are valid until
  they expire, and the devices do not publish or register again because a server restarted).
* An account's `public_presence` says who may see its live status: every watcher when it is on, only the accounts
  it watches back (mutual watchers) when it is off, the default. The server's privacy gate applies it.
* An account's `discoverable` says who may find it by its number, and `discovery` keeps what its lists named
  lately, for the discovery quota (`server.discovery`), so that a restart resets no one's quota.

Every failure is a `StoreError` (or a subclass) whose message is one line for a person; none holds a password.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from os import PathLike
from pathlib import Path
from typing import Any, Literal

from smartbook_tui.server.accounts_api.codes import PendingCode, Purpose
from smartbook_tui.server.discovery import DISCOVERABLE, Discoverable, Tally
from smartbook_tui.server.store_database import SCHEMA_VERSION, ChangeNotifications, Database
from smartbook_tui.server.store_errors import (
    AccountExists,
    DatabaseUnusable,
    InvalidValue,
    NoSuchAccount,
    NumberTaken,
    StoreError,
    one_line,
)
from smartbook_tui.server.store_postgres import PostgresDatabase, PostgresUrl, is_postgres_url
from smartbook_tui.server.store_sqlite import SqliteDatabase
from smartbook_tui.sip.uri import SipParseError, SipUri, parse_sip_uri

__all__ = [
    "ALGORITHMS",
    "SCHEMA_VERSION",
    "Account",
    "AccountChanges",
    "AccountExists",
    "ChangeNotifications",
    "DatabaseUnusable",
    "DialogId",
    "DialogProgress",
    "DiscoveryProbe",
    "InvalidValue",
    "NoSuchAccount",
    "NumberTaken",
    "PostgresUrl",
    "PublicationChange",
    "ResourceList",
    "SavedBinding",
    "SavedDialog",
    "SavedPublication",
    "Store",
    "StoreError",
    "check_password",
    "check_username",
    "checked_domain",
    "compute_ha1",
    "database_location",
    "is_e164",
    "looks_like_phone",
]

ALGORITHMS = ("MD5", "SHA-256")  # the -sess variants hash these HA1 values again with the nonces

_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
# RFC 3261 25.1: user = 1*(unreserved / escaped / user-unreserved). Escapes are left out: the store holds the
# decoded user part, and "%" would make one account have two spellings.
_USERNAME = re.compile(r"[A-Za-z0-9\-_.!~*'()&=+$,;?/]{1,64}")
# A username made of digits and visual separators only, with a leading "+" or seven digits or more, is read as a
# phone number by people and by dial plans; short ones ("1001") are extensions and stay allowed.
_PHONE_LIKE = re.compile(r"\+[0-9\-.()]*[0-9][0-9\-.()]*|[\-.()]*(?:[0-9][\-.()]*){7,}")
_PLAIN_USER = re.compile(r"[A-Za-z0-9._~-]+")  # needs no escaping in a SIP URI
_LINE_BREAK = re.compile(r"[\r\n\x00]")
_BATCH = 500  # numbers per `IN (...)` lookup, well under SQLite's variable limit (999 before 3.32)
_CHANGES_KEPT = 7 * 24 * 3600  # seconds a change stays in the log
_COUNTERS_KEPT = 24 * 3600.0  # seconds an SMS or a code event is kept: the longest quota window


@dataclass(frozen=True, slots=True)
class Account:
    username: str
    domain: str
    phone: str | None  # the verified number, E.164
    activated: bool
    created: datetime  # UTC
    public_presence: bool = False  # live status shown to every watcher, not only to mutual ones
    discoverable: Discoverable | None = None  # who may find it by its number (None: the server's default)

    @property
    def name(self) -> str:
        """`alice@example.org`, as messages show it."""
        return f"{self.username}@{self.domain}"

    @property
    def address(self) -> str:
        """The account's SIP address, `sip:alice@example.org`, escaped where the URI grammar needs it."""
        if (
            _PLAIN_USER.fullmatch(self.username) and ":" not in self.domain
        ):  # nothing to escape: the common case, without a URI to build
            return f"sip:{self.username}@{self.domain}"
        return str(_domain_uri(self.domain, self.username))


@dataclass(frozen=True, slots=True)
class ResourceList:
    owner: str  # username, in `domain`
    domain: str
    uri: str
    entries: tuple[str, ...]  # in order


@dataclass(frozen=True, slots=True)
class DiscoveryProbe:
    """One account's discovery, as `smartbook server discovery top` shows it."""

    account: str  # user@domain
    charged: int  # numbers charged within the window when last written
    withheld: int  # numbers of its last list withheld for the quota
    updated_at: float  # wall-clock seconds


DialogId = tuple[str, str, str]  # Call-ID, the subscriber's tag, the server's tag
DialogKind = Literal["presentity", "list", "stored list"]


@dataclass(frozen=True, slots=True)
class SavedDialog:
    """A UDP subscription dialog as the store keeps it. `entries` are those of a `list` (sent in the SUBSCRIBE);
    a `stored list` is read again from the owner's lists. `expires_in` is counted from when it is written or
    read; `cseq` and `version` are the first the dialog may use (above every one it has sent)."""

    id: DialogId
    watcher: str  # username
    uri: str
    kind: DialogKind
    entries: tuple[str, ...]
    legacy: bool
    deflate: bool
    address: tuple[str, int]
    remote: str  # the subscriber's From, with its tag
    local: str  # the server's To, with its tag
    target: str  # the subscriber's Contact URI
    expires_in: float
    cseq: int
    version: int
    route: tuple[str, ...] = ()  # the Record-Route of its SUBSCRIBE: its NOTIFYs' Route


@dataclass(frozen=True, slots=True)
class DialogProgress:
    """A saved dialog's new expiry and ceilings (a refresh, or its CSeq nearing the ceiling)."""

    id: DialogId
    expires_in: float
    cseq: int
    version: int


@dataclass(frozen=True, slots=True)
class SavedPublication:
    """A presence publication as the store keeps it: its document as published (the decoded body), its ETag and
    the device it came from. `expires_in` is counted from when it is written or read."""

    username: str
    aor: str
    etag: str
    body: bytes
    content_type: str
    device: str | None
    expires_in: float


@dataclass(frozen=True, slots=True)
class PublicationChange:
    """A saved publication refreshed (`body` None) or modified: it goes by `etag` from now on."""

    previous_etag: str
    etag: str
    expires_in: float
    body: bytes | None = None
    content_type: str | None = None


@dataclass(frozen=True, slots=True)
class SavedBinding:
    """A UDP registration as the store keeps it: `address` is where its REGISTER came from, how the device is
    reached. `expires_in` is counted from when it is written or read."""

    username: str
    aor: str
    contact: str  # the Contact as the device wrote it (a name-addr)
    call_id: str
    cseq: int
    address: tuple[str, int]
    user_agent: str | None
    expires_in: float


@dataclass(frozen=True, slots=True)
class AccountChanges:
    last: int  # pass it as `after` next time
    numbers: frozenset[str]  # E.164 numbers whose account changed (linked, unlinked, or its account changed)
    usernames: frozenset[str]  # accounts of the domain that changed in any way (created, removed, flags, number)


def database_location(text: str) -> Path | PostgresUrl:
    """Where `--db` (or any text naming the database) points: a `postgresql://` URL, or a SQLite file's path."""
    return PostgresUrl(text) if is_postgres_url(text) else Path(text)


def is_e164(number: str) -> bool:
    """`+` then 7 to 15 digits, the first not 0, nothing else (no spaces or separators)."""
    return _E164.fullmatch(number) is not None


def compute_ha1(username: str, realm: str, password: str, algorithm: str) -> str:
    """H(username:realm:password) in lower-case hex, the text encoded in UTF-8 (RFC 7616 section 3.4.2)."""
    data = f"{username}:{realm}:{password}".encode()
    kind = algorithm.upper()
    if kind == "MD5":
        return hashlib.md5(data, usedforsecurity=False).hexdigest()
    if kind == "SHA-256":
        return hashlib.sha256(data).hexdigest()
    raise InvalidValue(f"unknown digest algorithm {algorithm[:20]!r}: {' and '.join(ALGORITHMS)} are known")


# ------------------------------------------------------------------------------------------------ the schema

# --------------------------------------------------------------------------------------------- the store

# Whole statements, never assembled from pieces; only the batched lookup adds "?" placeholders to its end.
_SELECT_ACCOUNTS = (
    "SELECT a.username, a.domain, p.e164, a.activated, a.created_at, a.public_presence, a.discoverable "
    "FROM accounts a LEFT JOIN phone_numbers p ON p.account_id = a.id "
)
_ACCOUNT = _SELECT_ACCOUNTS + "WHERE a.username = ? AND a.domain = ?"
_ALL_ACCOUNTS = _SELECT_ACCOUNTS + "ORDER BY a.domain, a.username"
_DOMAIN_ACCOUNTS = _SELECT_ACCOUNTS + "WHERE a.domain = ? ORDER BY a.username"
_ACCOUNTS_BY_PHONE = (
    "SELECT a.username, a.domain, p.e164, a.activated, a.created_at, a.public_presence, a.discoverable "
    "FROM phone_numbers p JOIN accounts a ON a.id = p.account_id WHERE a.domain = ? AND p.e164 IN "
)
_SET_FLAG = {  # whole statements: the column is picked here, never formatted in
    "activated": "UPDATE accounts SET activated = ? WHERE id = ? AND activated != ?",
    "public_presence": "UPDATE accounts SET public_presence = ? WHERE id = ? AND public_presence != ?",
}
_TALLIES = "SELECT source, window_start, current, previous FROM discovery_sources WHERE source IN "
_SET_DISCOVERABLE = (
    "UPDATE accounts SET discoverable = ? WHERE id = ? AND COALESCE(discoverable, '') != COALESCE(?, '')"
)
_HA1 = {
    "MD5": "SELECT ha1_md5 FROM accounts WHERE username = ? AND domain = ? AND activated = 1",
    "SHA-256": "SELECT ha1_sha256 FROM accounts WHERE username = ? AND domain = ? AND activated = 1",
}
_HA1_EVEN_NOT_ACTIVATED = {
    "MD5": "SELECT ha1_md5 FROM accounts WHERE username = ? AND domain = ?",
    "SHA-256": "SELECT ha1_sha256 FROM accounts WHERE username = ? AND domain = ?",
}


class Store:
    """The accounts and lists of one server, on SQLite or PostgreSQL. Not thread-safe: one Store per thread (or one
    asyncio loop)."""

    def __init__(self, database: Database, clock: Callable[[], float]) -> None:
        self._db = database
        self.where = database.where  # the database as messages name it, never with a password
        # Opens a connection that hears of account changes as they are committed (DatabaseUnusable when it cannot);
        # None on SQLite, where `changes` is only polled.
        self.listen: Callable[[], ChangeNotifications] | None = database.listen
        self._clock = clock

    @classmethod
    def open(cls, location: str | PathLike[str] | PostgresUrl, *, clock: Callable[[], float] = time.time) -> Store:
        """Open the database at `location` (see `database_location`), creating its schema if need be: a SQLite
        file is created too (mode 0600, its directory 0700). `clock` gives the creation and change times (seconds
        since the epoch)."""
        if isinstance(location, str):
            location = database_location(location)
        if isinstance(location, PostgresUrl):
            return cls(PostgresDatabase.open(location), clock)
        return cls(SqliteDatabase.open(Path(location)), clock)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- plumbing

    @contextmanager
    def _write(self) -> Iterator[None]:
        """One write transaction: committed when the block ends, rolled back on any exception."""
        try:
            with self._db.transaction():
                yield
        except self._db.errors as exc:
            raise StoreError(f"cannot write to the database {self.where}: {one_line(exc)}") from None

    def _query(self, sql: str, parameters: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            return self._db.query(sql, parameters)
        except self._db.errors as exc:
            raise StoreError(f"cannot read the database {self.where}: {one_line(exc)}") from None

    def _account_id(self, username: str, domain: str) -> int:
        rows = self._query("SELECT id FROM accounts WHERE username = ? AND domain = ?", (username, domain))
        if not rows:
            raise NoSuchAccount(f"no account {username}@{domain}")
        return int(rows[0][0])

    def _log_change(self, domain: str, username: str, e164: str | None, now: int) -> None:
        """Log that the account `username` changed, with the number it had or has now (None: no number), and announce
        it to the listeners; drop the changes older than a week."""
        self._db.execute(
            "INSERT INTO account_changes (domain, username, e164, changed_at) VALUES (?, ?, ?, ?)",
            (domain, username, e164, now),
        )
        self._db.announce_change(domain)
        self._db.execute("DELETE FROM account_changes WHERE changed_at < ?", (now - _CHANGES_KEPT,))

    def _phone_of(self, account_id: int) -> str | None:
        rows = self._query("SELECT e164 FROM phone_numbers WHERE account_id = ?", (account_id,))
        return str(rows[0][0]) if rows else None

    def _link_phone(self, account_id: int, e164: str, now: int) -> None:
        self._db.execute(
            "INSERT INTO phone_numbers (e164, account_id, verified_at) VALUES (?, ?, ?)", (e164, account_id, now)
        )

    def _replace_phone(self, account_id: int, username: str, domain: str, e164: str | None, now: int) -> None:
        if looks_like_phone(username) and e164 != username:
            raise InvalidValue(f"the account {username}@{domain} is named after its number: it keeps {username}")
        if e164 is not None:
            self._check_number_free(e164, account_id)
        old = self._phone_of(account_id)
        if old is not None and old != e164:
            self._db.execute("DELETE FROM phone_numbers WHERE account_id = ?", (account_id,))
            self._log_change(domain, username, old, now)
        if e164 is not None and old != e164:
            self._link_phone(account_id, e164, now)
            self._log_change(domain, username, e164, now)

    def _put_code(self, account_id: int, code: PendingCode, now: float) -> None:
        self._db.execute(
            "INSERT INTO pending_codes (account_id, purpose, e164, code, expires_at, wrong_tries) "
            "VALUES (?, ?, ?, ?, ?, 0) ON CONFLICT (account_id, purpose) DO UPDATE SET e164 = excluded.e164, "
            "code = excluded.code, expires_at = excluded.expires_at, wrong_tries = 0",
            (account_id, code.purpose, code.phone, code.code, code.expires_at),
        )
        self._db.execute("INSERT INTO sms_sent (e164, sent_at) VALUES (?, ?)", (code.phone, now))
        self._db.execute("INSERT INTO code_events (account_id, happened_at) VALUES (?, ?)", (account_id, now))
        self._db.execute("DELETE FROM sms_sent WHERE sent_at < ?", (now - _COUNTERS_KEPT,))
        self._db.execute("DELETE FROM code_events WHERE happened_at < ?", (now - _COUNTERS_KEPT,))

    def _use_code(
        self,
        username: str,
        domain: str,
        purpose: Purpose,
        *,
        e164: str | None = None,
        activate: bool = False,
        password: str | None = None,
    ) -> Account:
        """What a right code of `purpose` does, in one transaction with the code's removal: the account activated,
        its number replaced by `e164`, or its password replaced."""
        domain = _normalise_domain(domain)
        if password is not None:
            check_password(password)
        now = int(self._clock())
        with self._write():
            account_id = self._account_id(username, domain)
            if activate:
                self._db.execute("UPDATE accounts SET activated = 1 WHERE id = ?", (account_id,))
            if e164 is not None:
                self._replace_phone(account_id, username, domain, e164, now)
            if password is not None:
                self._db.execute("DELETE FROM api_tokens WHERE account_id = ?", (account_id,))  # the old ones end
                self._db.execute(
                    "UPDATE accounts SET ha1_md5 = ?, ha1_sha256 = ? WHERE id = ?",
                    (
                        compute_ha1(username, domain, password, "MD5"),
                        compute_ha1(username, domain, password, "SHA-256"),
                        account_id,
                    ),
                )
                self._log_change(domain, username, self._phone_of(account_id), now)  # a server reads the new HA1
            self._db.execute("DELETE FROM pending_codes WHERE account_id = ? AND purpose = ?", (account_id, purpose))
        account = self.get_account(username, domain)
        assert account is not None
        return account

    def _set_flag(self, username: str, domain: str, column: str, value: bool) -> Account:
        """Set the 0/1 column `column` ("activated" or "public_presence", never a caller's text) of the account,
        logging the change when the value is a new one."""
        statement = _SET_FLAG[column]
        domain = _normalise_domain(domain)
        now = int(self._clock())
        with self._write():
            account_id = self._account_id(username, domain)
            if self._db.execute(statement, (int(value), account_id, int(value))):
                self._log_change(domain, username, self._phone_of(account_id), now)
        account = self.get_account(username, domain)
        assert account is not None
        return account

    def _check_number_free(self, e164: str, account_id: int | None = None) -> None:
        owner = self._query("SELECT account_id FROM phone_numbers WHERE e164 = ?", (e164,))
        if owner and owner[0][0] != account_id:
            raise NumberTaken(f"the number {e164} is another account's already")

    # -- accounts

    def add_account(
        self,
        username: str,
        domain: str,
        password: str,
        phone: str | None = None,
        *,
        activated: bool = True,
        public_presence: bool = False,
    ) -> Account:
        """Create an account; its HA1 values are computed here and the password forgotten. `phone`, if given, is
        its verified number. A username that looks like a phone number is only taken when it is that number.
        `public_presence` shows its live status to every watcher, not only to mutual ones."""
        domain = checked_domain(domain)
        check_username(username, phone)
        check_password(password)
        if phone is not None:
            _check_e164(phone)
        ha1_md5 = compute_ha1(username, domain, password, "MD5")
        ha1_sha256 = compute_ha1(username, domain, password, "SHA-256")
        now = int(self._clock())
        with self._write():
            if self._query("SELECT 1 FROM accounts WHERE username = ? AND domain = ?", (username, domain)):
                raise AccountExists(f"the account {username}@{domain} exists already")
            if phone is not None:
                self._check_number_free(phone)
            account_id = self._db.insert(
                "INSERT INTO accounts (username, domain, ha1_md5, ha1_sha256, activated, created_at, public_presence) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (username, domain, ha1_md5, ha1_sha256, int(activated), now, int(public_presence)),
            )
            if phone is not None:
                self._link_phone(account_id, phone, now)
            self._log_change(domain, username, phone, now)
        return Account(username, domain, phone, activated, datetime.fromtimestamp(now, UTC), public_presence)

    def remove_account(self, username: str, domain: str) -> None:
        """Remove the account with its number and its lists; NoSuchAccount when there is none."""
        domain = _normalise_domain(domain)
        now = int(self._clock())
        with self._write():
            account_id = self._account_id(username, domain)
            phone = self._phone_of(account_id)
            self._db.execute("DELETE FROM accounts WHERE id = ?", (account_id,))  # cascades
            self._log_change(domain, username, phone, now)

    def get_account(self, username: str, domain: str) -> Account | None:
        rows = self._query(_ACCOUNT, (username, _normalise_domain(domain)))
        return _account(rows[0]) if rows else None

    def accounts(self, domain: str | None = None) -> list[Account]:
        """Every account (of `domain`, if given), by domain then username."""
        if domain is None:
            rows = self._query(_ALL_ACCOUNTS)
        else:
            rows = self._query(_DOMAIN_ACCOUNTS, (_normalise_domain(domain),))
        return [_account(row) for row in rows]

    def ha1(self, username: str, domain: str, algorithm: str = "MD5", *, activated_only: bool = True) -> str | None:
        """H(username:domain:password) for `algorithm` ("MD5" or "SHA-256", any case), the domain being the realm;
        None when there is no such account or it is not activated (a digest server then refuses the request).
        `activated_only=False` gives it for an account waiting for its code too (the account API tells such a
        user, once the password is proven, that the account is not activated yet)."""
        statement = (_HA1 if activated_only else _HA1_EVEN_NOT_ACTIVATED).get(algorithm.upper())
        if statement is None:
            raise InvalidValue(f"unknown digest algorithm {algorithm[:20]!r}: {' and '.join(ALGORITHMS)} are known")
        rows = self._query(statement, (username, _normalise_domain(domain)))
        return str(rows[0][0]) if rows else None

    def set_phone(self, username: str, domain: str, e164: str | None) -> Account:
        """Make `e164` the account's verified number, in place of the one it had; None unlinks the number."""
        domain = _normalise_domain(domain)
        if e164 is not None:
            _check_e164(e164)
        now = int(self._clock())
        with self._write():
            self._replace_phone(self._account_id(username, domain), username, domain, e164, now)
        account = self.get_account(username, domain)
        assert account is not None
        return account

    def set_activated(self, username: str, domain: str, activated: bool) -> Account:
        """Activate the account or not (one not activated has no HA1: it cannot sign in); NoSuchAccount when there
        is none."""
        return self._set_flag(username, domain, "activated", activated)

    def set_public_presence(self, username: str, domain: str, public: bool) -> Account:
        """Show the account's live status to every watcher (True), or only to mutual watchers (False); NoSuchAccount
        when there is none."""
        return self._set_flag(username, domain, "public_presence", public)

    def set_discoverable(self, username: str, domain: str, discoverable: Discoverable | None) -> Account:
        """Who may find the account by its number (None: the server's default); logged as a change, so that every
        watcher's view of it is worked out again. NoSuchAccount when there is none."""
        if discoverable is not None and discoverable not in DISCOVERABLE:
            raise InvalidValue(f"{discoverable[:20]!r} is not one of {', '.join(DISCOVERABLE)}")
        domain = _normalise_domain(domain)
        now = int(self._clock())
        with self._write():
            account_id = self._account_id(username, domain)
            if self._db.execute(_SET_DISCOVERABLE, (discoverable, account_id, discoverable)):
                self._log_change(domain, username, self._phone_of(account_id), now)
        account = self.get_account(username, domain)
        assert account is not None
        return account

    # -- the discovery quota: what each account's lists named (`server.discovery`)

    def named_numbers(self, username: str, domain: str) -> bytes | None:
        """The account's discovery record as last written; None when it has none (or there is no such account)."""
        rows = self._query(
            "SELECT d.named FROM discovery d JOIN accounts a ON a.id = d.account_id "
            "WHERE a.username = ? AND a.domain = ?",
            (username, _normalise_domain(domain)),
        )
        return bytes(rows[0][0]) if rows else None

    def save_named_numbers(
        self, username: str, domain: str, named: bytes, *, charged: int, withheld: int, now: float, forget_before: float
    ) -> None:
        """Write the account's discovery record, with how many numbers it had charged within the window and how
        many of its last list were withheld (for `discovery_top`); nothing when the account is gone. Records not
        written since `forget_before` go: every number in them was named before then."""
        domain = _normalise_domain(domain)
        with self._write():
            self._db.execute("DELETE FROM discovery WHERE updated_at < ?", (forget_before,))
            rows = self._query("SELECT id FROM accounts WHERE username = ? AND domain = ?", (username, domain))
            if not rows:
                return
            self._db.execute(
                "INSERT INTO discovery (account_id, named, charged, withheld, updated_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (account_id) DO UPDATE SET named = excluded.named, charged = excluded.charged, "
                "withheld = excluded.withheld, updated_at = excluded.updated_at",
                (rows[0][0], named, charged, withheld, now),
            )

    def discovery_tallies(self, sources: Sequence[str]) -> dict[str, Tally]:
        """The tallies of new numbers charged from these sources (client addresses, or '*' for everyone)."""
        if not sources:
            return {}
        placeholders = "(" + ", ".join("?" * len(sources)) + ")"  # placeholders only: the sources are bound
        rows = self._query(_TALLIES + placeholders, tuple(sources))
        return {row[0]: Tally(float(row[1]), int(row[2]), int(row[3])) for row in rows}

    def save_discovery_tallies(self, tallies: Mapping[str, Tally], *, forget_before: float) -> None:
        """Write these tallies; those whose windows began before `forget_before` (and so count nothing) go."""
        with self._write():
            self._db.execute("DELETE FROM discovery_sources WHERE window_start < ?", (forget_before,))
            self._db.execute_many(
                "INSERT INTO discovery_sources (source, window_start, current, previous) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (source) DO UPDATE SET window_start = excluded.window_start, "
                "current = excluded.current, previous = excluded.previous",
                [(source, t.window_start, t.current, t.previous) for source, t in tallies.items()],
            )

    def discovery_top(self, domain: str, since: float, limit: int) -> list[DiscoveryProbe]:
        """The accounts of `domain` whose lists were checked since `since`, those that charged the most numbers
        first."""
        rows = self._query(
            "SELECT a.username, a.domain, d.charged, d.withheld, d.updated_at "
            "FROM discovery d JOIN accounts a ON a.id = d.account_id WHERE a.domain = ? AND d.updated_at >= ? "
            "ORDER BY d.charged DESC, d.withheld DESC, a.username LIMIT ?",
            (_normalise_domain(domain), since, limit),
        )
        return [DiscoveryProbe(f"{row[0]}@{row[1]}", int(row[2]), int(row[3]), float(row[4])) for row in rows]

    def account_for_phone(self, e164: str, domain: str) -> Account | None:
        """The account of `domain` whose verified number `e164` is; None when there is none, or when `e164` is not
        an E.164 number (such a string has no account)."""
        return self.accounts_for_phones((e164,), domain).get(e164)

    def accounts_for_phones(self, e164s: Iterable[str], domain: str) -> dict[str, Account]:
        """Number -> account, for the numbers of `e164s` that are the verified number of an account of `domain`;
        other numbers (and strings that are not E.164 numbers) are left out. Looked up in batches."""
        domain = _normalise_domain(domain)
        numbers = list(dict.fromkeys(number for number in e164s if isinstance(number, str) and is_e164(number)))
        found: dict[str, Account] = {}
        for start in range(0, len(numbers), _BATCH):
            batch = numbers[start : start + _BATCH]
            placeholders = "(" + ", ".join("?" * len(batch)) + ")"  # placeholders only: the numbers are bound
            rows = self._query(_ACCOUNTS_BY_PHONE + placeholders, (domain, *batch))
            for row in rows:
                found[row[2]] = _account(row)
        return found

    def changes(self, domain: str, after: int = 0) -> AccountChanges:
        """The accounts of `domain` that changed since the change `after` (0: all those still logged, a week's
        worth), and the numbers they had or have: a server polls this to tell the watchers and lists holding
        them. `last` covers every domain's changes."""
        domain = _normalise_domain(domain)
        statement = "SELECT seq, domain, username, e164 FROM account_changes WHERE seq > ?"
        rows = self._query(statement, (after,))  # one snapshot: `last` and the changes agree
        last = max((row[0] for row in rows), default=after)
        ours = [row for row in rows if row[1] == domain]
        return AccountChanges(
            last,
            frozenset(row[3] for row in ours if row[3] is not None),
            frozenset(row[2] for row in ours if row[2]),  # '': a change logged before schema 2, number only
        )

    # -- the account API's codes, counters and tokens (issue 12); times are seconds since the epoch

    def add_waiting_account(
        self, username: str, domain: str, password: str | None, code: PendingCode, now: float
    ) -> Account:
        """Create the account `username` with `password`, not activated, and record its activation `code` as sent;
        or, when that account exists not activated and waits for the same number, record `code` in place of its old
        one (how a lost code is sent again), its password kept: whoever asks again cannot replace the password the
        code will activate. AccountExists when the account exists otherwise. The number may be another account's
        verified number (the API answers as for a free one): the activation is then refused (NumberTaken)."""
        domain = checked_domain(domain)
        check_username(username, code.phone)
        _check_e164(code.phone)
        with self._write():
            rows = self._query(
                "SELECT id, activated FROM accounts WHERE username = ? AND domain = ?", (username, domain)
            )
            if rows:
                account_id = int(rows[0][0])
                waiting = self._query(
                    "SELECT e164 FROM pending_codes WHERE account_id = ? AND purpose = 'activate'", (account_id,)
                )
                if rows[0][1] or not waiting or waiting[0][0] != code.phone:
                    raise AccountExists(f"the account {username}@{domain} exists already")
            else:
                if password is None:
                    raise InvalidValue("a new account needs a password")
                check_password(password)
                ha1_md5 = compute_ha1(username, domain, password, "MD5")
                ha1_sha256 = compute_ha1(username, domain, password, "SHA-256")
                account_id = self._db.insert(
                    "INSERT INTO accounts (username, domain, ha1_md5, ha1_sha256, activated, created_at) "
                    "VALUES (?, ?, ?, ?, 0, ?)",
                    (username, domain, ha1_md5, ha1_sha256, int(now)),
                )
                self._log_change(domain, username, None, int(now))
            self._put_code(account_id, code, now)
        account = self.get_account(username, domain)
        assert account is not None
        return account

    def remove_expired_waiting(self, now: float) -> list[str]:
        """Remove the accounts still waiting for an activation code that has expired (they could only be activated
        by asking for a new code, which makes the account anew): their usernames are free again, so nobody can
        hold a name by creating it with a number that is not theirs. An account an operator deactivated has no
        activation code and stays. The names removed, user@domain."""
        query = (  # an account with a verified number is never one waiting to be made
            "SELECT a.id, a.username, a.domain FROM accounts a JOIN pending_codes c ON c.account_id = a.id "
            "WHERE a.activated = 0 AND c.purpose = 'activate' AND c.expires_at <= ? "
            "AND NOT EXISTS (SELECT 1 FROM phone_numbers p WHERE p.account_id = a.id)"
        )
        if not self._query(query, (now,)):  # the usual case, on every create and info-by-phone: no write lock
            return []
        with self._write():
            rows = self._query(query, (now,))  # again under the lock: what another process did meanwhile
            for account_id, username, domain in rows:
                self._db.execute("DELETE FROM accounts WHERE id = ?", (account_id,))  # cascades
                self._log_change(domain, username, None, int(now))
        return [f"{username}@{domain}" for _, username, domain in rows]

    def put_code(self, username: str, domain: str, code: PendingCode, now: float) -> None:
        """Record `code` as sent to the account, in place of its pending code of the same purpose."""
        with self._write():
            self._put_code(self._account_id(username, _normalise_domain(domain)), code, now)

    def drop_code(self, username: str, domain: str, purpose: Purpose) -> None:
        """Remove the account's pending code of `purpose`, right but of no use (its number is another account's)."""
        with self._write():
            account_id = self._account_id(username, _normalise_domain(domain))
            self._db.execute("DELETE FROM pending_codes WHERE account_id = ? AND purpose = ?", (account_id, purpose))

    def pending_code(self, username: str, domain: str, purpose: Purpose) -> PendingCode | None:
        rows = self._query(
            "SELECT c.e164, c.code, c.expires_at, c.wrong_tries FROM pending_codes c "
            "JOIN accounts a ON a.id = c.account_id WHERE a.username = ? AND a.domain = ? AND c.purpose = ?",
            (username, _normalise_domain(domain), purpose),
        )
        if not rows:
            return None
        e164, code, expires_at, wrong_tries = rows[0]
        return PendingCode(purpose, e164, code, expires_at, wrong_tries)

    def code_events(self, username: str, domain: str, since: float) -> list[float]:
        """When the account's code events (codes sent, wrong tries) after `since` happened."""
        rows = self._query(
            "SELECT e.happened_at FROM code_events e JOIN accounts a ON a.id = e.account_id "
            "WHERE a.username = ? AND a.domain = ? AND e.happened_at > ?",
            (username, _normalise_domain(domain), since),
        )
        return [row[0] for row in rows]

    def sms_sent(self, e164: str, since: float) -> list[float]:
        """When the SMS sent to `e164` after `since` were sent."""
        rows = self._query("SELECT sent_at FROM sms_sent WHERE e164 = ? AND sent_at > ?", (e164, since))
        return [row[0] for row in rows]

    def record_sms(self, e164: str, now: float) -> None:
        """Count an SMS sent to `e164` whose code was not recorded (its account was taken meanwhile): the quota of
        SMS a number gets counts every SMS the gateway took."""
        with self._write():
            self._db.execute("INSERT INTO sms_sent (e164, sent_at) VALUES (?, ?)", (e164, now))

    def wrong_code(self, username: str, domain: str, purpose: Purpose, now: float) -> None:
        """Count a wrong try of the account's pending code, and the code event it is."""
        with self._write():
            account_id = self._account_id(username, _normalise_domain(domain))
            self._db.execute(
                "UPDATE pending_codes SET wrong_tries = wrong_tries + 1 WHERE account_id = ? AND purpose = ?",
                (account_id, purpose),
            )
            self._db.execute("INSERT INTO code_events (account_id, happened_at) VALUES (?, ?)", (account_id, now))

    def activate_with_number(self, username: str, domain: str, e164: str) -> Account:
        """Activate the account with `e164` as its verified number, its activation code used up; NumberTaken when
        another account verified the number meanwhile."""
        return self._use_code(username, domain, "activate", e164=e164, activate=True)

    def link_number(self, username: str, domain: str, e164: str) -> Account:
        """Make `e164` the account's verified number, its link code used up."""
        return self._use_code(username, domain, "link", e164=e164)

    def replace_password(self, username: str, domain: str, password: str) -> Account:
        """Give the account a new password (its HA1 values), its recovery code used up and its bearer tokens ended."""
        return self._use_code(username, domain, "recover", password=password)

    def waiting_account_for_phone(self, e164: str, domain: str) -> Account | None:
        """A not activated account of `domain` waiting for its activation code sent to `e164`."""
        rows = self._query(
            _SELECT_ACCOUNTS + "JOIN pending_codes c ON c.account_id = a.id "
            "WHERE a.domain = ? AND a.activated = 0 AND c.purpose = 'activate' AND c.e164 = ? ORDER BY a.id LIMIT 1",
            (_normalise_domain(domain), e164),
        )
        return _account(rows[0]) if rows else None

    def add_token(self, digest: str, username: str, domain: str, expires_at: float, now: float) -> None:
        """Record a bearer token of the account by its `digest` (SHA-256, hex), valid until `expires_at`."""
        with self._write():
            account_id = self._account_id(username, _normalise_domain(domain))
            self._db.execute("DELETE FROM api_tokens WHERE expires_at <= ?", (now,))
            self._db.execute(
                "INSERT INTO api_tokens (digest, account_id, expires_at) VALUES (?, ?, ?)",
                (digest, account_id, expires_at),
            )

    def token_account(self, digest: str, now: float) -> Account | None:
        """The activated account whose unexpired token has this digest."""
        rows = self._query(
            _SELECT_ACCOUNTS + "JOIN api_tokens t ON t.account_id = a.id "
            "WHERE t.digest = ? AND t.expires_at > ? AND a.activated = 1",
            (digest, now),
        )
        return _account(rows[0]) if rows else None

    # -- server-stored lists

    def set_list(self, owner: str, domain: str, list_uri: str, entries: Iterable[str]) -> ResourceList:
        """Store the list `list_uri` of `owner` with `entries` in this order, replacing it if it exists. Every
        URI must be a SIP URI; it is kept in its canonical spelling. An entry given twice is refused."""
        domain = _normalise_domain(domain)
        if isinstance(entries, str):
            raise InvalidValue("the entries of a list are a sequence of URIs, not one string")
        uri = _canonical_uri(list_uri, "list URI")
        canonical = [_canonical_uri(entry, "list entry") for entry in entries]
        seen: set[str] = set()
        for entry in canonical:
            if entry in seen:
                raise InvalidValue(f"the entry {entry} is in the list twice")
            seen.add(entry)
        with self._write():
            owner_id = self._account_id(owner, domain)
            self._db.execute("DELETE FROM lists WHERE owner_id = ? AND uri = ?", (owner_id, uri))  # cascades
            list_id = self._db.insert("INSERT INTO lists (owner_id, uri) VALUES (?, ?)", (owner_id, uri))
            self._db.execute_many(
                "INSERT INTO list_entries (list_id, position, uri) VALUES (?, ?, ?)",
                ((list_id, position, entry) for position, entry in enumerate(canonical)),
            )
        return ResourceList(owner, domain, uri, tuple(canonical))

    def get_list(self, owner: str, domain: str, list_uri: str) -> ResourceList | None:
        """The list, None when `owner` has no such list; NoSuchAccount when there is no such owner."""
        domain = _normalise_domain(domain)
        owner_id = self._account_id(owner, domain)
        try:
            uri = _canonical_uri(list_uri, "list URI")
        except InvalidValue:
            return None
        rows = self._query("SELECT id FROM lists WHERE owner_id = ? AND uri = ?", (owner_id, uri))
        if not rows:
            return None
        entries = self._query("SELECT uri FROM list_entries WHERE list_id = ? ORDER BY position", (rows[0][0],))
        return ResourceList(owner, domain, uri, tuple(row[0] for row in entries))

    def list_owners(self, list_uri: str, domain: str) -> list[str]:
        """The usernames of `domain` that have a list of this URI (a server tells a subscriber asking for someone
        else's list 403, not 404)."""
        domain = _normalise_domain(domain)
        try:
            uri = _canonical_uri(list_uri, "list URI")
        except InvalidValue:
            return []
        rows = self._query(
            "SELECT a.username FROM lists l JOIN accounts a ON a.id = l.owner_id WHERE l.uri = ? AND a.domain = ?"
            " ORDER BY a.username",
            (uri, domain),
        )
        return [row[0] for row in rows]

    def lists_of(self, owner: str, domain: str) -> list[ResourceList]:
        """Every list of `owner`, by URI, with their entries; NoSuchAccount when there is no such owner."""
        domain = _normalise_domain(domain)
        owner_id = self._account_id(owner, domain)
        rows = self._query(
            "SELECT l.uri, e.uri FROM lists l LEFT JOIN list_entries e ON e.list_id = l.id "
            "WHERE l.owner_id = ? ORDER BY l.uri, e.position",
            (owner_id,),
        )
        grouped: dict[str, list[str]] = {}
        for list_uri, entry in rows:
            entries = grouped.setdefault(list_uri, [])
            if entry is not None:
                entries.append(entry)
        return [ResourceList(owner, domain, uri, tuple(entries)) for uri, entries in grouped.items()]

    def remove_list(self, owner: str, domain: str, list_uri: str) -> None:
        """Remove the list; StoreError when `owner` has no such list."""
        domain = _normalise_domain(domain)
        uri = _canonical_uri(list_uri, "list URI")
        with self._write():
            owner_id = self._account_id(owner, domain)
            if not self._db.execute("DELETE FROM lists WHERE owner_id = ? AND uri = ?", (owner_id, uri)):
                raise StoreError(f"{owner}@{domain} has no list {uri}")

    # -- subscription dialogs

    def save_dialogs(
        self,
        domain: str,
        created: Sequence[SavedDialog],
        progressed: Sequence[DialogProgress],
        ended: Sequence[DialogId],
    ) -> None:
        """Write a batch of changes to the saved dialogs in one transaction: dialogs `created` (a watcher removed
        meanwhile has none), the new expiry and ceilings of dialogs that `progressed`, and the dialogs `ended`."""
        domain = _normalise_domain(domain)
        now = self._clock()
        with self._write():
            self._db.execute_many(
                "INSERT INTO subscription_dialogs (account_id, call_id, remote_tag, local_tag, uri, kind, "
                "entries, legacy, deflate, host, port, remote, local, target, expires_at, cseq, version, route) "
                "SELECT id, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? FROM accounts "
                "WHERE username = ? AND domain = ? ON CONFLICT (call_id, remote_tag, local_tag) DO NOTHING",
                (
                    (
                        *dialog.id,
                        dialog.uri,
                        dialog.kind,
                        json.dumps(dialog.entries) if dialog.kind == "list" else None,
                        int(dialog.legacy),
                        int(dialog.deflate),
                        *dialog.address,
                        dialog.remote,
                        dialog.local,
                        dialog.target,
                        now + dialog.expires_in,
                        dialog.cseq,
                        dialog.version,
                        json.dumps(dialog.route) if dialog.route else None,
                        dialog.watcher,
                        domain,
                    )
                    for dialog in created
                ),
            )
            self._db.execute_many(
                "UPDATE subscription_dialogs SET expires_at = ?, cseq = CASE WHEN cseq > ? THEN cseq ELSE ? END, "
                "version = CASE WHEN version > ? THEN version ELSE ? END "
                "WHERE call_id = ? AND remote_tag = ? AND local_tag = ?",
                (
                    (now + item.expires_in, item.cseq, item.cseq, item.version, item.version, *item.id)
                    for item in progressed
                ),
            )
            self._db.execute_many(
                "DELETE FROM subscription_dialogs WHERE call_id = ? AND remote_tag = ? AND local_tag = ?", ended
            )

    def resume_dialogs(self, domain: str, reserve: int) -> list[SavedDialog]:
        """The unexpired saved dialogs of `domain`'s watchers, oldest first, the expired ones removed. Each stored
        CSeq and version moves `reserve` further on in the same transaction, and the dialogs come back with the
        values from before: a server that restores them and stops again before it saves their progress still
        never sends a CSeq or version twice."""
        domain = _normalise_domain(domain)
        now = self._clock()
        with self._write():
            self._db.execute("DELETE FROM subscription_dialogs WHERE expires_at <= ?", (now,))
            rows = self._query(
                "SELECT d.call_id, d.remote_tag, d.local_tag, a.username, d.uri, d.kind, d.entries, d.legacy, "
                "d.deflate, d.host, d.port, d.remote, d.local, d.target, d.expires_at, d.cseq, d.version, d.route "
                "FROM subscription_dialogs d JOIN accounts a ON a.id = d.account_id WHERE a.domain = ? ORDER BY d.id",
                (domain,),
            )
            self._db.execute(
                "UPDATE subscription_dialogs SET cseq = cseq + ?, version = version + ? "
                "WHERE account_id IN (SELECT id FROM accounts WHERE domain = ?)",
                (reserve, reserve, domain),
            )
        return [_saved_dialog(row, now) for row in rows]

    def forget_dialogs(self, domain: str) -> None:
        """Remove every saved dialog of `domain`'s watchers (a graceful stop has ended them)."""
        with self._write():
            self._db.execute(
                "DELETE FROM subscription_dialogs WHERE account_id IN (SELECT id FROM accounts WHERE domain = ?)",
                (_normalise_domain(domain),),
            )

    # -- publications and registrations

    def save_state(
        self,
        domain: str,
        publications: Sequence[SavedPublication | PublicationChange | str],
        registrations: Mapping[str, Sequence[SavedBinding]],
    ) -> None:
        """Write a batch in one transaction: `publications` changes in the order they happened (a new one, which
        replaces the saved one of its device, a refresh or modification, the ETag of one removed), and each
        account's UDP registrations as they are now (`registrations`, by username: they replace the saved ones).
        What has expired goes; an account removed meanwhile gets nothing."""
        domain = _normalise_domain(domain)
        now = self._clock()
        with self._write():
            self._db.execute("DELETE FROM publications WHERE expires_at <= ?", (now,))  # first: their ETags are free
            self._db.execute("DELETE FROM registrations WHERE expires_at <= ?", (now,))
            for change in publications:
                if isinstance(change, SavedPublication) and change.device is not None:
                    # as in memory (`Publications`): a device's new publication replaces its earlier one
                    self._db.execute(
                        "DELETE FROM publications WHERE aor = ? AND device = ?", (change.aor, change.device)
                    )
                if isinstance(change, SavedPublication):
                    # a saved publication of the same ETag is replaced, if the account is still there
                    self._db.execute(
                        "DELETE FROM publications WHERE etag = ? "
                        "AND EXISTS (SELECT 1 FROM accounts WHERE username = ? AND domain = ?)",
                        (change.etag, change.username, domain),
                    )
                    self._db.execute(
                        "INSERT INTO publications (account_id, aor, etag, body, content_type, device, "
                        "expires_at, published_at) SELECT id, ?, ?, ?, ?, ?, ?, ? FROM accounts "
                        "WHERE username = ? AND domain = ?",
                        (
                            change.aor,
                            change.etag,
                            change.body,
                            change.content_type,
                            change.device,
                            now + change.expires_in,
                            now,
                            change.username,
                            domain,
                        ),
                    )
                elif isinstance(change, PublicationChange) and change.body is None:
                    self._db.execute(
                        "UPDATE publications SET etag = ?, expires_at = ? WHERE etag = ?",
                        (change.etag, now + change.expires_in, change.previous_etag),
                    )
                elif isinstance(change, PublicationChange):
                    self._db.execute(
                        "UPDATE publications SET etag = ?, expires_at = ?, body = ?, content_type = ?, "
                        "published_at = ? WHERE etag = ?",
                        (
                            change.etag,
                            now + change.expires_in,
                            change.body,
                            change.content_type,
                            now,
                            change.previous_etag,
                        ),
                    )
                else:
                    self._db.execute("DELETE FROM publications WHERE etag = ?", (change,))
            for username, bindings in registrations.items():
                self._db.execute(
                    "DELETE FROM registrations WHERE account_id = "
                    "(SELECT id FROM accounts WHERE username = ? AND domain = ?)",
                    (username, domain),
                )
                self._db.execute_many(
                    "INSERT INTO registrations (account_id, aor, contact, call_id, cseq, host, port, user_agent, "
                    "expires_at) SELECT id, ?, ?, ?, ?, ?, ?, ?, ? FROM accounts WHERE username = ? AND domain = ?",
                    (
                        (
                            binding.aor,
                            binding.contact,
                            binding.call_id,
                            binding.cseq,
                            *binding.address,
                            binding.user_agent,
                            now + binding.expires_in,
                            username,
                            domain,
                        )
                        for binding in bindings
                    ),
                )

    def resume_state(self, domain: str) -> tuple[list[SavedPublication], list[SavedBinding]]:
        """The unexpired saved publications of `domain`'s accounts (the oldest document first) and registrations,
        the expired ones removed."""
        domain = _normalise_domain(domain)
        now = self._clock()
        with self._write():
            self._db.execute("DELETE FROM publications WHERE expires_at <= ?", (now,))
            self._db.execute("DELETE FROM registrations WHERE expires_at <= ?", (now,))
            publications = self._query(
                "SELECT a.username, p.aor, p.etag, p.body, p.content_type, p.device, p.expires_at "
                "FROM publications p JOIN accounts a ON a.id = p.account_id WHERE a.domain = ? "
                "ORDER BY p.published_at, p.id",
                (domain,),
            )
            registrations = self._query(
                "SELECT a.username, r.aor, r.contact, r.call_id, r.cseq, r.host, r.port, r.user_agent, r.expires_at "
                "FROM registrations r JOIN accounts a ON a.id = r.account_id WHERE a.domain = ? ORDER BY r.id",
                (domain,),
            )
        return (
            [SavedPublication(*row[:6], row[6] - now) for row in publications],
            [SavedBinding(*row[:5], (row[5], row[6]), row[7], row[8] - now) for row in registrations],
        )


# ------------------------------------------------------------------------------------------------ checks


def _account(row: tuple[Any, ...]) -> Account:
    username, domain, phone, activated, created_at, public_presence, discoverable = row
    # (a server keeps thousands of accounts of one domain: one string for it, not one an account)
    return Account(
        username,
        sys.intern(domain),
        phone,
        bool(activated),
        datetime.fromtimestamp(created_at, UTC),
        bool(public_presence),
        discoverable,
    )


def _saved_dialog(row: tuple[Any, ...], now: float) -> SavedDialog:
    call_id, remote_tag, local_tag, watcher, uri, kind, entries, legacy, deflate, host, port, *rest = row
    remote, local, target, expires_at, cseq, version, route = rest
    return SavedDialog(
        (call_id, remote_tag, local_tag),
        watcher,
        uri,
        kind,
        tuple(json.loads(entries)) if entries is not None else (),
        bool(legacy),
        bool(deflate),
        (host, port),
        remote,
        local,
        target,
        expires_at - now,
        cseq,
        version,
        tuple(json.loads(route)) if route is not None else (),
    )


def _domain_uri(domain: str, user: str | None = None) -> SipUri:
    if domain.startswith("["):
        return SipUri("sip", user, None, domain[1:-1])
    return SipUri("sip", user, None, domain)


def _normalise_domain(domain: str) -> str:
    """Host names compare ignoring case: the store keeps them in lower case."""
    return domain.strip().lower()


def checked_domain(domain: str) -> str:
    """A host name or address (no port: the domain is also the digest realm), in lower case."""
    normalised = _normalise_domain(domain)
    try:
        uri = parse_sip_uri(f"sip:{normalised}")
    except SipParseError:
        uri = None
    if uri is None or uri.user is not None or uri.port is not None or uri.params or uri.headers or not normalised:
        raise InvalidValue(f"{domain[:60]!r} is not a SIP domain: give a host name or address, such as example.org")
    return normalised


def looks_like_phone(username: str) -> bool:
    return _PHONE_LIKE.fullmatch(username) is not None


def check_username(username: str, phone: str | None) -> None:
    if not isinstance(username, str) or not _USERNAME.fullmatch(username):
        raise InvalidValue(
            f"{str(username)[:70]!r} is not a username: 1 to 64 letters, digits or -_.!~*'()&=+$,;?/ (no '@')"
        )
    if looks_like_phone(username) and username != phone:
        raise InvalidValue(
            f"the username {username} looks like a phone number: only an account whose verified number it is "
            "may be named so"
        )


def check_password(password: str) -> None:
    if not isinstance(password, str) or not password:
        raise InvalidValue("the password is empty")
    if _LINE_BREAK.search(password):
        raise InvalidValue("the password holds a line break or a NUL character")


def _check_e164(number: str) -> None:
    if not isinstance(number, str) or not is_e164(number):
        raise InvalidValue(
            f"{str(number)[:40]!r} is not an E.164 number: '+', the country code and the number, with no spaces"
        )


def _canonical_uri(text: str, what: str) -> str:
    try:
        return str(parse_sip_uri(text))
    except (SipParseError, AttributeError, TypeError) as exc:
        raise InvalidValue(f"bad {what}: {exc}") from None
