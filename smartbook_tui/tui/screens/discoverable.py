"""Who can find me by my number: the signed-in account's setting (issue 15), asked of the account API when the modal
opens and saved there with Enter. What goes wrong is one sentence in a notification: the modal closes when the
setting cannot be read, and stays for another try when it cannot be saved."""

from __future__ import annotations

from typing import ClassVar

import httpx
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList, Static
from textual.widgets.option_list import Option

from smartbook_tui.assistant.client import AccountApi, Choice, Discoverability
from smartbook_tui.assistant.discoverable import CHOICES, EXPLANATIONS, sentence, signed_in_auth
from smartbook_tui.assistant.errors import AssistantError
from smartbook_tui.config import AccountSettings

TITLE = "Who can find me by my number"
_NAMES: dict[Choice, str] = {
    "everyone": "Everyone",
    "contacts": "My contacts",
    "nobody": "Nobody",
    "default": "The server's default",
}


class DiscoverableScreen(ModalScreen[Discoverability | None]):
    """The four choices, the one in effect highlighted once the API has said it; Enter saves, Esc leaves."""

    DEFAULT_CSS = """
    #discoverable-choices {
        height: auto;
        margin: 1 0;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss(None)", "Cancel", id="cancel-discoverable")]

    def __init__(self, *, api_url: str | None, account: AccountSettings, password: str | None) -> None:
        super().__init__()
        self.api_url = api_url
        self.account = account
        self.password = password
        self.api: AccountApi | None = None
        self.auth: httpx.Auth | None = None

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="discoverable-box"):
            yield Label(TITLE, classes="dialog-title")
            yield Static(
                "Whose books show that your number has an account. Whoever knows your SIP address still sees you.",
                classes="dialog-text",
            )
            yield OptionList(
                *(
                    Option(Content.assemble((_NAMES[choice], "bold"), "\n", EXPLANATIONS[choice]), id=choice)
                    for choice in CHOICES
                ),
                id="discoverable-choices",
                disabled=True,
            )
            yield Static("Asking the service…", id="discoverable-now", classes="dialog-text", markup=False)
            yield Static("↑↓ choose · Enter saves · Esc cancels", classes="dialog-text")

    def on_mount(self) -> None:
        try:
            self.auth = signed_in_auth(self.account, self.password)
            self.api = AccountApi(self.api_url, ca=self.account.ca)
        except AssistantError as exc:
            self._give_up(str(exc))
            return
        self._read(self.api, self.auth)

    async def on_unmount(self) -> None:
        if self.api is not None:
            await self.api.aclose()

    @work(exclusive=True, group="discoverable")
    async def _read(self, api: AccountApi, auth: httpx.Auth) -> None:
        try:
            setting = await api.discoverable(auth)
        except AssistantError as exc:
            self._give_up(str(exc))
            return
        self.query_one("#discoverable-now", Static).update(sentence(setting))
        choices = self.query_one(OptionList)
        choices.disabled = False
        choices.highlighted = CHOICES.index(setting.choice)
        choices.focus()

    @on(OptionList.OptionSelected)
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        choice = event.option.id
        if choice in CHOICES and self.api is not None and self.auth is not None:
            self._save(self.api, self.auth, choice)  # type: ignore[arg-type]  # one of CHOICES, checked above

    @work(exclusive=True, group="discoverable")
    async def _save(self, api: AccountApi, auth: httpx.Auth, choice: Choice) -> None:
        choices = self.query_one(OptionList)
        choices.disabled = True
        try:
            setting = await api.set_discoverable(choice, auth)
        except AssistantError as exc:
            self.notify(str(exc), title=TITLE, severity="error", timeout=20)
            choices.disabled = False
            choices.focus()
            return
        self.dismiss(setting)

    def _give_up(self, message: str) -> None:
        self.notify(message, title=TITLE, severity="error", timeout=20)
        self.dismiss(None)
