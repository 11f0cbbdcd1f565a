"""The user's calls over pjsua2: placed to a SIP address, rung here, answered, declined (486 busy or 603
decline), hung up, muted, held and resumed, with DTMF (RFC 4733 telephone events); each change is a CallInfo for
the owner.

A second call while one is up: placing another call, or answering one that rings meanwhile (it rings, it is
never refused for the first one's sake), puts the call in progress on hold first; it stays held until the user
resumes it, as on a desk phone. Mute takes the microphone's port off the call's port on the conference bridge
(the speaker and the other calls are untouched), and a re-INVITE that renews the media keeps it so.

pjsua2's Call objects live in this desk only: an ended call is dropped on the loop's next turn (never inside its
own callback), and `close()` drops them all before the endpoint goes. One still referenced elsewhere then (by a
traceback's frame) is disowned: its C++ half is left alone rather than destroyed after the library, which aborts.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from .call import PhoneCall
from .call_rules import call_target_problem, dtmf_problem, end_reason, remote_party
from .endpoint import PhoneError, error_words, guarded
from .pjsua import pj
from .states import CallDirection, CallEvent, CallInfo, CallState, MediaCounts

log = logging.getLogger("smartbook_tui.phone")

_RINGING_HERE = 180
_BUSY = 486
_DECLINE = 603
_STATES = {
    pj.PJSIP_INV_STATE_NULL: CallState.CALLING,
    pj.PJSIP_INV_STATE_CALLING: CallState.CALLING,
    pj.PJSIP_INV_STATE_CONNECTING: CallState.CONNECTING,
    pj.PJSIP_INV_STATE_CONFIRMED: CallState.CONFIRMED,
}
_TALKING = (CallState.CONFIRMED, CallState.ON_HOLD)
_MEDIA_UP = (pj.PJSUA_CALL_MEDIA_ACTIVE, pj.PJSUA_CALL_MEDIA_REMOTE_HOLD)
_OFFER_UNDER_WAY = 70013  # PJ_EINVALIDOP from a re-INVITE: an offer (ours or theirs) is not through yet
_OFFER_RETRY_SECONDS = 0.05
_OFFER_TRIES = 40


@dataclass(slots=True)
class _Line:
    call: PhoneCall
    info: CallInfo
    announced: bool = False  # the owner has heard of it (not before makeCall succeeds)
    by_you: bool = False  # the user hung up, cancelled or declined it
    rang: bool = False  # the other side rang
    offered_held: bool = False  # what the last re-INVITE of ours offered: hold (sendonly) or not


def _settled(info: CallInfo) -> CallInfo:
    """The state a talking call shows: on hold when either side holds it."""
    if info.state not in _TALKING:
        return info
    state = CallState.ON_HOLD if info.held or info.held_by_them else CallState.CONFIRMED
    return info if state is info.state else replace(info, state=state)


def _audio_indexes(call: PhoneCall, statuses: tuple[int, ...] = _MEDIA_UP) -> list[int]:
    # The CallInfo stays referenced while its media are read: SWIG's members point into it.
    info = call.getInfo()
    return [media.index for media in info.media if media.type == pj.PJMEDIA_TYPE_AUDIO and media.status in statuses]


class CallDesk:
    """Every method runs on the loop's thread. `ports()` gives the microphone's and the speaker's ports."""

    def __init__(self, account: Any, ports: Callable[[], tuple[Any, Any]], emit: Callable[[CallEvent], None]) -> None:
        self._account = account
        self._ports = ports
        self._emit = emit
        self._lines: dict[int, _Line] = {}
        self._numbers = itertools.count(1)
        self._ended: list[PhoneCall] = []  # dropped on the loop's next turn, outside their own callbacks
        self._made: weakref.WeakSet[PhoneCall] = weakref.WeakSet()
        self._closing = False

    @property
    def calls(self) -> tuple[CallInfo, ...]:
        return tuple(line.info for line in self._lines.values())

    # ------------------------------------------------------------------------------------------- the user's

    def place(self, uri: str) -> CallInfo:
        problem = call_target_problem(uri)
        if problem is not None:
            raise PhoneError(problem)
        self._hold_others(None)
        number = next(self._numbers)
        line = _Line(
            self._new_call(number, pj.PJSUA_INVALID_ID),
            CallInfo(number, CallDirection.OUTGOING, uri, "", CallState.CALLING, time.time()),
        )
        self._lines[number] = line
        try:
            line.call.makeCall(uri, pj.CallOpParam(True))
        except pj.Error as exc:
            self._forget(line)
            raise PhoneError(f"cannot call {uri}: {error_words(exc)}") from None
        line.announced = True
        self._emit(CallEvent(line.info))
        return line.info

    def answer(self, number: int) -> None:
        line = self._ringing(number)
        self._hold_others(number)
        self._answer_with(line, 200)

    def decline(self, number: int, *, busy: bool) -> None:
        line = self._ringing(number)
        line.by_you = True
        self._hang_up_with(line, _BUSY if busy else _DECLINE)

    def hang_up(self, number: int) -> None:
        """BYE when talking, CANCEL while it rings there, 603 Decline while it rings here."""
        line = self._line(number)
        line.by_you = True
        self._hang_up_with(line, 0)

    def set_muted(self, number: int, muted: bool) -> None:
        line = self._line(number)
        if muted == line.info.muted:
            return
        capture, _ = self._ports()
        for index in _audio_indexes(line.call):
            audio = line.call.getAudioMedia(index)
            if muted:
                capture.stopTransmit(audio)
            else:
                capture.startTransmit(audio)
        self._update(line, muted=muted)

    def set_held(self, number: int, held: bool) -> None:
        """A re-INVITE offering sendonly (hold), or sendrecv again (resume)."""
        line = self._line(number)
        if line.info.state not in _TALKING:
            raise PhoneError(f"call {number} is not answered: it cannot be {'held' if held else 'resumed'}")
        self._update(line, held=held)
        self._offer_hold(line, _OFFER_TRIES)

    def send_dtmf(self, number: int, digits: str) -> None:
        """As RFC 4733 telephone events in the call's RTP stream."""
        problem = dtmf_problem(digits)
        if problem is not None:
            raise PhoneError(problem)
        line = self._line(number)
        parameters = pj.CallSendDtmfParam()
        parameters.method = pj.PJSUA_DTMF_METHOD_RFC2833
        parameters.digits = digits
        try:
            line.call.sendDtmf(parameters)
        except pj.Error as exc:
            raise PhoneError(f"cannot send {digits} in call {number}: {error_words(exc)}") from None

    def media_counts(self, number: int) -> MediaCounts:
        line = self._line(number)
        indexes = _audio_indexes(line.call, (*_MEDIA_UP, pj.PJSUA_CALL_MEDIA_LOCAL_HOLD))
        if not indexes:
            return MediaCounts(0, 0)
        stat = line.call.getStreamStat(indexes[0])  # referenced while its parts are read: they point into it
        rtcp = stat.rtcp
        return MediaCounts(int(rtcp.txStat.pkt), int(rtcp.rxStat.pkt))

    def hang_up_all(self) -> None:
        self._closing = True
        for line in list(self._lines.values()):
            line.by_you = True
            self._hang_up_with(line, 0)

    def close(self) -> None:
        """Drop every Call (one not ended yet is hung up by pjsua as it goes)."""
        self._closing = True
        for line in self._lines.values():
            line.call.forget_listener()
        self._lines.clear()
        self._ended.clear()
        for call in list(self._made):
            call.thisown = False

    # ------------------------------------------------------------------------------------------- pjsua2's

    def ring(self, call_id: int) -> None:
        """A call came in: it rings (180) and the owner hears of it, or it is refused as busy while closing."""
        number = next(self._numbers)
        call = self._new_call(number, call_id)
        uri, name = remote_party(call.getInfo().remoteUri)
        info = CallInfo(number, CallDirection.INCOMING, uri, name, CallState.INCOMING, time.time())
        line = _Line(call, info, announced=True)
        self._lines[number] = line
        if self._closing:
            self._hang_up_with(line, _BUSY)
            return
        self._answer_with(line, _RINGING_HERE)
        self._emit(CallEvent(info))  # after the 180: the owner may answer at once

    def call_state_changed(self, number: int) -> None:
        line = self._lines.get(number)
        if line is None:
            return
        info = line.call.getInfo()
        if info.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            code = int(info.lastStatusCode)
            reason = end_reason(
                code,
                str(info.lastReason),
                direction=line.info.direction,
                answered=line.info.answered,
                rang=line.rang,
                by_you=line.by_you,
            )
            self._forget(line)
            self._update(line, state=CallState.ENDED, ended=time.time(), end_reason=reason, end_code=code)
            return
        if line.info.direction is CallDirection.INCOMING:
            state = _STATES.get(info.state, CallState.INCOMING)
        elif info.state == pj.PJSIP_INV_STATE_EARLY:
            line.rang = True
            state = CallState.RINGING
        else:
            state = _STATES.get(info.state, CallState.CALLING)
        connected = line.info.connected
        if state is CallState.CONFIRMED and connected is None:
            connected = time.time()
        if line.info.state in _TALKING and state is CallState.CONFIRMED:
            state = line.info.state  # a re-INVITE's end: the hold flags decide
        self._update(line, state=state, connected=connected)

    def call_media_changed(self, number: int) -> None:
        line = self._lines.get(number)
        if line is None:
            return
        capture, playback = self._ports()
        info = line.call.getInfo()
        for index in _audio_indexes(line.call):
            audio = line.call.getAudioMedia(index)
            audio.startTransmit(playback)
            if not line.info.muted:
                capture.startTransmit(audio)
        held_by_them = any(
            item.type == pj.PJMEDIA_TYPE_AUDIO and item.status == pj.PJSUA_CALL_MEDIA_REMOTE_HOLD for item in info.media
        )
        self._update(line, held_by_them=held_by_them)

    def digit_received(self, number: int, digit: str) -> None:
        line = self._lines.get(number)
        if line is not None:
            self._emit(CallEvent(line.info, digit))

    # ----------------------------------------------------------------------------------------------- inside

    def _line(self, number: int) -> _Line:
        line = self._lines.get(number)
        if line is None:
            raise PhoneError(f"there is no call {number}")
        return line

    def _ringing(self, number: int) -> _Line:
        line = self._line(number)
        if line.info.state is not CallState.INCOMING:
            raise PhoneError(f"call {number} is not ringing here")
        return line

    def _hold_others(self, number: int | None) -> None:
        for other in list(self._lines.values()):
            if other.info.id != number and other.info.state is CallState.CONFIRMED and not other.info.held:
                self.set_held(other.info.id, True)

    def _new_call(self, number: int, call_id: int) -> PhoneCall:
        call = PhoneCall(self._account, number, self, call_id)
        self._made.add(call)
        return call

    def _offer_hold(self, line: _Line, tries: int) -> None:
        """Send the re-INVITE the user's hold or resume asks for; while another offer is under way, try again
        a moment later (quick presses end where the last one says)."""
        held = line.info.held
        if held == line.offered_held or self._lines.get(line.info.id) is not line:
            return
        parameters = pj.CallOpParam(True)
        try:
            if held:
                line.call.setHold(parameters)
            else:
                parameters.opt.flag = pj.PJSUA_CALL_UNHOLD
                line.call.reinvite(parameters)
        except pj.Error as exc:
            if exc.status == _OFFER_UNDER_WAY and tries > 1:
                retry = functools.partial(self._offer_hold, line, tries - 1)
                asyncio.get_running_loop().call_later(_OFFER_RETRY_SECONDS, guarded, "a hold or a resume", retry)
                return
            log.info("call %d could not be %s: %s", line.info.id, "held" if held else "resumed", error_words(exc))
            self._update(line, held=line.offered_held)
            return
        line.offered_held = held

    def _answer_with(self, line: _Line, code: int) -> None:
        parameters = pj.CallOpParam(True)
        parameters.statusCode = code
        try:
            line.call.answer(parameters)
        except pj.Error as exc:
            raise PhoneError(f"cannot answer call {line.info.id}: {error_words(exc)}") from None

    def _hang_up_with(self, line: _Line, code: int) -> None:
        parameters = pj.CallOpParam(True)
        parameters.statusCode = code
        try:
            line.call.hangup(parameters)
        except pj.Error as exc:
            log.info("call %d could not be hung up: %s", line.info.id, error_words(exc))

    def _forget(self, line: _Line) -> None:
        self._lines.pop(line.info.id, None)
        line.call.forget_listener()
        self._ended.append(line.call)
        asyncio.get_running_loop().call_soon(self._ended.clear)

    def _update(self, line: _Line, **changes: Any) -> None:
        info = _settled(replace(line.info, **changes))
        if info != line.info:
            line.info = info
            if line.announced:
                self._emit(CallEvent(info))
