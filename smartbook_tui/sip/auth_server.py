"""SIP digest authentication, server side (RFC 3261 section 22, RFC 7616, RFC 8760), without I/O.

`DigestVerifier` writes the challenges a registrar (401, `WWW-Authenticate`) or a presence server (407,
`Proxy-Authenticate`) sends, and checks the `Authorization` / `Proxy-Authorization` value that answers them. The
header values are the same for both status codes, so one verifier per realm serves both. Nothing here reads a clock
or draws random numbers: the caller passes `now` (seconds, from one clock: `time.time` or `time.monotonic`) and the
secret (`os.urandom(32)` at each start is right: nonces only live for minutes, and a new secret also voids the
nonces of the previous run, whose nonce counts this process never saw).

Nonces are stateless: `base64url(issued || serial || MAC(realm, issued, serial) || MAC(..., to))`, each MAC the
first 8 bytes of an HMAC-SHA256 under the secret, `issued` being `now` as a big-endian double and `serial` a counter
of this verifier, so that two challenges sent in the same instant still carry distinct nonces (each nonce has nonce
counts of its own). A nonce that does not decode, or whose first MAC does not match (tampered, issued for another
realm, or under another secret: another node of a cluster, or before a restart), was not issued here, and is
`Stale` (the client answers a fresh challenge). The second binds the nonce to whom it was sent (`bound_to`:
the caller's `source_key` of the client): a nonce answered from elsewhere is `Stale`, so that its response is never
checked. Over UDP a sender's address can be forged, but a nonce only reaches the address it was sent to: whoever
forges the real user's address cannot make failed tries count against that user's address, and a client whose
address changed simply answers a fresh challenge.

The only state is the replay map: nonce -> highest nonce count (nc) accepted with it, least recently used first,
capped at `replay_cache_size` entries (10,000 by default, about 2.5 MB). A request is accepted only when its nc is
above the one recorded; the map is updated only after the response has checked out, so that nobody who lacks the
password can burn the counts of someone else's nonce. Evicting an entry would let the requests made with that nonce
be replayed; so the verifier remembers the highest serial it ever evicted, and a nonce at or below that mark that
is not in the map is treated as stale (the client simply gets a fresh nonce). The SIP transaction layer absorbs
retransmissions, so `verify` sees each request once; a client that sends two requests at once with the same nonce
and has the higher nc arrive first gets the other one `Stale`, and answers the fresh challenge that comes with it.

The `uri` parameter must designate the request's Request-URI (RFC 3261 22.4, RFC 2617 3.2.2.5): equal as text, or
equivalent by the URI comparison of RFC 3261 19.1.4 (parameters in any order, case of host and parameter names,
escapes), so a proxy that rewrites the spelling but not the resource does no harm. A missing port is *not* taken as
5060, as 19.1.4 says: another port may be another server. Not offered, so refused: qop=auth-int, `userhash`; the
RFC 7616 `username*` form is read as a missing username.

Every `Verdict` carries what the caller needs to answer:

* `Accepted(username, algorithm)`: go on with the request.
* `Stale(reason)`: the response was right but the nonce is too old, or the nonce was sent to another address
  (its response unchecked): challenge again with `stale=True`.
* `Refused(reason)`: challenge again (401 / 407). The reason is for the server's log only; a wrong password and an
  unknown user get the very same one (`CREDENTIALS_REFUSED`), after the same work, so users cannot be enumerated.
* `Malformed(reason)`: answer 400 with the one-line reason.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
import struct
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeAlias

# The header parser and the digest functions are the client's (auth.py): see _parse_authorization.
from smartbook_tui.sip.auth import (
    _ALGORITHMS,
    _CONTROL,
    _SURROGATE,
    SUPPORTED_ALGORITHMS,
    AuthError,
    _Algorithm,
    _show,
    digest_response,
    read_digest_header,
)
from smartbook_tui.sip.uri import parse_uri

__all__ = [
    "CREDENTIALS_REFUSED",
    "Accepted",
    "DigestVerifier",
    "Malformed",
    "Refused",
    "Stale",
    "Verdict",
]

# The reason of every refusal that depends on the account: a wrong password and an unknown user look the same.
CREDENTIALS_REFUSED = "the user name or password is wrong"


@dataclass(frozen=True, slots=True)
class Accepted:
    username: str  # as the client sent it
    algorithm: str  # the canonical name of the algorithm it used


@dataclass(frozen=True, slots=True)
class Stale:
    reason: str  # for the log


@dataclass(frozen=True, slots=True)
class Refused:
    reason: str  # for the log; never sent to the client


@dataclass(frozen=True, slots=True)
class Malformed:
    reason: str  # one line, fit for the reason phrase or a Warning of a 400


Verdict: TypeAlias = Accepted | Stale | Refused | Malformed

_NONCE_MAC_LABEL = b"smartbook digest nonce\x00"
_BINDING_MAC_LABEL = b"smartbook digest nonce to\x00"
_OPAQUE_LABEL = b"smartbook digest opaque\x00"
_ISSUED = struct.Struct(">dQ")  # issued (seconds), serial
_MAC_BYTES = 8  # each of the two
_NONCE_BYTES = _ISSUED.size + 2 * _MAC_BYTES
_NONCE_COUNT_DIGITS = 8
_MIN_SECRET_BYTES = 16
_HEX = frozenset("0123456789abcdefABCDEF")


def _parse_authorization(value: str) -> dict[str, str]:
    """The parameters of a Digest `Authorization` value, by lower-case name. Raises AuthError (one line)."""
    return read_digest_header(
        value,
        subject="the authorization header",
        wrong_scheme=lambda scheme: f"the authorization header uses the {_show(scheme)} scheme, not Digest",
    )


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _same_resource(digest_uri: str, request_uri: str) -> bool:
    """Whether the `uri` parameter designates the Request-URI: equal as text, or equivalent SIP, SIPS or tel URIs
    by RFC 3261 19.1.4 (parameters in any order, host and parameter names in any case, escapes decoded; a missing
    port is not 5060, and user, ttl, method, maddr and transport must agree)."""
    if digest_uri == request_uri:
        return True
    try:
        return parse_uri(digest_uri).equivalent(parse_uri(request_uri))
    except ValueError:  # SipParseError, or a field the URI classes refuse
        return False


class DigestVerifier:
    """Challenges and checks digest credentials for one realm (see the module documentation).

    `algorithms` are offered in this order (RFC 8760: SHA-256 before MD5), any of auth.py's `SUPPORTED_ALGORITHMS`;
    for the -sess variants the `ha1` callback of `verify` is asked for the HA1 of the base algorithm.
    """

    def __init__(
        self,
        realm: str,
        secret: bytes,
        *,
        nonce_lifetime: float = 300.0,
        algorithms: Iterable[str] = ("SHA-256", "MD5"),
        replay_cache_size: int = 10_000,
    ) -> None:
        if not realm or _CONTROL.search(realm) or _SURROGATE.search(realm):
            raise ValueError("the realm must be non-empty text without control characters")
        if not isinstance(secret, bytes) or len(secret) < _MIN_SECRET_BYTES:
            raise ValueError(f"the secret must be at least {_MIN_SECRET_BYTES} bytes")
        if not (math.isfinite(nonce_lifetime) and nonce_lifetime > 0):
            raise ValueError("the nonce lifetime must be a positive number of seconds")
        if isinstance(algorithms, str):
            raise TypeError("algorithms is a list of names, not one string")
        offered: list[_Algorithm] = []
        for name in algorithms:
            algorithm = _ALGORITHMS.get(name.upper())
            if algorithm is None:
                raise ValueError(f"unknown digest algorithm {name!r}: {', '.join(SUPPORTED_ALGORITHMS)} are known")
            if algorithm in offered:
                raise ValueError(f"the algorithm {algorithm.name} is listed twice")
            offered.append(algorithm)
        if not offered:
            raise ValueError("at least one algorithm must be offered")
        if replay_cache_size < 1:
            raise ValueError("the replay cache must hold at least one nonce")
        self.realm = realm
        self.nonce_lifetime = nonce_lifetime
        self.algorithms: tuple[str, ...] = tuple(algorithm.name for algorithm in offered)
        self._offered = {algorithm.name.upper(): algorithm for algorithm in offered}
        self._secret = secret
        self._realm_bytes = realm.encode()
        self._opaque = hmac.new(secret, _OPAQUE_LABEL + self._realm_bytes, hashlib.sha256).hexdigest()[:32]
        # What an unknown user's response is checked against: an HA1 of the same length, made once.
        self._stand_ins = {algorithm.name: algorithm.digest(secret) for algorithm in offered}
        self._replay_cache_size = replay_cache_size
        self._serial = 0  # of the last nonce issued
        # nonce -> (issued, serial, highest nc), for the nonces answered rightly lately
        self._nonce_counts: OrderedDict[str, tuple[float, int, int]] = OrderedDict()
        self._evicted_serial = 0  # the highest serial whose entry left the replay map (0: none)

    def __repr__(self) -> str:
        return f"DigestVerifier(realm={self.realm!r}, algorithms={self.algorithms!r})"

    # -------------------------------------------------------------------------------------------- nonces

    def _mac(self, label: bytes, issued_and_serial: bytes, bound_to: str = "") -> bytes:
        message = label + self._realm_bytes + b"\x00" + issued_and_serial + bound_to.encode("utf-8", "replace")
        return hmac.new(self._secret, message, hashlib.sha256).digest()[:_MAC_BYTES]

    def _new_nonce(self, now: float, bound_to: str) -> str:
        self._serial += 1
        head = _ISSUED.pack(now, self._serial)
        macs = self._mac(_NONCE_MAC_LABEL, head) + self._mac(_BINDING_MAC_LABEL, head, bound_to)
        return base64.urlsafe_b64encode(head + macs).decode().rstrip("=")

    def _read_nonce(self, nonce: str, bound_to: str) -> tuple[float, int, bool] | None:
        """(issued, serial, sent to `bound_to`) of a nonce this verifier issued; None for any other text."""
        if len(nonce) != math.ceil(_NONCE_BYTES * 4 / 3) or not nonce.isascii():
            return None
        try:
            raw = base64.urlsafe_b64decode(nonce + "=" * (-len(nonce) % 4))
        except (binascii.Error, ValueError):
            return None
        if len(raw) != _NONCE_BYTES:
            return None
        head, mac, binding = raw[: _ISSUED.size], raw[_ISSUED.size : -_MAC_BYTES], raw[-_MAC_BYTES:]
        if not hmac.compare_digest(mac, self._mac(_NONCE_MAC_LABEL, head)):
            return None
        issued, serial = _ISSUED.unpack(head)
        return issued, serial, hmac.compare_digest(binding, self._mac(_BINDING_MAC_LABEL, head, bound_to))

    # -------------------------------------------------------------------------------------------- challenges

    def challenge(self, now: float, *, stale: bool = False, bound_to: str = "") -> list[str]:
        """The `WWW-Authenticate` (401) or `Proxy-Authenticate` (407) values to send: one per offered algorithm, in
        the order offered, all with one fresh nonce for `bound_to` (whom it is sent to), qop="auth" and the opaque
        value; `stale=true` when the client's last response may be right but its nonce would not do (a `Stale`
        verdict)."""
        if not math.isfinite(now):
            raise ValueError("now must be a finite number of seconds")
        nonce = self._new_nonce(now, bound_to)
        tail = ", stale=true" if stale else ""
        return [
            f'Digest realm={_quoted(self.realm)}, nonce="{nonce}", opaque="{self._opaque}", '
            f'algorithm={algorithm}, qop="auth"{tail}'
            for algorithm in self.algorithms
        ]

    # -------------------------------------------------------------------------------------------- verification

    def verify(
        self,
        authorization: str,
        *,
        method: str,
        uri: str,
        ha1: Callable[[str, str], str | None],
        now: float,
        bound_to: str = "",
    ) -> Verdict:
        """Check one `Authorization` / `Proxy-Authorization` value against the request it came with (`method`, and
        `uri` its Request-URI as on the request line), from `bound_to` (as given to `challenge`).

        `ha1(username, algorithm)` gives H(username:realm:password) in hex for "MD5" or "SHA-256" (so
        `lambda user, algorithm: store.ha1(user, domain, algorithm)`), or None for no such (activated) user; it is
        called once for every header that gets as far as the response check, and what it raises propagates.
        Everything about the header itself ends in a Verdict; nothing raises.
        """
        try:
            params = _parse_authorization(authorization)
        except AuthError as error:
            return Malformed(str(error))
        problem = _form_problem(params)
        if problem is not None:
            return problem
        offer = self._match_offer(params, uri, bound_to)
        if isinstance(offer, Refused | Stale):
            return offer
        algorithm, issued_at, serial = offer
        if not self._response_matches(params, algorithm, method, ha1):
            return Refused(CREDENTIALS_REFUSED)
        # Only a right response gets this far: the nonce count is recorded for it alone.
        nonce, nc = params["nonce"], int(params["nc"], 16)
        if not 0 <= now - issued_at <= self.nonce_lifetime:
            return Stale("the nonce has expired")
        seen = self._nonce_counts.get(nonce)
        if seen is None and serial <= self._evicted_serial:
            return Stale("the nonce left the replay map; a fresh one is needed")
        if seen is not None and nc <= seen[2]:
            # Stale, not refused: the response is right, so whoever sent it knows the password; a replay gains
            # nothing (the request is not served), and a client whose requests arrived out of order (a front's
            # several processes relaying them) answers a fresh challenge without taking it for a wrong password.
            return Stale(f"nonce count {nc} was already used with this nonce (a replay, or requests reordered)")
        self._record(nonce, issued_at, serial, nc)
        return Accepted(params["username"], algorithm.name)

    def _match_offer(
        self, params: dict[str, str], request_uri: str, bound_to: str
    ) -> Refused | Stale | tuple[_Algorithm, float, int]:
        """The algorithm, and the nonce's issue time and serial, when the credentials answer one of our challenges
        for this request, sent to `bound_to`; else why not. Nothing here depends on the account."""
        if params["realm"] != self.realm:
            return Refused(f"the credentials are for the realm {_show(params['realm'])}")
        algorithm_name = params.get("algorithm", "MD5")  # RFC 2617: no algorithm means MD5
        algorithm = self._offered.get(algorithm_name.upper())
        if algorithm is None:
            return Refused(f"the algorithm {_show(algorithm_name)} was not offered")
        if params.get("userhash", "false").lower() != "false":
            return Refused("userhash was not offered")
        issued = self._read_nonce(params["nonce"], bound_to)
        if issued is None:
            # Stale, not refused: the client answers the fresh challenge without asking its user (a nonce from
            # before a restart, or from another node of a cluster, each with its own secret); its response is not
            # checked, so a forged nonce learns nothing and counts for nothing.
            return Stale(
                "the nonce was not issued here (forged, for another realm, by another node, or from before a restart)"
            )
        opaque = params.get("opaque")  # optional: the nonce carries all the state, the opaque value nothing
        if opaque is not None and not hmac.compare_digest(opaque.encode(), self._opaque.encode()):
            return Refused("the opaque value is not the one sent with the challenge")
        if not _same_resource(params["uri"], request_uri):
            return Refused("the uri parameter does not match the Request-URI")
        issued_at, serial, to_this_sender = issued
        if not to_this_sender:
            return Stale("the nonce was sent to another address")
        return algorithm, issued_at, serial

    def _response_matches(
        self, params: dict[str, str], algorithm: _Algorithm, method: str, ha1: Callable[[str, str], str | None]
    ) -> bool:
        """The response check, in constant time, with the same work whether the user exists or not."""
        base = algorithm.name.removesuffix("-sess")
        known = ha1(params["username"], base)
        secret = known if known is not None else self._stand_ins[algorithm.name]

        nonce, cnonce, nc, qop = params["nonce"], params["cnonce"], params["nc"], params["qop"]
        # The uri the client hashed, checked against the Request-URI before this.
        expected = digest_response(
            algorithm.name, secret, nonce=nonce, nc=nc, cnonce=cnonce, qop=qop, method=method, uri=params["uri"]
        )
        given = params["response"].lower().encode("utf-8", "surrogateescape")
        return hmac.compare_digest(expected.encode(), given) and known is not None

    def _record(self, nonce: str, issued: float, serial: int, nc: int) -> None:
        self._nonce_counts[nonce] = (issued, serial, nc)
        self._nonce_counts.move_to_end(nonce)
        while len(self._nonce_counts) > self._replay_cache_size:
            _, (_, evicted, _) = self._nonce_counts.popitem(last=False)
            self._evicted_serial = max(self._evicted_serial, evicted)


def _form_problem(params: dict[str, str]) -> Malformed | Refused | None:
    """What makes the credentials unfit for qop=auth, the only qop offered; None when they are fit."""
    missing = [name for name in ("username", "realm", "nonce", "uri", "response") if not params.get(name)]
    if missing:
        return Malformed(f"the authorization header has no {' and no '.join(missing)}")
    qop = params.get("qop")
    if qop is None:
        return Malformed('the authorization header has no qop, though qop="auth" was offered')
    if qop.lower() != "auth":
        return Refused(f"the qop {_show(qop)} was not offered")
    nc = params.get("nc")
    if not params.get("cnonce") or not nc:
        return Malformed("the authorization header has qop=auth but no cnonce or no nc")
    if len(nc) != _NONCE_COUNT_DIGITS or not all(character in _HEX for character in nc) or int(nc, 16) == 0:
        return Malformed(f"the nonce count {_show(nc)} is not 8 hexadecimal digits from 00000001")
    return None
