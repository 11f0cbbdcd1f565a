"""The backoff on failed digest authentication, sans-IO: a password guesser is slowed by orders of magnitude, and
nobody elsewhere can lock the real user out.

A failed try is a digest response that does not match (a wrong password, or a name with no account: the two are
alike here as everywhere). Three streaks count failures in a row, the address being its `source_key` (an IPv4
address, an IPv6 /64):

* per account and address (the name as sent, and where from): each failure; cleared when that pair signs in;
* per account: the addresses that failed on it, each counted at its first failure in a row (a guesser spread over
  many addresses), so that one address guessing does not hold back the account's user elsewhere; cleared when the
  account signs in (only its password can do that);
* per address, across accounts (a guesser spraying many names): each failure; never cleared by a sign-in, since a
  guesser may have an account of its own, only forgotten after `forget` seconds without a failure.

After `failures` failures in a row on a streak, the next try waits 1 s, and each further failure doubles the wait
(2, 4, 8... s) up to `longest` seconds (`account_longest` for the per-account streak, the one that holds back the
real user on a network new to the account: 60 s by default, so that a guesser spread over many addresses costs
that user a minute at most, while its guesses stay under 1,500 a day for all its addresses together): a try in
that time is refused (the caller answers 503 with Retry-After) without its response being checked, so it is
neither a guess nor a failure. From one address that is `failures`
quick guesses, then about one guess per doubling delay, then one per `longest`: 10 + 10 in the first 17 minutes,
then 6 an hour, where an unchecked guesser makes hundreds a second. The default leaves room for the user's own
client with a mistyped password: at its start it answers a handful of challenges (pjsua answers a REGISTER's twice,
the list subscription its own) before it says the password is wrong, and it should say that, not be held back.

What keeps the real user in: failures from one address hold back only that address (its pair and address
streaks), never the user elsewhere; a guesser sharing the user's address (the same NAT) is the one case that slows
both. An address that signed in to an account within `trust_for` seconds is trusted for it: the per-account and
per-address streaks do not hold it back, only its own pair streak does, which failures from elsewhere never touch.
So a guesser spread over `failures` addresses or more slows those who sign in to that account from an address they
have not used lately (a phone on a new network), never from one they have.

The state is bounded: each table keeps at most `capacity` entries, the least recently used going first, and a
streak quiet for `forget` seconds starts again from nothing.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass

__all__ = ["AuthBackoff"]


@dataclass(slots=True)
class _Streak:
    count: int = 0  # failures in a row
    last: float = -math.inf  # when the last one was
    until: float = -math.inf  # tries wait until then


class _Table:
    """Streaks by key, least recently touched first, at most `capacity` of them."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.streaks: OrderedDict[Hashable, _Streak] = OrderedDict()

    def get(self, key: Hashable) -> _Streak | None:
        return self.streaks.get(key)

    def touch(self, key: Hashable) -> _Streak:
        streak = self.streaks.get(key)
        if streak is None:
            streak = self.streaks[key] = _Streak()
            if len(self.streaks) > self.capacity:
                self.streaks.popitem(last=False)
        else:
            self.streaks.move_to_end(key)
        return streak

    def clear(self, key: Hashable) -> None:
        self.streaks.pop(key, None)


DEFAULT_FAILURES = 10


class AuthBackoff:
    """See the module documentation. `failures` 0 turns the backoff off."""

    def __init__(
        self,
        failures: int = DEFAULT_FAILURES,
        *,
        longest: float = 600.0,
        account_longest: float = 60.0,
        forget: float = 3_600.0,
        trust_for: float = 86_400.0,
        capacity: int = 20_000,
        trusted_capacity: int = 100_000,
    ) -> None:
        if failures < 0:
            raise ValueError("the number of failures before the backoff cannot be negative")
        self.failures = failures
        self.longest = longest
        self.account_longest = account_longest
        self.forget = forget
        self.trust_for = trust_for
        self._pairs = _Table(capacity)
        self._accounts = _Table(capacity)
        self._addresses = _Table(capacity)
        self._trusted: OrderedDict[tuple[str, str], float] = OrderedDict()  # (account, address) -> last sign-in
        self._trusted_capacity = trusted_capacity

    def wait(self, account: str, address: str, now: float) -> float:
        """Seconds a try for `account` from `address` must wait before it is checked; 0: check it now."""
        if not self.failures:
            return 0.0
        streaks = [self._pairs.get((account, address))]
        if not self._trusted_now(account, address, now):
            streaks += [self._accounts.get(account), self._addresses.get(address)]
        until = max((streak.until for streak in streaks if streak is not None), default=0.0)
        return max(0.0, until - now)

    def failed(self, account: str, address: str, now: float) -> float:
        """Count a failed try; the seconds the next try must wait (0 for none)."""
        if not self.failures:
            return 0.0
        pair = self._count(self._pairs, (account, address), now)
        if not self._trusted_now(account, address, now):
            if pair.count == 1:  # the address's first failure on the account in a row
                self._count(self._accounts, account, now, self.account_longest)
            self._count(self._addresses, address, now)
        return self.wait(account, address, now)

    def succeeded(self, account: str, address: str, now: float) -> None:
        """`account` signed in from `address`: its pair and account streaks end, and the address is trusted."""
        if not self.failures:
            return
        self._pairs.clear((account, address))
        self._accounts.clear(account)
        trusted = self._trusted
        trusted[(account, address)] = now
        trusted.move_to_end((account, address))
        if len(trusted) > self._trusted_capacity:
            trusted.popitem(last=False)

    def _trusted_now(self, account: str, address: str, now: float) -> bool:
        return now - self._trusted.get((account, address), -math.inf) <= self.trust_for

    def _count(self, table: _Table, key: Hashable, now: float, longest: float | None = None) -> _Streak:
        streak = table.touch(key)
        if now - streak.last > self.forget:
            streak.count = 0
        streak.count += 1
        streak.last = now
        if streak.count >= self.failures:
            wait = 2.0 ** min(streak.count - self.failures, 64)
            streak.until = now + min(self.longest if longest is None else longest, wait)
        return streak
