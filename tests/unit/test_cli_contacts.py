import json

from smartbook_tui.cli import main

BOOK = (
    "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Anne Martin\r\nTEL;TYPE=CELL:06 12 34 56 78\r\nTEL:112\r\nEND:VCARD\r\n"
    "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Broken\r\nno colon here\r\nEND:VCARD\r\n"
    "BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Dave\r\nIMPP:sip:dave@example.org\r\nEND:VCARD\r\n"
)


def test_json_lines_then_counts(tmp_path, capsys):
    book = tmp_path / "book.vcf"
    book.write_text(BOOK)
    assert main(["contacts", "--vcard", str(book), "--region", "FR", "--domain", "example.org", "--json"]) == 0
    out, err = capsys.readouterr()
    lines = [json.loads(line) for line in out.splitlines()]
    anne, dave, counts = lines
    assert anne["name"] == "Anne Martin"
    assert anne["numbers"][0] == {
        "raw": "06 12 34 56 78",
        "kinds": ["cell"],
        "e164": "+33612345678",
        "resource": "sip:+33612345678@example.org;user=phone",
    }
    assert anne["numbers"][1]["e164"] is None
    assert anne["numbers"][1]["resource"] is None
    assert dave["sip_addresses"] == ["sip:dave@example.org"]
    assert counts == {"read": 2, "skipped": 1}
    assert err == f"smartbook: {book}: card 2 skipped: the line 'no colon here' is not of the form NAME:value\n"


def test_text_output(tmp_path, capsys):
    book = tmp_path / "book.vcf"
    book.write_text(BOOK)
    assert main(["contacts", "--vcard", str(book), "--region", "fr"]) == 0
    out = capsys.readouterr().out
    assert "06 12 34 56 78" in out
    assert "+33612345678" in out
    assert "not checked" in out
    assert out.splitlines()[-1] == "2 contacts read, 1 skipped (national numbers read as FR)"


def test_nothing_readable_is_exit_2_with_one_line(tmp_path, capsys):
    book = tmp_path / "broken.vcf"
    book.write_text("BEGIN:VCARD\r\nno colon\r\nEND:VCARD\r\n")
    assert main(["contacts", "--vcard", str(book)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[-1] == f"smartbook: nothing could be read from {book} (0 contacts read, 1 skipped)"


def test_usage_errors_are_one_line(tmp_path, capsys):
    assert main(["contacts"]) == 2
    assert "use --vcard PATH" in capsys.readouterr().err
    assert main(["contacts", "--vcard", str(tmp_path / "nope.vcf")]) == 2
    assert "no such file or directory" in capsys.readouterr().err
    assert main(["contacts", "--vcard", str(tmp_path), "--region", "Frankreich"]) == 2
    assert "ISO 3166" in capsys.readouterr().err
    assert main(["contacts", "--vcard", str(tmp_path), "--domain", "a b"]) == 2
    assert "not a SIP domain" in capsys.readouterr().err
