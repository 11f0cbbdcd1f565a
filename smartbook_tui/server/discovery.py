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

What an account named is kept in the store (`NamedNumbers.to_bytes`: each number, with when it was first charged and
last named, about 29 bytes a number), read when one of its lists is checked and written back only when something
changed: the process holds none of it between subscriptions.
"""

from __future__ import annotations

import bisect
import itertools
import struct
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
    "Limit",
    "NamedNumbers",
    "Tally",
    "numbers_of",
    "quota_refusal",
    "quota_warning",
]

Discoverable = Literal["everyone", "contacts", "nobody"]
DISCOVERABLE: tuple[Discoverable, ...] = ("everyone", "contacts", "nobody")

DAY = 86_400.0
# a number named again has its "last named" time moved on at most this often: a book re-sent every few minutes
# writes nothing
_RENAMED_EVERY = DAY
_COUNT = struct.Struct("<I")  # a record's bytes start with how many numbers it holds


@dataclass(frozen=True, slots=True)
class DiscoveryPolicy:
    """The quota: at most `quota` new numbers in any `window` seconds (0: no quota); a number named within `memory`
    seconds is not new. The defaults take a 10,000-contact book on its first day with 2,000 edits to spare, and
    hold a harvester to 12,000 numbers a day an account, where a list of 10,000 a minute would probe 14.4 million."""

    quota: int = 12_000
    window: float = DAY
    memory: float = 90 * DAY
    # Ceilings on the new numbers charged in a window, whatever the accounts: from one client address (many accounts
    # behind one address, a NAT's users included) and from everyone (0: none).
    per_address: int = 100_000
    overall: int = 2_000_000


@dataclass(frozen=True, slots=True)
class Tally:
    """New numbers charged from one source (a client address, or everyone) in the window that began at
    `window_start` and in the one before: two fixed windows that estimate a sliding one."""

    window_start: float
    current: int = 0
    previous: int = 0

    def count(self, now: float, window: float) -> float:
        """The numbers charged in the last `window` seconds, estimated (the previous window's share of them
        shrinking as the current one goes on)."""
        tally = self.rolled(now, window)
        elapsed = now - tally.window_start
        return tally.current + tally.previous * max(0.0, 1 - elapsed / window)

    def rolled(self, now: float, window: float) -> Tally:
        """The tally with its windows moved on to the one `now` falls in."""
        elapsed = now - self.window_start
        if elapsed < window:
            return self
        if elapsed < 2 * window:
            return Tally(self.window_start + window, 0, self.current)
        return Tally(now)

    def plus(self, charged: int, now: float, window: float) -> Tally:
        tally = self.rolled(now, window)
        return Tally(tally.window_start, tally.current + charged, tally.previous)


@dataclass(frozen=True, slots=True)
class Charge:
    """What checking a list came to: the numbers withheld, and whether the account's record changed (and must be
    written)."""

    withheld: frozenset[str]
    changed: bool
    charged_in_window: int  # the numbers charged within the window, these included
    taken: int  # the numbers charged by this check


class NamedNumbers:
    """The numbers (E.164) one account's lists named, with when each was first charged and last named (wall-clock
    seconds, two parallel arrays), in the order they were first charged."""

    __slots__ = ("_first", "_last", "_numbers")

    def __init__(self, numbers: list[str], first: array[int], last: array[int]) -> None:
        self._numbers, self._first, self._last = numbers, first, last

    @classmethod
    def empty(cls) -> NamedNumbers:
        return cls([], array("q"), array("q"))

    @classmethod
    def from_bytes(cls, data: bytes) -> NamedNumbers:
        """The record as `to_bytes` wrote it: how many numbers, their times (16 bytes a number), then the numbers,
        one a line. An empty one for bytes that cannot be one (a damaged row costs the account its free re-naming,
        never an error)."""
        times = array("q")
        size = _COUNT.size
        if len(data) < size:
            return cls.empty()
        (count,) = _COUNT.unpack_from(data)
        end = size + count * 2 * times.itemsize
        try:
            numbers = data[end:].decode("ascii").split("\n") if count else []
        except UnicodeDecodeError:
            return cls.empty()
        if len(numbers) != count or len(data) < end:
            return cls.empty()
        times.frombytes(data[size:end])
        if sys.byteorder == "big":
            times.byteswap()
        return cls(numbers, times[:count], times[count:])

    def to_bytes(self) -> bytes:
        times = self._first + self._last
        if sys.byteorder == "big":  # the store's bytes are little-endian, whatever machine reads them
            times.byteswap()
        return _COUNT.pack(len(self._numbers)) + times.tobytes() + "\n".join(self._numbers).encode("ascii")

    def __len__(self) -> int:
        return len(self._numbers)

    def charged_since(self, since: float) -> int:
        """The numbers first charged after `since` (the record grows in time order: `_first` is sorted)."""
        return len(self._first) - bisect.bisect_right(self._first, since)

    def charge(self, numbers: Sequence[str], now: float, policy: DiscoveryPolicy, ceiling: int | None = None) -> Charge:
        """Check the distinct numbers a list names, in its order: a number named within `policy.memory` is allowed;
        a new one is charged while the window has room (and while `ceiling` more may be charged), and withheld
        once there is none. In whole-list steps: a book of 10,000 is checked at every subscription."""
        stamp = int(now)
        changed = self._forget(stamp - policy.memory)
        known = set(self._numbers)
        new = [number for number in numbers if number not in known]
        charged = self.charged_since(stamp - policy.window)
        room = len(new) if policy.quota <= 0 else max(0, policy.quota - charged)
        if ceiling is not None:
            room = min(room, max(0, ceiling))
        taken, withheld = new[:room], new[room:]
        renamed_before = stamp - _RENAMED_EVERY
        if known and min(self._last) < renamed_before:  # some named before were not named lately
            changed |= self._renamed(numbers, stamp, renamed_before)
        if taken:
            self._numbers.extend(taken)
            self._first.extend(itertools.repeat(stamp, len(taken)))
            self._last.extend(itertools.repeat(stamp, len(taken)))
            changed = True
        return Charge(frozenset(withheld), changed, charged + len(taken), len(taken))

    def _renamed(self, numbers: Sequence[str], stamp: int, before: int) -> bool:
        """Move on the "last named" time of those of `numbers` last named before `before`; whether any were."""
        position = dict(zip(self._numbers, range(len(self._numbers)), strict=True))
        last = self._last
        moved = False
        for index in map(position.get, numbers):
            if index is not None and last[index] < before:
                last[index] = stamp
                moved = True
        return moved

    def _forget(self, before: int) -> bool:
        """Drop the numbers last named before `before`; whether any were."""
        if not self._last or min(self._last) >= before:
            return False
        kept = [i for i, last in enumerate(self._last) if last >= before]
        self._numbers = [self._numbers[i] for i in kept]
        self._first = array("q", (self._first[i] for i in kept))
        self._last = array("q", (self._last[i] for i in kept))
        return True


def numbers_of(keys: Iterable[str | None]) -> list[str]:
    """The distinct numbers among entry keys (numbers start with `+`, usernames do not; None is no key), in order."""
    return list(dict.fromkeys([key for key in keys if key and key[0] == "+"]))


Limit = Literal["account", "address", "overall"]  # which limit withheld numbers


def quota_warning(withheld: int, policy: DiscoveryPolicy, limit: Limit = "account") -> str:
    """What the subscriber is told when numbers of its list were withheld: one sentence its client shows."""
    hours = round(policy.window / 3600)
    span = "today" if hours == 24 else f"in {hours} hours"
    why = {
        "account": f"your book is larger than this service lets you check {span} ({policy.quota} new numbers)",
        "address": f"this service checks no more new numbers from your network {span}",
        "overall": f"this service checks no more new numbers {span}",
    }[limit]
    return f"{withheld} numbers of your book were not checked: {why}"


def quota_refusal(policy: DiscoveryPolicy) -> str:
    """Why a subscription to one number, or a call to one, is refused once the quota is spent."""
    hours = round(policy.window / 3600)
    span = "a day" if hours == 24 else f"in {hours} hours"
    return f"this service lets you check at most {policy.quota} new numbers {span}: try again later"
