"""What a list subscription's NOTIFYs say, as a stream of per-contact updates (RFC 4662 section 4.4 / 5.2).

The tracker keeps the last RLMI version and what each resource last showed. A full-state NOTIFY replaces
everything (resources it no longer names are reported gone); a partial one changes only what it names. A
version the tracker has already seen is a duplicate (a UDP retransmission, or a reordered packet) and is
ignored; a gap in the versions, or a first NOTIFY that is not full state, means the list is no longer known for
sure: the caller must subscribe again to get a full state (`needs_full_state`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from smartbook_tui.presence import (
    NO_PRESENCE,
    InstanceState,
    ListState,
    PresenceSummary,
    ResourceState,
    summarize,
)


@dataclass(frozen=True, slots=True)
class PresenceUpdate:
    """One resource's new view: its summary, or `removed` when the list no longer holds it."""

    uri: str
    summary: PresenceSummary
    removed: bool = False
    reason: str | None = None  # why an instance ended (rejected, noresource, ...) or why a part was unreadable


@dataclass(slots=True)
class TrackResult:
    updates: list[PresenceUpdate] = field(default_factory=list)
    needs_full_state: str | None = None  # why the caller must resubscribe, if it must
    duplicate: bool = False


class ListTracker:
    def __init__(self, lang: str | None = None) -> None:
        self.lang = lang
        self.version: int | None = None
        self._views: dict[str, PresenceUpdate] = {}

    def reset(self) -> None:
        """Forget the list (a new subscription starts): the next NOTIFY must be full state."""
        self.version = None

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
        seen: dict[str, PresenceUpdate] = {}
        for resource in _flatten(state):
            seen[resource.uri] = _view(resource, self.lang)
        updates = [view for uri, view in seen.items() if self._views.get(uri) != view]
        if state.full_state:
            updates += [PresenceUpdate(uri, NO_PRESENCE, removed=True) for uri in self._views if uri not in seen]
            self._views = seen
        else:
            self._views.update(seen)
        return TrackResult(updates=updates)


def _flatten(state: ListState) -> Iterator[ResourceState]:
    """The resources of a list, those of nested lists included (a nested list stands for its members)."""
    for resource in state.resources:
        if resource.sublist is not None:
            yield from _flatten(resource.sublist)
        else:
            yield resource


def _view(resource: ResourceState, lang: str | None) -> PresenceUpdate:
    if resource.error is not None:
        return PresenceUpdate(resource.uri, NO_PRESENCE, reason=resource.error)
    ended = next((i for i in resource.instances if i.state is InstanceState.TERMINATED and i.reason), None)
    if resource.presence is None and ended is not None:
        return PresenceUpdate(resource.uri, NO_PRESENCE, reason=ended.reason)
    return PresenceUpdate(resource.uri, summarize(resource.presence, lang))
