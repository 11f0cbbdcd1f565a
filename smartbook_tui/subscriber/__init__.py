"""The client side of the list subscription: one SUBSCRIBE for the whole book, NOTIFYs in, updates out."""

from __future__ import annotations

from typing import TYPE_CHECKING

from smartbook_tui.lazy_exports import lazy_exports

if TYPE_CHECKING:
    from .tracker import ListTracker, PresenceUpdate, TrackResult

__all__ = ["ListTracker", "PresenceUpdate", "TrackResult"]

# Each name and the submodule it is imported from when first used: the screens' `subscriber.phase` then does not
# load the tracker and the NOTIFY decoders.
_SUBMODULE_OF = dict.fromkeys(__all__, "tracker")

__getattr__ = lazy_exports(__name__, _SUBMODULE_OF)
