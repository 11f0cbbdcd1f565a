"""A pjsua2 Call whose callbacks go to the engine's call desk on the loop's thread (exceptions caught there).
The desk holds the only reference to each one, and drops it before the endpoint goes."""

from __future__ import annotations

from typing import Any, Protocol

from .endpoint import guarded
from .pjsua import pj


class CallListener(Protocol):
    def call_state_changed(self, number: int) -> None: ...
    def call_media_changed(self, number: int) -> None: ...
    def digit_received(self, number: int, digit: str) -> None: ...


class PhoneCall(pj.Call):  # type: ignore[misc]
    """`number` is the engine's own id of the call (pjsua reuses its call ids)."""

    def __init__(self, account: Any, number: int, listener: CallListener, call_id: int = pj.PJSUA_INVALID_ID) -> None:
        super().__init__(account, call_id)
        self.number = number
        self._listener: CallListener | None = listener

    def onCallState(self, prm: Any) -> None:
        listener = self._listener
        if listener is not None:
            guarded("a call's state", lambda: listener.call_state_changed(self.number))

    def onCallMediaState(self, prm: Any) -> None:
        listener = self._listener
        if listener is not None:
            guarded("a call's media", lambda: listener.call_media_changed(self.number))

    def onDtmfDigit(self, prm: Any) -> None:
        listener = self._listener
        if listener is not None:
            digit = str(prm.digit)
            guarded("a DTMF digit", lambda: listener.digit_received(self.number, digit))

    def forget_listener(self) -> None:
        """No reference back to the desk: no cycle for the garbage collector to free on another thread."""
        self._listener = None
