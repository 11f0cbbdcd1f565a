"""The discovery quota against the store: each account's record read when one of its lists is checked, charged
(`discovery.NamedNumbers`), and written back when it changed; the ceilings on the new numbers charged from one
client address and from everyone, kept in the store too (`discovery.Tally`). The operator's log names an account
or an address that hits a limit."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from .discovery import DiscoveryPolicy, Limit, NamedNumbers, Tally, numbers_of, quota_warning
from .store import Account, Store, StoreError

__all__ = ["NONE_WITHHELD", "DiscoveryQuota", "Withheld"]

log = logging.getLogger(__name__)

_EVERYONE = "*"  # the tally of every source together


@dataclass(frozen=True, slots=True)
class Withheld:
    """The numbers a check withheld, and the sentence that tells the subscriber why (None when there are none)."""

    numbers: frozenset[str] = frozenset()
    sentence: str | None = None


NONE_WITHHELD = Withheld()


class DiscoveryQuota:
    def __init__(self, store: Store, policy: DiscoveryPolicy, *, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.policy = policy
        self._clock = clock  # wall-clock seconds: the records outlive the process

    def withheld(self, account: Account, keys: Iterable[str | None], source: str | None = None) -> Withheld:
        """The numbers among the entry keys `keys` (numbers, usernames, None) that `account`, asking from the client
        address `source` (None: unknown, such as a dialog restored), may not check now; each other new number is
        charged. With the store out of reach, nothing is withheld: the users go on being served, and the warning
        says so."""
        policy = self.policy
        if policy.quota <= 0:
            return NONE_WITHHELD
        numbers = numbers_of(keys)
        if not numbers:
            return NONE_WITHHELD
        now = self._clock()
        try:
            saved = self.store.named_numbers(account.username, account.domain)
            named = NamedNumbers.from_bytes(saved) if saved is not None else NamedNumbers.empty()
            tallies = self._tallies(source, now)
            ceiling, limit = self._ceiling(tallies, now)
            charge = named.charge(numbers, now, policy, ceiling)
            if charge.changed or charge.withheld:
                self.store.save_named_numbers(
                    account.username,
                    account.domain,
                    named.to_bytes(),
                    charged=charge.charged_in_window,
                    withheld=len(charge.withheld),
                    now=now,
                    forget_before=now - policy.memory,
                )
            if charge.taken and tallies:
                counted = {key: tally.plus(charge.taken, now, policy.window) for key, tally in tallies.items()}
                self.store.save_discovery_tallies(counted, forget_before=now - 2 * policy.window)
        except StoreError as error:
            log.warning("discovery quota not checked for %s: %s", account.name, error)
            return NONE_WITHHELD
        if not charge.withheld:
            return NONE_WITHHELD
        if charge.charged_in_window < policy.quota:  # the account had room: a ceiling withheld them
            log.warning(
                "the discovery ceiling %s is reached: %d numbers of %s's list withheld",
                "of the address " + source if limit == "address" and source else "of the whole service",
                len(charge.withheld),
                account.name,
            )
        else:
            limit = "account"
            log.warning(
                "%s hit the discovery quota: %d numbers of its list withheld (%d new numbers checked in %s h, "
                "quota %d)",
                account.name,
                len(charge.withheld),
                charge.charged_in_window,
                f"{policy.window / 3600:g}",
                policy.quota,
            )
        return Withheld(charge.withheld, quota_warning(len(charge.withheld), policy, limit))

    def _tallies(self, source: str | None, now: float) -> dict[str, Tally]:
        """The tallies this check counts in: its address's (when known and capped) and everyone's (when capped)."""
        policy = self.policy
        wanted = [key for key, cap in ((source, policy.per_address), (_EVERYONE, policy.overall)) if key and cap > 0]
        saved = self.store.discovery_tallies(wanted)
        return {key: saved.get(key) or Tally(now) for key in wanted}

    def _ceiling(self, tallies: dict[str, Tally], now: float) -> tuple[int | None, Limit]:
        """How many new numbers the ceilings still let through, and which one is the tighter (None: no ceiling)."""
        policy = self.policy
        rooms: list[tuple[int, Limit]] = []
        for key, tally in tallies.items():
            cap, limit = (policy.overall, "overall") if key == _EVERYONE else (policy.per_address, "address")
            rooms.append((max(0, int(cap - tally.count(now, policy.window))), limit))
        if not rooms:
            return None, "account"
        return min(rooms)
