"""Ending a foreground command that runs child processes (`smartbook demo`, `smartbook cluster up`) the one way
Ctrl-C ends it, whatever signal asks, so that its cleanup stops every child."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["interrupted_by_term_and_hangup"]


@contextmanager
def interrupted_by_term_and_hangup() -> Iterator[None]:
    """While the block runs, SIGTERM and SIGHUP (the terminal closed) raise KeyboardInterrupt, as Ctrl-C does."""

    def interrupt(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    previous = {signum: signal.signal(signum, interrupt) for signum in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
