"""What went wrong with the account API, as one sentence a person can act on: one for each error word of the API,
and for a server that cannot be reached or does not answer in time."""

from __future__ import annotations

import math

# error word -> the sentence shown; None: the server's own message says it best (it names the tries left, or the
# rule a user name or password broke)
SENTENCES: dict[str, str | None] = {
    "unauthorized": "The service refused the account's user name or password.",
    "account_not_activated": "This account is not activated yet: enter the code sent by SMS to its number.",
    "no_such_account": "The service has no such account.",
    "no_such_number": "No account has this number.",
    "no_pending_code": "No code is waiting for this number: ask for a new one.",
    "username_taken": "This user name is taken: choose another.",
    # at the code's confirmation: only whoever holds the number is told it has an account
    "number_taken": "This number already has an account: recover that account with its number instead.",
    "code_expired": "The code has expired: ask for a new one.",
    "code_void": "The code was wrong three times and no longer works: ask for a new one.",
    "invalid_phone": None,
    "username_looks_like_phone": "A user name may not look like a phone number: leave it empty to use the number.",
    "invalid_username": None,
    "invalid_password": None,
    "wrong_code": None,
    "invalid_body": None,
    "too_many_sms": "Too many codes were sent to this number today: try again in {wait}.",
    "too_many_code_events": "Too many codes or tries for this account: try again in {wait}.",
    "too_many_requests": "Too many requests to the service: try again in {wait}.",
    "too_many_failures": "Too many wrong passwords for this account from here: try again in {wait}.",
    "sms_failed": "The service could not send the SMS, and nothing was done: try again later.",
    "busy": "The service is busy: try again in a moment.",
}

# after these, the code screen stays: another try of the code, or a new code (the others end the task)
CODE_WORDS = frozenset({"wrong_code", "code_expired", "code_void", "no_pending_code"})
NEW_CODE_WORDS = frozenset({"code_expired", "code_void", "no_pending_code"})  # the code can no longer work

# the client's own words, for what the API never got to say
UNREACHABLE = "unreachable"
TIMEOUT = "timeout"
NOT_AN_API = "not_an_api"
NO_API = "no_api"
BAD_URL = "bad_url"
UNTRUSTED = "untrusted_certificate"  # an https API whose certificate does not verify
BAD_CA = "bad_ca"  # the CA file given cannot be used
NO_ACCOUNT = "no_account"
NO_CODE_YET = "no_code_yet"


class AssistantError(Exception):
    """The API refused, or could not be asked. `word` is the API's error word, or one of the client's own above;
    str() is one sentence for a person; `retry_after` is in seconds, for 429."""

    def __init__(self, word: str, sentence: str, *, status: int | None = None, retry_after: float | None = None):
        super().__init__(sentence)
        self.word = word
        self.status = status
        self.retry_after = retry_after


def api_error(status: int, body: object, retry_after: float | None) -> AssistantError:
    """The error an answer of `status` with the JSON `body` stands for."""
    word = body.get("error") if isinstance(body, dict) else None
    message = body.get("message") if isinstance(body, dict) else None
    message = message.strip() if isinstance(message, str) and message.strip() else None
    if not isinstance(word, str):
        word = f"http_{status}"
    sentence = SENTENCES.get(word)  # a word this version does not know: the server's message
    if sentence is None:
        sentence = _as_sentence(message) if message else f"The service refused the request ({status})."
    elif "{wait}" in sentence:
        sentence = sentence.format(wait=_wait(retry_after))
    return AssistantError(word, sentence, status=status, retry_after=retry_after)


def _wait(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "a while"
    if seconds < 90:
        whole = max(1, math.ceil(seconds))
        return f"{whole} second{'s' if whole > 1 else ''}"
    if seconds < 90 * 60:
        return f"{math.ceil(seconds / 60)} minutes"
    return f"{math.ceil(seconds / 3600)} hours"


def _as_sentence(text: str) -> str:
    """ "wrong code: 2 tries left" -> "Wrong code: 2 tries left."."""
    text = text.splitlines()[0].strip()
    return text[:1].upper() + text[1:] + ("" if text.endswith((".", "!", "?")) else ".")
