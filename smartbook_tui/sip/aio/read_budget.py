"""How many messages a second each source may have read: a token bucket per `source_key` (an IPv4 address, an IPv6
/64), so that one flooding address cannot starve the others. Over UDP it is checked before a datagram is parsed
(`admit`: read it, or drop it unread), so a flood costs a lookup per datagram rather than a parse; over TCP and TLS
the messages framed are charged afterwards (`charge`), and the connection stops being read until the debt is paid,
so the flooder's own socket buffers hold it back."""

from __future__ import annotations

__all__ = ["ReadBudget"]

_MAX_SOURCES = 65_536  # buckets kept; past it, the full ones (sources quiet for a second) are forgotten


class ReadBudget:
    """`rate` messages a second per source, in bursts of up to a second's worth. The methods take the loop's clock,
    so a test can give them its own."""

    def __init__(self, rate: float, max_sources: int = _MAX_SOURCES) -> None:
        if rate <= 0 or max_sources < 1:
            raise ValueError("a read budget needs a positive rate and room for a source")
        self.rate = rate
        self._burst = max(rate, 1.0)
        self._max_sources = max_sources
        self._buckets: dict[str, list[float]] = {}  # source -> [tokens (below 0: a debt), when they were counted]

    def admit(self, source: str, now: float) -> bool:
        """Whether a datagram from `source` may be read now (and count it), or must be dropped unread."""
        bucket = self._bucket(source, now)
        if bucket[0] < 1.0:
            return False
        bucket[0] -= 1.0
        return True

    def charge(self, source: str, count: int, now: float) -> float:
        """Count `count` messages read from `source`; the seconds its reading must wait for the budget (0: none)."""
        bucket = self._bucket(source, now)
        bucket[0] -= count
        return -bucket[0] / self.rate if bucket[0] < 0 else 0.0

    def _bucket(self, source: str, now: float) -> list[float]:
        """The source's bucket, refilled up to now."""
        bucket = self._buckets.get(source)
        if bucket is None:
            if len(self._buckets) >= self._max_sources:
                self._forget_full(now)
            bucket = self._buckets[source] = [self._burst, now]
            return bucket
        bucket[0] = min(self._burst, bucket[0] + (now - bucket[1]) * self.rate)
        bucket[1] = now
        return bucket

    def _forget_full(self, now: float) -> None:
        """Forget the buckets that are full (the same as no bucket); a debt is never forgotten."""
        self._buckets = {
            source: bucket
            for source, bucket in self._buckets.items()
            if bucket[0] + (now - bucket[1]) * self.rate < self._burst
        }
        if len(self._buckets) >= self._max_sources:  # that many sources busy at once: start every one afresh
            self._buckets.clear()
