"""A node's link to Redis (`--cluster redis://...`), the asyncio side of `journal` and `records`.

It writes this node's publication changes (`submit`, drained from the core after each event), follows the
presentities this node's watchers watch (one channel each: it subscribes, then reads the snapshot) and hands what
other nodes changed to the core (`mirror`). Redis being down stops none of this node's own service: changes wait
and are written again once it is back; its watchers miss the other nodes' changes meanwhile, and get the current
state when it is back (every followed presentity is read again, and this node's publications written again, in
case Redis lost them).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from smartbook_tui.counted_warning import CountedWarning
from smartbook_tui.server.publications import PublicationRecord

from .journal import ClusterChanges, PresentityChange
from .options import shown_url
from .records import (
    CHANGE_SCRIPT,
    Announcement,
    ClusterDataError,
    Snapshot,
    aor_of_channel,
    change_arguments,
    decode_announcement,
    decode_snapshot,
    presence_channel,
    publications_key,
)

__all__ = ["ClusterError", "ClusterLink"]

log = logging.getLogger(__name__)

RETRY = 1.0  # seconds between tries while Redis is unreachable
CONNECT_TIMEOUT = 2.0
_CHUNK = 500  # channels subscribed to, or hashes read, in one round trip


class ClusterError(Exception):
    """Redis cannot be used (at start): one line for a person."""


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


class ClusterLink:
    def __init__(
        self,
        redis: Redis,
        url: str,
        node: str,
        *,
        mirror: Mirror,
        own_records: Callable[[], dict[str, list[PublicationRecord]]],
        clock: Callable[[], float],
    ) -> None:
        self._redis = redis
        self._url = shown_url(url)
        self.node = node
        self._mirror = mirror
        self._own_records = own_records
        self._clock = clock  # the core's (the event loop's)
        self._script = redis.register_script(CHANGE_SCRIPT)
        self._pubsub = redis.pubsub(ignore_subscribe_messages=True)
        self._node_channel = f"smartbook:node:{node}"
        self._lost = False  # the subscriber connection broke: announcements were missed
        self._changes: list[PresentityChange] = []
        self._wanted: set[str] = set()  # AORs this node's watchers watch
        self._followed: set[str] = set()  # AORs whose channel is subscribed to
        # AOR -> version of its last change applied; None while its snapshot is awaited (announcements wait in
        # `_early` meanwhile)
        self._versions: dict[str, int | None] = {}
        self._early: dict[str, list[Announcement]] = {}
        self._rewrite = False  # this node's publications are to be written again (Redis may have lost them)
        self._due = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._down = CountedWarning(log, "cluster: Redis at {url} is unreachable ({error}): %s tries failed")
        self._unreadable = CountedWarning(log, "cluster: %s unreadable announcements or records ignored ({error})")

    @classmethod
    async def connect(
        cls,
        url: str,
        node: str,
        *,
        mirror: Mirror,
        own_records: Callable[[], dict[str, list[PublicationRecord]]],
        clock: Callable[[], float],
    ) -> ClusterLink:
        """Reach Redis at `url` and start following; ClusterError when it cannot be reached or is not Redis."""
        try:
            redis = Redis.from_url(url, socket_connect_timeout=CONNECT_TIMEOUT, socket_keepalive=True)
        except ValueError as error:
            raise ClusterError(f"--cluster {shown_url(url)}: {error}") from None
        link = cls(redis, url, node, mirror=mirror, own_records=own_records, clock=clock)
        try:
            await redis.ping()
            await link._pubsub.subscribe(link._node_channel)  # the reader's connection, before any presentity
        except (RedisError, OSError) as error:
            await redis.aclose()
            raise ClusterError(f"cannot reach Redis at {shown_url(url)}: {error}") from None
        link._tasks = [asyncio.create_task(link._write_loop()), asyncio.create_task(link._read_loop())]
        log.info("cluster: node %s, sharing its state through Redis at %s", node, link._url)
        return link

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        with contextlib.suppress(RedisError, OSError):
            await self._pubsub.aclose()
        with contextlib.suppress(RedisError, OSError):
            await self._redis.aclose()

    def submit(self, changes: ClusterChanges) -> None:
        """The core's news since the last drain: written (and followed) as soon as the loop gets to it."""
        self._changes += changes.changes
        for aor, watched in changes.watching.items():
            if watched:
                self._wanted.add(aor)
            else:
                self._wanted.discard(aor)
        self._due.set()

    # ------------------------------------------------------------------------------------------ writing

    async def _write_loop(self) -> None:
        while True:
            await self._due.wait()
            self._due.clear()
            try:
                if self._rewrite:
                    await self._write_own()
                await self._write_changes()
                await self._follow()
            except (RedisError, OSError) as error:
                self._down.happened(self._clock(), url=self._url.replace("%", "%%"), error=error)
                self._due.set()  # what is left is tried again
                await asyncio.sleep(RETRY)

    async def _write_changes(self) -> None:
        while self._changes:
            batch = self._changes[:_CHUNK]
            offset = time.time() - self._clock()
            pipe = self._redis.pipeline(transaction=False)
            for change in batch:
                keys, args = change_arguments(self.node, change, offset=offset, wall_now=time.time())
                await self._script(keys=keys, args=args, client=pipe)
            await pipe.execute()
            del self._changes[: len(batch)]  # only once written: a failure tries the whole batch again

    async def _write_own(self) -> None:
        """Every publication this node holds, written again (the changes waiting come after)."""
        records = self._own_records()
        self._changes[:0] = [PresentityChange(aor, (), record) for aor, items in records.items() for record in items]
        self._rewrite = False
        if records:
            log.info("cluster: writing this node's publications of %d presentities again", len(records))

    async def _follow(self) -> None:
        """Subscribe to the channels of the presentities newly watched (then read their snapshots), and leave
        those no longer watched (their mirrored publications go)."""
        gone = self._followed - self._wanted
        for aor in gone:
            self._followed.discard(aor)
            self._versions.pop(aor, None)
            self._early.pop(aor, None)
            self._mirror(aor, (), (), whole=True, listed=None)
        for chunk in _chunks(sorted(gone)):
            await self._pubsub.unsubscribe(*(presence_channel(aor) for aor in chunk))
        new = sorted(self._wanted - self._followed)
        for chunk in _chunks(new):
            for aor in chunk:
                self._versions[aor] = None
            await self._pubsub.subscribe(*(presence_channel(aor) for aor in chunk))
            self._followed.update(chunk)
            await self._read_snapshots(chunk)
        stale = [aor for aor in self._followed if self._versions.get(aor, 0) is None and aor not in new]
        for chunk in _chunks(stale):  # after a reconnection: read again
            await self._read_snapshots(chunk)

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

    # ------------------------------------------------------------------------------------------ reading

    async def _read_loop(self) -> None:
        while True:
            try:
                if self._lost:
                    await self._subscribe_again()
                async for message in self._pubsub.listen():
                    if message.get("type") == "message":
                        self._heard(message["channel"], message["data"])
            except (RedisError, OSError) as error:
                self._lost = True
                self._down.happened(self._clock(), url=self._url.replace("%", "%%"), error=error)
                await asyncio.sleep(RETRY)

    async def _subscribe_again(self) -> None:
        """The subscriber connection broke and Redis answers again (else this raises): subscribe again, and, since
        what was announced meanwhile is lost and Redis may have lost what it held, read every followed presentity
        again and write this node's publications again."""
        followed = sorted(self._followed)
        await self._pubsub.subscribe(self._node_channel)
        for chunk in _chunks(followed):
            await self._pubsub.subscribe(*(presence_channel(aor) for aor in chunk))
        self._lost = False
        log.warning("cluster: Redis at %s is back; reading %d followed presentities again", self._url, len(followed))
        for aor in followed:
            self._versions[aor] = None
        self._rewrite = True
        self._due.set()

    def _heard(self, channel: bytes, data: bytes) -> None:
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

    def _apply(self, aor: str, announcement: Announcement) -> None:
        version = self._versions.get(aor)
        if version is None or announcement.version <= version:
            return  # not followed, or already in what was read
        self._versions[aor] = announcement.version
        if announcement.node == self.node:
            return  # this node's own change: it has it already, and newer
        added = (announcement.added,) if announcement.added is not None else ()
        self._mirror(aor, announcement.removed, added, whole=False, listed=announcement.listed)


def _chunks(items: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]
