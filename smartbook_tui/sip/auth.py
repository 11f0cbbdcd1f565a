"""SIP digest authentication, client side (RFC 3261 section 22, RFC 2617, RFC 7616, RFC 8760), without I/O.

Everything here works on header *values* as strings: the challenge the server sent in `WWW-Authenticate` (401) or
`Proxy-Authenticate` (407), and the answer to put in `Authorization` or `Proxy-Authorization` respectively. Nothing
reads a clock or draws random numbers: the caller passes the client nonce (`cnonce`) in.

* `parse_challenge` reads one challenge, `choose_challenge` picks the best of several.
* `authorization` computes one answer (algorithms MD5, MD5-sess, SHA-256, SHA-256-sess; qop auth or auth-int, or
  the RFC 2069 form when the server offers no qop; `userhash`).
* `DigestSession` keeps the per-server state: the nonce count of every nonce, and the rule that decides whether a
  new challenge deserves another try or means that the password is wrong (see `DigestSession`).

Every failure is an `AuthError` whose message is one line a person can act on; no message, and no `repr`, ever
contains the password.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

__all__ = [
    "REFUSED",
    "SUPPORTED_ALGORITHMS",
    "AuthError",
    "Challenge",
    "Credentials",
    "DigestSession",
    "authorization",
    "choose_challenge",
    "parse_challenge",
]


class AuthError(ValueError):
    """A challenge that cannot be read or answered, or credentials the server refused. One line, no secrets."""


def _md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class _Algorithm:
    name: str  # the spelling put on the wire
    digest: Callable[[bytes], str]
    session: bool  # the -sess variant: A1 also covers the nonce and the cnonce
    strength: int  # choose_challenge prefers the highest


_ALGORITHMS = {
    algorithm.name.upper(): algorithm
    for algorithm in (
        _Algorithm("MD5", _md5, session=False, strength=1),
        _Algorithm("MD5-sess", _md5, session=True, strength=1),
        _Algorithm("SHA-256", _sha256, session=False, strength=2),
        _Algorithm("SHA-256-sess", _sha256, session=True, strength=2),
    )
}

SUPPORTED_ALGORITHMS: tuple[str, ...] = tuple(algorithm.name for algorithm in _ALGORITHMS.values())

_SUPPORTED_QOPS = ("auth", "auth-int")  # in order of preference

# Folded lines (CRLF followed by white space) stand for one space (RFC 3261 section 7.3.1).
_FOLD = re.compile(r"\r?\n[ \t]+")
# C0 controls except HTAB, and DEL: never valid in a header value, and dangerous to echo back into one.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
# Lone surrogates: what a decoder with errors="surrogateescape" leaves for bytes that are not UTF-8.
_SURROGATE = re.compile(r"[\ud800-\udfff]")
# A token, as in RFC 3261 section 25.1 plus the extra characters RFC 7230 allows.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_WHITESPACE = re.compile(r"[ \t]*")
# An unquoted parameter value: servers are lenient here (base64 nonces with "/" and "="), so we are too.
_BARE_VALUE = re.compile(r"[^ \t,\"]+")

# The parameters a digest challenge may give at most once.
_KNOWN_PARAMETERS = frozenset(
    {"realm", "domain", "nonce", "opaque", "stale", "algorithm", "qop", "userhash", "charset"}
)

_MAX_NONCE_COUNT = 0xFFFFFFFF
_SHOWN_CHARACTERS = 40

# The message of the AuthError DigestSession.answer raises when the retry rule says stop.
REFUSED = "the server refused the user name or password"


def _show(text: str, *, quoted: bool = True) -> str:
    """A piece of server text for an error message: quoted, and cut short when long."""
    if len(text) > _SHOWN_CHARACTERS:
        text = text[:_SHOWN_CHARACTERS] + "..."
    return '"' + text + '"' if quoted else text


# ---------------------------------------------------------------------------------------------------- challenges


@dataclass(frozen=True)
class Challenge:
    """One digest challenge, as the server sent it (with the algorithm name in its canonical spelling)."""

    scheme: str
    realm: str
    nonce: str
    algorithm: str = "MD5"
    qop: tuple[str, ...] = ()  # lower case, in the server's order; () when the server sent no qop
    opaque: str | None = None
    stale: bool = False
    userhash: bool = False
    domain: tuple[str, ...] = ()  # the URIs of the protection space, when the server lists them


# Backslash escapes any character; written as an unrolled loop, which the regex engine runs several times faster.
_QUOTED_STRING = re.compile(r'"([^"\\]*(?:\\.[^"\\]*)*)"', re.DOTALL)
_QUOTED_PAIR = re.compile(r"\\(.)", re.DOTALL)


def _parse_parameters(text: str, start: int, subject: str) -> dict[str, str]:
    """The auth-params of `text` from `start` on: lower-case names, unquoted values, the first of each name kept."""
    pairs = _plain_pairs(text, start)
    if pairs is None:
        pairs = _checked_pairs(text, start, subject)
    parameters: dict[str, str] = {}
    for raw_name, value in pairs:
        name = raw_name.lower()
        if name in parameters:
            if name in _KNOWN_PARAMETERS:
                raise AuthError(f"{subject} gives {name} twice")
            continue
        parameters[name] = value
    return parameters


# One parameter of a well-formed list, with the separators before it and the comma (or the end) after it.
_PARAMETER = re.compile(
    rf"[ \t,]*({_TOKEN.pattern})[ \t]*=[ \t]*(?:{_QUOTED_STRING.pattern}|({_BARE_VALUE.pattern}))[ \t]*(?:,|\Z)",
    re.DOTALL,
)


def _plain_pairs(text: str, start: int) -> list[tuple[str, str]] | None:
    """The (name, value) pairs of a well-formed parameter list, read with one pattern a parameter (a server reads
    one of these with every request); None when the list is not well-formed, for `_checked_pairs` to say why."""
    pairs = []
    position, length = start, len(text)
    while position < length:
        match = _PARAMETER.match(text, position)
        if match is None:
            return pairs if not text[position:].strip(" \t,") else None
        name, quoted, bare = match.groups()
        if quoted is None:
            pairs.append((name, bare))
        else:
            pairs.append((name, _QUOTED_PAIR.sub(r"\1", quoted) if "\\" in quoted else quoted))
        position = match.end()
    return pairs


def _checked_pairs(text: str, start: int, subject: str) -> list[tuple[str, str]]:
    """The (name, value) pairs of a parameter list read step by step, which says where a malformed one goes wrong
    (AuthError)."""
    pairs = []
    position = start
    length = len(text)
    while True:
        # Skip white space and empty list elements ("a=1, , b=2" is allowed by the #rule).
        while position < length and text[position] in " \t,":
            position += 1
        if position == length:
            return pairs
        name_match = _TOKEN.match(text, position)
        if name_match is None:
            raise AuthError(f"{subject} is malformed at {_show(text[position:])}")
        name = name_match.group()
        position = _WHITESPACE.match(text, name_match.end()).end()
        if position == length or text[position] != "=":
            raise AuthError(f"{subject} has a parameter {_show(name)} without a value")
        position = _WHITESPACE.match(text, position + 1).end()
        if position < length and text[position] == '"':
            value, position = _read_quoted(text, position, subject)
        else:
            value_match = _BARE_VALUE.match(text, position)
            if value_match is None:
                raise AuthError(f"{subject} has a parameter {_show(name)} without a value")
            value, position = value_match.group(), value_match.end()
        position = _WHITESPACE.match(text, position).end()
        if position < length and text[position] != ",":
            raise AuthError(f"{subject} has unexpected text {_show(text[position:])} after {name.lower()}")
        pairs.append((name, value))


def _read_quoted(text: str, start: int, subject: str) -> tuple[str, int]:
    """The unescaped content of the quoted string opening at `start`, and the position after its closing quote."""
    match = _QUOTED_STRING.match(text, start)
    if match is None:
        raise AuthError(f"{subject} has an unterminated quoted string")
    content = match.group(1)
    return (_QUOTED_PAIR.sub(r"\1", content) if "\\" in content else content), match.end()


def read_digest_header(value: str, *, subject: str, wrong_scheme: Callable[[str], str]) -> dict[str, str]:
    """The auth-params of a Digest header value (a challenge or credentials), by lower-case name, after the checks
    both sides make: not empty, no control character, valid UTF-8, the Digest scheme. `subject` names the header
    in the one-line AuthError messages; `wrong_scheme(scheme)` words the refusal of another scheme."""
    text = (_FOLD.sub(" ", value) if "\n" in value else value).strip(" \t")
    if not text:
        raise AuthError(f"{subject} is empty")
    # (isprintable and isascii answer the usual header at a glance; the patterns look only when they say no)
    if not text.isprintable() and _CONTROL.search(text):
        raise AuthError(f"{subject} contains a control character")
    if not text.isascii() and _SURROGATE.search(text):
        raise AuthError(f"{subject} is not valid UTF-8")
    scheme_match = _TOKEN.match(text)
    if scheme_match is None:
        raise AuthError(f"{subject} does not start with an authentication scheme: {_show(text)}")
    if scheme_match.group().lower() != "digest":
        raise AuthError(wrong_scheme(scheme_match.group()))
    after_scheme = scheme_match.end()
    if after_scheme < len(text) and text[after_scheme] not in " \t":
        raise AuthError(f"{subject} is malformed at {_show(text[after_scheme:])}")
    return _parse_parameters(text, after_scheme, subject)


def parse_challenge(value: str) -> Challenge:
    """Read one `WWW-Authenticate` or `Proxy-Authenticate` header value (one challenge; the Digest scheme only).

    Parameters may come in any order, quoted or not, with any spacing and with names in any case; unknown
    parameters are ignored. A missing algorithm means MD5 (RFC 2617). Raises AuthError for anything else.
    """
    parameters = read_digest_header(
        value,
        subject="the server's challenge",
        wrong_scheme=lambda scheme: f"the server asks for {_show(scheme)} authentication; only Digest is supported",
    )

    if "realm" not in parameters:
        raise AuthError("the server's challenge has no realm")
    nonce = parameters.get("nonce")
    if not nonce:
        raise AuthError("the server's challenge has no nonce")
    algorithm = parameters.get("algorithm", "MD5")
    known = _ALGORITHMS.get(algorithm.upper())
    return Challenge(
        scheme="Digest",
        realm=parameters["realm"],
        nonce=nonce,
        algorithm=known.name if known else algorithm,
        qop=tuple(
            option.strip(" \t").lower() for option in parameters.get("qop", "").split(",") if option.strip(" \t")
        ),
        opaque=parameters.get("opaque"),
        stale=parameters.get("stale", "").lower() == "true",
        userhash=parameters.get("userhash", "").lower() == "true",
        domain=tuple(parameters.get("domain", "").split()),
    )


def _algorithm_of(challenge: Challenge) -> _Algorithm:
    algorithm = _ALGORITHMS.get(challenge.algorithm.upper())
    if algorithm is None:
        raise AuthError(
            f"the server asks for an unsupported digest algorithm {_show(challenge.algorithm, quoted=False)}"
        )
    return algorithm


def _qop_for(challenge: Challenge) -> str | None:
    """qop=auth when offered, auth-int only without auth, None (the RFC 2069 form) when the server sent no qop."""
    if not challenge.qop:
        return None
    for qop in _SUPPORTED_QOPS:
        if qop in challenge.qop:
            return qop
    raise AuthError(f"the server asks for an unsupported quality of protection {_show(','.join(challenge.qop))}")


def _check_answerable(challenge: Challenge) -> _Algorithm:
    if challenge.scheme.lower() != "digest":
        raise AuthError(f"the server asks for {_show(challenge.scheme)} authentication; only Digest is supported")
    algorithm = _algorithm_of(challenge)
    qop = _qop_for(challenge)
    if algorithm.session and qop is None:
        raise AuthError(f"the server asks for {algorithm.name} without a qop, which cannot be answered")
    return algorithm


def choose_challenge(values: Iterable[str], *, realm: str | None = None) -> Challenge:
    """The best challenge among the header values a server sent in one response.

    Values that cannot be parsed or answered (another scheme, an unsupported algorithm or qop) are skipped, as are
    challenges for a realm other than `realm` when one is given. Among the rest the strongest algorithm wins
    (SHA-256 over MD5), then the server's order. Raises AuthError when nothing is usable, with the reason when
    there was only one.
    """
    if isinstance(values, str):
        raise TypeError("choose_challenge takes a list of header values, not one string")
    reasons: list[str] = []
    best: tuple[int, Challenge] | None = None
    for value in values:
        try:
            challenge = parse_challenge(value)
            algorithm = _check_answerable(challenge)
        except AuthError as error:
            reasons.append(str(error))
            continue
        if realm is not None and challenge.realm != realm:
            reasons.append(f"the server asks for the realm {_show(challenge.realm)}, not {_show(realm)}")
            continue
        if best is None or algorithm.strength > best[0]:
            best = (algorithm.strength, challenge)
    if best is not None:
        return best[1]
    if not reasons:
        raise AuthError("the server sent no authentication challenge")
    unique = list(dict.fromkeys(reasons))
    if len(unique) == 1:
        raise AuthError(unique[0])
    raise AuthError(f"none of the server's {len(reasons)} challenges can be answered: " + "; ".join(unique))


# ---------------------------------------------------------------------------------------------------- answers


@dataclass(frozen=True)
class Credentials:
    """A user name and password, optionally tied to one realm. The password never shows in `repr`."""

    username: str
    password: str = field(repr=False)
    realm: str | None = None


def _quote(value: str, what: str) -> str:
    if _CONTROL.search(value):
        raise AuthError(f"the {what} contains a control character")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def digest_response(
    algorithm: str,
    ha1: str,
    *,
    nonce: str,
    nc: str,
    cnonce: str,
    qop: str | None,
    method: str,
    uri: str,
    body: bytes = b"",
) -> str:
    """The `response` value of RFC 7616 section 3.4.1 from HA1 (the -sess session key is derived here): one formula
    for the client answering a challenge and the server checking an answer."""
    known = _ALGORITHMS[algorithm.upper()]
    digest = known.digest

    def hash_of(*parts: str) -> str:
        try:
            return digest(":".join(parts).encode())
        except UnicodeEncodeError:
            raise AuthError("the request contains text that is not valid UTF-8") from None

    if known.session:
        ha1 = hash_of(ha1, nonce, cnonce)
    ha2 = hash_of(method, uri, digest(body)) if qop == "auth-int" else hash_of(method, uri)
    return hash_of(ha1, nonce, nc, cnonce, qop, ha2) if qop is not None else hash_of(ha1, nonce, ha2)


def authorization(
    challenge: Challenge,
    *,
    method: str,
    uri: str,
    credentials: Credentials,
    cnonce: str,
    nonce_count: int,
    body: bytes = b"",
) -> str:
    """The `Authorization` (for a 401) or `Proxy-Authorization` (for a 407) header value answering `challenge`.

    `uri` is the Request-URI exactly as on the request line; `method` the request's method; `body` only matters for
    qop=auth-int. `cnonce` and `nonce_count` are sent with a qop (the caller picks a fresh random cnonce; see
    DigestSession for the nonce count). Raises AuthError when the challenge cannot be answered.
    """
    algorithm = _check_answerable(challenge)
    qop = _qop_for(challenge)
    if credentials.realm is not None and credentials.realm != challenge.realm:
        raise AuthError(
            f"the server asks for the realm {_show(challenge.realm)}, "
            f"but the credentials are for {_show(credentials.realm)}"
        )
    if not credentials.username:
        raise AuthError("the user name is empty")
    if not _TOKEN.fullmatch(method):
        raise AuthError(f"the request method {_show(method)} is not a token")
    if not uri or any(character in uri for character in " \t"):
        raise AuthError(f"the request URI {_show(uri)} is empty or contains white space")
    if isinstance(nonce_count, bool) or not isinstance(nonce_count, int) or not 1 <= nonce_count <= _MAX_NONCE_COUNT:
        raise AuthError(f"the nonce count {nonce_count!r} is not between 1 and {_MAX_NONCE_COUNT}")
    if qop is not None and not cnonce:
        raise AuthError("the client nonce (cnonce) is empty")

    realm, nonce = challenge.realm, challenge.nonce
    nc = f"{nonce_count:08x}"

    def hash_of(*parts: str) -> str:
        try:
            data = ":".join(parts).encode()
        except UnicodeEncodeError:  # the message names no part: one of them is the password
            raise AuthError("the user name, password or request contains text that is not valid UTF-8") from None
        return algorithm.digest(data)

    ha1 = hash_of(credentials.username, realm, credentials.password)
    response = digest_response(
        algorithm.name, ha1, nonce=nonce, nc=nc, cnonce=cnonce, qop=qop, method=method, uri=uri, body=body
    )

    username = hash_of(credentials.username, realm) if challenge.userhash else credentials.username
    parts = [
        f"username={_quote(username, 'user name')}",
        f"realm={_quote(realm, 'realm')}",
        f"nonce={_quote(nonce, 'nonce')}",
        f"uri={_quote(uri, 'request URI')}",
        f'response="{response}"',
        f"algorithm={algorithm.name}",
    ]
    if qop is not None:
        parts += [f"cnonce={_quote(cnonce, 'client nonce')}", f"qop={qop}", f"nc={nc}"]
    if challenge.opaque is not None:
        parts.append(f"opaque={_quote(challenge.opaque, 'opaque value')}")
    if challenge.userhash:
        parts.append("userhash=true")
    return "Digest " + ", ".join(parts)


# ---------------------------------------------------------------------------------------------------- session


class DigestSession:
    """The digest state a SIP client keeps for one server (one realm), across requests.

    Nonce counts: the first answer to a nonce carries nc=00000001; every further answer with the same nonce (a
    repeated challenge, or `authorize` reusing it for a later request) carries the next count; a new nonce starts
    at 1 again.

    The retry rule (`should_retry`; `answer` raises AuthError instead of answering when it says no):

    * A challenge whose nonce was already answered since the last `accepted()` call, without `stale=true`: no. The
      server saw our response for that very nonce and refused it, so the user name or password is wrong; another
      try would only fail again (and count against the account). The caller stops and reports `REFUSED`, "the
      server refused the user name or password".
    * A new nonce, or `stale=true` (the response was right but the nonce had expired): yes, answer it once.
    * Loop guard: after `max_attempts` calls of `answer` in a row without `accepted()`, no. Servers such as
      Asterisk and Kamailio send a fresh nonce with every 401, also when the password is wrong, so the nonce rule
      alone would never stop. The default of 2 leaves room for one stale-nonce or new-nonce round after a first
      answer.

    So the caller calls `accepted()` whenever a request carrying our credentials gets a final response other than
    401 or 407. Preemptive credentials from `authorize` count for neither rule: they were not asked for.
    """

    _MAX_REMEMBERED_NONCES = 64

    def __init__(self, credentials: Credentials, *, max_attempts: int = 2) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self._credentials = credentials
        self._max_attempts = max_attempts
        self._nonce_counts: dict[tuple[str, str], int] = {}  # (realm, nonce) -> the last nc sent, oldest first
        self._unconfirmed: set[tuple[str, str]] = set()  # nonces answered since the last accepted()
        self._attempts = 0  # answers since the last accepted()
        self._last: Challenge | None = None

    def __repr__(self) -> str:
        return f"DigestSession(username={self._credentials.username!r}, realm={self._credentials.realm!r})"

    def _refusal(self, challenge: Challenge) -> str | None:
        if (challenge.realm, challenge.nonce) in self._unconfirmed and not challenge.stale:
            return REFUSED
        if self._attempts >= self._max_attempts:
            if challenge.stale:
                return f"the server keeps saying the nonce is stale; giving up after {self._attempts} attempts"
            return REFUSED
        return None

    def should_retry(self, challenge: Challenge) -> bool:
        """Whether `challenge`, received in answer to a request, deserves a new try (the rule is in the class doc)."""
        return self._refusal(challenge) is None

    def nonce_count(self, challenge: Challenge) -> int:
        """The nonce count the next answer to `challenge` would carry."""
        return self._nonce_counts.get((challenge.realm, challenge.nonce), 0) + 1

    def answer(self, challenge_values: list[str], *, method: str, uri: str, cnonce: str, body: bytes = b"") -> str:
        """The header value answering the best of `challenge_values` (all the `WWW-Authenticate` values of a 401,
        or all the `Proxy-Authenticate` values of a 407). Raises AuthError when none can be answered, or when the
        retry rule says stop (then the message is REFUSED).
        """
        challenge = choose_challenge(challenge_values, realm=self._credentials.realm)
        refusal = self._refusal(challenge)
        if refusal is not None:
            raise AuthError(refusal)
        header = self._answer(challenge, method=method, uri=uri, cnonce=cnonce, body=body)
        self._unconfirmed.add((challenge.realm, challenge.nonce))
        self._attempts += 1
        return header

    def authorize(self, *, method: str, uri: str, cnonce: str, body: bytes = b"") -> str | None:
        """Credentials for a new request, reusing the last challenge's nonce with the next nonce count (RFC 3261
        section 22.3 lets a client do this to spare a round trip); None before any challenge. If the server no
        longer takes the nonce it answers 401/407 with stale=true or a new nonce, and `answer` handles that.
        """
        if self._last is None:
            return None
        return self._answer(self._last, method=method, uri=uri, cnonce=cnonce, body=body)

    def accepted(self) -> None:
        """Report that a request carrying our answer got a final response other than 401 or 407."""
        self._unconfirmed.clear()
        self._attempts = 0

    def _answer(self, challenge: Challenge, *, method: str, uri: str, cnonce: str, body: bytes) -> str:
        key = (challenge.realm, challenge.nonce)
        count = self.nonce_count(challenge)
        header = authorization(
            challenge,
            method=method,
            uri=uri,
            credentials=self._credentials,
            cnonce=cnonce,
            nonce_count=count,
            body=body,
        )
        self._nonce_counts.pop(key, None)
        self._nonce_counts[key] = count
        while len(self._nonce_counts) > self._MAX_REMEMBERED_NONCES:
            del self._nonce_counts[next(iter(self._nonce_counts))]
        self._last = challenge
        return header
