"""The NOTIFY bodies of one resource-list subscription (RFC 4662), sans-IO.

A `ListNotifier` holds, for each entry of one subscriber's list, what the subscriber should see (`ResourceView`,
given by the server once it has resolved phone aliases and applied the privacy gate) and what it was last sent.
It never touches a socket or a clock: the caller passes `now` in, sends the returned bodies at or after their
`due` time (in order: versions must reach the subscriber in sequence), and asks again at `next_due`. Tokens for
the root part's cid, instance ids and boundaries come from the injected `token` callable; a resource's part has
the cid of its view (see `_RENDERED`).

Choices, each mimicking Flexisip's presence server (wire-notes section 2) where it has one:

* **Split full state.** A list longer than `max_resources` (200; at most 100 for a legacy client, which spends
  ~75 us x n^2 of CPU on a NOTIFY of n resources) goes out as one run of NOTIFYs: the first is `fullState="true"`
  with the first chunk, the others are partial with the next chunks, versions +1 each. RFC 4662 says a full-state
  RLMI names every resource, and "absent from a full state" is how a subscriber learns a resource left the list.
  The run is one full state delivered in pieces: the first piece resets the subscriber (liblinphone < 5.4 drops a
  first NOTIFY that is not `version="0" fullState="true"`), the later pieces add resources it has not been told of
  yet, so once the run is through its view is exactly the full state (a subscriber that sent the list knows it is
  through when every entry has been named). The pieces go back to back (each as soon as the previous one is
  answered), so a list arrives as fast as the link and the subscriber take it; only for a legacy client are they
  `SPLIT_DELAY` (500 ms) apart, as Flexisip spaces them, so that liblinphone 5.1 is not handed a burst of
  expensive NOTIFYs. Calling `full_state` again (after a refresh) repeats the run with versions continuing; an RFC
  subscriber then briefly counts the resources past the first chunk as gone until the later pieces arrive, so the
  caller should keep repeated full states for lists that fit one NOTIFY, or accept that.
* **Coalescing.** Changes are sent as partial NOTIFYs naming only the resources whose view differs from what was
  last sent (a resource changed twice goes once, with its latest view; one changed and changed back goes not at
  all). A change after a quiet period goes out at once (`next_due == now`), which keeps the PUBLISH -> NOTIFY
  latency low; changes arriving less than `interval` seconds after the previous NOTIFY wait until that interval
  has passed and go together. A batch of changes larger than `max_resources` is split like the full state.
  `interval` counts from the last NOTIFY of the previous run (whose `due` may be a little after `now`).
* **Versions.** 0 for the first NOTIFY, +1 for each NOTIFY after it, whatever its kind (`version` is the last one
  handed out).
"""

from __future__ import annotations

import bisect
import dataclasses
import functools
import itertools
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from smartbook_tui.presence import (
    Presence,
    PresenceDocumentError,
    build_pidf,
    deflate,
    pidf_part,
    write_list_notify,
    xml_attribute,
)

__all__ = [
    "DEFAULT_INTERVAL",
    "DEFAULT_MAX_RESOURCES",
    "LEGACY_MAX_RESOURCES",
    "NO_ACCOUNT",
    "SPLIT_DELAY",
    "WITHHELD",
    "ListNotifier",
    "NotifyBody",
    "ResourceView",
]

DEFAULT_INTERVAL = 2.0  # seconds between two runs of NOTIFYs of one subscription (Flexisip: 2 s)
DEFAULT_MAX_RESOURCES = 200  # resources in one NOTIFY (Flexisip: 200)
LEGACY_MAX_RESOURCES = 100  # liblinphone < 5.4 takes ~1 s of CPU for a NOTIFY of 100 resources
SPLIT_DELAY = 0.5  # seconds between the NOTIFYs of one split run for a legacy client (Flexisip: 500 ms)

_BOUNDARY_TRIES = 4

# Each view's NOTIFY pieces (escaped URI, cid, multipart part), by (id(view), legacy form): a view is shared by all
# the watchers who see the same, and a change of a watched account goes out in as many NOTIFYs as it has watchers.
# Bounded and global rather than kept on the views, which a server holds thousands of; the view is kept in the
# entry, so an id is never mistaken for another's.
_RENDERED: dict[tuple[int, bool], tuple[ResourceView, str, str, bytes]] = {}
_RENDERED_CAP = 512
_PART_SERIALS = itertools.count(1)


@dataclass(frozen=True, slots=True)
class ResourceView:
    """What a watcher is to see of one list entry: no account (`presence is None`: the resource is listed with no
    active instance, so no PIDF part), or the account's presence as the server composed it for this watcher.

    Build them with `NO_ACCOUNT` / `ResourceView.no_account()` and `ResourceView.account(presence)`.
    """

    presence: Presence | None = None
    document: bytes | None = None  # `presence` written as PIDF, when the caller shares one view between watchers
    # With no presence: why the server tells nothing of the resource (an RLMI instance `terminated` with this
    # reason), rather than listing it with no instance as a number without an account
    ended: str | None = None
    # Every tuple names a contact (and there is one): fit for a phone alias. Worked out once per view, which the
    # server shares between watchers, rather than once per watcher.
    reachable: bool = dataclasses.field(init=False, default=False)

    def __post_init__(self) -> None:
        tuples = self.presence.tuples if self.presence is not None else ()
        object.__setattr__(self, "reachable", bool(tuples) and all(item.contact for item in tuples))

    def __eq__(self, other: object) -> bool:
        """Whether two views show the same; by their written documents when both have one (comparing the records
        behind them field by field costs more than the rest of a change: every PUBLISH asks it of every watcher)."""
        if self is other:
            return True
        if not isinstance(other, ResourceView):
            return NotImplemented
        if self.document is not None and other.document is not None:
            return self.document == other.document
        return self.document == other.document and self.presence == other.presence and self.ended == other.ended

    def __hash__(self) -> int:
        return hash(self.document) if self.document is not None else hash((self.presence, self.ended))

    @property
    def has_account(self) -> bool:
        return self.presence is not None

    @classmethod
    def no_account(cls) -> ResourceView:
        return NO_ACCOUNT

    @classmethod
    def account(cls, presence: Presence, *, written: bool = False) -> ResourceView:
        """The view of an account's `presence`; `written` also serialises it once, for a view that many watchers'
        NOTIFYs will carry."""
        return cls(presence, build_pidf(presence) if written else None)


NO_ACCOUNT = ResourceView()
# A number the discovery quota keeps the subscriber from checking: unknown, never "no account" (`server.discovery`)
WITHHELD = ResourceView(ended="rejected")


class NotifyBody:
    """One NOTIFY's body and the headers that describe it; send it at or after `due`, after every lower version.

    A list's body is written when it is first read (`body`, `content_type`, `content_encoding`), from the views its
    resources had when it was handed out: the pieces of a long list's full state are written as they go out, one
    at a time, not all before the subscription's first NOTIFY (a server answering several big lists at once would
    keep each waiting for all the others' pieces to be written)."""

    __slots__ = ("_write", "_written", "due", "full_state", "resources", "version")

    def __init__(
        self,
        version: int,
        content_type: str,
        content_encoding: str | None,  # "deflate" or None (no Content-Encoding header)
        body: bytes,
        due: float,
        *,
        full_state: bool = False,
        resources: int = 0,  # how many resources its RLMI names
    ) -> None:
        self.version = version
        self.due = due
        self.full_state = full_state
        self.resources = resources
        self._written: tuple[str, str | None, bytes] | None = (content_type, content_encoding, body)
        self._write: Callable[[], tuple[str, str | None, bytes]] | None = None

    @classmethod
    def later(
        cls,
        version: int,
        due: float,
        write: Callable[[], tuple[str, str | None, bytes]],
        *,
        full_state: bool,
        resources: int,
    ) -> NotifyBody:
        """A body that `write` makes (content type, content encoding, body) when it is first read."""
        made = cls(version, "", None, b"", due, full_state=full_state, resources=resources)
        made._written, made._write = None, write
        return made

    def _content(self) -> tuple[str, str | None, bytes]:
        if self._written is None:
            assert self._write is not None
            self._written, self._write = self._write(), None
        return self._written

    @property
    def content_type(self) -> str:
        return self._content()[0]

    @property
    def content_encoding(self) -> str | None:
        return self._content()[1]

    @property
    def body(self) -> bytes:
        return self._content()[2]


class ListNotifier:
    """The NOTIFY bodies of one list subscription; see the module docstring for when each goes out.

    `resources` are the list's entry URIs in order (duplicates after the first are ignored); every resource shows
    "no account" until `set_state` says otherwise. `legacy` selects the form liblinphone < 5.4 requires and caps
    `max_resources` at 100; `deflate` compresses bodies (zlib stream, `Content-Encoding: deflate`) for a
    subscriber whose Accept-Encoding lists deflate.
    """

    def __init__(
        self,
        list_uri: str,
        resources: Sequence[str],
        *,
        legacy: bool,
        deflate: bool,
        interval: float = DEFAULT_INTERVAL,
        max_resources: int = DEFAULT_MAX_RESOURCES,
        token: Callable[[], str],
        first_version: int = 0,
    ) -> None:
        if max_resources < 1:
            raise ValueError(f"max_resources must be at least 1, got {max_resources}")
        if interval < 0:
            raise ValueError(f"interval must not be negative, got {interval}")
        self.list_uri = list_uri
        self.legacy = legacy
        self.deflate = deflate
        self.interval = interval
        self.max_resources = min(max_resources, LEGACY_MAX_RESOURCES) if legacy else max_resources
        self._token = token
        listed = tuple(dict.fromkeys(resources))
        # The entries are kept sorted, so that URI -> index is one plain binary search (a dict would cost ~45 bytes
        # an entry, and a server holds thousands of these); `_listed` gives the list's own order, which full states
        # follow, when it differs (the usual list, sorted by the client, needs none).
        self._uris: tuple[str, ...] = tuple(sorted(listed))
        self._listed: array[int] | None = None
        if listed != self._uris:
            self._listed = array("I", (bisect.bisect_left(self._uris, uri) for uri in listed))
        self._instance_prefix = f"{token()}."  # an entry's instance id is this and its index
        count = len(self._uris)
        self._current: list[ResourceView] = [NO_ACCOUNT] * count
        # index -> the view last sent, for the entries whose current view differs from it (the others were sent as
        # they are): a list of every sent view would cost 8 bytes an entry for what is mostly a copy of _current.
        self._unsent: dict[int, ResourceView] = {}
        self._dirty_since: float | None = None
        self._started = False
        self._next_version = first_version  # above 0 for a dialog restored after a restart: versions never go back
        self._last_due: float | None = None

    # ------------------------------------------------------------------------------------------ inspection

    @property
    def resources(self) -> tuple[str, ...]:
        """The list's entry URIs, in its order."""
        if self._listed is None:
            return self._uris
        return tuple(self._uris[index] for index in self._listed)

    @property
    def event(self) -> str:
        """The Event header value to send: liblinphone < 5.4 ignores NOTIFYs unless it reads `Presence`."""
        return "Presence" if self.legacy else "presence"

    @property
    def version(self) -> int | None:
        """The RLMI version of the last NOTIFY handed out; None before the first."""
        return self._next_version - 1 if self._next_version else None

    @property
    def started(self) -> bool:
        return self._started

    @property
    def changed(self) -> tuple[str, ...]:
        """The resources whose view differs from what was last sent, in URI order."""
        return tuple(self._uris[i] for i in sorted(self._unsent))

    def index_of(self, uri: str) -> int | None:
        """The entry's index (fixed for the subscription's life), or None when `uri` is not an entry."""
        uris = self._uris
        position = bisect.bisect_left(uris, uri)
        return position if position < len(uris) and uris[position] == uri else None

    def uri_at(self, index: int) -> str:
        return self._uris[index]

    def view(self, uri: str) -> ResourceView:
        """What the subscriber is to see of `uri` now."""
        return self._current[self._index(uri)]

    def sent_view(self, uri: str) -> ResourceView:
        """What the subscriber was last sent for `uri` (no account before the first full state)."""
        if not self._started:
            return NO_ACCOUNT
        index = self._index(uri)
        return self._unsent.get(index, self._current[index])

    def instance_id(self, uri: str) -> str:
        """The RLMI instance id of `uri`: the same in every NOTIFY of this subscription."""
        return f"{self._instance_prefix}{self._index(uri)}"

    @property
    def next_due(self) -> float | None:
        """When `pending` will next have something to send; None when nothing waits (or before the full state)."""
        if not self._started or self._dirty_since is None:
            return None
        if self._last_due is None:
            return self._dirty_since
        return max(self._dirty_since, self._last_due + self.interval)

    # ------------------------------------------------------------------------------------------ input

    def set_state(self, uri: str, view: ResourceView, now: float) -> bool:
        """What the subscriber is to see of `uri` from now on (`set_state_at` for the entry's index)."""
        return self.set_state_at(self._index(uri), view, now)

    def set_state_at(self, index: int, view: ResourceView, now: float) -> bool:
        """What the subscriber is to see of the entry at `index` from now on. The PIDF's entity is made the
        resource URI; for a phone alias (`;user=phone`) with an account every tuple must carry a <contact>
        (liblinphone 5.1 aborts on a phone resource's PIDF without one): a view without is refused with ValueError.

        True when the list had nothing to send and now has (`next_due` appeared): only then need the caller look
        at when to send, which saves that look for the other changes of a busy list."""
        uri = self._uris[index]
        presence = view.presence
        if presence is not None:
            if not view.reachable and _is_phone_alias(uri):
                _check_phone_presence(uri, presence)
            if presence.entity != uri:  # (a document written for another entity is dropped)
                view = ResourceView(dataclasses.replace(presence, entity=uri))
        before, self._current[index] = self._current[index], view
        if not self._started:
            return False  # the full state will carry it
        sent = self._unsent.get(index, before)
        if view == sent:
            if self._unsent.pop(index, None) is not None and not self._unsent:
                self._dirty_since = None
        elif index not in self._unsent:
            self._unsent[index] = sent
            if len(self._unsent) == 1:
                self._dirty_since = now
                return True
        return False

    # ------------------------------------------------------------------------------------------ output

    def full_state(self, now: float) -> list[NotifyBody]:
        """The NOTIFYs of the whole list: the first `fullState="true"`, the rest (when the list is longer than
        `max_resources`) partial, back to back (`SPLIT_DELAY` apart for a legacy client). Anything pending is
        included and no longer pending."""
        self._started = True
        self._unsent.clear()
        self._dirty_since = None
        order = self._listed if self._listed is not None else range(len(self._uris))
        return self._run(list(order), full_state=True, now=now)

    def refresh(self, now: float) -> list[NotifyBody]:
        """The NOTIFYs that answer a refresh of the subscription (RFC 6665 4.2.1.2: the current state): the full
        state when the list fits one NOTIFY; for a longer list, what is pending, or else one partial NOTIFY naming
        no resource, so that a split full state is never repeated (see the module docstring)."""
        if not self._started or len(self._uris) <= self.max_resources:
            return self.full_state(now)
        return self._run(self._take_dirty(), full_state=False, now=now)

    def pending(self, now: float) -> list[NotifyBody]:
        """The partial NOTIFYs of what changed since it was last sent, once `next_due` has come; else []."""
        due = self.next_due
        if due is None or now < due:
            return []
        return self._run(self._take_dirty(), full_state=False, now=now)

    # ------------------------------------------------------------------------------------------ internals

    def _take_dirty(self) -> list[int]:
        indices = sorted(self._unsent)
        self._unsent.clear()
        self._dirty_since = None
        return indices

    def _index(self, uri: str) -> int:
        index = self.index_of(uri)
        if index is not None:
            return index
        raise ValueError(f"{uri!r} is not an entry of the list {self.list_uri!r}")

    def _run(self, indices: list[int], *, full_state: bool, now: float) -> list[NotifyBody]:
        size = self.max_resources
        chunks = [indices[start : start + size] for start in range(0, len(indices), size)] or [[]]
        spacing = SPLIT_DELAY if self.legacy else 0.0
        bodies = []
        for number, chunk in enumerate(chunks):
            due = now + number * spacing
            bodies.append(self._notify(chunk, full_state=full_state and number == 0, due=due))
            self._last_due = due
        return bodies

    def _notify(self, indices: list[int], *, full_state: bool, due: float) -> NotifyBody:
        version = self._next_version
        self._next_version += 1
        current = self._current
        views = [current[index] for index in indices]  # as they are now, whenever the body is written
        write = functools.partial(self._body, indices, views, version, full_state)
        return NotifyBody.later(version, due, write, full_state=full_state, resources=len(indices))

    def _body(
        self, indices: list[int], views: list[ResourceView], version: int, full_state: bool
    ) -> tuple[str, str | None, bytes]:
        """(content type, content encoding, body) of the NOTIFY `version` naming the entries at `indices`, which
        show `views`."""
        uris = self._uris
        resources: list[tuple[str, int, str, bytes] | tuple[str, int, None, None]] = []
        ended: dict[int, str] = {}
        for index, view in zip(indices, views, strict=True):
            if view.presence is None:
                resources.append((xml_attribute(uris[index]), index, None, None))
                if view.ended is not None:
                    ended[index] = view.ended
            else:
                uri, cid, part = self._rendered(view, uris[index])
                resources.append((uri, index, cid, part))
        content_type, body = self._write(resources, ended, version, full_state)
        if self.deflate:
            return content_type, "deflate", deflate(body)
        return content_type, None, body

    def _rendered(self, view: ResourceView, uri: str) -> tuple[str, str, bytes]:
        """(the URI escaped for an attribute, the cid, the multipart part) of an account's view, made once for all
        the NOTIFYs that carry it while it is recent (see `_RENDERED`)."""
        key = (id(view), self.legacy)
        rendered = _RENDERED.get(key)
        if rendered is None or rendered[0] is not view:
            if len(_RENDERED) >= _RENDERED_CAP:
                _RENDERED.clear()
            cid = f"p{next(_PART_SERIALS):x}"  # unique in the process, so in every NOTIFY that carries it
            assert view.presence is not None
            document = view.document if view.document is not None else build_pidf(view.presence)
            rendered = (view, xml_attribute(uri), xml_attribute(cid), pidf_part(cid, document, legacy=self.legacy))
            _RENDERED[key] = rendered
        return rendered[1], rendered[2], rendered[3]

    def _write(
        self,
        resources: list[tuple[str, int, str, bytes] | tuple[str, int, None, None]],
        ended: dict[int, str],
        version: int,
        full_state: bool,
    ) -> tuple[str, bytes]:
        # The writer refuses a boundary that happens to occur inside a part: draw another (an error that is not
        # about the boundary fails every try and is raised).
        root_cid = f"{self._token()}.rlmi"
        tries = 0
        while True:
            boundary = self._token()
            try:
                return write_list_notify(
                    self.list_uri,
                    version,
                    full_state,
                    resources,
                    ended=ended,
                    instance_prefix=self._instance_prefix,
                    root_cid=root_cid,
                    boundary=boundary,
                    legacy=self.legacy,
                )
            except PresenceDocumentError:
                tries += 1
                if tries >= _BOUNDARY_TRIES:
                    raise


def _is_phone_alias(uri: str) -> bool:
    """Whether the URI carries `user=phone` among its parameters (any case, URI headers ignored)."""
    if "user=phone" not in uri.replace(" ", "").lower():  # the usual answer, without splitting the URI
        return False
    head = uri.partition("?")[0]
    if ";" not in head:
        return False
    return any(param.replace(" ", "").lower() == "user=phone" for param in head.split(";")[1:])


def _check_phone_presence(uri: str, presence: Presence) -> None:
    if not presence.tuples:
        raise ValueError(f"the presence of the phone alias {uri!r} has no tuple: it needs one with a <contact>")
    for item in presence.tuples:
        if not item.contact:
            raise ValueError(
                f"tuple {item.id!r} of the phone alias {uri!r} has no <contact>; liblinphone 5.1 aborts on it:"
                " give the account's SIP address"
            )
