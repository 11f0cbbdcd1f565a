"""A session's calls: what the owner asks (call, answer, decline, hang up, mute, hold, DTMF) goes to the phone; what
the phone says of a call goes to the owner as a `CallChanged`, and every call that ends to the call log."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from smartbook_tui.phone.states import CallEvent, CallInfo, CallState

from .call_log import CallLog, record_of
from .events import CallChanged, Notice, SessionEvent, Severity

if TYPE_CHECKING:
    from smartbook_tui.phone.engine import Phone

log = logging.getLogger(__name__)


class CallError(Exception):
    """What stops a call action, in one line for a person."""


class SessionCalls:
    def __init__(self, account: str, log_path: Path | None, emit: Callable[[SessionEvent], None]) -> None:
        self._account = account
        self._log_path = log_path
        self._log: CallLog | None = None  # read when first wanted
        self._emit = emit
        self.phone: Phone | None = None  # set while the phone runs

    @property
    def log(self) -> CallLog:
        if self._log is None:
            self._log = CallLog(self._account, self._log_path)
        return self._log

    @property
    def calls(self) -> tuple[CallInfo, ...]:
        """The calls under way, oldest first."""
        return self.phone.calls if self.phone is not None else ()

    def call(self, uri: str) -> None:
        self._do(lambda phone: phone.call(uri))

    def answer(self, call_id: int) -> None:
        self._do(lambda phone: phone.answer(call_id))

    def decline(self, call_id: int) -> None:
        self._do(lambda phone: phone.decline(call_id))

    def hang_up(self, call_id: int) -> None:
        self._do(lambda phone: phone.hang_up(call_id))

    def set_muted(self, call_id: int, muted: bool) -> None:
        self._do(lambda phone: phone.set_muted(call_id, muted))

    def set_held(self, call_id: int, held: bool) -> None:
        self._do(lambda phone: phone.set_held(call_id, held))

    def send_dtmf(self, call_id: int, digits: str) -> None:
        self._do(lambda phone: phone.send_dtmf(call_id, digits))

    def phone_event(self, event: CallEvent) -> None:
        self._emit(CallChanged(event.call, event.digit))
        if event.call.state is CallState.ENDED and not event.digit:
            try:
                self.log.add(record_of(event.call))
            except OSError as exc:
                log.warning("cannot keep the call in the call log: %s", exc)
                self._emit(Notice(Severity.WARNING, f"the call is not kept in the call log: {exc}"))

    def _do(self, action: Callable[[Phone], object]) -> None:
        phone = self.phone
        if phone is None:
            raise CallError("the phone is not running: calls need a registered account (see the status bar)")
        from smartbook_tui.phone.endpoint import PhoneError  # noqa: PLC0415 (loaded with the phone, not before)

        try:
            action(phone)
        except PhoneError as exc:
            raise CallError(str(exc)) from None
