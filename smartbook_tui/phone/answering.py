"""Phones that answer by themselves, for the demo's users: one pjsua2 endpoint (so in a process other than the
app's) with an account per user registered at the server (no PUBLISH: their presence is someone else's). An
incoming call rings for `ring_seconds` and is answered; `call()` places a call from one of them; either way the
other side hears a tone, and the demo user hangs up after `talk_seconds`. Every method runs on the loop's
thread, and `shutdown()` must be awaited before the loop ends.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from .account import RegisterAnswer, UserAccount, account_config
from .calls import CallDesk
from .endpoint import PUMP_SECONDS, PhoneEndpoint, PhoneError, error_words, guarded
from .engine import DEFAULT_USER_AGENT, GOODBYE_SECONDS
from .pjsua import pj
from .settings import PhoneAccount
from .states import CallEvent, CallState

log = logging.getLogger("smartbook_tui.phone")

# A dial tone's two frequencies (Hz), a second on and a fifth of a second off, over and over.
_TONE = (350, 440, 1000, 200)
# Accounts one endpoint holds: the wheel's pjsua is built with 8 (PJSUA_MAX_ACC), and one more aborts the process.
MAX_USERS = 8


@dataclass(slots=True)
class _User:
    account: UserAccount
    desk: CallDesk
    registered: asyncio.Future[int]  # the REGISTER's first final status


class AnsweringPhones:
    """`on_event(username, event)` hears of each user's calls. `server` is the registrar's (host, port), over
    TCP; the users' addresses are sip:USERNAME@`domain`."""

    def __init__(
        self,
        server: tuple[str, int],
        domain: str,
        *,
        ring_seconds: float = 2.0,
        talk_seconds: float = 20.0,
        on_event: Callable[[str, CallEvent], None] | None = None,
    ) -> None:
        self._server = server
        self._domain = domain
        self._ring_seconds = ring_seconds
        self._talk_seconds = talk_seconds
        self._on_event = on_event
        self._endpoint: PhoneEndpoint | None = None
        self._tone: pj.ToneGenerator | None = None
        self._users: dict[str, _User] = {}
        self._next_steps: dict[tuple[str, int], asyncio.TimerHandle] = {}  # (user, call id): answer or hang up
        self._talking: set[tuple[str, int]] = set()

    async def start(self) -> None:
        """Start the endpoint (null audio: the tone is played into the calls, nothing to a sound card)."""
        endpoint = PhoneEndpoint(
            user_agent=f"{DEFAULT_USER_AGENT} (answering)",
            transport="tcp",
            ca=None,
            null_audio=True,
            audio_device=None,
            on_log_line=lambda _line: None,
            on_transport_lost=lambda: None,
        )
        endpoint.start()
        self._endpoint = endpoint
        self._tone = pj.ToneGenerator()
        self._tone.createToneGenerator()
        tones = pj.ToneDescVector()
        tone = pj.ToneDesc()
        tone.freq1, tone.freq2, tone.on_msec, tone.off_msec = _TONE
        tones.append(tone)
        self._tone.play(tones, True)

    async def add(self, username: str, password: str) -> None:
        """Register the user (waiting for the answer); PhoneError when the server refuses or does not answer."""
        if self._endpoint is None:
            raise PhoneError("the answering phones are not running")
        if len(self._users) >= MAX_USERS:
            raise PhoneError(f"the answering phones hold {MAX_USERS} users at most")
        account = PhoneAccount(f"sip:{username}@{self._domain}", username, password, self._server, "tcp")
        registered: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        def on_answer(answer: RegisterAnswer) -> None:
            if not registered.done():
                registered.set_result(answer.code)

        def ring(call_id: int) -> None:  # the desk is made after the account it rings for
            self._users[username].desk.ring(call_id)

        user_account = UserAccount(on_answer, ring)
        desk = CallDesk(user_account, self._ports, lambda event: self._on_call(username, event))
        self._users[username] = _User(user_account, desk, registered)
        try:
            user_account.create(account_config(account, publish=False))
        except pj.Error as exc:
            raise PhoneError(f"{account.sip_uri} cannot be used: {error_words(exc)}") from None
        try:
            code = await asyncio.wait_for(asyncio.shield(registered), 5.0)
        except TimeoutError:
            raise PhoneError(f"{account.sip_uri}: no answer to the REGISTER") from None
        if not 200 <= code < 300:
            raise PhoneError(f"{account.sip_uri}: the REGISTER was answered {code}")

    def call(self, username: str, uri: str) -> int:
        """Call `uri` from the user (who must have been added); the call's id."""
        return self._users[username].desk.place(uri).id

    async def shutdown(self) -> None:
        """Hang up every call, unregister every user, and destroy the endpoint."""
        if self._endpoint is None:
            return
        for timer in self._next_steps.values():
            timer.cancel()
        self._next_steps.clear()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + GOODBYE_SECONDS
        for user in self._users.values():
            user.desk.hang_up_all()
        while any(user.desk.calls for user in self._users.values()) and loop.time() < deadline:
            await asyncio.sleep(PUMP_SECONDS / 2)
        for user in self._users.values():
            user.desk.close()
            user.account.forget_owner()
            try:
                user.account.shutdown()  # sends the un-REGISTER
            except pj.Error as exc:
                log.info("an answering phone did not shut down cleanly: %s", error_words(exc))
        await asyncio.sleep(max(0.0, deadline - loop.time()))  # the un-REGISTERs go out meanwhile
        self._users.clear()  # the last references to the accounts: freed here, before the library goes
        self._tone = None
        endpoint, self._endpoint = self._endpoint, None
        endpoint.close()

    def _ports(self) -> tuple[object, object]:
        """The tone takes the microphone's place in every call; the callers' voices go to the null speaker."""
        assert self._endpoint is not None
        return self._tone, self._endpoint.audio_ports()[1]

    def _on_call(self, username: str, event: CallEvent) -> None:
        if self._on_event is not None:
            handler = self._on_event
            guarded("an answering phone's event", lambda: handler(username, event))
        if event.digit:
            return
        desk, key = self._users[username].desk, (username, event.call.id)
        state = event.call.state
        if state is CallState.INCOMING and key not in self._next_steps:
            self._next(key, self._ring_seconds, desk.answer)
        elif state is CallState.CONFIRMED and key not in self._talking:
            self._talking.add(key)
            self._next(key, self._talk_seconds, desk.hang_up)
        elif state is CallState.ENDED:
            self._talking.discard(key)
            timer = self._next_steps.pop(key, None)
            if timer is not None:
                timer.cancel()

    def _next(self, key: tuple[str, int], seconds: float, step: Callable[[int], None]) -> None:
        """The call's next step (answer, then hang up), after `seconds`."""

        def run() -> None:
            guarded("an answering phone's step", lambda: step(key[1]))

        previous = self._next_steps.get(key)
        if previous is not None:
            previous.cancel()
        self._next_steps[key] = asyncio.get_running_loop().call_later(seconds, run)
