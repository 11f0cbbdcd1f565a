"""`smartbook watch` at work: the app's session without the phone, its events printed as JSON lines."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
from dataclasses import replace

from smartbook_tui.config import load_settings
from smartbook_tui.contacts import ImportResult, contacts_by_resource
from smartbook_tui.roster.events import BookLoaded, ListStatus, Notice, PresenceChanged, SessionEvent
from smartbook_tui.roster.session import Session
from smartbook_tui.roster.session_options import SessionOptions
from smartbook_tui.subscriber.machine import Phase

from .book import BookUnavailable, check_book, nothing_read
from .messages import fail, warn
from .options import merge_session_settings, read_password


def watch(args: argparse.Namespace) -> int:
    try:
        settings = merge_session_settings(args, load_settings(args.config))
        options = SessionOptions(settings, password=read_password(settings.account), share_book=True)
        options.expires = args.expires
        session = Session(options, phone=False)
        if not settings.account.list_uri:
            check_book(settings)
    except (ValueError, OSError, BookUnavailable) as exc:  # ConfigError, SessionError and unreadable files included
        return fail(str(exc))
    return asyncio.run(_watch(session, once=args.once))


async def _watch(session: Session, *, once: bool) -> int:
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signal_number, session.stop)
    printer = _Printer(session, once=once)
    await session.run(printer.on_event)
    return printer.exit_status


class _Printer:
    """The session's events as JSON lines on stdout, its notices on stderr."""

    def __init__(self, session: Session, *, once: bool) -> None:
        self._session = session
        self._once = once
        self._names: dict[str, list[str]] = {}
        self._books = 0
        self._last: ListStatus | None = None
        self.exit_status = 0

    def on_event(self, event: SessionEvent) -> None:
        if isinstance(event, BookLoaded):
            self._book(event)
        elif isinstance(event, PresenceChanged):
            for update in event.updates:
                summary = update.summary
                _print(
                    {
                        "event": "presence",
                        "uri": update.uri,
                        "contacts": self._names.get(update.uri, []),
                        "has_account": summary.has_account,
                        "sip_address": summary.sip_address,
                        "status": summary.status.value,
                        "note": summary.note,
                        "last_seen": summary.last_seen.isoformat() if summary.last_seen else None,
                        "removed": update.removed,
                        "reason": update.reason,
                    }
                )
        elif isinstance(event, ListStatus):
            self._list_status(event)
        elif isinstance(event, Notice):
            for line in event.details or (event.message,):  # each unreadable card a line of its own, as before
                warn(line)

    def _book(self, event: BookLoaded) -> None:
        self._books += 1
        owners = contacts_by_resource(event.contacts, event.domain) if event.domain else {}
        self._names = {uri: [contact.name for contact in contacts] for uri, contacts in owners.items()}
        if self._books == 1 and not event.contacts and not self._session.options.settings.account.list_uri:
            warn(str(nothing_read(list(event.sources), ImportResult(event.contacts, event.skipped))))
            self.exit_status = 2
            self._session.stop()

    def _list_status(self, event: ListStatus) -> None:
        last, self._last = self._last, event
        if last is not None and event.quota != last.quota and replace(event, quota=last.quota) == last:
            return  # the server's quota sentence alone: its Notice is the line, on stderr
        # A change of `complete` alone is news for --once, not a change of state to print.
        news = (
            last is None or (event.phase, event.detail) != (last.phase, last.detail) or event.complete == last.complete
        )
        if news:
            _print({"event": "state", "phase": event.phase.value, "detail": event.detail})
        if event.phase is Phase.FAILED:  # the Notice says why, on stderr
            self.exit_status = 2
            self._session.stop()
        elif self._once and (event.complete or event.phase is Phase.IDLE):  # IDLE: nothing to subscribe to
            self._session.stop()


def _print(line: dict[str, object]) -> None:
    print(json.dumps(line, ensure_ascii=False), flush=True)
