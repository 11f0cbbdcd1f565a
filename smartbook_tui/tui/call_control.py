"""The app's side of calls: keys become the session's call actions (through `SessionCalls`), and what the session
says of calls becomes the call bar, the incoming-call dialog and a notification when a call ends. Names come from
the book as it is now (`roster.calls.caller_row`), else from what the other side calls itself."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from smartbook_tui.phone.states import CallDirection, CallInfo, CallState
from smartbook_tui.roster.calls import CallTarget, call_targets, caller_row
from smartbook_tui.roster.model import Row
from smartbook_tui.roster.session_calls import CallError
from smartbook_tui.tui.presentation import duration_text, failed_call_text

if TYPE_CHECKING:
    from smartbook_tui.roster.call_log import CallRecord
    from smartbook_tui.tui.app import SmartbookApp
    from smartbook_tui.tui.screens.call_dialogs import Answer, IncomingCallDialog

_ANSWERED = (CallState.CONNECTING, CallState.CONFIRMED, CallState.ON_HOLD)


class CallControl:
    def __init__(self, app: SmartbookApp) -> None:
        self.app = app
        self.calls: dict[int, CallInfo] = {}  # under way, oldest first
        self._ringing: dict[int, IncomingCallDialog] = {}

    @property
    def current(self) -> CallInfo | None:
        """The call the keys act on: the newest one not held by the user, else the newest."""
        calls = list(self.calls.values())
        talking = [call for call in calls if not call.held]
        return (talking or calls or [None])[-1]

    # -- what the session says

    def changed(self, call: CallInfo) -> None:
        if call.state is CallState.ENDED:
            self.calls.pop(call.id, None)
            self._tell_end(call)
        else:
            self.calls[call.id] = call
        if call.state is CallState.INCOMING and call.id not in self._ringing:
            self._ring(call)
        elif call.state is not CallState.INCOMING:
            self._stop_ringing(call.id)
        shown = [(info, self.name_for(info.remote_uri, info.remote_name)) for info in self.calls.values()]
        current = self.current
        self.app.main.show_calls(shown, current.id if current is not None else None)
        self.app.refresh_bindings()

    def _ring(self, call: CallInfo) -> None:
        from smartbook_tui.tui.screens.call_dialogs import IncomingCallDialog  # noqa: PLC0415 (loaded when it rings)

        caller = self.name_for(call.remote_uri, call.remote_name)
        dialog = IncomingCallDialog(call.id, caller=caller, address=call.remote_uri)
        self._ringing[call.id] = dialog
        self.app.push_screen(dialog, lambda answer: self._answered(call.id, answer))
        self.app.bell()

    def _answered(self, call_id: int, answer: Answer | None) -> None:
        self._ringing.pop(call_id, None)
        if answer is None or call_id not in self.calls:  # the caller gave up meanwhile
            return
        if answer == "answer":
            self._act(lambda calls: calls.answer(call_id))
        else:
            self._act(lambda calls: calls.decline(call_id))

    def _stop_ringing(self, call_id: int) -> None:
        dialog = self._ringing.pop(call_id, None)
        if dialog is not None:
            dialog.call_over()

    def _tell_end(self, call: CallInfo) -> None:
        name = self.name_for(call.remote_uri, call.remote_name)
        if call.answered:
            self.app.notify(f"Call with {name} ended after {duration_text(call.duration(call.ended or 0.0))}.")
        elif call.direction is CallDirection.INCOMING:
            if call.end_reason not in ("declined", "busy"):
                self.app.notify(f"Missed call from {name}. Press r for the calls.", severity="warning", timeout=30)
        elif call.end_reason != "cancelled":
            self.app.notify(failed_call_text(name, call.end_reason), severity="warning", timeout=10)

    # -- what the user asks

    def call_row(self, row: Row) -> None:
        targets = call_targets(row)
        name = row.contact.name
        if not targets:
            self.app.notify(
                f"{name} has no number or address to call (a number needs its country code, or --region).",
                severity="warning",
            )
        elif len(targets) == 1:
            self.call(targets[0])
        else:
            from smartbook_tui.tui.screens.call_dialogs import NumberChooser  # noqa: PLC0415 (loaded when wanted)

            chooser = NumberChooser(name, targets, service_name=self.app.service_name)
            self.app.push_screen(chooser, lambda target: target is not None and self.call(target))

    def call(self, target: CallTarget) -> None:
        self._act(lambda calls: calls.call(target.uri))

    def call_back(self, record: CallRecord | None) -> None:
        if record is not None:
            self._act(lambda calls: calls.call(record.remote))

    def hang_up(self) -> None:
        if (call := self.current) is not None:
            self._act(lambda calls: calls.hang_up(call.id))

    def toggle_mute(self) -> None:
        if (call := self.current) is not None:
            self._act(lambda calls: calls.set_muted(call.id, not call.muted))

    def toggle_hold(self) -> None:
        call = self.current
        if call is None or call.state not in _ANSWERED:
            self.app.notify("Only an answered call can be held.", timeout=4)
            return
        self._act(lambda calls: calls.set_held(call.id, not call.held))

    def send_tone(self, digit: str) -> None:
        if (call := self.current) is not None and call.state in _ANSWERED:
            self._act(lambda calls: calls.send_dtmf(call.id, digit))

    def records(self) -> list[CallRecord]:
        session = self.app.session
        return session.calls.log.records if session is not None else []

    def name_for(self, uri: str, display_name: str = "") -> str:
        """The book's name for a remote party, else the name it gave, else its address without the scheme."""
        row = caller_row(self.app.main.roster, uri, self.app.domain)
        if row is not None:
            return row.contact.name
        return display_name or uri.partition(":")[2] or uri

    def _act(self, action: Callable[..., object]) -> None:
        session = self.app.session
        if session is None:
            self.app.notify("No account is connected yet.", severity="warning")
            return
        try:
            action(session.calls)
        except CallError as exc:
            self.app.notify(str(exc), severity="error", timeout=10)
