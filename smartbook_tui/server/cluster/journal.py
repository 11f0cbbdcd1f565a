"""What a node's core tells the other nodes, sans-IO: its publications' changes, whom its watchers list (for the
other nodes' privacy gates) and the presentities its watchers start and stop watching, collected between two
drains by the cluster link."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from smartbook_tui.server.publications import PublicationRecord

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
    serial: int = 0  # the drain's number: the link says when it has followed everything up to it (`followed`)


class ClusterJournal:
    def __init__(self) -> None:
        self._changes: list[PresentityChange] = []
        self._watching: dict[str, bool] = {}
        self._listings: dict[str, None] = {}  # usernames whose listing may have changed, in order
        self.serial = 0  # the number of the last drain (`take`)

    @property
    def pending(self) -> bool:
        return bool(self._changes or self._watching or self._listings)

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

    def take(self) -> tuple[ClusterChanges, list[str]]:
        """What changed, and the usernames whose listing is to be told (the caller knows it)."""
        self.serial += 1
        taken = ClusterChanges(self._changes, self._watching, self.serial), list(self._listings)
        self._changes, self._watching, self._listings = [], {}, {}
        return taken
