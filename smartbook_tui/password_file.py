"""Passwords in files: the one rule for every password smartbook takes from one (the account's, the CardDAV
server's, a new server account's), since a password never goes on a command line; and saving the account's."""

from __future__ import annotations

from pathlib import Path

from smartbook_tui.atomic_file import write_atomically


class PasswordFileError(ValueError):
    """The file gives no password; the message names it, in one line a person can act on."""


def read_password_file(path: Path, what: str = "the password file") -> str:
    """The password `path` holds: its UTF-8 text (a BOM allowed) without the line breaks around it. Raises
    PasswordFileError, naming the file as `what`, when it cannot be read, is not UTF-8 or holds nothing."""
    path = path.expanduser()
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise PasswordFileError(f"cannot read {what} {path}: {exc.strerror or type(exc).__name__}") from None
    except UnicodeDecodeError:
        raise PasswordFileError(f"{what} {path} is not UTF-8 text") from None
    password = text.strip("\r\n")
    if not password:
        raise PasswordFileError(f"{what} {path} holds no password")
    return password


def write_password_file(path: Path, password: str) -> None:
    """Save `password` alone on one line in `path`, readable by its owner only (0600), atomically: a reader sees
    the old file or the new one. Raises PasswordFileError for a password a file cannot hold, OSError when the
    file cannot be written."""
    if not password or "\n" in password or "\r" in password:
        raise PasswordFileError("a password must be one line, and not empty")
    write_atomically(path.expanduser(), (password + "\n").encode("utf-8"), mode=0o600)
