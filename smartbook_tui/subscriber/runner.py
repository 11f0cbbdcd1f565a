"""The list subscription on the event loop: a thin asyncio layer around the sans-IO ListSubscription.

It owns the connection (reopened after a loss, when the machine's backoff says so), the clock (the loop's) and
the randomness (tags, branches, jitter); everything else is the machine's. Events (`Updates`, `Status`,
`ServerWarning`) go to a callback on the loop thread.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
from collections.abc import Awaitable, Callable
from typing import Protocol

from smartbook_tui.collector import collector_paused
from smartbook_tui.sip.message import SipMessage

from .machine import (
    ListSubscription,
    Output,
    Phase,
    Send,
    ServerWarning,
    Status,
    SubscriptionConfig,
    TooLarge,
    Updates,
)

log = logging.getLogger(__name__)

UNSUBSCRIBE_GRACE = 1.0  # seconds to wait for the answer to the last SUBSCRIBE when stopping


class Flow(Protocol):
    """What the runner needs of a transport flow (smartbook_tui.sip.aio.transport gives it)."""

    @property
    def local(self) -> tuple[str, int]: ...

    @property
    def transport(self) -> str: ...

    @property
    def closed(self) -> bool: ...

    def send_bytes(self, data: bytes) -> None: ...

    def close(self) -> None: ...


Connect = Callable[[Callable[[SipMessage], None], Callable[[Exception | None], None]], Awaitable[Flow]]
Event = Updates | Status | ServerWarning


class Subscriber:
    def __init__(self, config: SubscriptionConfig, connect: Connect, *, transport: str) -> None:
        self._connect_flow = connect
        self._machine = ListSubscription(
            config,
            local=("127.0.0.1", 0),  # replaced by the flow's own address before anything is sent
            transport=transport,
            token=lambda: secrets.token_hex(8),
            jitter=random.random,
        )
        self._inbox: asyncio.Queue[tuple[str, object]] = asyncio.Queue()
        self._flow: Flow | None = None
        self._lists_asked = 0  # changed lists asked for and not yet subscribed to

    @property
    def phase(self) -> Phase:
        return self._machine.phase

    @property
    def complete(self) -> bool:
        """Whether the state of the whole list has arrived in the current subscription (every resource listed has
        been named, in however many NOTIFYs the server used); never while a changed list waits to be subscribed."""
        return self._machine.tracker.complete and not self._lists_asked

    @property
    def refused(self) -> TooLarge | None:
        """Set when the server refused the list for its size (413): `run` has then ended with Phase.FAILED."""
        return self._machine.refused

    @property
    def resources(self) -> tuple[str, ...] | None:
        """The resources subscribed to (None for a list stored on the server)."""
        return self._machine.config.resources

    def replace_list(self, resources: tuple[str, ...]) -> None:
        """Subscribe to a changed book (a change in the dialog when the server takes one, else a new dialog); a
        no-op when the list is the same."""
        self._lists_asked += 1
        self._inbox.put_nowait(("list", resources))

    def stop(self) -> None:
        """Unsubscribe and end `run` (safe to call from the loop at any time)."""
        self._inbox.put_nowait(("stop", None))

    async def run(self, on_event: Callable[[Event], None]) -> Phase:
        """Subscribe, then keep the subscription until `stop()` or an error retrying cannot fix."""
        loop = asyncio.get_running_loop()
        self._on_event = on_event
        if await self._reconnect(loop.time()):
            self._dispatch(self._machine.start(loop.time()))
        while self._machine.phase not in (Phase.FAILED, Phase.STOPPED):
            deadline = self._machine.deadline
            timeout = None if deadline is None else max(0.0, deadline - loop.time())
            try:
                kind, value = await asyncio.wait_for(self._inbox.get(), timeout)
            except TimeoutError:
                await self._tick(loop.time())
                continue
            now = loop.time()
            if kind == "message":
                # A full state of 10,000 resources is ~150,000 objects. While the list's state is still arriving, the
                # views its NOTIFYs leave live on as long as the list: set aside from the collector, or its full
                # collections walk them again and again as they pile up (~12 % of the client's CPU at 100,000).
                with collector_paused(long_lived=not self._machine.tracker.complete):
                    outputs = self._machine.on_message(value, now)  # type: ignore[arg-type]
                self._dispatch(outputs)
            elif kind == "lost":
                self._close_flow()
                self._dispatch(self._machine.on_transport_lost(now, str(value or "closed by the server")))
            elif kind == "list":
                self._lists_asked -= 1
                self._dispatch(self._machine.replace_list(value, now))  # type: ignore[arg-type]
            elif kind == "stop":
                self._dispatch(self._machine.stop(now))
                await self._linger(UNSUBSCRIBE_GRACE)
        self._close_flow()
        return self._machine.phase

    async def _tick(self, now: float) -> None:
        if (self._flow is None or self._flow.closed) and not await self._reconnect(now):
            return
        self._dispatch(self._machine.on_timer(now))

    async def _reconnect(self, now: float) -> bool:
        self._close_flow()
        try:
            self._flow = await self._connect_flow(
                lambda message: self._inbox.put_nowait(("message", message)),
                lambda error: self._inbox.put_nowait(("lost", error)),
            )
        except Exception as exc:  # a transport error, said in one line
            log.info("cannot connect: %s", exc)
            self._dispatch(self._machine.on_transport_lost(now, str(exc)))
            return False
        self._machine.local = self._flow.local
        return True

    async def _linger(self, seconds: float) -> None:
        """Let the answer to an unsubscription arrive (answering NOTIFYs meanwhile), then stop."""
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        while self._machine.leaving and (remaining := end - loop.time()) > 0:
            try:
                kind, value = await asyncio.wait_for(self._inbox.get(), remaining)
            except TimeoutError:
                return
            if kind == "message":
                self._dispatch(self._machine.on_message(value, loop.time()))  # type: ignore[arg-type]
            elif kind == "lost":
                return

    def _dispatch(self, outputs: list[Output]) -> None:
        for output in outputs:
            if isinstance(output, Send):
                if self._flow is not None and not self._flow.closed:
                    try:
                        self._flow.send_bytes(output.data)
                    except Exception as exc:  # a transport error (a message too big for UDP...)
                        self._inbox.put_nowait(("lost", exc))
            else:
                self._on_event(output)

    def _close_flow(self) -> None:
        if self._flow is not None:
            self._flow.close()
            self._flow = None
