"""`smartbook contacts --carddav` against a real Radicale, as a user runs it."""

from __future__ import annotations

import json

from smartbook_tui.cli import main
from tests.peers.radicale import run_radicale

ANNE = "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:anne\r\nFN:Anne Martin\r\nTEL;TYPE=CELL:06 12 34 56 78\r\nEND:VCARD\r\n"


def _contacts(capsys, *args: str) -> tuple[int, list[dict[str, object]], str]:
    code = main(["contacts", "--region", "FR", "--domain", "example.org", "--json", *args])
    out, err = capsys.readouterr()
    return code, [json.loads(line) for line in out.splitlines()], err


def test_carddav_book_then_offline_copy_then_wrong_password(tmp_path, capsys):
    password = tmp_path / "password"
    password.write_text("s3cret\n")
    wrong = tmp_path / "wrong"
    wrong.write_text("nope\n")
    cache = tmp_path / "cache"
    with run_radicale(tmp_path / "radicale", {"alice": "s3cret"}) as server:
        book = server.make_address_book("alice")
        server.put_card("alice", book, "anne.vcf", ANNE)
        options = ["--carddav", server.url, "--carddav-user", "alice", "--carddav-cache", str(cache)]

        code, lines, err = _contacts(capsys, *options, "--carddav-password-file", str(password))
        assert code == 0, err
        anne, counts = lines
        assert anne["name"] == "Anne Martin"
        assert anne["numbers"][0]["resource"] == "sip:+33612345678@example.org;user=phone"
        assert anne["source"] == f"{book}anne.vcf"
        assert counts == {"read": 1, "skipped": 0}

        code, lines, err = _contacts(capsys, *options, "--carddav-password-file", str(wrong))
        assert code == 0
        assert lines[0]["name"] == "Anne Martin"  # the last good copy
        assert "refused the user name or password" in err
        assert err.count("\n") == 1
    code, lines, err = _contacts(capsys, *options, "--carddav-password-file", str(password))
    assert code == 0
    assert lines[0]["name"] == "Anne Martin"
    assert "cannot reach" in err
    assert "showing the last good copy" in err


def test_carddav_down_and_never_synced_is_exit_2(tmp_path, capsys):
    code, lines, err = _contacts(capsys, "--carddav", "http://127.0.0.1:9/", "--carddav-cache", str(tmp_path))
    assert code == 2
    assert lines == []
    assert "cannot reach http://127.0.0.1:9" in err
    assert err.splitlines()[-1].startswith("smartbook: nothing could be read from http://127.0.0.1:9/")
