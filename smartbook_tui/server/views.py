"""What one watcher sees of one account: the privacy gate and the Flexisip-shaped PIDF of a resource, sans-IO.

A list entry that names one of the server's accounts (by its SIP address or its verified number) always shows
that the account exists: a tuple with the account's SIP address as `<contact>`, which is what makes a client show
the "has an account" badge and lets the user call or write to it. What else the watcher sees depends on the gate:

* **Allowed** (the account has the watcher in its live subscription, or in its last one when none is live, or it
  opted in to public presence; the watcher has the account in its list, or it would not be asking): the
  live state composed from the account's publications, every tuple carrying a contact; with no live publication,
  the account tuple `closed` (an offline user, still a user).
* **Gated** (everyone else): the account tuple `open`, plus, for RFC clients, a person whose only activity is
  `unknown`, which says "status hidden" (smartbook shows it as such). liblinphone < 5.4 reads `unknown` as Busy,
  so legacy clients get Flexisip's bare `open` + contact, which they show as online, as Linphone users expect of
  Flexisip.

The legacy form also never gets a `closed` account tuple: liblinphone counts a number as a Linphone user only when
its tuple is `open`, so an offline allowed contact is shown to it like a gated one.
"""

from __future__ import annotations

import functools
from dataclasses import replace

from smartbook_tui.presence import (
    Activity,
    BasicStatus,
    Person,
    Presence,
    PresenceTuple,
    build_pidf,
    xml_attribute,
    xml_text,
)

from .notifier import ResourceView

__all__ = ["ACCOUNT_TUPLE_ID", "account_view"]

ACCOUNT_TUPLE_ID = "account"  # the id of the tuple that says the account exists
_HIDDEN_PERSON = Person("hidden", activities=(Activity.UNKNOWN,))


def account_view(entity: str, address: str, live: Presence | None, *, allowed: bool, legacy: bool) -> ResourceView:
    """The view of the account whose SIP address is `address`, listed as `entity` (the entry URI: the account's
    address or a phone alias), for a watcher the gate `allowed` or not; `live` is the account's composed state
    (None when it publishes nothing), its tuples' contacts already filled in. The view carries its PIDF, written
    once: the caller shares it between the watchers that see the same."""
    if allowed and live is not None and live.tuples:
        return ResourceView.account(replace(live, entity=entity), written=True)
    basic = BasicStatus.CLOSED if allowed and not legacy else BasicStatus.OPEN
    hidden = basic is BasicStatus.OPEN and not legacy
    presence = _account_presence(entity, address, basic, hidden)
    # A server resolving a book writes thousands of these at once: each is its form's document with the entity and
    # the address put in, the same bytes as build_pidf writes.
    before_entity, before_address, after_address = _account_document_form(basic, hidden)
    document = f"{before_entity}{xml_attribute(entity)}{before_address}{xml_text(address)}{after_address}"
    return ResourceView(presence, document.encode())


def _account_presence(entity: str, address: str, basic: BasicStatus, hidden: bool) -> Presence:
    persons = (_HIDDEN_PERSON,) if hidden else ()
    return Presence(entity, (PresenceTuple(ACCOUNT_TUPLE_ID, basic, address),), persons)


# Stand-ins for the entity and the address, which build_pidf writes as they are: the form is cut at them.
_ENTITY_MARK, _ADDRESS_MARK = "sip:entity-mark@invalid", "sip:address-mark@invalid"


@functools.cache
def _account_document_form(basic: BasicStatus, hidden: bool) -> tuple[str, str, str]:
    """build_pidf's document of an account presence, cut where its entity and its address go."""
    written = build_pidf(_account_presence(_ENTITY_MARK, _ADDRESS_MARK, basic, hidden)).decode()
    assert written.count(_ENTITY_MARK) == 1
    assert written.count(_ADDRESS_MARK) == 1
    before_entity, _, rest = written.partition(_ENTITY_MARK)
    before_address, _, after_address = rest.partition(_ADDRESS_MARK)
    return before_entity, before_address, after_address
