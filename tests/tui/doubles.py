"""A session double for the rendering tests (snapshots): it says a fixed script of the session's events, then
waits to be stopped, and records what the app asked of it. The pilot tests use the real Session."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from smartbook_tui.phone.states import OwnStatus
from smartbook_tui.roster.events import SessionEvent
from smartbook_tui.roster.session_calls import SessionCalls


class ScriptedSession:
    def __init__(self, events: Sequence[SessionEvent]) -> None:
        self.events = list(events)
        self.presence: list[tuple[OwnStatus, str | None]] = []
        self.shared: list[bool] = []
        self.stopped = False
        self._stop = asyncio.Event()
        self._on_event: Callable[[SessionEvent], None] | None = None
        # No phone: a call is refused as the real session refuses it before its phone is up.
        self.calls = SessionCalls("sip:alice@example.org", Path(tempfile.mkdtemp()) / "calls.json", self.say)

    async def run(self, on_event: Callable[[SessionEvent], None]) -> None:
        self._on_event = on_event
        for event in self.events:
            on_event(event)
        await self._stop.wait()

    def say(self, event: SessionEvent) -> None:
        """Tell the app one more event, as the session would from the loop."""
        assert self._on_event is not None
        self._on_event(event)

    def stop(self) -> None:
        self.stopped = True
        self._stop.set()

    def set_presence(self, status: OwnStatus, note: str | None) -> None:
        self.presence.append((status, note))

    def share_book(self, allowed: bool) -> None:
        self.shared.append(allowed)
