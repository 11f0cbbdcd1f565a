"""The phone engine's decisions, as pure functions (no pjsua2): what a REGISTER answer means for the user and
whether to try again, how long to wait before the next try, what a PUBLISH carries for each own status, and
which of pjsip's log lines report a SIP answer or a refused publication."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from .states import OwnStatus, Registration, RegistrationState

FIRST_RETRY_SECONDS = 2.0
LONGEST_RETRY_SECONDS = 300.0

# Answers that say "not now" rather than "not you", with any 5xx: tried again with backoff.
_TRANSIENT = frozenset({408, 429, 480})
_WRONG_CREDENTIALS = frozenset({401, 403, 407})


def retry_delay(failures: int, jitter: float) -> float:
    """Seconds before the next REGISTER after `failures` failures in a row (1 for the first): 2 s doubling to
    5 min, spread by +/-20 % with `jitter` in [0, 1) so that phones a server restart dropped do not come back
    in step."""
    base = min(LONGEST_RETRY_SECONDS, FIRST_RETRY_SECONDS * 2 ** max(0, failures - 1))
    return base * (0.8 + 0.4 * jitter)


@dataclass(frozen=True, slots=True)
class Where:
    """Who registers where, for the words of a failure."""

    user: str
    domain: str
    server: str  # "host:port" of the proxy when there is one, else the domain


def registration_outcome(code: int, reason: str, expiration: int, where: Where, *, answered: bool) -> Registration:
    """What the end of a REGISTER means. `answered`: the server sent that answer; otherwise pjsip made it up
    for a request that got none (408) or could not be sent (503, `reason` in pjsip's words: no connection, TLS
    refused).

    A wrong password is not retried: the same credentials would be refused again, and a registrar may lock the
    account after a storm of them; the user has to change the settings (a new Phone)."""
    if not answered and code in (408, 503):
        if code == 408:
            return Registration(RegistrationState.FAILED, f"no answer from {where.server}", retrying=True)
        return Registration(RegistrationState.FAILED, f"cannot reach {where.server}: {reason}", retrying=True)
    if 200 <= code < 300:
        if expiration > 0:
            return Registration(RegistrationState.REGISTERED)
        return Registration(RegistrationState.UNREGISTERED)
    if code in _WRONG_CREDENTIALS:
        return Registration(
            RegistrationState.FAILED, f"wrong password for {where.user} at {where.domain}", retrying=False
        )
    answer = f"{code} {reason}".strip()
    if code in _TRANSIENT or 500 <= code < 600:
        return Registration(RegistrationState.FAILED, f"{where.server} answered {answer}", retrying=True)
    return Registration(RegistrationState.FAILED, f"{where.server} refused the registration: {answer}", retrying=False)


class Activity(enum.Enum):
    """The RPID activities pjsip can publish (the names of its PJRPID_ACTIVITY_* constants)."""

    UNKNOWN = "PJRPID_ACTIVITY_UNKNOWN"  # no <person> at all: plain open or closed
    AWAY = "PJRPID_ACTIVITY_AWAY"
    BUSY = "PJRPID_ACTIVITY_BUSY"


# status -> (the tuple is open, the activity). Do not disturb is a closed tuple with the busy activity: a
# watcher's summary shows it as busy, and calls are not for now.
_PUBLISHED: dict[OwnStatus, tuple[bool, Activity]] = {
    OwnStatus.ONLINE: (True, Activity.UNKNOWN),
    OwnStatus.AWAY: (True, Activity.AWAY),
    OwnStatus.BUSY: (True, Activity.BUSY),
    OwnStatus.DO_NOT_DISTURB: (False, Activity.BUSY),
    OwnStatus.OFFLINE: (False, Activity.UNKNOWN),
}


def published_as(status: OwnStatus) -> tuple[bool, Activity]:
    """Whether the PIDF tuple is open, and the RPID activity, for the user's own `status`."""
    return _PUBLISHED[status]


@dataclass(frozen=True, slots=True)
class SipAnswer:
    code: int
    method: str


# pjsip logs each message it receives (msgLogging) as "RX 123 bytes Response msg 200/PUBLISH/cseq=4 (...)".
_RX_RESPONSE = re.compile(r"RX \d+ bytes Response msg (\d{3})/([A-Z]+)/cseq=\d+")
# ... and a PUBLISH that failed, with or without an answer from the server.
_PUBLISH_FAILED = re.compile(r"Client publication \(PUBLISH\) failed(?: \((\d{3})/([^)]*)\)|, status=\d+, msg=(.*))")


_CREDENTIALS = re.compile(r"^((?:Proxy-)?Authorization:)[^\r\n]*", re.IGNORECASE | re.MULTILINE)


def without_credentials(message: str) -> str:
    """A logged SIP message with its Authorization values left out (a digest answer lets anyone who reads the
    log try passwords offline)."""
    return _CREDENTIALS.sub(r"\1 (not logged)", message)


def sip_answer(line: str) -> SipAnswer | None:
    """The response a pjsip log line says arrived, if it says so."""
    match = _RX_RESPONSE.search(line)
    return SipAnswer(int(match.group(1)), match.group(2)) if match else None


def publish_refusal(line: str, last_answer: int | None) -> str | None:
    """The reason a pjsip log line gives for a failed PUBLISH, in one line, if it is such a line. `last_answer`:
    the status of the last answer the server sent to a PUBLISH (pjsip reports one it could not send as 503)."""
    match = _PUBLISH_FAILED.search(line)
    if match is None:
        return None
    if match.group(1) and int(match.group(1)) == last_answer:
        return f"the server refused it: {match.group(1)} {match.group(2)}".strip()
    return "it could not be sent: " + (match.group(3) or "no connection to the server").strip()
