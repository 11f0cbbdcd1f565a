"""The presence publications of the server (RFC 3903, event package `presence`), sans-IO.

`Publications` is the event state compositor's store: it takes the parts of a PUBLISH that matter (the AOR it is
for, SIP-If-Match, Expires, the body and its Content-Type) with the current time, and answers a `PublishOutcome`
(the SIP-ETag and Expires of the 200) or raises a `PublishError` (status, one-line reason phrase, headers to add).
It touches no socket and reads no clock: `now` is passed in, ETags come from an injected generator, and the
caller's timer calls `expire(now)` at `next_expiry`. `compose(aor)` gives the presentity's state built from all
its live publications, for the subscription side to NOTIFY.

What stays with the caller: authentication and "one may only PUBLISH for oneself" (401/407/403), the Event header
(489 Bad Event), Content-Encoding (hand the decoded body here), turning the request URI into the AOR string (this
store compares AORs as given), and what each watcher may see of the composed state (the privacy gate and the
phone-alias resources belong to the resource-list side).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import TypeVar

from smartbook_tui.presence import (
    Device,
    Note,
    Person,
    Presence,
    PresenceDocumentError,
    PresenceTuple,
    UserInput,
    parse_content_type,
    parse_pidf,
)

from .refusal import Refusal

__all__ = [
    "DEFAULT_EXPIRES",
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_MAX_EXPIRES",
    "DEFAULT_MAX_PER_AOR",
    "DEFAULT_MIN_EXPIRES",
    "PIDF_CONTENT_TYPE",
    "PublicationRecord",
    "Publications",
    "PublishError",
    "PublishOutcome",
]

PIDF_CONTENT_TYPE = "application/pidf+xml"
DEFAULT_EXPIRES = 600  # what Linphone asks for, and Flexisip's default
DEFAULT_MIN_EXPIRES = 60
DEFAULT_MAX_EXPIRES = 86400
DEFAULT_MAX_PER_AOR = 16
DEFAULT_MAX_BODY_BYTES = 64 * 1024  # a PUBLISH body is a few hundred bytes; 16 of these per account stay small

# RFC 3903 section 6 step 5: a requested interval of an hour or more is never "too brief".
_MAX_MIN_EXPIRES = 3600
_ETAG_ATTEMPTS = 16


@dataclass(frozen=True, slots=True)
class PublishOutcome:
    """A PUBLISH that succeeded: the 200 carries `SIP-ETag: etag` and `Expires: expires`.

    `changed` says whether the AOR's composed state changed (its watchers are due a NOTIFY): true for an initial
    publication, a removal, and a modification whose document differs from the one it replaces; false for a
    refresh. A removal answers the ETag it removed, an initial PUBLISH with `Expires: 0` an ETag never stored.
    `replaced` is the ETag of the same device's earlier publication that a new one replaced, if any.
    """

    etag: str
    expires: int
    changed: bool
    replaced: str | None = None


@dataclass(frozen=True, slots=True)
class PublicationRecord:
    """A live publication as another process needs it to compose the same state: `expires_at` on the clock of the
    `Publications` it comes from."""

    etag: str
    body: bytes
    content_type: str
    device: str | None
    expires_at: float
    modified_at: float  # when its document was published: the newest of an AOR's comes first in its state


class PublishError(Refusal):
    """A PUBLISH to refuse: answer `status reason`, with `headers` added (Min-Expires for 423, Accept for 415)."""


@dataclass(slots=True)
class _Publication:
    etag: str
    document: Presence
    body: bytes  # the document as published, and its type: what `record` hands another process
    content_type: str
    expires_at: float
    serial: int  # stable for the publication's life: names its renamed tuple and device ids
    version: int  # the store's order of initial publications and modifications: higher is newer
    device: str | None
    modified_at: float = 0.0  # when its document was published (`now`): orders it before `version` does
    mirrored: bool = False  # another process's, brought here by `restore(mirrored=True)`


@dataclass(slots=True)
class _Account:
    by_etag: dict[str, _Publication] = field(default_factory=dict)
    composed: tuple[str | None, Presence] | None = None  # the last compose() result and the contact it used


class Publications:
    """The live presence publications of every AOR (RFC 3903), and the state composed from them.

    A PUBLISH maps to `publish()` as RFC 3903 section 6 processes it, in this order (after a 400 for a negative
    Expires):

    * SIP-If-Match (`etag`) names a live publication of this AOR, or 412 (unknown, replaced, expired, or another
      AOR's). Without it, the request is an initial publication and needs a body (400).
    * Expires (`expires`, None when absent): 0 with SIP-If-Match removes the publication (a body, if any, is
      ignored). Otherwise a value under `min_expires` gets 423 with Min-Expires, one over `max_expires` is lowered
      to it, and an absent one is `default_expires` (600 s, Linphone's) clamped to the bounds.
    * A body is the whole new document (modification, or initial publication): Content-Type must be
      application/pidf+xml (415 with Accept), at most `max_body_bytes` (413), and a PIDF document (400). No body
      with SIP-If-Match is a refresh: the document stays, the lifetime restarts.
    * An initial publication, refresh or modification hands out a new ETag (from `etag`, which should never repeat
      itself: a counter, or `secrets.token_urlsafe`); the one matched stops being valid.
    * An initial publication beyond `max_per_aor` live ones gets 403 (see below). One that names a `device`
      (a stable id of the publishing device, e.g. the +sip.instance of its registration) replaces that device's
      earlier publication: pjsua2 and Linphone forget their ETag when restarted, and their old state would
      otherwise linger, contradicting the new one, until it expired.

    Why 403 and not 503 for the cap: the limit is a policy on one account, not a state of the server, and
    retrying soon does not help (RFC 3261: 403 "should not be repeated"). A 503 would tell the client, and any
    proxy on the way, that this server is unavailable: RFC 3263 clients then fail over, or treat the server as
    down for Retry-After, for all their requests, registration and calls included.

    Publications past their expiry are treated as gone at once (412, not counted in the cap), and are removed
    from the store by `expire(now)`, or by the next successful PUBLISH for their AOR (then reported through its
    `changed`). `compose()` reads the store as it is: call `expire(now)` when `next_expiry` comes.
    """

    def __init__(
        self,
        *,
        etag: Callable[[], str],
        min_expires: int = DEFAULT_MIN_EXPIRES,
        max_expires: int = DEFAULT_MAX_EXPIRES,
        default_expires: int = DEFAULT_EXPIRES,
        max_per_aor: int = DEFAULT_MAX_PER_AOR,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    ) -> None:
        if not 1 <= min_expires <= min(max_expires, _MAX_MIN_EXPIRES):
            raise ValueError(
                f"min_expires must be between 1 and min(max_expires, {_MAX_MIN_EXPIRES}), not {min_expires}"
            )
        if default_expires < 1 or max_per_aor < 1 or max_body_bytes < 1:
            raise ValueError("default_expires, max_per_aor and max_body_bytes must be positive")
        self._new_etag = etag
        self.min_expires = min_expires
        self.max_expires = max_expires
        self.default_expires = min(max(default_expires, min_expires), max_expires)
        self.max_per_aor = max_per_aor
        self.max_body_bytes = max_body_bytes
        self._accounts: dict[str, _Account] = {}
        self._etags: set[str] = set()  # every stored ETag, of every AOR: no two publications share one
        self._deadlines: list[tuple[float, int, str, str]] = []  # (expires_at, serial, aor, etag); stale kept lazily
        self._counter = 0

    # ------------------------------------------------------------------------------------------ PUBLISH

    def publish(
        self,
        aor: str,
        *,
        etag: str | None,
        body: bytes | None,
        content_type: str | None,
        expires: int | None,
        now: float,
        device: str | None = None,
    ) -> PublishOutcome:
        """Apply one PUBLISH for `aor` (the rules are in the class docstring); raise `PublishError` to refuse it."""
        if expires is not None and expires < 0:
            raise PublishError(400, "Bad Request (Expires must not be negative)")
        account = self._accounts.get(aor)
        current = self._match(account, etag, now) if etag is not None else None
        if current is not None and expires == 0:
            return self._remove(aor, current, now)
        if current is None and not body:
            raise PublishError(400, "Bad Request (a PUBLISH without SIP-If-Match needs a body)")
        document = self._parse(body, content_type) if body else None
        if expires == 0:  # an initial publication that ends at once: valid, answered, never stored
            return PublishOutcome(self._fresh_etag(), 0, changed=False)
        granted = self._granted(expires)
        new = (document, body, content_type) if document is not None and body and content_type is not None else None
        if current is not None:
            return self._update(aor, current, new, granted, now)
        assert new is not None  # (a body is required without SIP-If-Match, and was parsed with its type)
        document, body, content_type = new
        replaced = self._make_room(account, device, now)
        publication = _Publication("", document, body, content_type, now + granted, 0, 0, device, now)
        return self._add(aor, publication, granted, replaced=replaced, now=now)

    def _match(self, account: _Account | None, etag: str, now: float) -> _Publication:
        publication = account.by_etag.get(etag) if account is not None else None
        if publication is None or publication.expires_at <= now:
            raise PublishError(412, "Conditional Request Failed (unknown or expired SIP-If-Match)")
        return publication

    def _granted(self, expires: int | None) -> int:
        if expires is None:
            return self.default_expires
        if expires < self.min_expires:
            raise PublishError(
                423, f"Interval Too Brief (at least {self.min_expires} s)", {"Min-Expires": str(self.min_expires)}
            )
        return min(expires, self.max_expires)

    def _make_room(self, account: _Account | None, device: str | None, now: float) -> _Publication | None:
        """The publication a new one from `device` replaces, if any; 403 when the AOR has no room left."""
        if account is None:
            return None
        replaced = None
        if device is not None:
            replaced = next((p for p in account.by_etag.values() if p.device == device and p.expires_at > now), None)
        live = sum(1 for p in account.by_etag.values() if p.expires_at > now and p is not replaced)
        if live >= self.max_per_aor:
            raise PublishError(403, f"Forbidden (this account already has {self.max_per_aor} publications)")
        return replaced

    # Accepted from here on: nothing below raises (but a broken ETag generator, before any change).

    def _add(
        self, aor: str, publication: _Publication, granted: int, *, replaced: _Publication | None, now: float
    ) -> PublishOutcome:
        publication.etag = self._fresh_etag()
        publication.serial, publication.version = self._next(), self._next()
        account = self._accounts.get(aor)
        if account is None:
            account = self._accounts[aor] = _Account()
        self._drop_expired(account, now)
        if replaced is not None:
            self._discard(account, replaced)
        self._store(aor, account, publication)
        account.composed = None
        return PublishOutcome(
            publication.etag, granted, changed=True, replaced=replaced.etag if replaced is not None else None
        )

    def _update(
        self,
        aor: str,
        publication: _Publication,
        new: tuple[Presence, bytes, str] | None,  # a modification's document, body and type
        granted: int,
        now: float,
    ) -> PublishOutcome:
        new_etag = self._fresh_etag()
        account = self._accounts[aor]
        changed = self._drop_expired(account, now)
        self._discard(account, publication)
        publication.etag = new_etag
        publication.expires_at = now + granted
        publication.mirrored = False  # refreshed here: this process's now
        if new is not None:
            document, publication.body, publication.content_type = new
            if document != publication.document:
                publication.document = document
                publication.version = self._next()
                publication.modified_at = now
                account.composed = None
                changed = True
        self._store(aor, account, publication)
        return PublishOutcome(new_etag, granted, changed)

    def _store(self, aor: str, account: _Account, publication: _Publication) -> None:
        account.by_etag[publication.etag] = publication
        self._etags.add(publication.etag)
        heapq.heappush(self._deadlines, (publication.expires_at, publication.serial, aor, publication.etag))
        self._compact_deadlines()

    def _parse(self, body: bytes, content_type: str | None) -> Presence:
        if content_type is None:
            raise PublishError(415, "Unsupported Media Type (no Content-Type)", {"Accept": PIDF_CONTENT_TYPE})
        try:
            mime = parse_content_type(content_type).mime
        except PresenceDocumentError as exc:
            raise PublishError(400, f"Bad Request ({exc})") from None
        if mime != PIDF_CONTENT_TYPE:
            raise PublishError(
                415, f"Unsupported Media Type ({mime}, not {PIDF_CONTENT_TYPE})", {"Accept": PIDF_CONTENT_TYPE}
            )
        if len(body) > self.max_body_bytes:
            raise PublishError(413, f"Request Entity Too Large (the cap is {self.max_body_bytes} bytes)")
        try:
            return parse_pidf(body, self.max_body_bytes)
        except PresenceDocumentError as exc:
            raise PublishError(400, f"Bad Request ({exc})") from None

    def _remove(self, aor: str, publication: _Publication, now: float) -> PublishOutcome:
        account = self._accounts[aor]
        self._discard(account, publication)
        self._drop_expired(account, now)
        account.composed = None
        if not account.by_etag:
            del self._accounts[aor]
        return PublishOutcome(publication.etag, 0, changed=True)

    def _fresh_etag(self) -> str:
        for _ in range(_ETAG_ATTEMPTS):
            value = self._new_etag()
            if value and value not in self._etags:
                return value
        raise RuntimeError(f"the ETag generator gave no new value in {_ETAG_ATTEMPTS} tries")

    def _next(self) -> int:
        self._counter += 1
        return self._counter

    def _discard(self, account: _Account, publication: _Publication) -> None:
        del account.by_etag[publication.etag]
        self._etags.discard(publication.etag)

    def _drop_expired(self, account: _Account, now: float) -> bool:
        expired = [p for p in account.by_etag.values() if p.expires_at <= now]
        for publication in expired:
            self._discard(account, publication)
        if expired:
            account.composed = None
        return bool(expired)

    # ------------------------------------------------------------------------------------------ expiry

    def expire(self, now: float) -> set[str]:
        """Drop the publications whose lifetime is over at `now`; the AORs whose composed state changed."""
        changed: set[str] = set()
        while self._deadlines and self._deadlines[0][0] <= now:
            _, _, aor, etag = heapq.heappop(self._deadlines)
            account = self._accounts.get(aor)
            publication = account.by_etag.get(etag) if account is not None else None
            if account is None or publication is None or publication.expires_at > now:
                continue  # stale: refreshed (it has a new entry), removed or replaced since
            self._discard(account, publication)
            account.composed = None
            changed.add(aor)
            if not account.by_etag:
                del self._accounts[aor]
        return changed

    @property
    def next_expiry(self) -> float | None:
        """When the next publication expires (the time to call `expire` at), or None when none is stored."""
        while self._deadlines:
            expires_at, _, aor, etag = self._deadlines[0]
            account = self._accounts.get(aor)
            publication = account.by_etag.get(etag) if account is not None else None
            if publication is not None and publication.expires_at == expires_at:
                return expires_at
            heapq.heappop(self._deadlines)
        return None

    def _compact_deadlines(self) -> None:
        # Refreshes leave their old deadline behind: rebuild when stale entries outnumber live ones.
        if len(self._deadlines) > 2 * len(self._etags) + 64:
            self._deadlines = [
                (p.expires_at, p.serial, aor, p.etag)
                for aor, account in self._accounts.items()
                for p in account.by_etag.values()
            ]
            heapq.heapify(self._deadlines)

    # ------------------------------------------------------------------------------------------ state

    def count(self, aor: str) -> int:
        """How many publications `aor` has in the store (expired ones not yet dropped included)."""
        account = self._accounts.get(aor)
        return len(account.by_etag) if account is not None else 0

    def restore(
        self,
        aor: str,
        etag: str,
        *,
        body: bytes,
        content_type: str,
        expires_at: float,
        device: str | None,
        now: float,
        mirrored: bool = False,
        modified_at: float | None = None,
    ) -> None:
        """Bring back a publication a restarted server saved, or with `mirrored` one another process holds, under
        its ETag (so that a refresh naming it matches) with its expiry and device, as the newest of `aor`'s; it
        replaces the same device's, as a new one would. Raises `PublishError` for what is no longer accepted (a
        document, the AOR's cap, an ETag in use)."""
        if etag in self._etags:
            raise PublishError(412, f"Conditional Request Failed (the ETag {etag} is in use)")
        document = self._parse(body, content_type)
        # Another process's does not replace this one's: its news of the device may be older (theirs tells when
        # its publication replaces one of ours).
        replaced = self._make_room(self._accounts.get(aor), None if mirrored else device, now)
        account = self._accounts.setdefault(aor, _Account())
        if replaced is not None:
            self._discard(account, replaced)
        published = now if modified_at is None else modified_at
        publication = _Publication(
            etag, document, body, content_type, expires_at, self._next(), self._next(), device, published, mirrored
        )
        self._store(aor, account, publication)
        account.composed = None

    def withdraw(self, aor: str, etag: str) -> bool:
        """Forget the publication `etag` of `aor` (another process removed or replaced it); whether it was here."""
        account = self._accounts.get(aor)
        publication = account.by_etag.get(etag) if account is not None else None
        if account is None or publication is None:
            return False
        self._discard(account, publication)
        account.composed = None
        if not account.by_etag:
            del self._accounts[aor]
        return True

    def renew(self, aor: str, etag: str, record: PublicationRecord) -> bool:
        """Another process refreshed the publication `etag` of `aor` into `record` (a new ETag and expiry, the same
        document): moved on in place, with no document read again; False when `etag` is not here or `record` is not
        a refresh of it."""
        account = self._accounts.get(aor)
        publication = account.by_etag.get(etag) if account is not None else None
        if account is None or publication is None or record.etag in self._etags:
            return False
        if (publication.body, publication.content_type, publication.device) != (
            record.body,
            record.content_type,
            record.device,
        ):
            return False
        self._discard(account, publication)
        publication.etag, publication.expires_at = record.etag, record.expires_at
        self._store(aor, account, publication)
        return True

    def record(self, aor: str, etag: str) -> PublicationRecord | None:
        """The publication `etag` of `aor` as another process needs it, or None when it is not here."""
        account = self._accounts.get(aor)
        publication = account.by_etag.get(etag) if account is not None else None
        if publication is None:
            return None
        return _record(publication)

    def own_records(self, now: float) -> dict[str, list[PublicationRecord]]:
        """Every live publication this process took (not the mirrored ones), by AOR."""
        return {
            aor: records
            for aor, account in self._accounts.items()
            if (records := [_record(p) for p in account.by_etag.values() if not p.mirrored and p.expires_at > now])
        }

    def mirrored_etags(self, aor: str) -> set[str]:
        account = self._accounts.get(aor)
        return {p.etag for p in account.by_etag.values() if p.mirrored} if account is not None else set()

    def drop(self, aor: str) -> bool:
        """Forget every publication of `aor` (its account was removed); whether it had any."""
        account = self._accounts.pop(aor, None)
        if account is None:
            return False
        for publication in account.by_etag.values():
            self._etags.discard(publication.etag)
        return True

    def compose(self, aor: str, *, contact: str | None = None) -> Presence | None:
        """The state of `aor` composed from all its stored publications; None when it has none.

        A deliberately simple composition (RFC 3863 section 4, RFC 4479 section 6 leave it to local policy):

        * entity: `aor`, whatever entity the publishers wrote.
        * Publications are taken newest first (the last initial publication or modification first; a refresh
          does not reorder). Tuples: every tuple of every publication, in that order. A tuple whose id an
          earlier tuple already uses gets `<id>-p<n>`, n fixed for its publication's life (devices likewise).
        * A tuple without <contact> (pjsua2 publishes none) gets `contact`, the account's address-of-record,
          so it says where to reach the user. (Linphone 5.1 aborts on a phone-alias resource with no contact.)
        * Persons merge into one (a presentity is one person): the newest person's id; the activities of all,
          newest first, without repeats (so one device saying "away" makes the person away while it lasts,
          whatever another device says without an activity); user input `active` if any device is active, else
          `idle` if any is idle; the latest timestamp and last input; every note and extension, without repeats.
        * Devices and document-level notes and extensions: all of them, newest first, without repeats.

        This is the full state. What a given watcher sees of it (the privacy gate, the Flexisip-shaped PIDF of a
        phone-alias resource, the legacy form) is decided by the resource-list side, from this value.
        """
        account = self._accounts.get(aor)
        if account is None or not account.by_etag:
            return None
        if account.composed is not None and account.composed[0] == contact:
            return account.composed[1]
        publications = sorted(account.by_etag.values(), key=lambda p: (p.modified_at, p.version), reverse=True)
        tuples: list[PresenceTuple] = []
        devices: list[Device] = []
        persons: list[Person] = []
        tuple_ids: set[str] = set()
        device_ids: set[str] = set()
        for publication in publications:
            document = publication.document
            for item in document.tuples:
                unique = _unique_id(item.id, publication.serial, tuple_ids)
                if unique != item.id or (item.contact is None and contact is not None):
                    filled = item.contact if item.contact is not None else contact
                    tuples.append(replace(item, id=unique, contact=filled))
                else:
                    tuples.append(item)
            for device in document.devices:
                unique = _unique_id(device.id, publication.serial, device_ids)
                devices.append(device if unique == device.id else replace(device, id=unique))
            persons.extend(document.persons)
        composed = Presence(
            entity=aor,
            tuples=tuple(tuples),
            persons=(_merge_persons(persons),) if persons else (),
            devices=tuple(devices),
            notes=_unique_notes(note for p in publications for note in p.document.notes),
            extensions=_unique(ext for p in publications for ext in p.document.extensions),
        )
        account.composed = (contact, composed)
        return composed


def _record(publication: _Publication) -> PublicationRecord:
    return PublicationRecord(
        publication.etag,
        publication.body,
        publication.content_type,
        publication.device,
        publication.expires_at,
        publication.modified_at,
    )


def _unique_id(value: str, serial: int, taken: set[str]) -> str:
    candidate = value or f"p{serial}"
    if candidate in taken:
        candidate = f"{value}-p{serial}"
        suffix = 1
        while candidate in taken:  # a publisher's own ids may collide with the renamed ones too
            suffix += 1
            candidate = f"{value}-p{serial}-{suffix}"
    taken.add(candidate)
    return candidate


_T = TypeVar("_T")


def _unique(items: Iterable[_T]) -> tuple[_T, ...]:
    return tuple(dict.fromkeys(items))


def _unique_notes(notes: Iterable[Note]) -> tuple[Note, ...]:
    kept: dict[tuple[str, str | None], Note] = {}
    for note in notes:
        kept.setdefault((note.text, note.lang), note)
    return tuple(kept.values())


def _merge_persons(persons: list[Person]) -> Person:
    """One person from several, newest first (the rules are in `Publications.compose`)."""
    if len(persons) == 1:
        return persons[0]
    inputs = {p.user_input for p in persons}
    user_input = next((value for value in (UserInput.ACTIVE, UserInput.IDLE) if value in inputs), None)
    last_inputs = [p.last_input for p in persons if p.last_input is not None]
    timestamps = [p.timestamp for p in persons if p.timestamp is not None]
    return Person(
        id=persons[0].id,
        activities=_unique(activity for p in persons for activity in p.activities),
        other_activity=next((p.other_activity for p in persons if p.other_activity), None),
        activity_notes=_unique_notes(note for p in persons for note in p.activity_notes),
        user_input=user_input,
        last_input=max(last_inputs) if last_inputs else None,
        notes=_unique_notes(note for p in persons for note in p.notes),
        timestamp=max(timestamps) if timestamps else None,
        extensions=_unique(ext for p in persons for ext in p.extensions),
    )
