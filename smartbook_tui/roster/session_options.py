"""What a session runs with, apart from the session itself: the CLI and the app make it before anything of the
session's stack (the list subscription, SIP, the book's readers, the phone) is loaded."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from smartbook_tui.config import Settings

from .call_log import default_call_log_path
from .logfile import default_log_path

DEFAULT_SERVICE_NAME = "Linphone"


@dataclass(slots=True)
class SessionOptions:
    """Everything a session runs with, resolved from the flags and the settings file (the flag wins)."""

    settings: Settings
    password: str | None = field(default=None, repr=False)  # the account's, from its file or $SMARTBOOK_PASSWORD
    share_book: bool | None = None  # True: consent given; None: not asked yet (the app asks, the session never)
    users_only: bool = False
    null_audio: bool = False
    audio_device: str | None = None  # by (a part of) its name; None: the system's default
    log_file: Path = field(default_factory=default_log_path)
    call_log: Path = field(default_factory=default_call_log_path)
    service_name: str = DEFAULT_SERVICE_NAME
    account_api: str | None = None  # the server's account API (the Assistant's), e.g. http://127.0.0.1:8080/api
    expires: int = 3600  # seconds a list subscription asks for
