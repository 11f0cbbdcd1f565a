"""The `console` gateway: logs that a message was sent (not its text) and appends it, as the JSON line
`{"to": E164, "text": ...}`, to the outbox file, created 0600: that file is where a developer reads the codes."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from . import SmsFailed

__all__ = ["ConsoleGateway"]

log = logging.getLogger(__name__)


class ConsoleGateway:
    def __init__(self, outbox: Path) -> None:
        self.outbox = outbox

    async def send(self, to: str, text: str) -> None:
        line = json.dumps({"to": to, "text": text}, ensure_ascii=False) + "\n"
        try:
            self.outbox.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            descriptor = os.open(self.outbox, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(descriptor, line.encode())  # one write of a whole line: readers never see half of one
            finally:
                os.close(descriptor)
        except OSError as error:
            raise SmsFailed(f"cannot write the SMS outbox {self.outbox}: {error.strerror or error}") from None
        log.info("SMS to %s: written to the outbox", to)

    async def close(self) -> None:
        return None
