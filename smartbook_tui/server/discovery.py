"""Contact discovery without harvesting, sans-IO: who may find an account by its number, and the quota on the
numbers an account's lists may name.

* **Who can find me by my number** (`DISCOVERABLE`): `everyone` (an entry naming the number shows the account to
  any watcher), `contacts` (only to watchers the account's own lists name, by number or address: whom the privacy
  gate already knows), `nobody` (the number serves calls and recovery only). A watcher who may not find the account
  sees the number exactly as a number without an account. An entry naming the account by its SIP address is not
  discovery: the watcher already knows the account.
* **The quota.** An account may name at most `quota` numbers it has not named before within a sliding `window`
  (`DiscoveryPolicy`). A number named within `memory` costs nothing again, so a resubscription or a re-sent book is
  free, and a book's daily edits cost only their new numbers. Past the quota, the extra numbers are withheld:
  answered as unknown (never as "no account"), and the subscriber is told why.

What an account named is kept in the store (`NamedNumbers.to_bytes`: each number as an integer, the E.164 digits,
with when it was first charged and last named, 24 bytes a number), read when one of its lists is checked and
written back only when something changed: the process holds none of it between subscriptions.
"""

from __future__ import annotations

import sys
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "DISCOVERABLE",
    "Charge",
    "Discoverable",
    "DiscoveryPolicy",
    "NamedNumbers",
    "number_key",
    "numbers_of",
    "quota_warning",
]

Discoverable = Literal["everyone", "contacts", "nobody"]
DISCOVERABLE: tuple[Discoverable, ...] = ("everyone", "contacts", "nobody")

DAY = 86_400.0
# a number named again has its "last named" time moved on at most this often: a book re-sent every few minutes
# writes nothing
_RENAMED_EVERY = DAY


@dataclass(frozen=True, slots=True)
class DiscoveryPolicy:
    """The quota: at most `quota` new numbers in any `window` seconds (0: no quota); a number named within `memory`
    seconds is not new. The defaults take a 10,000-contact book on its first day with 2,000 edits to spare, and
    hold a harvester to 12,000 numbers a day an account, where a list of 10,000 a minute would probe 14.4 million."""

    quota: int = 12_000
    window: float = DAY
    memory: float = 90 * DAY


@dataclass(frozen=True, slots=True)
class Charge:
    """What checking a list came to: the numbers answered as they are, those withheld, and whether the account's
    record changed (and must be written)."""

    allowed: frozenset[int]
    withheld: frozenset[int]
    changed: bool
    charged_in_window: int  # the numbers charged within the window, these included


class NamedNumbers:
    """The numbers one account's lists named: for each, when it was first charged and last named (wall-clock
    seconds), in three parallel arrays."""

    __slots__ = ("_first", "_last", "_numbers")

    def __init__(self, numbers: array[int], first: array[int], last: array[int]) -> None:
        self._numbers, self._first, self._last = numbers, first, last

    @classmethod
    def empty(cls) -> NamedNumbers:
        return cls(array("q"), array("q"), array("q"))

    @classmethod
    def from_bytes(cls, data: bytes) -> NamedNumbers:
        """The record as `to_bytes` wrote it; an empty one for bytes that cannot be one (a damaged row costs the
        account its free re-naming, never an error)."""
        columns = array("q")
        if len(data) % (3 * columns.itemsize):
            return cls.empty()
        columns.frombytes(data)
        if sys.byteorder == "big":
            columns.byteswap()
        count = len(columns) // 3
        return cls(columns[:count], columns[count : 2 * count], columns[2 * count :])

    def to_bytes(self) -> bytes:
        columns = self._numbers + self._first + self._last
        if sys.byteorder == "big":  # the store's bytes are little-endian, whatever machine reads them
            columns.byteswap()
        return columns.tobytes()

    def __len__(self) -> int:
        return len(self._numbers)

    def charged_since(self, since: float) -> int:
        """The numbers first charged after `since`."""
        return sum(1 for first in self._first if first > since)

    def charge(self, numbers: Sequence[int], now: float, policy: DiscoveryPolicy) -> Charge:
        """Check the numbers a list names, in its order: a number named within `policy.memory` is allowed; a new
        one is charged while the window has room, and withheld once it has none."""
        stamp = int(now)
        forget_before = stamp - policy.memory
        kept = [i for i, last in enumerate(self._last) if last >= forget_before]
        changed = len(kept) != len(self._numbers)
        if changed:
            self._numbers = array("q", (self._numbers[i] for i in kept))
            self._first = array("q", (self._first[i] for i in kept))
            self._last = array("q", (self._last[i] for i in kept))
        position = {number: i for i, number in enumerate(self._numbers)}
        charged = self.charged_since(stamp - policy.window)
        allowed: list[int] = []
        withheld: list[int] = []
        for number in numbers:
            i = position.get(number)
            if i is not None:
                allowed.append(number)
                if self._last[i] < stamp - _RENAMED_EVERY:
                    self._last[i] = stamp
                    changed = True
            elif policy.quota <= 0 or charged < policy.quota:
                position[number] = len(self._numbers)
                self._numbers.append(number)
                self._first.append(stamp)
                self._last.append(stamp)
                charged += 1
                allowed.append(number)
                changed = True
            else:
                withheld.append(number)
        return Charge(frozenset(allowed), frozenset(withheld), changed, charged)


def number_key(e164: str) -> int:
    """An E.164 number (`+` and up to 15 digits) as the integer the record keeps: its digits, with no loss."""
    return int(e164[1:])


def numbers_of(keys: Iterable[str]) -> list[int]:
    """The distinct numbers among entry keys (numbers start with `+`, usernames do not), in order."""
    return list(dict.fromkeys(number_key(key) for key in keys if key.startswith("+")))


def quota_warning(withheld: int, policy: DiscoveryPolicy) -> str:
    """What the subscriber is told when numbers of its list were withheld: one sentence its client shows."""
    hours = round(policy.window / 3600)
    span = "today" if hours == 24 else f"in {hours} hours"
    return (
        f"{withheld} numbers of your book were not checked: your book is larger than this service lets you check "
        f"{span} ({policy.quota} new numbers)"
    )
