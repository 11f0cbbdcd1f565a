"""Who can find the signed-in account by its number (issue 15), as the account API's `me/discoverable` says it:
the choices, a line explaining each, and the sentence that tells a person what is in effect. The CLI and the
app's modal both speak through this module, so that they say the same things."""

from __future__ import annotations

import httpx

from smartbook_tui.config import AccountSettings

from .client import Choice, Discoverability
from .errors import NO_ACCOUNT, AssistantError
from .flows import account_auth

__all__ = ["CHOICES", "EXPLANATIONS", "sentence", "signed_in_auth"]

CHOICES: tuple[Choice, ...] = ("everyone", "contacts", "nobody", "default")
EXPLANATIONS: dict[Choice, str] = {
    "everyone": "anyone who has your number sees you have an account",
    "contacts": "only people in your own book see you have an account",
    "nobody": "your number serves calls and recovery only",
    "default": "whatever the service chooses for accounts that do not say",
}


def sentence(setting: Discoverability) -> str:
    """ "Who can find you by your number: nobody (your number serves calls and recovery only)."."""
    whose = ", the server's default" if setting.default else ""
    return f"Who can find you by your number: {setting.value}{whose} ({EXPLANATIONS[setting.value]})."


def signed_in_auth(account: AccountSettings, password: str | None) -> httpx.Auth:
    """The signed-in account's credentials, as `account_auth`, with a sentence about this task when there is none."""
    if not account.sip_uri or not password:
        raise AssistantError(
            NO_ACCOUNT,
            "No account is signed in: set one up first (or give --sip-uri and --password-file) to say who can find "
            "it by its number.",
        )
    return account_auth(account, password)
