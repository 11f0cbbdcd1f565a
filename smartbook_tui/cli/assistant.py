"""`smartbook assistant create|link|recover --phone N`: an account from a phone number, a number linked to the
signed-in account, an account recovered by its number; each proven with the code the service sends by SMS, typed
here (Enter alone asks for a new one). The account made or recovered is saved (`assistant.saving`).
`smartbook assistant discoverable [CHOICE]` says, or sets, who can find the signed-in account by its number."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

import httpx

from smartbook_tui.assistant.client import AccountApi, Choice
from smartbook_tui.assistant.discoverable import CHOICES, EXPLANATIONS, sentence, signed_in_auth
from smartbook_tui.assistant.errors import CODE_WORDS, NEW_CODE_WORDS, AssistantError
from smartbook_tui.assistant.flows import (
    CodeFlow,
    CreateAccount,
    LinkNumber,
    NewAccount,
    RecoverAccount,
    account_auth,
    read_code,
)
from smartbook_tui.assistant.phone_entry import read_phone, shown_number
from smartbook_tui.assistant.saving import SaveError, save_new_account
from smartbook_tui.config import Settings, load_settings, settings_path
from smartbook_tui.contacts.phones import default_region
from smartbook_tui.password_file import PasswordFileError

from .messages import fail
from .options import (
    add_account_api_argument,
    add_session_arguments,
    merge_session_settings,
    read_password,
)

Result = TypeVar("Result")

_ACTIONS = {
    "create": "make an account whose number is PHONE (its user name: --username, else the number)",
    "link": "make PHONE the number of the signed-in account (--sip-uri and its password)",
    "recover": "give the account whose number is PHONE a new password",
}


class _Stopped(Exception):
    """The user gave no answer (end of input)."""


def add_arguments(assistant: argparse.ArgumentParser) -> None:
    assistant.description = (
        "Make an account from a phone number, link a number to your account, or recover an account by its "
        "number, through the server's account API (--account-api). The service sends a code by SMS; type it "
        "when asked. The account made or recovered is saved in the settings file, its password in a file beside "
        "it readable by you alone (an account other than the one already set up: its password file alone)."
    )
    actions = assistant.add_subparsers(dest="assistant_command", required=True, metavar="ACTION")
    for name, summary in _ACTIONS.items():
        action = actions.add_parser(name, help=summary, description=summary[0].upper() + summary[1:] + ".")
        action.add_argument("--phone", required=True, metavar="PHONE", help="a mobile number, e.g. +33612345678")
        add_account_api_argument(action, suppress=True)
        if name == "create":  # the new account's; the signed-in account's is `smartbook --username`'s
            action.add_argument(
                "--username", dest="new_username", metavar="USER", help="the user name (default: the number itself)"
            )
        if name == "link":
            add_session_arguments(action, suppress=True)
        action.set_defaults(run=run)
    _add_discoverable(actions)


def _add_discoverable(actions: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    summary = "say who can find the signed-in account by its number, or set it with CHOICE"
    action = actions.add_parser("discoverable", help=summary, description=summary[0].upper() + summary[1:] + ".")
    action.add_argument(
        "choice",
        nargs="?",
        choices=CHOICES,
        metavar="CHOICE",
        help="; ".join(f"{choice}: {EXPLANATIONS[choice]}" for choice in CHOICES)
        + " (the server's --discoverable). Without CHOICE, the setting in effect is shown",
    )
    add_account_api_argument(action, suppress=True)
    add_session_arguments(action, suppress=True)
    action.set_defaults(run=run_discoverable)


def run_discoverable(args: argparse.Namespace) -> int:
    try:
        settings = merge_session_settings(args, load_settings(args.config, missing_ok=True))
        auth = signed_in_auth(settings.account, read_password(settings.account))
        return asyncio.run(_discoverable(args.account_api or settings.app.account_api, settings, auth, args.choice))
    except (ValueError, OSError) as exc:  # ConfigError and PasswordFileError included
        return fail(str(exc))
    except AssistantError as exc:
        return fail(str(exc))


async def _discoverable(url: str | None, settings: Settings, auth: httpx.Auth, choice: Choice | None) -> int:
    async with AccountApi(url, ca=settings.account.ca) as api:
        setting = await (api.discoverable(auth) if choice is None else api.set_discoverable(choice, auth))
    print(sentence(setting))
    return 0


def run(args: argparse.Namespace) -> int:
    try:
        settings = merge_session_settings(args, load_settings(args.config, missing_ok=True))
        region = default_region(settings.region)
    except (ValueError, OSError) as exc:  # ConfigError included
        return fail(str(exc))
    entry = read_phone(args.phone, region)
    if entry.e164 is None:
        hint = "" if region else " Or give the region of national numbers: smartbook --region FR assistant ..."
        return fail((entry.problem or "Give the number with --phone.") + hint)
    try:
        return asyncio.run(_run(args, settings, entry.e164))
    except AssistantError as exc:
        return fail(str(exc))
    except (_Stopped, KeyboardInterrupt):
        return fail("stopped: nothing was saved")


async def _run(args: argparse.Namespace, settings: Settings, phone: str) -> int:
    async with AccountApi(args.account_api or settings.app.account_api, ca=settings.account.ca) as api:
        if args.assistant_command == "link":
            try:
                password = read_password(settings.account)
            except PasswordFileError as exc:
                return fail(str(exc))
            link = LinkNumber(api, phone, account_auth(settings.account, password))
            linked = await _with_code(link, link.confirm)
            print(f"{shown_number(linked.phone)} is now the number of sip:{linked.username}@{linked.domain}.")
            return 0
        if args.assistant_command == "create":
            create = CreateAccount(api, phone, args.new_username)
            new = await _with_code(create, create.confirm)
            done = f"The account {new.sip_uri} is made and activated"
        else:
            recover = RecoverAccount(api, phone)
            chosen: list[str] = []  # asked once, after the first code typed

            async def confirm(code: str) -> NewAccount:
                if not chosen:
                    chosen.append(await _new_password())
                return await recover.confirm(code, chosen[0])

            new = await _with_code(recover, confirm)
            done = f"The account {new.sip_uri} has its new password"
    config = settings_path(args.config)
    try:
        saved = save_new_account(config, new, settings.account)
    except SaveError as exc:
        return fail(f"{done}, but it could not be saved: {exc}")
    print(f"{done}. {saved.sentence()}")
    return 0


async def _with_code(flow: CodeFlow, confirm: Callable[[str], Awaitable[Result]]) -> Result:
    """Send the code, then ask for it until it is confirmed; Enter alone asks for a new one."""
    await flow.send_code()
    _say(flow.sent_sentence(first=True))
    while True:
        typed = await _ask("Code (Enter alone sends a new one): ")
        if not typed.strip():
            wait = flow.resend_in()
            if wait:
                _say(f"A new code can be sent in {wait:.0f} s.")
            else:
                await flow.send_code()
                _say(flow.sent_sentence(first=False))
            continue
        code = read_code(typed)
        if code is None:
            _say("The code is the 4 digits of the SMS.")
            continue
        try:
            return await confirm(code)
        except AssistantError as exc:
            if exc.word not in CODE_WORDS:
                raise
            if exc.word in NEW_CODE_WORDS:
                flow.code_gone()
                _say(f"{exc} Press Enter for a new code.")
            else:
                _say(str(exc))


async def _new_password() -> str:
    first = await _ask("New password: ", secret=True)
    if not first or "\n" in first or "\r" in first:
        raise AssistantError("invalid_password", "A password is one line, and not empty: nothing was changed.")
    if sys.stdin.isatty() and await _ask("The same password again: ", secret=True) != first:
        raise AssistantError("invalid_password", "The two passwords typed differ: nothing was changed.")
    return first


async def _ask(prompt: str, *, secret: bool = False) -> str:
    """A line typed on the terminal (without echo for a secret), or read from standard input when it is not one."""
    if sys.stdin.isatty():
        ask = getpass.getpass if secret else input
        try:
            return await asyncio.to_thread(ask, prompt)
        except EOFError:
            raise _Stopped from None
    print(prompt, end="", file=sys.stderr, flush=True)
    line = await asyncio.to_thread(sys.stdin.readline)
    if not line:
        raise _Stopped
    print(file=sys.stderr)
    return line.rstrip("\r\n")


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
