"""The phone: the user's registration, own presence and calls, over the pjsua2 endpoint on the asyncio loop.

Registration: typed states for the owner; failures the network or the server may fix are retried with backoff
(`rules.retry_delay`), a wrong password is not (the owner makes a new Phone once the settings change); a
connection that drops while registered (a server restart) leads to a new REGISTER at once. Own presence: PUBLISH
through pjsua's publication, sent whenever the phone becomes registered (the server may have forgotten it) and
when the user changes it; its answers are read from pjsip's message log (pjsua2 has no callback for them). A
registered phone is online unless the user says otherwise (so there is always a publication for the un-PUBLISH
at shutdown to withdraw: pjsua would send one anyway, and without a publication the server refuses it). Calls:
see `calls.py` (a second call puts the one in progress on hold; mute takes the microphone off the call); each
change is a CallEvent, and shutdown hangs every call up first.

Every method is called on the loop's thread, and `shutdown()` must be awaited before the loop ends.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import replace

from smartbook_tui import __version__

from .account import RegisterAnswer, UserAccount, account_config
from .calls import CallDesk
from .endpoint import PUMP_SECONDS, PhoneEndpoint, PhoneError, error_words, guarded
from .pjsua import pj
from .rules import publish_refusal, published_as, registration_outcome, retry_delay, sip_answer
from .settings import PhoneAccount
from .states import (
    AudioDevice,
    CallEvent,
    CallInfo,
    MediaCounts,
    OwnPresence,
    OwnStatus,
    Registration,
    RegistrationState,
)

__all__ = ["DEFAULT_USER_AGENT", "Phone", "PhoneAccount", "PhoneError", "PhoneEvent"]

log = logging.getLogger("smartbook_tui.phone")

DEFAULT_USER_AGENT = f"smartbook/{__version__}"
GOODBYE_SECONDS = 0.25  # how long shutdown() waits for the calls' ends and the un-PUBLISH and un-REGISTER answers
# Answers after which pjsip sends the request again by itself (credentials, a publication the server forgot).
_RESENT_AFTER = frozenset({401, 407, 412})

PhoneEvent = Registration | OwnPresence | CallEvent


class Phone:
    def __init__(
        self,
        account: PhoneAccount,
        *,
        on_event: Callable[[PhoneEvent], None],
        null_audio: bool = False,
        audio_device: str | None = None,
        user_agent: str = DEFAULT_USER_AGENT,
    ) -> None:
        """`audio_device`: the sound device for calls, by name or a part of it (see `audio_devices()`); the
        system's default when None. `null_audio`: no sound at all (tests, machines without a sound card)."""
        self.account = account
        self.registration = Registration(RegistrationState.UNREGISTERED)
        # The latest asked for, and whether the server took it: online until set_presence() says otherwise.
        self.presence = OwnPresence(OwnStatus.ONLINE)
        self._on_event = on_event
        self._null_audio = null_audio
        self._audio_device = audio_device
        self._user_agent = user_agent
        self._endpoint: PhoneEndpoint | None = None
        self._user: UserAccount | None = None
        self._desk: CallDesk | None = None
        self._failures = 0  # REGISTERs failed in a row
        self._retry: asyncio.TimerHandle | None = None
        self._publishing = 0  # PUBLISHes sent and not answered yet
        self._closing = False
        self._goodbyes: set[str] = set()  # methods whose final answer shutdown() still waits for
        # The last answer the server sent to each method (pjsip reports a request it could not send with a
        # made-up answer: this tells them apart).
        self._answered: dict[str, int | None] = {}

    async def start(self) -> None:
        """Start the endpoint on the running loop and send the REGISTER (the own presence follows once
        registered). Raises PhoneError (one line) when the phone cannot start."""
        if self._endpoint is not None or self._closing:
            raise PhoneError("this phone has already been started")
        problem = self.account.problem()
        if problem is not None:
            raise PhoneError(problem)
        endpoint = PhoneEndpoint(
            user_agent=self._user_agent,
            transport=self.account.transport,
            ca=self.account.ca,
            null_audio=self._null_audio,
            audio_device=self._audio_device,
            on_log_line=self._on_log_line,
            on_transport_lost=self._on_transport_lost,
        )
        endpoint.start()
        self._endpoint = endpoint
        self._set_registration(Registration(RegistrationState.REGISTERING))
        self._user = UserAccount(self._on_register_answer, self._on_incoming_call)
        self._desk = CallDesk(self._user, endpoint.audio_ports, self._emit)
        try:
            self._user.create(account_config(self.account))
        except pj.Error as exc:
            self._user.forget_owner()
            self._user = None
            self._desk = None
            self._endpoint = None
            endpoint.close()
            self._set_registration(Registration(RegistrationState.UNREGISTERED))
            raise PhoneError(f"the account {self.account.sip_uri} cannot be used: {error_words(exc)}") from None

    def set_presence(self, status: OwnStatus, note: str | None = None) -> None:
        """PUBLISH the user's own status and note; an OwnPresence event follows when the server accepts it (or
        refuses it, with the reason). While not registered, it is kept and published once registered."""
        self.presence = OwnPresence(status, note or None)
        self._emit(self.presence)
        if self.registration.state is RegistrationState.REGISTERED and not self._closing:
            self._publish()

    async def shutdown(self) -> None:
        """Hang up every call, un-PUBLISH and un-REGISTER (waiting a moment for the answers, 250 ms in all),
        then destroy the endpoint: nothing is left behind, on the server or in the process. Safe to call more
        than once."""
        if self._endpoint is None:
            return
        self._closing = True
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + GOODBYE_SECONDS
        if self._desk is not None:
            self._desk.hang_up_all()  # and a call coming in meanwhile is answered busy
            while self._desk.calls and loop.time() < deadline:
                await asyncio.sleep(PUMP_SECONDS / 2)
            self._desk.close()  # no Call may outlive the endpoint
            self._desk = None
        # An un-PUBLISH made while a PUBLISH is unanswered knows no ETag yet: sent without SIP-If-Match, or cut
        # off by the endpoint's end, it would leave the publication on the server until it expires.
        while self._publishing and loop.time() < deadline:
            await asyncio.sleep(PUMP_SECONDS / 2)
        if self.registration.state is RegistrationState.REGISTERED:
            self._goodbyes.add("REGISTER")
        if self.presence.published or self._publishing:
            self._goodbyes.add("PUBLISH")
        user, self._user = self._user, None
        if user is not None:
            user.forget_owner()
            try:
                user.shutdown()  # sends the un-PUBLISH and the un-REGISTER
            except pj.Error as exc:
                log.warning("the account did not shut down cleanly: %s", error_words(exc))
            while self._goodbyes and loop.time() < deadline:
                await asyncio.sleep(PUMP_SECONDS / 2)
            if self._goodbyes:
                log.info("no answer to the %s before closing", " and ".join(sorted(self._goodbyes)))
            del user  # the last reference: freed here, on the loop's thread, before the library goes
        endpoint, self._endpoint = self._endpoint, None
        endpoint.close()
        self._set_registration(Registration(RegistrationState.UNREGISTERED))

    # ------------------------------------------------------------------------------------------------- calls

    @property
    def calls(self) -> tuple[CallInfo, ...]:
        """The calls under way (ringing, talking or held), oldest first."""
        return self._desk.calls if self._desk is not None else ()

    def call(self, uri: str) -> CallInfo:
        """Call a SIP address (`sip:bob@example.org`, or `sip:+E164@domain;user=phone` for the server to find
        whose number it is). A call in progress is put on hold first. Raises PhoneError (one line) when the
        address is not one or the call cannot be placed; otherwise CallEvents follow, to its end."""
        return self._calls().place(uri)

    def answer(self, call_id: int) -> None:
        """Answer a call ringing here (a call in progress is put on hold first)."""
        self._calls().answer(call_id)

    def decline(self, call_id: int, *, busy: bool = False) -> None:
        """Refuse a call ringing here: 603 Decline, or 486 Busy Here when `busy`."""
        self._calls().decline(call_id, busy=busy)

    def hang_up(self, call_id: int) -> None:
        """End a call whatever its state: hang up, cancel it, or decline it while it rings here."""
        self._calls().hang_up(call_id)

    def set_muted(self, call_id: int, muted: bool) -> None:
        """Take the microphone off the call (or put it back); the other side's voice still plays."""
        self._calls().set_muted(call_id, muted)

    def set_held(self, call_id: int, held: bool) -> None:
        """Put an answered call on hold (sendonly re-INVITE) or resume it (sendrecv)."""
        self._calls().set_held(call_id, held)

    def send_dtmf(self, call_id: int, digits: str) -> None:
        """Send digits (0-9, *, #, A-D) as RFC 4733 telephone events."""
        self._calls().send_dtmf(call_id, digits)

    def media_counts(self, call_id: int) -> MediaCounts:
        """The RTP packets of the call's audio so far, sent and received (none received: no sound is coming)."""
        return self._calls().media_counts(call_id)

    def audio_devices(self) -> list[AudioDevice]:
        """The sound devices there are, for choosing one by name (a started phone only)."""
        if self._endpoint is None:
            raise PhoneError("the phone is not running")
        return self._endpoint.audio_devices()

    def _calls(self) -> CallDesk:
        if self._desk is None or self._closing:
            raise PhoneError("the phone is not running")
        return self._desk

    def _on_incoming_call(self, call_id: int) -> None:
        if self._desk is not None:
            self._desk.ring(call_id)

    # -------------------------------------------------------------------------------------------- registration

    def _on_register_answer(self, answer: RegisterAnswer) -> None:
        if self._closing or self._endpoint is None:
            return
        answered, self._answered["REGISTER"] = self._answered.get("REGISTER") == answer.code, None
        outcome = registration_outcome(
            answer.code, answer.reason, answer.expiration, self.account.where, answered=answered
        )
        if outcome.state is RegistrationState.REGISTERED:
            self._failures = 0
            newly = self.registration.state is not RegistrationState.REGISTERED  # not a refresh
            self._set_registration(outcome)
            if newly:
                self._publish()
            return
        if outcome.state is RegistrationState.FAILED:
            log.info("registration of %s failed: %s (SIP %d)", self.account.sip_uri, outcome.detail, answer.code)
            if outcome.retrying:
                self._failures += 1
                self._register_later(retry_delay(self._failures, random.random()))
        self._set_registration(outcome)

    def _on_transport_lost(self) -> None:
        if self._closing or self.registration.state is not RegistrationState.REGISTERED:
            return
        where = self.account.where.server
        self._set_registration(
            Registration(RegistrationState.REGISTERING, f"lost the connection to {where}; registering again")
        )
        self._register_later(0.0)  # after pjsua has dropped the dead connection (it does so after this callback)

    def _register_later(self, seconds: float) -> None:
        if self._retry is not None:
            self._retry.cancel()
        log.debug("registering again in %.1f s", seconds)
        loop = asyncio.get_running_loop()  # pjsua2's callbacks run in the loop's event pump
        self._retry = loop.call_later(seconds, guarded, "a new registration", self._register_again)

    def _register_again(self) -> None:
        self._retry = None
        if self._user is None or self._closing:
            return
        try:
            self._user.setRegistration(True)
        except pj.Error as exc:
            log.info("could not send a REGISTER: %s", error_words(exc))
            self._failures += 1
            self._register_later(retry_delay(self._failures, random.random()))

    def _set_registration(self, registration: Registration) -> None:
        if registration != self.registration:
            self.registration = registration
            self._emit(registration)

    # ------------------------------------------------------------------------------------------- own presence

    def _publish(self) -> None:
        """PUBLISH the own presence (registered only: pjsua's publication starts with the registration)."""
        assert self._user is not None
        open_tuple, activity = published_as(self.presence.status)
        status = pj.PresenceStatus()
        status.status = pj.PJSUA_BUDDY_STATUS_ONLINE if open_tuple else pj.PJSUA_BUDDY_STATUS_OFFLINE
        status.activity = getattr(pj, activity.value)
        status.note = self.presence.note or ""
        try:
            self._user.setOnlineStatus(status)
        except pj.Error as exc:
            self._presence_answered(False, f"it could not be sent: {error_words(exc)}")
            return
        self._publishing += 1

    def _on_log_line(self, line: str) -> None:
        answer = sip_answer(line)
        if answer is not None:
            self._answered[answer.method] = answer.code
            if answer.code >= 200 and answer.code not in _RESENT_AFTER:
                self._goodbyes.discard(answer.method)
                # While closing, only the answer to a PUBLISH shutdown() waits for (not the un-PUBLISH's).
                if answer.method == "PUBLISH" and (self._publishing or not self._closing):
                    self._publishing = max(0, self._publishing - 1)
                    if 200 <= answer.code < 300 and not self._publishing:
                        self._presence_answered(True, "")
            return
        refusal = publish_refusal(line, self._answered.get("PUBLISH"))
        if refusal is not None:
            self._answered.pop("PUBLISH", None)
            if self._publishing or not self._closing:
                self._publishing = 0
                self._presence_answered(False, refusal)

    def _presence_answered(self, published: bool, detail: str) -> None:
        answered = replace(self.presence, published=published, detail=detail)
        if answered != self.presence:
            self.presence = answered
            if self._closing:  # a PUBLISH shutdown() waited for: the owner has stopped listening
                return
            if not published:
                log.warning("own presence not published: %s", detail)
            self._emit(answered)

    def _emit(self, event: PhoneEvent) -> None:
        # The owner's mistakes must not leave the engine half-way through a change (or reach pjsip).
        guarded("a phone event", lambda: self._on_event(event))
