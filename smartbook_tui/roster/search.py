"""What a search matches: names folded for accents and case, numbers by their digits in every spelling a person
types, SIP addresses. Each row's keys are computed once (`text_key`, `digits_key`); a query is read once per
keystroke (`Query`), so filtering a big book is one substring test per row."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from smartbook_tui.contacts import PhoneNumber

if TYPE_CHECKING:
    from .model import Row

# Letters Unicode does not decompose into a base letter and accents (\u0131: the dotless i).
_LIGATURES = {"œ": "oe", "æ": "ae", "ø": "o", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "\u0131": "i"}
_NUMBER_QUERY = re.compile(r"[0-9+ ()./-]*[0-9][0-9+ ()./-]*")
KEY_SEPARATOR = "\n"  # between the parts of a key, so that no query (one line) matches across two of them


class _FoldTable(dict[int, str]):
    """str.translate's table for `fold`, filled one character at a time as names bring them (folding is per
    character: case folding and decomposition need no context)."""

    def __missing__(self, code: int) -> str:
        char = chr(code).casefold()
        char = "".join(_LIGATURES.get(part, part) for part in char)
        folded = "".join(part for part in unicodedata.normalize("NFKD", char) if not unicodedata.combining(part))
        self[code] = folded
        return folded


class _DigitsTable(dict[int, str | None]):
    """str.translate's table for `digits`: ASCII digits kept, anything else dropped."""

    def __missing__(self, code: int) -> str | None:
        kept = chr(code) if 48 <= code <= 57 else None
        self[code] = kept
        return kept


_FOLD = _FoldTable()
_DIGITS = _DigitsTable()


def fold(text: str) -> str:
    """Lower case without accents, the same in every locale: "Éloïse" -> "eloise", "Strauß" -> "strauss"."""
    return text.lower() if text.isascii() else text.translate(_FOLD)


def digits(text: str) -> str:
    return text.translate(_DIGITS)


def text_key(folded_name: str, addresses: Iterable[str]) -> str:
    """A row's name (folded already: the sort has it) and SIP addresses, folded."""
    return KEY_SEPARATOR.join((folded_name, *map(fold, addresses)))


def digits_key(numbers: Iterable[PhoneNumber]) -> str:
    """Every spelling of the numbers as digits: as written, and for a checked number its international forms
    (+33..., 0033...) and its national one (06...), so that "06 12", "+33 6 12" and "0612" all find +33612..."""
    forms: list[str] = []
    for number in numbers:
        written = number.raw.translate(_DIGITS)
        if number.e164:
            international = number.e164[1:]
            code_length, trunk = _COUNTRIES[international[:3]]
            forms += (international, "00" + international, trunk + international[code_length:])
            if written in forms:
                continue
        if written:
            forms.append(written)
    return KEY_SEPARATOR.join(forms)


class _CountryTable(dict[str, tuple[int, str]]):
    """The first three digits of an international number -> the length of its country code and its national
    prefix (0 in France), which a number dialled inside the country starts with."""

    def __missing__(self, start: str) -> tuple[int, str]:
        import phonenumbers  # noqa: PLC0415 (~25 ms to load: once the book is read, not before the first frame)

        found = (0, "")
        for length in (1, 2, 3):
            region = phonenumbers.region_code_for_country_code(int(start[:length]))
            if region != phonenumbers.UNKNOWN_REGION:
                metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
                found = (length, (metadata.national_prefix or "") if metadata is not None else "")
                break
        self[start] = found
        return found


_COUNTRIES = _CountryTable()


@dataclass(frozen=True, slots=True)
class Query:
    """A search as typed. A query made of digits and the signs numbers are written with ("06 12", "+33 6 12")
    is a number: its digits must appear in one spelling of one of the row's numbers. Any other query is words,
    each of which must appear in the folded name or a SIP address, or, for a word with digits, in a number."""

    text: str  # folded, blanks collapsed: "" matches every row
    number: str | None  # the digits of a number query
    words: tuple[tuple[str, str], ...]  # each word and its digits ("" for a word without any)

    @classmethod
    def parse(cls, typed: str) -> Query:
        text = " ".join(fold(typed).split())
        if _NUMBER_QUERY.fullmatch(text):
            return cls(text, digits(text), ())
        return cls(text, None, tuple((word, digits(word)) for word in text.split()))

    def narrows(self, previous: Query) -> bool:
        """Whether every row this query matches is among those `previous` matched (the query only grew), so
        that filtering the previous result is enough."""
        if not previous.text or not self.text.startswith(previous.text):
            return False
        if self.number is not None:
            return previous.number is not None
        # A word's digits may match a number where the same word without its new digits matched nothing.
        return previous.number is None and not any(word_digits for _, word_digits in self.words)

    def matches(self, row: Row) -> bool:
        if self.number is not None:
            return self.number in row.digits_key
        return all(_word_matches(row, word, number) for word, number in self.words)

    def filter(self, rows: Sequence[Row], candidates: Iterable[int]) -> list[int]:
        """The candidates (row indices) this query matches, in their order."""
        if not self.text:
            return list(candidates)
        if self.number is not None:
            number = self.number
            return [i for i in candidates if number in rows[i].digits_key]
        if len(self.words) == 1 and not self.words[0][1]:
            word = self.words[0][0]
            return [i for i in candidates if word in rows[i].text_key]
        words = self.words
        return [i for i in candidates if all(_word_matches(rows[i], word, number) for word, number in words)]


def _word_matches(row: Row, word: str, number: str) -> bool:
    return word in row.text_key or (bool(number) and number in row.digits_key)
