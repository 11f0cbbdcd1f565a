"""Saving an account to sign in with: the [account] section of the settings file, and its password in a file of its
own beside it (0600, atomically). The first-run form and the Assistant both save through here.

An account the Assistant made or recovered takes the settings file's [account] only when no other account is there:
a signed-in account is never replaced behind the user's back. Then only its password file is written, and what was
saved, where, and how to sign in with it are said (`Saved`)."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from smartbook_tui.config import AccountSettings, ConfigError, load_settings, save_account
from smartbook_tui.password_file import PasswordFileError, write_password_file

from .flows import NewAccount

PASSWORD_FILE_NAME = "password"  # noqa: S105 (a file name)
_UNSAFE = re.compile(r"[^A-Za-z0-9_.+-]")


class SaveError(Exception):
    """The account could not be saved; one line naming the file."""


@dataclass(frozen=True, slots=True)
class Saved:
    account: AccountSettings  # with its password file
    password_file: Path
    config_path: Path
    kept: str | None = None  # the signed-in account, which stays the settings file's; None: this one took its place

    @property
    def in_settings(self) -> bool:
        return self.kept is None

    def sentence(self) -> str:
        """What was saved and where, and how to sign in with an account that did not take the settings' place."""
        if self.kept is None:
            return f"Saved in {self.config_path}, its password in {self.password_file} (readable by you alone)."
        return (
            f"Its password is saved in {self.password_file} (readable by you alone); {self.kept} stays the account "
            f"you sign in with. To sign in with the new one: {sign_in_command(self)}"
        )


def password_file_for(config_path: Path) -> Path:
    """Where the settings file's account keeps its password."""
    return config_path.expanduser().parent / PASSWORD_FILE_NAME


def save_signed_in_account(config_path: Path, account: AccountSettings, password: str) -> None:
    """Write `password` to `account.password_file` and `account` to the settings file. Raises SaveError."""
    if account.password_file is None:
        raise SaveError("the account names no password file")
    try:
        write_password_file(account.password_file, password)
        save_account(config_path, account)
    except (ConfigError, PasswordFileError) as exc:
        raise SaveError(str(exc)) from None
    except OSError as exc:
        raise SaveError(f"cannot write {exc.filename or account.password_file}: {exc.strerror}") from None


def save_new_account(config_path: Path, new: NewAccount, running: AccountSettings | None) -> Saved:
    """Save `new`: as the settings file's account when there is no account or it is this one, else its password
    file alone, named after it. The account is the settings file's own [account] when it has one, else `running`
    (the one this run signs in with, from the flags): an account named by `--sip-uri` for one run never takes over
    the file's account or its password file. Raises SaveError."""
    current = _file_account(config_path) or (running if running is not None and running.sip_uri else None)
    same = current is None or current.sip_uri == new.sip_uri
    if same:
        password_file = password_file_for(config_path)
        if current is not None and current.password_file is not None and current.sip_uri == new.sip_uri:
            password_file = current.password_file  # a recovered account keeps its file
        account = new.settings(password_file)
        save_signed_in_account(config_path, account, new.password)
        return Saved(account, password_file, config_path)
    password_file = config_path.expanduser().parent / f"{PASSWORD_FILE_NAME}-{_UNSAFE.sub('_', new.username)}"
    try:
        write_password_file(password_file, new.password)
    except PasswordFileError as exc:
        raise SaveError(str(exc)) from None
    except OSError as exc:
        raise SaveError(f"cannot write {password_file}: {exc.strerror}") from None
    return Saved(new.settings(password_file), password_file, config_path, kept=current.sip_uri if current else None)


def _file_account(config_path: Path) -> AccountSettings | None:
    try:
        account = load_settings(config_path, missing_ok=True).account
    except ConfigError as exc:
        raise SaveError(str(exc)) from None
    return account if account.sip_uri else None


def sign_in_command(saved: Saved) -> str:
    """The command that opens the app with a saved account that is not the settings file's."""
    account = saved.account
    words = ["smartbook", "--sip-uri", account.sip_uri or "", "--password-file", str(saved.password_file)]
    if account.proxy:
        words += ["--proxy", account.proxy]
    if account.transport:
        words += ["--transport", account.transport]
    return shlex.join(words)
