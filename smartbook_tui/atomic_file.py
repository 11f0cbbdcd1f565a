"""Writing a file so that a reader sees the old content or the new, never half of it, whatever happens meanwhile."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def write_atomically(path: Path, data: bytes, *, mode: int = 0o644, directory_mode: int = 0o777) -> None:
    """Write `data` to a new file beside `path` (created with `mode`, parents as needed, the last one with
    `directory_mode` less the umask), flush it to disk, then rename it over `path`. Raises OSError."""
    path.parent.mkdir(mode=directory_mode, parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as file:
            os.fchmod(file.fileno(), mode)  # mkstemp makes it 0600; a settings file may be wanted readable
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    with contextlib.suppress(OSError):  # the rename itself survives a crash once the directory is synced
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
