"""What a node's core tells the other nodes, sans-IO: its publications' changes, whom its watchers list (for the
other nodes' privacy gates), its users' registrations (for the calls other nodes route), the presentities its
watchers start and stop watching and the registrations it asks for, collected between two drains by the cluster
link."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from smartbook_tui.server.publications import PublicationRecord
from smartbook_tui.server.store import SavedBinding

__all__ = ["ClusterChanges", "ClusterJournal", "PresentityChange"]


@dataclass(frozen=True, slots=True)
class PresentityChange:
    """For `aor`: the publications `removed` (ETags) are gone and `record` (if any) is live; `listed`, when not
    None, is whom the presentity's own live subscriptions list now."""

    aor: str
    removed: tuple[str, ...] = ()
    record: PublicationRecord | None = None
    listed: tuple[str, ...] | None = None


@dataclass(slots=True)
class ClusterChanges:
    changes: list[PresentityChange] = field(default_factory=list)
    watching: dict[str, bool] = field(default_factory=dict)  # AOR -> watched from now (True) or no longer (False)
    registrations: dict[str, list[SavedBinding]] = field(default_factory=dict)  # AOR -> its bindings here now
    lookups: list[str] = field(default_factory=list)  # AORs whose registrations on other nodes a call waits for
    serial: int = 0  # the drain's number: the link says when it has followed everything up to it (`followed`)


class ClusterJournal:
    def __init__(self) -> None:
        self._changes: list[PresentityChange] = []
        self._watching: dict[str, bool] = {}
        self._listings: dict[str, None] = {}  # usernames whose listing may have changed, in order
        self._registered: dict[str, None] = {}  # AORs whose bindings changed here
        self._lookups: dict[str, None] = {}
        self.serial = 0  # the number of the last drain (`take`)

    @property
    def pending(self) -> bool:
        return bool(self._changes or self._watching or self._listings or self._registered or self._lookups)

    @property
    def new_watches(self) -> bool:
        """Presentities are to be followed that were not: what other nodes hold of them is not here yet."""
        return any(self._watching.values())

    def published(self, aor: str, removed: Sequence[str], record: PublicationRecord | None) -> None:
        self._changes.append(PresentityChange(aor, tuple(removed), record))

    def watch(self, aor: str, watched: bool) -> None:
        """`aor` is now watched here, or no longer; the opposite news not yet taken cancels out."""
        if self._watching.get(aor) is (not watched):
            del self._watching[aor]
        else:
            self._watching[aor] = watched

    def listing_changed(self, username: str) -> None:
        self._listings[username] = None

    def registered(self, aor: str) -> None:
        self._registered[aor] = None

    def look_up(self, aor: str) -> None:
        """A call waits for `aor`'s registrations on other nodes (`PresenceServer.bindings_found`)."""
        self._lookups[aor] = None

    def take(self) -> tuple[ClusterChanges, list[str], list[str]]:
        """What changed; the usernames whose listing, and the AORs whose bindings, are to be told (the caller knows
        them)."""
        self.serial += 1
        changes = ClusterChanges(self._changes, self._watching, {}, list(self._lookups), self.serial)
        taken = changes, list(self._listings), list(self._registered)
        self._changes, self._watching, self._listings, self._registered, self._lookups = [], {}, {}, {}, {}
        return taken
