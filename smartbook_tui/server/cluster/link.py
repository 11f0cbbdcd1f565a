"""A node's link to Redis (`--cluster redis://...`), the asyncio side of `journal`, `records` and `dialogs`.

It writes this node's changes (`submit`, drained from the core after each event: publications, listings) and its
saved subscription dialogs (`submit_dialogs`), follows the presentities this node's watchers watch (`following`),
keeps this node known alive and takes over the dialogs of a node that is not (`watch_nodes`). Redis being down stops
none of this node's own service: writes wait and are made once it is back; its watchers miss the other nodes'
changes meanwhile, and get the current state when it is back (every followed presentity is read again, and this
node's publications and dialogs written again, in case Redis lost them).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import NoScriptError, RedisError

from smartbook_tui.counted_warning import CountedWarning
from smartbook_tui.server.publications import PublicationRecord
from smartbook_tui.server.saved_dialogs import RESERVE
from smartbook_tui.server.store import SavedBinding, SavedDialog

from .dialogs import (
    NODE_TTL,
    NODES_KEY,
    PROGRESS_SCRIPT,
    TAKE_SCRIPT,
    TAKEOVER_TTL,
    DialogBatch,
    alive_key,
    decode_dialog,
    dialog_field,
    dialogs_key,
    encode_dialog,
    takeover_key,
)
from .following import CHUNK, Follower, Mirror
from .journal import ClusterChanges, PresentityChange
from .options import shown_url
from .records import CHANGE_SCRIPT, ClusterDataError, change_arguments
from .registrations import decode_binding, encode_binding, registrations_key

__all__ = ["HEARTBEAT", "ClusterError", "ClusterHost", "ClusterLink"]

log = logging.getLogger(__name__)

RETRY = 1.0  # seconds between tries while Redis is unreachable
CONNECT_TIMEOUT = 2.0
HEARTBEAT = 0.5  # seconds between two "alive" of this node, and two looks at the others


class ClusterError(Exception):
    """Redis cannot be used (at start): one line for a person."""


class ClusterHost(Protocol):
    """The node the link serves (the runner, over its core)."""

    mirror: Mirror

    def clock(self) -> float: ...
    def own_records(self) -> dict[str, list[PublicationRecord]]: ...
    def own_dialogs(self) -> list[SavedDialog]: ...
    def take_over(self, dialogs: list[SavedDialog]) -> None: ...
    def followed(self, serial: int) -> None: ...
    def bindings_found(self, aor: str, bindings: list[SavedBinding]) -> None: ...
    def give_up_dialogs(self) -> None: ...


class ClusterLink:
    def __init__(self, redis: Redis, url: str, node: str, host: ClusterHost) -> None:
        self._redis = redis
        self._url = shown_url(url)
        self.node = node
        self._host = host
        self._take_script = redis.register_script(TAKE_SCRIPT)  # (rare: redis-py's Script loads it as needed)
        # The scripts of every change, run by their SHA1 in pipelines: redis-py's Script would send a SCRIPT EXISTS
        # before each (a sixth of a node's CPU with no watchers). Loaded at start, and again when Redis forgot them.
        self._change_sha = ""
        self._progress_sha = ""
        self._pubsub = redis.pubsub(ignore_subscribe_messages=True)
        self._node_channel = f"smartbook:node:{node}"
        self._follower = Follower(redis, self._pubsub, node, host.mirror, host.clock)
        self._changes: list[PresentityChange] = []
        self._registrations: dict[str, list[SavedBinding]] = {}  # AOR -> its bindings here, to write
        self._lookups: dict[str, None] = {}  # AORs whose registrations a call waits for
        self._serial = 0  # of the last drain submitted
        self._dialogs: list[DialogBatch] = []
        self._rewrite = False  # this node's publications and dialogs are to be written again
        self._lost = False  # the subscriber connection broke: announcements were missed
        self._due = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._down = CountedWarning(log, "cluster: Redis at {url} is unreachable ({error}): %s tries failed")
        self._unreadable = CountedWarning(log, "cluster: %s unreadable dialogs or registrations dropped ({error})")

    @classmethod
    async def connect(cls, url: str, node: str, host: ClusterHost) -> ClusterLink:
        """Reach Redis at `url` and start writing and following; ClusterError when it cannot be reached."""
        try:
            redis = Redis.from_url(url, socket_connect_timeout=CONNECT_TIMEOUT, socket_keepalive=True)
        except ValueError as error:
            raise ClusterError(f"--cluster {shown_url(url)}: {error}") from None
        link = cls(redis, url, node, host)
        try:
            await redis.ping()
            await link._load_scripts()
            await link._pubsub.subscribe(link._node_channel)  # the reader's connection, before any presentity
        except (RedisError, OSError) as error:
            await redis.aclose()
            raise ClusterError(f"cannot reach Redis at {shown_url(url)}: {error}") from None
        link._tasks = [asyncio.create_task(link._write_loop()), asyncio.create_task(link._read_loop())]
        log.info("cluster: node %s, sharing its state through Redis at %s", node, link._url)
        return link

    async def close(self, *, grace: float = 2.0) -> None:
        """Write what waits (a graceful stop's end of every dialog), say this node is gone, and disconnect."""
        deadline = time.monotonic() + grace
        while (self._changes or self._dialogs) and time.monotonic() < deadline:
            self._due.set()
            await asyncio.sleep(0.02)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        with contextlib.suppress(RedisError, OSError):
            await self._redis.delete(alive_key(self.node))
            await self._redis.srem(NODES_KEY, self.node)
        with contextlib.suppress(RedisError, OSError):
            await self._pubsub.aclose()
        with contextlib.suppress(RedisError, OSError):
            await self._redis.aclose()

    def submit(self, changes: ClusterChanges) -> None:
        """The core's news since the last drain: written (and followed) as soon as the loop gets to it."""
        self._changes += changes.changes
        self._registrations.update(changes.registrations)
        self._lookups.update(dict.fromkeys(changes.lookups))
        self._follower.watch(changes.watching)
        self._serial = changes.serial
        self._due.set()

    def submit_dialogs(self, batch: DialogBatch) -> None:
        self._dialogs.append(batch)
        self._due.set()

    async def resume(self) -> list[SavedDialog]:
        """The dialogs this node left in Redis, if it stopped without a goodbye; ClusterError when Redis fails."""
        try:
            return await self.take_dialogs(self.node)
        except (RedisError, OSError) as error:
            await self.close(grace=0)
            raise ClusterError(f"cannot read this node's saved dialogs from Redis at {self._url}: {error}") from None

    async def take_dialogs(self, node: str) -> list[SavedDialog]:
        """The saved dialogs of `node` (this one, restarted, or a dead one), made this node's; the ceilings Redis
        keeps move on by the reserve, as a store's do when it hands them out."""
        records = await self._take_script(
            keys=[dialogs_key(node), dialogs_key(self.node)], args=[round(time.time(), 3), RESERVE]
        )
        wall = time.time()
        dialogs = []
        for record in records:
            try:
                dialogs.append(decode_dialog(record, wall))
            except ClusterDataError as error:
                self._unreadable.happened(self._host.clock(), error=error)
        return dialogs

    def watch_nodes(self) -> None:
        """From now on: say this node is alive, and take over the dialogs of a node that stopped saying so."""
        self._tasks.append(asyncio.create_task(self._node_loop()))

    # ------------------------------------------------------------------------------------------ writing

    async def _load_scripts(self) -> None:
        self._change_sha = await self._redis.script_load(CHANGE_SCRIPT)
        self._progress_sha = await self._redis.script_load(PROGRESS_SCRIPT)

    async def _write_loop(self) -> None:
        while True:
            await self._due.wait()
            self._due.clear()
            serial = self._serial
            try:
                if self._rewrite:
                    self._write_again()
                await self._write_changes()
                await self._write_registrations()
                await self._look_up()
                await self._write_dialogs()
                await self._follower.follow()
                self._host.followed(serial)
            except NoScriptError:  # Redis restarted, without its scripts: loaded again, then tried again at once
                with contextlib.suppress(RedisError, OSError):
                    await self._load_scripts()
                self._due.set()
            except (RedisError, OSError) as error:
                self._said_down(error)
                self._due.set()  # what is left is tried again
                await asyncio.sleep(RETRY)

    async def _write_changes(self) -> None:
        while self._changes:
            batch = self._changes[:CHUNK]
            offset = time.time() - self._host.clock()
            pipe = self._redis.pipeline(transaction=False)
            for change in batch:
                keys, args = change_arguments(self.node, change, offset=offset, wall_now=time.time())
                pipe.evalsha(self._change_sha, len(keys), *keys, *args)
            await pipe.execute()
            del self._changes[: len(batch)]  # only once written: a failure tries the whole batch again

    async def _write_registrations(self) -> None:
        while self._registrations:
            batch = list(self._registrations.items())[:CHUNK]
            wall = time.time()
            pipe = self._redis.pipeline(transaction=False)
            for aor, bindings in batch:
                key = registrations_key(aor)
                pipe.delete(key)
                if bindings:
                    pipe.hset(key, mapping={b.contact: encode_binding(b, wall) for b in bindings})
                    pipe.pexpireat(key, round((wall + max(b.expires_in for b in bindings)) * 1000))
            await pipe.execute()
            for aor, bindings in batch:
                if self._registrations.get(aor) is bindings:  # (not changed again meanwhile)
                    del self._registrations[aor]

    async def _look_up(self) -> None:
        """Give the calls waiting for users' registrations what Redis holds (nothing, when it fails: a 480)."""
        aors, self._lookups = list(self._lookups), {}
        if not aors:
            return
        try:
            pipe = self._redis.pipeline(transaction=False)
            for aor in aors:
                pipe.hgetall(registrations_key(aor))
            results = await pipe.execute()
        except (RedisError, OSError):
            for aor in aors:
                self._host.bindings_found(aor, [])
            raise
        wall = time.time()
        for aor, fields in zip(aors, results, strict=True):
            bindings = []
            for value in fields.values():
                try:
                    bindings.append(decode_binding(aor, value, wall))
                except ClusterDataError as error:
                    self._unreadable.happened(self._host.clock(), error=error)
            self._host.bindings_found(aor, bindings)

    async def _write_dialogs(self) -> None:
        key = dialogs_key(self.node)
        while self._dialogs:
            batch = self._dialogs[0]
            wall = time.time()
            pipe = self._redis.pipeline(transaction=False)
            if batch.forget:
                pipe.delete(key)
            for dialog in batch.created:
                pipe.hset(key, dialog_field(dialog.id), encode_dialog(dialog, wall))
            for item in batch.progressed:
                arguments = [dialog_field(item.id), round(wall + item.expires_in, 3), item.cseq, item.version]
                pipe.evalsha(self._progress_sha, 1, key, *arguments)
            for dialog_id in batch.ended:
                pipe.hdel(key, dialog_field(dialog_id))
            await pipe.execute()
            del self._dialogs[0]

    def _write_again(self) -> None:
        """Every publication and dialog this node holds, written again before what waits."""
        records = self._host.own_records()
        self._changes[:0] = [PresentityChange(aor, (), record) for aor, items in records.items() for record in items]
        dialogs = self._host.own_dialogs()
        self._dialogs.insert(0, DialogBatch(created=dialogs))
        self._rewrite = False
        log.info(
            "cluster: writing this node's publications of %d presentities and %d dialogs again",
            len(records),
            len(dialogs),
        )

    # ------------------------------------------------------------------------------------------ reading

    async def _read_loop(self) -> None:
        while True:
            try:
                if self._lost:
                    await self._subscribe_again()
                async for message in self._pubsub.listen():
                    if message.get("type") == "message":
                        self._follower.heard(message["channel"], message["data"])
            except (RedisError, OSError) as error:
                self._lost = True
                self._said_down(error)
                await asyncio.sleep(RETRY)

    async def _subscribe_again(self) -> None:
        """The subscriber connection broke and Redis answers again (else this raises): subscribe again, and, since
        what was announced meanwhile is lost and Redis may have lost what it held, read every followed presentity
        again and write this node's publications and dialogs again."""
        await self._pubsub.subscribe(self._node_channel)
        followed = await self._follower.subscribe_again()
        self._lost = False
        log.warning("cluster: Redis at %s is back; reading %d followed presentities again", self._url, followed)
        self._rewrite = True
        self._due.set()

    # ------------------------------------------------------------------------------------------ nodes

    async def _node_loop(self) -> None:
        while True:
            try:
                await self._beat()
            except (RedisError, OSError) as error:
                self._said_down(error)
            await asyncio.sleep(HEARTBEAT)

    async def _beat(self) -> None:
        pipe = self._redis.pipeline(transaction=False)
        pipe.set(alive_key(self.node), "1", px=round(NODE_TTL * 1000))
        pipe.sadd(NODES_KEY, self.node)
        pipe.getdel(takeover_key(self.node))
        pipe.smembers(NODES_KEY)
        _, _, taker, members = await pipe.execute()
        if taker is not None:
            log.warning(
                "cluster: node %s took this node's subscription dialogs over (this node was silent for %g s): "
                "ending them here",
                taker.decode(errors="replace"),
                NODE_TTL,
            )
            self._host.give_up_dialogs()
        others = sorted(name for name in (member.decode(errors="replace") for member in members) if name != self.node)
        if not others:
            return
        pipe = self._redis.pipeline(transaction=False)
        for name in others:
            pipe.exists(alive_key(name))
        for name, alive in zip(others, await pipe.execute(), strict=True):
            if not alive:
                await self._take_over(name)

    async def _take_over(self, dead: str) -> None:
        if not await self._redis.set(takeover_key(dead), self.node, nx=True, px=round(TAKEOVER_TTL * 1000)):
            return  # another node does it
        dialogs = await self.take_dialogs(dead)
        await self._redis.srem(NODES_KEY, dead)
        log.warning(
            "cluster: node %s is gone (silent for %g s): this node takes over its %d subscription dialogs",
            dead,
            NODE_TTL,
            len(dialogs),
        )
        if dialogs:
            self._host.take_over(dialogs)

    def _said_down(self, error: Exception) -> None:
        self._down.happened(self._host.clock(), url=self._url.replace("%", "%%"), error=error)
