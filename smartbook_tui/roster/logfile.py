"""Where the app's log goes: a file, never the terminal the app draws on."""

from __future__ import annotations

import logging
from pathlib import Path

import platformdirs

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def default_log_path() -> Path:
    return platformdirs.user_log_path("smartbook") / "smartbook.log"


def log_to_file(path: Path, level: int = logging.INFO) -> Path:
    """Send every log record (and Python's warnings) to `path`, appended, and nothing to the terminal. Nothing
    logged holds a secret: passwords are never passed to a logger. Raises OSError when the file cannot be
    opened."""
    path = path.expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(True)
    return path
