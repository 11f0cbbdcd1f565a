"""Writes a generated address book for the contacts benchmark (issue 3): N vCard 3.0 cards in one .vcf file, each
with FN, N, UID and two numbers, a mobile and a landline, in the mixed national and international formats people
type. Deterministic for a seed. Prints the path and the size.

    python bench/make_book.py N [--out PATH] [--seed S]

Most people are French; the others live in the UK, the US, Germany, Belgium, Switzerland or Spain. French numbers
are written in national or international form, foreign ones only in international form (+CC or 00CC), as a user in
France keeps them, so that every number is a possible number for phonenumbers under region FR (`REGION`). The
digits are random: a generated book has the variety of a real one and almost no shared numbers.

Importable: `make_book(n, seed) -> str` returns the file's text.
"""

from __future__ import annotations

import argparse
import random
import uuid
from collections.abc import Callable
from pathlib import Path

REGION = "FR"  # the default region under which every generated number is possible

GIVEN = (
    "Camille", "Julien", "Sophie", "Thomas", "Marie", "Nicolas", "Élodie", "Lucas", "Chloé", "Hugo", "Léa", "Antoine",
    "Inès", "Baptiste", "Zoé", "François", "Hélène", "Karim", "Yasmine", "Raphaël", "Sarah", "Marc", "Pauline",
    "Valentin", "Manon", "Mathieu", "Amélie", "Théo", "Clémence", "Louis", "Oliver", "Emily", "Daniel", "Grace",
    "Lukas", "Jürgen", "Anna", "Matteo", "Giulia", "Sofía", "Javier", "Lucía", "Noah", "Emma", "Liam", "Olivia",
    "Mehdi", "Fatou", "Aïcha", "Kenji", "Mei", "Priya", "Arjun", "Søren", "Ingrid", "Björn", "Ana", "João", "Zsófia",
)  # fmt: skip
FAMILY = (
    "Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy", "Moreau", "Simon",
    "Laurent", "Lefèvre", "Michel", "Garcia", "David", "Bertrand", "Roux", "Vincent", "Fournier", "Morel", "Girard",
    "André", "Mercier", "Dupont", "Lambert", "Bonnet", "François", "Martinez", "Legrand", "Garnier", "Faure",
    "Rousseau", "Blanc", "Guérin", "Müller", "Schneider", "Fischer", "Weber", "Hughes", "Clarke", "Taylor", "Kim",
    "Nguyen", "Bianchi", "Rossi", "Fernández", "López", "Peeters", "Janssens", "Meier", "Keller", "Haddad", "Benali",
    "Diallo", "Cohen", "Yamamoto", "Chen", "Sharma", "Nielsen", "Kowalski", "Horváth", "Silva", "O'Brien",
)  # fmt: skip

Number = Callable[[random.Random], str]


def _digits(rng: random.Random, count: int) -> str:
    return str(rng.randrange(10**count)).zfill(count)


def _pairs(digits: str, sep: str = " ") -> str:
    return sep.join(digits[i : i + 2] for i in range(0, len(digits), 2))


_FRENCH_FORMS: tuple[Callable[[str], str], ...] = (
    lambda nsn: _pairs("0" + nsn),  # 06 12 34 56 78
    lambda nsn: "0" + nsn,  # 0612345678
    lambda nsn: _pairs("0" + nsn, "."),  # 06.12.34.56.78
    lambda nsn: f"+33 {nsn[0]} {_pairs(nsn[1:])}",  # +33 6 12 34 56 78
    lambda nsn: "+33" + nsn,  # +33612345678
    lambda nsn: f"+33 (0){nsn[0]} {_pairs(nsn[1:])}",  # +33 (0)6 12 34 56 78
    lambda nsn: f"0033 {nsn[0]} {_pairs(nsn[1:])}",  # 0033 6 12 34 56 78
)


def _french(first: str) -> Number:
    """A French number whose national significant number starts with one of `first`, in one of seven forms."""

    def make(rng: random.Random) -> str:
        return rng.choice(_FRENCH_FORMS)(rng.choice(first) + _digits(rng, 8))

    return make


def _abroad(code: str, prefixes: tuple[str, ...], rest: int, split: tuple[int, ...], trunk: bool) -> Number:
    """A foreign number: country `code`, one of `prefixes` then `rest` random digits, grouped by `split` (the
    group lengths after the prefix), written +CC, +CC without spaces, 00CC, or +CC (0) when the country has a trunk
    prefix 0."""
    forms = 4 if trunk else 3

    def make(rng: random.Random) -> str:
        prefix = rng.choice(prefixes)
        tail = _digits(rng, rest)
        groups, start = [], 0
        for size in split:
            groups.append(tail[start : start + size])
            start += size
        spaced = " ".join(groups)
        form = rng.randrange(forms)
        if form == 0:
            return f"+{code} {prefix} {spaced}"
        if form == 1:
            return f"+{code}{prefix}{tail}"
        if form == 2:
            return f"00{code} {prefix} {spaced}"
        return f"+{code} (0){prefix} {spaced}"

    return make


def _us(rng: random.Random) -> str:
    area = rng.choice(("415", "212", "617", "312", "206", "512", "303", "404"))
    exchange = str(rng.randrange(200, 1000))
    line = _digits(rng, 4)
    form = rng.randrange(4)
    if form == 0:
        return f"+1 {area}-{exchange}-{line}"
    if form == 1:
        return f"+1 ({area}) {exchange}-{line}"
    if form == 2:
        return f"+1.{area}.{exchange}.{line}"
    return f"001 {area} {exchange} {line}"


# (weight, mobile, landline) per country of residence
_COUNTRIES: tuple[tuple[int, Number, Number], ...] = (
    (60, _french("67"), _french("123459")),
    (8, _abroad("44", ("7700", "7911", "7824"), 6, (6,), True), _abroad("44", ("20",), 8, (4, 4), True)),
    (8, _us, _us),
    (8, _abroad("49", ("151", "160", "176"), 8, (8,), True), _abroad("49", ("30", "89"), 8, (8,), True)),
    (6, _abroad("32", ("470", "486", "497"), 6, (2, 2, 2), True), _abroad("32", ("2",), 7, (3, 2, 2), True)),
    (5, _abroad("41", ("79", "76"), 7, (3, 2, 2), True), _abroad("41", ("22", "44"), 7, (3, 2, 2), True)),
    (5, _abroad("34", ("6",), 8, (2, 3, 3), False), _abroad("34", ("91", "93"), 7, (3, 2, 2), False)),
)  # fmt: skip
_WEIGHTS = tuple(weight for weight, _, _ in _COUNTRIES)


def make_book(n: int, seed: int = 1) -> str:
    """The text of a book of `n` vCard 3.0 cards (CRLF line ends), the same for the same `n` and `seed`."""
    rng = random.Random(seed)
    countries = rng.choices(_COUNTRIES, weights=_WEIGHTS, k=n)
    lines: list[str] = []
    add = lines.extend
    for i, (_, mobile, landline) in enumerate(countries):
        given = rng.choice(GIVEN)
        family = rng.choice(FAMILY)
        uid = uuid.UUID(int=rng.getrandbits(128), version=4)
        add((
            "BEGIN:VCARD",
            "VERSION:3.0",
            f"UID:{uid}",
            f"N:{family};{given};;;",
            f"FN:{given} {family}",
            f"TEL;TYPE=CELL:{mobile(rng)}",
            f"TEL;TYPE={'WORK' if i % 3 == 0 else 'HOME'}:{landline(rng)}",
            "END:VCARD",
        ))  # fmt: skip
    lines.append("")
    return "\r\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write a generated address book of N vCard 3.0 contacts.")
    parser.add_argument("n", type=int, metavar="N", help="number of contacts")
    parser.add_argument("--out", type=Path, help="the .vcf file to write (default /tmp/smartbook-book-N.vcf)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    args = parser.parse_args(argv)
    if args.n < 0:
        parser.error("N must be >= 0")
    out: Path = args.out or Path(f"/tmp/smartbook-book-{args.n}.vcf")
    data = make_book(args.n, args.seed).encode()
    out.write_bytes(data)
    print(f"{out}: {args.n:,} contacts, {len(data):,} bytes")


if __name__ == "__main__":
    main()
