"""The server's side of one subscription dialog (RFC 6665), sans-IO: who it is for, where its NOTIFYs go, and the
NOTIFY requests themselves, one at a time and in order.

A `Subscription` owns a notifier (`ListNotifier` for a resource list, `PresentityNotifier` for a single
presentity) and an outbox of the bodies it handed out. It sends the next NOTIFY only once the previous one has a
final response and its `due` time has come: versions must arrive in sequence, and liblinphone 5.1, which spends
seconds of CPU on a large NOTIFY, is never handed a second one before it has answered the first. The owner (the
server core) feeds it the clock and the responses, and sends the bytes it returns.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from smartbook_tui.presence import BasicStatus, Presence, PresenceTuple, build_pidf
from smartbook_tui.sip.message import Headers, SipRequest
from smartbook_tui.sip.transaction import ClientTransaction

from .notifier import NO_ACCOUNT, NotifyBody, ResourceView
from .publications import PIDF_CONTENT_TYPE

__all__ = ["DialogKey", "Notifier", "PresentityNotifier", "Subscription"]


class Notifier(Protocol):
    """What a subscription needs of its notifier: `ListNotifier` and `PresentityNotifier` both fit."""

    @property
    def resources(self) -> tuple[str, ...]: ...
    @property
    def event(self) -> str: ...
    @property
    def next_due(self) -> float | None: ...
    def index_of(self, uri: str) -> int | None: ...
    def uri_at(self, index: int) -> str: ...
    def set_state_at(self, index: int, view: ResourceView, now: float) -> bool: ...
    def full_state(self, now: float) -> list[NotifyBody]: ...
    def refresh(self, now: float) -> list[NotifyBody]: ...
    def pending(self, now: float) -> list[NotifyBody]: ...


class PresentityNotifier:
    """The NOTIFY bodies of a subscription to one presentity (RFC 3856): a PIDF document of its whole state each
    time, at most one every `interval` seconds (changes in between go together, with the latest state)."""

    event = "presence"

    def __init__(self, uri: str, *, interval: float) -> None:
        self.uri = uri
        self.interval = interval
        self._current: ResourceView = NO_ACCOUNT
        self._sent: ResourceView | None = None
        self._last_sent: float | None = None

    @property
    def resources(self) -> tuple[str, ...]:
        return (self.uri,)

    def index_of(self, uri: str) -> int | None:
        return 0 if uri == self.uri else None

    def uri_at(self, index: int) -> str:
        return self.uri

    @property
    def next_due(self) -> float | None:
        if self._sent is None or self._current == self._sent:
            return None
        return 0.0 if self._last_sent is None else self._last_sent + self.interval

    def set_state_at(self, index: int, view: ResourceView, now: float) -> bool:
        """The presentity's view from now on; True when it now has a NOTIFY to send and had none before."""
        if view.presence is not None and view.presence.entity != self.uri:
            view = ResourceView(dataclasses.replace(view.presence, entity=self.uri))
        had_pending = self.next_due is not None
        self._current = view
        return not had_pending and self.next_due is not None

    def full_state(self, now: float) -> list[NotifyBody]:
        self._sent, self._last_sent = self._current, now
        view = self._current
        if view.presence is None:
            document = build_pidf(Presence(self.uri, tuples=(PresenceTuple("offline", BasicStatus.CLOSED),)))
        else:
            document = view.document if view.document is not None else build_pidf(view.presence)
        return [NotifyBody(0, PIDF_CONTENT_TYPE, None, document, now, full_state=True, resources=1)]

    refresh = full_state

    def pending(self, now: float) -> list[NotifyBody]:
        due = self.next_due
        return [] if due is None or now < due else self.full_state(now)


DialogKey = tuple[str, str, str]  # Call-ID, the subscriber's tag, the server's tag


@dataclass(eq=False, slots=True)
class Subscription:
    """One subscription dialog. `remote` is the subscriber's From header (with its tag), `local` the To header the
    server answered with (with the server's tag), `target` the subscriber's Contact URI, `peer` where its SUBSCRIBE
    came from (NOTIFYs go back there, on its very connection for TCP and TLS)."""

    key: DialogKey
    uri: str  # what is subscribed to: the list's or the presentity's URI
    watcher: str  # the subscriber's username
    notifier: Notifier
    peer: object
    transport: str  # "UDP", "TCP" or "TLS", as Via writes it
    remote: str
    local: str
    target: str
    expires_at: float
    route: tuple[str, ...] = ()  # the Record-Route of its SUBSCRIBE, which its NOTIFYs carry as Route
    legacy: bool = False
    is_list: bool = True
    stored_list: bool = False  # a list the subscriber keeps on the server (not sent in its SUBSCRIBE)
    withheld: frozenset[str] = frozenset()  # the numbers its entries name that the discovery quota withholds
    cseq: int = 0
    reserved_cseq: int = 0  # the CSeq ceiling the store holds for a saved (UDP) dialog: see `saved_dialogs`
    outbox: deque[NotifyBody] = field(default_factory=deque)
    in_flight: ClientTransaction | None = None
    final_reason: str | None = None  # set once the subscription is ending: the reason of its last NOTIFY
    final_sent: bool = False

    @property
    def reliable(self) -> bool:
        return self.transport != "UDP"

    def queue(self, bodies: Sequence[NotifyBody]) -> None:
        self.outbox.extend(bodies)

    def due(self, now: float) -> float | None:
        """When `next_request` will have something to send (`now` or earlier: at once); None while a NOTIFY is in
        flight or nothing waits. Expiry is the owner's to watch."""
        if self.in_flight is not None or self.final_sent:
            return None
        if not self.outbox and self.final_reason is None:
            self.outbox.extend(self.notifier.pending(now))
        if self.outbox:
            return self.outbox[0].due
        return now if self.final_reason is not None else self.notifier.next_due

    def next_request(self, now: float, *, via: str, contact: str, branch: Callable[[], str]) -> SipRequest | None:
        """The NOTIFY to send now, if one is due (its transaction becomes `in_flight`); else None. `branch` makes
        its Via branch (only when there is a NOTIFY to send)."""
        due = self.due(now)
        if due is None or due > now:
            return None
        token = f"z9hG4bK{branch()}"
        if self.outbox:
            remaining = max(0, round(self.expires_at - now))
            request = self._notify(f"active;expires={remaining}", self.outbox.popleft(), via, contact, token)
        else:
            assert self.final_reason is not None
            self.final_sent = True
            request = self._notify(f"terminated;reason={self.final_reason}", None, via, contact, token)
        self.in_flight = ClientTransaction(request, reliable=self.reliable, key=(token, "NOTIFY"))
        return request

    def end(self, reason: str, *, drain: bool = False) -> None:
        """Make the next NOTIFY the last one, with `Subscription-State: terminated;reason=<reason>`; with `drain`,
        after the NOTIFYs already queued (a fetch sends its state, then ends)."""
        if self.final_reason is None:
            self.final_reason = reason
            if not drain:
                self.outbox.clear()

    def _notify(self, state: str, body: NotifyBody | None, via: str, contact: str, branch: str) -> SipRequest:
        self.cseq += 1
        fields = [
            ("Via", f"SIP/2.0/{self.transport} {via};branch={branch}"),
            ("Max-Forwards", "70"),
            *(("Route", value) for value in self.route),
            ("From", self.local),
            ("To", self.remote),
            ("Call-ID", self.key[0]),
            ("CSeq", f"{self.cseq} NOTIFY"),
            ("Contact", contact),
            ("Event", self.notifier.event),
            ("Subscription-State", state),
        ]
        if self.is_list:
            fields.append(("Require", "eventlist"))
        if body is not None:
            fields.append(("Content-Type", body.content_type))
            if body.content_encoding:
                fields.append(("Content-Encoding", body.content_encoding))
        # Values of the SUBSCRIBE as parsed (checked then, or when a saved dialog is restored), of the settings
        # and of the program: not checked again at each NOTIFY.
        headers = Headers.of_checked(fields)
        return SipRequest("NOTIFY", self.target, headers, body.body if body is not None else b"")
