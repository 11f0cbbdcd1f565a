"""A warning of something that may happen thousands of times a second (a flood): said when it first happens, then
at most once every `interval` seconds with how many times it happened meanwhile, so that an attack cannot fill the
operator's log."""

from __future__ import annotations

import logging
import math

__all__ = ["CountedWarning"]

RARE_LOG_INTERVAL = 60.0  # seconds between two lines of one warning


class CountedWarning:
    def __init__(self, logger: logging.Logger, text: str, interval: float = RARE_LOG_INTERVAL) -> None:
        self._log = logger
        self._text = text  # its first %s is the count; {names} are formatted from `happened`'s keywords
        self._interval = interval
        self._count = 0
        self._said_at = -math.inf

    def happened(self, now: float, *args: object, **names: object) -> None:
        self._count += 1
        if now - self._said_at < self._interval:
            return
        text = self._text.format(**names) + "; said again at most every %g s"
        self._log.warning(text, f"{self._count:,}", *args, self._interval)
        self._count = 0
        self._said_at = now
