"""vCard files (2.1, 3.0, 4.0) into `Contact` records.

Cards are split out of the text here; each card is then read by one of two paths that give the same records:
* a line parser for vCard 3.0 and 4.0 (about 20x faster than vobject, which matters for big books), and
* vobject, for what only it decodes well: vCard 2.1 and any card with QUOTED-PRINTABLE or CHARSET parameters.
Both turn a card into `Property` values, from which one function builds the contact.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .model import Contact, ImportResult, PhoneNumber, SkippedCard

# Properties that hold SIP addresses without a scheme as often as with one.
_SIP_PROPERTIES = frozenset({"X-SIP", "X-SIP-ADDRESS", "X-SIPADDRESS", "X-SIP-URI"})
_STRUCTURED = frozenset({"N", "ORG"})  # values whose components are separated by unescaped ';'
# What a contact is made of; the fast reader does not parse other properties (PHOTO, NOTE, ADR...) at all.
USED_PROPERTIES = frozenset({"UID", "FN", "N", "ORG", "TEL", "IMPP"}) | _SIP_PROPERTIES
# Starts with a literal, so the search runs at memchr speed; finding it mid-line only sends a card to vobject.
_VERSION_2_1 = re.compile(rb"VERSION:[ \t]*2\.1[ \t]*\r?$", re.MULTILINE)
_MAYBE_KEYWORD = frozenset("BbEe \t")


class CardError(ValueError):
    """One card cannot be read; the import goes on without it."""


# A property of a card, a plain tuple (a book has hundreds of thousands of them):
# * its name, in upper case, without its group;
# * its value, unescaped, except for N and ORG, whose components are split by `components()`;
# * its parameters, names in upper case;
# * its bare parameters, vCard 2.1 `TEL;CELL;PREF:` style.
Property = tuple[str, str, dict[str, list[str]], list[str]]


@dataclass(slots=True)
class RawCard:
    source: str
    index: int
    lines: list[str]  # from BEGIN:VCARD to END:VCARD, still folded
    folded: bool = True  # False: no line continues the one before it (none starts with a space or a tab)

    @property
    def digest(self) -> str:
        return hashlib.sha256("\n".join(self.lines).encode()).hexdigest()[:24]


# ---------------------------------------------------------------------------------------------- entry points


# (k, n): the k-th of n even runs of a file's cards, in order; the processes that read a big book take one each.
Share = tuple[int, int]
WHOLE: Share = (0, 1)


def read_vcard_paths(paths: Iterable[Path]) -> ImportResult:
    """Every card of the given files and of the `*.vcf` files under the given directories (in name order)."""
    result = ImportResult([], [])
    for path in paths:
        for file in vcard_files(path):
            found = read_vcard_file(file)
            result.contacts += found.contacts
            result.skipped += found.skipped
    return result


def read_vcard_file(file: Path, share: Share = WHOLE) -> ImportResult:
    """The cards of one file, or its `share` of them; a file that cannot be read is one skipped card (in the
    first share alone, so that the shares together tell it once)."""
    try:
        data = file.read_bytes()
    except OSError as exc:
        skipped = [SkippedCard(str(file), 0, f"cannot read the file: {exc.strerror}")] if share[0] == 0 else []
        return ImportResult([], skipped)
    return parse_vcards(data, str(file), share)


def vcard_files(path: Path) -> list[Path]:
    """The vCard files `path` stands for: itself, or the `*.vcf` and `*.vcard` files under it, in name order."""
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.suffix.lower() in (".vcf", ".vcard") and p.is_file())
    return [path]


def parse_vcards(data: bytes | str, source: str, share: Share = WHOLE) -> ImportResult:
    """Every card in a vCard text (or its `share` of them: the shares' results put end to end are the whole's).
    A card that cannot be read is skipped with its reason; the rest is read."""
    text = _decode(data) if isinstance(data, bytes) else data.removeprefix("\ufeff")
    upper = _in_upper_case(text)
    result = ImportResult([], [])
    # One look at the whole text spares a look at each card when no card needs vobject (the usual case).
    any_for_vobject = _needs_vobject(upper)
    if "\r" in text:  # lines end at CR LF, CR or LF: from here on at LF alone
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    spans = _plain_card_spans(text, upper, source)
    if spans is None:
        spans = list(card_spans(text, source))
    if share != WHOLE:  # finding the cards is cheap next to reading them: each share finds all of them
        part, parts = share
        spans = spans[len(spans) * part // parts : len(spans) * (part + 1) // parts]
    for span in spans:
        if isinstance(span, SkippedCard):
            result.skipped.append(span)
            continue
        index, start, end = span
        chunk = text[start:end]
        card = RawCard(source, index, chunk.split("\n"), "\n " in chunk or "\n\t" in chunk)
        try:
            result.contacts.append(read_card(card, maybe_vobject=any_for_vobject))
        except CardError as exc:
            result.skipped.append(SkippedCard(source, card.index, str(exc)))
    return result


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")  # old phone exports; vCard 2.1 CHARSET is handled per line


def split_cards(text: str, source: str) -> Iterator[RawCard | SkippedCard]:
    """The cards of a text, in order, counted from 1; an unterminated card is reported, not swallowed."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    for span in card_spans(text, source):
        if isinstance(span, SkippedCard):
            yield span
        else:
            index, start, end = span
            yield RawCard(source, index, text[start:end].split("\n"))


CardSpan = tuple[int, int, int]  # a card's index, and where its BEGIN:VCARD line starts and its END:VCARD line ends

# A line is BEGIN:VCARD or END:VCARD when, stripped and in upper case, it says so. No character but the ASCII
# letters of "vcard" turns into "VCARD" in upper case, so only the lines this finds need that closer look.
_VCARD_WORD = re.compile("[Vv][Cc][Aa][Rr][Dd]")


def card_spans(text: str, source: str) -> Iterator[CardSpan | SkippedCard]:
    """Where the cards of a text whose lines end at LF are, in order, counted from 1; an unterminated card is
    reported, not swallowed."""
    index = 0
    begun = -1  # where the open card's BEGIN:VCARD line starts
    position = 0  # the lines before it have been looked at
    while (found := _VCARD_WORD.search(text, position)) is not None:
        start = text.rfind("\n", position, found.start()) + 1
        end = text.find("\n", found.end())
        end = len(text) if end < 0 else end
        position = end
        line = text[start:end]
        keyword = line.strip().upper() if line[:1] in _MAYBE_KEYWORD else ""
        if keyword == "BEGIN:VCARD":
            if begun >= 0:
                yield SkippedCard(source, index, "it has no END:VCARD before the next card")
            index += 1
            begun = start
        elif keyword == "END:VCARD" and begun >= 0:
            yield index, begun, end
            begun = -1
    if begun >= 0:
        yield SkippedCard(source, index, "the file ends before its END:VCARD")


def _plain_card_spans(text: str, upper: bytes, source: str) -> list[CardSpan | SkippedCard] | None:
    """`card_spans` of a text whose lines end at LF and whose every "vcard", in any case, is a line that says
    BEGIN:VCARD or END:VCARD exactly (`upper`: the text from `_in_upper_case`, line ends aside); None for another
    text.
    Found with a few searches of the whole text instead of a look at each line that says "vcard"."""
    framed = f"\n{text}\n"
    begins = framed.count("\nBEGIN:VCARD\n")
    if begins + framed.count("\nEND:VCARD\n") != upper.count(b"VCARD"):
        return None
    # Each piece but the last ends with its line's "BEGIN:" or "END:"; the next starts with that line's end.
    spans: list[CardSpan | SkippedCard] = []
    index = 0
    begun = -1
    position = 0
    pieces = text.split("VCARD")
    for piece in pieces[:-1]:
        position += len(piece)
        if piece.endswith("BEGIN:"):
            if begun >= 0:
                spans.append(SkippedCard(source, index, "it has no END:VCARD before the next card"))
            index += 1
            begun = position - 6
        elif begun >= 0:
            spans.append((index, begun, position + 5))
            begun = -1
        position += 5
    if begun >= 0:
        spans.append(SkippedCard(source, index, "the file ends before its END:VCARD"))
    return spans


def read_card(card: RawCard, *, maybe_vobject: bool = True) -> Contact:
    reader = line_properties if not maybe_vobject or fast_path_reads(card) else vobject_properties
    return contact_from_properties(reader(card), card)


def fast_path_reads(card: RawCard) -> bool:
    """Whether the line parser reads this card (vobject reads vCard 2.1, quoted-printable and charset cards)."""
    return not _needs_vobject(_in_upper_case("\n".join(card.lines)))


def _needs_vobject(upper: bytes) -> bool:
    """Whether a text (from `_in_upper_case`: plain substring tests are far quicker than a case-blind regex) may hold
    a card for vobject."""
    return b"QUOTED-PRINTABLE" in upper or b"CHARSET=" in upper or _VERSION_2_1.search(upper) is not None


# The characters besides ASCII letters whose upper case holds an ASCII character (dotless i, long s, ß, ligatures...).
UPPER_ASCII_OF_OTHERS = (
    "\u00df\u0131\u0149\u017f\u01f0\u1e96\u1e97\u1e98\u1e99\u1e9a\ufb00\ufb01\ufb02\ufb03\ufb04\ufb05\ufb06"
)


def _in_upper_case(text: str) -> bytes:
    """The text in upper case, in UTF-8, for searches of ASCII words: such a word is in it where it is in
    `text.upper()`. Upper-casing ASCII letters alone gives that, ~8x quicker, when no other character becomes one."""
    if any(char in text for char in UPPER_ASCII_OF_OTHERS):
        return text.upper().encode("utf-8", "surrogatepass")
    return text.encode("utf-8", "surrogatepass").upper()


# ---------------------------------------------------------------------------------------------- the two readers


def line_properties(card: RawCard) -> list[Property]:
    """The fast path: unfold, then split each content line (RFC 6350 section 3.3). Every line must be a content
    line, as vobject demands; only the properties a contact is made of are parsed further."""
    properties = []
    for line in _unfold(card.lines[1:-1]) if card.folded else card.lines[1:-1]:
        head, colon, value = line.partition(":")
        if '"' in head or not colon:  # a quoted parameter value may hold ':' (or the line is not a content line)
            if not line or line.isspace():
                continue
            properties += _quoted_line_property(line)
            continue
        # Without quotes, the name and parameters end at the first ':': [group.]NAME[;param...]
        name, semicolon, raw_params = head.partition(";")
        if "." in name:
            name = name.partition(".")[2]  # without its group
            if not name or "." in name:
                raise CardError(f"the line {line[:40]!r} is not of the form NAME:value")
        elif not name:
            raise CardError(f"the line {line[:40]!r} is not of the form NAME:value")
        if name not in USED_PROPERTIES:  # as written, the usual case; else as the rule reads it
            name = name.strip().upper()
            if name not in USED_PROPERTIES:
                continue
        params, bare = _known_params(raw_params) if semicolon else ({}, [])
        if "\\" in value and name not in _STRUCTURED:
            value = unescape(value)
        properties.append((name, value, params, bare))
    return properties


_params_seen: dict[str, tuple[dict[str, list[str]], list[str]]] = {}
_PARAMS_SEEN_MAX = 256  # a book's cards write their parameters in a few ways: TYPE=CELL, TYPE=HOME...


def _known_params(raw_params: str) -> tuple[dict[str, list[str]], list[str]]:
    """The parameters of a line without quotes, read once for each way of writing them (the records share them
    and never change them)."""
    known = _params_seen.get(raw_params)
    if known is None:
        known = _parse_params(raw_params.split(";"))
        if len(_params_seen) < _PARAMS_SEEN_MAX:
            _params_seen[raw_params] = known
    return known


def _quoted_line_property(line: str) -> list[Property]:
    """The property of a content line whose parameters may be quoted (none when a contact is not made of it)."""
    match = _CONTENT_LINE.match(line)
    if match is None:
        raise CardError(f"the line {line[:40]!r} is not of the form NAME:value")
    name = match.group(1).strip().upper()
    if name not in USED_PROPERTIES:
        return []
    raw_params, value = match.group(2), match.group(3)
    params, bare = _parse_params(_PARAM.findall(raw_params)) if raw_params else ({}, [])
    return [(name, value if name in _STRUCTURED else unescape(value), params, bare)]


# [group.]NAME[;param...]:value, where quoted parameter values may hold ';', ':' and ','.
_CONTENT_LINE = re.compile(r'(?:[^.;:"]*\.)?([^.;:"]+)((?:;(?:[^";:]|"[^"]*")*)*):(.*)', re.DOTALL)
_PARAM = re.compile(r';((?:[^";]|"[^"]*")*)')
_PARAM_VALUE = re.compile(r'((?:[^",]|"[^"]*")+)')


def _unfold(lines: list[str]) -> list[str]:
    unfolded: list[str] = []
    for line in lines:
        if line[:1] in (" ", "\t") and unfolded:
            unfolded[-1] += line[1:]
        else:
            unfolded.append(line)
    return unfolded


def _parse_params(raw_params: list[str]) -> tuple[dict[str, list[str]], list[str]]:
    params: dict[str, list[str]] = {}
    bare: list[str] = []  # vCard 2.1 `TEL;CELL;PREF:`
    for raw in raw_params:
        key, equals, value = raw.partition("=")
        if not equals:
            bare.append(key.strip())
            continue
        values = _PARAM_VALUE.findall(value) if '"' in value else value.split(",")
        params.setdefault(key.strip().upper(), []).extend(v.strip().strip('"') for v in values)
    return params, bare


_ESCAPE = re.compile(r"\\(.)", re.DOTALL)


def unescape(value: str) -> str:
    """vCard TEXT unescaping: \\n or \\N is a line break, a backslash before anything else keeps that character."""
    if "\\" not in value:
        return value
    return _ESCAPE.sub(lambda match: "\n" if match.group(1) in "nN" else match.group(1), value)


# vobject's vCard behaviour cuts text values at their first comma (it reads FN "Haddad, Karim" as "Haddad"):
# the card goes in under another name, so vobject only splits lines and undoes QUOTED-PRINTABLE and CHARSET,
# and values are unescaped here exactly as on the fast path.
_NEUTRAL_COMPONENT = "X-SMARTBOOK-CARD"


def vobject_properties(card: RawCard) -> list[Property]:
    """The vobject path, for vCard 2.1 and charset or quoted-printable encoded cards."""
    import vobject  # noqa: PLC0415 (~50 ms to load, for the few cards that need it: not when a book has none)

    text = "\r\n".join([f"BEGIN:{_NEUTRAL_COMPONENT}", *card.lines[1:-1], f"END:{_NEUTRAL_COMPONENT}", ""])
    try:
        component = vobject.readOne(text, transform=False, allowQP=True)
    except Exception as exc:  # vobject raises many kinds (ParseError, ValueError, UnicodeError, ...)
        raise CardError(f"vobject cannot read it: {_first_line(exc)}") from None
    properties = []
    for line in component.getChildren():
        name = line.name.upper()
        if name not in USED_PROPERTIES or not isinstance(getattr(line, "value", None), str):
            continue
        params = {key.upper(): [str(v) for v in values] for key, values in line.params.items()}
        value = line.value if name in _STRUCTURED else unescape(line.value)
        properties.append((name, value, params, [str(v) for v in line.singletonparams]))
    return properties


def _first_line(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:200]


# ---------------------------------------------------------------------------------------------- the record


def components(structured: str) -> list[str]:
    """The components of an N or ORG value: split on unescaped ';', each then unescaped."""
    if "\\" not in structured:
        return [part.strip() for part in structured.split(";")]
    parts, current, escaped = [], [], False
    for char in structured:
        if escaped:
            current.append("\\" + char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ";":
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [unescape(part).strip() for part in parts]


def contact_from_properties(properties: list[Property], card: RawCard) -> Contact:
    uid = formatted_name = structured_name = organisation = ""
    numbers: list[PhoneNumber] = []
    sip_addresses: list[str] = []
    for name, value, params, bare_params in properties:
        if name == "TEL":
            _add_telephone(value, params, bare_params, numbers, sip_addresses)
        elif name == "UID":
            uid = value.strip()
        elif name == "FN":
            formatted_name = formatted_name or value.strip()
        elif name == "N" and not structured_name:
            family, given, additional, prefix, suffix = ([*components(value), "", "", "", ""])[:5]
            structured_name = " ".join([part for part in (prefix, given, additional, family, suffix) if part])
        elif name == "ORG" and not organisation:
            organisation = components(value)[0]
        elif name == "IMPP" or name in _SIP_PROPERTIES:
            address = _sip_address(value, assume_sip=name != "IMPP")
            if address and address not in sip_addresses:
                sip_addresses.append(address)
    name = formatted_name or structured_name or organisation
    if not name:
        name = numbers[0].raw if numbers else (sip_addresses[0] if sip_addresses else "(no name)")
    return Contact(
        id=uid or f"card-{card.digest}",
        name=name,
        numbers=tuple(numbers),
        sip_addresses=tuple(sip_addresses),
        source=card.source,
        index=card.index,
    )


def _add_telephone(
    value: str,
    params: dict[str, list[str]],
    bare_params: list[str],
    numbers: list[PhoneNumber],
    sip_addresses: list[str],
) -> None:
    value = value.strip()
    if ":" in value:
        scheme, _, rest = value.partition(":")
        scheme = scheme.lower()
        if scheme in ("sip", "sips"):
            if value not in sip_addresses:
                sip_addresses.append(value)
            return
        if scheme == "tel":
            value = rest.strip()
    if not value:
        return
    number = PhoneNumber(value, _kinds(params, bare_params))
    if number not in numbers:
        numbers.append(number)


def _kinds(params: dict[str, list[str]], bare_params: list[str]) -> tuple[str, ...]:
    """A number's TYPE values and bare parameters, in lower case, each once."""
    written = params.get("TYPE", [])
    if bare_params:
        written = [*written, *bare_params]
    elif len(written) == 1 and "," not in written[0]:  # the usual TYPE=CELL
        kind = written[0].strip().lower()
        return (kind,) if kind else ()
    kinds: list[str] = []
    for entry in written:
        for part in entry.split(","):  # TYPE="cell,voice" is a list too
            kind = part.strip().lower()
            if kind and kind not in kinds:
                kinds.append(kind)
    return tuple(kinds)


def _sip_address(value: str, *, assume_sip: bool) -> str | None:
    value = value.strip()
    scheme, colon, _ = value.partition(":")
    if colon and scheme.lower() in ("sip", "sips"):
        return value
    if assume_sip and value and not colon and "@" in value:
        return f"sip:{value}"
    return None
