"""Who watches what, and what each watcher sees of it, sans-IO: the index from accounts to the list entries that
name them, the views (`views.account_view`) shared by the watchers who see the same, and the privacy gate.

`WatchIndex` keeps, for each number or username that has an account, the (subscription, entry URI) pairs naming it
(`_Watched`). Entries without an account are not indexed (most numbers of a book have none, and the index would
cost more than the lists); when their account comes, `accounts_changed` searches the subscriptions for them under
the spellings clients write. Every method that changes what someone sees adds the subscriptions concerned to the
caller's `touched` when they now have something to send and had nothing before (the others are already waiting
for their next NOTIFY), for it to send their NOTIFYs once all the changes of one event are in.

The gate: a watcher sees an account's live status when it is its own, when the account has public presence, when
the account has the watcher in one of its live subscriptions, or, with none live, had it in its last one (so that
a friend whose phone is off shows as offline, not as hidden). That memory lives in the process.

Discovery (`server.discovery`): an entry naming an account by its number shows the account only to watchers who
may find it that way (`findable`: the account's setting, else the server's; "contacts" asks the same listing as the
gate), else exactly as a number without an account; an entry naming it by address always shows it. The numbers a
subscription's quota withholds (`Subscription.withheld`) are never indexed: they show `WITHHELD`, and an account
created for one of them later is not looked for in that subscription.

For the cluster (several nodes, each with its own watchers): `on_watch(address, True)` is called when an account's
first entry is indexed, `on_watch(address, False)` when its last one goes (the presentities whose changes this node
must hear); `on_listing(username)` when whom a watcher's live subscriptions list may have changed (`listed` says it
then, for the other nodes' gates); `set_remote_listing` takes what another node says of a watcher whose
subscriptions live there. A watcher's live subscriptions here win over another node's word, which wins over what
this node remembers.
"""

from __future__ import annotations

import bisect
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from smartbook_tui.contacts.resources import number_resource_uri

from .discovery import Discoverable
from .notifier import NO_ACCOUNT, WITHHELD, ResourceView
from .publications import Publications
from .requests import entry_key
from .store import Account, Store
from .subscriptions import Subscription
from .views import account_view

__all__ = ["Touched", "WatchIndex"]

Touched = dict[Subscription, None]  # the subscriptions due a look, in order, each once


@dataclass(slots=True)
class _Watched:
    """One number or username that list entries name: its account (looked up once) and the entries naming it,
    flat (subscription, entry index, subscription, entry index, ...): a pair tuple each would cost 56 bytes more
    an entry, a third of what a 200-entry subscription costs."""

    account: Account | None
    by_number: bool  # the entries name the account by its number, not its address: discovery
    flat_entries: list[Subscription | int] = field(default_factory=list)
    # What watchers see of it, by (entry URI, gate open, legacy form): one view, one PIDF written, for them all.
    views: dict[tuple[str, bool, bool], ResourceView] = field(default_factory=dict)

    def entries(self) -> Iterator[tuple[Subscription, int]]:
        pairs = iter(self.flat_entries)
        return zip(pairs, pairs, strict=True)  # type: ignore[arg-type]

    def add(self, subscription: Subscription, index: int) -> None:
        self.flat_entries += (subscription, _shared_index(index))

    def discard(self, subscription: Subscription) -> None:
        self.flat_entries = [item for pair in self.entries() if pair[0] is not subscription for item in pair]


# One int object for each entry index, shared by every list: an int past 256 is an object of 28 bytes, which the
# flat entries would otherwise hold one of an entry.
_INDICES: list[int] = []


def _shared_index(index: int) -> int:
    if index >= len(_INDICES):
        _INDICES.extend(range(len(_INDICES), index + 1))
    return _INDICES[index]


class WatchIndex:
    def __init__(
        self, store: Store, publications: Publications, domain: str, discoverable: Discoverable = "everyone"
    ) -> None:
        self.store = store
        self.publications = publications
        self.domain = domain
        self.discoverable = discoverable  # who may find an account by its number, unless it says otherwise
        self._watched: dict[str, _Watched] = {}
        self._accounts: dict[str, Account | None] = {}  # username -> account (None: no such account)
        self._by_watcher: dict[str, list[Subscription]] = {}
        self._remembered: dict[str, tuple[str, ...]] = {}  # username -> whom its last subscription listed
        # username -> whom its live subscriptions list, worked out when the gate first asks (a PUBLISH asks for each
        # of its watchers) and forgotten when they or the accounts change
        self._listing: dict[str, tuple[str, ...]] = {}
        self._indexed: dict[str, int] = {}  # account address -> how many `_Watched` name it (for `on_watch`)
        self.on_watch: Callable[[str, bool], None] | None = None
        self.on_listing: Callable[[str], None] | None = None
        self._remote_listing: dict[str, tuple[str, ...]] = {}  # username -> whom another node says it lists

    # ------------------------------------------------------------------------------------------ accounts

    def account(self, username: str) -> Account | None:
        if username not in self._accounts:
            self._accounts[username] = self.store.get_account(username, self.domain)
        return self._accounts[username]

    def account_by_address(self, address: str) -> Account | None:
        key = entry_key(address, self.domain)
        return self.account(key) if key is not None and not key.startswith("+") else None

    def lookup(self, key: str) -> Account | None:
        """The account an entry key (a number or a username) names."""
        if key.startswith("+"):
            return self.store.account_for_phone(key, self.domain)
        return self.account(key)

    def subscriptions_of(self, username: str) -> list[Subscription]:
        """The live subscriptions of `username`, oldest first."""
        return list(self._by_watcher.get(username, ()))

    # ------------------------------------------------------------------------------------------ changes

    def add(
        self, subscription: Subscription, now: float, touched: Touched, keys: Sequence[str | None] | None = None
    ) -> None:
        """Index a new subscription's entries and give each its view; its watchers may now see its owner. `keys` are
        the entries' `entry_key`s in the notifier's order, when the caller has worked them out already."""
        self._by_watcher.setdefault(subscription.watcher, []).append(subscription)
        self._remembered.pop(subscription.watcher, None)  # its live subscriptions say whom it lists now
        self._listing_changed(subscription.watcher)
        notifier = subscription.notifier
        resources = notifier.resources
        if keys is None:
            keys = [entry_key(uri, self.domain) for uri in resources]
        keyed = list(zip(resources, keys, strict=True))
        new_numbers = {
            key
            for _, key in keyed
            if key and key.startswith("+") and key not in self._watched and key not in subscription.withheld
        }
        found = self.store.accounts_for_phones(new_numbers, self.domain) if new_numbers else {}
        withheld = subscription.withheld
        for uri, key in keyed:
            if key is None:
                continue
            index = notifier.index_of(uri)
            assert index is not None  # (the URI is one of its entries)
            if key in withheld:
                notifier.set_state_at(index, WITHHELD, now)
                continue
            watched = self._watched.get(key)
            if watched is None:
                account = found.get(key) if key in new_numbers else self.lookup(key)
                if account is None:
                    continue  # shown with no account; `accounts_changed` finds the entry if one comes
                watched = self._watched[key] = _Watched(account, key.startswith("+"))
                self._count(account, 1)
            watched.add(subscription, index)
            notifier.set_state_at(index, self._view(subscription, uri, watched), now)  # before the full state
        self._gate_changed(subscription.watcher, now, touched)

    def remove(self, subscription: Subscription, now: float, touched: Touched) -> None:
        """Forget an ended subscription; its owner's watchers may see it differently now."""
        watcher_subs = self._by_watcher.get(subscription.watcher, [])
        if subscription in watcher_subs:
            watcher_subs.remove(subscription)
        self._listing_changed(subscription.watcher)
        if not watcher_subs:
            self._by_watcher.pop(subscription.watcher, None)
            self._remembered[subscription.watcher] = self._accounts_listed([subscription])
        for uri in subscription.notifier.resources:
            key = entry_key(uri, self.domain)
            watched = self._watched.get(key) if key is not None else None
            if watched is None:
                continue
            watched.discard(subscription)
            if not watched.flat_entries:
                del self._watched[key]
                self._count(watched.account, -1)
        self._gate_changed(subscription.watcher, now, touched)

    def presence_changed(self, account: Account, now: float, touched: Touched) -> None:
        """Every entry that names `account` is due its new view."""
        for key in (account.username, account.phone):
            watched = self._watched.get(key) if key else None
            if watched is not None:
                self._refresh_entries(watched, now, touched)

    def accounts_changed(
        self,
        numbers: Iterable[str],
        usernames: Iterable[str],
        subscriptions: Iterable[Subscription],
        now: float,
        touched: Touched,
    ) -> list[Account]:
        """Accounts were created, removed or changed (numbers linked, public presence): every entry naming them
        is looked up again. `subscriptions` are all of them, searched for entries that had no account. The accounts
        that no longer exist are returned (the caller ends their subscriptions and drops their publications)."""
        names = set(usernames)
        removed = []
        for username in names:
            before = self._accounts.pop(username, None)
            if self.account(username) is None:  # removed (or never was): nothing of it to remember
                self._remembered.pop(username, None)
                if before is not None:
                    removed.append(before)
        everything = list(subscriptions)
        # The change log names an account's number with every change of the account, so refreshing the entries
        # of these keys reaches every entry whose view may have changed.
        for key in names | set(numbers):
            watched = self._watched.get(key)
            account = self.lookup(key)
            if watched is None and account is not None:
                watched = self._find_entries(key, account, everything)
            if watched is None:
                continue
            if _address(watched.account) != _address(account):
                self._count(watched.account, -1)
                self._count(account, 1)
            watched.account = account
            for subscription, _ in watched.entries():  # whom these lists name has changed
                self._listing_changed(subscription.watcher)
            self._refresh_entries(watched, now, touched)
            if account is None:  # nothing left to watch for: entries without an account are not indexed
                del self._watched[key]
        return removed

    # ------------------------------------------------------------------------------------------ views and the gate

    def _view(self, subscription: Subscription, uri: str, watched: _Watched) -> ResourceView:
        account = watched.account
        if account is None:
            return NO_ACCOUNT
        watcher = subscription.watcher
        # whether the account's lists name the watcher: one look serves the gate and discovery
        listed = account.username == watcher or self._lists(account.username, watcher)
        if watched.by_number and not _may_find(account.discoverable or self.discoverable, listed):
            return NO_ACCOUNT  # the same as a number without an account: nothing to tell the two apart
        key = (uri, account.public_presence or listed, subscription.legacy)
        view = watched.views.get(key)
        if view is None:
            live = self.publications.compose(account.address, contact=account.address)
            view = watched.views[key] = account_view(uri, account.address, live, allowed=key[1], legacy=key[2])
        return view

    def listed(self, username: str) -> tuple[str, ...]:
        """The usernames `username`'s live subscriptions here list, sorted; else another node's word; else whom its
        last one here listed."""
        subscriptions = self._by_watcher.get(username)
        if not subscriptions:
            remote = self._remote_listing.get(username)
            return remote if remote is not None else self._remembered.get(username, ())
        listed = self._listing.get(username)
        if listed is None:
            listed = self._listing[username] = self._accounts_listed(subscriptions)
        return listed

    def set_remote_listing(self, username: str, listed: tuple[str, ...] | None, now: float, touched: Touched) -> None:
        """Another node says whom `username`'s subscriptions there list (None: it says nothing any more)."""
        if listed is None:
            self._remote_listing.pop(username, None)
        else:
            self._remote_listing[username] = tuple(sorted(sys.intern(name) for name in listed))
        self._gate_changed(username, now, touched)

    def findable(self, watcher: str | None, account: Account) -> bool:
        """Whether `watcher` (None: someone unknown, such as a caller from another domain) may learn from the
        account's number that it is an account (`server.discovery`)."""
        discoverable = account.discoverable or self.discoverable
        if discoverable == "everyone" or account.username == watcher:
            return True
        return watcher is not None and _may_find(discoverable, self._lists(account.username, watcher))

    def _lists(self, username: str, watcher: str) -> bool:
        """Whether `username`'s lists name `watcher` (see `listed`)."""
        listed = self.listed(username)
        position = bisect.bisect_left(listed, watcher)
        return position < len(listed) and listed[position] == watcher

    def _listing_changed(self, username: str) -> None:
        known = self._listing.pop(username, None) is not None
        if (known or self._by_watcher.get(username)) and self.on_listing is not None:
            self.on_listing(username)

    def _accounts_listed(self, subscriptions: Iterable[Subscription]) -> tuple[str, ...]:
        """The usernames of the accounts the subscriptions' entries name, sorted (whom the gate lets see)."""
        listed = set()
        for subscription in subscriptions:
            for uri in subscription.notifier.resources:
                key = entry_key(uri, self.domain)
                watched = self._watched.get(key) if key is not None and key not in subscription.withheld else None
                if watched is not None and watched.account is not None:
                    listed.add(sys.intern(watched.account.username))
        return tuple(sorted(listed))

    def _find_entries(self, key: str, account: Account, subscriptions: list[Subscription]) -> _Watched | None:
        """Index the entries that name `key`, which had no account until now, searching every subscription for the
        spellings clients write (`number_resource_uri`, `tel:`, the account's address): microseconds each, and
        accounts are not created that often."""
        spellings = _spellings(key, account, self.domain)
        watched = _Watched(account, key.startswith("+"))
        for subscription in subscriptions:
            if key in subscription.withheld:
                continue
            for uri in spellings:
                index = subscription.notifier.index_of(uri)
                if index is not None:
                    watched.add(subscription, index)
        if not watched.flat_entries:
            return None
        self._watched[key] = watched
        self._count(account, 1)
        return watched

    def _refresh_entries(self, watched: _Watched, now: float, touched: Touched) -> None:
        watched.views.clear()
        for subscription, index in watched.entries():
            notifier = subscription.notifier
            if notifier.set_state_at(index, self._view(subscription, notifier.uri_at(index), watched), now):
                touched[subscription] = None

    def _count(self, account: Account | None, step: int) -> None:
        if account is None:
            return
        address = account.address
        count = self._indexed.get(address, 0) + step
        if count > 0:
            self._indexed[address] = count
        else:
            self._indexed.pop(address, None)
        if self.on_watch is not None and count == (1 if step > 0 else 0):
            self.on_watch(address, step > 0)

    def _gate_changed(self, username: str, now: float, touched: Touched) -> None:
        """`username`'s subscriptions changed: what its watchers may see of it may have too."""
        account = self.account(username)
        if account is not None:
            self.presence_changed(account, now, touched)


def _may_find(discoverable: Discoverable, listed: bool) -> bool:
    """Whether a watcher may find an account by its number, given the account's setting and whether the account's
    own lists name the watcher."""
    return discoverable == "everyone" or (discoverable == "contacts" and listed)


def _address(account: Account | None) -> str | None:
    return account.address if account is not None else None


def _spellings(key: str, account: Account, domain: str) -> list[str]:
    """How clients write an entry naming `key` (a number or the account's username)."""
    if key.startswith("+"):
        return [number_resource_uri(key, domain), f"tel:{key}"]
    return [account.address]
