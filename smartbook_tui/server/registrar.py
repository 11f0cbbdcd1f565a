"""The registrar (RFC 3261 section 10.3), sans-IO: REGISTER requests in, an account's bindings out.

The caller authenticates the request and names the account it is for; the registrar checks the rest: the To
address is that account, each Contact's expiry (the Contact's own `expires`, else the Expires header, else the
default) lies between Min-Expires (423 below it) and the maximum (lowered to it), `*` with Expires: 0 removes
every binding, a repeated Call-ID must come with a higher CSeq, and one account holds a bounded number of
bindings (several devices, not unbounded state). A binding is one device's contact: a new REGISTER for the
same contact URI, or the same `+sip.instance` (RFC 5626), replaces it. The clock is passed in.

Each new and each removed binding (unregistered or expired) is logged at INFO with the account, the contact and
the device's User-Agent, as operators expect of a registrar; refreshes only at DEBUG.
"""

from __future__ import annotations

import heapq
import logging
from dataclasses import dataclass, field

from smartbook_tui.sip.message import SipRequest
from smartbook_tui.sip.uri import NameAddr, SipParseError, SipUri, parse_name_addr, parse_sip_uri

from .client_address import via_proxy
from .refusal import Refusal

DEFAULT_EXPIRES = 3600
DEFAULT_MIN_EXPIRES = 60
DEFAULT_MAX_EXPIRES = 86400
DEFAULT_MAX_BINDINGS = 10

log = logging.getLogger(__name__)


class RegisterError(Refusal):
    """A REGISTER to refuse: the status, a one-line reason, and headers the answer needs (Min-Expires)."""


@dataclass(frozen=True, slots=True)
class Binding:
    contact: NameAddr  # as the device wrote it, its header parameters included
    expires_at: float
    call_id: str
    cseq: int
    source: object = None  # where the REGISTER came from (a listener peer): how to reach the device
    user_agent: str | None = None
    client: tuple[str, int] | None = None  # the device's address, when a trusted proxy relayed the REGISTER

    @property
    def instance(self) -> str | None:
        return self.contact.param("+sip.instance")

    def expires_in(self, now: float) -> int:
        return max(0, round(self.expires_at - now))


@dataclass(slots=True)
class _Account:
    bindings: list[Binding] = field(default_factory=list)


class Registrar:
    def __init__(
        self,
        *,
        min_expires: int = DEFAULT_MIN_EXPIRES,
        max_expires: int = DEFAULT_MAX_EXPIRES,
        default_expires: int = DEFAULT_EXPIRES,
        max_bindings: int = DEFAULT_MAX_BINDINGS,
    ) -> None:
        if not 0 < min_expires <= default_expires <= max_expires:
            raise ValueError("expiry limits must satisfy 0 < min <= default <= max")
        self.min_expires = min_expires
        self.max_expires = max_expires
        self.default_expires = default_expires
        self.max_bindings = max_bindings
        self._accounts: dict[str, _Account] = {}
        self._expiries: list[tuple[float, str]] = []  # a heap of (when, aor); stale entries are skipped

    def register(
        self, aor: str, request: SipRequest, now: float, source: object = None, client: tuple[str, int] | None = None
    ) -> list[Binding]:
        """Apply a REGISTER for `aor` (already authenticated as that account), from `source` (for `client`, when a
        trusted proxy relayed it); the account's live bindings after it, for the Contact headers of the 200. Raises
        RegisterError for what must be refused."""
        to = _name_addr(request.headers.get("To"), "To")
        if _aor_of(to) != _normalise_aor(aor):
            raise RegisterError(403, f"one may only register one's own address ({aor}), not {to.uri}")
        call_id = request.call_id
        if not call_id:
            raise RegisterError(400, "the REGISTER has no Call-ID")
        cseq = request.cseq[0]
        key = _normalise_aor(aor)
        account = self._accounts.setdefault(key, _Account())
        self._drop_expired(key, account, now)
        contacts = request.headers.get_all("Contact")
        if not contacts:
            return list(account.bindings)  # a query: what is registered
        header_expires = request.expires
        if any(value.strip() == "*" for value in contacts):
            if len(contacts) != 1 or header_expires != 0:
                raise RegisterError(400, "Contact: * needs Expires: 0 and no other Contact")
            self._check_order(account, call_id, cseq)
            for binding in account.bindings:
                _log_removed(key, binding)
            account.bindings.clear()
            return []
        changes = [(_name_addr(value, "Contact"), header_expires) for value in contacts]
        for contact, _ in changes:
            self._check_order(account, call_id, cseq, contact)
        user_agent = request.headers.get("User-Agent")
        updated = list(account.bindings)
        for contact, expires in changes:
            seconds = self._expiry(contact, expires)
            updated = [b for b in updated if not _same_device(b.contact, contact)]
            if seconds > 0:
                updated.append(Binding(contact, now + seconds, call_id, cseq, source, user_agent, client))
        if len(updated) > self.max_bindings:
            raise RegisterError(403, f"an account may register at most {self.max_bindings} devices")
        _log_changes(key, account.bindings, updated, now)
        account.bindings = updated  # all or nothing: a refused REGISTER changes no binding
        for binding in updated:
            if binding.call_id == call_id and binding.cseq == cseq:
                heapq.heappush(self._expiries, (binding.expires_at, key))
        return list(account.bindings)

    def restore(self, aor: str, binding: Binding) -> None:
        """Bring back a binding a restarted server saved (its expiry on this registrar's clock); it replaces the
        same device's, as a REGISTER would."""
        key = _normalise_aor(aor)
        account = self._accounts.setdefault(key, _Account())
        account.bindings = [b for b in account.bindings if not _same_device(b.contact, binding.contact)]
        account.bindings.append(binding)
        heapq.heappush(self._expiries, (binding.expires_at, key))

    def bindings(self, aor: str, now: float) -> list[Binding]:
        key = _normalise_aor(aor)
        account = self._accounts.get(key)
        if account is None:
            return []
        self._drop_expired(key, account, now)
        return list(account.bindings)

    def binding_at(self, uri: SipUri, now: float) -> Binding | None:
        """The live binding whose contact is `uri` (RFC 3261 19.1.4 equivalence): how an in-dialog request addressed
        to a device's contact reaches the device where it registered from (its TCP connection, its NAT mapping).
        A scan: bindings are a few per account, and this is asked once per in-dialog request."""
        for account in self._accounts.values():
            for binding in account.bindings:
                if binding.expires_at > now and binding.contact.uri.equivalent(uri):
                    return binding
        return None

    @property
    def next_expiry(self) -> float | None:
        return self._expiries[0][0] if self._expiries else None

    def expire(self, now: float) -> set[str]:
        """Drop the bindings whose time is up; the accounts that lost some."""
        changed: set[str] = set()
        while self._expiries and self._expiries[0][0] <= now:
            _, aor = heapq.heappop(self._expiries)
            account = self._accounts.get(aor)
            if account is not None and self._drop_expired(aor, account, now):
                changed.add(aor)
        return changed

    @staticmethod
    def _drop_expired(aor: str, account: _Account, now: float) -> bool:
        live = [b for b in account.bindings if b.expires_at > now]
        if len(live) == len(account.bindings):
            return False
        for binding in account.bindings:
            if binding.expires_at <= now:
                log.info("%s: registration of %s expired (%s)", aor, binding.contact.uri, _device(binding))
        account.bindings = live
        return True

    def _expiry(self, contact: NameAddr, header_expires: int | None) -> int:
        written = contact.param("expires")
        if written is not None:
            if not written.isdigit():
                raise RegisterError(400, f"Contact expires={written!r} is not a number of seconds")
            seconds = int(written)
        else:
            seconds = self.default_expires if header_expires is None else header_expires
        if 0 < seconds < self.min_expires:
            raise RegisterError(423, "Interval Too Brief", {"Min-Expires": str(self.min_expires)})
        return min(seconds, self.max_expires)

    @staticmethod
    def _check_order(account: _Account, call_id: str, cseq: int, contact: NameAddr | None = None) -> None:
        for binding in account.bindings:
            if (
                binding.call_id == call_id
                and binding.cseq >= cseq
                and (contact is None or _same_device(binding.contact, contact))
            ):
                raise RegisterError(500, "this REGISTER is older than one already applied (CSeq out of order)")


def contact_values(bindings: list[Binding], now: float) -> list[str]:
    """The Contact header values of a 200 to REGISTER: every binding with the seconds it has left."""
    return [str(b.contact.without_params("expires").with_params(expires=str(b.expires_in(now)))) for b in bindings]


def _log_changes(aor: str, before: list[Binding], after: list[Binding], now: float) -> None:
    """New and removed bindings at INFO, refreshed ones at DEBUG."""
    for binding in after:
        if binding in before:
            continue  # another device of the account, untouched by this REGISTER
        old = next((b for b in before if _same_device(b.contact, binding.contact)), None)
        if old is not None and old.contact.uri == binding.contact.uri:
            log.debug("%s refreshes %s for %d s", aor, binding.contact.uri, binding.expires_in(now))
        else:
            source = "" if binding.source is None else f" from {via_proxy(binding.source, binding.client)}"
            log.info(
                "%s registers %s%s for %d s (%s)",
                aor,
                binding.contact.uri,
                source,
                binding.expires_in(now),
                _device(binding),
            )
    for binding in before:
        if not any(_same_device(binding.contact, b.contact) and binding.contact.uri == b.contact.uri for b in after):
            _log_removed(aor, binding)


def _log_removed(aor: str, binding: Binding) -> None:
    log.info("%s unregisters %s (%s)", aor, binding.contact.uri, _device(binding))


def _device(binding: Binding) -> str:
    return f"User-Agent: {binding.user_agent}" if binding.user_agent else "no User-Agent"


def _name_addr(value: str | None, header: str) -> NameAddr:
    if not value:
        raise RegisterError(400, f"the REGISTER has no {header}")
    try:
        return parse_name_addr(value)
    except SipParseError as exc:
        raise RegisterError(400, f"bad {header}: {exc}") from None


def _same_device(a: NameAddr, b: NameAddr) -> bool:
    instance = a.param("+sip.instance")
    if instance is not None and instance == b.param("+sip.instance"):
        return True
    return type(a.uri) is type(b.uri) and a.uri.equivalent(b.uri)  # type: ignore[arg-type]


def _aor_of(address: NameAddr) -> str:
    return _normalise_aor(str(address.uri))


def _normalise_aor(aor: str) -> str:
    """sip:user@host, host in lower case, without port or parameters: the key an account is known by."""
    try:
        uri = parse_sip_uri(aor)
    except SipParseError as exc:
        raise RegisterError(400, f"{aor!r} is not a SIP address: {exc}") from None
    host = uri.host.lower()
    return f"sip:{uri.user}@{host}" if uri.user else f"sip:{host}"
