"""The presence publications and registrations a restarted server brings back, and how they are kept in the store.

A kill -9 must not make every publisher look offline until it publishes again (up to its expiry, an hour for some),
nor make a call to a UDP device fail until the device registers again: `StateJournal` keeps both in the store, in
batches (`flush`, one transaction `SAVE_DELAY` after the first change), written on a PUBLISH or a REGISTER only, and
the core restores them before any saved subscription dialog sends its full state. Expiries are stored as wall-clock
times (the core's clock is its event loop's); what expired meanwhile is neither restored nor kept.

* A publication keeps its ETag (a refresh naming it with SIP-If-Match still matches), its document as published, its
  expiry and its device. A removal (Expires: 0) deletes its row, a refresh or modification moves it to the new ETag.
  A new publication of a device replaces that device's saved one, as it does in memory. What expired leaves the store
  at its next write, and at the next start before anything is restored.
* Only UDP registrations are saved, with the address their REGISTER came from: that is how the device is reached,
  and a UDP device knows nothing of the restart. A TCP or TLS binding reaches its device over the connection the
  REGISTER came on, which the restart closed, and the server opens no connections (`proxy.routes.peer_for`): such a
  binding, restored without its flow, would reach no one (its Contact is mostly behind NAT anyway) while it made
  the account look registered. Its device sees the connection close, connects again and
  registers again (RFC 5626 section 4.4 asks it of an outbound client), and that REGISTER is what restores it; a
  device that does not is reached again at its next refresh, as before.
* A graceful stop forgets neither: publications and registrations are valid until they expire, and devices do not
  publish or register again because a server restarted (unlike subscription dialogs, which the stop ends).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from smartbook_tui.sip.peer import Peer
from smartbook_tui.sip.uri import SipParseError, parse_name_addr

from .publications import Publications, PublishError, PublishOutcome
from .registrar import Binding, Registrar
from .store import Account, PublicationChange, SavedBinding, SavedPublication, Store, StoreError

__all__ = ["StateJournal", "restore_state", "saved_bindings"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Published:
    """A publication's change, its expiry on the core's clock (the store's is counted when it is written)."""

    username: str
    aor: str
    previous_etag: str | None  # None: a new publication
    etag: str
    body: bytes | None  # None: a refresh
    content_type: str | None
    device: str | None
    expires_at: float


class StateJournal:
    """The changes to the saved publications and registrations not written yet, and their writing. `pending` says
    a `flush` is due."""

    def __init__(self, store: Store, domain: str, registrar: Registrar) -> None:
        self._store = store
        self._domain = domain
        self._registrar = registrar
        self._publications: list[_Published | str] = []  # in order; a str is the ETag of one removed
        self._registered: dict[str, str] = {}  # username -> AOR, whose bindings are to be written again

    @property
    def pending(self) -> bool:
        return bool(self._publications or self._registered)

    def published(
        self,
        account: Account,
        outcome: PublishOutcome,
        *,
        previous_etag: str | None,
        body: bytes | None,
        content_type: str | None,
        device: str | None,
        now: float,
    ) -> None:
        """A PUBLISH of `account` was accepted: `previous_etag` its SIP-If-Match, `body` its decoded body."""
        if outcome.expires == 0:
            if previous_etag is not None:
                self._publications.append(previous_etag)
            return
        self._publications.append(
            _Published(
                account.username,
                account.address,
                previous_etag,
                outcome.etag,
                body or None,
                content_type,
                device,
                now + outcome.expires,
            )
        )

    def registered(self, account: Account) -> None:
        """A REGISTER of `account` was accepted: its UDP bindings are written again as they are then."""
        self._registered[account.username] = account.address

    def flush(self, now: float) -> None:
        """Write what changed, in one transaction; a failure is logged (the batch is lost: a restart would miss
        those changes)."""
        publications = [_change(item, now) for item in self._publications]
        registrations = {
            username: saved_bindings(self._registrar, username, aor, now) for username, aor in self._registered.items()
        }
        self._publications, self._registered = [], {}
        try:
            self._store.save_state(self._domain, publications, registrations)
        except StoreError as error:
            log.warning(
                "cannot save %d publication changes and the registrations of %d accounts: %s",
                len(publications),
                len(registrations),
                error,
            )
            return
        log.debug(
            "saved publications and registrations: %d publication changes, registrations of %d accounts",
            len(publications),
            len(registrations),
        )


def restore_state(store: Store, domain: str, publications: Publications, registrar: Registrar, now: float) -> None:
    """Bring back the saved registrations and publications of `domain` into `registrar` and `publications`; what
    cannot be read or is no longer accepted is logged and left out."""
    try:
        saved_publications, saved_bindings = store.resume_state(domain)
    except StoreError as error:
        log.warning("cannot read the saved publications and registrations, none is restored: %s", error)
        return
    bindings = 0
    for saved in saved_bindings:
        try:
            contact = parse_name_addr(saved.contact)
        except SipParseError as error:
            log.warning("not restoring the registration of %s at %s: %s", saved.aor, saved.contact, error)
            continue
        source = Peer("UDP", saved.address)
        registrar.restore(
            saved.aor,
            Binding(contact, now + saved.expires_in, saved.call_id, saved.cseq, source, saved.user_agent),
        )
        bindings += 1
    restored = 0
    for publication in saved_publications:
        try:
            publications.restore(
                publication.aor,
                publication.etag,
                body=publication.body,
                content_type=publication.content_type,
                expires_at=now + publication.expires_in,
                device=publication.device,
                now=now,
            )
        except PublishError as error:
            log.warning("not restoring a publication of %s: %s", publication.aor, error)
            continue
        restored += 1
    if saved_bindings or saved_publications:
        log.info("restored %d registrations and %d publications", bindings, restored)


def _change(item: _Published | str, now: float) -> SavedPublication | PublicationChange | str:
    if isinstance(item, str):
        return item
    expires_in = item.expires_at - now
    if item.previous_etag is not None:
        return PublicationChange(item.previous_etag, item.etag, expires_in, item.body, item.content_type)
    assert item.body is not None  # accepted as a new publication: a PIDF document and its type
    assert item.content_type is not None
    return SavedPublication(item.username, item.aor, item.etag, item.body, item.content_type, item.device, expires_in)


def saved_bindings(registrar: Registrar, username: str, aor: str, now: float) -> list[SavedBinding]:
    """The UDP bindings of `aor` as they are kept (in the store, or for a cluster's other nodes): a TCP or TLS one
    reaches its device only over its connection, which only this process holds."""
    return [
        _saved_binding(username, aor, binding, now)
        for binding in registrar.bindings(aor, now)
        if getattr(binding.source, "transport", None) == "UDP"
    ]


def _saved_binding(username: str, aor: str, binding: Binding, now: float) -> SavedBinding:
    address = binding.source.address  # type: ignore[attr-defined]  # a UDP peer: its address is all that is kept
    return SavedBinding(
        username,
        aor,
        str(binding.contact),
        binding.call_id,
        binding.cseq,
        (address[0], address[1]),
        binding.user_agent,
        binding.expires_at - now,
    )
