"""The command palette's commands: the same intentions as the keys, found by name."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import TYPE_CHECKING, cast

from textual.command import DiscoveryHit, Hit, Hits, Provider

if TYPE_CHECKING:
    from smartbook_tui.tui.app import SmartbookApp


class SmartbookCommands(Provider):
    """Each command runs an action of the main screen or of the app, as its key would."""

    @property
    def _app(self) -> SmartbookApp:
        return cast("SmartbookApp", self.app)

    def _commands(self) -> Iterator[tuple[str, str, str]]:
        service = self._app.service_name
        yield f"Toggle “{service} users only”", "Show only contacts with an account, or everyone (l)", "toggle_users"
        yield "Search", "Find contacts by name, number or SIP address (/)", "search"
        yield "Sort by name or status", "Switch the table's order (s)", "sort"
        yield "Set my presence", "Online, away, busy, do not disturb or offline, with a note (p)", "app.presence"
        yield "Call", "Call the selected contact (Enter or c)", "app.call"
        yield "Calls", "Missed, incoming and outgoing calls; call one back (r)", "app.call_log"
        if self._app.calls.current is not None:
            yield "Hang up", "End the call (h)", "app.hang_up"
            yield "Mute or unmute", "The microphone in the call (m)", "app.mute"
            yield "Hold or resume", "The call (o)", "app.hold"
        if self._app.book_shared:
            yield (
                "Stop sharing my book",
                f"Unsubscribe; the book's numbers are no longer sent to {service}",
                "app.unshare_book",
            )
        else:
            yield (
                "Share my book",
                f"Send the book's numbers to {service} to see who has an account (b)",
                "app.share_book",
            )
        yield (
            "Assistant: create an account",
            "A new account from your phone number, proven by an SMS code",
            "app.assistant('create')",
        )
        if self._app.options.settings.account.sip_uri:
            yield (
                "Assistant: link a phone number",
                "Make a number your account's, proven by an SMS code",
                "app.assistant('link')",
            )
            yield (
                "Account: who can find me by my number",
                "Everyone, only your contacts, or nobody sees that your number has an account",
                "app.discoverable",
            )
        yield (
            "Assistant: recover an account",
            "A new password, with the code sent to the account's number",
            "app.assistant('recover')",
        )
        yield "Help", "Every key, the log file and the settings file (?)", "app.help"
        yield "Quit", "Stop the session and leave (q)", "app.quit"

    def _run(self, action: str) -> None:
        self.app.call_later(self.app.run_action, action, self._app.main)

    async def discover(self) -> Hits:
        for title, help_text, action in self._commands():
            yield DiscoveryHit(title, partial(self._run, action), help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, action in self._commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), partial(self._run, action), text=title, help=help_text)
