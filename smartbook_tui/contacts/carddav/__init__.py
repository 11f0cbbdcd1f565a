"""CardDAV address books (RFC 6352) read over httpx, kept in sync, and cached on disk for offline use.

    book = CardDavBook(CardDavAccount("https://dav.example.org/", "alice", password_file=Path("~/.pw")))
    result = await book.sync()            # never raises CardDavError: a failure comes back in result.error
    async for result in book.poll(300):   # the same, every 5 minutes
        show(result.book, result.error)

* Discovery (RFC 6764, RFC 6352 §7): the URL the user gives may be the server root, a principal, an address-book
  home or an address book. A root goes through `/.well-known/carddav` first; then `current-user-principal` leads
  to `addressbook-home-set`, whose members with resource type `addressbook` are the books (all of them are read).
* Sync: a `sync-collection` REPORT (RFC 6578) with the last sync token gives what was added, changed and removed;
  an empty token lists everything. A server that refuses the report is read by listing ETags (PROPFIND Depth 1)
  and comparing them with the cache; a token the server no longer knows (403/409 `valid-sync-token`) makes a
  full listing, compared the same way. Only new or changed cards are then fetched, by `addressbook-multiget` in
  batches (GET one by one for a server without it).
* A failed sync changes nothing: the last good copy (memory, else the cache file) is returned with the error.
* Plain http is refused except to the loopback interface or with `allow_insecure_http`; TLS is verified against
  certifi's roots plus an optional `ca_file`. The password is read from a file when a client is built, and never
  appears in a repr, a message or a log line.

The modules, each of which can be read on its own:

* `errors`: the CardDavError family, and how the cause of a transport failure is found.
* `account`: CardDavAccount, and what a client is built from: the password file, the TLS context, the authentication.
* `urls`: the account URL checked against the plain-http policy, and the canonical form of every URL.
* `davxml`: the XML sent (PROPFIND, sync-collection, addressbook-multiget) and the multistatus answers read.
* `dav`: the WebDAV/CardDAV client: requests, errors, discovery, sync-collection, ETag listing, multiget.
* `cache`: the on-disk copy of a source, for offline use.
* `book`: CardDavBook, SyncResult and sync_carddav: syncing, polling, the last good copy.
"""

from .account import CardDavAccount
from .book import DEFAULT_BATCH_SIZE, DEFAULT_POLL_INTERVAL, CardDavBook, SyncResult, sync_carddav
from .cache import default_cache_dir
from .dav import AddressBook
from .errors import (
    CardDavAuthError,
    CardDavCacheError,
    CardDavConfigError,
    CardDavError,
    CardDavNotFound,
    CardDavProtocolError,
    CardDavTLSError,
    CardDavUnreachable,
)

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_POLL_INTERVAL",
    "AddressBook",
    "CardDavAccount",
    "CardDavAuthError",
    "CardDavBook",
    "CardDavCacheError",
    "CardDavConfigError",
    "CardDavError",
    "CardDavNotFound",
    "CardDavProtocolError",
    "CardDavTLSError",
    "CardDavUnreachable",
    "SyncResult",
    "default_cache_dir",
    "sync_carddav",
]
