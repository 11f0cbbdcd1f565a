"""The call bar, above the status bar while a call is under way: with whom, where the call is and for how long,
muted or held, and the keys that act on it. Hidden when there is no call."""

from __future__ import annotations

import time

from textual.content import Content
from textual.timer import Timer
from textual.widgets import Static

from smartbook_tui.phone.states import CallInfo, CallState
from smartbook_tui.tui.presentation import STATUS_STYLES, call_state_text

_TICKING = (CallState.CONFIRMED, CallState.ON_HOLD)  # a length that grows on screen


class CallBar(Static):
    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.display = False
        self._calls: list[tuple[CallInfo, str]] = []
        self._current: int | None = None
        self._clock: Timer | None = None

    def show(self, calls: list[tuple[CallInfo, str]], current: int | None) -> None:
        """The calls under way, each with the name to show for the other side (oldest first), and the id of the
        one the keys act on."""
        self._calls = calls
        self._current = current
        self.display = bool(calls)
        ticking = any(call.state in _TICKING for call, _ in calls)
        if ticking and self._clock is None:
            self._clock = self.set_interval(1.0, self._paint)
        elif not ticking and self._clock is not None:
            self._clock.stop()
            self._clock = None
        self._paint()

    def _paint(self) -> None:
        now = time.time()
        parts: list[tuple[str, str] | str] = []
        several = len(self._calls) > 1
        for call, name in self._calls:
            words, colour = call_state_text(call, now)
            if parts:
                parts.append("\n")
            mark = "▶ " if several and call.id == self._current else ""  # which one the keys act on
            parts += [mark, "☎ ", (name, "bold"), "  ", (words, STATUS_STYLES[colour])]
            if call.muted:
                parts += ["  ", ("muted", "$warning bold")]
            if call.id == self._current:
                mute = "unmute" if call.muted else "mute"
                hold = "resume" if call.held else "hold"
                parts += ["    ", (f"h hang up · m {mute} · o {hold} · 0-9 * # tones", "dim")]
        self.update(Content.assemble(*parts))
