"""The rules of SMS codes and their quotas, without I/O: every function takes `now` (seconds since the epoch, so
that what the database keeps across a restart still means the same) and the times of the past events.

* A code is 4 digits, valid `lifetime` seconds, voided by its `tries`-th wrong try; a new code of the same purpose
  replaces the previous one.
* At most `sms_per_number` SMS to one number in `SMS_WINDOW`, and `events_per_account` code events (codes sent,
  wrong tries) of one account in `EVENTS_WINDOW`; past that, `Throttled` says when to try again. A right code is
  taken even then: the limit is on codes sent and on guessing, not on the user who got the code.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "EVENTS_WINDOW",
    "SMS_WINDOW",
    "Accepted",
    "CodePolicy",
    "Expired",
    "PendingCode",
    "Purpose",
    "Throttled",
    "Void",
    "Wrong",
    "check_code",
    "new_code",
    "send_refusal",
]

Purpose = Literal["activate", "link", "recover"]
SMS_WINDOW = 24 * 3600.0
EVENTS_WINDOW = 30 * 60.0


@dataclass(frozen=True, slots=True)
class CodePolicy:
    lifetime: float = 600.0  # seconds a code is valid
    tries: int = 3  # wrong tries that void a code
    sms_per_number: int = 3  # in SMS_WINDOW
    events_per_account: int = 5  # in EVENTS_WINDOW


@dataclass(frozen=True, slots=True)
class PendingCode:
    purpose: Purpose
    phone: str  # E.164: the number the code was sent to, and proves
    code: str
    expires_at: float
    wrong_tries: int = 0


@dataclass(frozen=True, slots=True)
class Accepted:
    phone: str


@dataclass(frozen=True, slots=True)
class Wrong:
    tries_left: int


@dataclass(frozen=True, slots=True)
class Void:
    """The code had its last wrong try: a new one must be asked for. `counted`: this try was that last one."""

    counted: bool = False


@dataclass(frozen=True, slots=True)
class Expired:
    pass


@dataclass(frozen=True, slots=True)
class Throttled:
    reason: Literal["too_many_sms", "too_many_code_events"]
    retry_after: int  # whole seconds, at least 1


def new_code(
    policy: CodePolicy,
    purpose: Purpose,
    phone: str,
    now: float,
    digits: Callable[[int], int] = secrets.randbelow,
) -> PendingCode:
    return PendingCode(purpose, phone, f"{digits(10_000):04d}", now + policy.lifetime)


def send_refusal(
    policy: CodePolicy, sms_times: Sequence[float], event_times: Sequence[float] | None, now: float
) -> Throttled | None:
    """Why no code may be sent now to a number that had SMS at `sms_times`, for an account that had code events
    at `event_times` (None: no account yet); None when one may."""
    wait = _wait(sms_times, policy.sms_per_number, SMS_WINDOW, now)
    if wait is not None:
        return Throttled("too_many_sms", wait)
    return _events_refusal(policy, event_times or (), now)


def check_code(
    policy: CodePolicy, pending: PendingCode, given: str, event_times: Sequence[float], now: float
) -> Accepted | Wrong | Void | Expired | Throttled:
    """What a try of `given` against `pending` comes to. A wrong try is a code event to record: the answer is then
    `Wrong`, `Void(counted=True)` for the last one, or `Throttled` when the account had too many code events. A
    right code is taken whatever the account's events (its wrong tries are bounded by `tries` anyway); `Void` and
    `Expired` leave no code to try again."""
    if pending.wrong_tries >= policy.tries:
        return Void()
    if now >= pending.expires_at:
        return Expired()
    if secrets.compare_digest(given.encode(), pending.code.encode()):
        return Accepted(pending.phone)
    throttled = _events_refusal(policy, event_times, now)
    if throttled is not None:
        return throttled
    tries_left = policy.tries - pending.wrong_tries - 1
    return Wrong(tries_left) if tries_left > 0 else Void(counted=True)


def _events_refusal(policy: CodePolicy, event_times: Sequence[float], now: float) -> Throttled | None:
    wait = _wait(event_times, policy.events_per_account, EVENTS_WINDOW, now)
    return Throttled("too_many_code_events", wait) if wait is not None else None


def _wait(times: Sequence[float], allowed: int, window: float, now: float) -> int | None:
    """Seconds until fewer than `allowed` of `times` fall in the `window` before the moment; None when they
    already do."""
    recent = sorted(moment for moment in times if now - window < moment <= now)
    if len(recent) < allowed:
        return None
    frees_at = recent[len(recent) - allowed] + window  # when the oldest that must go leaves the window
    return max(1, math.ceil(frees_at - now))
