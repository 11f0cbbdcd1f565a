"""Presence updates gathered between two repaints: the screen takes them ~10 times a second in one list, so a
burst of thousands costs one pass over the roster and one repaint, not one each."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from smartbook_tui.subscriber.tracker import PresenceUpdate


class UpdateBatcher:
    def __init__(self) -> None:
        self._pending: dict[str, PresenceUpdate] = {}

    @property
    def pending(self) -> bool:
        return bool(self._pending)

    def add(self, updates: list[PresenceUpdate]) -> None:
        """Keep the updates; a resource's later update replaces its earlier one."""
        pending = self._pending
        for update in updates:
            pending[update.uri] = update

    def take(self) -> list[PresenceUpdate]:
        """Everything gathered since the last take, one update per resource."""
        updates = list(self._pending.values())
        self._pending = {}
        return updates
