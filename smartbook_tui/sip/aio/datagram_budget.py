"""How many datagrams a second each source may have read, checked before a datagram is parsed: a token bucket per
`source_key` (an IPv4 address, an IPv6 /64), so that one flooding address costs the server a dictionary lookup
per datagram rather than a parse, and cannot starve the others."""

from __future__ import annotations

__all__ = ["DatagramBudget"]

_MAX_SOURCES = 65_536  # buckets kept; past it, the full ones (sources quiet for a second) are forgotten


class DatagramBudget:
    """`rate` datagrams a second per source, in bursts of up to a second's worth. `admit` is called with the loop's
    clock, so a test can give it its own."""

    def __init__(self, rate: float, max_sources: int = _MAX_SOURCES) -> None:
        if rate <= 0 or max_sources < 1:
            raise ValueError("a datagram budget needs a positive rate and room for a source")
        self.rate = rate
        self._burst = max(rate, 1.0)
        self._max_sources = max_sources
        self._buckets: dict[str, list[float]] = {}  # source -> [tokens, when they were counted]

    def admit(self, source: str, now: float) -> bool:
        """Whether a datagram from `source` may be read now (and count it), or must be dropped unread."""
        bucket = self._buckets.get(source)
        if bucket is None:
            if len(self._buckets) >= self._max_sources:
                self._forget_full(now)
            self._buckets[source] = [self._burst - 1.0, now]
            return True
        tokens = min(self._burst, bucket[0] + (now - bucket[1]) * self.rate)
        bucket[1] = now
        if tokens < 1.0:
            bucket[0] = tokens
            return False
        bucket[0] = tokens - 1.0
        return True

    def _forget_full(self, now: float) -> None:
        refill = self._burst / self.rate  # a bucket untouched this long is full: the same as no bucket
        self._buckets = {source: bucket for source, bucket in self._buckets.items() if now - bucket[1] < refill}
        if len(self._buckets) >= self._max_sources:  # that many sources active at once: start every one afresh
            self._buckets.clear()
