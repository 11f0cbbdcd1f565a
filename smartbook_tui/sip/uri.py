"""SIP, SIPS and tel URIs and name-addr values (RFC 3261 sections 19.1 and 20.10, RFC 3966), as frozen values.

Percent-escapes: every field holds the *decoded* text (`sip:%2B33612345678@example.org` has `user == "+33612345678"`),
so code compares and builds users, parameters and headers without thinking about escaping. `str()` writes the
canonical form back: the scheme in lower case, and an escape exactly where the RFC grammar of that component needs
one; everything else (host spelling, parameter order and case) as written. The price of decoding is that an escaped
reserved character is not told apart from the same character unescaped (RFC 3261 19.1.4 would), which no peer of
ours relies on.

Parameters are `(name, value)` pairs in the order written; a flag parameter (`;lr`) has the value None. URI
parameter values are decoded like the rest of the URI; the parameters of a name-addr (the header's own, such as
`tag` or `expires`) are kept exactly as written, quotes included.

Parsing is lenient where real peers are sloppy (characters the RFC wants escaped but that cannot be mistaken, such
as `#` in a user part, or an empty parameter from a trailing `;`) and strict where ambiguity or injection could
follow (whitespace, control characters, quotes or angle brackets inside a URI, a bad escape, a bad port or host).
Every bad input raises `SipParseError`.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from urllib.parse import quote, unquote

__all__ = [
    "UNESCAPED_CONTROL",
    "NameAddr",
    "Param",
    "SipParseError",
    "SipUri",
    "TelUri",
    "parse_name_addr",
    "parse_sip_uri",
    "parse_uri",
    "split_list",
    "split_params",
]


class SipParseError(ValueError):
    """Bytes or text that are not valid SIP; the message is one line saying what is wrong and where.

    It lives here, the lowest module of the package, so that both the URI and the message parsers raise it;
    `smartbook_tui.sip.message` and `smartbook_tui.sip` re-export it.
    """


Param = tuple[str, str | None]

# Characters each component may carry unescaped, beyond the letters, digits and "_.-~" that `quote` never escapes
# (RFC 3261 25.1: unreserved = alphanum / mark; mark = "-" / "_" / "." / "!" / "~" / "*" / "'" / "(" / ")").
_MARK = "!*'()"
_USER_SAFE = _MARK + "&=+$,;?/"  # user-unreserved
_PASSWORD_SAFE = _MARK + "&=+$,"
_PARAM_SAFE = _MARK + "[]/:&+$"  # param-unreserved
_HEADER_SAFE = _MARK + "[]/?:+$"  # hnv-unreserved
_TEL_NUMBER_SAFE = "+*().-"  # phonedigit-hex and visual separators, except "#" which RFC 3966 wants escaped

_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_NOT_IN_URI = re.compile(r'[\x00-\x20\x7f<>"]')
_HOSTNAME = re.compile(r"[A-Za-z0-9_.-]+")
_PORT = re.compile(r"[0-9]{1,5}")
_GLOBAL_NUMBER = re.compile(r"\+[0-9().-]+")
_LOCAL_NUMBER = re.compile(r"[0-9A-Fa-f*#().-]+")
_VISUAL_SEPARATORS = str.maketrans("", "", "-.()")
_TOKEN = re.compile(r"[A-Za-z0-9.!%*_+`'~-]+")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_LINE_BREAK = re.compile(r"[\r\n]")
UNESCAPED_CONTROL = re.compile(r"[\r\n]|(?<!\\)[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # a quoted-pair may hold one
_QUOTED_PAIR = re.compile(r'[\\"\x00-\x08\x0b\x0c\x0e-\x1f\x7f]')  # written escaped in a quoted string
_GEN_VALUE = re.compile(r'[^\s;,"<>]+|"[^"\\]*(?:\\.[^"\\]*)*"')

# RFC 3261 19.1.4: these parameters, present in one URI only, make two URIs differ (transport: "a URI omitting
# any component with a default value will not match a URI explicitly containing that component").
_SIGNIFICANT_PARAMS = ("user", "ttl", "method", "maddr", "transport")


def _show(text: str, limit: int = 60) -> str:
    """`text` quoted on one line for an error message, cut if long."""
    return repr(text[:limit]) + ("..." if len(text) > limit else "")


def _unescape(text: str, what: str) -> str:
    if "%" not in text:
        return text
    if _BAD_ESCAPE.search(text):
        raise SipParseError(f"bad percent-escape in the {what} {_show(text)}: '%' must be followed by two hex digits")
    return unquote(text, errors="replace")


# ------------------------------------------------------------------------------------------- splitting helpers


def split_list(text: str, sep: str = ",") -> list[str]:
    """`text` split on `sep` wherever it is outside a quoted string (backslash escapes honoured) and outside
    `<...>`, each piece stripped of surrounding whitespace; empty pieces are kept. Never raises: an unclosed
    quote or bracket runs to the end of the text."""
    if '"' not in text and "<" not in text:  # the usual header: nothing to skip over
        return [piece.strip() for piece in text.split(sep)]
    pieces: list[str] = []
    start = 0
    quoted = False
    angle = 0
    index = 0
    length = len(text)
    while index < length:
        char = text[index]
        if quoted:
            if char == "\\":
                index += 1
            elif char == '"':
                quoted = False
        elif char == '"':
            quoted = True
        elif char == "<":
            angle += 1
        elif char == ">":
            angle = max(0, angle - 1)
        elif char == sep and not angle:
            pieces.append(text[start:index].strip())
            start = index + 1
        index += 1
    pieces.append(text[start:].strip())
    return pieces


def _parse_params(pieces: Iterable[str], where: str) -> tuple[Param, ...]:
    """Header parameters (`generic-param`: token [= token / host / quoted-string]) kept as written."""
    params: list[Param] = []
    for piece in pieces:
        if not piece:
            continue  # ";;" or a trailing ";": harmless
        name, equals, value = piece.partition("=")
        name = name.strip()
        if not _TOKEN.fullmatch(name):
            raise SipParseError(f"bad parameter name {_show(name)} in {_show(where)}")
        if not equals:
            params.append((name, None))
            continue
        value = value.strip()
        if not _GEN_VALUE.fullmatch(value) or _CONTROL.search(value):
            raise SipParseError(f"bad value for parameter {name!r} in {_show(where)}")
        params.append((name, value))
    return tuple(params)


def split_params(value: str) -> tuple[str, tuple[Param, ...]]:
    """A header value of the shape `main;name=value;flag` as its main part and its parameters (as written, quotes
    included), e.g. `Subscription-State: active;expires=3600` or the `Via` value `SIP/2.0/UDP h;branch=z9hG4bK1`.
    Semicolons inside quotes or `<...>` do not split."""
    pieces = split_list(value, ";")
    return pieces[0], _parse_params(pieces[1:], value)


# ------------------------------------------------------------------------------------------- parameter helpers


def _find(params: tuple[Param, ...], name: str) -> Param | None:
    wanted = name.lower()
    for param in params:
        if param[0].lower() == wanted:
            return param
    return None


def _updated(params: tuple[Param, ...], pairs: Iterable[Param]) -> tuple[Param, ...]:
    """`params` with each of `pairs` set: the first parameter of that name (any case) takes the new value and
    later ones go; a name not present is appended."""
    result = list(params)
    for name, value in pairs:
        wanted = name.lower()
        positions = [index for index, (other, _) in enumerate(result) if other.lower() == wanted]
        if positions:
            result[positions[0]] = (result[positions[0]][0], value)
            for index in reversed(positions[1:]):
                del result[index]
        else:
            result.append((name, value))
    return tuple(result)


def _without(params: tuple[Param, ...], names: Iterable[str]) -> tuple[Param, ...]:
    unwanted = {name.lower() for name in names}
    return tuple(param for param in params if param[0].lower() not in unwanted)


def _as_tuple(pairs: Iterable[tuple[str, str | None]]) -> tuple[Param, ...]:
    return tuple((str(name), value if value is None else str(value)) for name, value in pairs)


def _check_uri_params(params: tuple[Param, ...], what: str) -> None:
    for name, _value in params:
        if not name:
            raise ValueError(f"empty {what} name")


def _uri_params_text(params: tuple[Param, ...]) -> str:
    return "".join(
        f";{quote(name, safe=_PARAM_SAFE)}" + ("" if value is None else f"={quote(value, safe=_PARAM_SAFE)}")
        for name, value in params
    )


def _parse_uri_params(text: str, uri: str) -> tuple[Param, ...]:
    params: list[Param] = []
    for piece in text.split(";"):
        if not piece:
            continue
        name, equals, value = piece.partition("=")
        if not name:
            raise SipParseError(f"URI parameter without a name in {_show(uri)}")
        name = _unescape(name, "URI parameter name")
        params.append((name, _unescape(value, f"value of URI parameter {name!r}") if equals else None))
    return tuple(params)


# ------------------------------------------------------------------------------------------------- SIP URIs


def _check_host(host: str) -> None:
    if ":" in host:
        try:
            if "%" in host:
                raise ValueError
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"not a valid IPv6 address: {host!r}") from None
    elif not _HOSTNAME.fullmatch(host):
        raise ValueError(f"not a valid host name or IPv4 address: {host!r}")


def _host_key(host: str) -> str:
    return ipaddress.IPv6Address(host).compressed if ":" in host else host.lower()


@dataclass(frozen=True)
class SipUri:
    """A `sip:` or `sips:` URI. `host` is written without the brackets of an IPv6 reference; `str()` adds them.

    `==` compares the fields exactly; `equivalent` applies the comparison rules of RFC 3261 19.1.4.
    """

    scheme: str
    user: str | None
    password: str | None
    host: str
    port: int | None = None
    params: tuple[Param, ...] = ()
    headers: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if self.scheme not in ("sip", "sips"):
            raise ValueError(f"a SipUri scheme is 'sip' or 'sips', not {self.scheme!r}")
        if self.user == "":
            raise ValueError("a SIP URI user part is None or non-empty")
        if self.password is not None and self.user is None:
            raise ValueError("a SIP URI cannot have a password without a user")
        _check_host(self.host)
        if self.port is not None and not 0 <= self.port <= 65535:
            raise ValueError(f"port {self.port} is outside 0-65535")
        object.__setattr__(self, "params", _as_tuple(self.params))
        object.__setattr__(self, "headers", tuple((str(name), str(value)) for name, value in self.headers))
        _check_uri_params(self.params, "URI parameter")
        _check_uri_params(self.headers, "URI header")

    def __str__(self) -> str:
        parts = [self.scheme, ":"]
        if self.user is not None:
            parts.append(quote(self.user, safe=_USER_SAFE))
            if self.password is not None:
                parts += [":", quote(self.password, safe=_PASSWORD_SAFE)]
            parts.append("@")
        parts.append(f"[{self.host}]" if ":" in self.host else self.host)
        if self.port is not None:
            parts.append(f":{self.port}")
        parts.append(_uri_params_text(self.params))
        if self.headers:
            escaped = (
                f"{quote(name, safe=_HEADER_SAFE)}={quote(value, safe=_HEADER_SAFE)}" for name, value in self.headers
            )
            parts.append("?" + "&".join(escaped))
        return "".join(parts)

    def param(self, name: str) -> str | None:
        """The value of the first parameter called `name` (any case); None when absent or a flag (`has_param`)."""
        found = _find(self.params, name)
        return None if found is None else found[1]

    def has_param(self, name: str) -> bool:
        return _find(self.params, name) is not None

    def with_params(self, *pairs: Param, **named: str | None) -> SipUri:
        """A copy with these parameters set (value None: a flag); `uri.with_params(transport="tcp")`, or pairs for
        names that are not identifiers: `uri.with_params(("x-foo", "1"))`."""
        return replace(self, params=_updated(self.params, [*pairs, *named.items()]))

    def without_params(self, *names: str) -> SipUri:
        return replace(self, params=_without(self.params, names))

    def equivalent(self, other: SipUri | TelUri) -> bool:
        """RFC 3261 19.1.4: same scheme; user and password equal (case-sensitive, escapes decoded); host equal
        ignoring case (IPv6 addresses by value); ports equal, an absent port *not* equal to 5060; parameters present
        in both equal ignoring case; user, ttl, method, maddr and transport present in one URI only never match;
        other parameters present in one URI only ignored; URI headers equal as sets (names ignoring case)."""
        if not isinstance(other, SipUri):
            return False
        if (self.scheme, self.user, self.password, self.port) != (other.scheme, other.user, other.password, other.port):
            return False
        if _host_key(self.host) != _host_key(other.host):
            return False
        mine = _first_by_name(self.params)
        theirs = _first_by_name(other.params)
        for name in mine.keys() & theirs.keys():
            if _lower(mine[name]) != _lower(theirs[name]):
                return False
        if any((name in mine) != (name in theirs) for name in _SIGNIFICANT_PARAMS):
            return False
        return _header_set(self.headers) == _header_set(other.headers)


def _first_by_name(params: tuple[Param, ...]) -> dict[str, str | None]:
    result: dict[str, str | None] = {}
    for name, value in params:
        result.setdefault(name.lower(), value)
    return result


def _lower(value: str | None) -> str | None:
    return None if value is None else value.lower()


def _header_set(headers: tuple[tuple[str, str], ...]) -> list[tuple[str, str]]:
    return sorted((name.lower(), value) for name, value in headers)


def _parse_sip(scheme: str, rest: str, text: str) -> SipUri:
    user = password = None
    at = rest.find("@")  # the user part cannot hold an unescaped "@", so the first one ends it
    if at >= 0:
        userinfo, rest = rest[:at], rest[at + 1 :]
        user_text, colon, password_text = userinfo.partition(":")
        if not user_text:
            raise SipParseError(f"empty user part before '@' in {_show(text)}")
        user = _unescape(user_text, "user part")
        password = _unescape(password_text, "password") if colon else None
    rest, _, headers_text = rest.partition("?")
    hostport, _, params_text = rest.partition(";")
    host, port = _parse_hostport(hostport, text)
    headers: list[tuple[str, str]] = []
    for piece in headers_text.split("&"):
        if not piece:
            continue
        name, _, value = piece.partition("=")
        if not name:
            raise SipParseError(f"URI header without a name in {_show(text)}")
        headers.append((_unescape(name, "URI header name"), _unescape(value, "URI header value")))
    return SipUri(scheme, user, password, host, port, _parse_uri_params(params_text, text), tuple(headers))


def _parse_hostport(hostport: str, text: str) -> tuple[str, int | None]:
    if hostport.startswith("["):
        close = hostport.find("]")
        if close < 0:
            raise SipParseError(f"IPv6 reference without a closing ']' in {_show(text)}")
        host, after = hostport[1:close], hostport[close + 1 :]
        if ":" not in host:
            raise SipParseError(f"not a valid IPv6 address in brackets: {_show(text)}")
        if after and not after.startswith(":"):
            raise SipParseError(f"unexpected {_show(after)} after the IPv6 reference in {_show(text)}")
        has_port, port_text = bool(after), after[1:]
    else:
        host, colon, port_text = hostport.partition(":")
        has_port = bool(colon)
        if ":" in port_text:
            raise SipParseError(f"an IPv6 host must be written in brackets, as in sip:[::1]:5060: {_show(text)}")
    if not host:
        raise SipParseError(f"no host in {_show(text)}")
    try:
        _check_host(host)
    except ValueError as error:
        raise SipParseError(f"{error} in {_show(text)}") from None
    port = None
    if has_port:
        if not _PORT.fullmatch(port_text) or int(port_text) > 65535:
            raise SipParseError(f"bad port {_show(port_text)} in {_show(text)}: a number from 0 to 65535")
        port = int(port_text)
    return host, port


# ------------------------------------------------------------------------------------------------- tel URIs


def _is_tel_number(number: str) -> bool:
    """A global number is "+" and digits; a local one may use hex digits, "*" and "#" (RFC 3966 section 3)."""
    # Two simple scans rather than one regex with a mandatory digit in the middle, which backtracks quadratically.
    if number.startswith("+"):
        return _GLOBAL_NUMBER.fullmatch(number) is not None and any(char.isdigit() for char in number)
    return _LOCAL_NUMBER.fullmatch(number) is not None and number.strip("().-") != ""


@dataclass(frozen=True)
class TelUri:
    """A `tel:` URI (RFC 3966). `number` is kept as written, visual separators included (`+33-6-12-34-56-78`);
    `digits` drops them."""

    number: str
    params: tuple[Param, ...] = ()

    def __post_init__(self) -> None:
        if not _is_tel_number(self.number):
            raise ValueError(f"not a telephone number: {self.number!r}")
        object.__setattr__(self, "params", _as_tuple(self.params))
        _check_uri_params(self.params, "tel URI parameter")

    @property
    def is_global(self) -> bool:
        """A global number (`+` and the E.164 digits), as opposed to a local one that needs `phone-context`."""
        return self.number.startswith("+")

    @property
    def digits(self) -> str:
        """The number without visual separators: `+33612345678`."""
        return self.number.translate(_VISUAL_SEPARATORS)

    def __str__(self) -> str:
        return f"tel:{quote(self.number, safe=_TEL_NUMBER_SAFE)}{_uri_params_text(self.params)}"

    def param(self, name: str) -> str | None:
        found = _find(self.params, name)
        return None if found is None else found[1]

    def has_param(self, name: str) -> bool:
        return _find(self.params, name) is not None

    def with_params(self, *pairs: Param, **named: str | None) -> TelUri:
        return replace(self, params=_updated(self.params, [*pairs, *named.items()]))

    def without_params(self, *names: str) -> TelUri:
        return replace(self, params=_without(self.params, names))

    def equivalent(self, other: SipUri | TelUri) -> bool:
        """RFC 3966 section 4: numbers equal without visual separators, same parameters in any order, names and
        values ignoring case."""
        if not isinstance(other, TelUri):
            return False
        mine = sorted((name.lower(), _lower(value) or "") for name, value in self.params)
        theirs = sorted((name.lower(), _lower(value) or "") for name, value in other.params)
        return self.digits.lower() == other.digits.lower() and mine == theirs


def _parse_tel(rest: str, text: str) -> TelUri:
    number_text, _, params_text = rest.partition(";")
    number = _unescape(number_text, "telephone number")
    if not _is_tel_number(number):
        raise SipParseError(f"not a telephone number: {_show(text)}")
    return TelUri(number, _parse_uri_params(params_text, text))


# ---------------------------------------------------------------------------------------------- entry points


# The results are immutable, and a message's handling reads the same few values several times (From and To when
# it is checked, then for its tags; an account's address for each of its requests): a small cache spares those
# parses. It stays small so that it costs nothing to keep, whatever the traffic.
_RECENT = 128


@functools.lru_cache(maxsize=_RECENT)
def parse_uri(text: str) -> SipUri | TelUri:
    """A `sip:`, `sips:` or `tel:` URI (scheme in any case; surrounding whitespace ignored)."""
    text = text.strip()
    scheme, colon, rest = text.partition(":")
    if not colon or not scheme:
        raise SipParseError(f"not a URI (no scheme): {_show(text)}")
    bad = _NOT_IN_URI.search(rest)
    if bad:
        raise SipParseError(f"character {bad.group()!r} is not allowed unescaped in a URI: {_show(text)}")
    lowered = scheme.lower()
    if lowered in ("sip", "sips"):
        return _parse_sip(lowered, rest, text)
    if lowered == "tel":
        return _parse_tel(rest, text)
    raise SipParseError(f"unsupported URI scheme {scheme[:20]!r} in {_show(text)}: sip, sips and tel are")


def parse_sip_uri(text: str) -> SipUri:
    """Like `parse_uri`, for the places where only a SIP or SIPS URI makes sense (Via targets, Route, Contact)."""
    uri = parse_uri(text)
    if not isinstance(uri, SipUri):
        raise SipParseError(f"a sip: or sips: URI is needed here, not {_show(text)}")
    return uri


# ---------------------------------------------------------------------------------------------- name-addr


@dataclass(frozen=True)
class NameAddr:
    """A `name-addr` or `addr-spec` with header parameters: the value of From, To, Contact, Route, Refer-To...

    `display_name` is the unquoted text (None when absent; `""` for `"" <sip:...>`). `params` are the header
    parameters as written (quotes included), not the URI's. `str()` always writes the bracketed form, with the
    display name quoted, which is valid everywhere.
    """

    display_name: str | None
    uri: SipUri | TelUri
    params: tuple[Param, ...] = ()

    def __post_init__(self) -> None:
        if self.display_name is not None and _LINE_BREAK.search(self.display_name):
            raise ValueError(f"control character (a line break) in display name {self.display_name!r}")
        object.__setattr__(self, "params", _as_tuple(self.params))
        for name, value in self.params:
            if not _TOKEN.fullmatch(name):
                raise ValueError(f"not a valid parameter name: {name!r}")
            if value is not None and (not _GEN_VALUE.fullmatch(value) or _CONTROL.search(value)):
                raise ValueError(f"parameter {name!r} needs a token, host or quoted string, not {value!r}")

    @property
    def tag(self) -> str | None:
        return self.param("tag")

    def param(self, name: str) -> str | None:
        found = _find(self.params, name)
        return None if found is None else found[1]

    def has_param(self, name: str) -> bool:
        return _find(self.params, name) is not None

    def with_params(self, *pairs: Param, **named: str | None) -> NameAddr:
        """A copy with these header parameters set: `to.with_params(tag="a6c85cf")`."""
        return replace(self, params=_updated(self.params, [*pairs, *named.items()]))

    def without_params(self, *names: str) -> NameAddr:
        return replace(self, params=_without(self.params, names))

    def __str__(self) -> str:
        params = "".join(f";{name}" if value is None else f";{name}={value}" for name, value in self.params)
        if self.display_name is None:
            return f"<{self.uri}>{params}"
        display = _QUOTED_PAIR.sub(r"\\\g<0>", self.display_name)
        return f'"{display}" <{self.uri}>{params}'


def _read_quoted(text: str) -> tuple[str, str]:
    """The unescaped content of the quoted string `text` starts with, and the text after it."""
    chars: list[str] = []
    index = 1
    while index < len(text):
        char = text[index]
        if char == "\\":
            if index + 1 >= len(text):
                break
            chars.append(text[index + 1])
            index += 2
            continue
        if char == '"':
            return "".join(chars), text[index + 1 :]
        chars.append(char)
        index += 1
    raise SipParseError(f"unterminated quoted string in {_show(text)}")


def _read_bracketed(text: str, whole: str) -> tuple[str, str]:
    close = text.find(">")
    if close < 0:
        raise SipParseError(f"'<' without a closing '>' in {_show(whole)}")
    return text[1:close].strip(), text[close + 1 :]


@functools.lru_cache(maxsize=_RECENT)
def parse_name_addr(text: str) -> NameAddr:
    """`"Alice" <sip:alice@example.org>;tag=abc`, `Alice <sip:a@b>`, `<sip:a@b>;expires=60` or the addr-spec
    form `sip:alice@example.org;tag=abc`, in which (RFC 3261 20.10) the parameters belong to the header, not the
    URI; a URI with parameters of its own must be written in angle brackets."""
    whole = text.strip()
    if not whole:
        raise SipParseError("empty address where a name-addr or addr-spec was expected")
    display: str | None
    if whole.startswith('"'):
        display, rest = _read_quoted(whole)
        rest = rest.lstrip()
        if not rest.startswith("<"):
            raise SipParseError(f"a quoted display name must be followed by <URI>: {_show(whole)}")
        uri_text, after = _read_bracketed(rest, whole)
    elif "<" in whole:
        opening = whole.index("<")
        display = whole[:opening].strip() or None
        if display is not None and '"' in display:
            raise SipParseError(f"stray quote in the display name of {_show(whole)}")
        uri_text, after = _read_bracketed(whole[opening:], whole)
    else:
        display = None
        uri_text, semicolon, after = whole.partition(";")
        uri_text = uri_text.strip()
        after = semicolon + after
    written = whole[: whole.find("<")] if "<" in whole else ""  # a quoted display name as written, quoted-pairs kept
    if display is not None and UNESCAPED_CONTROL.search(written):
        raise SipParseError(f"control character in the display name of {_show(whole)}")
    after = after.strip()
    if after and not after.startswith(";"):
        raise SipParseError(f"unexpected {_show(after)} after the address in {_show(whole)}")
    params = _parse_params(split_list(after, ";")[1:], whole) if after else ()
    return NameAddr(display, parse_uri(uri_text), params)
