"""Random tokens for tags, branches and ETags, drawn from the system's generator a block at a time.

`secrets.token_hex` makes a system call for each token, and the server makes one for every NOTIFY it sends (its
branch): reading `_BLOCK` bytes at once and slicing them gives the same randomness for a fraction of the cost."""

from __future__ import annotations

import os

__all__ = ["TokenSource"]

_BLOCK = 4096


class TokenSource:
    """Call it for a new token: `size` random bytes as hex (16 characters by default)."""

    def __init__(self, size: int = 8) -> None:
        self._size = size
        self._block = b""
        self._used = 0

    def __call__(self) -> str:
        start = self._used
        if start + self._size > len(self._block):
            self._block, start = os.urandom(_BLOCK), 0
        self._used = start + self._size
        return self._block[start : self._used].hex()
