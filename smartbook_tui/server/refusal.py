"""The one shape of a request the server refuses: a status, a one-line reason phrase, headers the answer needs."""

from __future__ import annotations

import re

__all__ = ["Refusal", "one_line"]

_REASON_LIMIT = 160
_NOT_PRINTABLE = re.compile(r"[\x00-\x1f\x7f]+")


class Refusal(Exception):
    """A request to refuse: answer `status reason`, with `headers` added (Min-Expires for 423, Accept for 415...).
    The reason is made one printable line of at most 160 characters, as a status line needs."""

    def __init__(self, status: int, reason: str, headers: dict[str, str] | None = None) -> None:
        self.status = status
        self.reason = one_line(reason)
        self.headers: dict[str, str] = dict(headers or {})
        super().__init__(f"{status} {self.reason}")


def one_line(text: str) -> str:
    """A reason phrase goes in a status line: no control characters (CR/LF would inject headers), bounded."""
    text = " ".join(_NOT_PRINTABLE.sub(" ", text).split())
    return text if len(text) <= _REASON_LIMIT else text[: _REASON_LIMIT - 3] + "..."
