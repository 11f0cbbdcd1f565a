"""What a list subscription's NOTIFYs say, as a stream of per-contact updates (RFC 4662 section 4.4 / 5.2).

The tracker keeps the last RLMI version and what each resource last showed. A full-state NOTIFY replaces
everything (resources it no longer names are reported gone); a partial one changes only what it names. A
version the tracker has already seen is a duplicate (a UDP retransmission, or a reordered packet) and is
ignored; a gap in the versions, or a first NOTIFY that is not full state, means the list is no longer known for
sure: the caller must subscribe again to get a full state (`needs_full_state`).

A server may deliver a long list's full state in pieces (Flexisip, and smartbook's server: a `fullState` NOTIFY
with the first resources, then partial ones with the rest), so a full state alone does not say the whole list has
arrived. `complete` does: every resource the subscriber listed has been named since the subscription began, or
since its list last changed in the dialog (`relist`), or as many resources as it listed, for a server that writes
their URIs its own way; for a list stored on the server, whose entries the subscriber does not know, the first full
state is all it can go by.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from smartbook_tui.presence import (
    NO_PRESENCE,
    InstanceState,
    ListState,
    PresenceSummary,
    ResourceState,
    summarize,
)


@dataclass(slots=True)
class PresenceUpdate:
    """One resource's new view: its summary, or `removed` when the list no longer holds it. A value nothing changes
    once made; not `frozen`, whose construction costs several times as much (a full state makes one a resource)."""

    uri: str
    summary: PresenceSummary
    removed: bool = False
    reason: str | None = None  # why an instance ended (rejected, noresource, ...) or why a part was unreadable


@dataclass(slots=True)
class TrackResult:
    updates: list[PresenceUpdate] = field(default_factory=list)
    needs_full_state: str | None = None  # why the caller must resubscribe, if it must
    duplicate: bool = False
    completed: bool = False  # this NOTIFY made the list complete (see the module docstring)


class ListTracker:
    def __init__(self, lang: str | None = None, expected: Iterable[str] | None = None) -> None:
        self.lang = lang
        self.version: int | None = None
        self._views: dict[str, PresenceUpdate] = {}
        self._expected: frozenset[str] | None = None
        self._missing: set[str] = set()  # listed resources not named yet in this subscription
        self._named: set[str] = set()  # every resource named in this subscription
        self.complete = False
        self.reset(expected)

    def reset(self, expected: Iterable[str] | None = None) -> None:
        """Forget the list (a new subscription starts): the next NOTIFY must be full state. `expected` are the
        resources the new subscription lists (None: a list stored on the server)."""
        self.version = None
        self._expected = frozenset(expected) if expected is not None else None
        self._missing = set(self._expected) if self._expected is not None else set()
        self._named = set()
        self.complete = False

    def relist(self, expected: Iterable[str]) -> None:
        """The subscription's list changed in its dialog (list-delta): `expected` is the new list, whose state is
        yet to arrive; the version goes on, so the server's next full state (a later version) is taken."""
        version = self.version
        self.reset(expected)
        self.version = version

    @property
    def views(self) -> dict[str, PresenceUpdate]:
        return dict(self._views)

    def apply(self, state: ListState) -> TrackResult:
        if self.version is None:
            if not state.full_state:
                return TrackResult(needs_full_state=f"the first NOTIFY (version {state.version}) is not full state")
        elif state.version <= self.version:
            return TrackResult(duplicate=True)
        elif state.version > self.version + 1 and not state.full_state:
            lost = f"NOTIFY version {state.version} follows version {self.version}: some were lost"
            return TrackResult(needs_full_state=lost)
        self.version = state.version
        lang = self.lang
        views = self._views
        seen: dict[str, PresenceUpdate] = {}
        for resource in _flatten(state.resources):
            uri = resource.uri
            if resource.presence is None and not resource.instances and resource.error is None:
                # The usual resource of a big list (a number without an account), without a call; the view it had
                # is kept when it showed nothing either.
                old = views.get(uri)
                if old is not None and old.summary is NO_PRESENCE and old.reason is None:
                    seen[uri] = old
                else:
                    seen[uri] = PresenceUpdate(uri, NO_PRESENCE)
            else:
                seen[uri] = _view(resource, lang)
        updates = [view for uri, view in seen.items() if (old := views.get(uri)) is not view and old != view]
        if state.full_state:
            updates += [PresenceUpdate(uri, NO_PRESENCE, removed=True) for uri in views if uri not in seen]
            self._views = seen
        else:
            views.update(seen)
        return TrackResult(updates=updates, completed=self._note_named(seen, state.full_state))

    def _note_named(self, seen: dict[str, PresenceUpdate], full_state: bool) -> bool:
        """Whether the list has just become complete."""
        if self.complete:
            return False
        if self._expected is None:
            self.complete = full_state
            return full_state
        self._missing.difference_update(seen)
        self._named.update(seen)
        self.complete = not self._missing or len(self._named) >= len(self._expected)
        if self.complete:
            self._missing, self._named = set(), set()
        return self.complete


def _flatten(resources: tuple[ResourceState, ...]) -> tuple[ResourceState, ...] | Iterator[ResourceState]:
    """The resources of a list, those of nested lists included (a nested list stands for its members)."""
    if all(resource.sublist is None for resource in resources):
        return resources  # the usual list, as it is
    return _members(resources)


def _members(resources: tuple[ResourceState, ...]) -> Iterator[ResourceState]:
    for resource in resources:
        if resource.sublist is not None:
            yield from _members(resource.sublist.resources)
        else:
            yield resource


def _view(resource: ResourceState, lang: str | None) -> PresenceUpdate:
    if resource.error is not None:
        return PresenceUpdate(resource.uri, NO_PRESENCE, reason=resource.error)
    presence = resource.presence
    if presence is None and resource.instances:
        ended = next((i for i in resource.instances if i.state is InstanceState.TERMINATED and i.reason), None)
        if ended is not None:
            return PresenceUpdate(resource.uri, NO_PRESENCE, reason=ended.reason)
    return PresenceUpdate(resource.uri, summarize(presence, lang))
