"""Python's cycle collector kept off while many objects are made that hold no cycles (the app's launch, a book, its
rows, a full state of presence): each collection it would run meanwhile walks them all again (a third of the time at
10,000 contacts). Refcounting still frees them when they are dropped."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


def off_until_the_first_frame() -> None:
    """Turn the collector off for the app's launch: until the first frame is out, it would only walk the objects the
    launch makes (modules, widgets, styles), which live as long as the app (~40 ms of collections here)."""
    gc.disable()


def collect_from_now_on() -> None:
    """Turn the collector on again once the first frame is out, if the launch turned it off; what was made until
    then is set aside from it for good."""
    if not gc.isenabled():
        gc.freeze()
        gc.enable()


@contextmanager
def collector_paused(*, long_lived: bool = False) -> Iterator[None]:
    """Pause the collector, and turn it on again after if it was on. `long_lived`: what was made lives on (the book
    and its rows, for as long as the app shows them), so it is set aside from the collector for good (`gc.freeze`):
    else its next collections walk it once more (~50-70 ms at 10,000 contacts, before the frame that shows them)."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if long_lived:
            gc.freeze()
        if collecting:
            gc.enable()
