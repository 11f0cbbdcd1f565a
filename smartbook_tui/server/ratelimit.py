"""Requests a second from one source, sans-IO: a token bucket per source, the `source_key` of the peer's address
(an IPv4 address, an IPv6 /64), so that one host's many ports or TCP connections share one bucket.

A subscriber learns which numbers have accounts, so a flood is both load and enumeration. Over the limit a source
gets one refusal (the caller answers 503 with Retry-After) a second and silence the rest of the time, so that a
flood is not answered by a flood.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Literal

__all__ = ["SourceLimiter", "Verdict"]

Verdict = Literal["serve", "refuse", "drop"]

_MAX_SOURCES = 100_000  # past this many, the source heard from least recently is forgotten


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float
    refused_at: float = -1.0


class SourceLimiter:
    """`rate` requests a second from each source, in bursts of up to twice that; 0 lets everything through."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self._buckets: OrderedDict[Hashable, _Bucket] = OrderedDict()  # least recently heard from first

    def admit(self, source: Hashable, now: float) -> Verdict:
        """ "serve" the request; over the limit "refuse" (answer 503) at most once a second, else "drop"."""
        rate = self.rate
        if rate <= 0:
            return "serve"
        bucket = self._buckets.get(source)
        if bucket is None:
            if len(self._buckets) >= _MAX_SOURCES:  # one out, one in: never a walk over all of them
                self._buckets.popitem(last=False)
            bucket = self._buckets[source] = _Bucket(2 * rate, now)
        else:
            self._buckets.move_to_end(source)
        bucket.tokens = min(2 * rate, bucket.tokens + (now - bucket.updated) * rate)
        bucket.updated = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return "serve"
        if now - bucket.refused_at < 1.0:
            return "drop"
        bucket.refused_at = now
        return "refuse"
