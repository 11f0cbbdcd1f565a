"""Following the presentities this node's watchers watch: one Redis channel each, subscribed to, then the hash read
(the snapshot); what other nodes announce afterwards is applied in version order, once (`records`)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

from redis.asyncio import Redis
from redis.asyncio.client import PubSub

from smartbook_tui.counted_warning import CountedWarning
from smartbook_tui.server.publications import PublicationRecord

from .records import (
    Announcement,
    ClusterDataError,
    Snapshot,
    aor_of_channel,
    decode_announcement,
    decode_snapshot,
    presence_channel,
    publications_key,
)

__all__ = ["CHUNK", "Follower", "Mirror", "chunks"]

log = logging.getLogger(__name__)

CHUNK = 500  # channels subscribed to, hashes read or records written in one round trip


class Mirror(Protocol):
    def __call__(
        self,
        aor: str,
        removed: Sequence[str],
        added: Sequence[PublicationRecord],
        *,
        whole: bool,
        listed: tuple[str, ...] | None,
    ) -> None: ...


def chunks(items: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


class Follower:
    def __init__(self, redis: Redis, pubsub: PubSub, node: str, mirror: Mirror, clock: Callable[[], float]) -> None:
        self._redis = redis
        self._pubsub = pubsub
        self._node = node
        self._mirror = mirror
        self._clock = clock
        self.wanted: set[str] = set()  # AORs this node's watchers watch
        self._followed: set[str] = set()  # AORs whose channel is subscribed to
        # AOR -> version of its last change applied; None while its snapshot is awaited (announcements wait in
        # `_early` meanwhile)
        self._versions: dict[str, int | None] = {}
        self._early: dict[str, list[Announcement]] = {}
        self._unreadable = CountedWarning(log, "cluster: %s unreadable announcements or records ignored ({error})")

    def watch(self, changes: dict[str, bool]) -> None:
        for aor, watched in changes.items():
            if watched:
                self.wanted.add(aor)
            else:
                self.wanted.discard(aor)

    async def follow(self) -> None:
        """Subscribe to the channels of the presentities newly watched (then read their snapshots), leave those no
        longer watched (their mirrored publications go), and read again those marked `lost`."""
        gone = self._followed - self.wanted
        for aor in gone:
            self._followed.discard(aor)
            self._versions.pop(aor, None)
            self._early.pop(aor, None)
            self._mirror(aor, (), (), whole=True, listed=None)
        for chunk in chunks(sorted(gone)):
            await self._pubsub.unsubscribe(*(presence_channel(aor) for aor in chunk))
        new = sorted(self.wanted - self._followed)
        for chunk in chunks(new):
            for aor in chunk:
                self._versions[aor] = None
            await self._pubsub.subscribe(*(presence_channel(aor) for aor in chunk))
            self._followed.update(chunk)
            await self._read_snapshots(chunk)
        stale = sorted(aor for aor in self._followed if self._versions.get(aor, 0) is None and aor not in new)
        for chunk in chunks(stale):
            await self._read_snapshots(chunk)

    async def subscribe_again(self) -> int:
        """The subscriber connection broke and Redis answers again (else this raises): subscribe again, and mark
        every followed presentity to be read again (what was announced meanwhile is lost). How many."""
        followed = sorted(self._followed)
        for chunk in chunks(followed):
            await self._pubsub.subscribe(*(presence_channel(aor) for aor in chunk))
        for aor in followed:
            self._versions[aor] = None
        return len(followed)

    def heard(self, channel: bytes, data: bytes) -> None:
        aor = aor_of_channel(channel.decode("utf-8", "replace"))
        if aor is None or aor not in self._versions:
            return
        try:
            announcement = decode_announcement(data, time.time() - self._clock())
        except ClusterDataError as error:
            self._unreadable.happened(self._clock(), error=error)
            return
        if self._versions[aor] is None:
            self._early.setdefault(aor, []).append(announcement)
        else:
            self._apply(aor, announcement)

    async def _read_snapshots(self, aors: Sequence[str]) -> None:
        pipe = self._redis.pipeline(transaction=False)
        for aor in aors:
            pipe.hgetall(publications_key(aor))
        results = await pipe.execute()
        offset = time.time() - self._clock()
        for aor, fields in zip(aors, results, strict=True):
            if aor not in self._versions:  # no longer watched meanwhile
                continue
            try:
                snapshot = decode_snapshot(fields, offset)
            except ClusterDataError as error:
                self._unreadable.happened(self._clock(), error=error)
                snapshot = Snapshot(0, [], None)
            self._versions[aor] = snapshot.version
            self._mirror(aor, (), snapshot.records, whole=True, listed=snapshot.listed)
            for announcement in self._early.pop(aor, ()):
                self._apply(aor, announcement)

    def _apply(self, aor: str, announcement: Announcement) -> None:
        version = self._versions.get(aor)
        if version is None or announcement.version <= version:
            return  # not followed, or already in what was read
        self._versions[aor] = announcement.version
        if announcement.node == self._node:
            return  # this node's own change: it has it already, and newer
        added = (announcement.added,) if announcement.added is not None else ()
        self._mirror(aor, announcement.removed, added, whole=False, listed=announcement.listed)
