"""Requests a second the account API serves, per client address and in all, without I/O: token buckets that say
how long to wait when empty. 0 as a rate lets everything through."""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["RequestLimiter"]

_MAX_ADDRESSES = 100_000  # past this many, the full buckets are forgotten


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class RequestLimiter:
    """`per_address` requests a minute from one address and `overall` a second from everyone, each in bursts of
    up to one minute's (one second's) worth."""

    def __init__(self, per_address: float, overall: float) -> None:
        self.per_address = per_address / 60.0
        self.overall = overall
        self._addresses: dict[str, _Bucket] = {}
        self._everyone = _Bucket(overall, 0.0)

    def admit(self, address: str, now: float) -> tuple[str, int] | None:
        """None to serve the request, else ("too_many_requests" or "busy", seconds to wait). A refused request
        costs nothing."""
        if self.per_address > 0:
            bucket = self._addresses.get(address)
            if bucket is None:
                if len(self._addresses) >= _MAX_ADDRESSES:
                    self._forget_full(now)
                bucket = self._addresses[address] = _Bucket(self.per_address * 60, now)
            wait = _wait(bucket, self.per_address, self.per_address * 60, now)
            if wait is not None:
                return "too_many_requests", wait
        if self.overall > 0:
            wait = _wait(self._everyone, self.overall, self.overall, now)
            if wait is not None:
                return "busy", wait
            self._everyone.tokens -= 1
        if self.per_address > 0:
            self._addresses[address].tokens -= 1
        return None

    def _forget_full(self, now: float) -> None:
        """Forget the buckets full again (they would start full anyway), and if that is not enough the half least
        recently used, so that many addresses cannot grow the table without bound."""
        burst = self.per_address * 60
        kept = sorted(
            (
                (bucket.updated, key, bucket)
                for key, bucket in self._addresses.items()
                if bucket.tokens + (now - bucket.updated) * self.per_address < burst
            ),
            key=lambda entry: entry[0],
        )
        if len(kept) >= _MAX_ADDRESSES:
            kept = kept[len(kept) // 2 :]
        self._addresses = {key: bucket for _, key, bucket in kept}


def _wait(bucket: _Bucket, rate: float, burst: float, now: float) -> int | None:
    bucket.tokens = min(burst, bucket.tokens + max(0.0, now - bucket.updated) * rate)
    bucket.updated = now
    if bucket.tokens >= 1:
        return None
    return max(1, math.ceil((1 - bucket.tokens) / rate))
