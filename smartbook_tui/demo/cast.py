"""The demo's cast, read from a TOML file (fixtures/demo/cast.toml): the account the app opens as and the demo users
of the server, with the statuses they go through. Every mistake in the file is a `CastError` of one line."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smartbook_tui.presence import Availability
from smartbook_tui.server.store import checked_domain, is_e164

__all__ = ["Cast", "CastError", "DemoUser", "Step", "load_cast"]

STATUSES = tuple(status for status in Availability if status is not Availability.UNKNOWN)


class CastError(ValueError):
    """The cast file cannot be used; the message says where and why."""


@dataclass(frozen=True, slots=True)
class Step:
    status: Availability
    note: str | None = None


@dataclass(frozen=True, slots=True)
class DemoUser:
    username: str
    password: str
    phone: str | None = None  # E.164
    public_presence: bool = False
    statuses: tuple[Step, ...] = ()  # published in turn, for ever; none: never signs in
    joins: bool = False  # gets `phone` only after the demo's join delay
    calls_you: bool = False  # calls the demo's account once, after the demo's call delay


@dataclass(frozen=True, slots=True)
class Cast:
    domain: str
    me: DemoUser  # the account the app opens as
    users: tuple[DemoUser, ...]

    @property
    def me_uri(self) -> str:
        return f"sip:{self.me.username}@{self.domain}"


def load_cast(path: Path) -> Cast:
    try:
        with path.open("rb") as handle:
            document = tomllib.load(handle)
    except OSError as exc:
        raise CastError(f"cannot read the demo's cast {path}: {exc.strerror or type(exc).__name__}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise CastError(f"{path} is not valid TOML: {exc}") from None
    try:
        domain = checked_domain(_text(document, "domain", "the file"))
        me = _user(_table(document.get("me"), "[me]"), "[me]")
        users = tuple(
            _user(_table(entry, f"[[user]] number {index}"), f"[[user]] number {index}")
            for index, entry in enumerate(_list(document.get("user", []), "[[user]]"), 1)
        )
    except ValueError as exc:
        raise CastError(f"{path}: {exc}") from None
    names = [me.username] + [user.username for user in users]
    phones = [user.phone for user in (me, *users) if user.phone]
    if len(set(names)) < len(names) or len(set(phones)) < len(phones):
        raise CastError(f"{path}: two users have the same username or phone")
    return Cast(domain, me, users)


def _user(table: dict[str, Any], where: str) -> DemoUser:
    phone = table.get("phone")
    if phone is not None and not (isinstance(phone, str) and is_e164(phone)):
        raise ValueError(f"{where}: phone must be E.164 without spaces, e.g. +33612345678")
    joins = _flag(table, "joins", where)
    if joins and phone is None:
        raise ValueError(f"{where}: a user who joins needs the phone they join with")
    statuses = tuple(_step(_table(step, where), where) for step in _list(table.get("statuses", []), where))
    calls_you = _flag(table, "calls_you", where)
    if calls_you and not statuses:
        raise ValueError(f"{where}: a user who calls you signs in: give them statuses")
    return DemoUser(
        username=_text(table, "username", where),
        password=_text(table, "password", where),
        phone=phone,
        public_presence=_flag(table, "public_presence", where),
        statuses=statuses,
        joins=joins,
        calls_you=calls_you,
    )


def _step(table: dict[str, Any], where: str) -> Step:
    status = table.get("status")
    if status not in STATUSES:
        raise ValueError(f"{where}: status {status!r} is none of {', '.join(STATUSES)}")
    note = table.get("note")
    if note is not None and not isinstance(note, str):
        raise ValueError(f"{where}: a note is text")
    return Step(Availability(status), note or None)


def _text(table: dict[str, Any], key: str, where: str) -> str:
    value = table.get(key)
    if not isinstance(value, str) or not value:
        raise ValueError(f"{where}: {key} must be some text")
    return value


def _flag(table: dict[str, Any], key: str, where: str) -> bool:
    value = table.get(key, False)
    if not isinstance(value, bool):
        raise ValueError(f"{where}: {key} is true or false")
    return value


def _table(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"{where} is missing or not a table")
    return value


def _list(value: object, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise ValueError(f"{where}: expected a list")
    return value
