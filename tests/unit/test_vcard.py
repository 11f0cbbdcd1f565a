import re
import subprocess
import sys

import hypothesis.strategies as st
import pytest
from hypothesis import given, settings

from smartbook_tui.contacts import PhoneNumber, SkippedCard, parse_vcards, read_vcard_paths
from smartbook_tui.contacts.vcard import (
    UPPER_ASCII_OF_OTHERS,
    CardError,
    RawCard,
    _plain_card_spans,
    card_spans,
    contact_from_properties,
    fast_path_reads,
    line_properties,
    read_card,
    split_cards,
    vobject_properties,
)


def card(*lines: str, version: str = "3.0") -> str:
    return "\r\n".join(["BEGIN:VCARD", f"VERSION:{version}", *lines, "END:VCARD"]) + "\r\n"


def only(text: str):
    result = parse_vcards(text, "book.vcf")
    assert result.skipped == []
    (contact,) = result.contacts
    return contact


def test_a_phone_export_card():
    contact = only(
        card(
            "UID:1234-abcd",
            "FN:Anne Martin",
            "N:Martin;Anne;;;",
            "item1.TEL;TYPE=CELL,VOICE:+33 6 12 34 56 78",
            "TEL;type=HOME;type=pref:01 23 45 67 89",
            "item2.IMPP;X-SERVICE-TYPE=SIP:sip:anne@example.org",
            "IMPP:xmpp:anne@example.org",
            "NOTE:folded over",
            "  two lines\\, with escapes",
            "PHOTO;ENCODING=b;TYPE=JPEG:iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJ",
            " AAAADUlEQVR42mNkYPhfDwAChwGA",
        )
    )
    assert contact.id == "1234-abcd"
    assert contact.name == "Anne Martin"
    assert contact.numbers == (
        PhoneNumber("+33 6 12 34 56 78", ("cell", "voice")),
        PhoneNumber("01 23 45 67 89", ("home", "pref")),
    )
    assert contact.sip_addresses == ("sip:anne@example.org",)
    assert (contact.source, contact.index) == ("book.vcf", 1)


def test_vcard4_tel_uris_and_sip_values():
    contact = only(
        card(
            'TEL;VALUE=uri;TYPE="cell,voice":tel:+33-6-98-76-54-32',
            "TEL;VALUE=uri:tel:+1-201-555-0123;ext=1234",
            "TEL;VALUE=uri:sip:jean@example.org",
            "X-SIP:jean.dupont@example.org",
            "N:Dupont;Jean;Paul;Dr;",
            version="4.0",
        )
    )
    assert contact.name == "Dr Jean Paul Dupont"
    assert contact.numbers == (
        PhoneNumber("+33-6-98-76-54-32", ("cell", "voice")),
        PhoneNumber("+1-201-555-0123;ext=1234"),
    )
    assert contact.sip_addresses == ("sip:jean@example.org", "sip:jean.dupont@example.org")


def test_name_falls_back_from_fn_to_n_org_number_sip():
    assert only(card("ORG:Acme\\, Inc.;Sales", "TEL:+44 7700 900123")).name == "Acme, Inc."
    assert only(card("TEL:+44 7700 900123")).name == "+44 7700 900123"
    assert only(card("IMPP:sip:bot@example.org")).name == "sip:bot@example.org"
    assert only(card("NOTE:nothing useful")).name == "(no name)"
    assert only(card("FN:A\\, B\\; C\\nD")).name == "A, B; C\nD"
    assert only(card("N:Fam\\;ily;Giv\\,en;;;")).name == "Giv,en Fam;ily"


def test_vcard21_quoted_printable_and_bare_types_go_through_vobject():
    contact = only(
        card(
            "N;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:Dupr=C3=A9;Jos=C3=A9;;;",
            "FN;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:Jos=C3=A9 Dupr=",
            "=C3=A9",
            "TEL;CELL;PREF:+33 6 11 11 11 11",
            version="2.1",
        )
    )
    assert contact.name == "José Dupré"
    assert contact.numbers == (PhoneNumber("+33 6 11 11 11 11", ("cell", "pref")),)


def test_ids_are_stable_and_tell_cards_apart():
    text = card("FN:No Uid", "TEL:0612345678") + card("FN:No Uid", "TEL:0698765432")
    first, second = parse_vcards(text, "a.vcf").contacts
    again = parse_vcards(text.replace("\r\n", "\n"), "elsewhere.vcf").contacts
    assert first.id != second.id
    assert [c.id for c in again] == [first.id, second.id]  # line ends and file names do not change an id


def test_bad_cards_are_skipped_with_their_position_and_the_rest_is_read():
    text = (
        card("FN:Good One")
        + card("FN:Broken", "this line has no colon")
        + "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Never ended\r\n"
        + card("FN:Good Two")
        + "BEGIN:VCARD\nFN:Cut off"
    )
    result = parse_vcards(text, "book.vcf")
    assert [c.name for c in result.contacts] == ["Good One", "Good Two"]
    assert [(s.index, s.reason) for s in result.skipped] == [
        (2, "the line 'this line has no colon' is not of the form NAME:value"),
        (3, "it has no END:VCARD before the next card"),
        (5, "the file ends before its END:VCARD"),
    ]
    assert str(result.skipped[0]) == (
        "book.vcf: card 2 skipped: the line 'this line has no colon' is not of the form NAME:value"
    )
    assert result.summary() == "2 contacts read, 3 skipped"


def test_vobject_refusals_are_skips_too():
    result = parse_vcards(card("FN:Broken", "garbage without a colon", version="2.1") + card("FN:Fine"), "b.vcf")
    assert [c.name for c in result.contacts] == ["Fine"]
    assert result.skipped[0].index == 1
    assert result.skipped[0].reason.startswith("vobject cannot read it")


def test_encodings_and_line_ends():
    text = card("FN:Zoë", "TEL:+33612345678")
    for data in (
        text.encode(),
        b"\xef\xbb\xbf" + text.encode(),
        text.replace("\r\n", "\n").encode(),
        text.replace("\r\n", "\r").encode(),
        text.encode("cp1252"),
    ):
        assert only(data).name == "Zoë"


def test_directories_are_read_recursively_and_files_left_alone(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "b.vcf").write_text(card("FN:Bee"))
    (tmp_path / "sub" / "a.VCF").write_text(card("FN:Ay") + card("FN:Ay Two"))
    (tmp_path / "notes.txt").write_text(card("FN:Not a vCard file"))
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in tmp_path.rglob("*") if p.is_file()}
    result = read_vcard_paths([tmp_path])
    assert [(c.name, c.index) for c in result.contacts] == [("Bee", 1), ("Ay", 1), ("Ay Two", 2)]
    assert result.contacts[1].source == str(tmp_path / "sub" / "a.VCF")
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in tmp_path.rglob("*") if p.is_file()} == before


def test_a_file_that_cannot_be_read_is_reported(tmp_path):
    result = read_vcard_paths([tmp_path / "missing.vcf"])
    assert result.contacts == []
    assert result.skipped[0].index == 0
    assert "cannot read the file" in result.skipped[0].reason


# The two readers must give the same records for every card the fast one takes.
_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=20)
_escaped = _text.map(lambda s: s.replace("\\", "\\\\").replace(",", "\\,").replace(";", "\\;"))
_number = st.from_regex(r"\+?[0-9 ()./-]{3,18}", fullmatch=True)
_kind = st.sampled_from(["CELL", "HOME", "WORK", "VOICE", "pref", "fax"])


@st.composite
def _fast_path_cards(draw: st.DrawFn) -> list[str]:
    lines = [
        "BEGIN:VCARD",
        f"VERSION:{draw(st.sampled_from(['3.0', '4.0']))}",
        f"FN:{draw(_escaped)}",
        f"N:{';'.join(draw(st.lists(_escaped, min_size=1, max_size=5)))}",
        f"ORG:{draw(_escaped)}",
    ]
    for number, kinds in draw(st.lists(st.tuples(_number, st.lists(_kind, max_size=3)), max_size=3)):
        lines.append(f"TEL{''.join(';TYPE=' + kind for kind in kinds)}:{number}")
    for address in draw(st.lists(st.from_regex(r"[a-z]{1,8}@example\.org", fullmatch=True), max_size=2)):
        lines += [f"IMPP:sip:{address}", f"X-SIP:{address}"]
    return [*lines, "END:VCARD"]


@settings(max_examples=150, deadline=None)
@given(lines=_fast_path_cards())
def test_fast_reader_and_vobject_agree(lines):
    raw = RawCard("fuzz.vcf", 1, lines)
    assert contact_from_properties(line_properties(raw), raw) == contact_from_properties(vobject_properties(raw), raw)


def test_split_cards_ignores_text_between_cards():
    cards = list(split_cards("junk\n" + card("FN:A") + "more junk\n" + card("FN:B"), "x.vcf"))
    assert [c.index for c in cards] == [1, 2]


def test_a_book_of_vcard3_and_4_cards_is_read_without_loading_vobject(tmp_path):
    """vobject takes ~50 ms to load: a book that needs it nowhere, and the listing of a book's files, never load it."""
    book = tmp_path / "book.vcf"
    book.write_text(card("FN:Ana", "TEL:+33612345678") + card("FN:Bo", "TEL:+33698765432", version="4.0"))
    code = (
        "import sys\nfrom pathlib import Path\nfrom smartbook_tui.contacts.vcard import read_vcard_paths, vcard_files\n"
        f"files = vcard_files(Path({str(tmp_path)!r}))\nresult = read_vcard_paths(files)\n"
        "print(len(result.contacts), 'vobject' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["2", "False"]


_piece = st.sampled_from(
    [
        card("FN:Ana", "TEL:+33612345678"),
        card("UID:bo", "FN:Bo", "TEL:06 98 76 54 32", version="4.0"),
        card("FN:Old", "TEL;CELL:0612345678", version="2.1"),
        "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:No end\r\n",  # runs into the next card
        card("TEL:+33600000000"),  # no name: still a contact, named by its number
        "junk between cards\r\n",
    ]
)


@settings(max_examples=60)
@given(pieces=st.lists(_piece, max_size=12), parts=st.integers(1, 4))
def test_a_books_shares_put_end_to_end_are_the_whole_book(pieces, parts):
    """The reading processes each read a share of a big file's cards: together they must read it as one would."""
    text = "".join(pieces)
    whole = parse_vcards(text, "book.vcf")
    shares = [parse_vcards(text, "book.vcf", (part, parts)) for part in range(parts)]
    assert [c for share in shares for c in share.contacts] == whole.contacts
    assert [s for share in shares for s in share.skipped] == whole.skipped


_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def _cards_line_by_line(text: str, source: str) -> list[RawCard | SkippedCard]:
    """The rule for finding cards, applied to each line in turn: what the quicker searches must agree with."""
    found: list[RawCard | SkippedCard] = []
    index = 0
    current: list[str] | None = None
    for line in _LINE_BREAK.split(text):
        keyword = line.strip().upper() if line[:1] in "BbEe \t" else ""
        if keyword == "BEGIN:VCARD":
            if current is not None:
                found.append(SkippedCard(source, index, "it has no END:VCARD before the next card"))
            index += 1
            current = [line]
        elif current is not None:
            current.append(line)
            if keyword == "END:VCARD":
                found.append(RawCard(source, index, current))
                current = None
    if current is not None:
        found.append(SkippedCard(source, index, "the file ends before its END:VCARD"))
    return found


_book_line = st.sampled_from(
    [
        "BEGIN:VCARD",
        "END:VCARD",
        "begin:vcard",
        " End:VCard\t",
        "\u00a0BEGIN:VCARD",
        "beg\u0131n:vcard",  # a dotless i is an I in upper case
        "BEGIN:VCARD2",
        "END:VCARD;x",
        "VERSION:3.0",
        "FN:Ana",
        "TEL:+33612345678",
        "NOTE:my vCard",
        "X-VCARD-ID:1",
        " folded",
        "",
        "junk",
    ]
)


@settings(max_examples=300)
@given(lines=st.lists(_book_line, max_size=14), ends=st.lists(st.sampled_from(["\r\n", "\n", "\r"]), min_size=1))
def test_cards_are_found_as_a_look_at_each_line_finds_them(lines, ends):
    text = "".join(line + ends[i % len(ends)] for i, line in enumerate(lines))
    expected = _cards_line_by_line(text, "b.vcf")
    assert list(split_cards(text, "b.vcf")) == expected
    lf = text.replace("\r\n", "\n").replace("\r", "\n")
    plain = _plain_card_spans(lf, text.upper().encode(), "b.vcf")  # the searches for a book without odd lines
    assert plain is None or plain == list(card_spans(lf, "b.vcf"))
    read = [c if isinstance(c, SkippedCard) else _read_or_skip(c) for c in expected]
    whole = parse_vcards(text, "b.vcf")
    assert whole.contacts == [c for c in read if not isinstance(c, SkippedCard)]
    assert whole.skipped == [c for c in read if isinstance(c, SkippedCard)]


def test_a_generated_book_is_searched_for_its_cards_quickly():
    text = "junk\n" + "".join(card(f"FN:N{i}", f"TEL:+3361234567{i}") for i in range(5)).replace("\r\n", "\n")
    spans = _plain_card_spans(text, text.upper().encode(), "b.vcf")
    assert spans is not None
    assert spans == list(card_spans(text, "b.vcf"))


def _read_or_skip(card: RawCard):
    try:
        return read_card(card)
    except CardError as exc:
        return SkippedCard(card.source, card.index, str(exc))


def test_the_characters_whose_upper_case_holds_ascii_are_all_known():
    others = {chr(c) for c in range(128, sys.maxunicode + 1) if any(ord(u) < 128 for u in chr(c).upper())}
    assert others == set(UPPER_ASCII_OF_OTHERS)


@pytest.mark.parametrize("spelling", ["quoted-pr\u0131ntable", "CHAR\u017fET=UTF-8"])
def test_a_card_marked_for_vobject_in_letters_that_become_ascii_still_goes_to_vobject(spelling):
    text = card("FN:Ana", f"NOTE;ENCODING={spelling}:x", "TEL:+33612345678")
    assert not fast_path_reads(next(iter(split_cards(text, "b.vcf"))))


@pytest.mark.parametrize("end", ["\r\n", "\n"])
def test_folded_lines_of_the_properties_a_contact_is_made_of_are_unfolded(end):
    text = card("FN:Anne", " -Marie Martin", "TEL;TYPE=CE", "\tLL:+33 6 12", "  34 56 78", "UID:a").replace("\r\n", end)
    contact = only(text)
    assert (contact.name, contact.id) == ("Anne-Marie Martin", "a")
    assert contact.numbers == (PhoneNumber("+33 6 12 34 56 78", ("cell",)),)
