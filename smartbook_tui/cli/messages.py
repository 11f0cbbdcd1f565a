"""The one-line messages every command writes on stderr."""

from __future__ import annotations

import sys


def warn(message: str) -> None:
    print(f"smartbook: {message}", file=sys.stderr)


def fail(message: str) -> int:
    """Say why the command cannot go on; its exit status."""
    warn(message)
    return 2
