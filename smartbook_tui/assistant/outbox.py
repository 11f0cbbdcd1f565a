"""The console SMS gateway's outbox (`smartbook server run --sms console --sms-outbox FILE`): one JSON line
{"to": E164, "text": "..."} a message. Read as a phone reads its SMS: the demo shows each as a notification, and the
tests take the codes from it."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from . import OUTBOX_VARIABLE
from .phone_entry import shown_number

__all__ = ["OUTBOX_VARIABLE", "Outbox", "Sms"]

_CODE = re.compile(r"\b(\d{4})\b")


@dataclass(frozen=True, slots=True)
class Sms:
    to: str
    text: str

    @property
    def code(self) -> str | None:
        found = _CODE.search(self.text)
        return found.group(1) if found else None

    def notice(self) -> str:
        """The SMS as the demo shows it: "SMS to +33 6 39 98 99 01: your code is 4821"."""
        code = self.code
        said = f"your code is {code}" if code else self.text
        return f"SMS to {shown_number(self.to)}: {said}"


class Outbox:
    """The file followed from where it was last read: each call of `new_messages` returns what was added since."""

    def __init__(self, path: Path, *, from_start: bool = True) -> None:
        self.path = path
        self._offset = 0 if from_start or not path.exists() else path.stat().st_size

    def new_messages(self) -> list[Sms]:
        try:
            with self.path.open("rb") as file:
                file.seek(self._offset)
                data = file.read()
        except FileNotFoundError:
            return []
        complete = data.rpartition(b"\n")[0]  # a line still being written is read next time
        if not complete:
            return []
        self._offset += len(complete) + 1
        messages = []
        for line in complete.splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict) and isinstance(entry.get("to"), str) and isinstance(entry.get("text"), str):
                messages.append(Sms(entry["to"], entry["text"]))
        return messages
