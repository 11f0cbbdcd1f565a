"""How states read on screen: the one place for the words and colour classes of statuses, registration, the list
subscription and one's own presence."""

from __future__ import annotations

from smartbook_tui.phone.states import CallInfo, CallState, OwnPresence, OwnStatus, Registration, RegistrationState
from smartbook_tui.presence.summary import Availability
from smartbook_tui.roster.events import ListStatus
from smartbook_tui.subscriber.phase import Phase

# availability -> (symbol and words, the colour class of the stylesheet's component classes)
AVAILABILITY: dict[Availability, tuple[str, str]] = {
    Availability.ONLINE: ("● online", "online"),
    Availability.AWAY: ("◐ away", "away"),
    Availability.BUSY: ("⊘ busy", "busy"),
    Availability.ON_THE_PHONE: ("☎ on the phone", "phone"),
    Availability.OFFLINE: ("○ offline", "offline"),
    Availability.UNKNOWN: ("◌ hidden", "unknown"),  # an account whose live status the server keeps private
}

# a number sent that the service's discovery quota left unchecked: not "no account" (nobody knows yet), and no badge
NOT_CHECKED = ("not checked", "unknown")

# display order when sorting or picking: who is reachable first
OWN_STATUSES: tuple[tuple[OwnStatus, str], ...] = (
    (OwnStatus.ONLINE, "● online"),
    (OwnStatus.AWAY, "◐ away"),
    (OwnStatus.BUSY, "⊘ busy"),
    (OwnStatus.DO_NOT_DISTURB, "⊖ do not disturb"),
    (OwnStatus.OFFLINE, "○ offline"),
)
_OWN_WORDS = dict(OWN_STATUSES)


# colour class -> the style of a status in Content markup (the stylesheet gives the table the same colours)
STATUS_STYLES: dict[str, str] = {
    "online": "$success",
    "away": "$warning",
    "busy": "$error",
    "phone": "$accent",
    "offline": "dim",
    "unknown": "dim italic",
    "none": "",
    "ok": "$success",
    "pending": "$warning",
    "idle": "$text-muted",
    "error": "$error",
}


def availability_text(status: Availability, has_account: bool) -> tuple[str, str]:
    """The status cell of a contact: nothing for a contact without an account (there is no status to show)."""
    if not has_account:
        return "", "none"
    return AVAILABILITY[status]


def registration_text(registration: Registration | None) -> tuple[str, str]:
    """The registration part of the status bar and its colour class (ok, pending, idle, error)."""
    if registration is None:
        return "phone: starting", "pending"
    state = registration.state
    if state is RegistrationState.REGISTERED:
        return "registered", "ok"
    if state is RegistrationState.REGISTERING:
        return "registering…", "pending"
    if state is RegistrationState.FAILED:  # the why is in the notification and the help's log file: one line here
        return ("not registered, retrying" if registration.retrying else "not registered"), "error"
    return "unregistered", "idle"


_PHASES: dict[Phase, tuple[str, str]] = {
    Phase.IDLE: ("list: not subscribed", "idle"),
    Phase.SUBSCRIBING: ("list: subscribing…", "pending"),
    Phase.PENDING: ("list: waiting for the server", "pending"),
    Phase.ACTIVE: ("list: live", "ok"),
    Phase.WAITING: ("list: retrying", "error"),
    Phase.STOPPED: ("list: stopped", "idle"),
    Phase.FAILED: ("list: failed", "error"),
}


def list_text(status: ListStatus | None, shared: bool | None) -> tuple[str, str]:
    """The list subscription part of the status bar."""
    if shared is False:
        return "book not shared", "idle"
    if status is None:
        return "list: not yet subscribed", "idle"
    words, colour = _PHASES[status.phase]
    if status.phase is Phase.ACTIVE and not status.complete:
        words = "list: loading…"
    if status.phase is Phase.ACTIVE and status.quota:  # the service's discovery quota left numbers unchecked
        return f"{words}, some numbers not checked", "pending"
    return words, colour


def own_presence_text(presence: OwnPresence | None) -> tuple[str, str]:
    if presence is None:
        return "me: not published", "idle"
    words = _OWN_WORDS[presence.status]
    if presence.note:
        words = f"{words} “{presence.note}”"
    if presence.detail and not presence.published:
        return f"me: {words} (not published)", "error"
    return f"me: {words}", "ok" if presence.published else "pending"


def duration_text(seconds: float) -> str:
    """A call's length as a phone shows it: 0:07, 12:34, 1:02:03."""
    minutes, second = divmod(int(seconds), 60)
    hours, minute = divmod(minutes, 60)
    return f"{hours}:{minute:02d}:{second:02d}" if hours else f"{minute}:{second:02d}"


def call_state_text(call: CallInfo, now: float) -> tuple[str, str]:
    """Where a call is, in words with its length once answered, and its colour class."""
    state = call.state
    if state is CallState.CONFIRMED:
        return f"talking {duration_text(call.duration(now))}", "ok"
    if state is CallState.ON_HOLD:
        who = "on hold" if call.held else "held by them"
        return f"{who} {duration_text(call.duration(now))}", "pending"
    if state is CallState.ENDED:
        return f"ended: {call.end_reason}" if call.end_reason else "ended", "idle"
    return _CALL_STATES[state]


_CALL_STATES: dict[CallState, tuple[str, str]] = {
    CallState.CALLING: ("calling…", "pending"),
    CallState.RINGING: ("ringing…", "pending"),
    CallState.INCOMING: ("incoming call", "pending"),
    CallState.CONNECTING: ("connecting…", "pending"),
}


# an outgoing call's end (`phone.call_rules.end_reason`'s words) -> what the user reads, with {name}
_FAILED_CALLS: dict[str, str] = {
    "busy": "{name} is busy.",
    "declined": "{name} declined the call.",
    "not found": "Nobody on the service has the number or address you called for {name}.",
    "unavailable": "{name} is not signed in right now.",
    "no answer": "{name} did not answer.",
    "network": "The call to {name} could not go through: the network or the server failed. See the log.",
    "wrong password": "The server refused to place the call to {name}: your account's password is wrong.",
    "refused": "The server refused to place the call to {name}. See the log.",
}


def failed_call_text(name: str, reason: str) -> str:
    """Why an outgoing call never got an answer, as a sentence."""
    return _FAILED_CALLS.get(reason, "The call to {name} failed: {reason}.").format(name=name, reason=reason)
