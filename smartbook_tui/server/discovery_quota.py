"""The discovery quota against the store: each account's record read when one of its lists is checked, charged
(`discovery.NamedNumbers`), and written back when it changed. The operator's log names an account that hits the
quota."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable

from .discovery import DiscoveryPolicy, NamedNumbers, numbers_of
from .store import Account, Store, StoreError

__all__ = ["DiscoveryQuota"]

log = logging.getLogger(__name__)


class DiscoveryQuota:
    def __init__(self, store: Store, policy: DiscoveryPolicy, *, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.policy = policy
        self._clock = clock  # wall-clock seconds: the record outlives the process

    def withheld(self, account: Account, keys: Iterable[str | None]) -> frozenset[str]:
        """The numbers among the entry keys `keys` (numbers, usernames, None) that `account` may not check now; each
        other new number is charged. With the store out of reach, nothing is withheld: the users go on being served,
        and the warning says so."""
        if self.policy.quota <= 0:
            return frozenset()
        numbers = numbers_of(keys)
        if not numbers:
            return frozenset()
        now = self._clock()
        try:
            saved = self.store.named_numbers(account.username, account.domain)
            named = NamedNumbers.from_bytes(saved) if saved is not None else NamedNumbers.empty()
            charge = named.charge(numbers, now, self.policy)
            if charge.changed or charge.withheld:
                self.store.save_named_numbers(
                    account.username,
                    account.domain,
                    named.to_bytes(),
                    charged=charge.charged_in_window,
                    withheld=len(charge.withheld),
                    now=now,
                    forget_before=now - self.policy.memory,
                )
        except StoreError as error:
            log.warning("discovery quota not checked for %s: %s", account.name, error)
            return frozenset()
        if charge.withheld:
            log.warning(
                "%s hit the discovery quota: %d numbers of its list withheld (%d new numbers checked in %s h, "
                "quota %d)",
                account.name,
                len(charge.withheld),
                charge.charged_in_window,
                f"{self.policy.window / 3600:g}",
                self.policy.quota,
            )
        return charge.withheld
