"""The whole book as one subscription, over as many list subscriptions as the server needs.

A server takes a list of at most so many entries (smartbook's: 10,000 by default, said in the 413's Warning). A
`BookSubscription` runs one `Subscriber` over the book while it fits, and one per part once the server has refused
it for its size: the parts are as even as can be and each within the limit (the server's figure when it gives one,
else half of what it refused), and the limit is kept per list server in a `ListLimits` (by default one for the whole
process: a session), so a changed book, or the next subscription, is split from the start. Until a server has said
otherwise, the session's limits take its limit to be smartbook's default, so that a big book is split from the
first launch rather than sent whole to be refused. A refused request is never sent again unchanged. The parts'
events come out as those of one subscription: every update as it arrives, and one combined `Status` (the worst
phase first; complete only when every part is).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from .machine import Phase, Status, SubscriptionConfig, TooLarge
from .runner import Connect, Event, Subscriber

# Worst first: what the combined Status shows when its parts differ.
_RANK = {
    Phase.FAILED: 0,
    Phase.WAITING: 1,
    Phase.IDLE: 2,
    Phase.SUBSCRIBING: 3,
    Phase.PENDING: 4,
    Phase.ACTIVE: 5,
    Phase.STOPPED: 6,
}


# The entries smartbook's server takes in one list by default: what a list server is taken to take until it refuses.
SERVER_LIST_LIMIT = 10_000


class ListLimits:
    """How many entries each list server (by its RLS URI) takes in one list subscription, as learnt from its 413s;
    `default` for a server not heard from yet (None: no limit until one is learnt)."""

    def __init__(self, default: int | None = None) -> None:
        self._default = default
        self._limits: dict[str, int] = {}

    def get(self, target: str) -> int | None:
        return self._limits.get(target, self._default)

    def learn(self, target: str, limit: int) -> None:
        known = self._limits.get(target)
        self._limits[target] = limit if known is None else min(known, limit)


SESSION_LIMITS = ListLimits(SERVER_LIST_LIMIT)


def split_book(resources: Sequence[str], limit: int | None) -> list[tuple[str, ...]]:
    """The book in as few parts as `limit` entries a part allows, as even as can be, in book order."""
    if limit is None or len(resources) <= limit:
        return [tuple(resources)]
    count = -(-len(resources) // limit)
    size, extra = divmod(len(resources), count)
    parts, start = [], 0
    for index in range(count):
        end = start + size + (1 if index < extra else 0)
        parts.append(tuple(resources[start:end]))
        start = end
    return parts


def limit_after_refusal(refused: TooLarge) -> int | None:
    """The most entries to send in one list after a 413: the server's figure when it is below what was sent, else
    half of it; None when a single entry was refused (splitting cannot help)."""
    if refused.limit is not None and 0 < refused.limit < refused.entries:
        return refused.limit
    return refused.entries // 2 or None


def combine(statuses: Sequence[Status], resources: int) -> Status:
    """One Status for the parts of a book: the worst phase first (its own detail, and how many parts share it);
    complete when every part is."""
    if len(statuses) == 1:
        return statuses[0]
    complete = all(status.complete for status in statuses)
    worst = min(statuses, key=lambda status: _RANK[status.phase])
    parts = len(statuses)
    if worst.phase is Phase.ACTIVE:
        done = sum(status.complete for status in statuses)
        detail = (
            f"the state of all {resources} resources has arrived, over {parts} list subscriptions"
            if complete
            else f"{done} of {parts} list subscriptions complete"
        )
    else:
        sharing = sum(status.phase is worst.phase for status in statuses)
        detail = f"{sharing} of {parts} list subscriptions {worst.phase.value}" + (
            f": {worst.detail}" if worst.detail else ""
        )
    return Status(worst.phase, detail, complete)


@dataclass(eq=False, slots=True)
class _Part:
    subscriber: Subscriber
    status: Status
    task: asyncio.Task[Phase] | None = None


class BookSubscription:
    """The same interface as `Subscriber` (run, replace_list, stop, phase, complete), over one or more of them."""

    def __init__(
        self,
        config: SubscriptionConfig,
        connect: Connect,
        *,
        transport: str,
        limits: ListLimits | None = None,
    ) -> None:
        self._config = config
        self._connect = connect
        self._transport = transport
        self._limits = limits if limits is not None else SESSION_LIMITS
        self._parts: list[_Part] = []
        self._leaving: list[_Part] = []  # parts dropped from a shrunk book, still unsubscribing
        self._commands: asyncio.Queue[tuple[str, object]] = asyncio.Queue()
        self._status = Status(Phase.IDLE, "")
        self._stopping = False
        self._on_event: Callable[[Event], None] = lambda event: None

    # ------------------------------------------------------------------------------------------------ owner API

    @property
    def phase(self) -> Phase:
        return self._status.phase

    @property
    def complete(self) -> bool:
        """Whether the state of the whole book has arrived: every part's list, in its current subscription."""
        return bool(self._parts) and all(part.subscriber.complete for part in self._parts)

    @property
    def parts(self) -> int:
        """How many list subscriptions carry the book."""
        return len(self._parts)

    @property
    def resources(self) -> tuple[str, ...] | None:
        return self._config.resources

    def replace_list(self, resources: tuple[str, ...]) -> None:
        """Subscribe to a changed book (parts whose list is the same are left as they are)."""
        self._commands.put_nowait(("list", resources))

    def stop(self) -> None:
        """Unsubscribe every part and end `run` (safe to call from the loop at any time)."""
        self._commands.put_nowait(("stop", None))

    async def run(self, on_event: Callable[[Event], None]) -> Phase:
        """Subscribe, then keep the book subscribed until `stop()` or an error retrying cannot fix (one part's is
        the book's: the other parts are stopped)."""
        self._on_event = on_event
        resources = self._config.resources
        limit = self._limits.get(self._config.target)
        for chunk in split_book(resources, limit) if resources is not None else [None]:
            self._start(chunk)
        failure: BaseException | None = None
        while any(part.task is not None for part in (*self._parts, *self._leaving)):
            kind, value = await self._commands.get()
            if kind == "ended":
                failure = failure or self._ended(value)  # type: ignore[arg-type]
            elif kind == "list" and not self._stopping:
                self._replace(value)  # type: ignore[arg-type]
            elif kind == "stop":
                self._stop_all()
        if failure is not None:
            raise failure
        return self.phase

    # ------------------------------------------------------------------------------------------------ parts

    def _start(self, resources: tuple[str, ...] | None) -> None:
        subscriber = Subscriber(replace(self._config, resources=resources), self._connect, transport=self._transport)
        part = _Part(subscriber, Status(Phase.SUBSCRIBING, ""))
        self._parts.append(part)
        part.task = asyncio.create_task(subscriber.run(lambda event: self._part_event(part, event)))
        part.task.add_done_callback(lambda _: self._commands.put_nowait(("ended", part)))

    def _part_event(self, part: _Part, event: Event) -> None:
        if part in self._leaving:
            return
        if not isinstance(event, Status):
            self._on_event(event)
            return
        if event.phase is Phase.FAILED and part.subscriber.refused is not None and not self._stopping:
            return  # the part is split when its run ends, not reported as the book's failure
        part.status = event
        self._report()

    def _ended(self, part: _Part) -> BaseException | None:
        task, part.task = part.task, None
        assert task is not None
        error = None if task.cancelled() else task.exception()
        if part in self._leaving:
            self._leaving.remove(part)
            return error
        refused = part.subscriber.refused
        if error is None and refused is not None and not self._stopping:
            limit = limit_after_refusal(refused)
            if limit is not None:
                self._limits.learn(self._config.target, limit)
                self._parts.remove(part)
                for chunk in split_book(part.subscriber.resources or (), limit):
                    self._start(chunk)
                self._report()
                return None
            part.status = Status(Phase.FAILED, "the server refuses even a list of one entry as too large")
        if error is not None or part.status.phase is Phase.FAILED:
            self._stop_all()  # a part that cannot go on: nor can the book
        self._report()
        return error

    def _replace(self, resources: tuple[str, ...]) -> None:
        if self._config.resources is None:
            return  # a list stored on the server: there is no list to send (as for a Subscriber)
        self._config = replace(self._config, resources=resources)
        running = [part for part in self._parts if part.task is not None]
        chunks = split_book(resources, self._limits.get(self._config.target))
        for part, chunk in zip(running, chunks, strict=False):
            if set(chunk) != set(part.subscriber.resources or ()):
                part.subscriber.replace_list(chunk)
                part.status = replace(part.status, complete=False)  # until the new list's state has come
        for part in running[len(chunks) :]:
            self._parts.remove(part)  # its last events are no longer the book's
            self._leaving.append(part)
            part.subscriber.stop()
        for chunk in chunks[len(running) :]:
            self._start(chunk)
        self._report()

    def _stop_all(self) -> None:
        self._stopping = True
        for part in self._parts:
            if part.task is not None:
                part.subscriber.stop()

    def _report(self) -> None:
        if not self._parts:
            return
        status = combine([part.status for part in self._parts], len(self._config.resources or ()))
        if status != self._status:
            self._status = status
            self._on_event(status)
