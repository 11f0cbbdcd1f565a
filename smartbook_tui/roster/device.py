"""This installation's identity as a SIP device (RFC 5626 `+sip.instance`), kept in the user's data directory.

A registrar keeps one binding per account and instance, and replaces it when the same instance registers again.
pjsua's own instance is a hash of the host name, so two installations on hosts of one name (or two runs on one host)
would be one device to the server, and only the last to register would ring. A UUID made once and kept is what a
device's instance is meant to be: stable across restarts, distinct between installations."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

import platformdirs

from smartbook_tui.atomic_file import write_atomically

log = logging.getLogger(__name__)

_PREFIX = "urn:uuid:"


def default_device_path() -> Path:
    return platformdirs.user_data_path("smartbook") / "device-instance"


def device_instance(path: Path | None = None) -> str | None:
    """The instance URN (`urn:uuid:...`), made and kept in `path` on first need (a damaged file is replaced). None
    when the file can neither be read nor written: the phone then uses pjsua's instance, and the log says why."""
    path = path or default_device_path()
    try:
        kept = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        kept = ""
    except (OSError, UnicodeDecodeError) as exc:
        log.warning("cannot read this device's instance from %s (%s): making a new one", path, exc)
        kept = ""
    if _is_instance(kept):
        return kept
    made = f"{_PREFIX}{uuid.uuid4()}"
    try:
        write_atomically(path, f"{made}\n".encode("ascii"))
    except OSError as exc:
        log.warning("cannot keep this device's instance in %s (%s): the host name's instance is used", path, exc)
        return None
    return made


def _is_instance(text: str) -> bool:
    if not text.startswith(_PREFIX):
        return False
    try:
        uuid.UUID(text.removeprefix(_PREFIX))
    except ValueError:
        return False
    return True
