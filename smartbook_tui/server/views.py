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

from dataclasses import replace

from smartbook_tui.presence import Activity, BasicStatus, Person, Presence, PresenceTuple

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
        presence = replace(live, entity=entity)
    elif allowed and not legacy:
        presence = Presence(entity, tuples=(_account_tuple(address, BasicStatus.CLOSED),))
    else:
        persons = () if legacy else (_HIDDEN_PERSON,)
        presence = Presence(entity, tuples=(_account_tuple(address, BasicStatus.OPEN),), persons=persons)
    return ResourceView.account(presence, written=True)


def _account_tuple(address: str, basic: BasicStatus) -> PresenceTuple:
    return PresenceTuple(ACCOUNT_TUPLE_ID, basic, contact=address)
