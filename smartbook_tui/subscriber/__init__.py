"""The client side of the list subscription: one SUBSCRIBE for the whole book, NOTIFYs in, updates out."""

from .tracker import ListTracker, PresenceUpdate, TrackResult

__all__ = ["ListTracker", "PresenceUpdate", "TrackResult"]
