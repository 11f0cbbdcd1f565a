"""The subscription dialogs a restarted server brings back, and how they are kept in the store.

Only UDP dialogs are saved: a TCP or TLS dialog dies with its connection, which a restart closes, and its subscriber
subscribes again as soon as it sees the connection go. `DialogJournal` writes in batches (`flush`, one transaction
`SAVE_DELAY` after the first change), and only when a dialog is created, refreshed or ended, never per NOTIFY: a
saved dialog holds a CSeq ceiling `RESERVE` above its CSeq when written, and the same for its RLMI version (a NOTIFY
raises each by one at most), and is written again once its CSeq comes within `RESERVE / 2` of the ceiling. A
restored dialog starts at the ceilings (`Store.resume_dialogs` moves them on by `RESERVE` as it hands them out), so
its subscriber never sees a CSeq or a version go back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Protocol

from smartbook_tui.sip.message import Headers, SipRequest
from smartbook_tui.sip.peer import Peer

from .notifier import ListNotifier
from .store import DialogId, DialogProgress, SavedDialog, StoreError
from .subscriptions import DialogKey, Notifier, PresentityNotifier, Subscription

__all__ = ["RESERVE", "SAVE_DELAY", "DialogJournal", "DialogKeeper", "restored_subscription", "saved_dialog"]

log = logging.getLogger(__name__)

RESERVE = 1_000  # CSeqs and versions a saved dialog may use before it is written again (half of them, in fact)
SAVE_DELAY = 0.2  # seconds a change waits for the others of its batch: what a kill -9 may lose


class DialogKeeper(Protocol):
    """Where saved dialogs are kept: the store (`Store`), or, for a node of a cluster, Redis
    (`cluster.dialogs.ClusterDialogs`), where another node can take them over."""

    def save_dialogs(
        self,
        domain: str,
        created: Sequence[SavedDialog],
        progressed: Sequence[DialogProgress],
        ended: Sequence[DialogId],
    ) -> None: ...
    def resume_dialogs(self, domain: str, reserve: int) -> list[SavedDialog]: ...
    def forget_dialogs(self, domain: str) -> None: ...


class DialogJournal:
    """The changes to the saved dialogs not written yet, and their writing. `pending` says a `flush` is due."""

    def __init__(self, store: DialogKeeper, domain: str) -> None:
        self._store = store
        self._domain = domain
        self._created: dict[DialogKey, Subscription] = {}
        self._progressed: dict[DialogKey, Subscription] = {}
        self._ended: set[DialogKey] = set()

    @property
    def pending(self) -> bool:
        return bool(self._created or self._progressed or self._ended)

    def created(self, subscription: Subscription) -> None:
        if not subscription.reliable:
            self._created[subscription.key] = subscription

    def refreshed(self, subscription: Subscription) -> None:
        """Its expiry changed, or its CSeq nears the ceiling."""
        if not subscription.reliable and subscription.key not in self._created:
            self._progressed[subscription.key] = subscription

    def notified(self, subscription: Subscription) -> None:
        """It sent a NOTIFY: written again when its CSeq nears the ceiling."""
        if subscription.cseq > subscription.reserved_cseq - RESERVE // 2:
            self.refreshed(subscription)

    def ended(self, subscription: Subscription) -> None:
        if not subscription.reliable:
            self.dropped(subscription.key)

    def dropped(self, key: DialogKey) -> None:
        """The saved dialog `key` is not to be restored again."""
        self._progressed.pop(key, None)
        if self._created.pop(key, None) is None:
            self._ended.add(key)

    def flush(self, now: float) -> None:
        """Write what changed, in one transaction; a failure is logged (the batch is lost: a restart would miss
        those dialogs, or restore ended ones that their subscribers then refuse)."""
        subscriptions = [*self._created.values(), *self._progressed.values()]
        created = [saved_dialog(subscription, now) for subscription in self._created.values()]
        progressed = [
            DialogProgress(subscription.key, subscription.expires_at - now, *_ceilings(subscription))
            for subscription in self._progressed.values()
        ]
        ended = list(self._ended)
        self._created, self._progressed, self._ended = {}, {}, set()
        try:
            self._store.save_dialogs(self._domain, created, progressed, ended)
        except StoreError as error:
            log.warning("cannot save %d subscription dialogs: %s", len(created) + len(progressed) + len(ended), error)
            return
        for subscription in subscriptions:
            subscription.reserved_cseq = subscription.cseq + RESERVE
        log.debug("saved subscription dialogs: %d new, %d moved on, %d ended", *map(len, (created, progressed, ended)))

    def resume(self) -> list[SavedDialog]:
        """The saved dialogs to restore (see `Store.resume_dialogs`); none when the store cannot be read."""
        try:
            return self._store.resume_dialogs(self._domain, RESERVE)
        except StoreError as error:
            log.warning("cannot read the saved subscription dialogs, none is restored: %s", error)
            return []

    def forget_all(self) -> None:
        """Every dialog has ended (a graceful stop): none is to be restored."""
        self._created, self._progressed, self._ended = {}, {}, set()
        try:
            self._store.forget_dialogs(self._domain)
        except StoreError as error:
            log.warning("cannot forget the saved subscription dialogs: %s", error)


def restored_subscription(
    saved: SavedDialog,
    entries: Sequence[str],
    *,
    interval: float,
    max_resources: int,
    token: Callable[[], str],
    now: float,
) -> Subscription:
    """The subscription of a saved dialog, its list made of `entries` (a stored list as it is now), at the saved
    ceilings; its full state is the caller's to send. ValueError when a value its NOTIFYs would carry does not
    read as a header or a Request-URI (a damaged or edited row): they are written into each NOTIFY unchecked."""
    Headers([("From", saved.local), ("To", saved.remote), ("Call-ID", saved.id[0])])
    Headers([("Route", value) for value in saved.route])
    SipRequest("NOTIFY", saved.target, Headers()).to_bytes()
    notifier: Notifier
    if saved.kind == "presentity":
        notifier = PresentityNotifier(saved.uri, interval=interval)
    else:
        notifier = ListNotifier(
            saved.uri,
            entries,
            legacy=saved.legacy,
            deflate=saved.deflate,
            interval=interval,
            max_resources=max_resources,
            token=token,
            first_version=saved.version,
        )
    return Subscription(
        key=saved.id,
        uri=saved.uri,
        watcher=saved.watcher,
        notifier=notifier,
        peer=Peer("UDP", saved.address),
        transport="UDP",
        remote=saved.remote,
        local=saved.local,
        target=saved.target,
        expires_at=now + saved.expires_in,
        route=saved.route,
        legacy=saved.legacy,
        is_list=saved.kind != "presentity",
        stored_list=saved.kind == "stored list",
        cseq=saved.cseq,
        reserved_cseq=saved.cseq + RESERVE,
    )


def _ceilings(subscription: Subscription) -> tuple[int, int]:
    """(CSeq, RLMI version) above every one the subscription has used, by `RESERVE`."""
    notifier = subscription.notifier
    last = notifier.version if isinstance(notifier, ListNotifier) else None
    return subscription.cseq + RESERVE, (0 if last is None else last + 1) + RESERVE


def saved_dialog(subscription: Subscription, now: float) -> SavedDialog:
    """A UDP subscription as it is saved."""
    notifier = subscription.notifier
    peer: Peer = subscription.peer  # type: ignore[assignment]  # a UDP peer: its address is all that is kept
    kind = "presentity" if not subscription.is_list else "stored list" if subscription.stored_list else "list"
    return SavedDialog(
        subscription.key,
        subscription.watcher,
        subscription.uri,
        kind,
        notifier.resources if kind == "list" else (),
        subscription.legacy,
        isinstance(notifier, ListNotifier) and notifier.deflate,
        (peer.address[0], peer.address[1]),
        subscription.remote,
        subscription.local,
        subscription.target,
        subscription.expires_at - now,
        *_ceilings(subscription),
        subscription.route,
    )
