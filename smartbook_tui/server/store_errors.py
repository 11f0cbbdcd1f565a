"""The store's errors, shared by the store and its database backends. Each message is one line for a person and
never holds a password."""

from __future__ import annotations


class StoreError(Exception):
    """What went wrong with the store, in one line for a person; never a password."""


class InvalidValue(StoreError):
    """A username, domain, password, phone number or URI that the store does not take."""


class AccountExists(StoreError):
    pass


class NoSuchAccount(StoreError):
    pass


class NumberTaken(StoreError):
    """The phone number is another account's already."""


class DatabaseUnusable(StoreError):
    """The database cannot be opened or reached, is not a smartbook database, or was written by a newer
    smartbook."""


def one_line(error: BaseException) -> str:
    """A driver's message on one line (PostgreSQL's span several, with hints)."""
    return " ".join(str(error).split())
