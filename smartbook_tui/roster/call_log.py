"""The call log, kept between runs: each account's last calls (missed, incoming, outgoing), newest first, in a JSON
file of the user's data directory, written atomically and readable by the user alone (it says whom they talk to).

Names are not stored: the app finds them in the book as it is when the log is shown (`calls.caller_row`), with the
display name the other party gave as the fallback. A file that cannot be read is set aside, not overwritten, and
the log starts again; records it cannot read are skipped and said in the log.
"""

from __future__ import annotations

import enum
import json
import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import platformdirs

from smartbook_tui.atomic_file import write_atomically
from smartbook_tui.phone.states import CallDirection, CallInfo

log = logging.getLogger(__name__)

KEPT_PER_ACCOUNT = 500
_REFUSED_HERE = frozenset({486, 600, 603})  # the final answers the user gives a call ringing here to decline it


class CallOutcome(enum.Enum):
    ANSWERED = "answered"  # talked, whoever hung up
    MISSED = "missed"  # incoming, never answered nor declined: the caller gave up, or nobody was there
    DECLINED = "declined"  # incoming, refused by the user
    FAILED = "failed"  # outgoing, never answered: busy, declined, not found, no answer, network...


@dataclass(frozen=True, slots=True)
class CallRecord:
    direction: CallDirection
    remote: str  # the other party's SIP URI
    display_name: str | None  # as the other party gave it
    started: datetime  # with its time zone
    outcome: CallOutcome
    ending: str  # the end in words: "hung up", "busy", "no answer"...
    talked: float = 0.0  # seconds

    def to_json(self) -> dict[str, object]:
        return {
            "direction": self.direction.value,
            "remote": self.remote,
            "display_name": self.display_name,
            "started": self.started.isoformat(),
            "outcome": self.outcome.value,
            "ending": self.ending,
            "talked": round(self.talked, 1),
        }

    @classmethod
    def from_json(cls, item: object) -> CallRecord:
        """Raises ValueError (KeyError, TypeError included) for what is not a record."""
        if not isinstance(item, dict):
            raise ValueError("not an object")
        started = datetime.fromisoformat(str(item["started"]))
        if started.tzinfo is None:
            raise ValueError("a time without its zone")
        display_name = item.get("display_name")
        return cls(
            CallDirection(item["direction"]),
            str(item["remote"]),
            str(display_name) if display_name is not None else None,
            started,
            CallOutcome(item["outcome"]),
            str(item["ending"]),
            float(item.get("talked", 0.0)),
        )


def record_of(call: CallInfo) -> CallRecord:
    """The log's record of an ended call."""
    if call.answered:
        outcome = CallOutcome.ANSWERED
    elif call.direction is CallDirection.OUTGOING:
        outcome = CallOutcome.FAILED
    else:  # the final answer to a call ringing here is ours: a refusal is the user's, anything else missed it
        outcome = CallOutcome.DECLINED if call.end_code in _REFUSED_HERE else CallOutcome.MISSED
    return CallRecord(
        call.direction,
        call.remote_uri,
        call.remote_name or None,
        datetime.fromtimestamp(call.started, UTC),
        outcome,
        call.end_reason,
        call.duration(call.ended if call.ended is not None else call.started),
    )


def default_call_log_path() -> Path:
    return platformdirs.user_data_path("smartbook") / "calls.json"


class CallLog:
    """The calls of one account: read once, then kept in memory and written again after each call."""

    def __init__(self, account: str, path: Path | None = None) -> None:
        self.account = account
        self.path = path or default_call_log_path()
        self._others: dict[str, list[object]] = {}  # the other accounts' records, written back as they were
        self.records: list[CallRecord] = []  # newest first
        self._kept_nowhere: str | None = None  # why the file must not be written (it could not be read nor set aside)
        self._read()

    def add(self, record: CallRecord) -> None:
        """Keep the record first; the file is written before this returns (OSError when it cannot be)."""
        self.records = [record, *self.records][:KEPT_PER_ACCOUNT]
        if self._kept_nowhere is not None:
            raise OSError(self._kept_nowhere)
        document = {"calls": {**self._others, self.account: [kept.to_json() for kept in self.records]}}
        data = json.dumps(document, ensure_ascii=False, indent=1, sort_keys=True) + "\n"
        write_atomically(self.path, data.encode("utf-8"), mode=0o600, directory_mode=0o700)

    def _read(self) -> None:
        try:
            document = json.loads(self.path.read_text(encoding="utf-8"))
            calls = document["calls"]
            if not isinstance(calls, dict) or not all(isinstance(items, list) for items in calls.values()):
                raise ValueError("'calls' is not a list per account")
        except FileNotFoundError:
            return
        except (OSError, ValueError, KeyError, TypeError) as exc:
            self._set_aside(exc)
            return
        mine = calls.pop(self.account, [])
        self._others = calls
        unread = 0
        for item in mine:
            try:
                self.records.append(CallRecord.from_json(item))
            except (ValueError, KeyError, TypeError):
                unread += 1
        if unread:
            log.warning("%d records of the call log %s cannot be read: they are left out", unread, self.path)

    def _set_aside(self, problem: Exception) -> None:
        aside = self.path.with_name(f"{self.path.name}.unreadable-{datetime.now().strftime('%Y%m%dT%H%M%S')}")
        try:
            os.replace(self.path, aside)
        except OSError as exc:
            self._kept_nowhere = f"the call log {self.path} cannot be read ({problem}) nor set aside ({exc.strerror})"
            log.warning("%s: this run's calls are not kept", self._kept_nowhere)
            return
        log.warning(
            "the call log %s cannot be read (%s): it is kept as %s, and a new log starts", self.path, problem, aside
        )
